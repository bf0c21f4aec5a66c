//! The whole journey issue 13 asks for, in one real headless Chromium: a safeguarding lead
//! signs in, opens a dispute through the form and its check page, escalates it, sees the new
//! stage and its deadline, and signs out; a practitioner of another agency then signs in on the
//! same browser and can neither find the case in their list (nor by its reference) nor open its
//! page; they sign out. Each page is checked with axe-core.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use browser::{Browser, DESKTOP};
use common::web::{PASSWORD, PRIYA, Site, add_priya, next_due_shown};
use common::{TestDb, escalate, json, user_with_password};
use fantoccini::Locator;

/// A nurse of Riverside Community Health: not named by the dispute, nor a contact of its
/// agencies.
const NURSE: &str = "nurse@health.example.nhs.uk";

#[tokio::test]
async fn a_lead_opens_and_escalates_a_dispute_that_another_agency_cannot_find() {
    let db = TestDb::sqlite();
    let site = Site::start(&db);
    let (env, base) = (site.env(), site.base.clone());
    add_priya(&db.url);
    user_with_password(
        &db.url,
        NURSE,
        "practitioner",
        Some("riverside-health"),
        PASSWORD,
    );
    let Some(browser) = Browser::start(DESKTOP).await else {
        return;
    };

    // Priya opens a dispute: the chooser, the form, the check page, confirm.
    browser.sign_in(&base, PRIYA, PASSWORD).await;
    browser
        .client
        .goto(&format!("{base}/cases/new"))
        .await
        .unwrap();
    browser.click("label[for='workflow']").await;
    browser.submit("/cases/new", "#summary").await;
    browser.click("label[for='category']").await;
    browser
        .type_into("summary", "The referral about neglect was not accepted.")
        .await;
    browser.type_into("child-reference", "LCS-204417").await;
    browser.type_into("respondent-name", "Tom Hughes").await;
    browser
        .type_into("respondent-email", "tom.hughes@council.example.gov.uk")
        .await;
    browser
        .click("#respondent-agency option[value=\"Children's Social Care\"]")
        .await;
    let dispute = "/cases/new/dispute";
    browser.submit(dispute, "h2.deadlines").await;
    browser
        .check_page("check your answers", "journey-check")
        .await;
    browser
        .submit(&format!("{dispute}/check"), "#next-deadline")
        .await;
    let path = browser.path("/cases/DSP-").await;
    let reference = path.trim_start_matches("/cases/").to_string();
    let stage = browser.text_of("#stage").await;
    assert!(stage.contains("Stage 1"), "{stage}");
    let next = browser.text_of("#next-deadline").await;
    assert!(next.contains(&next_due_shown(&env, &reference)), "{next}");
    browser.check_page("the new case", "journey-case").await;

    // Escalated through its form: the new stage and its deadline.
    let link = browser
        .client
        .find(Locator::LinkText("Escalate to stage 2"))
        .await
        .expect("an escalate button");
    link.click().await.unwrap();
    browser.text_of("textarea#reason").await;
    browser
        .type_into("reason", "No reply from social care since Monday")
        .await;
    let success = ".govuk-notification-banner--success";
    browser
        .submit(&format!("/cases/{reference}/events/escalate"), success)
        .await;
    let stage = browser.text_of("#stage").await;
    assert!(stage.contains("Stage 2"), "{stage}");
    let next = browser.text_of("#next-deadline").await;
    assert!(next.contains(&next_due_shown(&env, &reference)), "{next}");
    let case = json(&escalate(&["case", "show", &reference, "--json"], &env));
    assert_eq!(case["state"], "stage2", "{case}");
    browser
        .check_page("the escalated case", "journey-escalated")
        .await;

    // My cases lists it, at its new stage.
    browser.client.goto(&format!("{base}/")).await.unwrap();
    let table = browser.text_of("table").await;
    assert!(
        table.contains(&reference) && table.contains("Stage 2"),
        "{table}"
    );
    browser.check_page("my cases", "journey-my-cases").await;

    // Signed out: back to the sign-in page, and the case page asks for a sign-in again.
    browser.submit("/sign-out", "#email").await;
    browser
        .client
        .goto(&format!("{base}/cases/{reference}"))
        .await
        .unwrap();
    browser.path("/sign-in").await;

    // Another agency's practitioner: not in their list, not by its reference, no page.
    browser.sign_in(&base, NURSE, PASSWORD).await;
    let list = browser.client.source().await.unwrap();
    assert!(!list.contains(&reference), "listed to another agency");
    browser
        .client
        .goto(&format!("{base}/?q={reference}"))
        .await
        .unwrap();
    let searched = browser.text_of("main").await;
    assert!(searched.contains("No cases match"), "{searched}");
    browser
        .client
        .goto(&format!("{base}/cases/{reference}"))
        .await
        .unwrap();
    let heading = browser.text_of("h1").await;
    assert_eq!(heading, "Page not found");
    let page = browser.client.source().await.unwrap();
    assert!(
        !page.contains("LCS-204417") && !page.contains("Tom Hughes"),
        "the case's data on a page for another agency"
    );
    browser
        .check_page("the page another agency gets", "journey-not-found")
        .await;
    browser.submit("/sign-out", "#email").await;
    browser.stop().await;
}
