//! The iCalendar feed of a person's deadlines through a real `escalate serve`, on each backend:
//! its address is made, replaced and revoked through the API; a real iCalendar parser reads it;
//! it holds one event per deadline `GET /api/v1/deadlines` shows its owner, at the same times,
//! with stable ids and nothing about the child; its address is never logged.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;

use common::{Served, TestDb, escalate, json, user_with_token};
use icalendar::{Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime};
use reqwest::StatusCode;
use serde_json::Value;

async fn call(method: reqwest::Method, url: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The feed's address on the served port (the API hands out `mail.base_url`'s).
fn on(served: &Served, url: &str) -> String {
    let path = &url[url.find("/calendar/").unwrap()..];
    format!("{}{path}", served.url)
}

/// The events of a feed by UID: start time and summary.
fn events(ics: &str) -> BTreeMap<String, (chrono::DateTime<chrono::Utc>, String)> {
    let calendar = Calendar::from_str(ics).unwrap();
    calendar
        .components
        .iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .map(|e| {
            let start = match e.get_start().unwrap() {
                DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => t,
                other => panic!("a deadline is a time, not {other:?}"),
            };
            (
                e.get_uid().unwrap().to_string(),
                (start, e.get_summary().unwrap().to_string()),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_feed_holds_my_deadlines_and_nothing_of_the_child() {
    for db in TestDb::all() {
        let dir = tempfile::tempdir().unwrap();
        let smtp = format!("file://{}", dir.path().display());
        let env = common::quiet(&db, &smtp);
        let week_ago = (chrono::Utc::now() - chrono::Duration::days(7)).to_rfc3339();
        let d1 = common::open_dispute(&env, None);
        let d2 = common::open_dispute(&env, Some(&week_ago));
        let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
        let stranger = user_with_token(&env, "stranger@example.org", "practitioner", None);
        let board = user_with_token(&env, "board@example.org", "board", None);
        let served = Served::start(&env);
        let base = served.url.clone();
        let feed_api = format!("{base}/api/v1/calendar/feed");

        let (status, body) = call(reqwest::Method::POST, &feed_api, Some(&priya)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let first: Value = serde_json::from_str(&body).unwrap();
        let first = first["url"].as_str().unwrap().to_string();
        assert!(
            first.starts_with("http://localhost:8080/calendar/cal_"),
            "{first}"
        );
        let (status, ics) = call(reqwest::Method::GET, &on(&served, &first), None).await;
        assert_eq!(status, StatusCode::OK, "{ics}");
        let got = events(&ics);

        // The same deadlines the API lists for her, at the same times.
        let (_, listed) = call(
            reqwest::Method::GET,
            &format!("{base}/api/v1/deadlines?per_page=100"),
            Some(&priya),
        )
        .await;
        let listed: Value = serde_json::from_str(&listed).unwrap();
        let wanted: BTreeMap<String, (chrono::DateTime<chrono::Utc>, String)> = listed["deadlines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    format!("deadline-{}@escalate", d["deadline"]["id"]),
                    (
                        d["deadline"]["due_at"].as_str().unwrap().parse().unwrap(),
                        d["reference"].as_str().unwrap().to_string(),
                    ),
                )
            })
            .collect();
        assert!(wanted.len() >= 4, "{listed}");
        assert_eq!(got.len(), wanted.len());
        for (uid, (start, reference)) in &wanted {
            let (at, summary) = &got[uid];
            assert_eq!(at, start, "{uid}");
            assert!(summary.starts_with(reference.as_str()), "{summary}");
        }
        assert!(got.values().any(|(_, s)| s.starts_with(&d1)));
        assert!(got.values().any(|(_, s)| s.starts_with(&d2)));
        for secret in ["Sam Example", "LCS-204417", "neglect", "Priya"] {
            assert!(!ics.contains(secret), "{secret} in the feed");
        }
        // Fetched again, the same events keep their ids.
        let (_, again) = call(reqwest::Method::GET, &on(&served, &first), None).await;
        assert_eq!(
            events(&again).keys().collect::<Vec<_>>(),
            got.keys().collect::<Vec<_>>()
        );
        // Each case the feed showed is in the access log.
        let log = json(&escalate(&["audit", "access", &d1, "--json"], &env));
        assert!(log.as_array().unwrap().iter().any(|e| e["action"] == "calendar"
            && e["email"] == "priya.shah@school.example.org"));

        // A new address replaces the old; revoking ends it; a made-up one is unknown.
        let (_, body) = call(reqwest::Method::POST, &feed_api, Some(&priya)).await;
        let second: Value = serde_json::from_str(&body).unwrap();
        let second = second["url"].as_str().unwrap().to_string();
        assert_ne!(first, second);
        let (status, _) = call(reqwest::Method::GET, &on(&served, &first), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(reqwest::Method::GET, &on(&served, &second), None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(reqwest::Method::DELETE, &feed_api, Some(&priya)).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = call(reqwest::Method::GET, &on(&served, &second), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = call(reqwest::Method::DELETE, &feed_api, Some(&priya)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        for made_up in [
            format!("{base}/calendar/cal_{}.ics", "0".repeat(64)),
            format!("{base}/calendar/{priya}.ics"),
            format!("{base}/calendar/x.ics"),
        ] {
            let (status, _) = call(reqwest::Method::GET, &made_up, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{made_up}");
        }

        // Someone with no case has an empty calendar; a board member has no feed; nobody
        // signed out makes one.
        let (_, body) = call(reqwest::Method::POST, &feed_api, Some(&stranger)).await;
        let url: Value = serde_json::from_str(&body).unwrap();
        let (_, ics) = call(
            reqwest::Method::GET,
            &on(&served, url["url"].as_str().unwrap()),
            None,
        )
        .await;
        assert!(events(&ics).is_empty());
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
        let (status, _) = call(reqwest::Method::POST, &feed_api, Some(&board)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = call(reqwest::Method::POST, &feed_api, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let (_, log) = served.stop();
        let token = &second[second.find("cal_").unwrap()..second.len() - 4];
        assert!(!log.contains(token), "the feed's address is in the log");
        assert!(log.contains("/calendar/{secret}"));
    }
}

/// Two requests for a new feed address at once (a double click, two tabs): each answered, and
/// one address left working, on PostgreSQL, where they really run side by side.
#[tokio::test]
async fn feeds_made_at_once_leave_one_working() {
    let Some(db) = TestDb::postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let smtp = format!("file://{}", dir.path().display());
    let env = common::quiet(&db, &smtp);
    common::open_dispute(&env, None);
    let priya = user_with_token(&env, "priya.shah@school.example.org", "practitioner", None);
    let served = Served::start(&env);
    let feed_api = format!("{}/api/v1/calendar/feed", served.url);
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (url, token) = (feed_api.clone(), priya.clone());
        racers.push(tokio::spawn(async move {
            call(reqwest::Method::POST, &url, Some(&token)).await
        }));
    }
    let mut working = 0;
    let mut urls = Vec::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        urls.push(body["url"].as_str().unwrap().to_string());
    }
    for url in &urls {
        let (status, _) = call(reqwest::Method::GET, &on(&served, url), None).await;
        if status == StatusCode::OK {
            working += 1;
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND);
        }
    }
    assert_eq!(working, 1, "{urls:?}");
}
