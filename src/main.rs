//! The `escalate` binary: everything lives in the library; this is the process edge.

use std::process::ExitCode;

fn main() -> ExitCode {
    escalate::cli::run(std::env::args_os(), &mut std::io::stdout().lock())
}
