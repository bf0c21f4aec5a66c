//! The monthly report's web page and CSV download through a real `escalate serve`, on each
//! backend: a history seeded with the command line (back-dated `--now`) shows on the page
//! with exactly the API's figures, the CSV holds the page's rows (a formula-looking agency
//! name neutralised), the month picker explains bad input, and only the board, the
//! partnership and administrators get in. In a real browser: no accessibility violation, no
//! sideways scrolling on a phone.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use std::collections::BTreeMap;

use common::web::{
    assert_inline_scripts_allowed, assert_page, assert_redirect, client, get, sign_in, unescape,
};
use common::{
    Served, TestDb, case_event, dispute_between, escalate, mail_dir, quiet, someone_and_priya,
    stdout, user_with_password,
};
use reqwest::StatusCode;
use serde_json::Value;

const PASSWORD: &str = "correct horse battery";
const BOARD: &str = "bea.board@partnership.example.org";
const PRIYA: &str = "priya.shah@school.example.org";
/// An agency name a spreadsheet would run as a formula.
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";
/// An agency the directory does not know, typed into a case: never in a board's report.
const TYPED: &str = "Sam Example's aunt";

/// Each `data-figure="section.key"` cell of a report page and its value.
fn figures(html: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for part in html.split("data-figure=\"").skip(1) {
        let (name, rest) = part.split_once('"').unwrap();
        let value = rest[1..].split('<').next().unwrap();
        let previous = out.insert(unescape(name), unescape(value.trim()));
        assert!(previous.is_none(), "{name} twice");
    }
    out
}

/// The rows of a CSV text, each cell unquoted (RFC 4180).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut cell)),
            ('\n', false) => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (c, _) => cell.push(c),
        }
    }
    assert!(
        cell.is_empty() && row.is_empty(),
        "the CSV ends with a line end"
    );
    rows
}

/// The figures the page should show for the API's report `r`, worked out from the JSON
/// (pairs under 5 suppressed, as in everything downloaded).
fn expected(r: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let number = |v: &Value| match v {
        Value::Null => "-".to_string(),
        v => v.as_f64().unwrap().to_string(),
    };
    for key in [
        "opened",
        "resolved",
        "withdrawn",
        "unresolved",
        "open_at_end",
        "deadlines_missed",
        "median_working_days_to_resolve",
    ] {
        out.insert(format!("headline.{key}"), number(&r[key]));
    }
    for section in [
        "by_stage_reached",
        "by_outcome",
        "by_category",
        "median_working_days_in_stage",
    ] {
        for (k, v) in r[section].as_object().unwrap() {
            out.insert(format!("{section}.{k}"), number(v));
        }
    }
    // Counts of 1 to 4 by agency are hidden.
    let small = |n: u64| {
        if (1..5).contains(&n) {
            "fewer than 5".to_string()
        } else {
            n.to_string()
        }
    };
    for (k, v) in r["by_raising_agency"].as_object().unwrap() {
        out.insert(format!("by_raising_agency.{k}"), small(v.as_u64().unwrap()));
    }
    for p in r["by_agency_pair"].as_array().unwrap() {
        let shown = small(p["count"].as_u64().unwrap());
        let key = format!(
            "by_agency_pair.{} -> {}",
            p["raising"].as_str().unwrap(),
            p["receiving"].as_str().unwrap()
        );
        out.insert(key, shown);
    }
    for p in r["series"].as_array().unwrap() {
        let m = p["month"].as_str().unwrap();
        for key in ["opened", "resolved", "open_at_end"] {
            out.insert(format!("series.{m} {key}"), number(&p[key]));
        }
    }
    out.insert(
        "previous_month.opened".into(),
        number(&r["previous_month"]["opened"]),
    );
    out
}

/// Seeds disputes around March 2025 (GMT): one resolved, one escalated, one raised by an
/// agency named like a formula, and one in February. Their references.
fn seed(env: &[(&str, &str)]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let school = "Riverside Primary School";
    let csc = "Children's Social Care";
    // The directory with one more agency, named like a formula by whoever keeps it.
    let shipped = std::fs::read_to_string("config/agencies.yaml").unwrap();
    let yaml = d.join("agencies.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{shipped}\n  - id: formula\n    name: '{FORMULA}'\n    line_manager:\n      - name: F\n        email: f@formula.example.org\n"
        ),
    )
    .unwrap();
    let o = escalate(&["agencies", "import", yaml.to_str().unwrap()], env);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let february = dispute_between(env, d, "threshold", school, csc, "2025-02-20T10:00:00Z");
    let resolved = dispute_between(env, d, "threshold", school, csc, "2025-03-03T10:00:00Z");
    case_event(
        env,
        &resolved,
        "resolve",
        PRIYA,
        "2025-03-05T10:00:00Z",
        &["outcome=resolved"],
    );
    let formula = dispute_between(
        env,
        d,
        "information_sharing",
        FORMULA,
        csc,
        "2025-03-10T10:00:00Z",
    );
    let typed = dispute_between(env, d, "threshold", TYPED, csc, "2025-03-10T11:00:00Z");
    let escalated = dispute_between(
        env,
        d,
        "need_for_action",
        school,
        "riverside-health",
        "2025-03-11T10:00:00Z",
    );
    case_event(
        env,
        &escalated,
        "escalate",
        PRIYA,
        "2025-03-12T10:00:00Z",
        &[],
    );
    vec![february, resolved, formula, typed, escalated]
}

#[tokio::test]
async fn the_report_page_and_csv_show_the_apis_figures_to_those_who_may_read_them() {
    for db in TestDb::all() {
        let (_mail, smtp) = mail_dir();
        let env = quiet(&db, &smtp);
        someone_and_priya(&db.url, BOARD, "board", PASSWORD);
        let o = escalate(&["tokens", "create", BOARD], &env);
        let token = stdout(&o).split_whitespace().last().unwrap().to_string();
        let references = seed(&env);
        let served = Served::start(&env);
        let base = served.url.clone();

        // Signed out: to the sign-in page.
        let signed_out = client();
        let (status, headers, _) = get(&signed_out, &format!("{base}/reports")).await;
        assert_redirect(status, &headers, "/sign-in");

        // A board member lands on the report; `/` sends them there too.
        let board = client();
        let (status, headers, _) = sign_in(&board, &base, BOARD, PASSWORD).await;
        assert_redirect(status, &headers, "/reports");
        let (status, headers, _) = get(&board, &format!("{base}/")).await;
        assert_redirect(status, &headers, "/reports");

        // March 2025: the same figures as the API's.
        let (status, headers, html) =
            get(&board, &format!("{base}/reports?month=3&year=2025")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_page(&html, "Monthly report: March 2025");
        assert_inline_scripts_allowed(&html, headers["content-security-policy"].to_str().unwrap());
        let api: Value = reqwest::Client::new()
            .get(format!("{base}/api/v1/reports/monthly/2025-03"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(api["opened"], 4, "{api}");
        let shown = figures(&html);
        for (figure, value) in expected(&api) {
            assert_eq!(shown.get(&figure), Some(&value), "{figure}");
        }
        assert_eq!(
            shown[&format!("by_raising_agency.{FORMULA}")],
            "fewer than 5",
            "the directory's agency as named, its small count hidden"
        );
        assert_eq!(
            shown[&format!("by_raising_agency.{}", escalate::report::NOT_IN_DIRECTORY)],
            "fewer than 5",
            "an agency typed into a case, not as typed"
        );
        // The chart: an image titled for assistive technology, the table beside it.
        assert!(html.contains("role=\"img\" aria-labelledby=\"chart-title\""));
        assert!(
            html.contains("<title id=\"chart-title\">Disputes opened, resolved and open at the month's end, April 2024 to March 2025</title>"),
            "{html}"
        );
        assert_eq!(html.matches("data-figure=\"series.").count(), 12 * 3);
        assert!(
            !html.contains("style="),
            "no inline style for the CSP to refuse"
        );

        // The CSV: the page's rows exactly, one header row, the formula neutralised.
        let r = board
            .get(format!("{base}/reports/2025-03.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            r.headers()["content-disposition"],
            "attachment; filename=\"escalate-report-2025-03.csv\""
        );
        let csv = r.text().await.unwrap();
        let cli = stdout(&escalate(
            &["report", "monthly", "--month", "2025-03", "--format", "csv"],
            &env,
        ));
        assert_eq!(csv, cli, "the download is the command line's CSV");
        assert!(
            csv.contains(
                "by_raising_agency,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",fewer than 5\n"
            ),
            "{csv}"
        );
        let rows = csv_rows(&csv);
        assert_eq!(rows[0], ["section", "key", "value"]);
        assert_eq!(
            rows.iter().filter(|r| r[0] == "section").count(),
            1,
            "one header row"
        );
        let mut from_csv = BTreeMap::new();
        for row in &rows[1..] {
            assert_eq!(row.len(), 3, "{row:?}");
            for cell in row {
                assert!(
                    !(cell.len() > 1 && cell.starts_with(['=', '+', '-', '@'])),
                    "a cell a spreadsheet would run: {cell}"
                );
            }
            // What the guard added is not part of the figure.
            let key = match row[1].strip_prefix('\'') {
                Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
                _ => &row[1],
            };
            from_csv.insert(format!("{}.{key}", row[0]), row[2].clone());
        }
        assert_eq!(from_csv, shown, "the CSV's rows are the page's figures");

        // Aggregates only: no case, child or person.
        for text in [&html, &csv] {
            for secret in references.iter().map(String::as_str).chain([
                "Sam Example",
                "LCS-204417",
                "priya.shah",
                "Tom Hughes",
                TYPED,
                "aunt",
            ]) {
                assert!(!text.contains(secret), "{secret} in the report");
            }
        }

        // By default, the last complete month (London time).
        let last = escalate::report::Month::containing(chrono::Utc::now()).minus(1);
        let (status, _, html) = get(&board, &format!("{base}/reports")).await;
        assert_eq!(status, StatusCode::OK);
        assert_page(
            &html,
            &format!("Monthly report: {}", escalate::report::month_title(last)),
        );

        // The picker: bad input is explained on the page, never a server error.
        let next = escalate::report::Month::containing(chrono::Utc::now()).next();
        let future = format!(
            "month={}&year={}",
            next.first_day().format("%-m"),
            next.first_day().format("%Y")
        );
        for (query, message, field) in [
            (
                "month=13&year=2025",
                "Month must be a number from 1 to 12",
                "period-month",
            ),
            (
                "month=3&year=abcd",
                "Year must include 4 numbers",
                "period-year",
            ),
            (
                "month=3&year=",
                "The month must include a year",
                "period-year",
            ),
            (
                "month=&year=2025",
                "The month must include a month",
                "period-month",
            ),
            (
                "month=%00&year=2025",
                "Month must be a number from 1 to 12",
                "period-month",
            ),
            (
                future.as_str(),
                "The month must be this month or earlier",
                "period-month",
            ),
            (
                "month=1&month=2&year=2025",
                "Enter the month as numbers",
                "period-month",
            ),
        ] {
            let (status, _, html) = get(&board, &format!("{base}/reports?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
            assert!(html.contains("govuk-error-summary"), "{query}");
            assert!(html.contains(message), "{query}: {message}");
            assert!(html.contains(&format!("href=\"#{field}\"")), "{query}");
            assert_page(&html, "Error: Monthly report");
        }
        let huge = "9".repeat(10_000);
        let (status, _, _) = get(&board, &format!("{base}/reports?month=3&year={huge}")).await;
        assert!(status.is_client_error(), "{status}");
        for bad in ["2025-13.csv", "2025-03.txt", "x"] {
            let (status, _, _) = get(&board, &format!("{base}/reports/{bad}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        }

        // A practitioner gets the 403 page, and no figures.
        let priya = client();
        let (status, headers, _) = sign_in(&priya, &base, PRIYA, PASSWORD).await;
        assert_redirect(status, &headers, "/");
        for path in [
            "/reports",
            "/reports?month=3&year=2025",
            "/reports/2025-03.csv",
        ] {
            let (status, _, html) = get(&priya, &format!("{base}{path}")).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
            assert_page(&html, "You cannot see this");
            assert!(!html.contains("data-figure"), "{path}");
        }
        drop(served);
    }
}

#[tokio::test]
async fn the_report_page_passes_axe_and_fits_a_phone() {
    use browser::{Browser, DESKTOP, PHONE};
    use fantoccini::Locator;
    let db = TestDb::sqlite();
    let (_mail, smtp) = mail_dir();
    let env = quiet(&db, &smtp);
    user_with_password(&db.url, BOARD, "board", None, PASSWORD);
    seed(&env);
    let served = Served::start(&env);
    for (size, name) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        let Some(browser) = Browser::start(size).await else {
            return;
        };
        let c = &browser.client;
        browser.sign_in(&served.url, BOARD, PASSWORD).await;
        assert!(c.current_url().await.unwrap().path().ends_with("/reports"));
        for (path, shot) in [
            ("/reports?month=3&year=2025", "report"),
            ("/reports?month=13&year=2025", "report-error"),
        ] {
            c.goto(&format!("{}{path}", served.url)).await.unwrap();
            browser
                .check_page(&format!("{path} at {name}"), &format!("{shot}-{name}"))
                .await;
        }
        // The chart on its own, as drawn at this width.
        c.goto(&format!("{}/reports?month=3&year=2025", served.url))
            .await
            .unwrap();
        let chart = c.find(Locator::Css("figure svg")).await.unwrap();
        let png = chart.screenshot().await.unwrap();
        let path = browser.screenshot(&format!("report-{name}")).await;
        std::fs::write(path.with_file_name(format!("report-chart-{name}.png")), png).unwrap();
        browser.stop().await;
    }
    drop(served);
}
