//! Placeholder until the monitoring form module lands (branch `form`).

use serde::Serialize;

/// Everything printed on the form.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitoringForm {
    pub reference: String,
    pub workflow: String,
    pub partnership: String,
    pub raising: Party,
    pub receiving: Party,
    pub first_raised: String,
    pub category: String,
    pub summary: String,
    pub stages: Vec<StageRow>,
    pub actions: Vec<ActionRow>,
    pub decisions: Vec<DecisionRow>,
    pub outcome: Option<String>,
    pub resolution_date: Option<String>,
    pub child_at_risk: Option<String>,
    pub learning: Option<String>,
    pub generated: String,
    pub link: String,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Party {
    pub agency: String,
    pub name: String,
    pub role: String,
    pub email: String,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageRow {
    pub stage: String,
    pub entered: String,
    pub exited: Option<String>,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActionRow {
    pub action: String,
    pub by_whom: String,
    pub by_when: String,
}
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DecisionRow {
    pub when: String,
    pub who: String,
    pub what: String,
}
#[derive(Debug, thiserror::Error)]
#[error("form: {0}")]
pub struct FormError(String);
pub fn pdf(_form: &MonitoringForm) -> Result<Vec<u8>, FormError> {
    Err(FormError("not yet".into()))
}
pub fn html(form: &MonitoringForm) -> String {
    form.reference.clone()
}
