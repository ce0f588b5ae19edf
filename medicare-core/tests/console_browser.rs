//! The operator console in a real browser (headless Chromium over WebDriver): the
//! brief's three screens to a confirmed send, once with JavaScript and once without,
//! the error summaries of a bad count and a bad filter, and an axe-core accessibility
//! scan (WCAG 2.2 A and AA) of every page on the way. Screenshots go to
//! `target/test-output/console/`.
#![cfg(all(feature = "server", feature = "testing"))]

mod common;

use common::chrome::{self, axe_violations, shot, wait_for_text};
use common::Harness;
use fantoccini::cookies::Cookie;
use fantoccini::{Client, Locator};
use medicare_core::access::{Role, SessionCookie};
use medicare_core::notify::RecordingNotifier;
use medicare_core::server::console::testing::sign_in;
use medicare_core::server::testing::Operators;
use medicare_core::server::{router, serve, ServerOptions};
use std::sync::Arc;

/// Checks the current page with axe-core (when it is installed).
async fn accessible(client: &Client, axe: Option<&str>, page: &str) {
    if let Some(axe) = axe {
        let violations = axe_violations(client, axe).await;
        assert!(violations.is_empty(), "{page}: {violations:#?}");
    }
}

async fn fill(client: &Client, id: &str, text: &str) {
    let input = client.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The six fields an operator types: name, question, type, extra constraint.
const FIELDS: [(&str, &str, &str, Option<(&str, &str)>); 6] = [
    ("attending", "Will you attend?", "yes_no", None),
    (
        "doses",
        "How many doses have you had?",
        "integer",
        Some(("max", "10")),
    ),
    ("preferred_day", "Which day suits you?", "date", None),
    (
        "site",
        "Where would you like it?",
        "single_choice",
        Some(("options", "Surgery\nPharmacy")),
    ),
    (
        "phone",
        "<script>alert(1)</script> Your phone",
        "phone",
        None,
    ),
    (
        "notes",
        "Anything else?",
        "long_text",
        Some(("max_length", "500")),
    ),
];

async fn journey(javascript: bool) {
    let Some(browser) = chrome::start(javascript).await else {
        return;
    };
    let axe = chrome::axe_source();
    let client = &browser.client;
    let shots = chrome::output_dir("console");
    let tag = if javascript { "js" } else { "nojs" };

    let h = Harness::new().await;
    h.populate(60).await;
    let recorder = Arc::new(RecordingNotifier::new());
    let engine = h.engine_with(recorder.clone());
    let ops = Operators::enrol_every_role(Arc::new(h.store.clone()), engine.clock().clone())
        .await
        .unwrap();
    let session = sign_in(&ops, Role::CampaignManager, 1).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let options = ServerOptions {
        access: Some(ops.service.clone()),
        session_cookie: SessionCookie::for_bind(addr, false).unwrap(),
        ..ServerOptions::default()
    };
    tokio::spawn(serve(
        listener,
        router(engine.clone(), options),
        std::future::pending(),
    ));

    // Signed in (the sign-in pages are tested on their own): the session's cookie.
    client
        .goto(&format!("{base}/console/assets/console.css"))
        .await
        .unwrap();
    let mut cookie = Cookie::new("medicare-session", session.expose().to_string());
    cookie.set_path("/");
    client.add_cookie(cookie).await.unwrap();

    // Screen 1, with a count out of range first.
    client
        .goto(&format!("{base}/console/forms/new"))
        .await
        .unwrap();
    accessible(client, axe.as_deref(), "screen 1").await;
    shot(client, &shots, &format!("{tag}-1-count")).await;
    fill(client, "count", "60").await;
    click(client, "button[type=submit]").await;
    wait_for_text(client, ".error-summary a[href='#count']", |t| {
        t.contains("from 1 to 50")
    })
    .await;
    accessible(client, axe.as_deref(), "screen 1 with an error").await;
    shot(client, &shots, &format!("{tag}-1-count-error")).await;
    fill(client, "count", "6").await;
    click(client, "button[type=submit]").await;

    // Screen 2: six fields and a filter with a mistake.
    wait_for_text(client, "h1", |t| t == "Field names and data types").await;
    accessible(client, axe.as_deref(), "screen 2").await;
    fill(client, "form_name", &format!("flu_{tag}")).await;
    fill(client, "title", "Register for your flu vaccination").await;
    for (i, (name, label, kind, extra)) in FIELDS.iter().enumerate() {
        let n = i + 1;
        fill(client, &format!("field-{n}-name"), name).await;
        fill(client, &format!("field-{n}-label"), label).await;
        client
            .find(Locator::Id(&format!("field-{n}-type")))
            .await
            .unwrap()
            .select_by_value(kind)
            .await
            .unwrap();
        if let Some((part, value)) = extra {
            // The constraints are in a <details>: open it as an operator would.
            let details = client
                .find(Locator::XPath(&format!(
                    "//input[@id='field-{n}-name']/ancestor::fieldset//summary"
                )))
                .await
                .unwrap();
            details.click().await.unwrap();
            fill(client, &format!("field-{n}-{part}"), value).await;
        }
    }
    fill(client, "filter", "age >= 18 and\nagee < 3").await;
    shot(client, &shots, &format!("{tag}-2-fields")).await;
    click(client, "form button[type=submit]").await;
    let message = wait_for_text(client, ".error-summary a[href='#filter']", |t| {
        t.contains("line 2, column 1")
    })
    .await;
    assert!(message.contains("agee"), "{message}");
    accessible(client, axe.as_deref(), "screen 2 with an error").await;
    shot(client, &shots, &format!("{tag}-2-filter-error")).await;
    // What was typed is kept; the hostile label is text, not markup.
    let kept = client
        .find(Locator::Id("field-5-label"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("<script>alert(1)</script> Your phone")
    );
    fill(client, "filter", "age >= 18").await;
    click(client, "form button[type=submit]").await;

    // Screen 3.
    wait_for_text(client, "h1", |t| t == "Check before you send").await;
    let body = client.source().await.unwrap();
    for part in [
        "You are sending this form:",
        "To these patients:",
        "Confirm and send",
    ] {
        assert!(body.contains(part), "{part}");
    }
    accessible(client, axe.as_deref(), "screen 3").await;
    shot(client, &shots, &format!("{tag}-3-preview")).await;
    click(client, "a[href$='/subset']").await;
    wait_for_text(client, "h1", |t| t == "Subset of patients").await;
    accessible(client, axe.as_deref(), "subset").await;
    shot(client, &shots, &format!("{tag}-3-subset")).await;
    client.back().await.unwrap();
    wait_for_text(client, "h1", |t| t == "Check before you send").await;
    click(client, "#confirm-send").await;

    // The dashboard, until the send is done (reloading: with JavaScript off nothing is
    // live).
    wait_for_text(client, "h1", |t| t == "Register for your flu vaccination").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let state = wait_for_text(client, "[data-figure=state]", |_| true).await;
        if state == "sent" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the send did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        client.refresh().await.unwrap();
    }
    accessible(client, axe.as_deref(), "dashboard").await;
    shot(client, &shots, &format!("{tag}-4-dashboard")).await;
    let campaign = engine.store().campaigns().await.unwrap()[0].id;
    let status = engine.status(campaign).await.unwrap();
    assert_eq!(
        recorder.sent().len() as u64,
        status.channels.iter().map(|c| c.sent).sum::<u64>(),
        "each message sent once"
    );
    assert!(!recorder.sent().is_empty());
    client
        .goto(&format!("{base}/console/campaigns"))
        .await
        .unwrap();
    accessible(client, axe.as_deref(), "campaigns").await;
    browser.client.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_wizard_sends_with_javascript() {
    journey(true).await;
}

#[tokio::test]
async fn the_wizard_sends_without_javascript() {
    journey(false).await;
}
