//! Reads workflow files and checks them, reporting every problem as `file:line:col: message`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::{DuplicateKeyPolicy, Location, MessageFormatter, Spanned};
use sha2::{Digest, Sha256};

use super::data::{is_inside, value_problem};
use super::definition::*;
use super::source::*;
use crate::calendar::{Division, Duration};

/// One problem in a workflow file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// What is wrong, one line.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in a set of workflow files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// The first problem, and how many more there are, as one line (for errors of commands
    /// that need valid files; `workflows check` lists them all).
    pub fn one_line(&self) -> String {
        match self.0.split_first() {
            None => "the workflow files have problems".into(),
            Some((first, [])) => first.to_string(),
            Some((first, more)) => format!("{first} (and {} more problem(s))", more.len()),
        }
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// What a workflow may refer to outside its own file.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Template names (files in `config/templates`, without extensions).
    pub templates: BTreeSet<String>,
    /// Workflow ids (files in `workflows/`), for events that open a linked case.
    pub workflows: BTreeSet<String>,
}

impl Catalog {
    /// The templates in `templates_dir` and the workflows in `workflows_dir`.
    pub fn scan(workflows_dir: &Path, templates_dir: &Path) -> Self {
        Catalog {
            templates: stems(templates_dir, &["txt", "html"]),
            workflows: stems(workflows_dir, &["yaml", "yml"]),
        }
    }
}

/// File names without extensions in `dir` (only those with one of `extensions`, if given).
fn stems(dir: &Path, extensions: &[&str]) -> BTreeSet<String> {
    workflow_files(dir, extensions)
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some(name.split('.').next()?.to_string())
        })
        .collect()
}

fn workflow_files(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            extensions.is_empty()
                || p.extension()
                    .is_some_and(|x| extensions.iter().any(|e| x == *e))
        })
        .collect();
    files.sort();
    files
}

/// The checked workflows of a deployment, by id.
#[derive(Debug, Clone, Default)]
pub struct Workflows {
    definitions: BTreeMap<String, Definition>,
}

impl Workflows {
    /// Loads and checks every `*.yaml` / `*.yml` file in `dir`; all problems of all files, or
    /// the definitions.
    pub fn load_dir(dir: &Path, templates_dir: &Path) -> Result<Self, Problems> {
        let problem = |file: &Path, message: String| Problem {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message,
        };
        if !dir.is_dir() {
            return Err(Problems(vec![problem(
                dir,
                "is not a directory of workflow files".into(),
            )]));
        }
        let catalog = Catalog::scan(dir, templates_dir);
        let files = workflow_files(dir, &["yaml", "yml"]);
        if files.is_empty() {
            return Err(Problems(vec![problem(
                dir,
                "holds no *.yaml workflow files".into(),
            )]));
        }
        let mut problems = Vec::new();
        let mut definitions = BTreeMap::new();
        for file in files {
            match std::fs::read_to_string(&file) {
                Err(e) => problems.push(problem(&file, format!("cannot read: {e}"))),
                Ok(text) => match parse(&file, &text, &catalog) {
                    Ok(d) => {
                        definitions.insert(d.id.clone(), d);
                    }
                    Err(Problems(p)) => problems.extend(p),
                },
            }
        }
        if problems.is_empty() {
            Ok(Workflows { definitions })
        } else {
            Err(Problems(problems))
        }
    }

    /// The workflow called `id`.
    pub fn get(&self, id: &str) -> Option<&Definition> {
        self.definitions.get(id)
    }

    /// All workflows, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Definition> {
        self.definitions.values()
    }

    /// Adds a definition (tests and tools that build one in memory).
    pub fn insert(&mut self, definition: Definition) {
        self.definitions.insert(definition.id.clone(), definition);
    }
}

/// Parses and checks one workflow file's text against what the deployment has (`catalog`);
/// `file` names the file in messages and its stem must be the workflow's id.
pub fn parse(file: &Path, text: &str, catalog: &Catalog) -> Result<Definition, Problems> {
    match check(file, text, Some(catalog))? {
        (definition, problems) if problems.is_empty() => Ok(definition),
        (_, problems) => Err(Problems(problems)),
    }
}

/// Parses a workflow version kept in the store, which cases opened on it still run on. It was
/// checked in full when it was current, so only its shape can stop it now: the templates and
/// workflows of today's directories are not consulted, and what today's rules find (they may
/// be stricter than the rules it was checked by) is returned beside the definition rather than
/// refused. `file` names it in messages; its stem must be the workflow's id.
pub fn parse_stored(file: &Path, text: &str) -> Result<(Definition, Vec<Problem>), Problems> {
    check(file, text, None)
}

/// The YAML's shape (an error if it has none), then its meaning: the definition and every
/// problem found, sorted. Without a catalog, references to templates and workflows are taken
/// as they are.
fn check(
    file: &Path,
    text: &str,
    catalog: Option<&Catalog>,
) -> Result<(Definition, Vec<Problem>), Problems> {
    let options = serde_saphyr::options! { duplicate_keys: DuplicateKeyPolicy::PassThrough };
    let raw: RawWorkflow = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let e = e.without_snippet();
        let (line, column) = e
            .location()
            .map(|l| (l.line().max(1) as u32, l.column().max(1) as u32))
            .unwrap_or((1, 1));
        let message = serde_saphyr::DefaultMessageFormatter.format_message(e);
        Problems(vec![Problem {
            file: file.to_path_buf(),
            line,
            column,
            message: message.escape_debug().to_string(),
        }])
    })?;
    let mut checker = Checker {
        file,
        catalog,
        problems: Vec::new(),
        untyped: BTreeSet::new(),
    };
    let mut definition = checker.workflow(raw, text.as_bytes());
    definition.source = text.to_string();
    checker.problems.sort_by_key(|p| (p.line, p.column));
    Ok((definition, checker.problems))
}

/// The field lists of `data` or of an event, as written.
struct FieldsRef<'r> {
    requires: &'r [Text],
    optional: &'r [Text],
    choices: &'r Entries<Vec<Text>>,
    types: &'r Entries<Text>,
}

struct Checker<'a> {
    file: &'a Path,
    /// What the deployment has; `None` for a stored version, whose references were checked
    /// when it was current.
    catalog: Option<&'a Catalog>,
    problems: Vec<Problem>,
    /// Data paths whose type could not be read: already reported, so not checked again.
    untyped: BTreeSet<String>,
}

/// Names people write in workflow files: lower case, digits and underscores.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_path(s: &str) -> bool {
    s.split('.').all(is_name)
}

const RESERVED_EVENTS: [&str; 6] = [
    OPEN_EVENT,
    WARNING_EVENT,
    LAPSE_EVENT,
    WITHDRAW_EVENT,
    LINKED_CLOSED_EVENT,
    MOVE_EVENT,
];

/// Everything that names a state, an event or a role, gathered before the details are checked.
struct Names<'r> {
    states: BTreeMap<&'r str, &'r RawState>,
    roles: BTreeMap<&'r str, &'r RawRole>,
    /// Every event name anywhere in the workflow.
    events: BTreeSet<&'r str>,
}

impl Checker<'_> {
    /// Is there a template called `name`? Always, for a stored version.
    fn has_template(&self, name: &str) -> bool {
        self.catalog.is_none_or(|c| c.templates.contains(name))
    }

    /// Is there a workflow called `name`? Always, for a stored version.
    fn has_workflow(&self, name: &str) -> bool {
        self.catalog.is_none_or(|c| c.workflows.contains(name))
    }

    fn err(&mut self, at: Location, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line: at.line().max(1) as u32,
            column: at.column().max(1) as u32,
            message: message.into(),
        });
    }

    fn workflow(&mut self, raw: RawWorkflow, bytes: &[u8]) -> Definition {
        let stem = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if raw.id.value != stem {
            self.err(
                raw.id.referenced,
                format!("id '{}' must match the file name '{stem}'", raw.id.value),
            );
        } else if !is_name(&raw.id.value) {
            self.err(
                raw.id.referenced,
                format!(
                    "id '{}' must be lower case letters, digits and _",
                    raw.id.value
                ),
            );
        }
        let prefix = &raw.reference_prefix;
        if !(2..=5).contains(&prefix.value.len())
            || !prefix.value.chars().all(|c| c.is_ascii_uppercase())
        {
            self.err(
                prefix.referenced,
                format!(
                    "reference_prefix '{}' must be 2 to 5 capital letters, e.g. DSP",
                    prefix.value
                ),
            );
        }
        let division = match &raw.division {
            None => Division::EnglandAndWales,
            Some(d) => d.value.parse().unwrap_or_else(|e| {
                self.err(d.referenced, format!("{e}"));
                Division::EnglandAndWales
            }),
        };
        let time_zone = match &raw.time_zone {
            None => chrono_tz::Europe::London,
            Some(t) => t.value.parse().unwrap_or_else(|_| {
                self.err(
                    t.referenced,
                    format!(
                        "time_zone '{}' is not an IANA time zone, e.g. Europe/London",
                        t.value
                    ),
                );
                chrono_tz::Europe::London
            }),
        };

        let names = self.names(&raw);
        let emails: BTreeSet<String> = raw
            .roles
            .0
            .iter()
            .filter_map(|(_, r)| r.party.as_ref().map(|p| format!("{}.email", p.value)))
            .collect();
        let data = self.fields(
            FieldsRef {
                requires: &raw.data.requires,
                optional: &raw.data.optional,
                choices: &raw.data.choices,
                types: &raw.data.types,
            },
            true,
            FieldType::TEXT,
            &emails,
        );
        let roles = self.roles(&raw, &names, &data);
        let starts = self.starts(&raw, &names, &data);
        let global: Vec<Event> = self.events(&raw.events, &names);
        let mut states = Vec::new();
        for (name, state) in &raw.states.0 {
            states.push(self.state(name, state, &names, &raw.events, &global));
        }
        let tasks = raw
            .tasks
            .0
            .iter()
            .map(|(name, task)| self.task(name, task, &names, &data))
            .collect();
        self.graph(&raw, &states, &starts);
        let mut after_close = Vec::new();
        for name in &raw.after_close {
            let record_only = states
                .iter()
                .flat_map(|s| &s.events)
                .filter(|e| e.name == name.value)
                .all(|e| e.to.is_none() && e.opens.is_none());
            let known = states
                .iter()
                .any(|s| s.events.iter().any(|e| e.name == name.value));
            if !known {
                self.err(
                    name.referenced,
                    format!("after_close names '{}', which is no event", name.value),
                );
            } else if !record_only {
                self.err(
                    name.referenced,
                    format!(
                        "after_close event '{}' must only record (no `to`, no `opens`): a closed case does not move",
                        name.value
                    ),
                );
            }
            after_close.push(name.value.clone());
        }

        let digest = Sha256::digest(bytes);
        let hash = digest[..8]
            .iter()
            .fold(String::from("sha256:"), |mut s, b| {
                s.push_str(&format!("{b:02x}"));
                s
            });
        Definition {
            id: raw.id.value,
            title: raw.title,
            label: raw.version,
            description: raw.description.unwrap_or_default(),
            hash,
            source: String::new(),
            reference_prefix: raw.reference_prefix.value,
            division,
            time_zone,
            data,
            roles,
            starts,
            tasks,
            states,
            after_close,
        }
    }

    /// Collects state, role and event names, reporting duplicates and bad spellings.
    fn names<'r>(&mut self, raw: &'r RawWorkflow) -> Names<'r> {
        let mut states = BTreeMap::new();
        for (name, state) in &raw.states.0 {
            if !is_name(&name.value) {
                self.err(
                    name.referenced,
                    format!(
                        "state name '{}' must be lower case letters, digits and _",
                        name.value
                    ),
                );
            }
            if states.insert(name.value.as_str(), state).is_some() {
                self.err(
                    name.referenced,
                    format!("state '{}' is defined twice", name.value),
                );
            }
        }
        let mut roles = BTreeMap::new();
        for (name, role) in &raw.roles.0 {
            if !is_name(&name.value) || name.value == ENGINE {
                self.err(name.referenced, format!("role name '{}' must be lower case letters, digits and _, and not '{ENGINE}'", name.value));
            }
            if roles.insert(name.value.as_str(), role).is_some() {
                self.err(
                    name.referenced,
                    format!("role '{}' is defined twice", name.value),
                );
            }
        }
        let mut events = BTreeSet::new();
        let all_events = raw
            .events
            .0
            .iter()
            .chain(raw.states.0.iter().flat_map(|(_, s)| s.events.0.iter()));
        for (name, _) in all_events {
            if !is_name(&name.value) {
                self.err(
                    name.referenced,
                    format!(
                        "event name '{}' must be lower case letters, digits and _",
                        name.value
                    ),
                );
            } else if RESERVED_EVENTS.contains(&name.value.as_str()) {
                self.err(
                    name.referenced,
                    format!("event name '{}' is reserved for the engine", name.value),
                );
            }
            events.insert(name.value.as_str());
        }
        Names {
            states,
            roles,
            events,
        }
    }

    /// The fields of the opening data (`dotted`) or of an event, with their types: declared,
    /// from `choices`, or the default (`emails` are party addresses, of type email).
    fn fields(
        &mut self,
        raw: FieldsRef,
        dotted: bool,
        default: FieldType,
        emails: &BTreeSet<String>,
    ) -> FieldSpec {
        let FieldsRef {
            requires,
            optional,
            choices,
            types,
        } = raw;
        let mut seen = BTreeSet::new();
        for f in requires.iter().chain(optional) {
            let ok = if dotted {
                is_path(&f.value)
            } else {
                is_name(&f.value)
            };
            if !ok {
                self.err(
                    f.referenced,
                    format!(
                        "field name '{}' must be lower case letters, digits and _{}",
                        f.value,
                        if dotted {
                            " (dotted for nested data)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            if !seen.insert(f.value.as_str()) {
                self.err(f.referenced, format!("field '{}' is listed twice", f.value));
            }
        }
        if dotted {
            // `child` and `child.name` cannot both be values: one is an object.
            for f in requires.iter().chain(optional) {
                if let Some(outer) = seen.iter().find(|g| is_inside(&f.value, g)) {
                    self.err(
                        f.referenced,
                        format!(
                            "field '{}' is inside '{outer}', which is listed as a field itself; list one or the other",
                            f.value
                        ),
                    );
                }
            }
        }
        let mut allowed = BTreeMap::new();
        for (field, values) in &choices.0 {
            if !seen.contains(field.value.as_str()) {
                self.err(
                    field.referenced,
                    format!(
                        "choices for '{}', which is not listed in requires or optional",
                        field.value
                    ),
                );
            }
            if values.is_empty() {
                self.err(
                    field.referenced,
                    format!("choices for '{}' list no values", field.value),
                );
            }
            for v in values {
                if let Err(e) = crate::text::single_line(&v.value, TEXT_MAX) {
                    self.err(
                        v.referenced,
                        format!("choice '{}' {e}", v.value.escape_debug()),
                    );
                }
            }
            allowed.insert(
                field.value.clone(),
                values.iter().map(|v| v.value.clone()).collect(),
            );
        }
        let mut declared = BTreeMap::new();
        for (field, ty) in &types.0 {
            let name = field.value.as_str();
            if !seen.contains(name) {
                self.err(
                    field.referenced,
                    format!("type for '{name}', which is not listed in requires or optional"),
                );
            }
            let parsed = match ty.value.parse::<FieldType>() {
                Ok(t) => t,
                Err(e) => {
                    self.err(ty.referenced, format!("'{name}': {e}"));
                    if dotted {
                        self.untyped.insert(name.to_string());
                    }
                    continue;
                }
            };
            let problem = match parsed {
                FieldType::Choice if !allowed.contains_key(name) => Some(format!(
                    "'{name}' is a choice but has no values under choices"
                )),
                t if t != FieldType::Choice && allowed.contains_key(name) => Some(format!(
                    "'{name}' has choices, so its type is choice, not {t}"
                )),
                t if t != FieldType::Email && emails.contains(name) => Some(format!(
                    "'{name}' is a party's address, so its type is email, not {t}"
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                self.err(ty.referenced, problem);
            }
            if declared.insert(name, parsed).is_some() {
                self.err(
                    field.referenced,
                    format!("type for '{name}' is given twice"),
                );
            }
        }
        let types = requires
            .iter()
            .chain(optional)
            .map(|f| {
                let name = f.value.as_str();
                let ty = if allowed.contains_key(name) {
                    FieldType::Choice
                } else if let Some(t) = declared.get(name) {
                    *t
                } else if emails.contains(name) {
                    FieldType::Email
                } else {
                    default
                };
                (f.value.clone(), ty)
            })
            .collect();
        FieldSpec {
            requires: requires.iter().map(|f| f.value.clone()).collect(),
            optional: optional.iter().map(|f| f.value.clone()).collect(),
            choices: allowed,
            types,
        }
    }

    /// `when: { path: value }` conditions: each path a field of the data, each value of its type.
    fn conditions(&mut self, what: &str, when: &Entries<serde_json::Value>, data: &FieldSpec) {
        for (path, value) in &when.0 {
            if !data.fields().any(|f| *f == path.value) {
                self.err(
                    path.referenced,
                    format!(
                        "{what}: when names '{}', which is not listed in data requires or optional",
                        path.value
                    ),
                );
            } else if self.untyped.contains(&path.value) {
                // Its type is already reported as unreadable.
            } else if let Err(message) = value_problem(data, &path.value, value) {
                self.err(
                    path.referenced,
                    format!("{what}: when {}: {message}", path.value),
                );
            }
        }
    }

    fn role_refs(&mut self, list: &[Text], names: &Names, what: &str) -> Vec<String> {
        for r in list {
            if !names.roles.contains_key(r.value.as_str()) {
                self.err(
                    r.referenced,
                    format!(
                        "{what} names role '{}', which is not defined under roles",
                        r.value
                    ),
                );
            }
        }
        list.iter().map(|r| r.value.clone()).collect()
    }

    fn template(&mut self, t: &Text) -> String {
        if !self.has_template(&t.value) {
            self.err(
                t.referenced,
                format!("template '{}' is not in the templates directory", t.value),
            );
        }
        t.value.clone()
    }

    fn roles(&mut self, raw: &RawWorkflow, names: &Names, data: &FieldSpec) -> Vec<Role> {
        let mut roles = Vec::new();
        for (name, role) in &raw.roles.0 {
            let kind = match (&role.party, &role.contact) {
                (Some(path), None) => {
                    if !role.of.is_empty() {
                        self.err(
                            name.referenced,
                            format!("role '{}': 'of' is only for contact roles", name.value),
                        );
                    }
                    let email = format!("{}.email", path.value);
                    if !data.requires.contains(&email) {
                        self.err(path.referenced, format!("party '{}' needs '{email}' in data.requires, so the person can be found", path.value));
                    }
                    RoleKind::Party {
                        path: path.value.clone(),
                    }
                }
                (None, Some(level)) => {
                    if !CONTACT_LEVELS.contains(&level.value.as_str()) {
                        self.err(
                            level.referenced,
                            format!(
                                "contact level '{}' is not one of {}",
                                level.value,
                                CONTACT_LEVELS.join(", ")
                            ),
                        );
                    }
                    for of in &role.of {
                        match names.roles.get(of.value.as_str()) {
                            Some(r) if r.party.is_some() => {}
                            Some(_) => self.err(
                                of.referenced,
                                format!(
                                    "'of' must name party roles; '{}' is a contact role",
                                    of.value
                                ),
                            ),
                            None => self.err(
                                of.referenced,
                                format!(
                                    "'of' names role '{}', which is not defined under roles",
                                    of.value
                                ),
                            ),
                        }
                    }
                    RoleKind::Contact {
                        level: level.value.clone(),
                        of: role.of.iter().map(|o| o.value.clone()).collect(),
                    }
                }
                _ => {
                    self.err(name.referenced, format!("role '{}' needs exactly one of 'party' (a person in the case data) or 'contact' (a directory level)", name.value));
                    RoleKind::Contact {
                        level: String::new(),
                        of: Vec::new(),
                    }
                }
            };
            roles.push(Role {
                name: name.value.clone(),
                title: role.title.clone(),
                kind,
            });
        }
        roles
    }

    fn starts(&mut self, raw: &RawWorkflow, names: &Names, data: &FieldSpec) -> Vec<Start> {
        if raw.start.is_empty() {
            self.err(raw.id.referenced, "start lists no starting state");
        }
        let mut seen = BTreeSet::new();
        let mut starts = Vec::new();
        for s in &raw.start {
            match names.states.get(s.state.value.as_str()) {
                None => self.err(
                    s.state.referenced,
                    format!(
                        "start state '{}' is not defined under states",
                        s.state.value
                    ),
                ),
                Some(state) if state.terminal => self.err(
                    s.state.referenced,
                    format!("start state '{}' is terminal", s.state.value),
                ),
                Some(_) => {}
            }
            if !seen.insert(s.state.value.as_str()) {
                self.err(
                    s.state.referenced,
                    format!("start state '{}' is listed twice", s.state.value),
                );
            }
            for r in &s.requires {
                if !is_name(&r.value) {
                    self.err(
                        r.referenced,
                        format!(
                            "field name '{}' must be lower case letters, digits and _",
                            r.value
                        ),
                    );
                }
            }
            self.conditions(&format!("start '{}'", s.state.value), &s.when, data);
            starts.push(Start {
                state: s.state.value.clone(),
                when: s
                    .when
                    .0
                    .iter()
                    .map(|(k, v)| (k.value.clone(), v.clone()))
                    .collect(),
                requires: s.requires.iter().map(|r| r.value.clone()).collect(),
            });
        }
        if !starts.is_empty()
            && !starts
                .iter()
                .any(|s| s.when.is_empty() && s.requires.is_empty())
        {
            self.err(
                raw.start[0].state.referenced,
                "start needs one state without conditions, the default",
            );
        }
        starts
    }

    fn actions(&mut self, list: &[RawAction], names: &Names, what: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        for a in list {
            let (kind, template) = match (&a.email, &a.form) {
                (Some(t), None) => (ActionKind::Email, t),
                (None, Some(t)) => (ActionKind::Form, t),
                (Some(t), Some(_)) => {
                    self.err(
                        t.referenced,
                        format!("{what}: an action sends either 'email' or 'form', not both"),
                    );
                    continue;
                }
                (None, None) => {
                    if let Some(first) = a.to.first() {
                        self.err(
                            first.referenced,
                            format!(
                                "{what}: an action needs 'email: TEMPLATE' or 'form: TEMPLATE'"
                            ),
                        );
                    }
                    continue;
                }
            };
            let at = template.referenced;
            let template = self.template(template);
            if a.to.is_empty() {
                self.err(
                    at,
                    format!("{what}: '{template}' goes to nobody ('to' is empty)"),
                );
            }
            let to = self.role_refs(&a.to, names, what);
            actions.push(Action { kind, template, to });
        }
        actions
    }

    fn events(&mut self, raw: &Entries<RawEvent>, names: &Names) -> Vec<Event> {
        let mut events: Vec<Event> = Vec::new();
        let mut first_line = BTreeMap::new();
        for (name, e) in &raw.0 {
            if let Some(line) = first_line.insert(name.value.as_str(), name.referenced.line()) {
                self.err(
                    name.referenced,
                    format!(
                        "event '{}' is defined twice here (first at line {line})",
                        name.value
                    ),
                );
                first_line.insert(name.value.as_str(), line);
                continue;
            }
            if let Some(to) = &e.to
                && !names.states.contains_key(to.value.as_str())
            {
                self.err(
                    to.referenced,
                    format!(
                        "event '{}' goes to state '{}', which is not defined under states",
                        name.value, to.value
                    ),
                );
            }
            if e.by.is_empty() {
                self.err(
                    name.referenced,
                    format!(
                        "event '{}': 'by' names nobody who may record it",
                        name.value
                    ),
                );
            }
            let what = format!("event '{}'", name.value);
            let by = self.role_refs(&e.by, names, &what);
            let fields = self.fields(
                FieldsRef {
                    requires: &e.requires,
                    optional: &e.optional,
                    choices: &e.choices,
                    types: &e.types,
                },
                false,
                FieldType::LONG_TEXT,
                &BTreeSet::new(),
            );
            let notify = self.actions(&e.notify, names, &what);
            let opens = e.opens.as_ref().map(|o| {
                if !self.has_workflow(&o.workflow.value) {
                    self.err(o.workflow.referenced, format!("event '{}' opens workflow '{}', which is not in the workflows directory", name.value, o.workflow.value));
                }
                for (target, source) in &o.data.0 {
                    if !is_path(&target.value) {
                        self.err(target.referenced, format!("'{}' is not a data path", target.value));
                    }
                    if let Some(path) = source.value.strip_prefix('$')
                        && !is_path(path) {
                            self.err(source.referenced, format!("'{}' is not a $data.path", source.value));
                        }
                }
                Opens {
                    workflow: o.workflow.value.clone(),
                    data: o.data.0.iter().map(|(t, s)| (t.value.clone(), s.value.clone())).collect(),
                }
            });
            events.push(Event {
                name: name.value.clone(),
                title: e
                    .title
                    .clone()
                    .unwrap_or_else(|| crate::text::sentence_case(&name.value)),
                to: e.to.as_ref().map(|t| t.value.clone()),
                by,
                fields,
                notify,
                opens,
            });
        }
        events
    }

    fn duration(&mut self, text: &Text) -> Option<Duration> {
        text.value
            .parse()
            .map_err(|e| self.err(text.referenced, format!("{e}")))
            .ok()
    }

    /// A deadline's rule, or `None` when it has none; `within` is where problems point.
    #[allow(clippy::too_many_arguments)]
    fn deadline(
        &mut self,
        what: &str,
        within: &Text,
        from: Option<&Text>,
        default_anchor: Anchor,
        warn_before: Option<&Text>,
        warn_template: Option<&Text>,
        owners: &[String],
        on_lapse: Option<&Spanned<RawLapse>>,
        names: &Names,
        state_events: Option<&[Event]>,
    ) -> Option<DeadlineRule> {
        let duration = self.duration(within);
        let anchor = match from.map(|f| f.value.as_str()) {
            None => default_anchor,
            Some("entered") => Anchor::Entered,
            Some("opened") => Anchor::Opened,
            Some(event) if names.events.contains(event) => Anchor::Event(event.to_string()),
            Some(other) => {
                self.err(from.expect("some").referenced, format!("{what}: 'from' must be 'entered', 'opened' or an event of this workflow, not '{other}'"));
                default_anchor
            }
        };
        let warn = warn_before.and_then(|w| self.duration(w).map(|d| (w, d)));
        if let (Some((w, before)), Some(within_d)) = (warn, duration)
            && same_unit(before, within_d)
            && before.amount() >= within_d.amount()
        {
            self.err(
                w.referenced,
                format!("{what}: warn_before ({before}) must be shorter than within ({within_d})"),
            );
        }
        if warn.is_some() && owners.is_empty() {
            self.err(
                warn_before.expect("some").referenced,
                format!("{what}: a warning needs owners to warn"),
            );
        }
        let warn_template = match warn_template {
            Some(t) => self.template(t),
            None => {
                let t = "warning".to_string();
                if warn.is_some() && !self.has_template(&t) {
                    self.err(
                        warn_before.expect("some").referenced,
                        "the default warning template 'warning' is not in the templates directory",
                    );
                }
                t
            }
        };
        let Some(lapse) = on_lapse else {
            self.err(
                within.referenced,
                format!("{what}: a deadline needs on_lapse (notify someone, escalate, or both)"),
            );
            return None;
        };
        let at = lapse.referenced;
        let lapse = &lapse.value;
        if lapse.notify.is_empty() && lapse.escalate.is_none() {
            self.err(
                at,
                format!("{what}: on_lapse must notify someone, escalate, or both"),
            );
        }
        let notify = self.role_refs(&lapse.notify, names, what);
        let template = match &lapse.template {
            Some(t) => Some(self.template(t)),
            None if !notify.is_empty() => {
                let t = "lapse_reminder".to_string();
                if !self.has_template(&t) {
                    self.err(at, "the default lapse template 'lapse_reminder' is not in the templates directory");
                }
                Some(t)
            }
            None => None,
        };
        if let Some(esc) = &lapse.escalate {
            match state_events.map(|events| events.iter().find(|e| e.name == esc.value)) {
                None => self.err(esc.referenced, format!("{what}: only a state's deadline can escalate")),
                Some(None) => self.err(esc.referenced, format!("{what}: on_lapse escalates with event '{}', which is not defined in this state", esc.value)),
                Some(Some(e)) if e.to.is_none() => self.err(esc.referenced, format!("{what}: on_lapse escalates with event '{}', which does not change state", esc.value)),
                Some(Some(e)) => {
                    if let Some(f) = e.fields.requires.iter().find(|f| *f != "reason") {
                        self.err(esc.referenced, format!("{what}: on_lapse escalates with event '{}', which requires '{f}' that the engine cannot give", esc.value));
                    } else if !e.fields.fields().any(|f| f == "reason") {
                        self.err(esc.referenced, format!("{what}: on_lapse escalates with event '{}', which does not take the 'reason' the engine records", esc.value));
                    } else if let Some(reason) = &lapse.reason {
                        let ty = e.fields.type_of("reason", FieldType::LONG_TEXT);
                        if let Err(message) = value_problem(&e.fields, "reason", &serde_json::Value::String(reason.clone())) {
                            self.err(at, format!("{what}: on_lapse reason: {message} (event '{}' takes reason as {ty})", esc.value));
                        }
                    }
                }
            }
        }
        let repeat = lapse.repeat.as_ref().and_then(|r| {
            if lapse.escalate.is_some() {
                self.err(
                    r.referenced,
                    format!("{what}: on_lapse cannot both escalate and repeat: the case leaves the state"),
                );
            } else if lapse.notify.is_empty() {
                self.err(r.referenced, format!("{what}: on_lapse repeat needs someone to notify"));
            }
            self.duration(r)
        });
        Some(DeadlineRule {
            within: duration?,
            from: anchor,
            warn_before: warn.map(|(_, d)| d),
            warn_template,
            owners: owners.to_vec(),
            on_lapse: Lapse {
                notify,
                template,
                escalate: lapse.escalate.as_ref().map(|e| e.value.clone()),
                reason: lapse
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("{what} timescale lapsed")),
                repeat,
            },
        })
    }

    fn state(
        &mut self,
        name: &Text,
        raw: &RawState,
        names: &Names,
        raw_global: &Entries<RawEvent>,
        global: &[Event],
    ) -> State {
        let what = format!("state '{}'", name.value);
        let outcome = match (&raw.outcome, raw.terminal) {
            (Some(o), true) => Some(o.value.clone()),
            (None, true) => {
                self.err(
                    name.referenced,
                    format!("{what} is terminal and needs an outcome (the category reports count)"),
                );
                Some(String::new())
            }
            (Some(o), false) => {
                self.err(
                    o.referenced,
                    format!("{what}: outcome is only for terminal states"),
                );
                None
            }
            (None, false) => None,
        };
        if raw.terminal {
            if let Some((e, _)) = raw.events.0.first() {
                self.err(
                    e.referenced,
                    format!("{what} is terminal: a closed case takes no events"),
                );
            }
            if let Some(w) = &raw.within {
                self.err(
                    w.referenced,
                    format!("{what} is terminal: a closed case has no deadline"),
                );
            }
        }
        for (e, _) in &raw.events.0 {
            if let Some((g, _)) = raw_global.0.iter().find(|(g, _)| g.value == e.value) {
                self.err(
                    e.referenced,
                    format!(
                        "event '{}' is already defined for every state at line {}",
                        e.value,
                        g.referenced.line()
                    ),
                );
            }
        }
        let mut events = self.events(&raw.events, names);
        if !raw.terminal {
            events.extend(global.iter().cloned());
        }
        let owners = self.role_refs(&raw.owners, names, &what);
        let deadline = match &raw.within {
            Some(within) => self.deadline(
                &what,
                within,
                raw.from.as_ref(),
                Anchor::Entered,
                raw.warn_before.as_ref(),
                raw.warn_template.as_ref(),
                &owners,
                raw.on_lapse.as_ref(),
                names,
                Some(&events),
            ),
            None => {
                let stray = [&raw.from, &raw.warn_before, &raw.warn_template]
                    .into_iter()
                    .flatten()
                    .map(|t| t.referenced)
                    .chain(raw.on_lapse.as_ref().map(|l| l.referenced))
                    .next();
                if let Some(at) = stray {
                    self.err(at, format!("{what}: from, warn_before, warn_template and on_lapse need a deadline ('within')"));
                }
                None
            }
        };
        let on_entry = self.actions(&raw.on_entry, names, &what);
        State {
            name: name.value.clone(),
            title: raw.title.clone(),
            outcome,
            owners,
            deadline,
            on_entry,
            events,
        }
    }

    fn task(&mut self, name: &Text, raw: &RawTask, names: &Names, data: &FieldSpec) -> Task {
        let what = format!("task '{}'", name.value);
        self.conditions(&what, &raw.when, data);
        if !is_name(&name.value) {
            self.err(
                name.referenced,
                format!(
                    "task name '{}' must be lower case letters, digits and _",
                    name.value
                ),
            );
        }
        for m in &raw.met_by {
            if !names.events.contains(m.value.as_str()) {
                self.err(
                    m.referenced,
                    format!(
                        "{what}: met_by names event '{}', which is not defined",
                        m.value
                    ),
                );
            }
        }
        if raw.met_by.is_empty() {
            self.err(
                name.referenced,
                format!("{what}: met_by names no event that completes it"),
            );
        }
        let owners = self.role_refs(&raw.owners, names, &what);
        let deadline = self.deadline(
            &what,
            &raw.within,
            raw.from.as_ref(),
            Anchor::Opened,
            raw.warn_before.as_ref(),
            raw.warn_template.as_ref(),
            &owners,
            raw.on_lapse.as_ref(),
            names,
            None,
        );
        Task {
            name: name.value.clone(),
            title: raw.title.clone(),
            when: raw
                .when
                .0
                .iter()
                .map(|(k, v)| (k.value.clone(), v.clone()))
                .collect(),
            met_by: raw.met_by.iter().map(|m| m.value.clone()).collect(),
            deadline: deadline.unwrap_or_else(|| DeadlineRule {
                within: Duration::Hours(1),
                from: Anchor::Opened,
                warn_before: None,
                warn_template: String::new(),
                owners: Vec::new(),
                on_lapse: Lapse {
                    notify: Vec::new(),
                    template: None,
                    escalate: None,
                    reason: String::new(),
                    repeat: None,
                },
            }),
        }
    }

    /// States no start reaches, and non-terminal states with no way out.
    fn graph(&mut self, raw: &RawWorkflow, states: &[State], starts: &[Start]) {
        let index: BTreeMap<&str, usize> = states
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut reached = vec![false; states.len()];
        let mut queue: VecDeque<usize> = starts
            .iter()
            .filter_map(|s| index.get(s.state.as_str()).copied())
            .collect();
        while let Some(i) = queue.pop_front() {
            if std::mem::replace(&mut reached[i], true) {
                continue;
            }
            queue.extend(
                states[i]
                    .events
                    .iter()
                    .filter_map(|e| e.to.as_deref())
                    .filter_map(|t| index.get(t).copied()),
            );
        }
        // With a start that names no state, every state would look unreachable: say it once.
        let starts_known = starts.iter().all(|s| index.contains_key(s.state.as_str()));
        for ((name, _), (state, reached)) in raw.states.0.iter().zip(states.iter().zip(reached)) {
            if !reached && starts_known {
                self.err(
                    name.referenced,
                    format!(
                        "state '{}' cannot be reached from any start state",
                        state.name
                    ),
                );
            }
            if !state.is_terminal() && !state.events.iter().any(|e| e.to.is_some()) {
                self.err(
                    name.referenced,
                    format!(
                        "state '{}' is not terminal but no event leaves it",
                        state.name
                    ),
                );
            }
        }
    }
}

fn same_unit(a: Duration, b: Duration) -> bool {
    std::mem::discriminant(&a) == std::mem::discriminant(&b)
}
