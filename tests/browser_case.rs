//! The case pages in a real headless Chromium, at desktop and phone widths: sign in, open a
//! case, escalate it through its form (once with the reason left out), see the new stage and
//! its deadline; axe-core finds no WCAG 2.2 AA violation on the case page, the event form (also
//! with its errors shown) and the monitoring form, and no page scrolls sideways on a phone.
//! Screenshots go to `target/screenshots/`.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use std::time::Duration;

use browser::{Browser, DESKTOP, PHONE};
use chrono::{DateTime, Utc};
use common::{Served, TestDb, escalate, json, open_dispute, password_user, quiet, stderr};
use fantoccini::Locator;

const PRIYA: &str = "priya.shah@school.example.org";
const PASSWORD: &str = "correct horse battery";

/// The soonest pending lapse deadline of the case, as pages show it (London).
fn next_due(env: &[(&str, &str)], reference: &str) -> String {
    let case = json(&escalate(&["case", "show", reference, "--json"], env));
    let due = case["deadlines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["status"] == "pending" && d["kind"] == "lapse")
        .filter_map(|d| d["due_at"].as_str())
        .min()
        .map(|t| t.parse::<DateTime<Utc>>().unwrap())
        .expect("a pending deadline");
    due.with_timezone(&chrono_tz::Europe::London)
        .format("%a %-d %b %Y at %-I:%M%P")
        .to_string()
}

/// Waits (polling the page, at most 10 s) until `css` is on it.
async fn shown(browser: &Browser, css: &str) -> fantoccini::elements::Element {
    match browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(e) => {
            let page = browser.client.source().await.unwrap_or_default();
            panic!("{css}: {e}; the page shown: {page}")
        }
    }
}

/// Clicks what `locator` finds on the page shown.
async fn click(browser: &Browser, locator: Locator<'_>) {
    let element = browser.client.find(locator).await.unwrap();
    element.click().await.unwrap();
}

/// Types `text` into the field `css` finds.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    shown(browser, css).await.send_keys(text).await.unwrap();
}

/// The text of the element with id `id`.
async fn text_of(browser: &Browser, id: &str) -> String {
    let element = browser.client.find(Locator::Id(id)).await.unwrap();
    element.text().await.unwrap()
}

/// No accessibility violations, and (on a phone) no sideways scrolling, on the page shown.
async fn check(browser: &Browser, what: &str) {
    assert_eq!(
        browser.accessibility_violations().await,
        Vec::<String>::new(),
        "{what}"
    );
    assert!(!browser.scrolls_sideways().await, "{what} scrolls sideways");
}

#[tokio::test]
async fn a_case_is_escalated_in_the_browser_and_its_pages_are_accessible() {
    let db = TestDb::sqlite();
    let mail = tempfile::tempdir().unwrap();
    let smtp = format!("file://{}", mail.path().display());
    let env = quiet(&db, &smtp);
    password_user(
        &db.url,
        PRIYA,
        "practitioner",
        Some("riverside-primary"),
        PASSWORD,
    );
    // A case at stage 3, for the monitoring form.
    let at_stage_3 = open_dispute(&env, None);
    for reason in ["No reply", "Still no reply"] {
        let args = [
            "case",
            "event",
            &at_stage_3,
            "escalate",
            "--by",
            PRIYA,
            "--reason",
            reason,
        ];
        let o = escalate(&args, &env);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let served = Served::start(&env);
    let base = served.url.clone();
    let submit = || Locator::Css("main form button[type=submit]");

    for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        let reference = open_dispute(&env, None);
        let Some(browser) = Browser::start(size).await else {
            return;
        };
        let c = &browser.client;
        c.goto(&format!("{base}/sign-in")).await.unwrap();
        type_into(&browser, "#email", PRIYA).await;
        type_into(&browser, "#password", PASSWORD).await;
        click(&browser, submit()).await;
        shown(&browser, "table.govuk-table").await;

        // The case page, from My cases.
        click(&browser, Locator::LinkText(&reference)).await;
        shown(&browser, "#next-deadline").await;
        let title = c.title().await.unwrap();
        assert!(title.starts_with(&reference), "{title}");
        assert!(title.contains("Stage 1: practitioners discuss"), "{title}");
        check(&browser, "the case page").await;
        browser.screenshot(&format!("case-{width}")).await;

        // Its escalation form: sent without a reason, then with one.
        click(&browser, Locator::LinkText("Escalate to stage 2")).await;
        shown(&browser, "textarea#reason").await;
        check(&browser, "the event form").await;
        browser.screenshot(&format!("event-{width}")).await;
        click(&browser, submit()).await;
        let summary = shown(&browser, ".govuk-error-summary").await;
        assert!(summary.text().await.unwrap().contains("Enter the reason"));
        check(&browser, "the event form with errors").await;
        browser.screenshot(&format!("event-errors-{width}")).await;
        type_into(
            &browser,
            "textarea#reason",
            "No reply from social care since Monday",
        )
        .await;
        click(&browser, submit()).await;
        let banner = shown(&browser, ".govuk-notification-banner--success").await;
        let said = banner.text().await.unwrap();
        assert!(said.contains("Escalate to stage 2: recorded"), "{said}");
        let next = text_of(&browser, "next-deadline").await;
        assert!(next.contains(&next_due(&env, &reference)), "{next}");
        let stage = text_of(&browser, "stage").await;
        assert!(stage.contains("Stage 2: line managers or designated safeguarding leads"));
        check(&browser, "the case page after escalating").await;
        browser.screenshot(&format!("case-escalated-{width}")).await;

        // The monitoring form of the case at stage 3, from its page.
        c.goto(&format!("{base}/cases/{at_stage_3}")).await.unwrap();
        shown(&browser, "#next-deadline").await;
        click(&browser, Locator::LinkText("View the monitoring form")).await;
        let heading = shown(&browser, "h1").await.text().await.unwrap();
        assert_eq!(heading, "Professional disagreement: monitoring form");
        check(&browser, "the monitoring form").await;
        browser
            .screenshot(&format!("monitoring-form-{width}"))
            .await;
        browser.stop().await;
    }
}
