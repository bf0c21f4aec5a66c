//! `escalate workflows check|show|simulate`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;

use super::{emit, parse_time, rfc3339};
use crate::calendar::{Calendar, local_time};
use crate::config::Settings;
use crate::workflow::{
    Action, ActionKind, Anchor, DeadlineRule, Definition, Effect, Event, FieldSpec, RoleKind, Step,
    TimerKind, simulate,
};
use crate::{Error, Result};

#[derive(Debug, Subcommand)]
pub(crate) enum WorkflowsCommand {
    /// Check every workflow file: exit 0 if all are valid, else 1 with "file:line:col: message" lines.
    Check {
        /// Directory of *.yaml workflow files [default: from configuration, `workflows`].
        dir: Option<PathBuf>,
    },
    /// A readable outline: roles, states, deadlines, events and who may record them.
    Show {
        /// The workflow's id, e.g. dispute.
        name: String,
    },
    /// The timeline of a case opened at --from if nobody acts.
    Simulate {
        /// The workflow's id, e.g. dispute.
        name: String,
        /// When the case opens, RFC 3339.
        #[arg(long, value_name = "TIME", value_parser = parse_time)]
        from: DateTime<Utc>,
        /// Opening data (JSON) [default: examples/NAME.json].
        #[arg(long, value_name = "FILE")]
        data: Option<PathBuf>,
        /// Print JSON: one object per step.
        #[arg(long)]
        json: bool,
    },
    /// Each version kept in the database, newest first, with its open cases: a case always
    /// runs on the version it was opened on.
    Versions {
        /// The workflow's id, e.g. dispute.
        name: String,
        /// Print JSON: {"workflow", "current", "versions": [{"hash", "label", "first_seen",
        /// "current", "cases", "open_cases", "references"}]}.
        #[arg(long)]
        json: bool,
    },
}

/// How many open cases' references `workflows versions` names per version.
const VERSION_REFERENCES: i64 = 5;

pub(crate) fn run(cmd: WorkflowsCommand, settings: &Settings, out: &mut dyn Write) -> Result<()> {
    match cmd {
        WorkflowsCommand::Check { dir } => {
            // The problems are this command's report, so they go to standard output.
            let workflows = match settings.workflows(dir.as_deref()) {
                Ok(w) => w,
                Err(Error::Workflows(problems)) => {
                    emit(out, &problems.to_string())?;
                    return Err(Error::Reported(1));
                }
                Err(e) => return Err(e),
            };
            for d in workflows.iter() {
                emit(
                    out,
                    &format!("{}: ok ({} states, {})", d.id, d.states.len(), d.hash),
                )?;
            }
            Ok(())
        }
        WorkflowsCommand::Show { name } => {
            let workflows = settings.workflows(None)?;
            let def = find(&workflows, &name)?;
            emit(out, outline(def).trim_end())
        }
        WorkflowsCommand::Simulate {
            name,
            from,
            data,
            json,
        } => {
            let workflows = settings.workflows(None)?;
            let def = find(&workflows, &name)?;
            let path = data.unwrap_or_else(|| Path::new("examples").join(format!("{name}.json")));
            let data = read_json(&path)?;
            let calendar = settings.calendar(None)?;
            let steps = simulate(def, data, from, &calendar)?;
            if json {
                let steps: Vec<StepJson> = steps.iter().map(StepJson::from).collect();
                let text = serde_json::to_string_pretty(&steps)
                    .map_err(|e| Error::Input(e.to_string()))?;
                emit(out, &text)
            } else {
                emit(
                    out,
                    timeline(def, &calendar, &steps, from, &path).trim_end(),
                )
            }
        }
        WorkflowsCommand::Versions { name, json } => {
            super::block_on(versions(settings, &name, json, out))
        }
    }
}

/// `escalate workflows versions NAME`: read from the store, so it works whatever the files
/// say; the current file's version is marked when the files load.
async fn versions(
    settings: &Settings,
    name: &str,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let (current, broken) = match settings.workflows(None) {
        Ok(w) => (w.get(name).map(|d| d.hash.clone()), None),
        Err(Error::Workflows(problems)) => (None, Some(problems.one_line())),
        Err(e) => return Err(e),
    };
    let store = crate::store::connect(&settings.database_url).await?;
    store.migrate().await?;
    let versions = store.workflow_versions(name, VERSION_REFERENCES).await?;
    if versions.is_empty() && current.is_none() && broken.is_none() {
        return Err(Error::Input(format!(
            "no workflow '{name}': no version of it is kept in the database and no file defines it"
        )));
    }
    let is_current = |hash: &str| current.as_deref() == Some(hash);
    if as_json {
        let rows: Vec<serde_json::Value> = versions
            .iter()
            .map(|v| {
                let mut row = serde_json::json!(v);
                row["first_seen"] = serde_json::json!(rfc3339(v.first_seen));
                row["current"] = serde_json::json!(is_current(&v.hash));
                row
            })
            .collect();
        let value = serde_json::json!({
            "workflow": name,
            "current": current,
            "files_problem": broken,
            "versions": rows,
        });
        return emit(out, &super::case::pretty(&value)?);
    }
    let mut text = match versions.len() {
        0 => format!("{name}: no version kept yet (one is kept when a case opens or serve starts)"),
        n => format!("{name}: {n} version(s) kept, newest first"),
    };
    for v in &versions {
        let mut line = format!(
            "\n  {}  version {}  first seen {}{}  {} case(s), {} open",
            v.hash,
            v.label,
            rfc3339(v.first_seen),
            if is_current(&v.hash) {
                " (current)"
            } else {
                ""
            },
            v.cases,
            v.open_cases
        );
        if !v.references.is_empty() {
            let more = if v.open_cases > v.references.len() as i64 {
                ", …"
            } else {
                ""
            };
            let _ = write!(line, ": {}{more}", v.references.join(", "));
        }
        text.push_str(&line);
    }
    match (&current, &broken) {
        (Some(hash), _) if !versions.iter().any(|v| &v.hash == hash) => {
            let _ = write!(
                text,
                "\n  {hash} is the current file's version; new cases will be opened on it"
            );
        }
        (_, Some(problem)) => {
            let _ = write!(
                text,
                "\nthe workflow files do not load, so no version is current: {problem}"
            );
        }
        _ => {}
    }
    emit(out, &text)
}

fn find<'a>(workflows: &'a crate::workflow::Workflows, name: &str) -> Result<&'a Definition> {
    workflows.get(name).ok_or_else(|| {
        let known: Vec<&str> = workflows.iter().map(|d| d.id.as_str()).collect();
        Error::Input(format!(
            "no workflow '{name}'; there are: {}",
            known.join(", ")
        ))
    })
}

/// Reads a JSON file, naming the file and the position of a syntax error.
pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_json(&text, &path.display().to_string())
}

/// JSON text read from `name` (a path, or `<stdin>`). A leading UTF-8 byte-order mark, which
/// Windows editors write, is skipped.
pub(crate) fn parse_json(text: &str, name: &str) -> Result<serde_json::Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| {
        Error::Input(format!(
            "{name}:{}:{}: invalid JSON: {e}",
            e.line(),
            e.column()
        ))
    })
}

fn fields(spec: &FieldSpec) -> String {
    let one = |f: &String| match spec.choices.get(f) {
        Some(c) => format!("{f} ({})", c.join(" | ")),
        None => f.clone(),
    };
    let mut parts = Vec::new();
    if !spec.requires.is_empty() {
        parts.push(format!(
            "requires {}",
            spec.requires.iter().map(one).collect::<Vec<_>>().join(", ")
        ));
    }
    if !spec.optional.is_empty() {
        parts.push(format!(
            "may give {}",
            spec.optional.iter().map(one).collect::<Vec<_>>().join(", ")
        ));
    }
    parts.join("; ")
}

fn action(a: &Action) -> String {
    let kind = match a.kind {
        ActionKind::Email => "email",
        ActionKind::Form => "form",
    };
    format!("{kind} {} to {}", a.template, a.to.join(", "))
}

fn deadline(rule: &DeadlineRule) -> String {
    let from = match &rule.from {
        Anchor::Entered => "of entering".to_string(),
        Anchor::Opened => "of opening".to_string(),
        Anchor::Event(e) => format!("of '{e}'"),
    };
    let mut text = format!("due within {} {from}", rule.within);
    if let Some(w) = rule.warn_before {
        let _ = write!(
            text,
            "; warning {w} before ({} to {})",
            rule.warn_template,
            rule.owners.join(", ")
        );
    }
    let lapse = &rule.on_lapse;
    let mut on_lapse = Vec::new();
    if let Some(t) = &lapse.template {
        on_lapse.push(format!("remind {} ({t})", lapse.notify.join(", ")));
    }
    if let Some(e) = &lapse.escalate {
        on_lapse.push(format!("the engine records '{e}': \"{}\"", lapse.reason));
    }
    let _ = write!(text, "; on lapse {}", on_lapse.join(" and "));
    text
}

fn event_line(e: &Event) -> String {
    let target = match &e.to {
        Some(t) => format!("{} -> {t}", e.name),
        None => format!("{} (recorded, state unchanged)", e.name),
    };
    let mut line = format!("{target}: {}; by {}", e.title, e.by.join(", "));
    let f = fields(&e.fields);
    if !f.is_empty() {
        let _ = write!(line, "; {f}");
    }
    for a in &e.notify {
        let _ = write!(line, "; {}", action(a));
    }
    if let Some(o) = &e.opens {
        let _ = write!(line, "; opens a linked {} case", o.workflow);
    }
    line
}

/// The outline `workflows show` prints.
fn outline(def: &Definition) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}: {} (version {}, {})",
        def.id, def.title, def.label, def.hash
    );
    if !def.description.is_empty() {
        let _ = writeln!(s, "{}", def.description.trim());
    }
    let _ = writeln!(
        s,
        "References {}-YYYY-NNNNNN; holidays of {} unless the case names its division; time zone {}.",
        def.reference_prefix, def.division, def.time_zone
    );
    let _ = writeln!(s, "\nOpening data: {}", fields(&def.data));
    let _ = writeln!(s, "\nRoles:");
    for r in &def.roles {
        let source = match &r.kind {
            RoleKind::Party { path } => format!("the person at {path} in the case data"),
            RoleKind::Contact { level, of } if of.is_empty() => {
                format!("{level} contacts of the partnership")
            }
            RoleKind::Contact { level, of } => {
                format!("{level} contacts of the agencies of {}", of.join(" and "))
            }
        };
        let _ = writeln!(s, "  {:<20} {} ({source})", r.name, r.title);
    }
    let _ = writeln!(s, "\nStarts:");
    for st in &def.starts {
        let mut line = format!("  {}", st.state);
        if !st.when.is_empty() {
            let when: Vec<String> = st.when.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let _ = write!(line, " when {}", when.join(" and "));
        }
        if !st.requires.is_empty() {
            let _ = write!(line, "; requires {}", st.requires.join(", "));
        }
        if std::ptr::eq(st, def.default_start()) {
            line.push_str(" (default)");
        }
        let _ = writeln!(s, "{line}");
    }
    if !def.tasks.is_empty() {
        let _ = writeln!(s, "\nTasks:");
        for t in &def.tasks {
            let when: Vec<String> = t.when.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let cond = if when.is_empty() {
                String::new()
            } else {
                format!(" when {}", when.join(" and "))
            };
            let _ = writeln!(s, "  {}: {}{cond}", t.name, t.title);
            let _ = writeln!(
                s,
                "    {}; met by {}",
                deadline(&t.deadline),
                t.met_by.join(", ")
            );
        }
    }
    let _ = writeln!(s, "\nStates:");
    for st in &def.states {
        match &st.outcome {
            Some(o) => {
                let _ = writeln!(s, "  {}: {} [terminal, outcome {o}]", st.name, st.title);
            }
            None if st.owners.is_empty() => {
                let _ = writeln!(s, "  {}: {}", st.name, st.title);
            }
            None => {
                let _ = writeln!(
                    s,
                    "  {}: {} [owners: {}]",
                    st.name,
                    st.title,
                    st.owners.join(", ")
                );
            }
        }
        if let Some(rule) = &st.deadline {
            let _ = writeln!(s, "    {}", deadline(rule));
        }
        for a in &st.on_entry {
            let _ = writeln!(s, "    on entry: {}", action(a));
        }
        for e in &st.events {
            let _ = writeln!(s, "    {}", event_line(e));
        }
    }
    s
}

/// One simulation step as JSON.
#[derive(Serialize)]
struct StepJson<'a> {
    at: String,
    kind: &'static str,
    deadline: Option<String>,
    event: &'a str,
    actor: &'a str,
    from: &'a str,
    to: &'a str,
    reason: Option<&'a str>,
    sends: Vec<&'a crate::workflow::Message>,
    starts: Vec<TimerJson>,
}

#[derive(Serialize)]
struct TimerJson {
    deadline: String,
    kind: TimerKind,
    due: String,
}

impl<'a> From<&'a Step> for StepJson<'a> {
    fn from(step: &'a Step) -> Self {
        let t = &step.transition;
        let kind = match (&step.timer, t.from != t.to) {
            (None, _) => "open",
            (Some(timer), _) if timer.kind == TimerKind::Warning => "warning",
            (Some(_), true) => "escalation",
            (Some(_), false) => "lapse",
        };
        StepJson {
            at: rfc3339(t.at),
            kind,
            deadline: step.timer.as_ref().map(|tm| slot_name(&tm.slot)),
            event: &t.event,
            actor: &t.actor,
            from: &t.from,
            to: &t.to,
            reason: t.fields.get("reason").map(String::as_str),
            sends: t
                .effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Send(m) => Some(m),
                    _ => None,
                })
                .collect(),
            starts: t
                .timers()
                .map(|tm| TimerJson {
                    deadline: slot_name(&tm.slot),
                    kind: tm.kind,
                    due: rfc3339(tm.due_at),
                })
                .collect(),
        }
    }
}

fn slot_name(slot: &crate::workflow::Slot) -> String {
    match slot {
        crate::workflow::Slot::State(s) | crate::workflow::Slot::Task(s) => s.clone(),
    }
}

/// The human timeline `workflows simulate` prints.
fn timeline(
    def: &Definition,
    calendar: &Calendar,
    steps: &[Step],
    from: DateTime<Utc>,
    data: &Path,
) -> String {
    let tz = def.time_zone;
    let mut s = format!(
        "{} opened {} with {}, if nobody acts:\n",
        def.id,
        local_time(from, tz),
        data.display()
    );
    for step in steps {
        let t = &step.transition;
        let when = local_time(t.at, tz);
        let what = match &step.timer {
            None => format!("opened in {}", t.to),
            Some(timer) if timer.kind == TimerKind::Warning => {
                format!("warning: {} deadline nears", slot_name(&timer.slot))
            }
            Some(timer) if t.from != t.to => format!(
                "{} deadline lapsed: the engine records '{}' ({}), {} -> {}",
                slot_name(&timer.slot),
                t.event,
                t.fields.get("reason").map_or("", String::as_str),
                t.from,
                t.to
            ),
            Some(timer) => format!("{} deadline lapsed", slot_name(&timer.slot)),
        };
        let _ = writeln!(s, "{when}  {what}");
        for e in &t.effects {
            match e {
                Effect::Send(m) => {
                    let kind = match m.kind {
                        ActionKind::Email => "email",
                        ActionKind::Form => "form",
                    };
                    let _ = writeln!(s, "    {kind} {} to {}", m.template, m.to.join(", "));
                }
                Effect::Start(timer) if timer.kind == TimerKind::Lapse => {
                    let _ = writeln!(
                        s,
                        "    {}: {}",
                        slot_name(&timer.slot),
                        calendar.summary(&timer.deadline).replace('\n', "; ")
                    );
                }
                _ => {}
            }
        }
        if t.closes {
            let _ = writeln!(s, "    case closed");
        }
    }
    let open_end = steps.last().is_some_and(|st| !st.transition.closes);
    if open_end {
        let _ = writeln!(s, "(then nothing further happens until someone acts)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_file_with_a_byte_order_mark_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bom.json");
        std::fs::write(&path, "\u{feff}{\"summary\": \"x\"}\n").unwrap();
        assert_eq!(
            read_json(&path).unwrap(),
            serde_json::json!({"summary": "x"})
        );
        // Only a leading one: elsewhere it is not JSON.
        std::fs::write(&path, "{\"summary\": \"x\"}\u{feff}").unwrap();
        assert!(read_json(&path).is_err());
    }
}
