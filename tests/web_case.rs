//! The web UI's case page, its event forms and the monitoring form, through a real
//! `escalate serve` on each backend: what the page shows (stage, the next deadline and why,
//! history), recording an event (303 to the page, the new stage), and every way a form can be
//! refused with nothing written (a missing reason, a stale version, a second send, a forged
//! token, hostile values); who may see a case (another agency, the board, an administrator
//! with and without a reason).

mod common;

use chrono::{DateTime, Utc};
use common::web::{self, PASSWORD, PRIYA, Site};
use common::{TestDb, escalate, json, open_dispute, stderr, user_with_password};
use reqwest::header::{HeaderMap, LOCATION};
use reqwest::{Client, StatusCode};
use serde_json::Value;

const NURSE: &str = "nurse@health.example.nhs.uk";
const BOARD: &str = "board@partnership.example.org";
const ADMIN: &str = "admin@partnership.example.org";

/// One backend's site (`serve` on a database with the directory), with Priya (the example
/// dispute's raiser), a nurse of another agency, a board member and an administrator, and the
/// example dispute, opened now.
struct Fixture {
    site: Site,
    reference: String,
    db: TestDb,
}

impl Fixture {
    fn new(db: TestDb) -> Fixture {
        let site = Site::start(&db);
        web::add_priya(&db.url);
        for (email, role, agency) in [
            (NURSE, "practitioner", Some("riverside-health")),
            (BOARD, "board", None),
            (ADMIN, "admin", None),
        ] {
            user_with_password(&db.url, email, role, agency, PASSWORD);
        }
        let reference = open_dispute(&site.env(), None);
        Fixture {
            site,
            reference,
            db,
        }
    }

    /// One on each backend, made as the test comes to it.
    fn all() -> impl Iterator<Item = Fixture> {
        TestDb::all().into_iter().map(Fixture::new)
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.site.env()
    }

    /// A client signed in as `email`.
    async fn signed_in(&self, email: &str) -> Web {
        let web = Web {
            client: web::client(),
            base: self.site.base.clone(),
        };
        let (status, headers, html) = web::sign_in(&web.client, &web.base, email, PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        // Each role starts on its own page (My cases, the report, the admin pages).
        assert!(headers.contains_key(LOCATION));
        web
    }
}

/// A browser-like client of the site, signed in as someone: pages as text, the character
/// references minijinja writes read as a browser reads them.
struct Web {
    client: Client,
    base: String,
}

/// A form as drawn: its hidden version, idempotency key and CSRF token.
struct Drawn {
    seq: String,
    key: String,
    token: String,
}

impl Web {
    /// `GET path`, the page as it was written (escaped).
    async fn raw(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        web::get(&self.client, &format!("{}{path}", self.base)).await
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, String) {
        let (status, headers, html) = self.raw(path).await;
        (status, headers, web::unescape(&html))
    }

    /// A form post from this site (its Origin).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let url = format!("{}{path}", self.base);
        let (status, headers, html) = web::post(&self.client, &url, Some(&self.base), form).await;
        (status, headers, web::unescape(&html))
    }

    /// The form at `path`, drawn (200).
    async fn draw(&self, path: &str) -> Drawn {
        let (status, _, html) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        Drawn::from(&html)
    }

    /// Sends a drawn form with `fields`; one named like a hidden field replaces it.
    async fn send(
        &self,
        path: &str,
        drawn: &Drawn,
        fields: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut form = vec![
            ("csrf_token", drawn.token.as_str()),
            ("seq", drawn.seq.as_str()),
            ("idempotency_key", drawn.key.as_str()),
        ];
        form.retain(|(name, _)| fields.iter().all(|(given, _)| given != name));
        form.extend_from_slice(fields);
        self.post(path, &form).await
    }
}

impl Drawn {
    fn from(html: &str) -> Drawn {
        Drawn {
            seq: hidden(html, "seq"),
            key: hidden(html, "idempotency_key"),
            token: hidden(html, "csrf_token"),
        }
    }
}

/// Fields sent in place of a form's own, the status wanted and what the page must say.
type Hostile<'a> = (&'a [(&'a str, &'a str)], StatusCode, &'a str);

/// The value of the page's (first) hidden field `name`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

/// The page's `<title>`.
fn title(html: &str) -> &str {
    let at = html.find("<title>").unwrap() + "<title>".len();
    &html[at..at + html[at..].find("</title>").unwrap()]
}

/// What `case show --json` says of the case now.
fn show(env: &[(&str, &str)], reference: &str) -> Value {
    json(&escalate(&["case", "show", reference, "--json"], env))
}

fn entries(env: &[(&str, &str)], reference: &str) -> usize {
    show(env, reference)["history"].as_array().unwrap().len()
}

/// A stored time as the pages show it, in London.
fn local(rfc3339: &Value) -> String {
    let t: DateTime<Utc> = rfc3339.as_str().unwrap().parse().unwrap();
    t.with_timezone(&chrono_tz::Europe::London)
        .format("%a %-d %b %Y at %-I:%M%P")
        .to_string()
}

/// The case's pending lapse deadline (the next one), from the store.
fn next_deadline(case: &Value) -> Value {
    case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "pending" && d["kind"] == "lapse")
        .min_by_key(|d| d["due_at"].as_str().unwrap().to_string())
        .cloned()
        .expect("a pending deadline")
}

/// The page from its next deadline on.
fn from_next_deadline(html: &str) -> &str {
    &html[html
        .find("id=\"next-deadline\"")
        .expect("the next deadline")..]
}

/// The access log's entries for the case, oldest first.
fn access_log(env: &[(&str, &str)], reference: &str) -> Vec<Value> {
    let log = json(&escalate(&["audit", "access", reference, "--json"], env));
    log.as_array().unwrap().clone()
}

/// The paths of the case page that messages in `dir` link to (`[mail] base_url` + path).
fn linked_paths(dir: &std::path::Path) -> Vec<String> {
    let mut paths = Vec::new();
    for file in std::fs::read_dir(dir).unwrap() {
        let message = std::fs::read_to_string(file.unwrap().path()).unwrap();
        for part in common::mime_parts(&message) {
            let text = String::from_utf8_lossy(&part.body).into_owned();
            if let Some(at) = text.find("http://localhost:8080/cases/") {
                let link = &text[at + "http://localhost:8080".len()..];
                paths.push(
                    link.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "/-".contains(*c))
                        .collect(),
                );
            }
        }
    }
    paths
}

#[tokio::test]
async fn the_case_page_shows_the_case_and_an_event_form_moves_it_on() {
    for f in Fixture::all() {
        let (env, reference) = (f.env(), f.reference.as_str());
        let web = f.signed_in(PRIYA).await;
        let page = format!("/cases/{reference}");

        // My cases links to it; the page shows the stage, the next deadline with why.
        let (_, _, html) = web.get("/").await;
        assert!(html.contains(&format!("href=\"{page}\"")), "{html}");
        let (status, headers, html) = web.get(&page).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(
            title(&html),
            format!(
                "{reference}: Professional disagreement, Stage 1: practitioners discuss – escalate"
            )
        );
        let case = show(&env, reference);
        let next = next_deadline(&case);
        let due = local(&next["due_at"]);
        assert!(from_next_deadline(&html).contains(&due), "{due}");
        let why = next["explanation"].as_str().unwrap().lines().next();
        assert!(from_next_deadline(&html).contains(why.unwrap()), "{why:?}");
        // Every deadline, the timeline and the history: opened, when (London) and by whom.
        for d in case["deadlines"].as_array().unwrap() {
            assert!(html.contains(&local(&d["due_at"])));
        }
        let opened = local(&case["history"][0]["at"]);
        assert!(html.contains(&format!("Entered {opened} by {PRIYA}: Opened")));
        assert!(html.contains("Stage timeline") && html.contains("1. Opened"));
        // The parties, and the child only as the API gives them to Priya; not in the title.
        assert!(html.contains("Riverside Primary School") && html.contains("Tom Hughes"));
        assert!(html.contains("Sam Example"));
        assert!(!title(&html).contains("Sam") && !title(&html).contains("LCS-204417"));
        // One button per event Priya may take now.
        for event in ["escalate", "resolve", "withdraw", "note", "agree_action"] {
            let button = format!("href=\"{page}/events/{event}\"");
            assert!(html.contains(&button), "{event}");
        }
        assert!(!html.contains("monitoring-form"), "no form before stage 3");

        // The escalation form: its fields, the version seen, a fresh key each time.
        let form = format!("{page}/events/escalate");
        let (status, _, html) = web.get(&form).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("<h1 class=\"govuk-heading-l\">Escalate to stage 2</h1>"));
        assert!(html.contains("name=\"reason\"") && html.contains("<textarea"));
        let drawn = Drawn::from(&html);
        assert_eq!(drawn.seq, case["seq"].to_string());
        assert_eq!(drawn.key.len(), 32);
        assert_ne!(drawn.key, web.draw(&form).await.key, "a fresh key per form");
        let reason = "No reply from social care\nsince Monday";
        let typed = reason.replace('\n', "\r\n");
        let (status, headers, html) = web.send(&form, &drawn, &[("reason", &typed)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        assert_eq!(headers[LOCATION], page.as_str());
        let (_, _, html) = web.get(&page).await;
        assert!(html.contains("Escalate to stage 2: recorded"), "{html}");
        assert!(html.contains("Stage 2: line managers or designated safeguarding leads"));
        let case = show(&env, reference);
        assert_eq!(case["state"], "stage2");
        let last = case["history"].as_array().unwrap().last().unwrap();
        assert_eq!(last["reason"], reason, "line breaks kept as typed lines");
        assert_eq!(last["actor"], PRIYA);
        let due = local(&next_deadline(&case)["due_at"]);
        assert!(from_next_deadline(&html).contains(&due));
        assert!(html.contains("Why: No reply from social care<br>since Monday"));
        // The escalation notice's link (`[mail] base_url` + the path) opens this page.
        let o = escalate(&["tick"], &env);
        assert!(o.status.success(), "{}", stderr(&o));
        let links = linked_paths(f.site.mail());
        assert!(!links.is_empty(), "no message with the case's link");
        for path in links {
            assert_eq!(path, page);
            let (status, _, html) = web.get(&path).await;
            assert_eq!(status, StatusCode::OK);
            assert!(html.contains(reference));
        }
        // The messages sent: what, to whom in which role, whether sent; never their text.
        let (_, _, html) = web.get(&page).await;
        assert!(html.contains("Escalation notice (email)"), "{html}");
        assert!(html.contains("To Professional who raised the disagreement: Priya Shah"));
        assert!(html.contains(". Sent "));
        // The notice showed once.
        let (_, _, html) = web.get(&page).await;
        assert!(!html.contains(": recorded"), "the notice again");

        // A note: its field in the history, as text.
        let note = format!("{page}/events/note");
        let drawn = web.draw(&note).await;
        let text = "Called the duty team <b>twice</b>";
        let (status, _, _) = web.send(&note, &drawn, &[("text", text)]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let (_, _, html) = web.raw(&page).await;
        assert!(
            html.contains("Called the duty team &lt;b&gt;twice&lt;"),
            "escaped"
        );
        assert!(!html.contains("<b>twice</b>"));

        // A lower-case reference finds the case; one that cannot exist is the 404 page.
        let (status, _, _) = web.get(&page.to_lowercase()).await;
        assert_eq!(status, StatusCode::OK);
        for missing in [
            "/cases/DSP-2026-999999",
            "/cases/not-a-reference",
            "/cases/DSP-2026-999999/events/escalate",
        ] {
            let (status, _, html) = web.get(missing).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
            assert!(html.contains("Page not found"));
        }
        // An event the case does not take now, with nothing to say the case changed since:
        // the 404 page, not "changed while you were looking".
        let closing = format!("{page}/events/close_unresolved");
        let (status, _, html) = web.get(&closing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
        assert!(html.contains("Page not found") && html.contains("not something you can do"));
        assert!(!html.contains("This case changed while you were looking"));
        // Sent to it from a form of the version now current (a request the API refuses
        // before the case is read: too many fields), the same; nothing written.
        let before = entries(&env, reference);
        let drawn = web.draw(&note).await;
        let names: Vec<String> = (0..51).map(|n| format!("f{n}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
        let (status, _, html) = web.send(&closing, &drawn, &many).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
        assert!(!html.contains("This case changed while you were looking"));
        // From a form of an earlier version, the case did change: the case page says so.
        let older = (drawn.seq.parse::<i64>().unwrap() - 1).to_string();
        let earlier = Drawn {
            seq: older,
            ..drawn
        };
        let (status, _, html) = web.send(&closing, &earlier, &many).await;
        assert_eq!(status, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("This case changed while you were looking"));
        assert!(html.contains("It is now at Stage 2: line managers"));
        assert_eq!(entries(&env, reference), before);
    }
}

#[tokio::test]
async fn a_notice_shows_on_its_own_case_page_only() {
    for f in Fixture::all() {
        let env = f.env();
        let (first, second) = (f.reference.as_str(), open_dispute(&env, None));
        let web = f.signed_in(PRIYA).await;
        let note = format!("/cases/{first}/events/note");
        let drawn = web.draw(&note).await;
        let (status, headers, _) = web.send(&note, &drawn, &[("text", "Phoned")]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[LOCATION], format!("/cases/{first}").as_str());
        // Another case's page (another tab, opened first) neither shows it nor takes it.
        let (status, _, html) = web.get(&format!("/cases/{second}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!html.contains(": recorded"), "{html}");
        let (_, _, html) = web.get(&format!("/cases/{first}")).await;
        assert!(html.contains("Add a note: recorded"), "{html}");
        let (_, _, html) = web.get(&format!("/cases/{first}")).await;
        assert!(!html.contains(": recorded"), "shown once");
    }
}

#[tokio::test]
async fn a_failed_message_says_it_was_not_delivered_not_why() {
    for f in Fixture::all() {
        let (env, reference) = (f.env(), f.reference.as_str());
        let o = escalate(
            &[
                "case", "event", reference, "escalate", "--by", PRIYA, "--reason", "No reply",
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        // The mail server refuses every recipient: the messages fail with its reply.
        let server = common::SmtpServer::start();
        server.set_mode("permfail");
        let smtp = server.url();
        let mut refused = env.clone();
        refused.retain(|(k, _)| *k != "ESCALATE_SMTP_URL");
        refused.push(("ESCALATE_SMTP_URL", smtp.as_str()));
        let o = escalate(&["tick"], &refused);
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        let case = show(&env, reference);
        let errors: Vec<String> = case["outbox"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["status"] == "failed")
            .map(|m| m["last_error"].as_str().unwrap().to_string())
            .collect();
        assert!(!errors.is_empty(), "{case}");
        assert!(
            errors.iter().all(|e| e.contains("No such mailbox")),
            "{errors:?}"
        );

        let web = f.signed_in(PRIYA).await;
        let (status, _, html) = web.get(&format!("/cases/{reference}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("Failed ")
                && html.contains("Not delivered; the service's operator can see why."),
            "{html}"
        );
        assert!(!html.contains("No such mailbox"), "{html}");
        for e in &errors {
            assert!(!html.contains(e.as_str()), "{e}");
        }
    }
}

#[tokio::test]
async fn refused_forms_write_nothing() {
    for f in Fixture::all() {
        let (env, reference) = (f.env(), f.reference.as_str());
        let before = entries(&env, reference);
        let form = format!("/cases/{reference}/events/escalate");
        let web = f.signed_in(PRIYA).await;

        // A missing reason: the form again, an error summary linking to it, the workflow's
        // words too.
        let drawn = web.draw(&form).await;
        let (status, _, html) = web.send(&form, &drawn, &[("reason", "  ")]).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("govuk-error-summary"), "{html}");
        assert!(html.contains("href=\"#reason\""));
        assert!(html.contains("Enter the reason"));
        assert!(html.contains("needs field 'reason'"), "{html}");
        assert!(title(&html).starts_with("Error: "));
        assert_eq!(entries(&env, reference), before);

        // Hostile values: each a clear error, nothing written.
        let long = "x".repeat(20_000);
        let huge = "y".repeat(1 << 20);
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        let unreadable = (StatusCode::BAD_REQUEST, "could not be read");
        let cases: [Hostile; 8] = [
            (
                &[("reason", "bell \u{7} here")],
                unprocessable,
                "control character",
            ),
            (
                &[("reason", "abc\u{202E}cba")],
                unprocessable,
                "bidirectional",
            ),
            (&[("reason", &long)], unprocessable, "at most 10000"),
            (
                &[("reason", &huge)],
                StatusCode::PAYLOAD_TOO_LARGE,
                "Sorry, this form is too large",
            ),
            // Someone else's identity: the actor is the signed-in user, never a field.
            (
                &[
                    ("reason", "ok"),
                    ("by", "tom.hughes@council.example.gov.uk"),
                ],
                unprocessable,
                "does not take field",
            ),
            (
                &[("reason", "ok"), ("seq", "1 OR 1=1")],
                unreadable.0,
                unreadable.1,
            ),
            (
                &[("reason", "ok"), ("idempotency_key", "a key")],
                unreadable.0,
                unreadable.1,
            ),
            (
                &[("reason", "ok"), ("idempotency_key", "")],
                unreadable.0,
                unreadable.1,
            ),
        ];
        for (fields, wanted, says) in cases {
            let drawn = web.draw(&form).await;
            let (status, _, html) = web.send(&form, &drawn, fields).await;
            let shown = &html[..html.len().min(3000)];
            assert_eq!(status, wanted, "{says}: {shown}");
            assert!(html.contains(says), "{says}: {shown}");
            assert!(!html.contains(&huge), "the 1 MB value is not sent back");
            assert_eq!(entries(&env, reference), before, "{says}");
        }
        // A choice outside its choices.
        let resolve = format!("/cases/{reference}/events/resolve");
        let drawn = web.draw(&resolve).await;
        let bogus = [("outcome", "bogus"), ("reason", "done")];
        let (status, _, html) = web.send(&resolve, &drawn, &bogus).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(html.contains("href=\"#outcome\"") && html.contains("must be one of"));
        assert_eq!(entries(&env, reference), before);

        // A forged, absent or cross-site token: 403, nothing written.
        let drawn = web.draw(&form).await;
        let zeros = "0".repeat(64);
        for token in [zeros.as_str(), ""] {
            let fields = [("csrf_token", token), ("reason", "x")];
            let (status, _, html) = web.send(&form, &drawn, &fields).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
            assert!(html.contains("Sorry, this form could not be sent"));
        }
        let r = web
            .client
            .post(format!("{}{form}", web.base))
            .header("origin", "http://evil.example")
            .form(&[
                ("csrf_token", drawn.token.as_str()),
                ("seq", &drawn.seq),
                ("idempotency_key", &drawn.key),
                ("reason", "x"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(entries(&env, reference), before);

        // A stale form: someone else acted meanwhile. The form again with what was typed,
        // saying the case changed and its stage, nothing recorded.
        let drawn = web.draw(&form).await;
        let tom = "tom.hughes@council.example.gov.uk";
        let o = escalate(
            &[
                "case",
                "event",
                reference,
                "note",
                "--field",
                "text=Phoned",
                "--by",
                tom,
            ],
            &env,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let before = entries(&env, reference);
        let still = [("reason", "Still no reply")];
        let (status, _, html) = web.send(&form, &drawn, &still).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(
            html.contains("This case changed while you were looking"),
            "{html}"
        );
        assert!(html.contains("It is now at Stage 1: practitioners discuss"));
        assert!(html.contains("Still no reply"), "what was typed is kept");
        assert!(!html.contains("govuk-error-summary"), "not an error");
        assert_eq!(entries(&env, reference), before);
        assert_eq!(show(&env, reference)["state"], "stage1");
        // Sent again from the redrawn form, for the version now current, it records.
        let redrawn = Drawn::from(&html);
        assert_eq!(redrawn.seq, before.to_string());
        let (status, headers, _) = web.send(&form, &redrawn, &still).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        // The same form twice (a double click, a resend): one event, the same answer.
        let (status, again, _) = web.send(&form, &redrawn, &still).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(again[LOCATION], headers[LOCATION]);
        assert_eq!(entries(&env, reference), before + 1);
        assert_eq!(show(&env, reference)["state"], "stage2");
        // A form drawn before the escalation: it says the case moved on to stage 2.
        let fields = [
            ("idempotency_key", "another-key"),
            ("outcome", "resolved"),
            ("reason", "done"),
        ];
        let (status, _, html) = web.send(&resolve, &redrawn, &fields).await;
        assert_eq!(status, StatusCode::CONFLICT, "{html}");
        assert!(html.contains("This case changed while you were looking"));
        assert!(html.contains("It is now at Stage 2"));
        assert_eq!(entries(&env, reference), before + 1);
    }
}

#[tokio::test]
async fn only_those_who_may_read_a_case_see_its_page() {
    for f in Fixture::all() {
        let (env, reference) = (f.env(), f.reference.as_str());
        let page = format!("/cases/{reference}");
        let before = entries(&env, reference);

        // Another agency's practitioner: the 404 page, as for a case that does not exist, and
        // nothing of the case; its forms too.
        let nurse = f.signed_in(NURSE).await;
        let (_, _, missing) = nurse.get("/cases/DSP-2026-999999").await;
        for path in [
            page.clone(),
            format!("{page}/events/escalate"),
            format!("{page}/monitoring-form"),
        ] {
            let (status, _, html) = nurse.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(html, missing, "{path}");
            for secret in ["Sam Example", "LCS-204417", "Priya", "threshold"] {
                assert!(!html.contains(secret), "{secret}");
            }
        }
        let (_, _, html) = nurse.get("/").await;
        let forged = Drawn {
            seq: "1".into(),
            key: "k1".into(),
            token: hidden(&html, "csrf_token"),
        };
        let escalation = format!("{page}/events/escalate");
        let mine = [("reason", "mine now")];
        let (status, _, _) = nurse.send(&escalation, &forged, &mine).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(entries(&env, reference), before);

        // The board reads aggregates only: no case page, no event form.
        let board = f.signed_in(BOARD).await;
        let (status, _, html) = board.get(&page).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!html.contains("Sam Example"));
        let (status, _, html) = board.get(&escalation).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");

        // An administrator says why first; the read is logged with the reason.
        let admin = f.signed_in(ADMIN).await;
        let logged = access_log(&env, reference).len();
        let (status, _, html) = admin.get(&page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Why are you reading this case?"), "{html}");
        assert!(!html.contains("Sam Example") && !html.contains("Stage 1"));
        let asked = access_log(&env, reference).len();
        assert_eq!(asked, logged, "asking is not a read");
        let (status, _, html) = admin.get(&format!("{page}?reason=")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("govuk-error-summary") && html.contains("href=\"#reason\""));
        let why = "Subject access request 42";
        let (status, _, html) = admin
            .get(&format!("{page}?reason=Subject%20access%20request%2042"))
            .await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Stage 1: practitioners discuss") && html.contains("Sam Example"));
        assert!(
            !html.contains("/events/"),
            "an administrator takes no events"
        );
        let log = access_log(&env, reference);
        let last = log.last().unwrap();
        assert_eq!(
            (
                &last["email"],
                &last["action"],
                &last["status"],
                &last["reason"]
            ),
            (&ADMIN.into(), &"read".into(), &200.into(), &why.into())
        );
        // Without a reason, a missing case is asked about alike.
        let (status, _, html) = admin.get("/cases/DSP-2026-999999").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Why are you reading this case?"));
        assert_eq!(entries(&env, reference), before);
    }
}

#[tokio::test]
async fn the_monitoring_form_is_shown_from_stage_3_and_recorded_back() {
    for f in Fixture::all() {
        let (env, reference) = (f.env(), f.reference.as_str());
        let page = format!("/cases/{reference}");
        let form_page = format!("{page}/monitoring-form");
        let web = f.signed_in(PRIYA).await;

        // Before stage 3 there is no form.
        let (status, _, html) = web.get(&form_page).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(html.contains("Page not found"));

        for reason in ["No reply", "Still no reply"] {
            let o = escalate(
                &[
                    "case", "event", reference, "escalate", "--by", PRIYA, "--reason", reason,
                ],
                &env,
            );
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let record = format!("{page}/events/record_form");
        let (_, _, html) = web.get(&page).await;
        assert!(html.contains(&format!("href=\"{form_page}\"")), "{html}");
        assert!(html.contains(&format!("href=\"{record}\"")));

        let (status, _, html) = web.get(&form_page).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("Professional disagreement: monitoring form"));
        // The PDF's sections, numbered and worded as on it.
        let sections = escalate::notify::form::SECTIONS;
        let missing: Vec<&str> = sections.into_iter().filter(|s| !html.contains(s)).collect();
        assert_eq!(missing, Vec::<&str>::new());
        assert!(html.contains("Stage 3: senior managers or heads of service"));
        assert!(html.contains("Threshold / level of need"));
        assert!(!title(&html).contains("Sam"));
        assert!(html.contains("Not recorded yet"));

        // Recording it back, from its link.
        assert!(html.contains(&format!("href=\"{record}\"")));
        let (status, _, html) = web.get(&record).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("type=\"radio\"") && html.contains("name=\"child_at_risk\""));
        assert!(html.contains("Learning (optional)"));
        let learning = "Agree timescales for feedback at the first call";
        let fields = [
            ("child_at_risk", "yes"),
            ("learning", learning),
            ("decisions", ""),
        ];
        let (status, headers, html) = web.send(&record, &Drawn::from(&html), &fields).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
        assert_eq!(headers[LOCATION], page.as_str());
        let case = show(&env, reference);
        let last = case["history"].as_array().unwrap().last().unwrap();
        assert_eq!(last["event"], "record_form");
        assert!(
            last["fields"].get("decisions").is_none(),
            "a blank field is not given"
        );
        let (_, _, html) = web.get(&form_page).await;
        assert!(html.contains(learning));
        assert!(!html.contains("Not recorded yet"), "{html}");
    }
}

/// The example referral's referrer, Jo Patel of a nursery the directory does not know.
const JO: &str = "jo.patel@nursery.example.org";

/// Adds Jo ([`JO`]) and opens the example referral as her; social care declines it and Jo
/// escalates it, which opens a linked dispute: the referral's and the dispute's references.
fn escalated_referral(f: &Fixture) -> (String, String) {
    let env = f.env();
    let duty = "frontdoor@council.example.gov.uk";
    user_with_password(&f.db.url, JO, "practitioner", None, PASSWORD);
    let data = ["--data", "examples/referral.json", "--by", JO, "--json"];
    let args = [&["case", "open", "--workflow", "referral"][..], &data[..]].concat();
    let referral = json(&escalate(&args, &env))["reference"]
        .as_str()
        .unwrap()
        .to_string();
    let mut opened = Value::Null;
    for (event, by) in [("decline", duty), ("give_feedback", duty), ("escalate", JO)] {
        let args = ["case", "event", &referral, event, "--by", by];
        let args = [
            &args[..],
            &["--reason", "Not the threshold we see", "--json"],
        ]
        .concat();
        opened = json(&escalate(&args, &env))["opened"].clone();
    }
    let dispute = opened[0].as_str().expect("a dispute opened").to_string();
    (referral, dispute)
}

/// A new API token for `email`, a user already added.
fn token(env: &[(&str, &str)], email: &str) -> String {
    let o = escalate(&["tokens", "create", email], env);
    assert!(o.status.success(), "{}", stderr(&o));
    common::stdout(&o)
        .split_whitespace()
        .last()
        .unwrap()
        .to_string()
}

/// `GET path` of the API with the bearer `token`: status and JSON body.
async fn api_get(base: &str, path: &str, token: &str) -> (StatusCode, Value) {
    let request = Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token);
    let (status, _, body) = common::answer(request).await;
    (status, body)
}

/// The references a case's `links` (as the API answers them) name.
fn linked(case: &Value) -> Vec<&str> {
    case["links"]
        .as_array()
        .unwrap_or_else(|| panic!("no links in {case}"))
        .iter()
        .map(|l| l["reference"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_linked_case_the_reader_may_not_see_is_not_named() {
    for f in Fixture::all() {
        let env = f.env();
        let base = f.site.base.clone();
        let (referral, dispute) = escalated_referral(&f);
        // The partnership's business unit (a directory contact of every dispute, of no
        // referral) and no agency of their own: the dispute is theirs to read, the referral
        // is not.
        let unit = "business.unit@partnership.example.org";
        user_with_password(&f.db.url, unit, "manager", None, PASSWORD);
        let web = f.signed_in(unit).await;
        let (status, _, missing) = web.get("/cases/REF-2026-999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, html) = web.get(&format!("/cases/{referral}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(html, missing);
        let reads_of_referral = access_log(&env, &referral).len();

        // Its page names no linked case: not the reference, the workflow or the stage.
        let (status, _, html) = web.get(&format!("/cases/{dispute}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(!html.contains("id=\"links\""), "{html}");
        assert!(!html.contains(&format!("href=\"/cases/{referral}\"")));
        assert!(!html.contains("This case was opened from it"));
        assert!(!html.contains("Referral to children"));
        // Nor does the API's read, or its answer to an event (and to that event replayed).
        let unit_token = token(&env, unit);
        let (status, body) = api_get(&base, &format!("/api/v1/cases/{dispute}"), &unit_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(linked(&body), Vec::<&str>::new());
        for _ in 0..2 {
            let request = Client::new()
                .post(format!("{base}/api/v1/cases/{dispute}/events"))
                .bearer_auth(&unit_token)
                .header("idempotency-key", "note-1")
                .json(&serde_json::json!({"event": "note", "fields": {"text": "Seen"}}));
            let (status, _, body) = common::answer(request).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(linked(&body), Vec::<&str>::new());
        }
        // Leaving it out read nothing of the referral for them: no entry in its access log.
        assert_eq!(access_log(&env, &referral).len(), reads_of_referral);

        // Jo may read both: each names the other, on the API as on the pages.
        let jo_token = token(&env, JO);
        let (_, body) = api_get(&base, &format!("/api/v1/cases/{dispute}"), &jo_token).await;
        assert_eq!(linked(&body), [referral.as_str()]);
        // An administrator reads with a reason, so the link is one they may follow.
        let admin_token = token(&env, ADMIN);
        let path = format!("/api/v1/cases/{dispute}?reason=Audit");
        let (status, body) = api_get(&base, &path, &admin_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(linked(&body), [referral.as_str()]);
        let admin = f.signed_in(ADMIN).await;
        let (_, _, html) = admin.get(&format!("/cases/{dispute}?reason=Audit")).await;
        assert!(
            html.contains(&format!("href=\"/cases/{referral}?reason=Audit\"")),
            "{html}"
        );
        assert_eq!(access_log(&env, &referral).len(), reads_of_referral);
    }
}

#[tokio::test]
async fn linked_cases_link_to_each_other() {
    for f in Fixture::all() {
        let (referral, dispute) = escalated_referral(&f);
        let jo = JO;
        let web = f.signed_in(jo).await;
        let (status, _, html) = web.get(&format!("/cases/{referral}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(
            html.contains(&format!("href=\"/cases/{dispute}\"")),
            "{html}"
        );
        assert!(html.contains("Opened from this case"));
        assert!(html.contains("Professional disagreement, Stage 1: practitioners discuss"));
        let (status, _, html) = web.get(&format!("/cases/{dispute}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains(&format!("href=\"/cases/{referral}\"")));
        assert!(html.contains("This case was opened from it"));
    }
}
