//! The open-a-case form, generated from a workflow's `data` section: one input per data field
//! (its type decides the widget: text, email, long text, date, yes/no, a choice), the objects
//! of the data (the child, each party) as fieldsets, a party's agency chosen from the agency
//! directory, the bank-holiday division from the three, and the starting stage when the
//! workflow has more than one. [`OpenForm::read`] turns what was submitted back into the
//! [`OpenRequest`] the API takes, checking every field with the workflow's own checks and
//! linking each problem to its input; nothing submitted is trusted.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::calendar::Division;
use crate::directory::Directory;
use crate::http::cases::OpenRequest;
use crate::text;
use crate::workflow::{self, Definition, FieldType, LONG_TEXT_MAX, Refusal, RoleKind};

/// A submitted form's values by input name: `data.PATH` for a field of the data (a date's
/// parts `data.PATH-day`, `-month`, `-year`), [`START`] and [`START_REASON`].
pub type Answers = BTreeMap<String, String>;

/// The input name of the starting stage.
pub const START: &str = "start";
/// The input name of the reason for starting at a later stage.
pub const START_REASON: &str = "start_reason";
/// Every data field's input name starts with this, so that no field a workflow declares can
/// be taken for the start or the reason.
const DATA: &str = "data.";
/// The most choices shown as radios; a longer list is a select.
const MAX_RADIOS: usize = 8;
/// The parts of a date input, in the order GOV.UK shows them.
const DATE_PARTS: [&str; 3] = ["day", "month", "year"];

/// How an input is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Widget {
    /// One line of text.
    Text,
    /// An email address.
    Email,
    /// Free text with a character count.
    Textarea,
    /// One of a few options.
    Radios,
    /// One of many options.
    Select,
    /// Day, month and year.
    Date,
}

/// An option of a radios or select input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// What is sent.
    pub value: String,
    /// What people see.
    pub text: String,
}

/// What the form makes of an input's text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reads {
    /// The value of the workflow's type, checked by the workflow's own check.
    Typed(FieldType),
    /// `true` or `false`: a JSON boolean.
    YesNo,
    /// An agency of the directory, kept by its name (what case data uses).
    Agency,
    /// A bank-holiday division.
    Division,
}

/// One input of the form: one field of the workflow's data.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    /// The field's path in the data, e.g. `raised_by.email`.
    pub path: String,
    /// The input's name: `data.` and the path.
    pub name: String,
    /// The input's id (the path with `-` for `.`): what the error summary links to.
    pub id: String,
    /// Its label within its fieldset, e.g. `Email address`.
    pub label: String,
    /// What messages call it, e.g. `the email address of the professional who raised the
    /// disagreement`.
    pub full: String,
    /// Whether the workflow requires it.
    pub required: bool,
    /// How it is drawn.
    pub widget: Widget,
    /// Its length limit, for text.
    pub max: Option<usize>,
    /// Its options, for radios and selects.
    pub choices: Vec<Choice>,
    /// A line under its label.
    pub hint: Option<String>,
    #[serde(skip)]
    reads: Reads,
}

/// Inputs shown together: the case's own fields (no legend), or one object of the data in a
/// fieldset (the child, a party).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The fieldset's legend, e.g. `Professional who raised the disagreement`.
    pub legend: Option<String>,
    /// Its inputs, in the workflow's order (required first).
    pub inputs: Vec<Input>,
}

/// A stage a case may start in.
#[derive(Debug, Clone, Serialize)]
pub struct StartChoice {
    /// The state.
    pub value: String,
    /// Its title.
    pub text: String,
    /// When it may be chosen, in words.
    pub hint: Option<String>,
    #[serde(skip)]
    needs_reason: bool,
    #[serde(skip)]
    when: BTreeMap<String, Value>,
}

/// Something wrong with what was submitted, for the error summary and the input it links to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// `#` and the id of the input to fix.
    pub href: String,
    /// What to do, in a line.
    pub text: String,
}

/// The form of one workflow.
#[derive(Debug, Clone)]
pub struct OpenForm {
    /// Its groups of inputs: the case's own fields first, then each object of the data.
    pub groups: Vec<Group>,
    /// The stages a case may start in, the usual one first; empty when there is only one.
    pub starts: Vec<StartChoice>,
    /// The usual starting stage.
    default_start: String,
    /// The party whose name, email and agency are the opener's own at first: the workflow's
    /// first party (the one who raises or refers).
    opener: Option<String>,
}

/// `Professional who …` as it reads inside a sentence: `professional who …`.
fn lower_first(text: &str) -> String {
    let first = text.chars().next().map_or(0, char::len_utf8);
    format!("{}{}", text[..first].to_lowercase(), &text[first..])
}

/// The input id of a data path.
fn id_of(path: &str) -> String {
    path.replace('.', "-")
}

impl OpenForm {
    /// The form of `def`, offering the agencies of `directory` (free text when it has none).
    pub fn new(def: &Definition, directory: &Directory) -> OpenForm {
        let parties: Vec<(&str, &str)> = def
            .roles
            .iter()
            .filter_map(|r| match &r.kind {
                RoleKind::Party { path } => Some((path.as_str(), r.title.as_str())),
                RoleKind::Contact { .. } => None,
            })
            .collect();
        let mut own = Group {
            legend: None,
            inputs: Vec::new(),
        };
        let mut objects: Vec<(String, Group)> = Vec::new();
        let fields = def
            .data
            .requires
            .iter()
            .map(|p| (p, true))
            .chain(def.data.optional.iter().map(|p| (p, false)));
        for (path, required) in fields {
            // The party an input belongs to, else the first part of its path.
            let party = parties
                .iter()
                .filter(|(p, _)| workflow::is_inside(path, p))
                .max_by_key(|(p, _)| p.len());
            let Some((head, legend, is_party)) = party
                .map(|(p, title)| (p.to_string(), title.to_string(), true))
                .or_else(|| {
                    path.split_once('.')
                        .map(|(head, _)| (head.to_string(), text::sentence_case(head), false))
                })
            else {
                own.inputs
                    .push(input(def, directory, path, required, None, false));
                continue;
            };
            let at = match objects.iter().position(|(h, _)| *h == head) {
                Some(at) => at,
                None => {
                    objects.push((
                        head.clone(),
                        Group {
                            legend: Some(legend.clone()),
                            inputs: Vec::new(),
                        },
                    ));
                    objects.len() - 1
                }
            };
            let within = Some((head.as_str(), legend.as_str()));
            objects[at]
                .1
                .inputs
                .push(input(def, directory, path, required, within, is_party));
        }
        let mut groups = vec![own];
        groups.extend(objects.into_iter().map(|(_, g)| g));
        groups.retain(|g| !g.inputs.is_empty());
        let default_start = def.default_start().state.clone();
        let all_inputs: Vec<&Input> = groups.iter().flat_map(|g| &g.inputs).collect();
        let starts = if def.starts.len() > 1 {
            def.starts
                .iter()
                .map(|s| {
                    let title = def
                        .state(&s.state)
                        .map_or_else(|| s.state.clone(), |st| st.title.clone());
                    let usual = s.state == default_start;
                    StartChoice {
                        value: s.state.clone(),
                        text: if usual {
                            format!("{title} (the usual start)")
                        } else {
                            title
                        },
                        hint: (!s.when.is_empty())
                            .then(|| format!("Only when {}", conditions(&all_inputs, &s.when))),
                        needs_reason: s.requires.iter().any(|r| r == "reason"),
                        when: s.when.clone(),
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        OpenForm {
            groups,
            starts,
            default_start,
            opener: parties.first().map(|(p, _)| p.to_string()),
        }
    }

    /// Every input, in the order shown.
    pub fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.groups.iter().flat_map(|g| &g.inputs)
    }

    /// The names of the inputs whose values the form sends, in the order shown: what the
    /// check-answers page carries to the confirmation as hidden fields.
    pub fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for input in self.inputs() {
            if input.widget == Widget::Date {
                names.extend(DATE_PARTS.map(|p| format!("{}-{p}", input.name)));
            } else {
                names.push(input.name.clone());
            }
        }
        if !self.starts.is_empty() {
            names.extend([START.to_string(), START_REASON.to_string()]);
        }
        names
    }

    /// A fresh form's values: the opener's own name, email address and agency (the
    /// directory's name for it) in the first party's fields, which stay editable.
    pub fn prefilled(
        &self,
        name: &str,
        email: &str,
        agency: Option<&str>,
        directory: &Directory,
    ) -> Answers {
        let mut answers = Answers::new();
        let Some(party) = &self.opener else {
            return answers;
        };
        let agency = agency.map(|a| directory.agency(a).map_or(a, |known| known.name.as_str()));
        for (key, value) in [
            ("name", Some(name)),
            ("email", Some(email)),
            ("agency", agency),
        ] {
            let path = format!("{party}.{key}");
            if let (Some(value), true) = (value, self.inputs().any(|i| i.path == path)) {
                answers.insert(format!("{DATA}{path}"), value.to_string());
            }
        }
        answers
    }

    /// The input for the data path `path`, if the form has one.
    fn input(&self, path: &str) -> Option<&Input> {
        self.inputs().find(|i| i.path == path)
    }

    /// Where to link a problem with the data at `path`: its input (a date's day), else the
    /// form's first input.
    fn href(&self, path: &str) -> String {
        let input = self.input(path).or_else(|| self.inputs().next());
        match input {
            Some(i) if i.widget == Widget::Date => format!("#{}-day", i.id),
            Some(i) => format!("#{}", i.id),
            None => "#main-content".into(),
        }
    }

    /// Where to link a problem with who opens the case: the opener's email address.
    pub fn opener_href(&self) -> String {
        let path = self.opener.as_deref().map(|p| format!("{p}.email"));
        self.href(path.as_deref().unwrap_or_default())
    }

    /// Where to link a problem with the starting stage: its radios, when there is a choice.
    pub fn start_href(&self, request: &OpenRequest) -> String {
        if self.starts.is_empty() || request.start.is_none() {
            self.href("")
        } else {
            format!("#{START}")
        }
    }

    /// The request `answers` make, or every problem with them, each linked to its input.
    /// Each field is checked as the workflow checks it, then the data as a whole (two parties
    /// the same person), then the starting stage's conditions.
    pub fn read(
        &self,
        workflow: &str,
        def: &Definition,
        directory: &Directory,
        answers: &Answers,
    ) -> Result<OpenRequest, Vec<Problem>> {
        let mut data = Value::Object(Map::new());
        let mut problems = Vec::new();
        for input in self.inputs() {
            match input.value(def, directory, answers) {
                Ok(Some(value)) => put(&mut data, &input.path, value),
                Ok(None) => {}
                Err(text) => problems.push(Problem {
                    href: self.href(&input.path),
                    text,
                }),
            }
        }
        let (start, reason) = self.start(answers, &data, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        // The whole: what no single field shows (the raiser and the respondent one person).
        if let Err(refusal) = workflow::parse_data(def, data.clone()) {
            let (path, message) = match refusal {
                Refusal::BadData { path, message } => (path, message),
                other => (String::new(), other.to_string()),
            };
            let text = match self.input(&path) {
                Some(input) => sentence(&input.full, &message),
                None => message,
            };
            return Err(vec![Problem {
                href: self.href(&path),
                text,
            }]);
        }
        Ok(OpenRequest {
            workflow: workflow.to_string(),
            data,
            start,
            reason,
        })
    }

    /// The starting stage chosen (none for the usual one) and the reason for it, with any
    /// problem: a stage the workflow does not start in, one whose conditions the data does
    /// not meet, or a missing reason.
    fn start(
        &self,
        answers: &Answers,
        data: &Value,
        problems: &mut Vec<Problem>,
    ) -> (Option<String>, Option<String>) {
        if self.starts.is_empty() {
            return (None, None);
        }
        let chosen = answers.get(START).map(|s| s.trim()).unwrap_or_default();
        let href = format!("#{START}");
        if chosen.is_empty() || chosen == self.default_start {
            return (None, None);
        }
        let Some(start) = self.starts.iter().find(|s| s.value == chosen) else {
            problems.push(Problem {
                href,
                text: "Select the stage the case starts at".into(),
            });
            return (None, None);
        };
        let inputs: Vec<&Input> = self.inputs().collect();
        if !workflow::holds(&start.when, data) {
            problems.push(Problem {
                href: href.clone(),
                text: format!(
                    "A case starts at {} only when {}",
                    start.text,
                    conditions(&inputs, &start.when)
                ),
            });
        }
        let reason = answers
            .get(START_REASON)
            .map(|r| r.replace("\r\n", "\n").trim().to_string())
            .unwrap_or_default();
        let reason_href = format!("#{START_REASON}");
        if reason.is_empty() {
            if start.needs_reason {
                problems.push(Problem {
                    href: reason_href,
                    text: format!("Enter why the case starts at {}", start.text),
                });
            }
            return (Some(start.value.clone()), None);
        }
        if let Err(e) = text::multi_line(&reason, LONG_TEXT_MAX) {
            problems.push(Problem {
                href: reason_href,
                text: sentence("the reason", &e.to_string()),
            });
        }
        (Some(start.value.clone()), Some(reason))
    }

    /// The answers `request` was read from, as the form's inputs hold them: what a Change
    /// link goes back to. Only this form's names.
    pub fn kept(&self, answers: &Answers) -> Answers {
        let names = self.names();
        answers
            .iter()
            .filter(|(k, _)| names.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The start's title for people: the usual one's when none was chosen.
    pub fn start_title(&self, def: &Definition, start: Option<&str>) -> String {
        let state = start.unwrap_or(&self.default_start);
        def.state(state)
            .map_or_else(|| state.to_string(), |s| s.title.clone())
    }
}

/// `when` in words: `the immediate risk is Yes`.
fn conditions(inputs: &[&Input], when: &BTreeMap<String, Value>) -> String {
    when.iter()
        .map(|(path, value)| {
            let input = inputs.iter().find(|i| i.path == *path);
            let name = input.map_or_else(|| path.replace('.', " "), |i| i.full.clone());
            let shown = input
                .map(|i| i.show(value))
                .unwrap_or_else(|| value.to_string());
            format!("{name} is {}", lower_first(&shown))
        })
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A message about a field: `The summary is 10001 characters long; …`, or with a colon when
/// the workflow's message names the value first (`… : "x" is not an email address`).
fn sentence(full: &str, message: &str) -> String {
    let joined = ["is ", "contains ", "must "]
        .iter()
        .any(|w| message.starts_with(w));
    if joined {
        format!("{} {message}", text::capitalised(full))
    } else {
        format!("{}: {message}", text::capitalised(full))
    }
}

/// Sets `value` at the dotted `path` of `data`, making the objects on the way.
fn put(data: &mut Value, path: &str, value: Value) {
    let mut at = data;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(map) = at else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        at = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// The input for the data field `path`.
fn input(
    def: &Definition,
    directory: &Directory,
    path: &str,
    required: bool,
    within: Option<(&str, &str)>,
    of_party: bool,
) -> Input {
    let rest = within
        .and_then(|(head, _)| path.strip_prefix(head))
        .map_or(path, |r| r.trim_start_matches('.'));
    let label = match rest {
        "email" => "Email address".to_string(),
        other => text::sentence_case(&other.replace('.', " ")),
    };
    let full = match within {
        Some((_, legend)) => format!("the {} of the {}", lower_first(&label), lower_first(legend)),
        None => format!("the {}", lower_first(&label)),
    };
    let ty = def.data.type_of(path, FieldType::TEXT);
    let agencies = of_party && rest == "agency" && !directory.agencies.is_empty();
    let options = |pairs: Vec<(String, String)>| -> Vec<Choice> {
        pairs
            .into_iter()
            .map(|(value, text)| Choice { value, text })
            .collect()
    };
    let (reads, widget, max, choices, hint) = if path == "division" {
        let choices = options(
            Division::ALL
                .iter()
                .map(|d| (d.as_str().to_string(), d.title().to_string()))
                .collect(),
        );
        let hint = format!(
            "Whose bank holidays count. If you do not choose, {}.",
            def.division.title()
        );
        (Reads::Division, Widget::Radios, None, choices, Some(hint))
    } else if agencies {
        let choices = options(
            directory
                .agencies
                .iter()
                .map(|a| (a.name.clone(), a.name.clone()))
                .collect(),
        );
        (Reads::Agency, Widget::Select, None, choices, None)
    } else {
        match ty {
            FieldType::Text { max } => (Reads::Typed(ty), Widget::Text, Some(max), vec![], None),
            FieldType::LongText { max } => {
                (Reads::Typed(ty), Widget::Textarea, Some(max), vec![], None)
            }
            FieldType::Email => (Reads::Typed(ty), Widget::Email, None, vec![], None),
            FieldType::Date => (
                Reads::Typed(ty),
                Widget::Date,
                None,
                vec![],
                Some("For example, 27 3 2026".to_string()),
            ),
            FieldType::Boolean => (
                Reads::YesNo,
                Widget::Radios,
                None,
                options(vec![
                    ("true".into(), "Yes".into()),
                    ("false".into(), "No".into()),
                ]),
                None,
            ),
            FieldType::Choice => {
                let choices = options(
                    def.data
                        .choices
                        .get(path)
                        .into_iter()
                        .flatten()
                        .map(|c| (c.clone(), text::sentence_case(c)))
                        .collect(),
                );
                let widget = if choices.len() > MAX_RADIOS {
                    Widget::Select
                } else {
                    Widget::Radios
                };
                (Reads::Typed(ty), widget, None, choices, None)
            }
        }
    };
    Input {
        path: path.to_string(),
        name: format!("{DATA}{path}"),
        id: id_of(path),
        label,
        full,
        required,
        widget,
        max,
        choices,
        hint,
        reads,
    }
}

impl Input {
    /// What was typed or chosen, trimmed (free text keeps its inner lines, with `\n`).
    fn raw(&self, answers: &Answers) -> String {
        let text = answers.get(&self.name).map(String::as_str).unwrap_or("");
        if self.widget == Widget::Textarea {
            text.replace("\r\n", "\n").trim().to_string()
        } else {
            text.trim().to_string()
        }
    }

    /// The value for the data, none when left empty, or what is wrong.
    fn value(
        &self,
        def: &Definition,
        directory: &Directory,
        answers: &Answers,
    ) -> Result<Option<Value>, String> {
        let raw = if self.widget == Widget::Date {
            let parts = DATE_PARTS.map(|p| {
                answers
                    .get(&format!("{}-{p}", self.name))
                    .map_or("", |v| v.trim())
                    .to_string()
            });
            if parts.iter().all(String::is_empty) {
                String::new()
            } else {
                date_text(&parts).ok_or_else(|| {
                    format!("{} must be a real date", text::capitalised(&self.full))
                })?
            }
        } else {
            self.raw(answers)
        };
        if raw.is_empty() {
            if !self.required {
                return Ok(None);
            }
            let verb = match self.widget {
                Widget::Radios | Widget::Select => "Select",
                _ => "Enter",
            };
            return Err(format!("{verb} {}", self.full));
        }
        let from_list = || format!("Select {} from the list", self.full);
        let value = match self.reads {
            Reads::Division => raw
                .parse::<Division>()
                .map(|d| Value::String(d.as_str().to_string()))
                .map_err(|_| from_list())?,
            Reads::Agency => directory
                .agency(&raw)
                .map(|a| Value::String(a.name.clone()))
                .ok_or_else(from_list)?,
            Reads::YesNo => match raw.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(from_list()),
            },
            Reads::Typed(FieldType::Choice) => {
                if !self.choices.iter().any(|c| c.value == raw) {
                    return Err(from_list());
                }
                Value::String(raw)
            }
            Reads::Typed(_) => workflow::data_value(&def.data, &self.path, Value::String(raw))
                .map_err(|message| sentence(&self.full, &message))?,
        };
        Ok(Some(value))
    }

    /// A value of this input's data for people: a choice's text, Yes or No, a date written
    /// out, the division's name.
    pub fn show(&self, value: &Value) -> String {
        match value {
            Value::Bool(true) => "Yes".into(),
            Value::Bool(false) => "No".into(),
            Value::String(s) => {
                if let Some(choice) = self.choices.iter().find(|c| c.value == *s) {
                    return choice.text.clone();
                }
                if self.widget == Widget::Date
                    && let Ok(date) = workflow::parse_date(s)
                {
                    return date.format("%-d %B %Y").to_string();
                }
                s.clone()
            }
            other => other.to_string(),
        }
    }
}

/// `YYYY-MM-DD` from a date input's day, month and year, if they make a real date.
fn date_text(parts: &[String; 3]) -> Option<String> {
    let number = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (day, month, year) = (number(&parts[0])?, number(&parts[1])?, number(&parts[2])?);
    if parts[2].len() != 4 {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
        .map(|d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dispute() -> Definition {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let workflows = crate::workflow::Workflows::load_dir(
            &root.join("workflows"),
            &root.join("config/templates"),
        )
        .unwrap();
        workflows.get("dispute").unwrap().clone()
    }

    fn directory() -> Directory {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/agencies.yaml");
        Directory::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn complete(form: &OpenForm, dir: &Directory) -> Answers {
        let mut a = form.prefilled(
            "Priya Shah",
            "Priya.Shah@school.example.org",
            Some("riverside-primary"),
            dir,
        );
        for (k, v) in [
            ("data.category", "threshold"),
            ("data.summary", "Line one\r\nline two"),
            ("data.child.reference", "LCS-1"),
            ("data.respondent.name", "Tom Hughes"),
            ("data.respondent.email", "tom.hughes@council.example.gov.uk"),
            ("data.respondent.agency", "Children's Social Care"),
        ] {
            a.insert(k.into(), v.into());
        }
        a
    }

    #[test]
    fn every_data_field_has_one_input_grouped_by_its_object() {
        let def = dispute();
        let dir = directory();
        let form = OpenForm::new(&def, &dir);
        let mut paths: Vec<&str> = form.inputs().map(|i| i.path.as_str()).collect();
        let mut declared: Vec<&str> = def.data.fields().map(String::as_str).collect();
        paths.sort();
        declared.sort();
        assert_eq!(paths, declared);
        let legends: Vec<Option<&str>> = form.groups.iter().map(|g| g.legend.as_deref()).collect();
        assert_eq!(
            legends,
            [
                None,
                Some("Child"),
                Some("Professional who raised the disagreement"),
                Some("Professional whose decision is disputed")
            ]
        );
        let widget = |p: &str| form.input(p).unwrap().widget;
        assert_eq!(widget("summary"), Widget::Textarea);
        assert_eq!(widget("category"), Widget::Radios);
        assert_eq!(widget("raised_by.email"), Widget::Email);
        assert_eq!(widget("raised_by.agency"), Widget::Select);
        assert_eq!(widget("immediate_risk"), Widget::Radios);
        assert_eq!(form.starts.len(), 3);
        assert_eq!(
            form.starts[1].hint.as_deref(),
            Some("Only when the immediate risk is yes")
        );
        // Without a directory, an agency is typed.
        let bare = OpenForm::new(&def, &Directory::default());
        assert_eq!(bare.input("raised_by.agency").unwrap().widget, Widget::Text);
    }

    #[test]
    fn a_complete_form_reads_as_the_api_takes_it() {
        let def = dispute();
        let dir = directory();
        let form = OpenForm::new(&def, &dir);
        let answers = complete(&form, &dir);
        assert_eq!(answers["data.raised_by.agency"], "Riverside Primary School");
        let request = form.read("dispute", &def, &dir, &answers).unwrap();
        assert_eq!(
            request.data["raised_by"]["email"],
            "priya.shah@school.example.org"
        );
        assert_eq!(request.data["summary"], "Line one\nline two");
        assert_eq!(request.start, None);
        assert!(request.data.get("immediate_risk").is_none());
    }

    #[test]
    fn each_problem_links_to_its_input() {
        let def = dispute();
        let dir = directory();
        let form = OpenForm::new(&def, &dir);
        let mut answers = complete(&form, &dir);
        answers.remove("data.summary");
        answers.insert("data.child.name".into(), "Sam\u{7}".into());
        answers.insert("data.respondent.agency".into(), "Nowhere School".into());
        answers.insert("data.category".into(), "made_up".into());
        answers.insert(START.into(), "stage2".into());
        let problems = form.read("dispute", &def, &dir, &answers).unwrap_err();
        let hrefs: Vec<&str> = problems.iter().map(|p| p.href.as_str()).collect();
        assert_eq!(
            hrefs,
            [
                "#category",
                "#summary",
                "#child-name",
                "#respondent-agency",
                "#start",
                "#start_reason"
            ]
        );
        assert_eq!(problems[1].text, "Enter the summary");
        assert!(
            problems[2]
                .text
                .starts_with("The name of the child contains a control character"),
            "{}",
            problems[2].text
        );
        assert_eq!(
            problems[3].text,
            "Select the agency of the professional whose decision is disputed from the list"
        );
        assert!(
            problems[4]
                .text
                .ends_with("only when the immediate risk is yes"),
            "{}",
            problems[4].text
        );
    }

    #[test]
    fn the_same_person_twice_is_the_workflows_refusal_at_the_second() {
        let def = dispute();
        let dir = directory();
        let form = OpenForm::new(&def, &dir);
        let mut answers = complete(&form, &dir);
        answers.insert(
            "data.respondent.email".into(),
            "PRIYA.shah@school.example.org".into(),
        );
        let problems = form.read("dispute", &def, &dir, &answers).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].href, "#respondent-email");
        assert!(problems[0].text.contains("must be different people"));
    }

    #[test]
    fn dates_must_be_real() {
        let d = |a: &str, b: &str, c: &str| date_text(&[a.into(), b.into(), c.into()]);
        assert_eq!(d("1", "12", "2026").as_deref(), Some("2026-12-01"));
        assert_eq!(d("31", "2", "2026"), None);
        assert_eq!(d("1", "12", "26"), None);
        assert_eq!(d("x", "12", "2026"), None);
    }
}
