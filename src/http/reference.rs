//! Reference data for clients: the workflows (what a UI needs to draw forms and buttons) and
//! the agency directory's agencies. Any signed-in user may read them: they hold no case data.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::AppState;
use super::auth::Caller;
use super::error::ApiError;
use crate::workflow::describe;

/// `GET /api/v1/workflows`: each current workflow's summary.
pub async fn workflows(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    Json(
        state
            .engine
            .workflows()
            .iter()
            .map(describe::summary)
            .collect(),
    )
}

/// `GET /api/v1/workflows/{name}`: one workflow whole.
pub async fn workflow(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .workflows()
        .get(&name)
        .map(|def| Json(describe::describe(def)))
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                format!(
                    "no workflow '{}'",
                    crate::text::for_terminal(&name)
                        .chars()
                        .take(80)
                        .collect::<String>()
                ),
            )
        })
}

/// `GET /api/v1/agencies`: the directory's agencies by id and name (not its contacts'
/// addresses, which only the engine needs).
pub async fn agencies(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let directory = state.engine.store().directory().await?;
    Ok(Json(
        directory
            .agencies
            .iter()
            .map(|a| json!({ "id": a.id, "name": a.name }))
            .collect(),
    ))
}
