//! A real browser (Debian's headless `chromium`, driven through `chromedriver` over
//! WebDriver) goes through a patient's visit: open the link from the outbox, send an
//! invalid answer and see the field's message, send a valid one and see the thank-you
//! page, open the link again and see that it is spent, and open a link never sent.
//! Each page passes the axe-core scan (WCAG 2.2 AA); screenshots of each step go to
//! `target/test-output/browser/`.
//!
//! The browser and axe-core come from the shared harness (`common/browser.rs`): in CI
//! (`CI=true`) a missing one fails the test; elsewhere the test says so and passes
//! without it.
#![cfg(feature = "server")]

mod common {
    pub mod browser;
}

use common::browser::Browser;
use medicare_core::campaign::CampaignRequest;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::notify::Channel;
use medicare_core::server::{client::link_path, router, serve, ServerOptions};
use medicare_core::{Config, Workspace};
use std::sync::Arc;

#[tokio::test]
async fn a_patient_answers_in_a_real_browser() {
    let Some(browser) = Browser::start("browser", true).await else {
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

    // 1. The link opens the form.
    browser.goto(&format!("{base}{path}")).await;
    assert_eq!(browser.text("h1").await, "Register for your vaccination");
    browser.screen("1-form").await;

    // 2. An invalid phone number: the form comes back with the field's message.
    browser
        .click(r#"input[name="wants_vaccination"][value="yes"]"#)
        .await;
    browser.fill(r#"input[name="contact_phone"]"#, "12").await;
    browser.click(r#"button[type="submit"]"#).await;
    let summary = browser
        .wait_for_text(".error-summary", |t| !t.is_empty())
        .await;
    assert!(summary.contains("There is a problem"), "{summary}");
    let message = browser.text(".field-error .error").await;
    assert!(message.to_lowercase().contains("phone"), "{message}");
    let kept = browser
        .find(r#"input[name="contact_phone"]"#)
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("12"), "the answer is kept");
    browser.screen("2-invalid").await;

    // 3. A valid answer: thank you.
    browser
        .fill(r#"input[name="contact_phone"]"#, "+44 7700 900123")
        .await;
    browser.click(r#"button[type="submit"]"#).await;
    let h1 = browser
        .wait_for_text("h1", |t| t != "Register for your vaccination")
        .await;
    assert_eq!(h1, "Thank you");
    browser.screen("3-thank-you").await;

    // 4. The link again: spent.
    browser.goto(&format!("{base}{path}")).await;
    assert_eq!(browser.text("h1").await, "You have already answered");
    browser.screen("4-spent").await;

    // 5. A link that was never sent: the plain page, as accessible as the rest.
    browser
        .goto(&format!("{base}/f/AAAAAAAAAAAAAAAAAAAAAA"))
        .await;
    assert_eq!(browser.text("h1").await, "This link is not valid");
    browser.screen("5-unknown-link").await;
    browser.close().await;
}

/// The scan the browser tests rely on finds what it should: a page with an image
/// without a text alternative, an unlabelled input and a missing language fails it.
#[tokio::test]
async fn the_accessibility_scan_finds_violations() {
    let Some(browser) = Browser::start("browser-axe", true).await else {
        return;
    };
    browser
        .goto("data:text/html,<title>Bad</title><img src='x.png'><input type='text'>")
        .await;
    let Some(found) = browser.accessibility_violations().await else {
        return;
    };
    for rule in ["image-alt", "label", "html-has-lang"] {
        assert!(
            found.iter().any(|v| v.starts_with(&format!("{rule} "))),
            "{rule} in {found:?}"
        );
    }
    browser.close().await;
}
