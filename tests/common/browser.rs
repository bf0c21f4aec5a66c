//! A real headless Chromium (Debian's `chromium` and `chromium-driver`, installed by
//! `scripts/ensure-test-tools`) driven over WebDriver, for the web UI's tests: pages as a
//! person sees them, axe-core's WCAG 2.2 AA checks run inside each, and screenshots.
//! Included only by the browser tests (`#[path = "common/browser.rs"] mod browser;`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// A phone's width in CSS pixels (WCAG 2.2's reflow check is 320; GOV.UK tests at 360).
pub const PHONE: (u32, u32) = (360, 800);
/// A desktop window.
pub const DESKTOP: (u32, u32) = (1280, 900);

/// One chromedriver with one headless Chromium session; both end when it is dropped.
pub struct Browser {
    driver: Child,
    /// The WebDriver session.
    pub client: Client,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium of `size`. `None`, with a
    /// notice, when Chromium is not installed and `ESCALATE_REQUIRE_BROWSER` is not set
    /// (CI sets it: there, a missing browser fails the test).
    pub async fn start(size: (u32, u32)) -> Option<Browser> {
        let (chromium, chromedriver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        if !std::path::Path::new(chromedriver).exists() {
            assert!(
                std::env::var_os("ESCALATE_REQUIRE_BROWSER").is_none(),
                "chromedriver is not installed: run scripts/ensure-test-tools"
            );
            eprintln!("notice: chromium-driver is not installed; skipping the browser test");
            return None;
        }
        let port = crate::common::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    format!("--window-size={},{}", size.0, size.1),
                ],
                // Headless Chromium keeps a window at least 500 pixels wide whatever
                // --window-size says: the page is laid out at this size instead.
                "mobileEmulation": {
                    "deviceMetrics": { "width": size.0, "height": size.1, "pixelRatio": 1 }
                },
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Some(Browser { driver, client })
    }

    /// axe-core's violations of WCAG 2.0, 2.1 and 2.2 A and AA on the page shown: each as
    /// `rule: the first offending element`. Empty when the page passes.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let axe = include_str!("../support/axe-core/axe.min.js");
        self.client
            .execute(axe, vec![])
            .await
            .expect("axe-core loads");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values:
                     ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                   .then(r => done(r.violations.map(v =>
                       v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        match result {
            Value::Array(items) => items
                .into_iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect(),
            other => vec![format!("axe answered {other}")],
        }
    }

    /// Saves a PNG of the window as `target/screenshots/NAME.png`; its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Whether the page is wider than the window (a phone would scroll sideways).
    pub async fn scrolls_sideways(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth > window.innerWidth;",
                vec![],
            )
            .await
            .expect("the page answers")
            .as_bool()
            .unwrap_or(true)
    }
}

impl Browser {
    /// Types `text` into the field whose id is `id`.
    pub async fn type_into(&self, id: &str, text: &str) {
        use fantoccini::Locator;
        self.client
            .find(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no #{id}: {e}"))
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Clicks the submit button of the form that posts to `action`, then waits (WebDriver
    /// polls) until the next page shows an element `css` selects.
    pub async fn submit(&self, action: &str, css: &str) {
        use fantoccini::Locator;
        self.client
            .find(Locator::Css(&format!(
                "form[action='{action}'] button[type='submit']"
            )))
            .await
            .unwrap_or_else(|e| panic!("no form posting to {action}: {e}"))
            .click()
            .await
            .unwrap();
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("after posting to {action}, no {css}: {e}"));
    }

    /// Signs in at `base` as `email` with `password`: signed in once the service's navigation
    /// shows.
    pub async fn sign_in(&self, base: &str, email: &str, password: &str) {
        self.client.goto(&format!("{base}/sign-in")).await.unwrap();
        self.type_into("email", email).await;
        self.type_into("password", password).await;
        self.submit("/sign-in", ".govuk-service-navigation").await;
    }

    /// The page shown has no accessibility violation and no sideways scrolling; a screenshot
    /// of it is saved as `name`. `what` names it in a failure.
    pub async fn check_page(&self, what: &str, name: &str) {
        assert_eq!(
            self.accessibility_violations().await,
            Vec::<String>::new(),
            "{what}"
        );
        assert!(!self.scrolls_sideways().await, "{what} scrolls sideways");
        self.screenshot(name).await;
    }

    /// Clicks the element `css` selects.
    pub async fn click(&self, css: &str) {
        use fantoccini::Locator;
        let element = self.client.find(Locator::Css(css)).await;
        let element = element.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.click().await.unwrap();
    }

    /// The text of the element `css` selects, once the page shows it (WebDriver polls).
    pub async fn text_of(&self, css: &str) -> String {
        use fantoccini::Locator;
        let element = self.client.wait().for_element(Locator::Css(css)).await;
        let element = element.unwrap_or_else(|e| panic!("no {css}: {e}"));
        element.text().await.unwrap()
    }

    /// The path of the page shown, which must start with `prefix` (the caller has waited for
    /// the page: `submit` and `goto` return once it is there).
    pub async fn path(&self, prefix: &str) -> String {
        let path = self.client.current_url().await.unwrap().path().to_string();
        assert!(
            path.starts_with(prefix),
            "the page is {path}, not {prefix}…"
        );
        path
    }

    /// Ends the Chromium session, then chromedriver.
    pub async fn stop(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
