//! The crate's one error type, and what each kind means for the exit code.

use std::path::PathBuf;

use crate::calendar::CalendarError;
use crate::engine::EngineError;
use crate::store::StoreError;
use crate::workflow::{Problems, Refusal};

/// Everything that can go wrong in escalate, each as one readable line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Holiday data or a deadline question the calendar cannot answer.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// A file that could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Configuration that is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A command-line value that is wrong.
    #[error("{0}")]
    Input(String),
    /// Workflow files with problems, one `file:line:col: message` line each.
    #[error("{0}")]
    Workflows(#[from] Problems),
    /// Already reported on the command's output; only the exit code is left.
    #[error("")]
    Reported(u8),
    /// The database failed or cannot be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// An event or opening the workflow does not allow.
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code: 1 when workflows or an event fail their checks, 2 for bad input,
    /// configuration or data, as for usage errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Reported(code) => *code,
            Error::Workflows(_) | Error::Refused(_) | Error::Store(_) | Error::Engine(_) => 1,
            Error::Calendar(_) | Error::Read { .. } | Error::Config(_) | Error::Input(_) => 2,
        }
    }
}
