//! An operator signs in with a real browser (issue 9): added as `medicare operator add`
//! adds one, they enrol through the pages (the secret read from the enrolment page, the
//! codes computed by `totp-rs` as an authenticator app would), sign in with password
//! and code, and hold a session cookie with the flags the access module gives a
//! loopback `http://` server. A POST without the CSRF token is refused (403), an idle
//! session ends (the injected clock moves on), and disabling the operator ends their
//! open session at its next request. Every sign-in page passes the axe-core scan
//! (WCAG 2.2 AA); screenshots go to `target/test-output/signin/`.
#![cfg(feature = "server")]

mod common {
    pub mod browser;
    pub mod site;
}

use chrono::Duration;
use common::browser::Browser;
use common::site::{enrol, enter_password, totp_code, Site};
use medicare_core::access::cookie::{LOOPBACK_NAME, SECURE_NAME};
use medicare_core::access::Role;

#[tokio::test]
async fn an_operator_enrols_signs_in_and_is_signed_out_by_idleness_and_disabling() {
    let Some(browser) = Browser::start("signin", true).await else {
        return;
    };
    let site = Site::start(10, Default::default()).await;
    let carol = site.add_operator("carol", Role::CampaignManager).await;

    // 1. The sign-in page, and a wrong password: the same answer as for anyone.
    browser.goto(&site.url("/console")).await;
    browser
        .wait_for_path("the sign-in page", |p| p == "/console/sign-in")
        .await;
    browser.screen("1-sign-in").await;
    browser.fill("#username", "carol").await;
    browser.fill("#password", "not her password at all").await;
    browser.click("button[type=submit]").await;
    let summary = browser
        .wait_for_text(".error-summary", |t| t.contains("There is a problem"))
        .await;
    assert!(summary.contains("wrong"), "{summary}");
    browser.screen("2-sign-in-refused").await;

    // 2. Enrolment: the password, the page's secret into the app, the first code, the
    // recovery codes shown once.
    let uri = enrol(&browser, &site, "carol", Some("3")).await;
    browser.screen("4-home").await;
    assert_eq!(browser.text("#role").await, "campaign_manager");

    // 3. The session cookie: HttpOnly, SameSite=Strict, host-only for `/`. On this
    // loopback `http://` server it is not Secure, so it cannot carry the `__Host-`
    // prefix (browsers refuse a `__Host-` cookie without Secure): the one relaxation
    // the access module allows.
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert_eq!(cookies.len(), 1, "one cookie: the session's");
    let session = &cookies[0];
    assert_eq!(session.name(), LOOPBACK_NAME);
    assert!(!session.name().starts_with("__Host-"));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert_eq!(session.secure(), Some(false));
    assert_eq!(session.path(), Some("/"));
    let script_sees = browser
        .client
        .execute("return document.cookie;", vec![])
        .await
        .unwrap();
    assert_eq!(
        script_sees,
        serde_json::json!(""),
        "HttpOnly: no script reads it"
    );

    // 4. A POST without the CSRF token: 403, and the session goes on.
    let status = browser
        .client
        .execute_async(
            r#"var done = arguments[arguments.length - 1];
               fetch("/console/sign-out", { method: "POST", credentials: "same-origin",
                   headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "" })
                 .then(function (r) { done(r.status); }, function (e) { done(String(e)); });"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(status, serde_json::json!(403));
    // The same through the page: the sign-out form with its token taken out.
    browser
        .client
        .execute(
            "document.querySelector('form[action=\"/console/sign-out\"] input[name=csrf_token]').remove();",
            vec![],
        )
        .await
        .unwrap();
    browser
        .click("form[action='/console/sign-out'] button")
        .await;
    browser.wait_for_heading("This form has expired").await;
    browser.screen("5-no-csrf-token").await;
    browser.goto(&site.url("/console")).await;
    browser.wait_for_heading("You are signed in").await;

    // 5. Idle for more than 15 minutes: the session has ended.
    site.advance(Duration::minutes(16));
    browser.goto(&site.url("/console")).await;
    browser
        .wait_for_path("the sign-in page", |p| p == "/console/sign-in")
        .await;

    // 6. Signing in again: a malformed code first, then the recovery-code page and
    // back, then the app's code.
    enter_password(&browser, &site, "carol").await;
    browser
        .wait_for_heading("Enter the code from your authenticator app")
        .await;
    browser.screen("6-code").await;
    browser.fill("#code", "12").await;
    browser.click("button[type=submit]").await;
    let message = browser
        .wait_for_text("#code-error", |t| !t.is_empty())
        .await;
    assert!(message.contains("6-digit code"), "{message}");
    browser.screen("7-code-malformed").await;
    browser.click("a[href='/console/sign-in/recovery']").await;
    browser.wait_for_heading("Enter a recovery code").await;
    browser.screen("8-recovery-code").await;
    browser.click("a[href='/console/sign-in/code']").await;
    browser
        .wait_for_heading("Enter the code from your authenticator app")
        .await;
    browser.fill("#code", &totp_code(&site, &uri)).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_heading("You are signed in").await;

    // 7. Disabled while signed in: the next request finds the session gone.
    site.access.disable(carol).await.unwrap();
    browser.goto(&site.url("/console")).await;
    browser
        .wait_for_path("the sign-in page", |p| p == "/console/sign-in")
        .await;
    site.advance(Duration::seconds(30));
    enter_password(&browser, &site, "carol").await;
    let summary = browser
        .wait_for_text(".error-summary", |t| t.contains("There is a problem"))
        .await;
    assert!(
        summary.contains("wrong"),
        "a disabled operator cannot sign in: {summary}"
    );
    browser.screen("9-disabled").await;

    // 8. Signing out ends the session (a fresh operator, from enrolment).
    site.add_operator("dave", Role::Analyst).await;
    enrol(&browser, &site, "dave", None).await;
    browser
        .click("form[action='/console/sign-out'] button")
        .await;
    browser
        .wait_for_path("the signed-out page", |p| {
            p == "/console/sign-in?signed_out=1"
        })
        .await;
    assert!(browser.text("main").await.contains("You have signed out."));
    browser.screen("10-signed-out").await;
    browser.goto(&site.url("/console")).await;
    browser
        .wait_for_path("the sign-in page", |p| p == "/console/sign-in")
        .await;
    browser.close().await;
}

/// The cookie of an `https://` deployment: `__Host-` prefixed, Secure, HttpOnly,
/// SameSite=Strict, host-only for `/`. The browser reaches the server as
/// `http://localhost`, a secure context in which it keeps Secure cookies.
#[tokio::test]
async fn the_secure_session_cookie_has_every_flag_in_a_real_browser() {
    let Some(browser) = Browser::start("signin-secure-cookie", true).await else {
        return;
    };
    let site = Site::start_with(5, Default::default(), true).await;
    site.add_operator("grace", Role::Auditor).await;
    enrol(&browser, &site, "grace", None).await;
    let cookies = browser.client.get_all_cookies().await.unwrap();
    assert_eq!(cookies.len(), 1, "one cookie: the session's");
    let session = &cookies[0];
    assert_eq!(session.name(), SECURE_NAME);
    assert!(session.name().starts_with("__Host-"));
    assert_eq!(session.secure(), Some(true));
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert_eq!(session.path(), Some("/"));
    assert_eq!(session.domain(), Some("localhost"), "host-only");
    browser.shot("home").await;
    browser.close().await;
}
