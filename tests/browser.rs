//! The web UI in a real headless Chromium. This file starts with the harness's own check: the
//! accessibility checker finds faults where there are some, so that its silence on the pages
//! means something.

#[path = "common/browser.rs"]
#[allow(dead_code)]
mod browser;
mod common;

use browser::{Browser, DESKTOP};

#[tokio::test]
async fn the_accessibility_check_finds_the_faults_of_a_faulty_page() {
    let Some(browser) = Browser::start(DESKTOP).await else {
        return;
    };
    // No language, an image without a text alternative, a field without a label.
    let page = "data:text/html,<!doctype html><html><head><title>t</title></head><body>\
                <main><img src='x.png'><input type='text'></main></body></html>";
    browser.client.goto(page).await.unwrap();
    let violations = browser.accessibility_violations().await;
    for rule in ["html-has-lang", "image-alt", "label"] {
        assert!(
            violations
                .iter()
                .any(|v| v.starts_with(&format!("{rule}:"))),
            "{rule} not found in {violations:?}"
        );
    }
    // The same page put right passes.
    let page = "data:text/html,<!doctype html><html lang='en-GB'><head><title>t</title></head>\
                <body><main><h1>t</h1><img src='x.png' alt='A chart'>\
                <label for='f'>Name</label><input id='f' type='text'></main></body></html>";
    browser.client.goto(page).await.unwrap();
    assert_eq!(
        browser.accessibility_violations().await,
        Vec::<String>::new()
    );
    assert!(!browser.scrolls_sideways().await);
    let shot = browser.screenshot("harness").await;
    assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    browser.stop().await;
}
