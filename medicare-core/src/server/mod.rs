//! The form service and the JSON API: an axum [`Router`] any integrator can mount
//! (feature `server`).
//!
//! Patients follow `GET /f/{token}` and answer with `POST /f/{token}` ([`pages`]);
//! integrators drive the campaign lifecycle through `/api/...` ([`api`]), described by
//! the OpenAPI document served at `/api/openapi.json`.
//!
//! What holds for every response, whatever produced it (a handler, a rejected body, a
//! timeout, an unknown path): the security headers of [`security_headers`]
//! (`Referrer-Policy: no-referrer`, a Content-Security-Policy that allows nothing but the
//! page's own hashed inline style, `Cache-Control: no-store`, no framing, no sniffing),
//! and a plain, friendly page instead of any framework or error detail. Request bodies
//! are capped ([`ServerOptions::body_limit`]), patient requests time out
//! ([`ServerOptions::request_timeout`]), and each client IP gets a budget of link
//! requests ([`ServerOptions::link_requests_per_minute`]), so guessing tokens is slow as
//! well as hopeless (128 random bits). [`serve`] bounds what one client can hold open:
//! the time to send a request head, idle keep-alive time and connections per client IP
//! ([`connections`]).
//!
//! Logs carry recipient and campaign ids, never a token, a name or an answer.

pub mod api;
pub mod auth;
pub mod client;
pub mod connections;
pub mod console;
pub mod pages;
pub mod signin;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod views;

pub use connections::{serve_with, ConnectionLimits};

use crate::access::SessionCookie;
use crate::campaign::{Engine, ReminderPolicy, SendOptions};
use crate::form::{render_message_page, style_sha256_base64};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// How the service guards itself.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a patient's request may take before it is answered `408`. (API calls
    /// that send run to completion: a send cut short would be resumed, but could reach
    /// some patients twice.)
    pub request_timeout: Duration,
    /// Link requests (`/f/...`) per minute per client IP, sustained.
    pub link_requests_per_minute: NonZeroU32,
    /// Link requests a client IP may make in a burst.
    pub link_burst: NonZeroU32,
    /// The operators' sign-in service: it checks the JSON API's per-operator bearer
    /// tokens and the console's sessions. `None` turns both off (`403`).
    pub access: Option<Arc<crate::access::Service>>,
    /// The session cookie's attributes (Secure unless served on loopback `http://`).
    pub session_cookie: SessionCookie,
    /// How `POST /api/campaigns/{id}/send` and `/remind` pace and retry.
    pub send_options: SendOptions,
    /// The reminder limits `/remind` applies.
    pub reminder_policy: ReminderPolicy,
    /// The base URL patients reach the service at (the `base_url` setting); FHIR exports
    /// name their Questionnaire under it.
    pub public_base_url: String,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(15),
            link_requests_per_minute: NonZeroU32::new(60).expect("non-zero"),
            link_burst: NonZeroU32::new(30).expect("non-zero"),
            access: None,
            session_cookie: SessionCookie::secure(),
            send_options: SendOptions::default(),
            reminder_policy: ReminderPolicy::default(),
            public_base_url: "http://localhost:8080".to_string(),
        }
    }
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    engine: Engine,
    options: ServerOptions,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    csp: HeaderValue,
    console_csp: HeaderValue,
}

impl AppState {
    /// State over `engine` with `options`.
    pub fn new(engine: Engine, options: ServerOptions) -> Self {
        let quota =
            Quota::per_minute(options.link_requests_per_minute).allow_burst(options.link_burst);
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{}'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            style_sha256_base64()
        );
        AppState(Arc::new(Inner {
            engine,
            options,
            limiter: RateLimiter::keyed(quota),
            csp: HeaderValue::from_str(&csp).expect("the policy is ASCII"),
            console_csp: HeaderValue::from_str(&views::console_csp()).expect("the policy is ASCII"),
        }))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.0.engine
    }

    /// The options.
    pub fn options(&self) -> &ServerOptions {
        &self.0.options
    }

    /// The operators' sign-in service, when operators can sign in here.
    pub fn access(&self) -> Option<&Arc<crate::access::Service>> {
        self.0.options.access.as_ref()
    }

    /// Takes one link request from `ip`'s budget; false when it is spent.
    fn allow_link_request(&self, ip: IpAddr) -> bool {
        let limiter = &self.0.limiter;
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
        limiter.check_key(&ip).is_ok()
    }
}

/// The client's IP address, from the connection (`0.0.0.0` when the router is served
/// without connect info, so all such clients share one budget).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

/// A plain HTML page with a status code.
pub(crate) fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    match render_message_page(title, message) {
        Ok(page) => (status, Html(page)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a message page failed");
            (status, "Something went wrong.").into_response()
        }
    }
}

/// Every route of the service with the access it declares: the patient pages, the JSON
/// API, the operators' sign-in pages and the console's stylesheet.
pub fn route_table(timeout: Duration) -> auth::RouteTable {
    auth::RouteTable::new()
        .merge(pages::routes(timeout))
        .merge(api::routes())
        .merge(signin::routes())
        .merge(console::routes())
        .get(
            views::STYLESHEET_PATH,
            auth::Access::Public,
            axum::routing::get(views::stylesheet),
        )
}

/// The router: the [`route_table`] behind its [`auth::guard`](mod@auth::guard), and a friendly 404 for
/// anything else, with the security headers and body limit on every route and the
/// timeout on the patient pages.
///
/// Serve it with client addresses ([`serve`] does) for the per-IP link budget; behind a
/// reverse proxy every client has the proxy's address, so give the proxy its own limit.
pub fn router(engine: Engine, options: ServerOptions) -> Router {
    let state = AppState::new(engine, options);
    let limit = state.options().body_limit;
    let timeout = state.options().request_timeout;
    let table = route_table(timeout);
    let guard = auth::Guard::new(state.clone(), &table);
    table
        .into_router()
        .layer(axum::middleware::from_fn_with_state(guard, auth::guard))
        .fallback(|uri: axum::http::Uri| async move {
            if uri.path().starts_with("/api/") {
                return api::error_body(StatusCode::NOT_FOUND, "not_found", "no such API route");
            }
            message_page(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address. If you followed a link from a message, check that it was copied whole.",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

/// Adds the security headers to every response, and replaces any error response that
/// is not already a page or JSON (a rejected body, a timeout) with a plain page.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let console = req.uri().path().starts_with("/console");
    let mut response = next.run(req).await;
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ours =
        content_type.starts_with("text/html") || content_type.starts_with("application/json");
    if (status.is_client_error() || status.is_server_error()) && !ours {
        // A 405 keeps its `Allow` header (RFC 9110): only the body is replaced.
        let allow = response.headers().get(header::ALLOW).cloned();
        response = if api {
            api::error_body(
                status,
                "request",
                status.canonical_reason().unwrap_or("error"),
            )
        } else {
            let (title, message) = match status {
                StatusCode::PAYLOAD_TOO_LARGE => (
                    "Too much to send",
                    "Your answers were too long to send. Please shorten them and try again.",
                ),
                StatusCode::REQUEST_TIMEOUT => (
                    "That took too long",
                    "The page took too long to answer. Please try again in a moment.",
                ),
                _ => (
                    "Something went wrong",
                    "We could not handle that request. Please try again, or open the link from your message again.",
                ),
            };
            message_page(status, title, message)
        };
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    let h = response.headers_mut();
    let csp = if console {
        &state.0.console_csp
    } else {
        &state.0.csp
    };
    h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Serves `router` on `listener` (with client addresses, for the per-IP budget) until
/// `shutdown` completes, within the default [`ConnectionLimits`] (see [`serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ConnectionLimits::default(), shutdown).await
}

#[cfg(test)]
pub(crate) mod tests;
