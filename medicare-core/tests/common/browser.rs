//! The real-browser tests' harness: Debian's headless `chromium` driven through
//! `chromedriver` over WebDriver (fantoccini), with waits that tolerate page loads,
//! screenshots under `target/test-output/<name>/`, and the axe-core accessibility scan.
//!
//! `MEDICARE_CHROMEDRIVER` and `MEDICARE_CHROMIUM` name the binaries (defaults:
//! `/usr/bin/chromedriver`, `/usr/bin/chromium`); `MEDICARE_AXE_JS` names axe-core's
//! `axe.min.js` (default: where `.ci/servers.sh`'s `install_axe` installs it, in
//! `${XDG_CACHE_HOME:-$HOME/.cache}/medicare-ci/node`). In CI
//! (`CI=true`) a missing one fails the test; elsewhere the test says so and goes on
//! without it ([`Browser::start`] returns `None` without a browser; without axe-core the
//! scans are skipped).
//!
//! Use it from a test file as `mod common { pub mod browser; }`.
#![allow(dead_code, missing_docs)]

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long any wait lasts before the test fails.
pub const WAIT: Duration = Duration::from_secs(15);

/// The WCAG levels the scan holds every page to (WCAG 2.2 AA and everything below).
pub const AXE_TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    path.exists().then_some(path)
}

/// A free TCP port on loopback (for chromedriver).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `target/test-output/<name>/`, created.
pub fn output_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-output").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Where `.ci/servers.sh`'s `install_axe` puts axe-core: the default of `MEDICARE_AXE_JS`.
fn installed_axe() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache.join("medicare-ci/node/node_modules/axe-core/axe.min.js"))
}

/// axe-core's source, from `MEDICARE_AXE_JS` (default: where `install_axe` puts it);
/// `None` (said on stderr) outside CI when there is none.
fn axe_source() -> Option<String> {
    let path = std::env::var_os("MEDICARE_AXE_JS")
        .map(PathBuf::from)
        .or_else(installed_axe)
        .filter(|p| p.exists());
    match path {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("axe-core at {}: {e}", path.display())),
        ),
        None => {
            assert!(
                !in_ci(),
                "CI needs axe-core: MEDICARE_AXE_JS (source .ci/servers.sh && install_axe)"
            );
            eprintln!("accessibility scans skipped: no axe-core (source .ci/servers.sh && install_axe, or set MEDICARE_AXE_JS)");
            None
        }
    }
}

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A headless Chromium session.
pub struct Browser {
    pub client: Client,
    shots: PathBuf,
    axe: Option<String>,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a fresh Chromium profile (JavaScript on or off); its
    /// screenshots go to `target/test-output/<shots>/`. `None` outside CI when the
    /// browser is not installed.
    pub async fn start(shots: &str, javascript: bool) -> Option<Browser> {
        let (Some(driver), Some(chromium)) = (
            binary("MEDICARE_CHROMEDRIVER", "/usr/bin/chromedriver"),
            binary("MEDICARE_CHROMIUM", "/usr/bin/chromium"),
        ) else {
            assert!(
                !in_ci(),
                "CI needs chromium and chromedriver (MEDICARE_CHROMIUM, MEDICARE_CHROMEDRIVER)"
            );
            eprintln!("skipped: chromium or chromedriver not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let axe = axe_source();
        let port = free_port();
        let driver = Driver(
            Command::new(&driver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver starts"),
        );
        let profile = tempfile::tempdir().unwrap();
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1000,1400".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false".into());
        }
        let mut options = serde_json::json!({ "binary": chromium, "args": args });
        if !javascript {
            options["prefs"] = serde_json::json!({
                "profile.managed_default_content_settings.javascript": 2
            });
        }
        let caps: serde_json::Map<String, serde_json::Value> = serde_json::from_value(
            serde_json::json!({ "browserName": "chrome", "goog:chromeOptions": options }),
        )
        .unwrap();
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut client = None;
        for _ in 0..150 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&webdriver)
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Some(Browser {
            client: client.expect("chromedriver answers and starts chromium"),
            shots: output_dir(shots),
            axe,
            _profile: profile,
            _driver: driver,
        })
    }

    /// Opens `url` (it returns once the page has loaded).
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The current address's path and query.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Waits until the current path (with its query) satisfies `want`; returns it.
    pub async fn wait_for_path(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(url) = self.client.current_url().await {
                let path = match url.query() {
                    Some(q) => format!("{}?{q}", url.path()),
                    None => url.path().to_string(),
                };
                if want(&path) {
                    return path;
                }
                assert!(Instant::now() < deadline, "not at {what} but at {path}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for an element matching `css`.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(e) = self.client.find(Locator::Css(css)).await {
                return e;
            }
            assert!(Instant::now() < deadline, "no {css} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether an element matching `css` is on the page now.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
    }

    /// Waits for an element matching `css` whose visible text satisfies `want`, and
    /// returns that text. A click that submits a form returns before the next page has
    /// loaded, so reading the page at once would race the navigation.
    pub async fn wait_for_text(&self, css: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            // Either step can fail while the old page is being replaced: try again.
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if want(&text) {
                        return text;
                    }
                    last = text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no {css} with the expected text within {WAIT:?} (last: {last:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the page heading to be `h1`.
    pub async fn wait_for_heading(&self, h1: &str) {
        self.wait_for_text("h1", |t| t == h1).await;
    }

    /// The visible text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Clicks the first element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Replaces what the input matching `css` holds with `value`, as typed.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Saves a screenshot as `<name>.png` and checks it is a PNG.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core on the page as it is now, with the [`AXE_TAGS`] rules, and returns
    /// each violation as its rule, impact, help and the elements it found (`None`
    /// without axe-core). The script is injected through WebDriver, which the page's
    /// Content-Security-Policy does not govern (the pages themselves allow no inline
    /// script). Frames are not entered: the one frame the console has (the form
    /// preview) is the patient page, scanned on its own.
    pub async fn accessibility_violations(&self) -> Option<Vec<String>> {
        let axe = self.axe.as_ref()?;
        let loaded = self
            .client
            .execute(
                &format!("{axe}\nreturn typeof window.axe === 'object';"),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(loaded, serde_json::json!(true), "axe-core loads");
        let result = self
            .client
            .execute_async(
                r#"
                var done = arguments[arguments.length - 1];
                axe.run(document, {
                    runOnly: { type: "tag", values: arguments[0] },
                    iframes: false,
                    resultTypes: ["violations"]
                }).then(function (r) {
                    done({ violations: r.violations.map(function (v) {
                        return {
                            id: v.id,
                            impact: v.impact,
                            help: v.help,
                            targets: v.nodes.map(function (n) { return n.target.join(" "); })
                        };
                    }) });
                }).catch(function (e) { done({ error: String(e) }); });
                "#,
                vec![serde_json::json!(AXE_TAGS)],
            )
            .await
            .unwrap();
        assert!(result.get("error").is_none(), "axe-core failed: {result}");
        let violations = result["violations"]
            .as_array()
            .expect("a list of violations");
        Some(
            violations
                .iter()
                .map(|v| {
                    format!(
                        "{} ({}): {} at {}",
                        v["id"].as_str().unwrap_or("?"),
                        v["impact"].as_str().unwrap_or("?"),
                        v["help"].as_str().unwrap_or(""),
                        v["targets"]
                    )
                })
                .collect(),
        )
    }

    /// Fails on any [`Browser::accessibility_violations`] of the page, naming `page`.
    pub async fn check_accessibility(&self, page: &str) {
        if let Some(report) = self.accessibility_violations().await {
            assert!(
                report.is_empty(),
                "accessibility violations on {page}:\n{}",
                report.join("\n")
            );
        }
    }

    /// Takes the screenshot `name` and scans the page.
    pub async fn screen(&self, name: &str) {
        self.shot(name).await;
        self.check_accessibility(name).await;
    }

    /// Opens a new tab and makes it current; returns the tab that was current.
    pub async fn open_tab(&self) -> fantoccini::wd::WindowHandle {
        let previous = self.client.window().await.unwrap();
        let tab = self.client.new_window(true).await.unwrap();
        self.client.switch_to_window(tab.handle).await.unwrap();
        previous
    }

    /// Makes `tab` current.
    pub async fn switch_to(&self, tab: fantoccini::wd::WindowHandle) {
        self.client.switch_to_window(tab).await.unwrap();
    }

    /// Ends the session (the browser and chromedriver stop).
    pub async fn close(self) {
        let Browser { client, .. } = self;
        client.close().await.unwrap();
    }
}
