//! Opening a case and My page in the web UI, through a real `escalate serve` on each backend:
//! the form generated from each shipped workflow's data (read here from the workflow files),
//! its refusals of missing and hostile answers with nothing opened, check your answers
//! against the API's own preview, one case however often the confirmation is sent, CSRF, a
//! role that opens nothing; the calendar feed made, replaced and revoked from My page. Then
//! the same journey in a real Chromium, with axe-core's checks and screenshots at desktop and
//! phone widths.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use std::collections::BTreeMap;

use browser::{Browser, DESKTOP, PHONE};
use common::web::{
    PASSWORD, PRIYA, Site, add_priya, assert_inline_scripts_allowed, assert_page, assert_redirect,
    client, csrf_token, get, post, sign_in, unescape,
};
use common::{TestDb, answer, escalate, json, stderr, stdout, user_with_password};
use escalate::directory::Directory;
use escalate::workflow::{FieldType, Workflows};
use reqwest::header::LOCATION;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const TOM: &str = "tom.hughes@council.example.gov.uk";
const SUMMARY: &str =
    "Referral about neglect was not accepted.\nSchool believes the threshold is met.";

/// A form's fields, in order.
type Answers = Vec<(String, String)>;

/// The shipped workflows, read from their files as the server reads them.
fn workflows() -> Workflows {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    Workflows::load_dir(&root.join("workflows"), &root.join("config/templates")).unwrap()
}

/// The example agency directory the tests import.
fn directory() -> Directory {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/agencies.yaml");
    Directory::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Text as the pages write it: HTML-escaped (minijinja escapes `'` and `/` too).
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// A link to `path` as the pages write it.
fn link(path: &str) -> String {
    format!("href=\"{}\"", escaped(path))
}

/// The page's hidden inputs, by name.
fn hidden(html: &str) -> BTreeMap<String, String> {
    let marker = "<input type=\"hidden\" name=\"";
    html.split(marker)
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .split_once("value=\"")
                .unwrap()
                .1
                .split('"')
                .next()
                .unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

/// The `value` of the text input named `name`, if the page has one.
fn input_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let start = html[..at].rfind('<')?;
    let tag = &html[start..start + html[start..].find('>')?];
    let value = tag.split_once("value=\"")?.1.split('"').next()?;
    Some(unescape(value))
}

/// The error summary's links, in order.
fn error_links(html: &str) -> Vec<String> {
    let Some(at) = html.find("govuk-error-summary__list") else {
        return Vec::new();
    };
    let list = &html[at..at + html[at..].find("</ul>").unwrap()];
    list.split("href=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_string())
        .collect()
}

/// The valid answers of a dispute Priya raises against Tom's decision.
fn dispute() -> Answers {
    [
        ("data.category", "threshold"),
        ("data.summary", SUMMARY),
        ("data.child.reference", "LCS-204417"),
        ("data.child.name", "Sam Example"),
        ("data.raised_by.name", "Priya Shah"),
        ("data.raised_by.email", PRIYA),
        ("data.raised_by.agency", "Riverside Primary School"),
        ("data.respondent.name", "Tom Hughes"),
        ("data.respondent.email", TOM),
        ("data.respondent.agency", "Children's Social Care"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The same dispute as the API takes it.
fn dispute_data() -> Value {
    json!({
        "category": "threshold",
        "summary": SUMMARY,
        "child": { "reference": "LCS-204417", "name": "Sam Example" },
        "raised_by": { "name": "Priya Shah", "email": PRIYA, "agency": "Riverside Primary School" },
        "respondent": { "name": "Tom Hughes", "email": TOM, "agency": "Children's Social Care" }
    })
}

/// `answers` with `name` set to `value` (added if missing).
fn with(answers: &[(String, String)], name: &str, value: &str) -> Answers {
    let mut out: Answers = answers.iter().filter(|(k, _)| k != name).cloned().collect();
    out.push((name.to_string(), value.to_string()));
    out
}

/// `answers` and the CSRF token `token`, as a form.
fn form(token: &str, answers: &[(String, String)]) -> Answers {
    let mut out = vec![("csrf_token".to_string(), token.to_string())];
    out.extend(answers.iter().cloned());
    out
}

/// Every case in the database, as `case list --json` lists them.
fn cases(env: &[(&str, &str)]) -> Vec<Value> {
    json(&escalate(&["case", "list", "--json"], env))
        .as_array()
        .unwrap()
        .clone()
}

/// An API token for `email`.
fn token(env: &[(&str, &str)], email: &str) -> String {
    let o = escalate(&["tokens", "create", email], env);
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).split_whitespace().last().unwrap().to_string()
}

/// A new client signed in at `base` as `email` (whose password is [`PASSWORD`]).
async fn signed_in(base: &str, email: &str) -> Client {
    let web = client();
    let (status, _, html) = sign_in(&web, base, email, PASSWORD).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    web
}

/// `POST url` with `answers`, from `origin` when given.
async fn send(
    web: &Client,
    url: &str,
    origin: Option<&str>,
    answers: &Answers,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let pairs: Vec<(&str, &str)> = answers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post(web, url, origin, &pairs).await
}

/// Priya, a practitioner at the school, signed in on a new client; her CSRF token.
async fn priya(db: &TestDb, base: &str) -> (Client, String) {
    add_priya(&db.url);
    let web = signed_in(base, PRIYA).await;
    let (_, _, html) = get(&web, &format!("{base}/cases/new")).await;
    (web, csrf_token(&html))
}

#[tokio::test]
async fn the_form_has_every_data_field_of_each_workflow() {
    let defs = workflows();
    let agencies = directory();
    for db in TestDb::all() {
        let site = Site::start(&db);
        let base = site.base.clone();
        let (web, token) = priya(&db, &base).await;

        // The chooser: each workflow with its description.
        let (status, headers, html) = get(&web, &format!("{base}/cases/new")).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(&html, "What do you want to open?");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        assert!(
            html.contains(&link("/cases/new")),
            "the navigation links here"
        );
        for def in defs.iter() {
            assert!(
                html.contains(&format!("value=\"{}\"", def.id)),
                "{}",
                def.id
            );
            assert!(html.contains(&escaped(&def.title)), "{}", def.title);
            let first = def
                .description
                .split_whitespace()
                .take(6)
                .collect::<Vec<_>>();
            assert!(html.contains(&escaped(&first.join(" "))), "{}", def.id);
        }
        let chooser = format!("{base}/cases/new");
        let (status, _, html) = post(&web, &chooser, Some(&base), &[("csrf_token", &token)]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_page(&html, "Error: What do you want to open?");
        assert_eq!(error_links(&html), ["#workflow"]);
        for def in defs.iter() {
            let (status, headers, _) = post(
                &web,
                &chooser,
                Some(&base),
                &[("csrf_token", token.as_str()), ("workflow", &def.id)],
            )
            .await;
            assert_redirect(status, &headers, &format!("/cases/new/{}", def.id));
        }

        for def in defs.iter() {
            let (status, _, html) = get(&web, &format!("{base}/cases/new/{}", def.id)).await;
            assert_eq!(status, StatusCode::OK, "{html}");
            assert_page(&html, &escaped(&def.title));
            for path in def.data.fields() {
                let name = format!("data.{path}");
                let ty = def.data.type_of(path, FieldType::TEXT);
                let shown = if ty == FieldType::Date {
                    format!("name=\"{name}-day\"")
                } else {
                    format!("name=\"{name}\"")
                };
                assert!(html.contains(&shown), "{}: no input for {path}", def.id);
                for choice in def.data.choices.get(path).into_iter().flatten() {
                    assert!(
                        html.contains(&format!("value=\"{choice}\"")),
                        "{}: {path} lacks {choice}",
                        def.id
                    );
                }
            }
            // Required fields unmarked, each optional one marked once.
            assert_eq!(
                html.matches("(optional)").count(),
                def.data.optional.len(),
                "{}",
                def.id
            );
            // Each party's agency is chosen from the directory.
            for agency in &agencies.agencies {
                assert!(html.contains(&format!("value=\"{}\"", escaped(&agency.name))));
            }
            // The opener's own details in the first party's fields, editable.
            let party = def
                .roles
                .iter()
                .find_map(|r| match &r.kind {
                    escalate::workflow::RoleKind::Party { path } => Some(path.clone()),
                    _ => None,
                })
                .unwrap();
            assert_eq!(
                input_value(&html, &format!("data.{party}.email")).as_deref(),
                Some(PRIYA),
                "{}",
                def.id
            );
            assert_eq!(
                input_value(&html, &format!("data.{party}.name")).as_deref(),
                Some("Priya Shah")
            );
            assert!(
                html.contains("selected>Riverside Primary School</option>")
                    || html.contains("value=\"Riverside Primary School\" selected"),
                "{}",
                def.id
            );
            // The start choice only where the workflow has one.
            assert_eq!(
                html.contains("name=\"start\""),
                def.starts.len() > 1,
                "{}",
                def.id
            );
        }
        let (status, _, _) = get(&web, &format!("{base}/cases/new/nothing")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn missing_and_hostile_answers_are_refused_and_nothing_is_opened() {
    let defs = workflows();
    for db in TestDb::all() {
        let site = Site::start(&db);
        let (env, base) = (site.env(), site.base.clone());
        let (web, token) = priya(&db, &base).await;
        let origin = Some(base.as_str());

        // Nothing filled in: every required field of each workflow in the summary.
        for def in defs.iter() {
            let url = format!("{base}/cases/new/{}", def.id);
            let (status, _, html) = post(&web, &url, origin, &[("csrf_token", &token)]).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert_page(&html, &format!("Error: {}", escaped(&def.title)));
            let links = error_links(&html);
            let wanted: Vec<String> = def
                .data
                .requires
                .iter()
                .map(|p| format!("#{}", p.replace('.', "-")))
                .collect();
            for href in &wanted {
                assert!(links.contains(href), "{}: {href} not in {links:?}", def.id);
                // Each linked input shows its message beside it.
                let id = &href[1..];
                assert!(html.contains(&format!("id=\"{id}-error\"")), "{id}");
            }
            assert_eq!(links.len(), wanted.len(), "{links:?}");
        }

        let url = format!("{base}/cases/new/dispute");
        let valid = dispute();
        // Each line: what is changed in a valid dispute (`field=value; …`), where the error
        // summary links, what it says.
        let too_long = format!("data.summary={}", "x".repeat(20_000));
        let hostile = format!(
            "data.child.name=Sam\u{7} | #child-name | control character
             data.respondent.name=Tom\rBcc: x@evil.example | #respondent-name | line break
             data.summary=abc\u{202E}fdp.exe | #summary | bidirectional
             {too_long} | #summary | at most 10000
             data.respondent.agency=Nowhere Academy | #respondent-agency | from the list
             data.category=made_up | #category | from the list
             data.respondent.email=tom at council | #respondent-email | not an email
             data.raised_by.email=someone.else@school.example.org | #raised_by-email | may not open a dispute case
             data.respondent.email=PRIYA.SHAH@school.example.org | #respondent-email | different people
             start=stage2; start_reason=urgent | #start | only when the immediate risk is yes
             start=stage2; data.immediate_risk=true | #start_reason | Enter why the case starts at
             start=resolved | #start | Select the stage"
        );
        for row in hostile.lines() {
            let [changes, href, says] = row.trim().splitn(3, " | ").collect::<Vec<_>>()[..] else {
                panic!("{row}");
            };
            let answers = changes.split("; ").fold(valid.clone(), |a, change| {
                let (k, v) = change.split_once('=').unwrap();
                with(&a, k, v)
            });
            let what: String = changes.chars().take(40).collect();
            let (status, _, html) = send(&web, &url, origin, &form(&token, &answers)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {html}");
            assert_eq!(error_links(&html), [href.to_string()], "{what}");
            assert!(
                html.contains(&escaped(says)),
                "{what}: {says} not in {html}"
            );
            // The answers come back as given, escaped.
            assert!(html.contains("value=\"Tom Hughes\"") || href == "#respondent-name");
        }
        // A megabyte is refused before it is read.
        let huge = with(&valid, "data.summary", &"x".repeat(1 << 20));
        let (status, _, html) = send(&web, &url, origin, &form(&token, &huge)).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
            "{status}"
        );
        assert!(
            html.contains("could not be read") || html.contains("too large"),
            "{html}"
        );

        // No CSRF token, a wrong one, or another site's form: 403.
        let (status, _, _) = send(&web, &url, origin, &valid).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = send(&web, &url, origin, &form(&"0".repeat(64), &valid)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = send(
            &web,
            &url,
            Some("http://evil.example"),
            &form(&token, &valid),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // The confirmation checks what it carries again: tampered answers, a missing or
        // malformed key, no token.
        let check = format!("{url}/check");
        let key = ("key".to_string(), "k-1".to_string());
        let tampered = with(&valid, "data.respondent.agency", "Nowhere Academy");
        let mut sent = form(&token, &tampered);
        sent.push(key.clone());
        let (status, _, html) = send(&web, &check, origin, &sent).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_links(&html), ["#respondent-agency"]);
        let mut sent = form(&token, &someone_else_of(&valid));
        sent.push(key.clone());
        let (status, _, html) = send(&web, &check, origin, &sent).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_links(&html), ["#raised_by-email"]);
        for bad in ["", "with space", &"k".repeat(201)] {
            let mut sent = form(&token, &valid);
            sent.push(("key".into(), bad.to_string()));
            let (status, _, _) = send(&web, &check, origin, &sent).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
        let mut sent = valid.clone();
        sent.push(key.clone());
        let (status, _, _) = send(&web, &check, origin, &sent).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // With nothing kept in the session, the check page sends one back to the form.
        let (status, headers, _) = get(&web, &check).await;
        assert_redirect(status, &headers, "/cases/new/dispute");

        assert_eq!(cases(&env), Vec::<Value>::new(), "nothing was opened");
    }
}

/// The dispute with someone other than Priya as its raiser.
fn someone_else_of(valid: &[(String, String)]) -> Answers {
    with(
        &with(
            valid,
            "data.raised_by.email",
            "someone.else@school.example.org",
        ),
        "data.raised_by.name",
        "Someone Else",
    )
}

/// The deadlines (and reminders) a check-answers page shows: each `<time datetime>`, soonest
/// first.
fn shown_deadlines(html: &str) -> Vec<String> {
    let mut shown: Vec<String> = html
        .split("<time datetime=\"")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_string())
        .collect();
    shown.sort();
    shown
}

/// The API's preview of opening `body` now: each deadline's due time (RFC 3339, seconds) and
/// explanation, soonest first.
async fn api_preview(base: &str, token: &str, body: &Value) -> Answers {
    let (status, _, preview) = answer(
        Client::new()
            .post(format!("{base}/api/v1/cases/preview"))
            .bearer_auth(token)
            .json(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let mut deadlines: Answers = preview["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let due: chrono::DateTime<chrono::Utc> = d["due_at"].as_str().unwrap().parse().unwrap();
            (
                due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                d["explanation"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    deadlines.sort();
    deadlines
}

#[tokio::test]
async fn check_answers_shows_the_previews_deadlines_and_a_double_submit_opens_one_case() {
    for db in TestDb::all() {
        let site = Site::start(&db);
        let (env, base) = (site.env(), site.base.clone());
        let (web, token) = priya(&db, &base).await;
        let api = self::token(&env, PRIYA);
        let origin = Some(base.as_str());
        let url = format!("{base}/cases/new/dispute");

        let (status, headers, _) = send(&web, &url, origin, &form(&token, &dispute())).await;
        assert_redirect(status, &headers, "/cases/new/dispute/check");
        let body = json!({ "workflow": "dispute", "data": dispute_data() });
        let before = api_preview(&base, &api, &body).await;
        let (status, headers, html) = get(&web, &format!("{url}/check")).await;
        let after = api_preview(&base, &api, &body).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_page(&html, "Check your answers before opening the case");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        // The same deadlines as the API's preview of the same data at the same moment (the
        // page was drawn between the two previews; they differ only across a cut-off).
        let shown = shown_deadlines(&html);
        assert!(!shown.is_empty());
        // (The explanations name the minute of receipt, which may turn between the two.)
        let on_page = |preview: &Vec<(String, String)>| {
            preview
                .iter()
                .map(|(due, _)| due.clone())
                .collect::<Vec<_>>()
                == shown
                && preview.iter().all(|(_, explanation)| {
                    explanation
                        .lines()
                        .all(|line| html.contains(&escaped(line)))
                })
        };
        assert!(
            on_page(&before) || on_page(&after),
            "{shown:?} and their explanations are neither {before:?} nor {after:?}: {html}"
        );
        assert!(html.contains("Stage 1: practitioners discuss"));
        // The answers, each with a Change link back to its input.
        for text in [
            "Sam Example",
            "Tom Hughes",
            "Threshold",
            "Children&#x27;s Social Care",
        ] {
            assert!(html.contains(text), "{text}");
        }
        assert!(html.contains("Referral about neglect was not accepted.<br>School believes"));
        assert!(
            html.contains("href=\"&#x2f;cases&#x2f;new&#x2f;dispute?change=1#respondent-email\""),
            "{html}"
        );
        let (_, _, form_again) = get(&web, &format!("{url}?change=1")).await;
        assert_eq!(
            input_value(&form_again, "data.respondent.email").as_deref(),
            Some(TOM)
        );
        assert!(form_again.contains(&escaped(SUMMARY)));
        assert_eq!(
            input_value(&form_again, "data.child.name").as_deref(),
            Some("Sam Example")
        );
        // Without ?change, a fresh form.
        let (_, _, fresh) = get(&web, &url).await;
        assert_eq!(
            input_value(&fresh, "data.respondent.email").as_deref(),
            Some("")
        );

        // Confirming twice with the page's key opens one case, and both answer with it.
        let carried: Answers = hidden(&html).into_iter().collect();
        assert!(carried.iter().any(|(k, v)| k == "key" && !v.is_empty()));
        let check = format!("{url}/check");
        let (status, headers, _) = send(&web, &check, origin, &carried).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let location = headers[LOCATION].to_str().unwrap().to_string();
        assert!(location.starts_with("/cases/DSP-"), "{location}");
        let (status, headers, _) = send(&web, &check, origin, &carried).await;
        assert_redirect(status, &headers, &location);
        let all = cases(&env);
        assert_eq!(all.len(), 1, "{all:?}");
        let reference = &location["/cases/".len()..];
        assert_eq!(all[0]["reference"], reference);
        let (status, _, case) = answer(
            Client::new()
                .get(format!("{base}/api/v1/cases/{reference}"))
                .bearer_auth(&api),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(case["state"], "stage1");
        assert_eq!(case["data"], dispute_data());
        // The same key with other answers opens nothing.
        let other: Answers = carried
            .iter()
            .map(|(k, v)| {
                let v = if k == "data.child.name" {
                    "Another Child".to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        let (status, _, html) = send(&web, &check, origin, &other).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("already been used"), "{html}");
        assert_eq!(cases(&env).len(), 1);

        // A later stage, with its condition and reason, shown and opened there.
        let urgent = with(
            &with(
                &with(&dispute(), "data.immediate_risk", "true"),
                "start",
                "stage2",
            ),
            "start_reason",
            "The child is at immediate risk.",
        );
        let (status, headers, _) = send(&web, &url, origin, &form(&token, &urgent)).await;
        assert_redirect(status, &headers, "/cases/new/dispute/check");
        let (_, _, html) = get(&web, &check).await;
        assert!(
            html.contains("The case starts at <strong>Stage 2"),
            "{html}"
        );
        assert!(html.contains("The child is at immediate risk."));
        let (status, headers, _) = send(
            &web,
            &check,
            origin,
            &hidden(&html).into_iter().collect::<Vec<_>>(),
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let reference = headers[LOCATION].to_str().unwrap()["/cases/".len()..].to_string();
        let all = cases(&env);
        assert_eq!(all.len(), 2);
        let opened = all
            .iter()
            .find(|c| c["reference"] == reference.as_str())
            .unwrap();
        assert_eq!(opened["state"], "stage2");
        // The answers are forgotten once the case is open.
        let (status, headers, _) = get(&web, &check).await;
        assert_redirect(status, &headers, "/cases/new/dispute");
    }
}

#[tokio::test]
async fn a_draft_is_not_carried_over_to_the_next_person_to_sign_in_on_the_browser() {
    for db in TestDb::all() {
        let site = Site::start(&db);
        let base = site.base.clone();
        let (web, token) = priya(&db, &base).await;
        let url = format!("{base}/cases/new/dispute");
        let (status, headers, _) = send(&web, &url, Some(&base), &form(&token, &dispute())).await;
        assert_redirect(status, &headers, "/cases/new/dispute/check");
        let (_, _, kept) = get(&web, &format!("{url}?change=1")).await;
        assert!(kept.contains("Sam Example"), "the draft is kept for Priya");

        // Tom signs in on the same browser without Priya signing out (the sign-in page
        // shows no form to someone signed in: the form is posted as it stands).
        user_with_password(&db.url, TOM, "practitioner", None, PASSWORD);
        let (status, _, html) = post(
            &web,
            &format!("{base}/sign-in"),
            Some(&base),
            &[
                ("csrf_token", &token),
                ("email", TOM),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        let (_, _, form_again) = get(&web, &format!("{url}?change=1")).await;
        assert!(!form_again.contains("Sam Example"), "{form_again}");
        let (_, _, check) = get(&web, &format!("{url}/check")).await;
        assert!(!check.contains("Sam Example"), "{check}");
    }
}

#[tokio::test]
async fn roles_that_open_no_cases_are_refused() {
    for db in TestDb::all() {
        let site = Site::start(&db);
        let (env, base) = (site.env(), site.base.clone());
        for (email, role) in [
            ("board.member@partnership.example.org", "board"),
            ("ops@partnership.example.org", "admin"),
        ] {
            user_with_password(&db.url, email, role, None, PASSWORD);
            let web = signed_in(&base, email).await;
            let (status, _, html) = get(&web, &format!("{base}/cases/new")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
            assert_page(&html, "You cannot see this");
            assert!(
                !html.contains(&link("/cases/new")),
                "{role}: no navigation to it"
            );
            let token = csrf_token(&html);
            for path in ["/cases/new/dispute", "/cases/new/dispute/check"] {
                let mut sent = form(&token, &with(&dispute(), "data.raised_by.email", email));
                sent.push(("key".into(), "k-2".into()));
                let (status, _, _) = send(&web, &format!("{base}{path}"), Some(&base), &sent).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}");
            }
            let (status, _, _) = get(&web, &format!("{base}/cases/new/dispute")).await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        // Signed out: to sign in.
        let (status, headers, _) = get(&client(), &format!("{base}/cases/new/dispute")).await;
        assert_redirect(status, &headers, "/sign-in");
        assert_eq!(cases(&env), Vec::<Value>::new());
    }
}

/// The status of an unauthenticated `GET url` (a calendar program's).
async fn fetch_status(url: &str) -> StatusCode {
    Client::new().get(url).send().await.unwrap().status()
}

/// The address My page shows once, as a path on this server.
fn feed_path(html: &str) -> String {
    let at = html.find("&#x2f;calendar&#x2f;").expect("a feed address");
    let path = &html[at..];
    unescape(&path[..path.find(".ics").unwrap() + 4])
}

#[tokio::test]
async fn my_page_makes_replaces_and_revokes_the_calendar_feed() {
    for db in TestDb::all() {
        let site = Site::start(&db);
        let (env, base) = (site.env(), site.base.clone());
        common::open_dispute(&env, None);
        let (web, token) = priya(&db, &base).await;
        let origin = Some(base.as_str());
        let account = format!("{base}/account");

        let (status, headers, html) = get(&web, &account).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(&html, "My page");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        for text in [
            "Priya Shah",
            PRIYA,
            "Practitioner",
            "Riverside Primary School",
            "You have no calendar feed",
        ] {
            assert!(html.contains(text), "{text}");
        }
        assert!(html.contains(&link("/account")), "in the navigation");

        // Made: its address shown once, and it serves a calendar of her deadline.
        let feed = format!("{base}/account/feed");
        let (status, _, _) = post(&web, &feed, origin, &[("csrf_token", "x")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, html) = post(&web, &feed, origin, &[("csrf_token", &token)]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Outlook"));
        let first = feed_path(&html);
        let calendar = Client::new()
            .get(format!("{base}{first}"))
            .send()
            .await
            .unwrap();
        assert_eq!(calendar.status(), StatusCode::OK);
        let text = calendar.text().await.unwrap();
        assert!(
            text.starts_with("BEGIN:VCALENDAR") && text.contains("BEGIN:VEVENT"),
            "{text}"
        );
        let (_, _, html) = get(&web, &account).await;
        assert!(html.contains("You have a calendar feed"));
        assert!(
            !html.contains("&#x2f;calendar&#x2f;") && !html.contains(&first),
            "shown once only"
        );

        // Made again without the confirmation: asked first, nothing replaced.
        let (status, _, html) = post(&web, &feed, origin, &[("csrf_token", &token)]).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(
            &html,
            "Are you sure you want to replace your calendar feed?",
        );
        let (status, _, html) = get(&web, &format!("{feed}/replace")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("name=\"replace\" value=\"yes\""));
        let status = fetch_status(&format!("{base}{first}")).await;
        assert_eq!(status, StatusCode::OK);
        // Replaced: a new address, the old one gone.
        let (status, _, html) = post(
            &web,
            &feed,
            origin,
            &[("csrf_token", token.as_str()), ("replace", "yes")],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let second = feed_path(&html);
        assert_ne!(second, first);
        let status = fetch_status(&format!("{base}{first}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Revoked, after its confirmation page; CSRF first.
        let (status, _, html) = get(&web, &format!("{feed}/revoke")).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(&html, "Are you sure you want to revoke your calendar feed?");
        let revoke = format!("{feed}/revoke");
        let (status, _, _) = post(&web, &revoke, origin, &[("csrf_token", "")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let status = fetch_status(&format!("{base}{second}")).await;
        assert_eq!(status, StatusCode::OK);
        let (status, headers, _) = post(&web, &revoke, origin, &[("csrf_token", &token)]).await;
        assert_redirect(status, &headers, "/account");
        let status = fetch_status(&format!("{base}{second}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, _, html) = get(&web, &account).await;
        assert!(html.contains("Your calendar feed is revoked"));
        assert!(html.contains("You have no calendar feed"));
        let (_, _, html) = get(&web, &account).await;
        assert!(!html.contains("Your calendar feed is revoked"), "said once");
        let (status, headers, _) = post(&web, &revoke, origin, &[("csrf_token", &token)]).await;
        assert_redirect(status, &headers, "/account");
        let (_, _, html) = get(&web, &account).await;
        assert!(html.contains("You had no calendar feed to revoke"));

        // A board member has a page but no deadlines to feed.
        let board = "board.member@partnership.example.org";
        user_with_password(&db.url, board, "board", None, PASSWORD);
        let other = signed_in(&base, board).await;
        let (status, _, html) = get(&other, &account).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Board") && html.contains("no deadlines to follow"));
        let (status, _, _) = post(
            &other,
            &feed,
            origin,
            &[("csrf_token", csrf_token(&html).as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

/// Scrolls the element `css` selects to the top of the window, for the screenshot.
async fn scroll_to(browser: &Browser, css: &str) {
    let script = "document.querySelector(arguments[0]).scrollIntoView();";
    browser
        .client
        .execute(script, vec![json!(css)])
        .await
        .unwrap();
}

#[tokio::test]
async fn opening_a_dispute_in_a_browser() {
    for db in TestDb::all() {
        let site = Site::start(&db);
        let (env, base) = (site.env(), site.base.clone());
        add_priya(&db.url);
        for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
            let Some(browser) = Browser::start(size).await else {
                return;
            };
            let shot = |page: &str| format!("{page}-{width}");
            browser.sign_in(&base, PRIYA, PASSWORD).await;
            browser
                .client
                .goto(&format!("{base}/cases/new"))
                .await
                .unwrap();
            browser
                .check_page("the chooser", &shot("open-chooser"))
                .await;
            browser.click("label[for='workflow']").await;
            browser.submit("/cases/new", "#summary").await;
            browser
                .check_page("the empty form", &shot("open-form"))
                .await;

            // Sent with nothing filled in: the error summary, linking to each field.
            let dispute = "/cases/new/dispute";
            browser.submit(dispute, ".govuk-error-summary").await;
            let summary = browser.text_of(".govuk-error-summary").await;
            assert!(summary.contains("Enter the summary"), "{summary}");
            browser
                .check_page("the form with errors", &shot("open-form-errors"))
                .await;

            browser.click("label[for='category']").await;
            browser.type_into("summary", SUMMARY).await;
            browser.type_into("child-reference", "LCS-204417").await;
            browser.type_into("respondent-name", "Tom Hughes").await;
            browser.type_into("respondent-email", TOM).await;
            browser
                .click("#respondent-agency option[value=\"Children's Social Care\"]")
                .await;
            browser.submit(dispute, "h2.deadlines").await;
            let page = browser.client.source().await.unwrap();
            assert!(page.contains("Check your answers"));
            assert!(!shown_deadlines(&page).is_empty());
            let shown = browser.text_of(".deadline").await;
            assert!(
                shown.contains("Due ") && shown.contains("working day"),
                "{shown}"
            );
            scroll_to(&browser, "h2.deadlines").await;
            browser
                .check_page("check your answers", &shot("check-answers"))
                .await;
            let check = format!("{dispute}/check");
            browser.submit(&check, "#next-deadline").await;
            browser.path("/cases/DSP-").await;

            browser
                .client
                .goto(&format!("{base}/account"))
                .await
                .unwrap();
            browser.check_page("my page", &shot("my-page")).await;
            browser.submit("/account/feed", ".govuk-panel").await;
            scroll_to(&browser, "#calendar").await;
            browser
                .check_page("my page with the feed", &shot("my-page-feed"))
                .await;
            // Revoked again, after its confirmation, so the next width starts without one.
            let revoke = "/account/feed/revoke";
            browser
                .client
                .goto(&format!("{base}{revoke}"))
                .await
                .unwrap();
            browser.check_page("revoking", &shot("revoke-feed")).await;
            browser.submit(revoke, ".govuk-notification-banner").await;
            browser.stop().await;
        }
        assert_eq!(cases(&env).len(), 2, "one case per width");
    }
}
