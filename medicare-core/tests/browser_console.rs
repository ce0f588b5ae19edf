//! The operator console in a real browser (issue 11), as an operator goes through it:
//! sign in with password and code, create a 6-field form through the wizard, type a
//! filter with an error and see where it is, correct it and watch the count, look at
//! the "Subset of patients", preview, confirm and send (with the fresh second factor it
//! needs), watch the progress to the end, answer one patient's link in a second tab,
//! see the dashboard count the answer, and send a reminder once the gap has passed (the
//! injected clock moves on). Every console page passes the axe-core scan (WCAG 2.2 AA);
//! screenshots of every screen go to `target/test-output/console/`.
//!
//! A second test does the wizard, preview and send with JavaScript switched off
//! (`target/test-output/console-no-js/`).
#![cfg(feature = "server")]

mod common {
    pub mod browser;
    pub mod site;
}

use chrono::Duration;
use common::browser::Browser;
use common::site::{enrol, sign_in, totp_code, Site};
use fantoccini::Locator;
use medicare_core::access::Role;
use medicare_core::campaign::SendOptions;
use medicare_core::filter::Filter;
use medicare_core::notify::Channel;
use medicare_core::server::client::link_path;
use std::num::NonZeroU32;

/// The six fields the journey's form has: name, question, type, options.
const FIELDS: [(&str, &str, &str, &str); 6] = [
    ("full_name", "Your full name", "text", ""),
    ("age_years", "Your age in years", "integer", ""),
    ("preferred_date", "A date that suits you", "date", ""),
    ("had_flu", "Have you had flu this winter?", "yes_no", ""),
    (
        "clinic",
        "Which clinic suits you?",
        "single_choice",
        "North\nSouth",
    ),
    ("contact_email", "Your email address", "email", ""),
];

/// The filter as first typed: `agee` is not a patient attribute.
const BAD_FILTER: &str = "has_phone and agee >= 18";
/// The filter corrected.
const FILTER: &str = "has_phone and age >= 18";

/// A send slow enough to watch: a few messages a second on each channel.
fn slow_sends() -> SendOptions {
    let rate = NonZeroU32::new(6).unwrap();
    SendOptions {
        rate_limits: [(Channel::Sms, rate), (Channel::Email, rate)].into(),
        ..SendOptions::default()
    }
}

/// Fills screen 2 with the form, its fields and `filter` (the form's name, title and
/// fields are kept by the page when it comes back with errors, so only the first call
/// types them).
async fn fill_fields(browser: &Browser, fields: &[(&str, &str, &str, &str)]) {
    browser.fill("#form_name", "flu_2026").await;
    browser
        .fill("#title", "Register for your flu vaccination")
        .await;
    let constraints = browser
        .client
        .find_all(Locator::Css("details.details summary"))
        .await
        .unwrap();
    for (i, (name, label, kind, options)) in fields.iter().enumerate() {
        let n = i + 1;
        browser.fill(&format!("#field-{n}-name"), name).await;
        browser.fill(&format!("#field-{n}-label"), label).await;
        browser
            .find(&format!("#field-{n}-type"))
            .await
            .select_by_value(kind)
            .await
            .unwrap();
        if !options.is_empty() {
            constraints[i].click().await.unwrap();
            browser.fill(&format!("#field-{n}-options"), options).await;
        }
    }
    // The first question must be answered.
    browser.click("#field-1-required").await;
}

/// The id in `/console/campaigns/{id}/...`.
fn campaign_id(path: &str) -> i64 {
    path.trim_start_matches("/console/campaigns/")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The first outbox message of `channel` for the campaign (its link's path).
fn a_link(site: &Site, channel: &str) -> String {
    let outbox = site.outbox();
    let message = outbox
        .iter()
        .find(|m| m["channel"].as_str() == Some(channel))
        .unwrap_or_else(|| panic!("a {channel} message in the outbox"));
    let text = message["text"].as_str().expect("the message's text");
    link_path(text).expect("a link in the message").to_string()
}

#[tokio::test]
async fn an_operator_creates_sends_follows_and_reminds_in_a_real_browser() {
    let Some(browser) = Browser::start("console", true).await else {
        return;
    };
    let site = Site::start(60, slow_sends()).await;
    site.add_operator("erin", Role::CampaignManager).await;

    // Sign in: enrolled first (the first code), then signed out and in again with the
    // password and a code, as every day after.
    let uri = enrol(&browser, &site, "erin", Some("01")).await;
    browser
        .click("form[action='/console/sign-out'] button")
        .await;
    browser.wait_for_heading("Sign in").await;
    sign_in(&browser, &site, "erin", &uri).await;
    browser.screen("02-home").await;

    // The campaigns, none yet; "Create a form and send it".
    browser.goto(&site.url("/console/campaigns")).await;
    browser.wait_for_heading("Campaigns").await;
    browser.screen("03-campaigns-empty").await;
    browser.click("a[href='/console/forms/new']").await;

    // Screen 1: how many fields. An absurd count first.
    browser
        .wait_for_heading("Please enter the number of data fields you require")
        .await;
    browser.screen("04-count").await;
    browser.fill("#count", "500").await;
    browser.click("main button[type=submit]").await;
    browser
        .wait_for_text("#count-error", |t| !t.is_empty())
        .await;
    browser.screen("05-count-error").await;
    browser.fill("#count", "6").await;
    browser.click("main button[type=submit]").await;

    // Screen 2: the fields, the name checked as it is typed.
    browser.wait_for_heading("Field names and data types").await;
    browser.fill("#field-1-name", "Full Name").await;
    let problem = browser
        .wait_for_text("#field-1-name-check", |t| !t.is_empty())
        .await;
    assert_ne!(problem, "This name can be used.");
    fill_fields(&browser, &FIELDS).await;
    browser
        .wait_for_text("#field-1-name-check", |t| t == "This name can be used.")
        .await;
    browser.screen("06-fields").await;

    // The filter with an error: the live check names its column as it is typed ...
    browser.fill("#filter", BAD_FILTER).await;
    let column = BAD_FILTER.find("agee").unwrap() + 1;
    let live = browser
        .wait_for_text("#filter-count", |t| t.starts_with("Not yet a filter"))
        .await;
    assert!(live.contains(&format!("column {column}")), "{live}");
    browser.screen("07-filter-error-live").await;
    // ... and "Create" shows it under the filter, a caret at that column (beside a
    // field name that breaks the identifier rule).
    browser.fill("#field-2-name", "2nd_age").await;
    browser
        .click("form[action='/console/forms/new/fields'] > button[type=submit]")
        .await;
    browser
        .wait_for_text("#field-2-name-error", |t| !t.is_empty())
        .await;
    assert!(browser.has(".error-summary a[href='#field-2-name']").await);
    let caret = browser
        .wait_for_text("#filter-caret", |t| t.contains('^'))
        .await;
    let caret_line = caret.lines().nth(1).unwrap();
    assert_eq!(caret_line.find('^'), Some(column - 1), "{caret}");
    let summary = browser.text(".error-summary").await;
    assert!(summary.contains(&format!("column {column}")), "{summary}");
    assert!(browser.has(".error-summary a[href='#filter']").await);
    browser.screen("08-filter-error").await;

    // Corrected: the count follows as it is typed.
    browser.fill("#field-2-name", FIELDS[1].0).await;
    let expected = site
        .ws
        .engine()
        .count_patients(&Filter::parse(FILTER).unwrap())
        .await
        .unwrap();
    assert!(expected > 0);
    browser.fill("#filter", FILTER).await;
    browser
        .wait_for_text("#filter-count", |t| {
            t == format!("{expected} patients match.")
        })
        .await;
    browser.screen("09-filter-count").await;
    browser
        .click("form[action='/console/forms/new/fields'] > button[type=submit]")
        .await;

    // Screen 3: the check before sending.
    browser.wait_for_heading("Check before you send").await;
    let path = browser.path().await;
    assert!(path.ends_with("/preview"), "{path}");
    let id = campaign_id(&path);
    assert_eq!(browser.text("#recipients").await, expected.to_string());
    assert!(browser.text("#sms-sample").await.contains("/f/"));
    browser.screen("10-preview").await;
    // The frame shows the patient page styled as patients see it.
    browser.client.enter_frame(Some(0)).await.unwrap();
    let framed_font = browser
        .find("h1")
        .await
        .css_value("font-family")
        .await
        .unwrap();
    browser.client.enter_parent_frame().await.unwrap();

    // "Subset of patients": the first 20 the filter selects, masked for this role.
    browser
        .click(&format!("a[href='/console/campaigns/{id}/subset']"))
        .await;
    browser.wait_for_heading("Subset of patients").await;
    let rows = browser
        .client
        .find_all(Locator::Css("main table tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len() as u64, expected.min(20));
    assert!(browser.text("main").await.contains("Shown masked"));
    browser.screen("11-subset").await;
    browser
        .click(&format!("a[href='/console/campaigns/{id}/preview']"))
        .await;
    browser.wait_for_heading("Check before you send").await;

    // Six minutes on this page: the second factor is no longer fresh. "Confirm and
    // send" is refused (403) and says why; the preview, loaded again, asks for a code
    // first ("Confirm it is you") and comes back with the button.
    site.advance(Duration::minutes(6));
    browser.click("#confirm-send").await;
    browser.wait_for_heading("Confirm it is you").await;
    browser.screen("12-needs-fresh-factor").await;
    browser
        .goto(&site.url(&format!("/console/campaigns/{id}/preview")))
        .await;
    browser.wait_for_heading("Check before you send").await;
    assert!(!browser.has("#confirm-send").await);
    browser.click("#confirm-it-is-you").await;
    browser.wait_for_heading("Confirm it is you").await;
    browser.screen("13-step-up").await;
    browser.fill("#code", &totp_code(&site, &uri)).await;
    browser.click("main button[type=submit]").await;
    browser.wait_for_heading("Check before you send").await;
    assert!(
        site.outbox().is_empty(),
        "nothing is sent before \"Confirm and send\""
    );
    browser.click("#confirm-send").await;

    // The dashboard: progress moves without a reload, to the end.
    browser
        .wait_for_path("the dashboard", |p| p == format!("/console/campaigns/{id}"))
        .await;
    let first = browser.text("[data-figure='sms.percent']").await;
    browser.screen("14-sending").await;
    assert_ne!(first, "100", "the send is slow enough to watch");
    for channel in ["sms", "email"] {
        browser
            .wait_for_text(&format!("[data-figure='{channel}.remaining']"), |t| {
                t == "0"
            })
            .await;
        browser
            .wait_for_text(&format!("[data-figure='{channel}.percent']"), |t| {
                t == "100"
            })
            .await;
    }
    assert_eq!(browser.path().await, format!("/console/campaigns/{id}"));
    assert_eq!(browser.text("#answered").await, "0");
    browser.screen("15-sent").await;

    // A patient answers their link in a second tab.
    let link = a_link(&site, "sms");
    let board = browser.open_tab().await;
    browser.goto(&site.url(&link)).await;
    browser
        .wait_for_heading("Register for your flu vaccination")
        .await;
    browser.screen("16-patient-form").await;
    let font = browser
        .find("h1")
        .await
        .css_value("font-family")
        .await
        .unwrap();
    assert_eq!(
        font, framed_font,
        "the preview's frame shows the page as it is"
    );
    browser.fill("input[name=full_name]", "Alex Example").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_heading("Thank you").await;
    browser.screen("17-patient-thank-you").await;

    // Back on the dashboard, the answer is counted without a reload.
    browser.switch_to(board).await;
    browser.wait_for_text("#answered", |t| t == "1").await;
    browser.screen("18-answered").await;

    // The campaign list has it; an address that names no campaign is a plain 404.
    browser.goto(&site.url("/console/campaigns")).await;
    browser.wait_for_heading("Campaigns").await;
    browser
        .wait_for_text(&format!("a[href='/console/campaigns/{id}']"), |t| {
            t == "Register for your flu vaccination"
        })
        .await;
    browser.screen("19-campaigns").await;
    browser
        .goto(&site.url(&format!("/console/campaigns/{}", id + 1000)))
        .await;
    browser.wait_for_heading("Page not found").await;
    browser.screen("20-not-found").await;

    // Three days on, the reminder gap has passed (and the session has ended): sign in
    // again and send a reminder to those who have not answered.
    site.advance(Duration::days(3) + Duration::hours(1));
    browser
        .goto(&site.url(&format!("/console/campaigns/{id}")))
        .await;
    browser
        .wait_for_path("the sign-in page", |p| p == "/console/sign-in")
        .await;
    sign_in(&browser, &site, "erin", &uri).await;
    browser
        .goto(&site.url(&format!("/console/campaigns/{id}")))
        .await;
    let before = site.outbox().len();
    browser.screen("21-before-reminder").await;
    browser
        .client
        .find(Locator::XPath(
            "//button[normalize-space()='Send reminder']",
        ))
        .await
        .expect("a Send reminder button on the dashboard")
        .click()
        .await
        .unwrap();
    browser
        .wait_for_path("the dashboard", |p| {
            p == format!("/console/campaigns/{id}?reminded=1")
        })
        .await;
    browser
        .wait_for_text("#reminder-sent", |t| t.contains("Reminder round 1"))
        .await;
    let deadline = std::time::Instant::now() + common::browser::WAIT;
    while site.outbox().len() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the reminder reached nobody"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.screen("22-reminder-sent").await;
    browser.close().await;
}

#[tokio::test]
async fn the_wizard_preview_and_send_work_without_javascript() {
    let Some(browser) = Browser::start("console-no-js", false).await else {
        return;
    };
    let site = Site::start(30, SendOptions::default()).await;
    site.add_operator("frank", Role::CampaignManager).await;
    enrol(&browser, &site, "frank", None).await;

    browser.goto(&site.url("/console/forms/new")).await;
    browser
        .wait_for_heading("Please enter the number of data fields you require")
        .await;
    browser.fill("#count", "2").await;
    browser.click("main button[type=submit]").await;
    browser.wait_for_heading("Field names and data types").await;
    fill_fields(&browser, &FIELDS[..2]).await;
    browser.fill("#filter", FILTER).await;
    // No script runs: the live checks stay silent.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(browser.text("#filter-count").await, "");
    assert_eq!(browser.text("#field-1-name-check").await, "");
    browser.shot("1-fields").await;
    browser
        .click("form[action='/console/forms/new/fields'] > button[type=submit]")
        .await;

    browser.wait_for_heading("Check before you send").await;
    let id = campaign_id(&browser.path().await);
    browser.shot("2-preview").await;
    browser.click("#confirm-send").await;
    browser
        .wait_for_path("the dashboard", |p| p == format!("/console/campaigns/{id}"))
        .await;
    // Without the script the page does not refresh itself: reload until the send is done.
    let deadline = std::time::Instant::now() + common::browser::WAIT;
    loop {
        let remaining = browser.text("[data-figure='sms.remaining']").await;
        if remaining == "0" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the send did not end");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        browser.client.refresh().await.unwrap();
    }
    assert_eq!(browser.text("[data-figure='sms.percent']").await, "100");
    browser.shot("3-sent").await;
    assert!(
        !site.outbox().is_empty(),
        "the patients were sent their links"
    );
    browser.close().await;
}

/// The pages the journey does not pass through pass the axe-core scan too: the forms
/// list (campaign manager), the operators page (admin, just enrolled so the second
/// factor is fresh) and the audit page (auditor), each signed in as its own operator.
#[tokio::test]
async fn the_forms_operators_and_audit_pages_pass_the_accessibility_scan() {
    let Some(browser) = Browser::start("console-pages", true).await else {
        return;
    };
    let site = Site::start(30, SendOptions::default()).await;
    for (username, role, path) in [
        ("grace", Role::CampaignManager, "/console/forms"),
        ("heidi", Role::Admin, "/console/operators"),
        ("ivan", Role::Auditor, "/console/audit"),
    ] {
        site.add_operator(username, role).await;
        enrol(&browser, &site, username, None).await;
        browser.goto(&site.url(path)).await;
        browser.wait_for_path(path, |p| p == path).await;
        browser.find("main h1").await;
        browser.screen(&path[1..].replace('/', "-")).await;
        browser.client.delete_all_cookies().await.unwrap();
    }
    browser.close().await;
}
