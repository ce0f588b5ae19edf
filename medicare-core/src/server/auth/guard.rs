//! The middleware that enforces the route table on every request, and [`refuse`], the
//! one place where a refusal is decided, recorded in the audit ledger and answered.
//!
//! Every request gets a request id (the client's `X-Request-Id` when it is a ledger
//! word, else a random one), sent back in `X-Request-Id`; what the request's handler
//! records in the audit ledger is recorded inside an [`audit::scope`] naming it and the
//! acting party: the signed-in operator (`operator:<id>`, by session or by token), or
//! `anonymous` on public and sign-in routes (a patient's link names the recipient, a
//! completed sign-in the operator, whatever the scope).

use super::extract::{SignedIn, SigningInSession};
use super::table::{Access, RouteTable, Surface};
use super::{CSRF_FIELD, SIGN_IN_PATH, STEP_UP_PATH};
use crate::access::{AccessError, Decision, OperatorId, Permission, Principal, SessionId};
use crate::audit::{self, Action, Actor, AuditContext, RequestId, Target};
use crate::server::{api, views, AppState};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What the guard needs: the service's state and the declared routes.
#[derive(Debug, Clone)]
pub struct Guard {
    app: AppState,
    rules: Arc<BTreeMap<&'static str, BTreeMap<String, Access>>>,
}

impl Guard {
    /// The guard of `table`'s routes.
    pub fn new(app: AppState, table: &RouteTable) -> Self {
        Guard {
            app,
            rules: Arc::new(table.rules()),
        }
    }
}

/// Why a request was refused (logged and answered by [`refuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The route is not in the route table (deny by default).
    Undeclared,
    /// Operators cannot sign in on this server (no access service configured).
    AccessOff,
    /// No usable session or token.
    Unauthenticated,
    /// The role does not grant the permission.
    NotInRole(Permission),
    /// The permission needs a second factor entered in the last few minutes.
    NeedsFreshSecondFactor(Permission),
    /// A state-changing browser request without this session's CSRF token.
    BadCsrfToken,
    /// A browser form posted from another site.
    CrossSite,
}

impl Denied {
    /// A stable name (logs, the audit ledger).
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::Undeclared => "undeclared_route",
            Denied::AccessOff => "access_off",
            Denied::Unauthenticated => "unauthenticated",
            Denied::NotInRole(_) => "not_in_role",
            Denied::NeedsFreshSecondFactor(_) => "needs_fresh_second_factor",
            Denied::BadCsrfToken => "bad_csrf_token",
            Denied::CrossSite => "cross_site",
        }
    }
}

impl Denied {
    /// The permission that was missing: the one the role lacks or needs fresh, else the
    /// one the route declares (`declared`), if any.
    pub fn permission(self, declared: Option<Permission>) -> Option<Permission> {
        match self {
            Denied::NotInRole(p) | Denied::NeedsFreshSecondFactor(p) => Some(p),
            _ => declared,
        }
    }
}

/// What is known about a refused request: enough to record it, nothing secret.
#[derive(Debug, Clone)]
pub struct RefusedRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The route's path template (never the path itself, which may hold a token).
    pub route: &'a str,
    /// The operator, when one was identified.
    pub operator: Option<OperatorId>,
    /// The permission the route declares, when it declares one.
    pub permission: Option<Permission>,
    /// The request's id.
    pub request_id: &'a RequestId,
}

/// The one place where a refusal is decided and answered: records it in the audit
/// ledger (a `request` event, outcome `denied`, by the operator or `anonymous`, with the
/// permission that was missing and the reason), logs it (ids only) and answers it in the
/// surface's way. A ledger that cannot be written is logged; the request is refused
/// all the same.
pub async fn refuse(app: &AppState, denied: Denied, request: &RefusedRequest<'_>) -> Response {
    let context = AuditContext::new(request.operator.map_or(Actor::Anonymous, Actor::Operator))
        .with_request(request.request_id.clone());
    let recorded = audit::record_denial(
        app.engine().store().as_ref(),
        &context,
        app.engine().clock().now(),
        Action::Request,
        Target::none(),
        denied.permission(request.permission),
        denied.as_str(),
    )
    .await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, "recording a refusal in the audit ledger failed");
    }
    let surface = Surface::of(request.route);
    match denied {
        Denied::Undeclared => tracing::error!(
            method = %request.method, route = request.route,
            "a route declares no access in the route table: refused"
        ),
        _ => tracing::info!(
            method = %request.method,
            route = request.route,
            operator = request.operator.map(|o| o.0),
            reason = denied.as_str(),
            "request refused"
        ),
    }
    match surface {
        Surface::Api => api_refusal(denied),
        Surface::Page => page_refusal(denied, request),
    }
}

fn api_refusal(denied: Denied) -> Response {
    let (status, kind, message) = match denied {
        Denied::Unauthenticated => {
            let mut r = api::error_body(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required: an operator's API token that has not expired or been revoked",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        Denied::AccessOff => (
            StatusCode::FORBIDDEN,
            "api_disabled",
            "the API is off: this server has no operator accounts to check tokens against"
                .to_string(),
        ),
        Denied::NotInRole(p) => (
            StatusCode::FORBIDDEN,
            "forbidden",
            AccessError::Forbidden(p).to_string(),
        ),
        Denied::NeedsFreshSecondFactor(p) => (
            StatusCode::FORBIDDEN,
            "fresh_second_factor_required",
            format!("{p} needs a fresh second factor, which an API token never is: do it in the operator console"),
        ),
        Denied::Undeclared | Denied::BadCsrfToken | Denied::CrossSite => (
            StatusCode::FORBIDDEN,
            "forbidden",
            "this request is not allowed".to_string(),
        ),
    };
    api::error_body(status, kind, &message)
}

fn page_refusal(denied: Denied, request: &RefusedRequest<'_>) -> Response {
    match denied {
        Denied::Unauthenticated if request.method == Method::GET => {
            Redirect::to(SIGN_IN_PATH).into_response()
        }
        Denied::NeedsFreshSecondFactor(_) if request.method == Method::GET => {
            Redirect::to(STEP_UP_PATH).into_response()
        }
        _ => {
            let (status, title, message) = match denied {
                Denied::Unauthenticated => (
                    StatusCode::UNAUTHORIZED,
                    "Sign in again",
                    "Your session has ended. Sign in again, then try once more.",
                ),
                Denied::NotInRole(_) => (
                    StatusCode::FORBIDDEN,
                    "You cannot do this",
                    "Your role does not allow this. Ask an administrator if you need it.",
                ),
                Denied::NeedsFreshSecondFactor(_) => (
                    StatusCode::FORBIDDEN,
                    "Confirm it is you",
                    "This needs a code from your authenticator app entered in the last 5 minutes. Confirm it is you, then try once more.",
                ),
                Denied::BadCsrfToken | Denied::CrossSite => (
                    StatusCode::FORBIDDEN,
                    "This form has expired",
                    "The form was not sent from this session. Go back, reload the page and try again.",
                ),
                Denied::AccessOff => (
                    StatusCode::FORBIDDEN,
                    "The operator console is off",
                    "This server does not sign operators in.",
                ),
                Denied::Undeclared => (
                    StatusCode::FORBIDDEN,
                    "You cannot do this",
                    "This page is not available.",
                ),
            };
            views::message(status, title, message, None)
        }
    }
}

/// True for the methods that change state (and so need the CSRF token).
fn changes_state(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The bearer token of an `Authorization` header (scheme matched case-insensitively,
/// RFC 9110 §11.1).
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

/// The session id in the request's cookies.
fn session_of(app: &AppState, req: &Request) -> Option<SessionId> {
    let cookie = app.options().session_cookie;
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| cookie.find(v))
}

/// Reads a form body's CSRF field (the body is put back for the handler). `Err` is the
/// response for a body that cannot be read (too large).
async fn csrf_field(req: Request, limit: usize) -> Result<(Request, Option<String>), Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(name, _)| name == CSRF_FIELD)
                .map(|(_, v)| v)
        });
    Ok((Request::from_parts(parts, Body::from(bytes)), token))
}

/// Whether a browser says the request comes from another site (`Sec-Fetch-Site`).
fn cross_site(req: &Request) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site" || v == "same-site")
}

/// The request id header, read and answered.
const REQUEST_ID: &str = "x-request-id";

/// The client's request id when it is a ledger word, else a new random one.
fn request_id(req: &Request) -> RequestId {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| RequestId::parse(v).ok())
        .unwrap_or_else(|| {
            RequestId::parse(&format!("{:016x}", rand::random::<u64>()))
                .expect("hex digits are a ledger word")
        })
}

/// The guard: gives the request its id and looks its route up in the route table, lets
/// it through only as the table says (see the [module documentation](super)), inside
/// an [`audit::scope`] naming who acts; every response carries the request id.
pub async fn guard(State(g): State<Guard>, req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let mut response = guarded(g, req, next, &id).await;
    if let Ok(v) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

/// Runs the rest of the request as `actor` with request `id`.
async fn run_as(actor: Actor, id: &RequestId, req: Request, next: Next) -> Response {
    audit::scope(
        AuditContext::new(actor).with_request(id.clone()),
        next.run(req),
    )
    .await
}

async fn guarded(g: Guard, req: Request, next: Next, id: &RequestId) -> Response {
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        // No route matched: the fallback answers (a 404), nothing to guard.
        return run_as(Actor::Anonymous, id, req, next).await;
    };
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let asked = req.method().clone();
    let app = &g.app;
    let refused = |operator: Option<OperatorId>, permission: Option<Permission>| RefusedRequest {
        method: &asked,
        route: &route,
        operator,
        permission,
        request_id: id,
    };
    let Some(methods) = g.rules.get(route.as_str()) else {
        return refuse(app, Denied::Undeclared, &refused(None, None)).await;
    };
    let Some(access) = methods.get(method.as_str()).copied() else {
        let allow = methods.keys().cloned().collect::<Vec<_>>().join(", ");
        let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
        if let Ok(v) = HeaderValue::from_str(&allow) {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    };
    let declared = match access {
        Access::Requires(p) => Some(p),
        _ => None,
    };
    let surface = Surface::of(&route);
    if access == Access::Public {
        if surface == Surface::Page
            && route.starts_with("/console")
            && changes_state(&method)
            && cross_site(&req)
        {
            return refuse(app, Denied::CrossSite, &refused(None, declared)).await;
        }
        return run_as(Actor::Anonymous, id, req, next).await;
    }
    let Some(service) = g.app.access().cloned() else {
        return refuse(app, Denied::AccessOff, &refused(None, declared)).await;
    };
    let mut req = req;
    let session = match surface {
        Surface::Api => None,
        Surface::Page => {
            let Some(session) = session_of(&g.app, &req) else {
                return refuse(app, Denied::Unauthenticated, &refused(None, declared)).await;
            };
            if changes_state(&method) {
                let (back, presented) = match csrf_field(req, g.app.options().body_limit).await {
                    Ok(x) => x,
                    Err(response) => return response,
                };
                req = back;
                let ok = presented.is_some_and(|p| session.csrf_token().verify(&p));
                if !ok || cross_site(&req) {
                    return refuse(app, Denied::BadCsrfToken, &refused(None, declared)).await;
                }
            }
            Some(session)
        }
    };
    if access == Access::SigningIn {
        if let Some(session) = session {
            req.extensions_mut().insert(SigningInSession::new(session));
        }
        return run_as(Actor::Anonymous, id, req, next).await;
    }
    let authenticated: Result<Principal, AccessError> = match &session {
        Some(session) => service.authenticate_session(session).await,
        None => match bearer(&req) {
            Some(token) => service.authenticate_token(token).await,
            None => Err(AccessError::Unauthenticated(
                crate::access::denial::NotAuthenticated::UnknownToken,
            )),
        },
    };
    let principal = match authenticated {
        Ok(p) => p,
        Err(AccessError::Unauthenticated(_)) => {
            return refuse(app, Denied::Unauthenticated, &refused(None, declared)).await;
        }
        Err(e) => {
            tracing::error!(error = %e, "authenticating a request failed");
            return match surface {
                Surface::Api => api::ApiError(crate::Error::Config("authentication failed".into()))
                    .into_response(),
                Surface::Page => views::failure(),
            };
        }
    };
    if let Access::Requires(permission) = access {
        let denied = match principal.decide(permission, g.app.engine().clock().now()) {
            Decision::Allowed => None,
            Decision::NotInRole => Some(Denied::NotInRole(permission)),
            Decision::NeedsFreshSecondFactor => Some(Denied::NeedsFreshSecondFactor(permission)),
        };
        if let Some(denied) = denied {
            let operator = Some(principal.operator());
            return refuse(app, denied, &refused(operator, declared)).await;
        }
    }
    let actor = Actor::Operator(principal.operator());
    let signed_in = match session {
        Some(session) => match service.operator(principal.operator()).await {
            Ok(op) => SignedIn::page(principal, op.username, session),
            Err(e) => {
                tracing::error!(error = %e, "reading the signed-in operator failed");
                return views::failure();
            }
        },
        None => SignedIn::api(principal),
    };
    req.extensions_mut().insert(signed_in);
    run_as(actor, id, req, next).await
}
