//! Email: templates, the outbox dispatcher, transports and the monitoring form.
//!
//! The engine queues messages (outbox rows) inside its transactions; this module delivers them,
//! each at most once at a time, retrying temporary failures with backoff.

pub mod digest;
mod dispatch;
pub mod form;
mod templates;
mod transport;

pub use dispatch::{DeliveryReport, Dispatcher, MailSettings, WITHHELD, monitoring_form};
pub use templates::{Rendered, Templates};
pub use transport::{Mailer, SendError};

/// What can stop mail from being prepared or sent, each one line.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The mail URL or settings are wrong.
    #[error("mail settings: {0}")]
    Settings(String),
    /// The `file://` mail directory cannot be made: no message can be written (exit 3, like
    /// a database that cannot be reached).
    #[error("mail: {0}")]
    Unavailable(String),
    /// This message cannot be made (e.g. a recipient name with a line break in it, stored
    /// before such names were refused): it fails, and no other message with it.
    #[error("the message cannot be built: {0}")]
    Unsendable(String),
    /// A template is missing or does not render.
    #[error("template {name}: {message}")]
    Template {
        /// The template file.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The monitoring form could not be made.
    #[error(transparent)]
    Form(#[from] form::FormError),
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine (e.g. a workflow version that is gone).
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}
