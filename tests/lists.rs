//! `GET /api/v1/cases` and `GET /api/v1/deadlines` through a real `escalate serve`, on each
//! backend: a list holds exactly the cases its reader may read one by one (the read is the
//! oracle, for parties, colleagues, directory contacts, the partnership and strangers), in
//! order of the nearest deadline, in pages that add up to the total; filters narrow it; every
//! listed case is in the access log; bad parameters are 400 and roles that list nothing 403.

mod common;

use std::collections::BTreeSet;

use common::{Served, TestDb, escalate, json, stderr, user_with_token};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn get(url: &str, token: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Opens a case of `workflow` with the example data changed by `edit`, as `by`, at `at`.
fn open(
    env: &[(&str, &str)],
    dir: &std::path::Path,
    workflow: &str,
    by: &str,
    at: &str,
    edit: impl Fn(&mut Value),
) -> String {
    let example = format!("{}/examples/{workflow}.json", env!("CARGO_MANIFEST_DIR"));
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    edit(&mut data);
    let file = dir.join(format!("{workflow}-{}.json", rand_name()));
    std::fs::write(&file, data.to_string()).unwrap();
    let o = escalate(
        &[
            "case",
            "open",
            "--workflow",
            workflow,
            "--data",
            file.to_str().unwrap(),
            "--by",
            by,
            "--now",
            at,
            "--json",
        ],
        env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    json(&o)["reference"].as_str().unwrap().to_string()
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Every page of `GET url` (which has a query already), `per_page` at a time: the items of
/// `key`, and the total each page gave.
async fn all_pages(url: &str, key: &str, token: &str, per_page: usize) -> (Vec<Value>, i64) {
    let mut items = Vec::new();
    let mut total = None;
    for page in 1.. {
        let (status, body) = get(&format!("{url}&page={page}&per_page={per_page}"), token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t = body["total"].as_i64().unwrap();
        assert_eq!(
            *total.get_or_insert(t),
            t,
            "the total changed between pages"
        );
        assert_eq!(body["page"], page);
        let got = body[key].as_array().unwrap().clone();
        assert!(got.len() <= per_page);
        let done = got.len() < per_page;
        items.extend(got);
        if done {
            break;
        }
    }
    (items, total.unwrap())
}

/// Every case of `GET /api/v1/cases?QUERY` for `token`, 50 a page.
async fn cases(base: &str, token: &str, query: &str) -> Vec<Value> {
    let url = format!("{base}/api/v1/cases?{query}");
    all_pages(&url, "cases", token, 50).await.0
}

fn references(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|c| c["reference"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn each_list_holds_exactly_the_cases_its_reader_may_read() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", dir.path().display());
        let env = common::quiet(&db, &smtp);
        let now = chrono::Utc::now();
        let recent = (now - chrono::Duration::hours(1)).to_rfc3339();
        let long_ago = (now - chrono::Duration::days(40)).to_rfc3339();
        let a_week_ago = (now - chrono::Duration::days(7)).to_rfc3339();
        // The school against social care, opened now.
        let d1 = open(
            &env,
            dir.path(),
            "dispute",
            "priya.shah@school.example.org",
            &recent,
            |_| {},
        );
        // Health against social care, by the agency's id, long ago: overdue.
        let d2 = open(
            &env,
            dir.path(),
            "dispute",
            "nurse.a@health.example.nhs.uk",
            &long_ago,
            |d| {
                d["raised_by"] = json!({ "name": "A Nurse", "email": "Nurse.A@health.example.nhs.uk", "agency": "riverside-health" });
            },
        );
        // Two agencies the directory does not know.
        let d3 = open(
            &env,
            dir.path(),
            "dispute",
            "x@elsewhere.example.org",
            &a_week_ago,
            |d| {
                d["raised_by"] = json!({ "name": "X", "email": "x@elsewhere.example.org", "agency": "Elsewhere Academy" });
                d["respondent"] =
                    json!({ "name": "Y", "email": "y@other.example.org", "agency": "Other Place" });
            },
        );
        let r1 = open(
            &env,
            dir.path(),
            "referral",
            "jo.patel@nursery.example.org",
            &recent,
            |_| {},
        );
        let t1 = open(
            &env,
            dir.path(),
            "transfer",
            "ruth.evans@northshire.example.gov.uk",
            &a_week_ago,
            |_| {},
        );
        // Moved on (its first stage's deadlines met, the next stage's started), and closed.
        let event = |reference: &str, event: &str| {
            let o = escalate(
                &[
                    "case",
                    "event",
                    reference,
                    event,
                    "--by",
                    "priya.shah@school.example.org",
                    "--reason=Test",
                    "--now",
                    &recent,
                ],
                &env,
            );
            assert!(o.status.success(), "{}", stderr(&o));
        };
        let d4 = open(
            &env,
            dir.path(),
            "dispute",
            "priya.shah@school.example.org",
            &a_week_ago,
            |_| {},
        );
        event(&d4, "escalate");
        let d5 = open(
            &env,
            dir.path(),
            "dispute",
            "priya.shah@school.example.org",
            &a_week_ago,
            |_| {},
        );
        event(&d5, "withdraw");
        let everything: BTreeSet<String> = [&d1, &d2, &d3, &d4, &d5, &r1, &t1]
            .into_iter()
            .cloned()
            .collect();

        // Each reader, and the cases the policy gives them (the reads below must agree).
        #[rustfmt::skip]
        let readers: Vec<(&str, &str, Option<&str>, Vec<&String>)> = vec![
            ("priya.shah@school.example.org", "practitioner", None, vec![&d1, &d4, &d5]),
            ("teacher@school.example.org", "practitioner", Some("riverside-primary"), vec![&d1, &d4, &d5]),
            ("dsl@school.example.org", "manager", None, vec![&d1, &d4, &d5]),
            ("team.manager@council.example.gov.uk", "manager", None, vec![&d1, &d4, &d5, &d2, &r1]),
            ("frontdoor@council.example.gov.uk", "practitioner", Some("Children's Social Care"), vec![&d1, &d4, &d5, &d2, &r1]),
            ("named.nurse@health.example.nhs.uk", "manager", Some("riverside-health"), vec![&d2]),
            ("nurse.a@health.example.nhs.uk", "practitioner", None, vec![&d2]),
            ("business.unit@partnership.example.org", "manager", None, vec![&d1, &d4, &d5, &d2, &d3]),
            ("ruth.evans@northshire.example.gov.uk", "practitioner", None, vec![&t1]),
            ("stranger@example.org", "senior_manager", Some("riverside-health"), vec![&d2]),
            ("nobody@example.org", "practitioner", None, vec![]),
            ("chair@partnership.example.org", "partnership", None, vec![&d1, &d4, &d5, &d2, &d3, &r1, &t1]),
        ];
        let tokens: Vec<String> = readers
            .iter()
            .map(|(email, role, agency, _)| user_with_token(&env, email, role, *agency))
            .collect();
        let board = user_with_token(&env, "board@example.org", "board", None);
        let admin = user_with_token(&env, "admin@example.org", "admin", None);

        let served = Served::start(&env);
        let base = served.url.clone();
        for ((email, _, _, expected), token) in readers.iter().zip(&tokens) {
            // The oracle: what this reader may read, case by case.
            let mut readable = BTreeSet::new();
            for reference in &everything {
                let (status, _) = get(&format!("{base}/api/v1/cases/{reference}"), token).await;
                if status == StatusCode::OK {
                    readable.insert(reference.clone());
                } else {
                    assert_eq!(status, StatusCode::NOT_FOUND, "{email} {reference}");
                }
            }
            let expected: BTreeSet<String> = expected.iter().map(|r| r.to_string()).collect();
            assert_eq!(readable, expected, "{email} reads");

            let (items, total) =
                all_pages(&format!("{base}/api/v1/cases?"), "cases", token, 2).await;
            assert_eq!(references(&items), readable, "{email} lists");
            assert_eq!(items.len() as i64, total, "{email}");
            assert_eq!(items.len(), readable.len(), "{email}: a case listed twice");
            // Nearest deadline first; cases with none after those with one.
            let dues: Vec<Option<Time>> = items
                .iter()
                .map(|c| c["next_deadline"]["due_at"].as_str().map(time))
                .collect();
            let mut sorted = dues.clone();
            sorted.sort_by_key(|d| (d.is_none(), *d));
            assert_eq!(dues, sorted, "{email}: not in deadline order");
            // Each case's next deadline and overdue flag are what its own read shows.
            for item in &items {
                let reference = item["reference"].as_str().unwrap();
                let (_, case) = get(&format!("{base}/api/v1/cases/{reference}"), token).await;
                let deadlines = case["deadlines"].as_array().unwrap();
                let next = deadlines
                    .iter()
                    .filter(|d| d["status"] == "pending")
                    .min_by_key(|d| (time(d["due_at"].as_str().unwrap()), d["id"].as_i64()));
                assert_eq!(
                    item["next_deadline"]["id"],
                    next.map_or(Value::Null, |d| d["id"].clone()),
                    "{email} {reference}"
                );
                let open = case["closed_at"].is_null();
                let overdue = open
                    && deadlines.iter().any(|d| {
                        d["kind"] == "lapse"
                            && ((d["status"] == "pending"
                                && time(d["due_at"].as_str().unwrap()) <= chrono::Utc::now())
                                || (d["status"] == "fired"
                                    && d["slot"]
                                        == json!({ "kind": "state", "name": case["state"] })))
                    });
                assert_eq!(item["overdue"], overdue, "{email} {reference}");
            }
            // No opening data, no child, in a list.
            for item in &items {
                assert!(item.get("data").is_none());
                assert!(!item.to_string().contains("Example"), "{item}");
            }

            // Deadlines: exactly the pending ones of the open cases they read.
            let (deadlines, total) =
                all_pages(&format!("{base}/api/v1/deadlines?"), "deadlines", token, 3).await;
            assert_eq!(deadlines.len() as i64, total);
            let mut wanted = BTreeSet::new();
            for reference in &readable {
                let (_, case) = get(&format!("{base}/api/v1/cases/{reference}"), token).await;
                for d in case["deadlines"].as_array().unwrap() {
                    if d["status"] == "pending" && case["closed_at"].is_null() {
                        wanted.insert((reference.clone(), d["id"].as_i64().unwrap()));
                    }
                }
            }
            let listed: BTreeSet<(String, i64)> = deadlines
                .iter()
                .map(|d| {
                    (
                        d["reference"].as_str().unwrap().to_string(),
                        d["deadline"]["id"].as_i64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(listed, wanted, "{email} deadlines");
            let dues: Vec<Time> = deadlines
                .iter()
                .map(|d| time(d["deadline"]["due_at"].as_str().unwrap()))
                .collect();
            assert!(dues.windows(2).all(|w| w[0] <= w[1]), "{email}: {dues:?}");
        }

        let partnership = tokens.last().unwrap();
        // Filters narrow the partnership's whole list.
        let items = cases(&base, partnership, "workflow=dispute").await;
        assert_eq!(
            references(&items),
            [&d1, &d2, &d3, &d4, &d5].into_iter().cloned().collect()
        );
        let items = cases(&base, partnership, "overdue=true").await;
        assert!(references(&items).contains(&d2), "{items:?}");
        assert!(!references(&items).contains(&d1));
        assert!(items.iter().all(|c| c["overdue"] == true));
        let all = cases(&base, partnership, "").await;
        let overdue: BTreeSet<String> = references(
            &all.iter()
                .filter(|c| c["overdue"] == true)
                .cloned()
                .collect::<Vec<_>>(),
        );
        assert_eq!(references(&items), overdue);
        let state = all[0]["state"].as_str().unwrap().to_string();
        let items = cases(&base, partnership, &format!("state={state}")).await;
        assert!(!items.is_empty() && items.iter().all(|c| c["state"] == state.as_str()));
        // Search by part of a reference, a party's address or agency; LIKE's wildcards are text.
        let tail = &d3[d3.len() - 6..];
        let items = cases(&base, partnership, &format!("q={tail}")).await;
        assert_eq!(references(&items), [d3.clone()].into());
        let items = cases(&base, partnership, "q=ELSEWHERE").await;
        assert_eq!(references(&items), [d3.clone()].into());
        let items = cases(&base, partnership, "q=%25").await;
        assert!(items.is_empty(), "{items:?}");
        // A search never widens a list: the school's lead finds nothing of health's case.
        let items = cases(&base, &tokens[2], "q=health").await;
        assert!(items.is_empty());
        // Deadlines due before a time, and overdue ones.
        let (soon, _) = all_pages(
            &format!(
                "{base}/api/v1/deadlines?due_before={}",
                urlencode(&now.to_rfc3339())
            ),
            "deadlines",
            partnership,
            50,
        )
        .await;
        assert!(
            soon.iter()
                .all(|d| time(d["deadline"]["due_at"].as_str().unwrap()) < now)
        );
        assert!(soon.iter().any(|d| d["reference"] == d2.as_str()));
        let (late, _) = all_pages(
            &format!("{base}/api/v1/deadlines?overdue=true"),
            "deadlines",
            partnership,
            50,
        )
        .await;
        assert!(!late.is_empty());
        assert!(
            late.iter()
                .all(|d| d["overdue"] == true && d["deadline"]["kind"] == "lapse")
        );

        // Every listed case is in the access log, as a list.
        let o = escalate(&["audit", "access", &d3, "--json"], &env);
        let log = json(&o);
        let listed_by: BTreeSet<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "list")
            .map(|e| e["email"].as_str().unwrap())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|e| {
                if e.starts_with("business") {
                    "business.unit"
                } else {
                    e
                }
            })
            .collect();
        assert_eq!(
            listed_by,
            ["business.unit", "chair@partnership.example.org"].into(),
            "those who listed {d3}"
        );

        // Roles that list no case, and bad parameters.
        for token in [&board, &admin] {
            for path in ["cases?", "deadlines?"] {
                let (status, body) = get(&format!("{base}/api/v1/{path}"), token).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
                assert_eq!(body["error"], "forbidden");
            }
        }
        for query in [
            "cases?page=0",
            "cases?page=abc",
            "cases?per_page=101",
            "cases?per_page=-1",
            "cases?overdue=yes",
            "cases?workflow=nope",
            "cases?q=a%0Ab",
            "deadlines?due_before=tomorrow",
            "deadlines?overdue=1",
        ] {
            let (status, body) = get(&format!("{base}/api/v1/{query}"), partnership).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
            assert_eq!(body["error"], "bad_request", "{query}");
            let message = body["message"].as_str().unwrap();
            assert!(!message.contains('\n'), "{message}");
        }
        let long = "a".repeat(201);
        let (status, _) = get(&format!("{base}/api/v1/cases?q={long}"), partnership).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // A page past the end is empty, with the total.
        let (status, body) = get(&format!("{base}/api/v1/cases?page=99"), partnership).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["cases"], json!([]));
        assert_eq!(body["total"], 7);
        // The totals kept by the database (every case, every case of one workflow) and those
        // counted (someone's cases, other filters) are what the pages hold, past the end too.
        for (query, token, wanted) in [
            ("workflow=dispute", partnership, 5),
            ("workflow=referral", partnership, 1),
            ("workflow=dispute&state=stage1", partnership, 3),
            ("", &tokens[3], 5),
            ("workflow=dispute", &tokens[3], 4),
        ] {
            let url = format!("{base}/api/v1/cases?{query}");
            let (items, total) = all_pages(&url, "cases", token, 2).await;
            assert_eq!((items.len() as i64, total), (wanted, wanted), "{query}");
            let (status, body) = get(&format!("{url}&page=99"), token).await;
            assert_eq!((status, &body["total"]), (StatusCode::OK, &json!(wanted)));
        }
        // The closed case has no deadline: it comes last.
        let all = cases(&base, partnership, "").await;
        assert_eq!(all.last().unwrap()["reference"], d5.as_str());
        assert!(all.last().unwrap()["next_deadline"].is_null());
        let moved = all.iter().find(|c| c["reference"] == d4.as_str()).unwrap();
        assert_ne!(moved["state"], "stage1");
        assert!(moved["next_deadline"]["due_at"].is_string());
        // A total kept from an earlier page is not kept past a case opened since, even by
        // another process: the team manager's list grows by the case naming social care.
        let url = format!("{base}/api/v1/cases?per_page=2");
        let (_, before) = get(&url, &tokens[3]).await;
        assert_eq!(before["total"], 5);
        let d6 = open(
            &env,
            dir.path(),
            "dispute",
            "priya.shah@school.example.org",
            &recent,
            |_| {},
        );
        let (items, total) =
            all_pages(&format!("{base}/api/v1/cases?"), "cases", &tokens[3], 2).await;
        assert_eq!(total, 6);
        assert!(references(&items).contains(&d6), "{items:?}");
        drop(served);
    }
}

type Time = chrono::DateTime<chrono::Utc>;

fn time(text: &str) -> Time {
    text.parse().unwrap()
}

fn urlencode(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

/// Cases opened before the lists' index existed (migration 0012) are indexed when `serve`
/// next starts, once, and then listed like the others.
#[tokio::test]
async fn cases_opened_before_the_index_are_listed_after_a_start() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", dir.path().display());
        let env = common::quiet(&db, &smtp);
        let old = common::open_dispute(&env, None);
        let new = common::open_dispute(&env, None);
        let token = user_with_token(&env, "dsl@school.example.org", "manager", None);
        // As a database from before 0012 is left by it: the old case has no parties kept.
        common::sql(
            &db.url,
            &[
                &format!(
                    "DELETE FROM case_parties WHERE case_id = (SELECT id FROM cases WHERE reference = '{old}')"
                ),
                "INSERT INTO party_reindex (reason) VALUES ('test')",
            ],
        )
        .await;
        let served = Served::start(&env);
        assert!(
            served
                .log()
                .contains("indexed the parties of earlier cases"),
            "{}",
            served.log()
        );
        let (items, total) = all_pages(
            &format!("{}/api/v1/cases?", served.url),
            "cases",
            &token,
            10,
        )
        .await;
        assert_eq!(references(&items), [old, new].into());
        assert_eq!(total, 2);
        let (_, log) = served.stop();
        // A second start has nothing to do.
        let served = Served::start(&env);
        let (_, again) = served.stop();
        assert!(
            !again.contains("indexed the parties"),
            "{again}\n---\n{log}"
        );
    }
}
