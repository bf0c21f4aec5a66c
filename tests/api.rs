//! The JSON API through a real `escalate serve` on a free port, on each backend: who may read
//! which case (a table of roles and relations), what an unseen case looks like (exactly like
//! no case), and that every read is in the access log.

mod common;

use common::{Served, TestDb, answer, escalate, json, stderr, stdout, user_with_token};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get(url: &str, token: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    answer(request).await
}

/// A JSON `POST` as `token`, with the extra `headers` (`If-Match`, `Idempotency-Key`).
fn json_post(
    url: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new()
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

#[tokio::test]
async fn who_reads_which_case() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        assert!(
            escalate(&["agencies", "import", "config/agencies.yaml"], &env)
                .status
                .success()
        );
        let reference = common::open_dispute(&env, None);
        let served = Served::start(&env);
        let base = served.url.clone();
        let case_url = format!("{base}/api/v1/cases/{reference}");

        // Unauthenticated probes.
        let (status, _, body) = get(&format!("{base}/healthz"), None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );
        let (status, _, body) = get(&format!("{base}/readyz"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["schema_version"], escalate::store::latest_schema());

        // No token, a malformed one, an unknown one: 401, saying how to sign in.
        let (status, headers, body) = get(&case_url, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");
        assert!(headers.contains_key("www-authenticate"));
        for bad in ["not-a-token", "esc_0123"] {
            let (status, _, _) = get(&case_url, Some(bad)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
        }

        let table = [
            // who, role, agency, status
            (
                "priya.shah@school.example.org",
                "practitioner",
                None,
                StatusCode::OK,
            ), // party
            ("dsl@school.example.org", "manager", None, StatusCode::OK), // contact of the raiser's agency
            (
                "teacher@school.example.org",
                "practitioner",
                Some("riverside-primary"),
                StatusCode::OK,
            ), // own agency
            (
                "named.nurse@health.example.nhs.uk",
                "manager",
                Some("riverside-health"),
                StatusCode::NOT_FOUND,
            ), // another agency
            (
                "stranger@example.org",
                "practitioner",
                None,
                StatusCode::NOT_FOUND,
            ), // nobody
            (
                "business.unit@partnership.example.org",
                "partnership",
                None,
                StatusCode::OK,
            ),
            (
                "board@partnership.example.org",
                "board",
                None,
                StatusCode::NOT_FOUND,
            ),
            (
                "admin@partnership.example.org",
                "admin",
                None,
                StatusCode::FORBIDDEN,
            ), // no reason given
        ];
        let missing = format!("{base}/api/v1/cases/DSP-2026-999999");
        let seq = json(&escalate(&["case", "show", &reference, "--json"], &env))["seq"].clone();
        let mut tokens = Vec::new();
        for (email, role, agency, wanted) in table {
            let token = user_with_token(&env, email, role, agency);
            let (status, headers, body) = get(&case_url, Some(&token)).await;
            assert_eq!(status, wanted, "{email}: {body}");
            if status == StatusCode::OK {
                assert_eq!(body["reference"], reference.as_str());
                assert!(body["history"].as_array().is_some_and(|h| !h.is_empty()));
                assert_eq!(headers["etag"], format!("\"{seq}\"").as_str());
            }
            if status == StatusCode::NOT_FOUND {
                // Exactly what a case that does not exist looks like.
                assert_eq!(
                    body,
                    json!({ "error": "not_found", "message": format!("no case with reference '{reference}'") })
                );
                let (s, _, none) = get(&missing, Some(&token)).await;
                assert_eq!(s, StatusCode::NOT_FOUND);
                assert_eq!(none["message"], "no case with reference 'DSP-2026-999999'");
            }
            assert_eq!(headers["x-content-type-options"], "nosniff");
            assert!(headers.contains_key("x-request-id"));
            tokens.push((email, token));
        }

        // An administrator reads with a reason, recorded; never acts.
        let admin = &tokens[7].1;
        let (status, _, _) = get(&format!("{case_url}?reason=%20"), Some(admin)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, body) = get(
            &format!("{case_url}?reason=Subject%20access%20request%2042"),
            Some(admin),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Bad references are 400; unknown routes 404 as JSON.
        let (status, _, body) =
            get(&format!("{base}/api/v1/cases/..%2Fetc"), Some(&tokens[0].1)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let (status, _, body) = get(&format!("{base}/api/v1/nothing"), None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );

        // Every request about the case is in its access log, with its answer.
        let log = json(&escalate(&["audit", "access", &reference, "--json"], &env));
        let entries: Vec<(String, u64)> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["email"].as_str().unwrap().to_string(),
                    e["status"].as_u64().unwrap(),
                )
            })
            .collect();
        let mut wanted: Vec<(String, u64)> = table
            .iter()
            .map(|(email, _, _, status)| (email.to_string(), u64::from(status.as_u16())))
            .collect();
        wanted.push(("admin@partnership.example.org".into(), 403));
        wanted.push(("admin@partnership.example.org".into(), 200));
        assert_eq!(entries, wanted);
        let last = log.as_array().unwrap().last().unwrap();
        assert_eq!(last["reason"], "Subject access request 42");
        assert_eq!(last["address"], "127.0.0.1");
        let text = stdout(&escalate(&["audit", "access", &reference], &env));
        assert!(text.contains("reason: Subject access request 42"), "{text}");

        // The log names no token and no case data.
        let (exit, logged) = served.stop();
        assert!(exit.success(), "{logged}");
        for (_, token) in &tokens {
            assert!(!logged.contains(&token[4..]), "a token was logged");
        }
        assert!(!logged.contains("Sam Example"));
    }
}

async fn post(
    url: &str,
    token: &str,
    if_match: Option<&str>,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let headers: Vec<(&str, &str)> = if_match.map(|tag| ("if-match", tag)).into_iter().collect();
    answer(json_post(url, token, &headers, body)).await
}

#[tokio::test]
async fn events_through_the_api() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        assert!(
            escalate(&["agencies", "import", "config/agencies.yaml"], &env)
                .status
                .success()
        );
        let reference = common::open_dispute(&env, None);
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let teacher = user_with_token(
            &env,
            "teacher@school.example.org",
            "practitioner",
            Some("riverside-primary"),
        );
        let stranger = user_with_token(&env, "stranger@example.org", "practitioner", None);
        let board = user_with_token(&env, "board@partnership.example.org", "board", None);
        let admin = user_with_token(&env, "admin@partnership.example.org", "admin", None);
        let served = Served::start(&env);
        let events = format!("{}/api/v1/cases/{reference}/events", served.url);
        let seq = |env: &[(&str, &str)]| {
            json(&escalate(&["case", "show", &reference, "--json"], env))["seq"]
                .as_i64()
                .unwrap()
        };
        let at = seq(&env);
        let tag = format!("\"{at}\"");
        let escalate_body = r#"{"event": "escalate", "reason": "No reply since Monday"}"#;

        // Malformed bodies are 400 and write nothing.
        for bad in [
            "{",
            r#"{"event": 3}"#,
            r#"{"event": "note", "by": "engine"}"#,
            r#"{"event": "note", "fields": {"text": ["a"]}}"#,
        ] {
            let (status, _, body) = post(&events, &priya, None, bad).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
            assert_eq!(body["error"], "bad_request");
        }
        let (status, _, _) = post(&events, &priya, Some("seven"), escalate_body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Not visible: 404; visible but not theirs to take: 403; the workflow says no: 422.
        let (status, _, _) = post(&events, &stranger, None, escalate_body).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Roles that never act are told so whether or not the case exists.
        let missing = format!("{}/api/v1/cases/DSP-2026-999999/events", served.url);
        for token in [&board, &admin] {
            for url in [&events, &missing] {
                let (status, _, _) = post(url, token, None, escalate_body).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{url}");
            }
        }
        let (status, _, _) = post(&events, &admin, None, escalate_body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, body) = post(&events, &teacher, None, escalate_body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _, body) = post(&events, &priya, None, r#"{"event": "escalate"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("needs field 'reason'"),
            "{body}"
        );
        let (status, _, body) = post(&events, &priya, None, r#"{"event": "record_form"}"#).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("refused"))
        );
        assert_eq!(seq(&env), at, "nothing was written");

        // With the current ETag it is recorded as the signed-in user.
        let (status, headers, body) = post(&events, &priya, Some(&tag), escalate_body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "stage2");
        assert_eq!(headers["etag"], format!("\"{}\"", at + 1).as_str());
        let last = body["history"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], "priya.shah@school.example.org");
        // The same request with the old ETag is stale: 409, and nothing more is written.
        let (status, _, body) = post(&events, &priya, Some(&tag), escalate_body).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::CONFLICT, Some("stale"))
        );
        // So is the ETag's bare number, as some clients send it.
        let bare = at.to_string();
        let (status, _, _) = post(&events, &priya, Some(&bare), escalate_body).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(seq(&env), at + 1);

        // Eight writers with the same ETag at once: exactly one wins, the rest are stale.
        let at = seq(&env);
        let tag = format!("\"{at}\"");
        let mut racers = Vec::new();
        for i in 0..8 {
            let (url, token, tag) = (events.clone(), priya.clone(), tag.clone());
            racers.push(tokio::spawn(async move {
                let body = format!(r#"{{"event": "note", "fields": {{"text": "racer {i}"}}}}"#);
                post(&url, &token, Some(&tag), &body).await.0
            }));
        }
        let mut won = 0;
        for r in racers {
            match r.await.unwrap() {
                StatusCode::OK => won += 1,
                StatusCode::CONFLICT => {}
                other => panic!("{other}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(seq(&env), at + 1);

        // 16 writers at once, no If-Match: each note recorded once or refused as a conflict
        // (never half), and the chain intact.
        let at = seq(&env);
        let mut writers = Vec::new();
        for i in 0..16 {
            let (url, token) = (events.clone(), priya.clone());
            writers.push(tokio::spawn(async move {
                post(
                    &url,
                    &token,
                    None,
                    &format!(r#"{{"event": "note", "fields": {{"text": "note {i}"}}}}"#),
                )
                .await
            }));
        }
        let mut recorded = 0;
        for w in writers {
            let (status, _, body) = w.await.unwrap();
            match status {
                StatusCode::OK => recorded += 1,
                StatusCode::CONFLICT => assert_eq!(body["error"], "conflict"),
                other => panic!("{other}: {body}"),
            }
        }
        assert!(recorded > 0);
        assert_eq!(seq(&env), at + recorded);
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stdout(&o));
        let log = json(&escalate(&["audit", "access", &reference, "--json"], &env));
        let acts = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "act:note")
            .count();
        assert_eq!(acts, 8 + 16);

        // Over HTTP too: a revoked token, a disabled user's, an expired one are all 401.
        let case_url = format!("{}/api/v1/cases/{reference}", served.url);
        let store = escalate::store::connect(&db.url).await.unwrap();
        let expired = escalate::access::credentials::new_token();
        let user = store.user("stranger@example.org").await.unwrap().unwrap();
        let now = chrono::Utc::now();
        let day = chrono::TimeDelta::days(1);
        store
            .add_token(
                user.id,
                "old",
                &expired.hash,
                now - day - day,
                now - day,
                None,
            )
            .await
            .unwrap();
        let (status, _, _) = get(&case_url, Some(&expired.secret)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = get(&case_url, Some(&priya)).await;
        assert_eq!(status, StatusCode::OK);
        let ids = json(&escalate(&["tokens", "list", "--json"], &env));
        let id = ids
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["email"] == "priya.shah@school.example.org")
            .unwrap()["id"]
            .to_string();
        assert!(escalate(&["tokens", "revoke", &id], &env).status.success());
        let (status, _, _) = get(&case_url, Some(&priya)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _, _) = get(&case_url, Some(&teacher)).await;
        assert_eq!(status, StatusCode::OK);
        let o = escalate(&["users", "disable", "teacher@school.example.org"], &env);
        assert!(o.status.success());
        let (status, _, _) = get(&case_url, Some(&teacher)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        drop(served);
    }
}

/// An event recorded through the API and its access-log entry commit together: with the log
/// refusing the entry (a trigger stands in for a failing disk or a full table), the event is
/// not recorded either, and the client is told to try again; refusals are still logged on
/// their own.
#[tokio::test]
async fn an_event_and_its_access_entry_commit_together() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = common::quiet(&db, &smtp);
        let reference = common::open_dispute(&env, None);
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let served = Served::start(&env);
        let events = format!("{}/api/v1/cases/{reference}/events", served.url);
        let show = || json(&escalate(&["case", "show", &reference, "--json"], &env));
        let acts = || {
            let log = json(&escalate(&["audit", "access", &reference, "--json"], &env));
            log.as_array()
                .unwrap()
                .iter()
                .filter(|e| e["action"].as_str().unwrap().starts_with("act:"))
                .map(|e| {
                    (
                        e["action"].as_str().unwrap().to_string(),
                        e["status"].as_u64().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let before = show();

        // The access log refuses every answered action's entry from now on.
        if db.url.starts_with("sqlite") {
            common::sql(
                &db.url,
                &["CREATE TRIGGER refuse_acts BEFORE INSERT ON access_log \
                   WHEN NEW.action LIKE 'act:%' AND NEW.status = 200 \
                   BEGIN SELECT RAISE(ABORT, 'the access log is refusing entries'); END"],
            )
            .await;
        } else {
            common::sql(
                &db.url,
                &[
                    "CREATE FUNCTION refuse_acts() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'the access log is refusing entries'; END $$",
                    "CREATE TRIGGER refuse_acts BEFORE INSERT ON access_log FOR EACH ROW \
                     WHEN (NEW.action LIKE 'act:%' AND NEW.status = 200) \
                     EXECUTE FUNCTION refuse_acts()",
                ],
            )
            .await;
        }
        // A note, and an escalation (a new state, deadlines, messages): neither is recorded.
        for body in [
            r#"{"event": "note", "fields": {"text": "Left a message"}}"#,
            r#"{"event": "escalate", "reason": "No reply since Monday"}"#,
        ] {
            let (status, _, answer) = post(&events, &priya, None, body).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}: {answer}");
            assert_eq!(answer["error"], "unavailable");
        }
        let after = show();
        assert_eq!(after["seq"], before["seq"]);
        assert_eq!(after["state"], before["state"]);
        assert_eq!(after["history"], before["history"]);
        assert_eq!(after["deadlines"], before["deadlines"]);
        assert_eq!(after["outbox"], before["outbox"]);
        // The failed attempts are logged as answered (503), and a refusal is still logged on
        // its own.
        let (status, _, _) = post(&events, &priya, None, r#"{"event": "escalate"}"#).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let mut wanted = vec![
            ("act:note".to_string(), 503),
            ("act:escalate".to_string(), 503),
            ("act:escalate".to_string(), 422),
        ];
        assert_eq!(acts(), wanted);

        // With the log working again, the event and its entry are both there.
        let restore = if db.url.starts_with("sqlite") {
            "DROP TRIGGER refuse_acts"
        } else {
            "DROP TRIGGER refuse_acts ON access_log"
        };
        common::sql(&db.url, &[restore]).await;
        let (status, _, answer) = post(
            &events,
            &priya,
            None,
            r#"{"event": "escalate", "reason": "No reply since Monday"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["state"], "stage2");
        assert_eq!(answer["seq"], before["seq"].as_i64().unwrap() + 1);
        // The answer is the case as it is now, exactly as a read gives it.
        let now = show();
        assert_eq!(answer["history"], now["history"]);
        assert_eq!(answer["deadlines"], now["deadlines"]);
        assert_eq!(answer["outbox"], now["outbox"]);
        wanted.push(("act:escalate".to_string(), 200));
        assert_eq!(acts(), wanted);
        drop(served);
    }
}

#[tokio::test]
async fn workflows_agencies_and_the_events_a_caller_may_take() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    assert!(
        escalate(&["agencies", "import", "config/agencies.yaml"], &env)
            .status
            .success()
    );
    let reference = common::open_dispute(&env, None);
    let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
    let dsl = user_with_token(&env, "dsl@school.example.org", "manager", None);
    let board = user_with_token(&env, "board@partnership.example.org", "board", None);
    let served = Served::start(&env);
    let base = &served.url;

    let (status, _, list) = get(&format!("{base}/api/v1/workflows"), Some(&priya)).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["dispute", "referral", "transfer"]);
    let (status, _, dispute) = get(&format!("{base}/api/v1/workflows/dispute"), Some(&priya)).await;
    assert_eq!(status, StatusCode::OK);
    let stage1 = dispute["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "stage1")
        .unwrap();
    assert_eq!(stage1["within"], "2 working days");
    let escalate_event = stage1["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "escalate")
        .unwrap();
    assert_eq!(escalate_event["to"], "stage2");
    assert_eq!(escalate_event["fields"][0]["name"], "reason");
    assert_eq!(escalate_event["fields"][0]["required"], true);
    let (status, _, _) = get(&format!("{base}/api/v1/workflows/nope"), Some(&priya)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&format!("{base}/api/v1/workflows"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _, agencies) = get(&format!("{base}/api/v1/agencies"), Some(&priya)).await;
    assert_eq!(status, StatusCode::OK);
    let text = agencies.to_string();
    assert!(text.contains("Riverside Primary School"), "{text}");
    assert!(!text.contains('@'), "no contact addresses: {text}");

    // What each may take now: the raiser the stage's moves, the line manager only the
    // workflow-wide records at stage 1; a board member nothing, told so.
    let allowed = format!("{base}/api/v1/cases/{reference}/events/allowed");
    let names = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, headers, mine) = get(&allowed, Some(&priya)).await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(
        names(&mine),
        ["escalate", "resolve", "withdraw", "note", "agree_action"]
    );
    assert_eq!(mine["roles"], json!(["raiser"]));
    assert!(headers.contains_key("etag"));
    let (_, _, theirs) = get(&allowed, Some(&dsl)).await;
    assert_eq!(names(&theirs), ["note", "agree_action"]);
    let (status, _, _) = get(&allowed, Some(&board)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_per_address() {
    let db = TestDb::sqlite();
    let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
    let good = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
    let served = Served::start(&env);
    let url = format!("{}/api/v1/workflows", served.url);
    // No credentials at all is not a failed guess.
    for _ in 0..30 {
        assert_eq!(get(&url, None).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(get(&url, Some(&good)).await.0, StatusCode::OK);
    let wrong = format!("esc_{}", "0".repeat(64));
    for _ in 0..20 {
        assert_eq!(get(&url, Some(&wrong)).await.0, StatusCode::UNAUTHORIZED);
    }
    // The 21st bad try within the minute is refused as too many; a good token still gets in
    // (an address many people share is not locked out by one of them guessing).
    let (status, headers, body) = get(&url, Some(&wrong)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "rate_limited");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(get(&url, Some(&good)).await.0, StatusCode::OK);
    let (status, _, _) = get(&url, Some("not-even-a-token")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

async fn post_with_key(
    url: &str,
    token: &str,
    key: &str,
    body: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    answer(json_post(url, token, &[("idempotency-key", key)], body)).await
}

#[tokio::test]
async fn a_retried_or_double_submitted_event_is_recorded_once() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let reference = common::open_dispute(&env, None);
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let tom = user_with_token(
            &env,
            "tom.hughes@council.example.gov.uk",
            "practitioner",
            None,
        );
        let served = Served::start(&env);
        let events = format!("{}/api/v1/cases/{reference}/events", served.url);
        let seq = || {
            json(&escalate(&["case", "show", &reference, "--json"], &env))["seq"]
                .as_i64()
                .unwrap()
        };
        let at = seq();
        let note = r#"{"event": "note", "fields": {"text": "Called the duty team"}}"#;

        // Sent, then sent again (a retry after a lost answer): one note, the same answer.
        let (status, headers, first) = post_with_key(&events, &priya, "k-1", note).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert!(!headers.contains_key("idempotent-replayed"));
        let (status, headers, again) = post_with_key(&events, &priya, "k-1", note).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(headers["idempotent-replayed"], "true");
        assert_eq!(headers["recorded-version"], (at + 1).to_string().as_str());
        assert_eq!(again["seq"], first["seq"]);
        assert_eq!(seq(), at + 1);

        // Double-clicked: eight at once with one key, one note.
        let mut clicks = Vec::new();
        for _ in 0..8 {
            let (url, token) = (events.clone(), priya.clone());
            clicks.push(tokio::spawn(async move {
                post_with_key(
                    &url,
                    &token,
                    "k-2",
                    r#"{"event": "note", "fields": {"text": "Twice?"}}"#,
                )
                .await
                .0
            }));
        }
        for c in clicks {
            assert_eq!(c.await.unwrap(), StatusCode::OK);
        }
        assert_eq!(seq(), at + 2);

        // The same key with another request is refused; another user's same key is theirs.
        let (status, _, body) = post_with_key(
            &events,
            &priya,
            "k-1",
            r#"{"event": "note", "fields": {"text": "Other"}}"#,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("idempotency_key_reused")
            )
        );
        let (status, headers, _) = post_with_key(&events, &tom, "k-1", note).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("idempotent-replayed"));
        assert_eq!(seq(), at + 3);
        // A key that is not one is 400, and writes nothing.
        let (status, _, _) = post_with_key(&events, &priya, "a key with spaces", note).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(seq(), at + 3);

        // Double-clicked on a form that names the version it showed (If-Match, as the web's
        // forms do): the first moves the case on, so the others find it stale, yet each is
        // answered as the first's replay, and one note is recorded.
        let version = format!("\"{}\"", at + 3);
        let mut clicks = Vec::new();
        for _ in 0..8 {
            let (url, token, version) = (events.clone(), priya.clone(), version.clone());
            clicks.push(tokio::spawn(async move {
                let headers = [("idempotency-key", "k-3"), ("if-match", version.as_str())];
                let body = r#"{"event": "note", "fields": {"text": "Once"}}"#;
                answer(json_post(&url, &token, &headers, body)).await.0
            }));
        }
        for c in clicks {
            assert_eq!(c.await.unwrap(), StatusCode::OK);
        }
        assert_eq!(seq(), at + 4);
        let o = escalate(&["audit", "verify"], &env);
        assert!(o.status.success(), "{}", stdout(&o));
    }
}

#[tokio::test]
async fn metrics_count_cases_deadlines_mail_and_requests_for_an_admin_only() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = [
            ("ESCALATE_DATABASE_URL", db.url.as_str()),
            ("ESCALATE_SMTP_URL", smtp.as_str()),
        ];
        for _ in 0..2 {
            let o = escalate(
                &[
                    "case",
                    "open",
                    "--workflow",
                    "dispute",
                    "--data",
                    "examples/dispute.json",
                    "--by",
                    "priya.shah@school.example.org",
                ],
                &env,
            );
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let admin = user_with_token(&env, "admin@partnership.example.org", "admin", None);
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let served = Served::start(&env);
        let url = format!("{}/metrics", served.url);
        assert_eq!(get(&url, None).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(get(&url, Some(&priya)).await.0, StatusCode::FORBIDDEN);
        // Two reads of a case, one of them of a case that does not exist.
        let case = format!("{}/api/v1/cases/DSP-2026-000001", served.url);
        assert_eq!(get(&case, Some(&priya)).await.0, StatusCode::OK);
        let none = format!("{}/api/v1/cases/DSP-2026-000099", served.url);
        assert_eq!(get(&none, Some(&priya)).await.0, StatusCode::NOT_FOUND);
        let response = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = response.text().await.unwrap();
        let line = |prefix: &str| -> Option<String> {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .map(str::to_string)
        };
        assert_eq!(
            line("escalate_cases{workflow=\"dispute\",state=\"stage1\"}").unwrap(),
            "escalate_cases{workflow=\"dispute\",state=\"stage1\"} 2"
        );
        // Each case has its stage-1 lapse and warning pending, nothing overdue.
        assert_eq!(
            line("escalate_deadlines_pending{kind=\"lapse\"}").unwrap(),
            "escalate_deadlines_pending{kind=\"lapse\"} 2"
        );
        assert!(line("escalate_deadlines_overdue{").is_none(), "{text}");
        let route = "route=\"/api/v1/cases/{reference}\"";
        assert_eq!(
            line(&format!("escalate_http_request_duration_seconds_count{{method=\"GET\",{route},status=\"200\"}}")).unwrap(),
            format!("escalate_http_request_duration_seconds_count{{method=\"GET\",{route},status=\"200\"}} 1")
        );
        assert!(line(&format!("escalate_http_request_duration_seconds_count{{method=\"GET\",{route},status=\"404\"}}")).is_some());
        // Routes, never references.
        assert!(!text.contains("DSP-2026"), "{text}");
    }
}

#[tokio::test]
async fn opening_a_case_through_the_api() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let stranger = user_with_token(&env, "stranger@example.org", "practitioner", None);
        let board = user_with_token(&env, "board@partnership.example.org", "board", None);
        let served = Served::start(&env);
        let url = format!("{}/api/v1/cases", served.url);
        let data = std::fs::read_to_string("examples/dispute.json").unwrap();
        let body = format!(r#"{{"workflow": "dispute", "data": {data}}}"#);
        let count = || {
            json(&escalate(&["case", "list", "--json"], &env))
                .as_array()
                .unwrap()
                .len()
        };

        // A preview first: what opening would do, nothing written; refused as opening is.
        let preview_url = format!("{url}/preview");
        let (status, _, preview) = post(&preview_url, &priya, None, &body).await;
        assert_eq!(status, StatusCode::OK, "{preview}");
        assert_eq!(preview["state"], "stage1");
        assert_eq!(count(), 0);
        let (status, _, _) = post(&preview_url, &stranger, None, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, _) = post(&preview_url, &priya, None, r#"{"workflow": "dispute""#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(count(), 0);

        let (status, headers, case) = post_with_key(&url, &priya, "open-1", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        // Opened a moment after the preview, its deadlines are those the preview showed.
        let due = |v: &Value| -> Vec<String> {
            let mut d: Vec<String> = v["deadlines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| format!("{} {}", d["due_at"], d["explanation"]))
                .collect();
            d.sort();
            d
        };
        assert!(!due(&preview).is_empty());
        assert_eq!(due(&preview), due(&case));
        let reference = case["reference"].as_str().unwrap().to_string();
        assert_eq!(
            headers["location"],
            format!("/api/v1/cases/{reference}").as_str()
        );
        assert_eq!(case["state"], "stage1");
        assert!(case["deadlines"].as_array().is_some_and(|d| !d.is_empty()));
        assert_eq!(case["history"][0]["actor"], "priya.shah@school.example.org");
        // The same request again (a retry): the same case, not a second one.
        let (status, headers, again) = post_with_key(&url, &priya, "open-1", &body).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers["idempotent-replayed"], "true");
        assert_eq!(again["reference"], reference.as_str());
        assert_eq!(count(), 1);

        // Not named by the data, a role that opens nothing, bad data, not an object.
        let (status, _, body_) = post(&url, &stranger, None, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body_}");
        let (status, _, _) = post(&url, &board, None, &body).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _, refused) = post(
            &url,
            &priya,
            None,
            r#"{"workflow": "dispute", "data": {"category": "threshold"}}"#,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let (status, _, _) = post(
            &url,
            &priya,
            None,
            r#"{"workflow": "dispute", "data": [1]}"#,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _, _) = post(
            &url,
            &priya,
            None,
            &format!(r#"{{"workflow": "nope", "data": {data}}}"#),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(count(), 1);
    }
}

#[tokio::test]
async fn the_calendar_and_the_monthly_report_over_http() {
    let db = TestDb::sqlite();
    let mail = tempfile::tempdir().unwrap();
    let smtp = format!("file://{}", mail.path().display());
    let env = [
        ("ESCALATE_DATABASE_URL", db.url.as_str()),
        ("ESCALATE_SMTP_URL", smtp.as_str()),
    ];
    let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
    let board = user_with_token(&env, "board@partnership.example.org", "board", None);
    common::open_dispute(&env, Some("2026-10-14T10:00:00Z"));
    // Every deadline due by now fires before serve starts, so that its own sweep cannot move
    // the case between the two reports compared below.
    assert!(escalate(&["tick"], &env).status.success());
    let served = Served::start(&env);
    let base = &served.url;

    // Christmas Eve after the cut-off: counting starts on the 27th, after Christmas and Boxing
    // Day; the same answer as the command line's.
    let url = format!(
        "{base}/api/v1/calendar/due?from=2024-12-24T18:00:00Z&after=3%20working%20days&division=england-and-wales"
    );
    let (status, _, due) = get(&url, Some(&priya)).await;
    assert_eq!(status, StatusCode::OK, "{due}");
    let cli = json(&escalate(
        &[
            "calendar",
            "due",
            "--from",
            "2024-12-24T18:00:00Z",
            "--after",
            "3 working days",
            "--json",
        ],
        &env,
    ));
    assert_eq!(due, cli);
    assert_eq!(due["due"], "2025-01-02T17:00:00Z");
    for bad in [
        "from=yesterday&after=3%20working%20days",
        "from=2024-12-24T18:00:00Z&after=3%20wrking%20days",
        "from=2024-12-24T18:00:00Z&after=3%20working%20days&division=mars",
        "after=3%20working%20days",
    ] {
        let (status, _, body) =
            get(&format!("{base}/api/v1/calendar/due?{bad}"), Some(&priya)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request", "{bad}: JSON like every error");
    }
    // Well formed, but beyond the years the calendar counts: refused, not malformed.
    let (status, _, body) = get(
        &format!("{base}/api/v1/calendar/due?from=2099-12-31T09:00:00Z&after=5%20working%20days"),
        Some(&priya),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "out_of_range");

    // The report: the board reads it (the same figures as the command line), a practitioner not.
    let url = format!("{base}/api/v1/reports/monthly/2026-10");
    let (status, _, report) = get(&url, Some(&board)).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let cli = json(&escalate(
        &[
            "report", "monthly", "--month", "2026-10", "--format", "json",
        ],
        &env,
    ));
    assert_eq!(report, cli);
    assert_eq!(report["opened"], 1);
    assert_eq!(get(&url, Some(&priya)).await.0, StatusCode::FORBIDDEN);
    let (status, _, _) = get(
        &format!("{base}/api/v1/reports/monthly/2026-13"),
        Some(&board),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A refusal (403 or 404) says nothing of the case: the error shape only, no opening data, no
/// party; and to someone who may not read the case, not even its state.
fn refusal_tells_nothing(body: &Value, may_read: bool) {
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "message"], "{body}");
    let text = body.to_string();
    let mut secrets = vec![
        "Sam Example",
        "LCS-204417",
        "neglect",
        "party.",
        "tom.hughes",
    ];
    if !may_read {
        secrets.push("stage");
    }
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} in {body}");
    }
}

/// Every role against a case on which the user is a party, a directory contact of a party's
/// agency, of a party's agency, and none of these: reading it (without and with a reason),
/// recording an event and asking which events they may take, each answered as
/// `policy::case_verdict` says (404 hidden, 403 forbidden, a reason where it asks for one;
/// where it allows an act, the workflow's roles then decide), every request in the access log.
/// (`who_reads_which_case` above covers the shipped directory's people and the log's shape.)
#[tokio::test]
async fn every_role_against_every_relation_to_a_case() {
    use escalate::access::Role;
    use escalate::access::policy::{CaseAction, Relation, Verdict, acts_on_cases, case_verdict};
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        // The shipped directory, the school with a line manager contact of each role.
        let shipped = std::fs::read_to_string("config/agencies.yaml").unwrap();
        let contacts: String = Role::ALL
            .iter()
            .map(|r| {
                format!(
                    "      - name: Contact {r}\n        email: contact.{r}@school.example.org\n"
                )
            })
            .collect();
        let dsl = "        email: dsl@school.example.org\n";
        let directory = shipped.replacen(dsl, &format!("{dsl}{contacts}"), 1);
        assert_ne!(directory, shipped);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("agencies.yaml");
        std::fs::write(&file, directory).unwrap();
        let o = escalate(&["agencies", "import", file.to_str().unwrap()], &env);
        assert!(o.status.success(), "{}", stderr(&o));

        // One case per role, raised by that role's party; four users of the role for it.
        let store = escalate::store::connect(&db.url).await.unwrap();
        let mut data: Value =
            serde_json::from_str(&std::fs::read_to_string("examples/dispute.json").unwrap())
                .unwrap();
        let mut rows = Vec::new();
        for role in Role::ALL {
            let party = format!("party.{role}@school.example.org");
            data["raised_by"]["email"] = json!(party);
            let o = common::with_stdin(
                &[
                    "case",
                    "open",
                    "--workflow",
                    "dispute",
                    "--data",
                    "-",
                    "--by",
                    &party,
                    "--json",
                ],
                &db.url,
                data.to_string().as_bytes(),
            );
            let reference = json(&o)["reference"].as_str().unwrap().to_string();
            for (relation, email, agency) in [
                (Relation::Party, party.clone(), None),
                (
                    Relation::Contact,
                    format!("contact.{role}@school.example.org"),
                    None,
                ),
                (
                    Relation::OwnAgency,
                    format!("own.{role}@school.example.org"),
                    Some("Riverside Primary School"),
                ),
                (
                    Relation::Unrelated,
                    format!("other.{role}@health.example.nhs.uk"),
                    Some("Riverside Community Health"),
                ),
            ] {
                let new = escalate::store::NewUser {
                    email: common::user(&email),
                    name: email.clone(),
                    agency: agency.map(String::from),
                    role,
                    password_hash: None,
                };
                let now = chrono::Utc::now();
                let added = escalate::store::AdminEntry {
                    at: now,
                    user_id: None,
                    actor: "test".into(),
                    action: "add_user".into(),
                    subject: email.clone(),
                    detail: None,
                    address: None,
                    form_key: None,
                };
                let user = store.add_user(&new, now, &added).await.unwrap().unwrap();
                let token = store
                    .issue_token(user.id, "test", 1, now, None)
                    .await
                    .unwrap();
                rows.push((role, relation, reference.clone(), token.secret));
            }
        }
        let served = Served::start(&env);
        let base = &served.url;
        let mut asked = std::collections::HashMap::<String, usize>::new();
        let mut reads = std::collections::BTreeMap::<u16, usize>::new();
        for (role, relation, reference, token) in &rows {
            let (role, relation) = (*role, *relation);
            let who = format!("{role} {relation:?}");
            let case_url = format!("{base}/api/v1/cases/{reference}");
            let read = case_verdict(role, relation, CaseAction::Read);
            let may_read = read == Verdict::Allow;
            let status_of = |v: Verdict, with_reason: bool| match v {
                Verdict::Allow => StatusCode::OK,
                Verdict::WithReason if with_reason => StatusCode::OK,
                Verdict::WithReason | Verdict::Forbidden => StatusCode::FORBIDDEN,
                Verdict::Hidden => StatusCode::NOT_FOUND,
            };

            // Reading, without a reason and with one.
            for with_reason in [false, true] {
                let url = match with_reason {
                    false => case_url.clone(),
                    true => format!("{case_url}?reason=Quality%20audit%20sample"),
                };
                let (status, _, body) = get(&url, Some(token)).await;
                assert_eq!(status, status_of(read, with_reason), "{who} read: {body}");
                if !with_reason {
                    *reads.entry(status.as_u16()).or_default() += 1;
                }
                if status == StatusCode::OK {
                    assert_eq!(body["reference"], reference.as_str());
                    assert_eq!(body["data"]["child"]["name"], "Sam Example");
                } else {
                    refusal_tells_nothing(&body, may_read);
                }
                if status == StatusCode::NOT_FOUND {
                    assert_eq!(
                        body["message"],
                        format!("no case with reference '{reference}'")
                    );
                }
            }

            // Recording a note. A role that never acts is told so before the case is looked
            // up (whether it exists is not said); else the policy, then the roles the case
            // gives the user.
            let act = case_verdict(role, relation, CaseAction::Act);
            let act_status = match acts_on_cases(role) {
                true => status_of(act, false),
                false => StatusCode::FORBIDDEN,
            };
            let by_workflow = matches!(relation, Relation::Party | Relation::Contact);
            let wanted = match act_status {
                StatusCode::OK if !by_workflow => StatusCode::FORBIDDEN,
                status => status,
            };
            let (status, _, body) = post(
                &format!("{case_url}/events"),
                token,
                None,
                r#"{"event": "note", "fields": {"text": "Checked"}}"#,
            )
            .await;
            assert_eq!(status, wanted, "{who} act: {body}");
            if status == StatusCode::OK {
                let last = body["history"].as_array().unwrap().last().unwrap().clone();
                assert_eq!(last["event"], "note", "{who}");
            } else {
                refusal_tells_nothing(&body, may_read);
            }

            // The events they may take (perhaps none).
            let (status, _, body) = get(&format!("{case_url}/events/allowed"), Some(token)).await;
            assert_eq!(status, act_status, "{who} allowed: {body}");
            if status == StatusCode::OK {
                let names: Vec<&str> = body["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["name"].as_str().unwrap())
                    .collect();
                assert_eq!(names.contains(&"note"), by_workflow, "{who}: {names:?}");
                assert_eq!(
                    names.contains(&"escalate"),
                    relation == Relation::Party,
                    "{who}: {names:?}"
                );
            } else {
                refusal_tells_nothing(&body, may_read);
            }
            *asked.entry(reference.clone()).or_default() += 4;
        }

        // As the policy's own table reads: the three case-working roles see all but the
        // unrelated case, the partnership all, the board none, an administrator none unasked.
        assert_eq!(
            reads,
            std::collections::BTreeMap::from([(200, 3 * 3 + 4), (403, 4), (404, 3 + 4)])
        );

        // Every one of those requests, answered or refused, is in its case's access log.
        for (reference, count) in &asked {
            let log = json(&escalate(&["audit", "access", reference, "--json"], &env));
            assert_eq!(log.as_array().unwrap().len(), *count, "{reference}");
        }
        drop(served);
    }
}

/// Lists and reads side by side share the access log's commits (a group commit): each request
/// still answers only after its own entries are written, and every one is there exactly once.
#[tokio::test]
async fn reads_side_by_side_each_leave_their_own_access_entries() {
    for db in TestDb::all() {
        let mail = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", mail.path().display());
        let env = common::quiet(&db, &smtp);
        let references: Vec<String> = (0..3).map(|_| common::open_dispute(&env, None)).collect();
        let tokens: Vec<String> = (0..4)
            .map(|i| {
                user_with_token(
                    &env,
                    &format!("chair{i}@partnership.example.org"),
                    "partnership",
                    None,
                )
            })
            .collect();
        let served = Served::start(&env);
        let base = served.url.clone();
        let mut requests = tokio::task::JoinSet::new();
        for round in 0..8 {
            for (i, token) in tokens.iter().enumerate() {
                let url = if round % 2 == 0 {
                    format!("{base}/api/v1/cases?per_page=100")
                } else {
                    format!("{base}/api/v1/cases/{}", references[i % 3])
                };
                let token = token.clone();
                requests.spawn(async move {
                    let (status, _, body) = get(&url, Some(&token)).await;
                    (status, body)
                });
            }
        }
        while let Some(answer) = requests.join_next().await {
            let (status, body) = answer.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        for (n, reference) in references.iter().enumerate() {
            let log = json(&escalate(&["audit", "access", reference, "--json"], &env));
            let mut seen: Vec<(String, String)> = log
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["email"].as_str().unwrap().to_string(),
                        e["action"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            seen.sort();
            // Each reader listed it 4 times; the one reading it (i % 3 == n) read it 4 times.
            let mut wanted = Vec::new();
            for i in 0..4 {
                let email = format!("chair{i}@partnership.example.org");
                for _ in 0..4 {
                    wanted.push((email.clone(), "list".to_string()));
                    if i % 3 == n {
                        wanted.push((email.clone(), "read".to_string()));
                    }
                }
            }
            wanted.sort();
            assert_eq!(seen, wanted, "{reference}");
        }
        drop(served);
    }
}
