//! The log canary over real HTTP: every sign-in flow (a wrong password, an unknown user,
//! a username with control characters, malformed and wrong codes, enrolment, a recovery
//! code used twice, sign-out) and every use of an API token (made, used, revoked, made
//! up), served in-process with every log line of every crate captured at TRACE. Each
//! password, TOTP secret, code, recovery code, session id, CSRF token and API token that
//! passed through is then searched for in the logs.

use super::tests::{add_pending, cookie_pair, csrf_in, text_of};
use super::*;
use crate::access::canary::Captured;
use crate::access::Role;
use crate::clock::Clock;
use crate::server::auth::tests::client;
use crate::server::auth::CSRF_FIELD;
use crate::server::testing::{totp_code, totp_code_from_base32, PASSWORD};
use crate::server::tests::{generous, Service as TestServer};
use reqwest::StatusCode;

/// The secrets seen so far, each in the forms a log line could carry it.
#[derive(Default)]
struct Canaries(Vec<String>);

impl Canaries {
    fn add(&mut self, secret: &str) {
        assert!(
            secret.len() >= 6,
            "a canary too short to mean anything: {secret:?}"
        );
        self.0.push(secret.to_string());
        // As a form body or URL would carry it.
        let encoded = serde_urlencoded::to_string([("x", secret)]).unwrap();
        self.0.push(encoded["x=".len()..].to_string());
    }

    /// A `name=value` cookie pair: the value.
    fn cookie(&mut self, pair: &str) {
        self.add(pair.split_once('=').expect("name=value").1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_code_or_token_reaches_a_log_line_at_any_level() {
    // Global, so the server's tasks and blocking threads (password hashing) log here
    // too. Each test runs in its own process under nextest.
    let logs = Captured::default();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .without_time()
            .finish(),
    )
    .expect("no other subscriber in this process");

    let s = TestServer::start(generous(), 2).await;
    let ops = s.operators.as_ref().unwrap();
    let mut c = Canaries::default();
    c.add(PASSWORD);
    for role in Role::ALL {
        c.add(ops.token(role));
        c.add(ops.of(role).enrolment.secret_base32.expose_secret());
    }
    let http = client();
    let url = |p: &str| format!("{}{p}", s.base);
    let sign_in = |username: &'static str, password: &'static str| {
        http.post(url(SIGN_IN_PATH))
            .form(&[("username", username), ("password", password)])
            .send()
    };

    // A wrong password, an unknown user, control characters in a username.
    c.add("canary-wrong-password-1");
    let r = sign_in("analyst-op", "canary-wrong-password-1")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    c.add("canary-unknown-users-password");
    let r = sign_in("nobody-op", "canary-unknown-users-password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    c.add("canary-control-char-password");
    let r = sign_in("ana\nlyst-op", "canary-control-char-password")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Enrolment over HTTP.
    add_pending(&s, "canary-op", Role::Analyst).await;
    let r = sign_in("canary-op", PASSWORD).await.unwrap();
    assert_eq!(r.headers()["location"], ENROL_PATH);
    let pending = cookie_pair(&r);
    c.cookie(&pending);
    let enrol = http
        .get(url(ENROL_PATH))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = text_of(&enrol, "totp-secret");
    c.add(&secret);
    let csrf = csrf_in(&enrol);
    c.add(&csrf);
    let wrong = totp_code_from_base32(&secret, s.clock.as_ref(), 5);
    c.add(&wrong);
    let r = http
        .post(url(ENROL_PATH))
        .header("cookie", &pending)
        .form(&[("code", wrong.as_str()), (CSRF_FIELD, csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let code = totp_code_from_base32(&secret, s.clock.as_ref(), 0);
    c.add(&code);
    let r = http
        .post(url(ENROL_PATH))
        .header("cookie", &pending)
        .form(&[("code", code.as_str()), (CSRF_FIELD, csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let signed_in = cookie_pair(&r);
    c.cookie(&signed_in);
    let codes_page = r.text().await.unwrap();
    let recovery: Vec<String> = codes_page
        .split("<li>")
        .skip(1)
        .map(|item| item.split('<').next().unwrap().trim().to_string())
        .collect();
    assert_eq!(recovery.len(), 10, "{codes_page}");
    for code in &recovery {
        c.add(code);
        c.add(&code.replace('-', ""));
    }

    // Sign-out, then a malformed code, a wrong code and a recovery code, used twice.
    let home = http
        .get(url(HOME_PATH))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = http
        .post(url(SIGN_OUT_PATH))
        .header("cookie", &signed_in)
        .form(&[(CSRF_FIELD, csrf_in(&home).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    s.clock.advance(chrono::Duration::seconds(30));
    for attempt in 0..2 {
        let r = sign_in("canary-op", PASSWORD).await.unwrap();
        assert_eq!(r.headers()["location"], CODE_PATH);
        let cookie = cookie_pair(&r);
        c.cookie(&cookie);
        let page = http
            .get(url(CODE_PATH))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_in(&page);
        c.add(&csrf);
        let wrong = totp_code_from_base32(&secret, s.clock.as_ref(), 4 + attempt);
        c.add(&wrong);
        for (path, code, status) in [
            (CODE_PATH, "98x765", StatusCode::UNPROCESSABLE_ENTITY),
            (CODE_PATH, wrong.as_str(), StatusCode::UNAUTHORIZED),
            (RECOVERY_PATH, "short", StatusCode::UNPROCESSABLE_ENTITY),
        ] {
            let r = http
                .post(url(path))
                .header("cookie", &cookie)
                .form(&[("code", code), (CSRF_FIELD, csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{path} {code:?}");
        }
        let r = http
            .post(url(RECOVERY_PATH))
            .header("cookie", &cookie)
            .form(&[("code", recovery[0].as_str()), (CSRF_FIELD, csrf.as_str())])
            .send()
            .await
            .unwrap();
        let expected = [StatusCode::SEE_OTHER, StatusCode::UNAUTHORIZED][attempt as usize];
        assert_eq!(r.status(), expected, "recovery code, attempt {attempt}");
        if r.status() == StatusCode::SEE_OTHER {
            c.cookie(&cookie_pair(&r));
        }
    }

    // A signed-in session from a code (the session id and CSRF token of a page).
    let op = ops.of(Role::CampaignManager);
    s.clock.advance(chrono::Duration::seconds(30));
    let r = sign_in("campaign-manager-op", PASSWORD).await.unwrap();
    let cookie = cookie_pair(&r);
    c.cookie(&cookie);
    let page = http
        .get(url(CODE_PATH))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_in(&page);
    c.add(&csrf);
    let code = totp_code(&op.enrolment, s.clock.as_ref(), 0);
    c.add(&code);
    let r = http
        .post(url(CODE_PATH))
        .header("cookie", &cookie)
        .form(&[("code", code.as_str()), (CSRF_FIELD, csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    c.cookie(&cookie_pair(&r));

    // API tokens: made (as the CLI makes them), used, revoked, made up.
    let issued = ops
        .service
        .create_token(op.id, "canary", s.clock.now() + chrono::Duration::days(1))
        .await
        .unwrap();
    let token = issued.token.expose().to_string();
    c.add(&token);
    let made_up = format!("medicare_{}", "Q".repeat(43));
    c.add(&made_up);
    let api = |token: String| {
        http.get(url("/api/forms"))
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    assert_eq!(api(token.clone()).await.unwrap().status(), StatusCode::OK);
    ops.service.revoke_token(op.id, issued.id).await.unwrap();
    for presented in [token.clone(), made_up] {
        let r = api(presented).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let analyst = api(ops.token(Role::Analyst).to_string()).await.unwrap();
    assert_eq!(analyst.status(), StatusCode::FORBIDDEN);

    let logged = logs.text();
    for expected in [
        "operator signed in",
        "operator sign-in step refused",
        "request refused",
        "API token created",
    ] {
        assert!(
            logged.contains(expected),
            "the logs were captured: {expected}"
        );
    }
    assert!(
        logged.lines().any(|l| l.contains("TRACE")),
        "TRACE lines were captured"
    );
    assert!(c.0.len() > 60, "the canaries were collected: {}", c.0.len());
    for line in logged.lines() {
        for secret in &c.0 {
            assert!(
                !line.contains(secret.as_str()),
                "a log line carries a secret ({secret}): {line}"
            );
        }
    }
}
