//! The `aufruf` node: command line, configuration files and the wiring of the office
//! model to the outside world.

pub mod cli;
pub mod config_file;
