//! Opens the screen of a node's role and runs Slint's event loop on the calling
//! thread (the main thread, on most platforms) until the window is closed. The
//! office's work goes on elsewhere (the node's tokio runtime); views reach the screen
//! through the services' `watch` channels.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use aufruf_office::{Replication, RoleService};
use slint::ComponentHandle;

use crate::desk::DeskScreen;
use crate::display::DisplayScreen;
use crate::kiosk::KioskScreen;
use crate::speech::{Announcer, Espeak, Silent, SpeechSettings};
use crate::{Now, Theme};

/// How a screen is opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScreenOptions {
    /// The display speaks its calls (espeak-ng); off by default.
    pub speech: Option<SpeechSettings>,
    /// The window's size in logical pixels; the screen's own when `None`.
    pub size: Option<(u32, u32)>,
    /// Fill the whole screen (appliances).
    pub fullscreen: bool,
    /// Start in the high-contrast theme with larger text.
    pub high_contrast: bool,
    /// Where a build that draws straight on the display (`kms`) looks for one: a DRM
    /// card (`dri/card*`) or a framebuffer (`fb*`); `/dev` when `None`.
    pub devices: Option<PathBuf>,
}

/// Why no screen runs.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    #[error("the {0} role has no screen")]
    NoScreen(&'static str),
    #[error(
        "this build of aufruf has no window system: build it with `--features window` \
         (scripts/demo.sh does)"
    )]
    NoWindowSystem,
    #[error("no display is attached: {} has no DRM card (dri/card*) and no framebuffer (fb*)", .0.display())]
    NoDisplay(PathBuf),
    #[error("no window: {0}")]
    Platform(slint::PlatformError),
    #[error("event loop: {0}")]
    EventLoop(#[from] slint::EventLoopError),
}

impl From<slint::PlatformError> for ScreenError {
    fn from(e: slint::PlatformError) -> Self {
        match e {
            slint::PlatformError::NoPlatform => ScreenError::NoWindowSystem,
            e => ScreenError::Platform(e),
        }
    }
}

/// A role's screen, shown while this lives.
#[derive(Debug)]
pub enum OpenScreen<R: Replication> {
    Display(Rc<DisplayScreen<R>>),
    Kiosk(Rc<KioskScreen<R>>),
    Desk(Rc<DeskScreen<R>>),
}

/// Builds the role's screen, lets it follow the office's pushes and shows its
/// window; it draws once Slint's event loop runs on this thread
/// ([`run_until_closed`]).
pub fn open<R: Replication>(
    service: &RoleService<R>,
    now: Now,
    options: &ScreenOptions,
) -> Result<OpenScreen<R>, ScreenError> {
    // Slint's own answer for a device without a display lists every renderer it tried.
    let drawn = !matches!(service, RoleService::Gateway(_));
    if drawn && cfg!(all(feature = "kms", not(feature = "window"))) {
        let devices = options.devices.as_deref().unwrap_or(Path::new("/dev"));
        if !display_attached(devices) {
            return Err(ScreenError::NoDisplay(devices.to_path_buf()));
        }
    }
    let screen = match service {
        RoleService::Display(display) => {
            let announcer: Box<dyn Announcer> = match &options.speech {
                Some(settings) => Box::new(Espeak::start(settings.clone())),
                None => Box::new(Silent),
            };
            let screen = DisplayScreen::new(display.clone(), announcer, now)?;
            screen.attach()?;
            show(screen.window(), options)?;
            OpenScreen::Display(screen)
        }
        RoleService::Kiosk(kiosk) => {
            let screen = KioskScreen::new(kiosk.clone(), now)?;
            screen.attach()?;
            show(screen.window(), options)?;
            OpenScreen::Kiosk(screen)
        }
        RoleService::Desk(desk) => {
            let screen = DeskScreen::new(desk.clone(), now)?;
            screen.attach()?;
            show(screen.window(), options)?;
            OpenScreen::Desk(screen)
        }
        RoleService::Gateway(_) => return Err(ScreenError::NoScreen("gateway")),
    };
    Ok(screen)
}

/// Opens the role's screen and runs it until its window closes.
pub fn run<R: Replication>(
    service: &RoleService<R>,
    now: Now,
    options: &ScreenOptions,
) -> Result<(), ScreenError> {
    let screen = open(service, now, options)?;
    run_until_closed()?;
    drop(screen);
    Ok(())
}

/// Runs Slint's event loop on this thread until the last window is closed or
/// [`quit`] is called.
pub fn run_until_closed() -> Result<(), ScreenError> {
    Ok(slint::run_event_loop()?)
}

fn show<W>(window: &W, options: &ScreenOptions) -> Result<(), ScreenError>
where
    W: ComponentHandle,
    for<'a> Theme<'a>: slint::Global<'a, W>,
{
    if options.high_contrast {
        window.global::<Theme>().set_high_contrast(true);
    }
    if let Some((width, height)) = options.size {
        window
            .window()
            .set_size(slint::LogicalSize::new(width as f32, height as f32));
    }
    window.window().set_fullscreen(options.fullscreen);
    window.show()?;
    Ok(())
}

/// Whether `devices` (a `/dev`) holds a DRM card or a framebuffer to draw on.
fn display_attached(devices: &Path) -> bool {
    let named = |dir: &Path, matches: &dyn Fn(&str) -> bool| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|entry| entry.file_name().to_str().is_some_and(matches))
        })
    };
    let numbered = |name: &str, prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    named(&devices.join("dri"), &|name| numbered(name, "card"))
        || named(devices, &|name| numbered(name, "fb"))
}

/// Ends the screen's event loop from any thread (Ctrl-C in the node).
pub fn quit() {
    let quit = slint::invoke_from_event_loop(|| {
        let _ = slint::quit_event_loop();
    });
    if let Err(e) = quit {
        tracing::debug!(error = %e, "no event loop to quit");
    }
}

// Built with the `window` feature the screens would look for an X display instead.
#[cfg(all(test, not(feature = "window")))]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use aufruf_model::{NodeId, Role, Timestamp};
    use aufruf_office::memory::MemoryReplica;
    use aufruf_office::testing::test_keys;
    use aufruf_office::{DisplayService, OfficeService, RoleService, Setup, Unobserved};

    use super::{ScreenError, ScreenOptions, display_attached, open};

    fn display() -> RoleService<MemoryReplica> {
        let node = NodeId::new("display-1").unwrap();
        let office = OfficeService::new(
            aufruf_office::example_office().unwrap(),
            Setup {
                office: "zeitz".parse().unwrap(),
                node: node.clone(),
                retention_days: 7,
            },
            MemoryReplica::new(),
            Arc::new(Unobserved),
            test_keys(&node, Role::Display),
        );
        RoleService::Display(DisplayService::new(Arc::new(office)))
    }

    fn now() -> crate::Now {
        Arc::new(|| Timestamp::from_millis(1_764_000_000_000))
    }

    /// An empty folder of this test's own, standing in for a `/dev`.
    fn devices(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("aufruf-ui-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    // This test binary sets no Slint platform (the screens' tests set the testing
    // backend in theirs): as on a build without a window system.
    #[cfg(not(feature = "kms"))]
    #[test]
    fn a_build_without_a_window_system_says_how_to_get_one() {
        let e = open(&display(), now(), &ScreenOptions::default()).unwrap_err();
        assert!(matches!(e, ScreenError::NoWindowSystem), "{e}");
        assert!(e.to_string().contains("--features window"));
    }

    // The appliance's build on a device with no display plugged in (or none the
    // kernel drives): a short answer the node logs, not Slint's list of renderers.
    #[cfg(feature = "kms")]
    #[test]
    fn a_device_without_a_display_says_so() {
        let dev = devices("none");
        let options = ScreenOptions {
            devices: Some(dev.clone()),
            ..ScreenOptions::default()
        };
        let e = open(&display(), now(), &options).unwrap_err();
        assert!(matches!(&e, ScreenError::NoDisplay(d) if *d == dev), "{e}");
        assert!(e.to_string().starts_with("no display is attached: "), "{e}");
        std::fs::remove_dir_all(dev).unwrap();
    }

    #[test]
    fn no_platform_at_all_is_a_build_without_a_window_system() {
        let e = ScreenError::from(slint::PlatformError::NoPlatform);
        assert!(matches!(e, ScreenError::NoWindowSystem), "{e}");
        let e = ScreenError::from(slint::PlatformError::Other("no card".into()));
        assert_eq!(e.to_string(), "no window: no card");
    }

    #[test]
    fn a_display_is_a_drm_card_or_a_framebuffer() {
        let dev = devices("kinds");
        assert!(!display_attached(&dev), "an empty /dev");
        std::fs::create_dir(dev.join("dri")).unwrap();
        for name in ["dri/renderD128", "dri/card", "fbcon", "fb", "fb0x", "tty0"] {
            std::fs::write(dev.join(name), b"").unwrap();
            assert!(!display_attached(&dev), "{name} is no display");
        }
        std::fs::write(dev.join("fb0"), b"").unwrap();
        assert!(display_attached(&dev), "a framebuffer");
        std::fs::remove_file(dev.join("fb0")).unwrap();
        std::fs::write(dev.join("dri/card1"), b"").unwrap();
        assert!(display_attached(&dev), "a DRM card");
        assert!(!display_attached(&dev.join("missing")), "no /dev at all");
        std::fs::remove_dir_all(dev).unwrap();
    }
}
