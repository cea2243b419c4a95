//! The foyer display: it shows who is called to which desk and writes nothing.

use std::sync::Arc;

use tokio::sync::watch;

use crate::service::{OfficeService, Replication};
use crate::views::DisplayView;

/// The display's only capability: reading what to show.
#[derive(Debug, Clone)]
pub struct DisplayService<R: Replication> {
    office: Arc<OfficeService<R>>,
}

impl<R: Replication> DisplayService<R> {
    pub fn new(office: Arc<OfficeService<R>>) -> Self {
        Self { office }
    }

    pub fn office(&self) -> &Arc<OfficeService<R>> {
        &self.office
    }

    /// What the display shows now.
    pub fn view(&self) -> Arc<DisplayView> {
        self.office.display_view()
    }

    /// Every change of what the display shows, pushed.
    pub fn subscribe(&self) -> watch::Receiver<Arc<DisplayView>> {
        self.office.subscribe_display()
    }
}
