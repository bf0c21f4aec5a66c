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
