//! A real browser (Debian's headless `chromium`, driven through `chromedriver` over
//! WebDriver) goes through a patient's visit: open the link from the outbox, send an
//! invalid answer and see the field's message, send a valid one and see the thank-you
//! page, open the link again and see that it is spent. Screenshots of each step go to
//! `target/test-output/browser/`.
//!
//! `MEDICARE_CHROMEDRIVER` and `MEDICARE_CHROMIUM` name the binaries (defaults:
//! `/usr/bin/chromedriver`, `/usr/bin/chromium`). In CI (`CI=true`) a missing browser
//! fails the test; elsewhere the test says so and passes without running.
#![cfg(feature = "server")]

use fantoccini::{ClientBuilder, Locator};
use medicare_core::campaign::CampaignRequest;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::notify::Channel;
use medicare_core::server::{client::link_path, router, serve, ServerOptions};
use medicare_core::{Config, Workspace};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(var: &str, default: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    path.exists().then_some(path)
}

fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("test-output/browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) for an element matching `css` whose text satisfies `want`, and
/// returns that text. A click that submits a form returns before the next page has
/// loaded, so reading the page at once would race the navigation.
async fn wait_for_text(
    client: &fantoccini::Client,
    css: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Either step can fail while the old page is being replaced: try again.
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
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn shot(client: &fantoccini::Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

#[tokio::test]
async fn a_patient_answers_in_a_real_browser() {
    let (Some(driver), Some(chromium)) = (
        binary("MEDICARE_CHROMEDRIVER", "/usr/bin/chromedriver"),
        binary("MEDICARE_CHROMIUM", "/usr/bin/chromium"),
    ) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs chromium and chromedriver (MEDICARE_CHROMIUM, MEDICARE_CHROMEDRIVER)"
        );
        eprintln!("skipped: chromium or chromedriver not installed (apt-get install chromium chromium-driver)");
        return;
    };

    // A sent campaign in a fresh workspace; the link comes from the outbox.
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path(), Config::default())
        .await
        .unwrap();
    let engine = ws.engine();
    engine
        .import_patients(&medicare_core::patient::generate(
            medicare_core::patient::GenerateOptions { count: 20, seed: 3 },
        ))
        .await
        .unwrap();
    let form = engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap())
        .await
        .unwrap();
    let mut request = CampaignRequest::new(
        "browser",
        form.id,
        Arc::new(Filter::parse("has_phone").unwrap()),
    );
    request.channels = vec![Channel::Sms];
    let campaign = engine.create_campaign(&request).await.unwrap();
    engine
        .send(campaign, &Default::default(), &())
        .await
        .unwrap();
    let outbox = std::fs::read_to_string(ws.outbox_path()).unwrap();
    let first: serde_json::Value = serde_json::from_str(outbox.lines().next().unwrap()).unwrap();
    let path = link_path(first["text"].as_str().unwrap())
        .unwrap()
        .to_string();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        router(engine.clone(), ServerOptions::default()),
        std::future::pending(),
    ));

    let port = free_port();
    let _driver = Driver(
        Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let profile = tempfile::tempdir().unwrap();
    let caps: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1000,1400",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }))
        .unwrap();
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut client = None;
    for _ in 0..100 {
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
    let client = client.expect("chromedriver answers and starts chromium");
    let shots = output_dir();

    // 1. The link opens the form.
    client.goto(&format!("{base}{path}")).await.unwrap();
    let title = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Register for your vaccination");
    shot(&client, &shots, "1-form").await;

    // 2. An invalid phone number: the form comes back with the field's message.
    client
        .find(Locator::Css(
            r#"input[name="wants_vaccination"][value="yes"]"#,
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .find(Locator::Css(r#"input[name="contact_phone"]"#))
        .await
        .unwrap()
        .send_keys("12")
        .await
        .unwrap();
    client
        .find(Locator::Css(r#"button[type="submit"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let summary = wait_for_text(&client, ".error-summary", |t| !t.is_empty()).await;
    assert!(summary.contains("There is a problem"), "{summary}");
    let message = client
        .find(Locator::Css(".field-error .error"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(message.to_lowercase().contains("phone"), "{message}");
    let kept = client
        .find(Locator::Css(r#"input[name="contact_phone"]"#))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("12"), "the answer is kept");
    shot(&client, &shots, "2-invalid").await;

    // 3. A valid answer: thank you.
    let phone = client
        .find(Locator::Css(r#"input[name="contact_phone"]"#))
        .await
        .unwrap();
    phone.clear().await.unwrap();
    phone.send_keys("+44 7700 900123").await.unwrap();
    client
        .find(Locator::Css(r#"button[type="submit"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let h1 = wait_for_text(&client, "h1", |t| t != "Register for your vaccination").await;
    assert_eq!(h1, "Thank you");
    shot(&client, &shots, "3-thank-you").await;

    // 4. The link again: spent.
    client.goto(&format!("{base}{path}")).await.unwrap();
    let h1 = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(h1, "You have already answered");
    shot(&client, &shots, "4-spent").await;
    client.close().await.unwrap();

    for name in ["1-form", "2-invalid", "3-thank-you", "4-spent"] {
        let png = std::fs::read(shots.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG screenshot");
    }
}
