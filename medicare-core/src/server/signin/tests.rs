//! The sign-in pages over real HTTP: the whole flow, and bad input, each with a clear
//! answer and nothing stored changed.

use super::*;
use crate::access::{DisplayName, NewOperator, Role, Username};
use crate::server::auth::tests::{client, session_for};
use crate::server::auth::CSRF_FIELD;
use crate::server::testing::{totp_code_from_base32, PASSWORD};
use crate::server::tests::{generous, Service as TestServer};
use reqwest::StatusCode;

/// Everything the access tables hold that a sign-in attempt could change.
pub(super) async fn stored(s: &TestServer) -> String {
    let pool = s.store.pool();
    let operators: Option<String> = sqlx::query_scalar(
        "SELECT group_concat(id || '|' || status || '|' || consecutive_failures || '|' || locks \
         || '|' || ifnull(locked_until, '') || '|' || ifnull(last_totp_step, '') || '|' \
         || ifnull(last_sign_in_at, '') || '|' || password_hash, ';') FROM operators",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let mut out = operators.unwrap_or_default();
    for table in [
        "operator_recovery_codes",
        "operator_sessions",
        "operator_tokens",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(pool)
            .await
            .unwrap();
        out.push_str(&format!(" {table}={n}"));
    }
    out
}

/// The value of `<... id="{id}">VALUE<` in a page.
pub(super) fn text_of(page: &str, id: &str) -> String {
    let start = page.find(&format!("id=\"{id}\">")).expect(id) + id.len() + 6;
    page[start..].split('<').next().unwrap().trim().to_string()
}

/// The `name=value` of a `Set-Cookie` header.
pub(super) fn cookie_pair(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

/// The CSRF token in a page's forms.
pub(super) fn csrf_in(page: &str) -> String {
    let start = page
        .find("name=\"csrf_token\" value=\"")
        .expect("a CSRF field")
        + 25;
    page[start..].split('"').next().unwrap().to_string()
}

pub(super) async fn add_pending(s: &TestServer, name: &str, role: Role) {
    s.operators
        .as_ref()
        .unwrap()
        .service
        .add_operator(
            NewOperator {
                username: Username::parse(name).unwrap(),
                display_name: DisplayName::parse("New Operator").unwrap(),
                role,
            },
            SecretString::from(PASSWORD),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_operator_enrols_signs_in_and_out_over_http() {
    let s = TestServer::start(generous(), 2).await;
    let http = client();
    add_pending(&s, "newbie", Role::Analyst).await;
    let url = |p: &str| format!("{}{p}", s.base);

    let page = http.get(url(SIGN_IN_PATH)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(
        page.headers()["content-security-policy"],
        crate::server::views::console_csp().as_str()
    );
    let r = http
        .post(url(SIGN_IN_PATH))
        .form(&[("username", "NewBie"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], ENROL_PATH);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.starts_with("__Host-medicare-session=")
            && set.ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"),
        "{set}"
    );
    let pending = cookie_pair(&r);

    let enrol = http
        .get(url(ENROL_PATH))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(enrol.contains("<svg"), "{enrol}");
    let secret = text_of(&enrol, "totp-secret");
    assert!(text_of(&enrol, "otpauth-uri")
        .replace("&#x2f;", "/")
        .starts_with("otpauth://totp/"));
    let csrf = csrf_in(&enrol);
    let code = totp_code_from_base32(&secret, s.clock.as_ref(), 0);
    // Without the CSRF token: refused, and the account is still pending.
    let r = http
        .post(url(ENROL_PATH))
        .header("cookie", &pending)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(url(ENROL_PATH))
        .header("cookie", &pending)
        .form(&[("code", code.as_str()), (CSRF_FIELD, csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let signed_in = cookie_pair(&r);
    assert_ne!(
        signed_in, pending,
        "a new session id after the second factor"
    );
    let codes_page = r.text().await.unwrap();
    let codes = codes_page.matches("<li>").count();
    assert_eq!(codes, 10, "{codes_page}");

    let home = http
        .get(url(HOME_PATH))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    let home = home.text().await.unwrap();
    assert!(
        home.contains("newbie") && home.contains("analyst"),
        "{home}"
    );
    // The unfinished session's id is worth nothing now.
    let old = http
        .get(url(HOME_PATH))
        .header("cookie", &pending)
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::SEE_OTHER);

    // Sign-out: without the token refused, with it the session ends.
    let r = http
        .post(url(SIGN_OUT_PATH))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = http
        .post(url(SIGN_OUT_PATH))
        .header("cookie", &signed_in)
        .form(&[(CSRF_FIELD, csrf_in(&home).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let after = http
        .get(url(HOME_PATH))
        .header("cookie", &signed_in)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()["location"], SIGN_IN_PATH);
}

pub(super) async fn post_sign_in(
    s: &TestServer,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let r = client()
        .post(format!("{}{SIGN_IN_PATH}", s.base))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_read_the_same() {
    let s = TestServer::start(generous(), 2).await;
    let before = stored(&s).await;
    let (unknown_status, unknown) = post_sign_in(&s, "nobody-op", "not the password at all").await;
    assert_eq!(stored(&s).await, before, "an unknown user changes nothing");
    let (known_status, known) = post_sign_in(&s, "analyst-op", "not the password at all").await;
    assert_eq!(known_status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown_status, known_status);
    assert!(known.contains(REFUSED), "{known}");
    assert!(known.contains("href=\"#username\""));
    assert_eq!(
        known.replace("analyst-op", "X"),
        unknown.replace("nobody-op", "X")
    );
    // The wrong password counted towards the lockout.
    let after = stored(&s).await;
    assert_ne!(before, after);
    let failures: i64 = sqlx::query_scalar(
        "SELECT consecutive_failures FROM operators WHERE username = 'analyst-op'",
    )
    .fetch_one(s.store.pool())
    .await
    .unwrap();
    assert_eq!(failures, 1);
}

#[tokio::test]
async fn malformed_sign_in_input_is_named_and_changes_nothing() {
    let s = TestServer::start(generous(), 2).await;
    let before = stored(&s).await;
    // Blank fields: both named, each linked from the summary.
    let (status, page) = post_sign_in(&s, "", "").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for (field, message) in [
        ("username", "Enter your username"),
        ("password", "Enter your password"),
    ] {
        assert!(
            page.contains(&format!("href=\"#{field}\">{message}")),
            "{page}"
        );
        assert!(page.contains(&format!("id=\"{field}-error\"")), "{page}");
    }
    assert!(page.contains("<title>Error: Sign in"));
    // Control characters in a username: named, never echoed back.
    for username in [
        "analyst-op\u{0}",
        "ana\nlyst-op",
        "\u{7f}",
        "analyst\u{1b}[2J",
    ] {
        let (status, page) = post_sign_in(&s, username, PASSWORD).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{username:?}");
        assert!(page.contains("href=\"#username\""), "{page}");
        assert!(!page.contains(username), "{username:?}");
    }
    // Not a form at all, and a body over the limit.
    let r = client()
        .post(format!("{}{SIGN_IN_PATH}", s.base))
        .header("content-type", "application/json")
        .body("{\"username\": \"analyst-op\"}")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let r = client()
        .post(format!("{}{SIGN_IN_PATH}", s.base))
        .form(&[
            ("username", "analyst-op"),
            ("password", &"p".repeat(100_000)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("Too much to send"));
    assert_eq!(stored(&s).await, before);
}

/// The second-factor page for `role`'s operator, signed in with the password: (cookie,
/// CSRF token).
pub(super) async fn at_code_page(s: &TestServer, username: &str) -> (String, String) {
    let http = client();
    let r = http
        .post(format!("{}{SIGN_IN_PATH}", s.base))
        .form(&[("username", username), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], CODE_PATH);
    let cookie = cookie_pair(&r);
    let page = http
        .get(format!("{}{CODE_PATH}", s.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (cookie, csrf_in(&page))
}

#[tokio::test]
async fn malformed_codes_are_named_and_change_nothing_and_a_used_recovery_code_is_refused() {
    let s = TestServer::start(generous(), 2).await;
    let ops = s.operators.as_ref().unwrap();
    let http = client();
    let (cookie, csrf) = at_code_page(&s, "analyst-op").await;
    let before = stored(&s).await;
    for (path, code, message) in [
        (CODE_PATH, "12ab56", "Enter the 6-digit code"),
        (CODE_PATH, "1234567", "Enter the 6-digit code"),
        (CODE_PATH, "", "Enter the 6-digit code"),
        (RECOVERY_PATH, "short", "Enter a recovery code"),
        (RECOVERY_PATH, "!!!!!-!!!!!", "Enter a recovery code"),
    ] {
        let r = http
            .post(format!("{}{path}", s.base))
            .header("cookie", &cookie)
            .form(&[("code", code), (CSRF_FIELD, csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{code:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{page}");
        assert!(page.contains("href=\"#code\"") && page.contains("id=\"code-error\""));
    }
    assert_eq!(
        stored(&s).await,
        before,
        "malformed codes count for nothing"
    );

    // A recovery code works once.
    let op = ops.of(Role::Auditor);
    let (_, _, codes) = {
        // The auditor's codes: reset their second factor and enrol again through HTTP.
        let enrolment = ops.service.reset_mfa(op.id).await.unwrap();
        s.clock.advance(chrono::Duration::seconds(30));
        let pending = ops
            .service
            .sign_in(&op.username, &SecretString::from(PASSWORD))
            .await
            .unwrap();
        let code = crate::server::testing::totp_code(&enrolment, ops.clock.as_ref(), 0);
        let done = ops
            .service
            .confirm_enrolment(&pending.id, &code)
            .await
            .unwrap();
        (pending, enrolment, done.recovery_codes)
    };
    let code = codes.grouped()[0].expose_secret().to_string();
    let use_it = |code: String| {
        let s = &s;
        let username = op.username.clone();
        async move {
            let (cookie, csrf) = at_code_page(s, &username).await;
            client()
                .post(format!("{}{RECOVERY_PATH}", s.base))
                .header("cookie", cookie)
                .form(&[("code", code.as_str()), (CSRF_FIELD, csrf.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let first = use_it(code.clone()).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(first.headers()["location"], HOME_PATH);
    let sessions = |s: &TestServer| {
        let pool = s.store.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM operator_sessions WHERE stage = 'active'",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let (signed_in, left) = (sessions(&s).await, codes_left(&s, op.id).await);
    let again = use_it(code).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
    assert!(again.text().await.unwrap().contains(REFUSED));
    assert_eq!(
        (sessions(&s).await, codes_left(&s, op.id).await),
        (signed_in, left),
        "a spent recovery code signs nobody in and spends nothing"
    );
}

/// The recovery codes `operator` has left.
async fn codes_left(s: &TestServer, operator: crate::access::OperatorId) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM operator_recovery_codes WHERE operator_id = ?")
        .bind(operator.0)
        .fetch_one(s.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn oversized_bodies_get_a_clear_answer_and_change_nothing() {
    let s = TestServer::start(generous(), 2).await;
    let http = client();
    let (cookie, csrf) = at_code_page(&s, "analyst-op").await;
    let forms = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM forms")
            .fetch_one(s.store.pool())
            .await
            .unwrap()
    };
    let (before, forms_before) = (stored(&s).await, forms().await);
    let big = "1".repeat(100_000);
    for path in [CODE_PATH, RECOVERY_PATH, ENROL_PATH, STEP_UP_PATH] {
        let r = http
            .post(format!("{}{path}", s.base))
            .header("cookie", &cookie)
            .form(&[("code", big.as_str()), (CSRF_FIELD, csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert!(
            r.text().await.unwrap().contains("Too much to send"),
            "{path}"
        );
    }
    // The JSON API: a JSON error, with a valid token or without one.
    for token in [Some(s.token(Role::CampaignManager)), None] {
        let mut request = http
            .post(format!("{}/api/forms", s.base))
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{big}\"}}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap();
        // The size is refused before the token is even read.
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body["error"]["kind"].is_string(), "{body}");
    }
    assert_eq!((stored(&s).await, forms().await), (before, forms_before));
}

#[tokio::test]
async fn step_up_goes_back_only_to_console_pages() {
    assert_eq!(
        safe_next("/console/campaigns/1/send"),
        "/console/campaigns/1/send"
    );
    for bad in [
        "https://evil.example/console/",
        "//evil.example/console/x",
        "/console//evil.example",
        "/consolex",
        "/console/\\evil",
        "/api/forms",
        "",
    ] {
        assert_eq!(safe_next(bad), HOME_PATH, "{bad}");
    }
    // And over HTTP, an expired step-up form is refused without its token.
    let s = TestServer::start(generous(), 2).await;
    let (cookie, _) = session_for(&s, Role::Admin).await;
    let r = client()
        .post(format!("{}{STEP_UP_PATH}", s.base))
        .header("cookie", cookie)
        .form(&[("code", "123456"), (CSRF_FIELD, "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
