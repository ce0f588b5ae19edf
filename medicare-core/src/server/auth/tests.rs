//! The route table against the role table: every declared route × every role (and no
//! one), over real HTTP, and the guard's deny-by-default.

use super::{Access, Guard, RouteTable, Surface, CSRF_FIELD, SIGN_IN_PATH, STEP_UP_PATH};
use crate::access::service::SecondFactor;
use crate::access::{Permission, Role};
use crate::server::signin::SIGN_OUT_PATH;
use crate::server::testing::{totp_code, PASSWORD};
use crate::server::tests::{generous, Service};
use crate::server::{route_table, AppState};
use axum::routing::{get, post};
use reqwest::StatusCode;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::time::Duration;

/// A client that shows redirects instead of following them.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser session for `role`'s operator: (cookie header, CSRF token). The clock
/// moves one TOTP step first, so the code is not a replay of the last one.
pub(crate) async fn session_for(s: &Service, role: Role) -> (String, String) {
    let ops = s.operators.as_ref().unwrap();
    let op = ops.of(role);
    s.clock.advance(chrono::Duration::seconds(30));
    let pending = ops
        .service
        .sign_in(&op.username, &SecretString::from(PASSWORD))
        .await
        .unwrap();
    let code = totp_code(&op.enrolment, ops.clock.as_ref(), 0);
    let session = ops
        .service
        .second_factor(&pending.id, SecondFactor::Totp(&code))
        .await
        .unwrap();
    let cookie = crate::access::SessionCookie::secure();
    let set = cookie.set(&session.id);
    let pair = secrecy::ExposeSecret::expose_secret(&set)
        .split(';')
        .next()
        .unwrap()
        .to_string();
    (pair, session.csrf.expose().to_string())
}

/// Who makes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Nobody,
    Operator(Role),
}

/// Whether the guard let the request through to its handler (the handler may still
/// answer 4xx for the empty input this test sends).
fn passed_the_guard(status: StatusCode, location: Option<&str>) -> bool {
    // The guard sends to exactly these (sign-out's own redirect carries a query).
    let to_sign_in = location == Some(SIGN_IN_PATH);
    let to_step_up = location == Some(STEP_UP_PATH);
    status != StatusCode::UNAUTHORIZED
        && status != StatusCode::FORBIDDEN
        && !(status.is_redirection() && (to_sign_in || to_step_up))
}

/// What the role table says this caller may do on this route (sessions here are fresh:
/// signed in within the last minute; API tokens never count as fresh). `None`: the
/// handler decides (a signed-in session on a sign-in step is sent on by the handler).
fn expected(access: Access, surface: Surface, caller: Caller) -> Option<bool> {
    match (access, caller) {
        (Access::Public, _) => Some(true),
        (_, Caller::Nobody) => Some(false),
        (Access::SigningIn, Caller::Operator(_)) => None,
        (Access::SignedIn, Caller::Operator(_)) => Some(true),
        (Access::Requires(p), Caller::Operator(role)) => {
            Some(role.allows(p) && (surface == Surface::Page || !p.needs_fresh_second_factor()))
        }
    }
}

/// The routes anyone may reach: the patients' links, the OpenAPI document, the sign-in
/// page and the stylesheet. Anything else declared public fails this test.
const PUBLIC: &[&str] = &[
    "/f/{token}",
    "/api/openapi.json",
    "/console/sign-in",
    "/console/assets/console.css",
    "/console/assets/console.js",
];

#[tokio::test]
async fn every_route_answers_every_role_as_the_role_table_says() {
    let s = Service::start(generous(), 5).await;
    let http = client();
    let mut sessions = BTreeMap::new();
    for role in Role::ALL {
        sessions.insert(role.as_str(), session_for(&s, role).await);
    }
    let mut routes = route_table(Duration::from_secs(15)).declarations();
    // Sign-out ends the session it is sent with: last.
    routes.sort_by_key(|d| d.path == SIGN_OUT_PATH);
    let link = s.links[0].1.clone();
    let mut checked = 0;
    for d in &routes {
        if d.access == Access::Public {
            assert!(
                PUBLIC.contains(&d.path),
                "{} {} is public",
                d.method,
                d.path
            );
        }
        let surface = Surface::of(d.path);
        let path = if d.path == "/f/{token}" {
            link.clone()
        } else {
            d.path.replace("{id}", "1")
        };
        let callers =
            std::iter::once(Caller::Nobody).chain(Role::ALL.into_iter().map(Caller::Operator));
        for caller in callers {
            let method = reqwest::Method::from_bytes(d.method.as_str().as_bytes()).unwrap();
            let mut req = http.request(method, format!("{}{path}", s.base));
            let mut form: Vec<(&str, String)> = Vec::new();
            if let Caller::Operator(role) = caller {
                match surface {
                    Surface::Api => req = req.bearer_auth(s.token(role)),
                    Surface::Page => {
                        let (cookie, csrf) = &sessions[role.as_str()];
                        req = req.header("cookie", cookie);
                        form.push((CSRF_FIELD, csrf.clone()));
                    }
                }
            }
            req = match surface {
                Surface::Api => req.header("content-type", "application/json").body("{}"),
                Surface::Page if d.method != axum::http::Method::GET => req.form(&form),
                Surface::Page => req,
            };
            let r = req.send().await.unwrap();
            let status = r.status();
            let location = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string());
            let passed = passed_the_guard(status, location.as_deref());
            match expected(d.access, surface, caller) {
                Some(expected) => assert_eq!(
                    passed, expected,
                    "{} {} as {caller:?}: {status} {location:?}",
                    d.method, d.path
                ),
                // The guard let it through (its CSRF token was right); the handler
                // answered.
                None => assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{} {} as {caller:?}: {status}",
                    d.method,
                    d.path
                ),
            }
            if let (false, Access::Requires(p), Caller::Operator(role)) = (passed, d.access, caller)
            {
                // A refusal says why, in the surface's way.
                let body = r.text().await.unwrap();
                if surface == Surface::Api {
                    let kind = if role.allows(p) {
                        "fresh_second_factor_required"
                    } else {
                        "forbidden"
                    };
                    assert!(body.contains(kind), "{} as {role}: {body}", d.path);
                }
            }
            checked += 1;
        }
    }
    // Every route of the table, for no one and each of the seven roles.
    assert_eq!(checked, routes.len() * 8);
    assert!(routes.len() >= 28, "{}", routes.len());
}

/// A route added to the router without a declaration in the table is refused to
/// everyone, the most privileged included (deny by default).
#[tokio::test]
async fn an_undeclared_route_is_refused() {
    let s = Service::start(generous(), 2).await;
    let state = AppState::new(
        s.engine.clone(),
        crate::server::ServerOptions {
            access: Some(s.operators.as_ref().unwrap().service.clone()),
            ..generous()
        },
    );
    let table = RouteTable::new().get(
        "/console/declared",
        Access::SignedIn,
        get(|| async { "ok" }),
    );
    let guard = Guard::new(state.clone(), &table);
    let app = table
        .into_router()
        .route("/console/sneaky", get(|| async { "secret" }))
        .route("/api/sneaky", post(|| async { "secret" }))
        .layer(axum::middleware::from_fn_with_state(guard, super::guard))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(crate::server::serve(listener, app, std::future::pending()));
    let http = client();
    let (cookie, _) = session_for(&s, Role::Admin).await;
    let declared = http
        .get(format!("{base}/console/declared"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(declared.status(), StatusCode::OK);
    for (method, path) in [
        (reqwest::Method::GET, "/console/sneaky"),
        (reqwest::Method::POST, "/api/sneaky"),
    ] {
        let r = http
            .request(method, format!("{base}{path}"))
            .header("cookie", &cookie)
            .bearer_auth(s.token(Role::Admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(!r.text().await.unwrap().contains("secret"));
    }
}

/// A page whose permission needs a fresh second factor sends a session whose factor is
/// older than 5 minutes to the step-up page; after a step-up it opens.
#[tokio::test]
async fn a_stale_second_factor_is_sent_to_step_up() {
    let s = Service::start(generous(), 2).await;
    let ops = s.operators.as_ref().unwrap();
    let state = AppState::new(
        s.engine.clone(),
        crate::server::ServerOptions {
            access: Some(ops.service.clone()),
            ..generous()
        },
    );
    let table = crate::server::signin::routes().get(
        "/console/send-test",
        Access::Requires(Permission::SendCampaigns),
        get(|| async { "sending" }),
    );
    let guard = Guard::new(state.clone(), &table);
    let app = table
        .into_router()
        .layer(axum::middleware::from_fn_with_state(guard, super::guard))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(crate::server::serve(listener, app, std::future::pending()));
    let http = client();
    let (cookie, csrf) = session_for(&s, Role::CampaignManager).await;
    let open = || {
        http.get(format!("{base}/console/send-test"))
            .header("cookie", &cookie)
            .send()
    };
    assert_eq!(open().await.unwrap().status(), StatusCode::OK);
    s.clock.advance(chrono::Duration::minutes(6));
    let r = open().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], STEP_UP_PATH);
    let code = totp_code(
        &ops.of(Role::CampaignManager).enrolment,
        ops.clock.as_ref(),
        0,
    );
    let r = http
        .post(format!("{base}{STEP_UP_PATH}"))
        .header("cookie", &cookie)
        .form(&[
            (CSRF_FIELD, csrf.as_str()),
            ("code", code.as_str()),
            ("next", "/console/send-test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/console/send-test");
    assert_eq!(open().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_requests_are_recorded_with_their_actor_and_request_id() {
    let s = Service::start(generous(), 2).await;
    let ops = s.operators.as_ref().unwrap();
    let campaign = crate::store::CampaignStore::campaigns(&s.store)
        .await
        .unwrap()[0]
        .id;
    let export = format!("{}/api/campaigns/{}/responses/fhir", s.base, campaign.0);
    let report = format!("{}/api/reports/weekly", s.base);
    let http = client();
    let ask = |path: &str, role: Option<Role>, request: &str| {
        let mut r = http.get(path).header("x-request-id", request);
        if let Some(role) = role {
            r = r.bearer_auth(ops.token(role));
        }
        r.send()
    };
    let last = || async {
        crate::audit::all_entries(&s.store)
            .await
            .unwrap()
            .pop()
            .unwrap()
    };
    let operator = |role: Role| format!("operator:{}", ops.of(role).id.0);

    // The analyst's role lacks the export: refused, and recorded with the permission.
    let r = ask(&export, Some(Role::Analyst), "req-denied-1")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.headers()["x-request-id"], "req-denied-1");
    let e = last().await;
    let analyst = operator(Role::Analyst);
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.outcome.as_str()),
        (analyst.as_str(), "request", "denied")
    );
    assert_eq!(e.detail, "permission=export_responses,reason=not_in_role");
    assert_eq!(
        (e.target.as_str(), e.request_id.as_str()),
        ("", "req-denied-1")
    );

    // The data steward's role has it, but a token is never a fresh second factor.
    let r = ask(&export, Some(Role::DataSteward), "req-denied-2")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let e = last().await;
    assert_eq!(e.actor, operator(Role::DataSteward));
    assert_eq!(
        e.detail,
        "permission=export_responses,reason=needs_fresh_second_factor"
    );

    // Nobody signed in: refused as anonymous, naming the route's permission.
    let r = ask(&export, None, "req-denied-3").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let e = last().await;
    assert_eq!(
        (e.actor.as_str(), e.outcome.as_str()),
        ("anonymous", "denied")
    );
    assert_eq!(
        e.detail,
        "permission=export_responses,reason=unauthenticated"
    );

    // Allowed: the report is recorded as the analyst's, under the request's id.
    let r = ask(&report, Some(Role::Analyst), "req-ok-1").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let e = last().await;
    assert_eq!(
        (e.actor.as_str(), e.action.as_str(), e.outcome.as_str()),
        (analyst.as_str(), "report_generate", "ok")
    );
    assert_eq!(
        (e.target.as_str(), e.request_id.as_str()),
        ("report:weekly", "req-ok-1")
    );

    // A request id that is not a plain word is replaced by one of the server's.
    let r = ask(&report, Some(Role::Analyst), "a b c").await.unwrap();
    let given = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(given.len(), 16, "{given}");
    assert_eq!(last().await.request_id, given);
}
