//! Screens drawn into memory by Slint's software renderer, without a window system:
//! what the benchmarks measure (and a picture of a screen can be taken with).
//! [`Headless::install`] makes it this thread's Slint platform; each screen created
//! afterwards gets its own window, which [`Headless::take_window`] hands out as a
//! [`Frame`] to draw.

use std::cell::RefCell;
use std::rc::Rc;

use slint::platform::software_renderer::{
    MinimalSoftwareWindow, PremultipliedRgbaColor, RepaintBufferType,
};
use slint::platform::{Platform, WindowAdapter};

/// The platform: every window a software-rendered one in memory.
#[derive(Clone, Default)]
pub struct Headless {
    made: Rc<RefCell<Option<Rc<MinimalSoftwareWindow>>>>,
}

impl std::fmt::Debug for Headless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headless").finish_non_exhaustive()
    }
}

struct Installed(Headless);

impl Platform for Installed {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        *self.0.made.borrow_mut() = Some(window.clone());
        Ok(window)
    }
}

impl Headless {
    /// Makes it Slint's platform on this thread; an error if one is set already.
    pub fn install() -> Result<Headless, slint::PlatformError> {
        let headless = Headless::default();
        slint::platform::set_platform(Box::new(Installed(headless.clone())))
            .map_err(|e| slint::PlatformError::Other(e.to_string()))?;
        Ok(headless)
    }

    /// The window of the screen created last, sized `width` × `height`; `None` when
    /// no screen was created since the last call.
    pub fn take_window(&self, width: u32, height: u32) -> Option<Frame> {
        let window = self.made.borrow_mut().take()?;
        window.set_size(slint::PhysicalSize::new(width, height));
        let pixels = usize::try_from(u64::from(width) * u64::from(height)).ok()?;
        Some(Frame {
            window,
            width: usize::try_from(width).ok()?,
            pixels: vec![PremultipliedRgbaColor::default(); pixels],
        })
    }
}

/// A window and the memory it is drawn into.
pub struct Frame {
    window: Rc<MinimalSoftwareWindow>,
    width: usize,
    pixels: Vec<PremultipliedRgbaColor>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame").field("width", &self.width).finish()
    }
}

impl Frame {
    /// Runs Slint's timers, then renders the whole window, as a display's next frame.
    pub fn draw(&mut self) {
        slint::platform::update_timers_and_animations();
        self.window.request_redraw();
        let (pixels, width) = (&mut self.pixels, self.width);
        self.window.draw_if_needed(|renderer| {
            renderer.render(pixels, width);
        });
    }
}
