//! A headless Chromium driven over WebDriver (Debian's `chromium` and `chromedriver`),
//! and axe-core injected into pages for accessibility checks.
//!
//! `MEDICARE_CHROMEDRIVER` and `MEDICARE_CHROMIUM` name the binaries (defaults:
//! `/usr/bin/chromedriver`, `/usr/bin/chromium`); `MEDICARE_AXE_JS` names axe-core's
//! `axe.min.js` (installed by `.ci/servers.sh`'s `axe_core`). In CI (`CI=true`) a missing
//! one fails the test; elsewhere the caller is told to skip.

use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The running chromedriver, stopped on drop, and the browser session.
pub struct Browser {
    pub client: Client,
    _driver: Child2,
    _profile: tempfile::TempDir,
}

struct Child2(Child);

impl Drop for Child2 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    path.exists().then_some(path)
}

/// Fails in CI, otherwise says why the test is skipped; returns false either way.
pub fn missing(what: &str) -> bool {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI needs {what}"
    );
    eprintln!("skipped: {what} not installed");
    false
}

/// Starts chromedriver and a headless Chromium (with or without JavaScript), or `None`
/// when they are not installed (outside CI).
pub async fn start(javascript: bool) -> Option<Browser> {
    let (Some(driver), Some(chromium)) = (
        binary("MEDICARE_CHROMEDRIVER", "/usr/bin/chromedriver"),
        binary("MEDICARE_CHROMIUM", "/usr/bin/chromium"),
    ) else {
        missing("chromium and chromedriver (MEDICARE_CHROMIUM, MEDICARE_CHROMEDRIVER)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Child2(
        Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().unwrap();
    let mut prefs = serde_json::json!({});
    if !javascript {
        prefs = serde_json::json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "prefs": prefs,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1100,1600",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }))
        .unwrap();
    let webdriver = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(client) =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&webdriver)
                .await
        {
            return Some(Browser {
                client,
                _driver: driver,
                _profile: profile,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("chromedriver does not answer or cannot start chromium");
}

/// `target/test-output/NAME/`, created.
pub fn output_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-output").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves a screenshot as `dir/NAME.png`.
pub async fn shot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

/// Waits (up to 10 s) for an element matching `css` whose text satisfies `want`, and
/// returns that text (a click that submits returns before the next page is there).
pub async fn wait_for_text(client: &Client, css: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(element) = client.find(Locator::Css(css)).await {
            if let Ok(text) = element.text().await {
                if want(&text) {
                    return text;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {css} with the expected text within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// axe-core's source, or `None` when it is not installed (outside CI).
pub fn axe_source() -> Option<String> {
    let path = std::env::var_os("MEDICARE_AXE_JS").map(PathBuf::from);
    match path.and_then(|p| std::fs::read_to_string(p).ok()) {
        Some(source) => Some(source),
        None => {
            missing("axe-core (MEDICARE_AXE_JS; .ci/servers.sh axe_core installs it)");
            None
        }
    }
}

/// Runs axe-core (WCAG 2.0, 2.1 and 2.2, levels A and AA) on the current page and
/// returns its violations as `rule: selectors`.
pub async fn axe_violations(client: &Client, axe: &str) -> Vec<String> {
    client.execute(axe, vec![]).await.expect("axe-core loads");
    let result = client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: "tag",
                   values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] } })
                 .then(r => done(r.violations.map(v => v.id + ": " +
                     v.nodes.map(n => n.target.join(" ")).join(", "))))
                 .catch(e => done(["axe failed: " + e]));"#,
            vec![],
        )
        .await
        .expect("axe-core runs");
    serde_json::from_value(result).unwrap()
}
