//! Opens the screen of a node's role and runs Slint's event loop on the calling
//! thread (the main thread, on most platforms) until the window is closed. The
//! office's work goes on elsewhere (the node's tokio runtime); views reach the screen
//! through the services' `watch` channels.

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
    #[error("no window: {0}")]
    Platform(#[from] slint::PlatformError),
    #[error("event loop: {0}")]
    EventLoop(#[from] slint::EventLoopError),
}

/// Opens the role's screen and runs it until its window closes.
pub fn run<R: Replication>(
    service: &RoleService<R>,
    now: Now,
    options: &ScreenOptions,
) -> Result<(), ScreenError> {
    match service {
        RoleService::Display(display) => {
            let announcer: Box<dyn Announcer> = match &options.speech {
                Some(settings) => Box::new(Espeak::start(settings.clone())),
                None => Box::new(Silent),
            };
            let screen = DisplayScreen::new(display.clone(), announcer, now)?;
            screen.attach()?;
            if options.high_contrast {
                screen.window().global::<Theme>().set_high_contrast(true);
            }
            show(screen.window(), options)?;
            // Keeps the clock and blinking going while the loop runs.
            drop(screen);
        }
        RoleService::Kiosk(kiosk) => {
            let screen = KioskScreen::new(kiosk.clone(), now)?;
            screen.attach()?;
            if options.high_contrast {
                screen.window().global::<Theme>().set_high_contrast(true);
            }
            show(screen.window(), options)?;
            drop(screen);
        }
        RoleService::Desk(desk) => {
            let screen = DeskScreen::new(desk.clone(), now)?;
            screen.attach()?;
            if options.high_contrast {
                screen.window().global::<Theme>().set_high_contrast(true);
            }
            show(screen.window(), options)?;
            drop(screen);
        }
        RoleService::Gateway(_) => return Err(ScreenError::NoScreen("gateway")),
    }
    Ok(())
}

fn show(window: &impl ComponentHandle, options: &ScreenOptions) -> Result<(), ScreenError> {
    if let Some((width, height)) = options.size {
        window
            .window()
            .set_size(slint::LogicalSize::new(width as f32, height as f32));
    }
    window.window().set_fullscreen(options.fullscreen);
    window.show()?;
    slint::run_event_loop()?;
    window.hide()?;
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
