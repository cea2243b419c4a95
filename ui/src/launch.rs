//! Opens the screen of a node's role and runs Slint's event loop on the calling
//! thread (the main thread, on most platforms) until the window is closed. The
//! office's work goes on elsewhere (the node's tokio runtime); views reach the screen
//! through the services' `watch` channels.

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
mod tests {
    use std::sync::Arc;

    use aufruf_model::{NodeId, Role, Timestamp};
    use aufruf_office::memory::MemoryReplica;
    use aufruf_office::testing::test_keys;
    use aufruf_office::{DisplayService, OfficeService, RoleService, Setup, Unobserved};

    use super::{ScreenError, ScreenOptions, open};

    // This test binary sets no Slint platform (the screens' tests set the testing
    // backend in theirs): as on a build without a window system.
    #[test]
    fn a_build_without_a_window_system_says_how_to_get_one() {
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
        let service = RoleService::Display(DisplayService::new(Arc::new(office)));
        let now = Arc::new(|| Timestamp::from_millis(1_764_000_000_000));
        let e = open(&service, now, &ScreenOptions::default()).unwrap_err();
        assert!(matches!(e, ScreenError::NoWindowSystem), "{e}");
        assert!(e.to_string().contains("--features window"));
    }
}
