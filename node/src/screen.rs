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
use crate::demo::{self, DemoOptions};
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
    crate::systemd::ready_and_watched();
    tokio.spawn(async {
        stopped().await;
        launch::quit();
    });
    let options = ScreenOptions {
        speech: node.state.settings.speak.then(SpeechSettings::default),
        ..ScreenOptions::default()
    };
    let shown = launch::run(&node.state.services, Arc::new(wall_clock), &options);
    match &shown {
        Err(ScreenError::NoScreen(role)) => {
            tracing::warn!(role, "this role has no screen; running without one");
            tokio.block_on(stopped());
        }
        // No display attached, or none this build can drive: the office keeps its
        // device (the API, replication) rather than losing it to a restart loop.
        Err(
            e
            @ (ScreenError::NoWindowSystem | ScreenError::NoDisplay(_) | ScreenError::Platform(_)),
        ) => {
            tracing::error!("the screen could not be opened ({e}); running without it");
            tokio.block_on(stopped());
        }
        Ok(()) | Err(ScreenError::EventLoop(_)) => {}
    }
    tokio.block_on(node.shutdown());
    match shown {
        Ok(())
        | Err(
            ScreenError::NoScreen(_)
            | ScreenError::NoWindowSystem
            | ScreenError::NoDisplay(_)
            | ScreenError::Platform(_),
        ) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `aufruf demo` with the screens of its kiosk, desks and display, each in a window
/// of its own on this thread; the demo's nodes and simulated people run on the
/// runtime. Closing every window, Ctrl-C or the demo's end stop it.
///
/// Slint's translations are per thread: while a visitor uses the demo kiosk in
/// another language, the demo's desks and display show that language too (on the
/// devices, each screen is a process of its own).
pub fn demo_with_screens(
    tokio: tokio::runtime::Runtime,
    options: DemoOptions,
) -> anyhow::Result<()> {
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let (services_tx, services_rx) = std::sync::mpsc::channel();
    let demo = tokio.spawn(async move {
        let summary = demo::run(options, stop_rx, move |services| {
            // The screens' thread may have given up already; the demo runs on.
            let _ = services_tx.send(services);
        })
        .await;
        launch::quit();
        summary
    });
    let on_signal = stop.clone();
    tokio.spawn(async move {
        stopped().await;
        let _ = on_signal.send(true);
    });
    // Until every node has caught up; a demo that fails before drops the sender.
    let Ok(services) = services_rx.recv() else {
        return tokio.block_on(demo)?.map(drop);
    };
    let _context = tokio.enter();
    let mut screens = Vec::new();
    for service in &services {
        match launch::open(service, Arc::new(wall_clock), &ScreenOptions::default()) {
            Ok(screen) => screens.push(screen),
            Err(ScreenError::NoScreen(_)) => {}
            Err(e) => {
                let _ = stop.send(true);
                tokio.block_on(demo)??;
                return Err(e.into());
            }
        }
    }
    println!(
        "  screens: {} windows open (close them or press Ctrl-C to stop)",
        screens.len()
    );
    let shown = launch::run_until_closed();
    let _ = stop.send(true);
    drop(screens);
    tokio.block_on(demo)??;
    Ok(shown?)
}
