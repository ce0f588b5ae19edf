//! The operator console under test, as `medicare serve` runs it but in-process: a
//! workspace on an injected clock, the operators' sign-in service of that workspace
//! (`Workspace::access`, what `medicare operator add` and `serve` use), the router on a
//! loopback port with the session cookie a loopback `http://` bind gets, and the
//! operator's side of sign-in in a real browser: enrolment and sign-in through the
//! pages, with codes computed from the enrolment page's `otpauth://` URI by `totp-rs`.
//!
//! Use it from a test file as `mod common { pub mod browser; pub mod site; }`.
#![allow(dead_code, missing_docs)]

use super::browser::Browser;
use chrono::{Duration, TimeZone, Utc};
use medicare_core::access::{DisplayName, NewOperator, OperatorId, Role, Service, SessionCookie};
use medicare_core::campaign::SendOptions;
use medicare_core::clock::{Clock, FixedClock};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::server::{router, serve, ServerOptions};
use medicare_core::{Config, Workspace};
use secrecy::SecretString;
use std::sync::Arc;

/// Every test operator's password.
pub const PASSWORD: &str = "violet kettle sunrise";

/// A running console.
pub struct Site {
    pub ws: Workspace,
    pub clock: Arc<FixedClock>,
    pub access: Arc<Service>,
    /// `http://127.0.0.1:<port>` (`http://localhost:<port>` with the Secure cookie).
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Site {
    /// A workspace holding `patients` generated patients, served with `send_options`.
    pub async fn start(patients: usize, send_options: SendOptions) -> Site {
        Self::start_with(patients, send_options, false).await
    }

    /// [`Site::start`], with the Secure `__Host-` session cookie of an `https://`
    /// deployment when `secure_cookie` (reached as `http://localhost`, which browsers
    /// treat as a secure context) instead of the loopback `http://` one.
    pub async fn start_with(
        patients: usize,
        send_options: SendOptions,
        secure_cookie: bool,
    ) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
        ));
        let ws = Workspace::open_with_clock(
            dir.path(),
            Config::default(),
            clock.clone() as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        ws.engine()
            .import_patients(&generate(GenerateOptions {
                count: patients,
                seed: 7,
            }))
            .await
            .unwrap();
        let access = Arc::new(ws.access().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServerOptions {
            access: Some(access.clone()),
            session_cookie: if secure_cookie {
                SessionCookie::secure()
            } else {
                SessionCookie::for_bind(addr, false).unwrap()
            },
            send_options,
            ..ServerOptions::default()
        };
        tokio::spawn(serve(
            listener,
            router(ws.engine().clone(), options),
            std::future::pending(),
        ));
        Site {
            ws,
            clock,
            access,
            base: if secure_cookie {
                format!("http://localhost:{}", addr.port())
            } else {
                format!("http://{addr}")
            },
            _dir: dir,
        }
    }

    /// `path` on this site.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Adds an operator, pending enrolment, as `medicare operator add` does.
    pub async fn add_operator(&self, username: &str, role: Role) -> OperatorId {
        let (id, _enrolment) = self
            .access
            .add_operator(
                NewOperator {
                    username: username.parse().unwrap(),
                    display_name: DisplayName::parse(username).unwrap(),
                    role,
                },
                SecretString::from(PASSWORD),
            )
            .await
            .unwrap();
        id
    }

    /// Moves the clock on.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The outbox's messages, one JSON object a line.
    pub fn outbox(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.ws.outbox_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// The code an authenticator app holding `otpauth_uri` shows at `site`'s now.
pub fn totp_code(site: &Site, otpauth_uri: &str) -> String {
    let totp = totp_rs::TOTP::from_url(otpauth_uri).expect("an otpauth://totp URI");
    let now = site.clock.now().timestamp();
    totp.generate(u64::try_from(now).unwrap())
}

/// Types the username and password on the sign-in page and submits.
pub async fn enter_password(browser: &Browser, site: &Site, username: &str) {
    browser.goto(&site.url("/console/sign-in")).await;
    browser.wait_for_heading("Sign in").await;
    browser.fill("#username", username).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
}

/// Enrols `username` (added, not yet enrolled) through the pages: password, then the
/// enrolment page's secret into the "app", the first code, the recovery codes; ends
/// signed in on the console's home. Returns the `otpauth://` URI the page showed.
/// `screens` names the screenshots (and axe scans) of the pages on the way, if wanted.
pub async fn enrol(
    browser: &Browser,
    site: &Site,
    username: &str,
    screens: Option<&str>,
) -> String {
    enter_password(browser, site, username).await;
    browser
        .wait_for_heading("Set up your authenticator app")
        .await;
    // The key is behind "I cannot scan the QR code", as an operator would find it.
    browser.click("details summary").await;
    let uri = browser
        .wait_for_text("#otpauth-uri", |t| t.starts_with("otpauth://totp/"))
        .await;
    let secret = browser.text("#totp-secret").await;
    assert!(
        uri.contains(&format!("secret={secret}")),
        "the typed key and the URI hold one secret"
    );
    if let Some(prefix) = screens {
        browser.screen(&format!("{prefix}-enrol")).await;
    }
    browser.fill("#code", &totp_code(site, &uri)).await;
    browser
        .click("form[action='/console/enrol'] button[type=submit]")
        .await;
    browser.wait_for_heading("Save your recovery codes").await;
    if let Some(prefix) = screens {
        browser.screen(&format!("{prefix}-recovery-codes")).await;
    }
    browser.click("main a[href='/console']").await;
    browser.wait_for_heading("You are signed in").await;
    uri
}

/// Signs an enrolled operator in through the pages, half a minute after the last
/// code (an accepted code is never accepted again); ends on the console's home.
pub async fn sign_in(browser: &Browser, site: &Site, username: &str, otpauth_uri: &str) {
    site.advance(Duration::seconds(30));
    enter_password(browser, site, username).await;
    browser
        .wait_for_heading("Enter the code from your authenticator app")
        .await;
    browser.fill("#code", &totp_code(site, otpauth_uri)).await;
    browser.click("button[type=submit]").await;
    browser.wait_for_heading("You are signed in").await;
}
