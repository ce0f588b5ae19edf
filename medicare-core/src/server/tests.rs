//! The form service against a running router on loopback, over real HTTP.

use super::client::{link_path, submit};
use super::testing::Operators;
use super::{api, router, serve, ServerOptions};
use crate::access::Role;
use crate::campaign::Engine;
use crate::clock::{Clock, FixedClock};
use crate::server::auth::Access;
use crate::store::sqlite::SqliteStore;
use crate::test_support::Fixture;
use reqwest::StatusCode;
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

/// A sent SMS campaign over a few patients, served on loopback.
pub(crate) struct Service {
    pub engine: Engine,
    pub store: SqliteStore,
    pub clock: Arc<FixedClock>,
    pub base: String,
    pub client: reqwest::Client,
    /// (recipient id, link path), by recipient id.
    pub links: Vec<(i64, String)>,
    /// One operator per role, with API tokens (when the options turn access on).
    pub operators: Option<Operators>,
    _dir: tempfile::TempDir,
}

pub(crate) fn generous() -> ServerOptions {
    ServerOptions {
        link_requests_per_minute: NonZeroU32::new(1_000_000).unwrap(),
        link_burst: NonZeroU32::new(1_000_000).unwrap(),
        ..ServerOptions::default()
    }
}

impl Service {
    /// Serves the router with `options`; with `operators`, access is on and one
    /// operator per role has a token.
    pub async fn start(options: ServerOptions, patients: usize) -> Service {
        Self::start_with(options, patients, true).await
    }

    /// [`Service::start`], with or without operators.
    pub async fn start_with(
        mut options: ServerOptions,
        patients: usize,
        operators: bool,
    ) -> Service {
        let f = Fixture::sent_campaign(patients).await;
        let mut links: Vec<(i64, String)> = f
            .recorder
            .sent()
            .iter()
            .map(|m| (m.recipient_id, link_path(&m.text).unwrap().to_string()))
            .collect();
        links.sort();
        let (engine, store, clock, dir) = (f.engine, f.store, f.clock, f.dir);
        let operators = if operators {
            let ops = Operators::enrol_every_role(Arc::new(store.clone()), clock.clone())
                .await
                .unwrap();
            options.access = Some(ops.service.clone());
            Some(ops)
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(
            listener,
            router(engine.clone(), options),
            std::future::pending(),
        ));
        Service {
            engine,
            store,
            clock,
            base,
            client: reqwest::Client::new(),
            links,
            operators,
            _dir: dir,
        }
    }

    /// The API token of `role`'s operator.
    pub fn token(&self, role: Role) -> &str {
        self.operators.as_ref().expect("operators").token(role)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, answers: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(answers)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn rows(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM resp_1")
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }
}

pub(crate) fn valid_answers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("wants_vaccination", "yes"),
        ("preferred_site", "A local pharmacy"),
        ("available_days", "Monday"),
        ("available_days", "Friday"),
        ("earliest_date", "2026-12-01"),
        ("contact_phone", ""),
        ("access_needs", ""),
    ]
}

/// Nothing that would help an attacker or leak data: no framework text, no detail.
fn assert_plain(body: &str) {
    for leak in [
        "sqlx",
        "panicked",
        "database",
        "stack",
        "Error",
        "rust",
        "token_hash",
    ] {
        assert!(!body.contains(leak), "page leaks {leak:?}: {body}");
    }
}

fn assert_security_headers(h: &reqwest::header::HeaderMap) {
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(csp.contains("style-src 'sha256-"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("http"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_link_opens_its_form_and_counts_the_views() {
    let s = Service::start(generous(), 30).await;
    let (recipient, path) = &s.links[0];
    let (status, headers, body) = s.get(path).await;
    assert_eq!(status, StatusCode::OK);
    assert_security_headers(&headers);
    assert!(body.contains("Register for your vaccination"));
    assert!(!body.contains("<script") && !body.contains("http://") && !body.contains("https://"));
    s.get(path).await;
    let t = s.store.clone();
    let tracking = crate::store::FollowUpStore::recipient_tracking(&t, *recipient)
        .await
        .unwrap();
    assert_eq!(tracking.open_count, 2);
    assert_eq!(
        tracking.first_opened_at,
        Some(crate::clock::Clock::now(&*s.clock))
    );
    assert_eq!(tracking.submitted_at, None);
}

#[tokio::test]
async fn forged_tampered_expired_and_spent_tokens_are_refused() {
    let s = Service::start(generous(), 30).await;
    let (_, path) = &s.links[1];
    let forged = "/f/AAAAAAAAAAAAAAAAAAAAAA";
    let mut tampered = path.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    for (bad, what) in [
        (forged, "forged"),
        (tampered.as_str(), "tampered"),
        ("/f/short", "malformed"),
        ("/f/..%2F..%2Fetc%2Fpasswd", "traversal"),
        ("/f/AAAAAAAAAAAAAAAAAAAAA%27", "quote"),
    ] {
        let (status, headers, body) = s.get(bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
        assert!(body.contains("This link is not valid"), "{what}: {body}");
        assert_security_headers(&headers);
        assert_plain(&body);
        let (status, _) = s.post(bad, &valid_answers()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{what} POST");
    }

    // Spent: answered once, then every further view or answer is refused.
    let (status, body) = s.post(path, &valid_answers()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Thank you"));
    let (status, _, body) = s.get(path).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("already answered"), "{body}");
    assert_plain(&body);
    let (status, _) = s.post(path, &valid_answers()).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(s.rows().await, 1);

    // Expired: the clock passes the links' expiry.
    s.clock.advance(chrono::Duration::days(31));
    let (status, _, body) = s.get(&s.links[2].1).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(body.contains("expired"), "{body}");
    assert_plain(&body);
    let (status, _) = s.post(&s.links[2].1, &valid_answers()).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(s.rows().await, 1);
}

#[tokio::test]
async fn a_thousand_random_tokens_are_all_refused() {
    use base64::Engine as _;
    use rand::RngCore;
    let s = Service::start(generous(), 10).await;
    let mut rng = rand::thread_rng();
    let mut statuses = BTreeSet::new();
    for _ in 0..1_000 {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let r = s
            .client
            .get(format!("{}/f/{token}", s.base))
            .send()
            .await
            .unwrap();
        statuses.insert(r.status());
    }
    assert_eq!(statuses, BTreeSet::from([StatusCode::NOT_FOUND]));
    let opened: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(open_count), 0) FROM recipients")
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(opened, 0);
}

#[tokio::test]
async fn token_guessing_is_rate_limited_per_ip() {
    let options = ServerOptions {
        link_requests_per_minute: NonZeroU32::new(5).unwrap(),
        link_burst: NonZeroU32::new(5).unwrap(),
        ..ServerOptions::default()
    };
    let s = Service::start(options, 10).await;
    for _ in 0..5 {
        let (status, _, _) = s.get("/f/AAAAAAAAAAAAAAAAAAAAAA").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, headers, body) = s.get(&s.links[0].1).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even a valid link waits"
    );
    assert_eq!(headers["retry-after"], "60");
    assert_security_headers(&headers);
    assert!(body.contains("Please wait"));
}

#[tokio::test]
async fn an_invalid_answer_shows_the_form_again_with_messages_and_stores_nothing() {
    let s = Service::start(generous(), 10).await;
    let path = &s.links[0].1;
    let answers = [
        ("wants_vaccination", "maybe"),
        ("earliest_date", "2025-13-40"),
        ("access_needs", "kept <b>as typed</b>"),
    ];
    let (status, body) = s.post(path, &answers).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Please choose yes or no."), "{body}");
    assert!(body.contains("kept &lt;b&gt;as typed&lt;"), "{body}");
    assert!(!body.contains("<b>as typed"));
    assert_eq!(s.rows().await, 0);
    let spent: Option<String> =
        sqlx::query_scalar("SELECT submitted_at FROM recipients WHERE id = ?")
            .bind(s.links[0].0)
            .fetch_one(s.store.pool())
            .await
            .unwrap();
    assert_eq!(spent, None, "a refused answer does not spend the link");
    // Unreadable bodies and oversized ones get plain pages too.
    let r = s
        .client
        .post(format!("{}{path}", s.base))
        .body("%%%=%%%&&&=")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let big = "x".repeat(200 * 1024);
    let r = s
        .client
        .post(format!("{}{path}", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_needs={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_security_headers(r.headers());
    let body = r.text().await.unwrap();
    assert!(body.contains("Too much to send"), "{body}");
    assert_eq!(s.rows().await, 0);
}

#[tokio::test]
async fn concurrent_submissions_for_one_link_leave_one_row() {
    let s = Service::start(generous(), 10).await;
    let path = s.links[0].1.clone();
    let answers: Vec<(String, String)> = valid_answers()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, base, path, answers) = (
                s.client.clone(),
                s.base.clone(),
                path.clone(),
                answers.clone(),
            );
            tokio::spawn(async move { submit(&client, &base, &path, &answers).await.unwrap() })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::GONE));
    assert_eq!(s.rows().await, 1);
}

#[tokio::test]
async fn a_script_answer_is_stored_as_text_and_escaped_in_the_report() {
    let s = Service::start(generous(), 10).await;
    let script = "<script>alert('x')</script>";
    let mut answers = valid_answers();
    answers.retain(|(k, _)| *k != "access_needs");
    answers.push(("access_needs", script));
    let (status, _) = s.post(&s.links[0].1, &answers).await;
    assert_eq!(status, StatusCode::OK);
    let stored: String = sqlx::query_scalar("SELECT access_needs FROM resp_1")
        .fetch_one(s.store.pool())
        .await
        .unwrap();
    assert_eq!(stored, script);
    let report = crate::report::weekly_report(&s.engine).await.unwrap();
    let html = crate::report::render_html(&report);
    assert!(!html.contains("<script"), "the report must escape answers");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
}

#[tokio::test]
async fn unknown_paths_get_the_plain_page_with_headers() {
    let s = Service::start(generous(), 5).await;
    let (status, headers, body) = s.get("/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_security_headers(&headers);
    assert!(body.contains("Page not found"));
    assert_plain(&body);
}

#[tokio::test]
async fn the_openapi_document_matches_the_routes() {
    let s = Service::start(generous(), 5).await;
    let (status, headers, body) = s.get(api::OPENAPI_PATH).await;
    assert_eq!(status, StatusCode::OK);
    assert_security_headers(&headers);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let declared = api::api_routes().declarations();
    let routed: BTreeSet<(String, String)> = declared
        .iter()
        .map(|d| (d.method.to_string(), d.path.to_string()))
        .collect();
    assert_eq!(
        documented, routed,
        "the OpenAPI document and the router differ"
    );

    // Every documented route answers JSON from its handler or the guard (not the HTML
    // fallback), and refuses a caller without a token.
    for d in &declared {
        let url = format!("{}{}", s.base, d.path.replace("{id}", "999"));
        let method = reqwest::Method::from_bytes(d.method.as_str().as_bytes()).unwrap();
        let anonymous = s.client.request(method.clone(), &url).send().await.unwrap();
        if d.access != Access::Public {
            assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{}", d.path);
        }
        let role = d
            .access
            .permission()
            .and_then(|p| Role::ALL.into_iter().find(|r| r.allows(p)))
            .unwrap_or(Role::Admin);
        let r = s
            .client
            .request(method, &url)
            .bearer_auth(s.token(role))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{}: {ct}", d.path);
        assert_ne!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{}", d.path);
    }
}

#[tokio::test]
async fn the_api_runs_the_lifecycle() {
    let s = Service::start(generous(), 40).await;
    let call = |method: reqwest::Method, path: &str, body: serde_json::Value| {
        let role = if path.starts_with("/api/reports") {
            Role::Analyst
        } else {
            Role::CampaignManager
        };
        let req = s
            .client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(s.token(role))
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, count) = call(
        reqwest::Method::POST,
        "/api/patients/count",
        serde_json::json!({"filter": "age >= 0"}),
    )
    .await;
    assert_eq!(
        (status, count["count"].as_u64()),
        (StatusCode::OK, Some(40))
    );
    let (status, err) = call(
        reqwest::Method::POST,
        "/api/patients/count",
        serde_json::json!({"filter": "age >> 3"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["kind"], "invalid_input");
    let spec = serde_json::json!({"name": "api_form", "title": "API form", "fields": [
        {"name": "ok", "label": "OK?", "type": "yes_no", "required": true}]});
    let (status, form) = call(reqwest::Method::POST, "/api/forms", spec).await;
    assert_eq!(status, StatusCode::CREATED, "{form}");
    let (status, preview) = call(
        reqwest::Method::POST,
        "/api/campaigns",
        serde_json::json!({"name": "api", "form": form["id"], "filter": "has_email", "channels": ["email"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{preview}");
    let id = preview["campaign"]["id"].as_i64().unwrap();
    let (status, report) = call(
        reqwest::Method::POST,
        &format!("/api/campaigns/{id}/send"),
        serde_json::json!({}),
    )
    .await;
    // Sending needs a fresh second factor, which an API token never is: refused, and
    // nothing is sent.
    assert_eq!(status, StatusCode::FORBIDDEN, "{report}");
    assert_eq!(report["error"]["kind"], "fresh_second_factor_required");
    let (_, status_before) = call(
        reqwest::Method::GET,
        &format!("/api/campaigns/{id}"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status_before["state"], "draft", "{status_before}");
    s.engine
        .send(crate::campaign::CampaignId(id), &Default::default(), &())
        .await
        .unwrap();
    let (_, tracking) = call(
        reqwest::Method::GET,
        &format!("/api/campaigns/{id}/tracking"),
        serde_json::json!({}),
    )
    .await;
    assert_eq!(tracking["recipients"], preview["recipients"]);
    let (status, weekly) = call(
        reqwest::Method::GET,
        "/api/reports/weekly",
        serde_json::json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(weekly["week"], "2026-W47");
    assert_eq!(weekly["campaigns"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_api_is_off_without_operators() {
    let s = Service::start_with(ServerOptions::default(), 5, false).await;
    let r = s
        .client
        .get(format!("{}/api/campaigns", s.base))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "api_disabled");
}

/// A revoked or expired token, a disabled operator's token, junk and no token at all:
/// each a `401` with a JSON error and a `WWW-Authenticate` challenge.
#[tokio::test]
async fn revoked_and_expired_tokens_get_a_json_401() {
    let s = Service::start(generous(), 3).await;
    let ops = s.operators.as_ref().unwrap();
    let url = format!("{}/api/campaigns", s.base);
    let get = |token: Option<String>| {
        let mut req = s.client.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            let challenge = r.headers().get("www-authenticate").cloned();
            (
                r.status(),
                challenge,
                r.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let analyst = ops.of(Role::Analyst);
    assert_eq!(
        get(Some(s.token(Role::Analyst).into())).await.0,
        StatusCode::OK
    );
    // A second token for the analyst, then revoked.
    let issued = ops
        .service
        .create_token(
            analyst.id,
            "revoked",
            s.clock.now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    let revoked = issued.token.expose().to_string();
    assert_eq!(get(Some(revoked.clone())).await.0, StatusCode::OK);
    ops.service
        .revoke_token(analyst.id, issued.id)
        .await
        .unwrap();
    // One expiring in an hour, then the clock moves past it.
    let short = ops
        .service
        .create_token(
            analyst.id,
            "short",
            s.clock.now() + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let short = short.token.expose().to_string();
    assert_eq!(get(Some(short.clone())).await.0, StatusCode::OK);
    s.clock.advance(chrono::Duration::hours(2));
    for token in [
        Some(revoked),
        Some(short),
        Some("medicare_notatoken".to_string()),
        Some(String::new()),
        None,
    ] {
        let (status, challenge, body) = get(token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.unwrap(), "Bearer");
        assert_eq!(body["error"]["kind"], "unauthorized", "{body}");
    }
    // A disabled operator's token stops at its next use.
    let manager = ops.of(Role::CampaignManager);
    assert_eq!(
        get(Some(s.token(Role::CampaignManager).into())).await.0,
        StatusCode::OK
    );
    ops.service.disable(manager.id).await.unwrap();
    assert_eq!(
        get(Some(s.token(Role::CampaignManager).into())).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// The `Bearer` scheme name is case-insensitive (RFC 9110); an empty credential is not
/// the token.
#[tokio::test]
async fn the_bearer_scheme_is_matched_case_insensitively() {
    let s = Service::start(generous(), 3).await;
    let url = format!("{}/api/campaigns", s.base);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = s
            .client
            .get(&url)
            .header(
                "authorization",
                format!("{scheme} {}", s.token(Role::Analyst)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{scheme}");
    }
    let bare = s.token(Role::Analyst).to_string();
    for header in ["Basic abc", "Bearer", "Bearer ", "Token x", bare.as_str()] {
        let r = s
            .client
            .get(&url)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

/// What a black-box probe found where the API and its OpenAPI document disagreed, and
/// inputs that once dropped the connection.
#[tokio::test]
async fn api_inputs_are_checked_as_the_openapi_document_says() {
    let s = Service::start(generous(), 5).await;
    let send = |method: reqwest::Method, path: &str, body: &str| {
        let req = s
            .client
            .request(method, format!("{}{path}", s.base))
            .bearer_auth(s.token(Role::CampaignManager))
            .header("content-type", "application/json")
            .body(body.to_string());
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            let allow = r.headers().get("allow").cloned();
            let body = r.text().await.unwrap();
            (status, allow, body)
        }
    };
    use reqwest::Method;
    // No absolute path of a form page, in lists or previews.
    let (status, _, forms) = send(Method::GET, "/api/forms", "").await;
    assert_eq!(status, StatusCode::OK);
    let forms_json: serde_json::Value = serde_json::from_str(&forms).unwrap();
    assert!(forms_json.is_array(), "{forms}");
    let dir = s._dir.path().to_str().unwrap();
    assert!(
        !forms.contains(dir) && !forms.contains("page_location"),
        "{forms}"
    );
    let (status, _, preview) = send(Method::GET, "/api/campaigns/1/preview", "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!preview.contains(dir), "{preview}");

    // `null` is not a filter, unknown members are refused, channels are exact names.
    for (path, body) in [
        ("/api/patients/count", r#"{"filter": null}"#),
        ("/api/patients/count", r#"{"filter": "all", "x": 1}"#),
        ("/api/patients/count", "[]"),
        (
            "/api/campaigns",
            r#"{"name": "n", "form": 1, "filter": "all", "link_days": 9223372036854775807}"#,
        ),
        (
            "/api/campaigns",
            r#"{"name": "n", "form": 1, "filter": "all", "link_days": -9223372036854775808}"#,
        ),
        (
            "/api/campaigns",
            r#"{"name": "n", "form": 1, "filter": "all", "channels": null}"#,
        ),
        (
            "/api/campaigns",
            r#"{"name": "n", "form": 1, "filter": "all", "channels": ["SMS"]}"#,
        ),
    ] {
        let (status, _, answer) = send(Method::POST, path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["error"]["kind"], "invalid_input", "{body}");
    }
    let (status, _, ok) = send(Method::POST, "/api/patients/count", "{}").await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    let days = r#"{"name": "n", "form": 1, "filter": "all", "link_days": 366}"#;
    let (status, _, created) = send(Method::POST, "/api/campaigns", days).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Ids that are not 64-bit integers are a documented 400, in JSON.
    for path in [
        "/api/forms/abc",
        "/api/campaigns/99999999999999999999/tracking",
    ] {
        let (status, _, body) = send(Method::GET, path, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"]["message"].is_string(), "{path}");
    }
    // An API path with no route (an empty id) is a JSON 404, not the patients' page.
    let (status, _, body) = send(Method::GET, "/api/forms/", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["kind"], "not_found");
    // A method a route does not have: 405 with its Allow header.
    let (status, allow, _) = send(Method::DELETE, "/api/forms", "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let allow = allow.expect("an Allow header");
    let allow = allow.to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // The document says the same: arrays for lists, closed request bodies, 400 for ids.
    let doc: serde_json::Value = serde_json::from_str(api::OPENAPI).unwrap();
    for list in [
        "/api/forms",
        "/api/campaigns",
        "/api/campaigns/{id}/non-respondents",
    ] {
        let schema =
            &doc["paths"][list]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "array", "{list}");
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if path.contains("{id}") {
                assert!(op["responses"]["400"].is_object(), "{method} {path}");
            }
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            let body = match body["$ref"].as_str() {
                Some(r) => &doc["components"]["schemas"][r.rsplit('/').next().unwrap()],
                None => body,
            };
            if !body.is_null() {
                assert_eq!(body["additionalProperties"], false, "{method} {path}");
            }
        }
    }
}
