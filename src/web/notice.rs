//! One-time notices carried from a form's answer to the page it redirects to (Post/Redirect/Get):
//! kept in the session, shown once on that case's page, and only as fixed wording filled in
//! with the workflow's own titles, never with anything a request carried.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::session::SessionFault;

const KEY: &str = "notice";

/// What a case page says once, at its top.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// An event was recorded.
    Recorded {
        /// The case.
        reference: String,
        /// The event's title, as the workflow gives it.
        event: String,
    },
    /// A form was sent for a version of the case that is no longer current (or for an event
    /// the case no longer takes): nothing was recorded.
    Changed {
        /// The case.
        reference: String,
    },
}

impl Notice {
    fn reference(&self) -> &str {
        match self {
            Notice::Recorded { reference, .. } | Notice::Changed { reference } => reference,
        }
    }
}

/// Keeps `notice` for the next page of its case.
pub async fn set(session: &Session, notice: Notice) -> Result<(), SessionFault> {
    session.insert(KEY, notice).await?;
    Ok(())
}

/// The notice kept for case `reference`, removed so that it shows once; a notice for another
/// case (a second tab) is left for that case's page.
pub async fn take(session: &Session, reference: &str) -> Result<Option<Notice>, SessionFault> {
    let Some(notice) = session.get::<Notice>(KEY).await? else {
        return Ok(None);
    };
    if notice.reference() != reference {
        return Ok(None);
    }
    session.remove::<Notice>(KEY).await?;
    Ok(Some(notice))
}
