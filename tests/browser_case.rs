//! The case pages in a real headless Chromium, at desktop and phone widths: sign in, open a
//! case, escalate it through its form (once with the reason left out), see the new stage and
//! its deadline; axe-core finds no WCAG 2.2 AA violation on the case page, the event form (also
//! with its errors shown) and the monitoring form, and no page scrolls sideways on a phone.
//! Screenshots go to `target/screenshots/`.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use browser::{Browser, DESKTOP, PHONE};
use common::web::{PASSWORD, PRIYA, Site, add_priya, next_due_shown};
use common::{TestDb, escalate, open_dispute, stderr};
use fantoccini::Locator;

/// Follows the link `text` on the page shown, then waits (WebDriver polls) until the next page
/// shows an element `css` selects.
async fn follow(browser: &Browser, text: &str, css: &str) {
    let link = browser.client.find(Locator::LinkText(text)).await;
    link.unwrap_or_else(|e| panic!("no link {text}: {e}"))
        .click()
        .await
        .unwrap();
    browser.text_of(css).await;
}

#[tokio::test]
async fn a_case_is_escalated_in_the_browser_and_its_pages_are_accessible() {
    let db = TestDb::sqlite();
    let site = Site::start(&db);
    let env = site.env();
    add_priya(&db.url);
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
    let base = &site.base;

    for (size, width) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        let reference = open_dispute(&env, None);
        let Some(browser) = Browser::start(size).await else {
            return;
        };
        browser.sign_in(base, PRIYA, PASSWORD).await;

        // The case page, from My cases.
        follow(&browser, &reference, "#next-deadline").await;
        let title = browser.client.title().await.unwrap();
        assert!(title.starts_with(&reference), "{title}");
        assert!(title.contains("Stage 1: practitioners discuss"), "{title}");
        browser
            .check_page("the case page", &format!("case-{width}"))
            .await;

        // Its escalation form: sent without a reason, then with one.
        follow(&browser, "Escalate to stage 2", "textarea#reason").await;
        let name = format!("event-{width}");
        browser.check_page("the event form", &name).await;
        let action = format!("/cases/{reference}/events/escalate");
        browser.submit(&action, ".govuk-error-summary").await;
        let summary = browser.text_of(".govuk-error-summary").await;
        assert!(summary.contains("Enter the reason"), "{summary}");
        let name = format!("event-errors-{width}");
        browser
            .check_page("the event form with errors", &name)
            .await;
        let reason = "No reply from social care since Monday";
        browser.type_into("reason", reason).await;
        let success = ".govuk-notification-banner--success";
        browser.submit(&action, success).await;
        let said = browser.text_of(success).await;
        assert!(said.contains("Escalate to stage 2: recorded"), "{said}");
        let next = browser.text_of("#next-deadline").await;
        assert!(next.contains(&next_due_shown(&env, &reference)), "{next}");
        let stage = browser.text_of("#stage").await;
        assert!(stage.contains("Stage 2: line managers or designated safeguarding leads"));
        let name = format!("case-escalated-{width}");
        browser.check_page("the case after escalating", &name).await;

        // The monitoring form of the case at stage 3, from its page.
        let page = format!("{base}/cases/{at_stage_3}");
        browser.client.goto(&page).await.unwrap();
        follow(&browser, "View the monitoring form", ".govuk-back-link").await;
        let heading = browser.text_of("h1").await;
        assert_eq!(heading, "Professional disagreement: monitoring form");
        let name = format!("monitoring-form-{width}");
        browser.check_page("the monitoring form", &name).await;
        browser.stop().await;
    }
}
