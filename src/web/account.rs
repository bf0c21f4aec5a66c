//! `GET /account`, My page: who the signed-in user is (name, email address, role, agency) and
//! their iCalendar feed of deadlines: make one (its address shown once, with how to add it to
//! Outlook), replace it or revoke it, each a form with its own confirmation, through the
//! API's own feed functions ([`make_feed`], [`revoke_feed`]). The page says whether a feed
//! exists; its address is never shown again, since only its hash is kept.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::csrf::CsrfForm;
use super::session::SessionFault;
use super::signin::NoFields;
use super::{Layout, local_time, signed_in_layout};
use crate::access::policy;
use crate::http::AppState;
use crate::http::auth::{Caller, ClientIp};
use crate::http::feed::{make_feed, revoke_feed};
use crate::store::UserRecord;

/// The navigation item (and address) of My page.
pub const PATH: &str = "/account";
/// Where the session keeps what My page says once after a change.
const NOTICE: &str = "account_notice";

/// What My page says once, after a form on it did something.
#[derive(Debug, Serialize, Deserialize)]
enum Notice {
    /// A feed was made (or replaced): its address, shown this once (never kept in the
    /// session).
    Made { url: String, replaced: bool },
    /// The feed was revoked.
    Revoked,
    /// There was no feed to revoke.
    NoneToRevoke,
}

fn caller(user: UserRecord, ip: Option<std::net::IpAddr>) -> Caller {
    Caller {
        user,
        address: ip.map(|ip| ip.to_string()),
    }
}

/// `GET /account`: My page. A notice left by a form is shown, then forgotten.
pub async fn page(State(state): State<AppState>, session: Session) -> Response {
    let (layout, user) = match signed_in_layout(&state, &session, PATH).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let notice = match session.remove::<Notice>(NOTICE).await {
        Ok(notice) => notice,
        Err(e) => return SessionFault::from(e).page(&state),
    };
    account_page(&state, &layout, &user, notice).await
}

/// My page for `user`, with `notice` above it.
async fn account_page(
    state: &AppState,
    layout: &Layout,
    user: &UserRecord,
    notice: Option<Notice>,
) -> Response {
    let store = state.engine.store();
    let (feed, directory) = match (store.feed_of(user.id).await, store.directory().await) {
        (Ok(feed), Ok(directory)) => (feed, directory),
        (Err(e), _) | (_, Err(e)) => return state.web.api_error(e.into(), layout),
    };
    let zone = chrono_tz::Europe::London;
    let agency = user.agency.as_deref().map(|a| {
        directory
            .agency(a)
            .map_or_else(|| a.to_string(), |known| known.name.clone())
    });
    let (made, replaced, url) = match &notice {
        Some(Notice::Made { url, replaced }) => (true, *replaced, Some(url.clone())),
        _ => (false, false, None),
    };
    let message = match notice {
        Some(Notice::Revoked) => {
            Some("Your calendar feed is revoked: its address no longer works.")
        }
        Some(Notice::NoneToRevoke) => Some("You had no calendar feed to revoke."),
        _ => None,
    };
    state.web.render(
        StatusCode::OK,
        "web/account/index.html",
        layout,
        context! {
            title => "My page",
            name => user.name,
            email => user.email,
            role => crate::text::sentence_case(user.role.as_str()),
            agency,
            has_deadlines => policy::lists_cases(user.role),
            feed => feed.map(|f| context! {
                created => local_time(f.created_at, zone),
                used => f.last_used_at.map(|t| local_time(t, zone)),
            }),
            made, replaced, url, message,
        },
    )
}

/// A page asking to confirm a change to the feed: `what` is `replace` or `revoke`.
fn confirmation(state: &AppState, layout: &Layout, what: &str) -> Response {
    state.web.render(
        StatusCode::OK,
        "web/account/confirm.html",
        layout,
        context! {
            title => if what == "revoke" {
                "Are you sure you want to revoke your calendar feed?"
            } else {
                "Are you sure you want to replace your calendar feed?"
            },
            what,
        },
    )
}

/// `GET /account/feed/replace`: confirm replacing the feed.
pub async fn confirm_replace(State(state): State<AppState>, session: Session) -> Response {
    match signed_in_layout(&state, &session, PATH).await {
        Ok((layout, _)) => confirmation(&state, &layout, "replace"),
        Err(page) => page,
    }
}

/// `GET /account/feed/revoke`: confirm revoking the feed.
pub async fn confirm_revoke(State(state): State<AppState>, session: Session) -> Response {
    match signed_in_layout(&state, &session, PATH).await {
        Ok((layout, _)) => confirmation(&state, &layout, "revoke"),
        Err(page) => page,
    }
}

/// What the make-a-feed form sends: `replace=yes` once replacing was confirmed.
#[derive(Debug, Deserialize)]
pub struct MakeFeed {
    #[serde(default)]
    replace: String,
}

/// `POST /account/feed`: a new feed, its address shown once on My page in this answer. One
/// that would replace a feed without the confirmation (a form from before one was made, or
/// sent again by reloading) asks for it first.
pub async fn make(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(form): CsrfForm<MakeFeed>,
) -> Response {
    let (layout, user) = match signed_in_layout(&state, &session, PATH).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let had = match state.engine.store().feed_of(user.id).await {
        Ok(feed) => feed.is_some(),
        Err(e) => return state.web.api_error(e.into(), &layout),
    };
    if had && form.replace != "yes" {
        return confirmation(&state, &layout, "replace");
    }
    let url = match make_feed(&state, &caller(user.clone(), ip)).await {
        Ok(url) => url,
        Err(e) if e.status == StatusCode::FORBIDDEN => {
            return state.web.error(
                StatusCode::FORBIDDEN,
                &layout,
                "You have no deadlines to follow",
                &["Your role does not list cases, so it has no calendar feed."],
            );
        }
        Err(e) => return state.web.api_error(e, &layout),
    };
    // Shown in this answer only, never kept: the address is the feed's only credential.
    let notice = Notice::Made { url, replaced: had };
    account_page(&state, &layout, &user, Some(notice)).await
}

/// `POST /account/feed/revoke`: revokes the feed; 303 to My page, which says so.
pub async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(NoFields {}): CsrfForm<NoFields>,
) -> Response {
    let (layout, user) = match signed_in_layout(&state, &session, PATH).await {
        Ok(both) => both,
        Err(page) => return page,
    };
    let notice = match revoke_feed(&state, &caller(user, ip)).await {
        Ok(()) => Notice::Revoked,
        Err(e) if e.status == StatusCode::NOT_FOUND => Notice::NoneToRevoke,
        Err(e) => return state.web.api_error(e, &layout),
    };
    if let Err(e) = session.insert(NOTICE, notice).await {
        return SessionFault::from(e).page(&state);
    }
    Redirect::to(PATH).into_response()
}
