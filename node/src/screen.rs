//! `aufruf run --screen`: the node with its role's screen. Slint's event loop runs on
//! the main thread (windowing systems want it there); the node runs on the tokio
//! runtime's worker threads as it does headless. The screen calls the same service
//! actions the HTTP API calls and hears of every change through the services'
//! `watch` channels. Closing the window, Ctrl-C or SIGTERM stops both, with the store
//! flushed.

use std::sync::Arc;

use aufruf_model::OfficeConfig;
use aufruf_ui::launch::{self, ScreenError, ScreenOptions};
use aufruf_ui::speech::SpeechSettings;

use crate::cli::stopped;
use crate::runtime;
use crate::settings::NodeSettings;
use crate::state::wall_clock;

/// Starts the node, shows its screen until it is closed, then stops the node.
pub fn run_with_screen(
    tokio: tokio::runtime::Runtime,
    office: Option<OfficeConfig>,
    settings: NodeSettings,
) -> anyhow::Result<()> {
    let started = tokio.block_on(async move {
        // A device without the office's configuration waits for a peer to bring it;
        // Ctrl-C ends the wait.
        tokio::select! {
            node = runtime::start(office, settings) => node.map(Some),
            () = stopped() => Ok(None),
        }
    })?;
    let Some(node) = started else {
        return Ok(());
    };
    println!(
        "aufruf: {} running with its screen; local API on http://{}",
        node.state.settings.id, node.api_addr
    );
    // Service actions on the screen's thread find the runtime, should they need it.
    let _context = tokio.enter();
    tokio.spawn(async {
        stopped().await;
        launch::quit();
    });
    let options = ScreenOptions {
        speech: node.state.settings.speak.then(SpeechSettings::default),
        ..ScreenOptions::default()
    };
    let shown = launch::run(&node.state.services, Arc::new(wall_clock), &options);
    if let Err(ScreenError::NoScreen(role)) = &shown {
        tracing::warn!(role, "this role has no screen; running without one");
        tokio.block_on(stopped());
    }
    tokio.block_on(node.shutdown());
    match shown {
        Ok(()) | Err(ScreenError::NoScreen(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
