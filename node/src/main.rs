//! The `aufruf` binary: parses the command line and hands over to [`aufruf_node::cli`].

use std::process::ExitCode;

fn main() -> ExitCode {
    aufruf_node::cli::main()
}
