//! `escalate report monthly`: a history seeded over three months with the binary (back-dated
//! `--now`) gives exactly the figures worked out by hand below, from the report summary and from
//! the full event log (`--from-log`) alike, the same whenever it is generated, and small
//! agency-pair cells are suppressed in CSV and HTML.

mod common;

use common::{
    TestDb, case_event as event, dispute_between as dispute, escalate, json, stderr, stdout,
};
use serde_json::{Value, json};

const RAISER: &str = "priya.shah@school.example.org";
const FRONT_DOOR: &str = "frontdoor@council.example.gov.uk";

fn ok(env: &[(&str, &str)], args: &[&str]) -> String {
    let o = escalate(args, env);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

fn referral(env: &[(&str, &str)], dir: &std::path::Path, now: &str) -> String {
    let mut data: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/referral.json").unwrap()).unwrap();
    data["channel"] = json!("written");
    let file = dir.join(format!("referral-{now}.json"));
    std::fs::write(&file, data.to_string()).unwrap();
    let out = ok(
        env,
        &[
            "case",
            "open",
            "--workflow",
            "referral",
            "--data",
            file.to_str().unwrap(),
            "--by",
            FRONT_DOOR,
            "--now",
            now,
        ],
    );
    out.split_whitespace().next().unwrap().to_string()
}

fn report(env: &[(&str, &str)], month: &str, format: &str) -> String {
    ok(
        env,
        &["report", "monthly", "--month", month, "--format", format],
    )
}

#[test]
fn a_seeded_history_gives_the_figures_worked_out_by_hand() {
    for db in TestDb::all() {
        let env = [("ESCALATE_DATABASE_URL", db.url.as_str())];
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        ok(&env, &["agencies", "import", "config/agencies.yaml"]);
        let school = "Riverside Primary School";
        let csc = "Children's Social Care";
        let health = "riverside-health"; // named by id: reported by its directory name
        let police = "Northshire Police"; // not in the directory: not reported as typed
        let unknown = escalate::report::NOT_IN_DIRECTORY;

        // January 2026 (GMT; 1 Jan the only bank holiday).
        // A: opened Mon 12 Jan, resolved Wed 14 Jan at stage 1.
        let a = dispute(&env, d, "threshold", school, csc, "2026-01-12T10:00:00Z");
        event(
            &env,
            &a,
            "resolve",
            RAISER,
            "2026-01-14T10:00:00Z",
            &["outcome=resolved"],
        );
        // B: opened Mon 26 Jan; stage 1 (2 working days) lapses Wed 28 Jan 17:00 and the tick
        // escalates it to stage 2 then, at the lapse's time (its stage-2 deadline: Thu 5 Feb
        // 17:00).
        let b = dispute(
            &env,
            d,
            "information_sharing",
            school,
            csc,
            "2026-01-26T10:00:00Z",
        );
        ok(&env, &["tick", "--now", "2026-01-29T09:00:00Z"]);

        // February 2026, the month reported on.
        // B: resolved in part Tue 3 Feb, at stage 2: 6 working days (26–30 Jan, 2 Feb).
        event(
            &env,
            &b,
            "resolve",
            RAISER,
            "2026-02-03T10:00:00Z",
            &["outcome=partly_resolved"],
        );
        // C: opened Mon 2 Feb, withdrawn Wed 4 Feb (before its deadline, Wed 4 Feb 17:00).
        let c = dispute(&env, d, "threshold", police, csc, "2026-02-02T10:00:00Z");
        event(&env, &c, "withdraw", RAISER, "2026-02-04T10:00:00Z", &[]);
        // D: opened Tue 3 Feb, resolved Thu 5 Feb at stage 1: 2 working days.
        let dd = dispute(&env, d, "threshold", school, csc, "2026-02-03T10:00:00Z");
        event(
            &env,
            &dd,
            "resolve",
            RAISER,
            "2026-02-05T10:00:00Z",
            &["outcome=resolved"],
        );
        // E: opened Mon 16 Feb, escalated Tue 17 Feb; stage 2 (5 working days) lapses Tue 24
        // Feb 17:00 (missed), and the tick takes it to stage 3 (due Wed 4 Mar 17:00).
        let e = dispute(
            &env,
            d,
            "need_for_action",
            school,
            health,
            "2026-02-16T10:00:00Z",
        );
        event(&env, &e, "escalate", RAISER, "2026-02-17T10:00:00Z", &[]);
        // F: opened Thu 26 Feb, still open at the month's end.
        let f = dispute(
            &env,
            d,
            "case_progress",
            police,
            csc,
            "2026-02-26T10:00:00Z",
        );
        // Referrals: R1 received Mon 2 Feb 09:00, accepted Tue 3 Feb 10:00 (due Tue 3 Feb
        // 17:00: in time), feedback given Wed 4 Feb 12:00 (due one working day after the
        // decision, Wed 4 Feb 17:00: in time); R2 received Wed 4 Feb 09:00, declined Fri 6 Feb
        // (due Thu 5 Feb 17:00: late), feedback given Tue 10 Feb (due Mon 9 Feb 17:00: late).
        let r1 = referral(&env, d, "2026-02-02T09:00:00Z");
        event(
            &env,
            &r1,
            "accept",
            FRONT_DOOR,
            "2026-02-03T10:00:00Z",
            &["response=early_help"],
        );
        event(
            &env,
            &r1,
            "give_feedback",
            FRONT_DOOR,
            "2026-02-04T12:00:00Z",
            &[],
        );
        let r2 = referral(&env, d, "2026-02-04T09:00:00Z");
        event(
            &env,
            &r2,
            "decline",
            FRONT_DOOR,
            "2026-02-06T10:00:00Z",
            &[],
        );
        event(
            &env,
            &r2,
            "give_feedback",
            FRONT_DOOR,
            "2026-02-10T10:00:00Z",
            &[],
        );
        ok(&env, &["tick", "--now", "2026-02-25T09:00:00Z"]);

        let first = report(&env, "2026-02", "json");
        let r: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(r["month"], "2026-02");
        // Opened C, D, E, F; resolved B (in part) and D; withdrawn C; open at the end E, F.
        assert_eq!(r["opened"], 4);
        assert_eq!(r["resolved"], 2);
        assert_eq!(r["withdrawn"], 1);
        assert_eq!(r["unresolved"], 0);
        assert_eq!(r["open_at_end"], 2);
        // Active in February: B at stage 2 from January; C, D, F at stage 1; E reached 3.
        assert_eq!(
            r["by_stage_reached"],
            json!({"1": 3, "2": 1, "3": 1, "4": 0})
        );
        assert_eq!(
            r["by_outcome"],
            json!({"partly_resolved": 1, "resolved": 1, "withdrawn": 1})
        );
        assert_eq!(
            r["by_category"],
            json!({"case_progress": 1, "need_for_action": 1, "threshold": 2})
        );
        assert_eq!(
            r["by_agency_pair"],
            json!([
                {"raising": unknown, "receiving": csc, "count": 2},
                {"raising": school, "receiving": csc, "count": 1},
                {"raising": school, "receiving": "Riverside Community Health", "count": 1},
            ])
        );
        // Every directory agency, the ones that raised none at 0 (not the partnership).
        assert_eq!(
            r["by_raising_agency"],
            json!({csc: 0, unknown: 2, "Riverside Community Health": 0, school: 2})
        );
        // E's stage-2 deadline, Tue 24 Feb.
        assert_eq!(r["deadlines_missed"], 1);
        // B 6 and D 2 working days.
        assert_eq!(r["median_working_days_to_resolve"], 4.0);
        // Stays in a stage that ended in February, in working days from the day the stage was
        // entered up to the day it was left: stage 1 of C (Mon 2 to Wed 4 Feb: 2), of D (Tue 3
        // to Thu 5 Feb: 2) and of E (Mon 16 to Tue 17 Feb: 1), median 2; stage 2 of B (Wed
        // 28 Jan to Tue 3 Feb: 28, 29, 30 Jan, 2 Feb: 4) and of E (Tue 17 to Tue 24 Feb: 17,
        // 18, 19, 20, 23 Feb: 5), median 4.5. B's stage 1 ended in January; E is still at
        // stage 3 and F at stage 1.
        assert_eq!(
            r["median_working_days_in_stage"],
            json!({"1": 2.0, "2": 4.5, "3": null, "4": null})
        );
        // January: A and B opened, A resolved, B open at the end.
        assert_eq!(
            r["previous_month"],
            json!({"month": "2026-01", "opened": 2, "resolved": 1, "withdrawn": 0,
                   "unresolved": 0, "open_at_end": 1})
        );
        assert_eq!(
            r["same_month_last_year"],
            json!({"month": "2025-02", "opened": 0, "resolved": 0, "withdrawn": 0,
                   "unresolved": 0, "open_at_end": 0})
        );
        let series = r["series"].as_array().unwrap();
        assert_eq!(series.len(), 12);
        assert_eq!(
            series[0],
            json!({"month": "2025-03", "opened": 0, "resolved": 0, "open_at_end": 0})
        );
        assert_eq!(
            series[10],
            json!({"month": "2026-01", "opened": 2, "resolved": 1, "open_at_end": 1})
        );
        assert_eq!(
            series[11],
            json!({"month": "2026-02", "opened": 4, "resolved": 2, "open_at_end": 2})
        );
        assert_eq!(
            r["referrals_decided_within_one_working_day"],
            json!({"decided": 2, "in_time": 1, "share": 0.5})
        );
        // Feedback given in February: R1's in time, R2's late.
        assert_eq!(
            r["referrals_feedback_in_time"],
            json!({"decided": 2, "in_time": 1, "share": 0.5})
        );
        assert_eq!(
            r["transfers_decided_within_deadline"],
            json!({"decided": 0, "in_time": 0, "share": null})
        );

        // The full event log gives the same report.
        let from_log =
            |month: &str| ok(&env, &["report", "monthly", "--month", month, "--from-log"]);
        assert_eq!(from_log("2026-02"), first);

        // The same when generated again, and after later events (March: F withdrawn Mon 2 Mar
        // at stage 1, which it entered Thu 26 Feb: 26, 27 Feb, 2 working days; E's stage-3
        // deadline lapses Wed 4 Mar 17:00 and the tick takes it to stage 4 then: stage 3 from
        // Tue 24 Feb, 24–27 Feb, 2 and 3 Mar, 6 working days; R3 received Mon 2 Mar 09:00,
        // accepted 11:00 (due Mon 2 Mar 17:00: in time), feedback Tue 3 Mar 10:00 (due Tue 3
        // Mar 17:00: in time)).
        assert_eq!(report(&env, "2026-02", "json"), first);
        event(&env, &f, "withdraw", RAISER, "2026-03-02T10:00:00Z", &[]);
        let r3 = referral(&env, d, "2026-03-02T09:00:00Z");
        event(
            &env,
            &r3,
            "accept",
            FRONT_DOOR,
            "2026-03-02T11:00:00Z",
            &["response=section_17_assessment"],
        );
        event(
            &env,
            &r3,
            "give_feedback",
            FRONT_DOOR,
            "2026-03-03T10:00:00Z",
            &[],
        );
        ok(&env, &["tick", "--now", "2026-03-05T09:00:00Z"]);
        assert_eq!(report(&env, "2026-02", "json"), first);
        assert_eq!(from_log("2026-02"), first);
        let march = json(&escalate(
            &["report", "monthly", "--month", "2026-03"],
            &env,
        ));
        assert_eq!(march["withdrawn"], 1);
        assert_eq!(march["open_at_end"], 1);
        assert_eq!(
            march["by_stage_reached"],
            json!({"1": 1, "2": 0, "3": 0, "4": 1})
        );
        assert_eq!(march["deadlines_missed"], 1);
        assert_eq!(
            march["median_working_days_in_stage"],
            json!({"1": 2.0, "2": null, "3": 6.0, "4": null})
        );
        assert_eq!(
            march["referrals_decided_within_one_working_day"],
            json!({"decided": 1, "in_time": 1, "share": 1.0})
        );
        assert_eq!(
            march["referrals_feedback_in_time"],
            json!({"decided": 1, "in_time": 1, "share": 1.0})
        );
        assert_eq!(
            serde_json::from_str::<Value>(&from_log("2026-03")).unwrap(),
            march
        );

        // Rebuilt from the log (six disputes, three referrals), the summary gives the same.
        assert_eq!(
            ok(&env, &["report", "rebuild"]),
            "report summary rebuilt from the event log: 9 cases\n"
        );
        assert_eq!(report(&env, "2026-02", "json"), first);

        // CSV and HTML: every agency pair here is under 5, so none shows its figure.
        let csv = report(&env, "2026-02", "csv");
        let pairs: Vec<&str> = csv
            .lines()
            .filter(|l| l.starts_with("by_agency_pair,"))
            .collect();
        assert_eq!(pairs.len(), 3, "{csv}");
        assert!(pairs.iter().all(|l| l.ends_with(",fewer than 5")), "{csv}");
        assert!(csv.contains("\nheadline,opened,4\n"), "{csv}");
        assert!(
            csv.contains(
                "\nmedian_working_days_in_stage,2,4.5\nmedian_working_days_in_stage,3,-\n"
            ),
            "{csv}"
        );
        assert!(
            csv.contains("\nreferrals_feedback_in_time,decided,2\nreferrals_feedback_in_time,in_time,1\nreferrals_feedback_in_time,share,50%\n"),
            "{csv}"
        );
        assert!(
            csv.contains(&format!("\nby_raising_agency,{unknown},fewer than 5\n")),
            "{csv}"
        );
        let html = report(&env, "2026-02", "html");
        // The three pairs and the two agencies that raised any.
        assert_eq!(html.matches("fewer than 5").count(), 5, "{html}");
        assert!(!html.contains(police) && !csv.contains(police), "{csv}");
        assert!(html.contains("Children&#39;s Social Care"), "{html}");
        assert!(!html.contains("Sam Example") && !csv.contains("LCS-204417"));

        // --out writes the file; a bad month is one line, exit 2.
        let out = d.join("report.json");
        ok(
            &env,
            &[
                "report",
                "monthly",
                "--month",
                "2026-02",
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(std::fs::read_to_string(&out).unwrap(), first);
        common::assert_one_line_error(
            &escalate(&["report", "monthly", "--month", "2026-13"], &env),
            "is not a month",
        );
    }
}
