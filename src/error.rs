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
    /// Work that was done only in part: messages that failed for good, or deadlines that
    /// could not fire (the command's report says which).
    #[error("{0}")]
    Failed(String),
    /// Already reported on the command's output (or the reader has gone: `| head`); only the
    /// exit code is left.
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
    /// A well-formed request that cannot be done as things stand (a user who exists already,
    /// a token revoked before).
    #[error("{0}")]
    Declined(String),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code, as design.md fixes it: 1 refused (by the workflow, the engine or
    /// the policy) or an audit problem, 2 bad input (arguments, files, configuration, data), 3 the
    /// database or another service unreachable, or a delivery failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Reported(code) => *code,
            Error::Failed(_) => 3,
            Error::Declined(_) => 1,
            Error::Workflows(_) => 1,
            Error::Refused(r) => refusal_exit_code(r),
            Error::Store(e) => store_exit_code(e),
            Error::Engine(e) => match e {
                EngineError::Refused(r) => refusal_exit_code(r),
                EngineError::Store(e) => store_exit_code(e),
                EngineError::Future { .. } | EngineError::WorkflowFiles(_) => 2,
                EngineError::UnknownReference(_)
                | EngineError::UnknownWorkflow(..)
                | EngineError::Backdated { .. }
                | EngineError::NotInvolved { .. }
                | EngineError::LinkedStillOpen { .. }
                | EngineError::UnknownVersion(..)
                | EngineError::Tampered(_)
                | EngineError::Stale { .. } => 1,
            },
            Error::Calendar(_) | Error::Read { .. } | Error::Config(_) | Error::Input(_) => 2,
        }
    }
}

/// Malformed data or fields are bad input (2); an event the workflow does not allow now, or
/// not from this person, is a refusal (1).
fn refusal_exit_code(refusal: &Refusal) -> u8 {
    match refusal {
        Refusal::BadData { .. }
        | Refusal::BadField { .. }
        | Refusal::MissingField { .. }
        | Refusal::UnknownField { .. }
        | Refusal::BadChoice { .. }
        // A date outside the calendar's range is a bad date, not a refusal.
        | Refusal::Calendar(_) => 2,
        _ => 1,
    }
}

/// The database unreachable (or failing) is 3; a lost race or damaged data is a refusal.
fn store_exit_code(e: &StoreError) -> u8 {
    match e {
        StoreError::BadUrl(_) => 2,
        StoreError::Unreachable { .. } | StoreError::Database(_) | StoreError::Migrate(_) => 3,
        StoreError::Conflict(_) | StoreError::Damaged(_) | StoreError::Duplicate(_) => 1,
    }
}
