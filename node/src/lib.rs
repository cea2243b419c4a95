//! The `aufruf` node: command line, configuration files and the wiring of the office
//! model to the outside world.

pub use aufruf_sync::address;
pub mod admin;
pub mod api;
pub mod authority;
pub mod cli;
pub mod config_file;
pub mod credentials;
pub mod demo;
pub mod guard;
pub mod metrics;
pub mod replica;
pub mod retention;
pub mod runtime;
pub mod screen;
pub mod server;
pub mod settings;
pub mod setup;
pub mod state;
pub mod systemd;
pub mod update;
