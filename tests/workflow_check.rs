//! Every validation problem `escalate workflows check` must find, each at its file:line:col.

use std::path::Path;

use escalate::workflow::{Catalog, Problems, Workflows, parse};

/// A small valid workflow; each test breaks it in one way.
const MINI: &str = "\
id: mini
title: Mini
version: 1
reference_prefix: MIN
data:
  requires: [a.email]
roles:
  a:
    title: A party
    party: a
start:
  - state: one
states:
  one:
    title: One
    owners: [a]
    within: 2 working days
    warn_before: 1 working day
    on_lapse:
      notify: [a]
      template: lapse_reminder
    events:
      go:
        to: two
        by: [a]
        requires: [reason]
  two:
    title: Two
    terminal: true
    outcome: done
";

fn catalog() -> Catalog {
    Catalog {
        templates: ["warning", "lapse_reminder"].map(String::from).into(),
        workflows: ["mini"].map(String::from).into(),
    }
}

/// `line:col` of the `nth` (0-based) occurrence of `needle` in `text`: where a problem must point.
fn at(text: &str, needle: &str, nth: usize) -> String {
    let offset = text
        .match_indices(needle)
        .nth(nth)
        .unwrap_or_else(|| panic!("'{needle}' #{nth} not in the text"))
        .0;
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

fn problems(text: &str) -> Vec<String> {
    match parse(Path::new("workflows/mini.yaml"), text, &catalog()) {
        Ok(_) => Vec::new(),
        Err(Problems(p)) => p.iter().map(ToString::to_string).collect(),
    }
}

fn edit(from: &str, to: &str) -> String {
    assert!(MINI.contains(from), "'{from}' not in MINI");
    MINI.replacen(from, to, 1)
}

/// Asserts exactly one problem, at `line:col`, whose message contains `words`.
fn assert_one(text: &str, location: &str, words: &str) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "expected one problem, got {found:#?}");
    let prefix = format!("workflows/mini.yaml:{location}: ");
    assert!(
        found[0].starts_with(&prefix) && found[0].contains(words),
        "expected '{prefix}…{words}…', got '{}'",
        found[0]
    );
}

#[test]
fn the_base_workflow_is_valid() {
    assert_eq!(problems(MINI), Vec::<String>::new());
}

#[test]
fn yaml_syntax_error() {
    let text = edit("    owners: [a]\n", "    owners: [a\n");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("workflows/mini.yaml:"), "{found:#?}");
    let text = edit("    title: One\n", "    title: \"One\n");
    let found = problems(&text);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with(&format!("workflows/mini.yaml:{}: ", at(&text, "\"One", 0))),
        "{found:#?}"
    );
}

#[test]
fn unknown_key() {
    let text = edit("    warn_before:", "    warn_befor:");
    assert_one(
        &text,
        &at(&text, "warn_befor:", 0),
        "unknown field `warn_befor`",
    );
}

#[test]
fn transition_to_an_undefined_state() {
    let text = edit("to: two", "to: three");
    let found = problems(&text);
    assert_eq!(
        found,
        [
            format!(
                "workflows/mini.yaml:{}: event 'go' goes to state 'three', which is not defined under states",
                at(&text, "three", 0)
            ),
            // Nothing else leads to `two` now.
            format!(
                "workflows/mini.yaml:{}: state 'two' cannot be reached from any start state",
                at(&text, "two:", 0)
            ),
        ]
    );
}

#[test]
fn unreachable_state() {
    let text =
        format!("{MINI}  island:\n    title: Island\n    terminal: true\n    outcome: done\n");
    assert_one(
        &text,
        &at(&text, "island:", 0),
        "state 'island' cannot be reached from any start state",
    );
}

#[test]
fn non_terminal_state_with_no_way_out() {
    let text = edit(
        "      go:\n        to: two\n        by: [a]\n        requires: [reason]\n",
        "      note:\n        by: [a]\n",
    );
    let found = problems(&text);
    // `two` is now unreachable too; the dead end is reported at `one`.
    let dead_end = format!(
        "workflows/mini.yaml:{}: state 'one' is not terminal but no event leaves it",
        at(&text, "one:", 0)
    );
    assert!(found.contains(&dead_end), "{found:#?}");
}

#[test]
fn malformed_durations() {
    let text = edit("within: 2 working days", "within: 2 wrking days");
    assert_one(
        &text,
        &at(&text, "2 wrking days", 0),
        "invalid duration '2 wrking days'",
    );
    let text = edit("warn_before: 1 working day", "warn_before: 1.5 days");
    assert_one(
        &text,
        &at(&text, "1.5 days", 0),
        "invalid duration '1.5 days'",
    );
}

#[test]
fn deadline_without_lapse_behaviour() {
    let text = edit(
        "    on_lapse:\n      notify: [a]\n      template: lapse_reminder\n",
        "",
    );
    assert_one(
        &text,
        &at(&text, "2 working days", 0),
        "a deadline needs on_lapse",
    );
    let text = edit(
        "      notify: [a]\n      template: lapse_reminder\n",
        "      reason: x\n",
    );
    assert_one(
        &text,
        &at(&text, "reason: x", 0),
        "on_lapse must notify someone, escalate, or both",
    );
}

#[test]
fn undefined_roles() {
    let text = edit("        by: [a]", "        by: [b]");
    assert_one(
        &text,
        &at(&text, "b]", 0),
        "event 'go' names role 'b', which is not defined under roles",
    );
    let text = edit("    owners: [a]", "    owners: [boss]");
    assert_one(&text, &at(&text, "boss", 0), "names role 'boss'");
}

#[test]
fn undefined_templates() {
    let text = edit("template: lapse_reminder", "template: lapse_remindr");
    assert_one(
        &text,
        &at(&text, "lapse_remindr", 0),
        "template 'lapse_remindr' is not in the templates directory",
    );
}

#[test]
fn duplicate_event_names_in_one_state() {
    let text = edit(
        "    events:\n      go:\n",
        "    events:\n      go:\n        to: two\n        by: [a]\n      go:\n",
    );
    assert_one(
        &text,
        &at(&text, "go:", 1),
        &format!(
            "event 'go' is defined twice here (first at line {})",
            at(&text, "go:", 0).split(':').next().unwrap()
        ),
    );
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = edit("to: two", "to: nowhere")
        .replacen("within: 2 working days", "within: soon", 1)
        .replacen("by: [a]", "by: [ghost]", 1);
    let found = problems(&text);
    assert_eq!(found.len(), 4, "{found:#?}");
    // In file order.
    assert!(found[0].contains("invalid duration 'soon'"), "{found:#?}");
    assert!(found[1].contains("state 'nowhere'"), "{found:#?}");
    assert!(found[2].contains("role 'ghost'"), "{found:#?}");
    assert!(
        found[3].contains("state 'two' cannot be reached"),
        "{found:#?}"
    );
}

#[test]
fn other_mistakes_are_caught_too() {
    let cases = [
        (
            "id: mini",
            "id: other",
            "other",
            "must match the file name 'mini'",
        ),
        (
            "reference_prefix: MIN",
            "reference_prefix: min",
            "min\n",
            "2 to 5 capital letters",
        ),
        (
            "  - state: one",
            "  - state: zero",
            "zero",
            "start state 'zero' is not defined",
        ),
        (
            "    terminal: true\n    outcome: done\n",
            "    terminal: true\n",
            "two:",
            "is terminal and needs an outcome",
        ),
        (
            "warn_before: 1 working day",
            "warn_before: 2 working days",
            "2 working days\n    on",
            "must be shorter than within",
        ),
        (
            "    party: a\n",
            "    party: b\n",
            "b\n",
            "needs 'b.email' in data.requires",
        ),
    ];
    for (from, to, needle, words) in cases {
        let text = edit(from, to);
        assert_one(&text, &at(&text, needle, 0), words);
    }
}

#[test]
fn the_shipped_workflows_are_valid() {
    let workflows = Workflows::load_dir(Path::new("workflows"), Path::new("config/templates"))
        .unwrap_or_else(|p| panic!("{p}"));
    let ids: Vec<&str> = workflows.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["dispute", "referral", "transfer"]);
}

#[test]
fn a_missing_template_directory_makes_template_references_problems() {
    let err = Workflows::load_dir(Path::new("workflows"), Path::new("no/such/dir")).unwrap_err();
    assert!(
        err.0.iter().any(|p| p
            .message
            .contains("template 'escalation_notice' is not in the templates directory")),
        "{err}"
    );
}

#[test]
fn the_complete_example_in_the_documentation_is_valid() {
    let doc = std::fs::read_to_string("docs/workflows.md").unwrap();
    let start = doc.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let yaml = &doc[start..start + doc[start..].find("```").unwrap()];
    let mut catalog = Catalog::scan(Path::new("workflows"), Path::new("config/templates"));
    catalog.workflows.insert("concern".into());
    let def = parse(Path::new("workflows/concern.yaml"), yaml, &catalog)
        .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(def.states.len(), 3);
    assert_eq!(def.tasks.len(), 1);
}

#[test]
fn the_version_is_the_content_hash_and_the_text_is_kept() {
    let a = parse(Path::new("workflows/mini.yaml"), MINI, &catalog()).unwrap();
    let b = parse(
        Path::new("workflows/mini.yaml"),
        &edit("within: 2 working days", "within: 3 working days"),
        &catalog(),
    )
    .unwrap();
    let c = parse(Path::new("workflows/mini.yaml"), MINI, &catalog()).unwrap();
    assert!(
        a.hash.starts_with("sha256:") && a.hash.len() == 7 + 16,
        "{}",
        a.hash
    );
    assert_ne!(
        a.hash, b.hash,
        "an edit is a new version, whatever the label says"
    );
    assert_eq!(a.label, b.label);
    assert_eq!(a.hash, c.hash);
    assert_eq!(a.source, MINI);
}

/// MINI with typed data and event fields: `a.email`, a note, a due date, a start condition.
fn typed(types: &str, event_types: &str) -> String {
    let text = edit(
        "data:\n  requires: [a.email]\n",
        &format!(
            "data:\n  requires: [a.email]\n  optional: [a.name, summary, risk]\n  types:\n{types}"
        ),
    );
    let types = if event_types.is_empty() {
        String::new()
    } else {
        format!("        types:\n{event_types}")
    };
    text.replacen(
        "        requires: [reason]\n",
        &format!("        requires: [reason]\n        optional: [due]\n{types}"),
        1,
    )
}

#[test]
fn typed_fields_load() {
    let text = typed(
        "    a.name: text max 80\n    summary: long text\n    risk: boolean\n",
        "          due: date\n          reason: long text max 500\n",
    );
    let def = parse(Path::new("workflows/mini.yaml"), &text, &catalog()).unwrap();
    use escalate::workflow::FieldType;
    assert_eq!(def.data.types["a.name"], FieldType::Text { max: 80 });
    assert_eq!(def.data.types["a.email"], FieldType::Email);
    assert_eq!(
        def.data.types["summary"],
        FieldType::LongText { max: 10_000 }
    );
    assert_eq!(def.data.types["risk"], FieldType::Boolean);
    let go = def.state("one").unwrap().event("go").unwrap();
    assert_eq!(go.fields.types["due"], FieldType::Date);
    assert_eq!(go.fields.types["reason"], FieldType::LongText { max: 500 });
}

#[test]
fn bad_type_declarations_are_reported_where_they_are() {
    let cases = [
        (
            "    summary: txt\n",
            "",
            "txt",
            "'summary': unknown type 'txt'; the types are text, long text, email, date, boolean and choice",
        ),
        (
            "    summary: text max 0\n",
            "",
            "text max 0",
            "max must be a whole number from 1 to 100000",
        ),
        (
            "    summary: long text max lots\n",
            "",
            "long text max lots",
            "max must be a whole number",
        ),
        (
            "    summary: text up to 80\n",
            "",
            "text up to 80",
            "only 'max N' may follow",
        ),
        (
            "    risk: boolean max 3\n",
            "",
            "boolean max 3",
            "only text and long text take a max length",
        ),
        (
            "    risk: choice\n",
            "",
            "choice",
            "'risk' is a choice but has no values under choices",
        ),
        (
            "    a.email: text\n",
            "",
            "text\n",
            "'a.email' is a party's address, so its type is email, not text max 200",
        ),
        (
            "    colour: text\n",
            "",
            "colour",
            "type for 'colour', which is not listed in requires or optional",
        ),
        (
            "    summary: text\n",
            "          due: dat\n",
            "dat\n",
            "'due': unknown type 'dat'",
        ),
        (
            "    summary: text\n",
            "          outcome: date\n",
            "outcome",
            "type for 'outcome', which is not listed",
        ),
    ];
    for (types, event_types, needle, words) in cases {
        let text = typed(types, event_types);
        assert_one(&text, &at(&text, needle, 0), words);
    }
}

#[test]
fn an_unreadable_type_is_reported_once() {
    let base = typed("    risk: bool\n", "");
    let text = base.replacen(
        "  - state: one\n",
        "  - state: one\n  - state: one_b\n    when: { risk: true }\n",
        1,
    );
    let found = problems(&text);
    assert!(found.iter().all(|p| !p.contains("when risk")), "{found:#?}");
    assert!(
        found
            .iter()
            .any(|p| p.contains("'risk': unknown type 'bool'")),
        "{found:#?}"
    );
}

#[test]
fn a_choice_field_is_a_choice() {
    let text = edit(
        "data:\n  requires: [a.email]\n",
        "data:\n  requires: [a.email, kind]\n  types:\n    kind: date\n  choices:\n    kind: [x, y]\n",
    );
    assert_one(
        &text,
        &at(&text, "date", 0),
        "'kind' has choices, so its type is choice, not date",
    );
    let ok = text.replace("kind: date", "kind: choice");
    assert_eq!(problems(&ok), Vec::<String>::new());
}

#[test]
fn a_field_cannot_also_be_an_object_of_fields() {
    let text = edit(
        "data:\n  requires: [a.email]\n",
        "data:\n  requires: [a.email]\n  optional: [a]\n",
    );
    assert_one(
        &text,
        &at(&text, "a.email]", 0),
        "field 'a.email' is inside 'a', which is listed as a field itself",
    );
}

#[test]
fn start_and_task_conditions_name_typed_fields() {
    let base = typed("    risk: boolean\n", "          due: date\n");
    let text = base.replacen(
        "  - state: one\n",
        "  - state: one\n  - state: one_b\n    when: { risk: \"yes\" }\n",
        1,
    );
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.starts_with(&format!(
            "workflows/mini.yaml:{}: start 'one_b': when risk: must be true or false (a JSON boolean), not \"yes\"",
            at(&text, "risk: \"yes\"", 0)
        ))),
        "{found:#?}"
    );
    let text = base.replacen(
        "  - state: one\n",
        "  - state: one\n  - state: one_b\n    when: { urgent: true }\n",
        1,
    );
    let found = problems(&text);
    assert!(
        found.iter().any(|p| p.contains(
            "start 'one_b': when names 'urgent', which is not listed in data requires or optional"
        )),
        "{found:#?}"
    );
}

#[test]
fn an_escalation_on_lapse_must_take_a_reason_of_its_type() {
    let text = edit(
        "    on_lapse:\n      notify: [a]\n      template: lapse_reminder\n",
        "    on_lapse:\n      escalate: go\n      reason: \"Lapsed\\nagain\"\n",
    )
    .replacen(
        "        requires: [reason]\n",
        "        requires: [reason]\n        types:\n          reason: text\n",
        1,
    );
    assert_one(
        &text,
        &at(&text, "escalate: go", 0),
        "on_lapse reason: contains a line break (U+000A) at character 7; it must be one line (event 'go' takes reason as text max 200)",
    );
    let text = edit(
        "    on_lapse:\n      notify: [a]\n      template: lapse_reminder\n",
        "    on_lapse:\n      escalate: go\n",
    )
    .replacen("        requires: [reason]\n", "", 1);
    assert_one(
        &text,
        &at(&text, "go\n", 0),
        "on_lapse escalates with event 'go', which does not take the 'reason' the engine records",
    );
}
