//! The operator console under `/console`: the brief's three screens (how many fields →
//! field names, types and the audience filter → "You are sending this form" / "To these
//! patients" / "Confirm and send") and the campaign dashboard.
//!
//! Server-rendered (minijinja, auto-escaped) and complete without JavaScript; one
//! self-hosted script ([`SCRIPT`]) makes the filter count, the name check and the
//! dashboard live. Every route is in [`ROUTES`] with the permission it needs; the
//! handlers are thin: the rules are in [`crate::console`] and the work in the
//! [`crate::campaign::Engine`].

mod dashboard;
mod sending;
mod wizard;

use crate::access::{Decision, OperatorId, Permission, Principal};
use crate::server::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Router};
use std::sync::{Arc, OnceLock};

/// The console's script, served at `/console/static/console.js`.
pub const SCRIPT: &str = include_str!("static/console.js");

/// Every console route: method, path and the permission it needs. (A handler may ask
/// for more, e.g. "Create" needs both form and campaign creation.)
pub const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/console/forms/new", Permission::CreateForms),
    ("POST", "/console/forms/new", Permission::CreateForms),
    (
        "GET",
        "/console/forms/new/fields",
        Permission::CreateCampaigns,
    ),
    (
        "POST",
        "/console/forms/new/fields",
        Permission::CreateCampaigns,
    ),
    ("GET", "/console/forms/check-name", Permission::CreateForms),
    ("GET", "/console/audience/count", Permission::CountPatients),
    ("GET", "/console/campaigns", Permission::ReadTracking),
    ("GET", "/console/campaigns/{id}", Permission::ReadTracking),
    (
        "GET",
        "/console/campaigns/{id}/status",
        Permission::ReadTracking,
    ),
    (
        "GET",
        "/console/campaigns/{id}/preview",
        Permission::CreateCampaigns,
    ),
    (
        "GET",
        "/console/campaigns/{id}/subset",
        Permission::CountPatients,
    ),
    (
        "POST",
        "/console/campaigns/{id}/send",
        Permission::SendCampaigns,
    ),
];

/// The console's routes.
pub fn routes() -> Router<AppState> {
    let handler = |method: &str, path: &str| -> MethodRouter<AppState> {
        match (method, path) {
            ("GET", "/console/forms/new") => get(wizard::count_page),
            ("POST", "/console/forms/new") => post(wizard::count_submit),
            ("GET", "/console/forms/new/fields") => get(wizard::fields_page),
            ("POST", "/console/forms/new/fields") => post(wizard::fields_submit),
            ("GET", "/console/forms/check-name") => get(wizard::check_name),
            ("GET", "/console/audience/count") => get(wizard::audience_count),
            ("GET", "/console/campaigns") => get(dashboard::campaigns_page),
            ("GET", "/console/campaigns/{id}") => get(dashboard::board_page),
            ("GET", "/console/campaigns/{id}/status") => get(dashboard::board_status),
            ("GET", "/console/campaigns/{id}/preview") => get(sending::preview_page),
            ("GET", "/console/campaigns/{id}/subset") => get(sending::subset_page),
            ("POST", "/console/campaigns/{id}/send") => post(sending::send),
            _ => unreachable!("every route in ROUTES has a handler"),
        }
    };
    let mut router = Router::new().route("/console/static/console.js", get(script));
    for (method, path, _) in ROUTES {
        router = router.route(path, handler(method, path));
    }
    router.layer(Extension(sending::Sending::default()))
}

async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        SCRIPT,
    )
        .into_response()
}

/// The templates, parsed once.
fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        for (name, source) in [
            ("base.html", include_str!("templates/standin_base.html")),
            (
                "console/_macros.html",
                include_str!("templates/_macros.html"),
            ),
            (
                "console/wizard_count.html",
                include_str!("templates/wizard_count.html"),
            ),
            (
                "console/wizard_fields.html",
                include_str!("templates/wizard_fields.html"),
            ),
            (
                "console/preview.html",
                include_str!("templates/preview.html"),
            ),
            ("console/subset.html", include_str!("templates/subset.html")),
            (
                "console/campaigns.html",
                include_str!("templates/campaigns.html"),
            ),
            ("console/board.html", include_str!("templates/board.html")),
        ] {
            env.add_template(name, source)
                .expect("the console's templates parse");
        }
        env
    })
}

/// Renders `name` with `ctx` as an HTML page with `status`.
fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match templates().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "rendering a console page failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A plain refusal page.
fn refuse(status: StatusCode) -> Response {
    let (title, message) = match status {
        StatusCode::FORBIDDEN => (
            "You cannot do this",
            "Your role does not allow this, or the page was out of date. Go back, reload the page and try again.",
        ),
        StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
        _ => (
            "Something went wrong",
            "We could not do that just now. Please try again.",
        ),
    };
    super::message_page(status, title, message)
}

/// The page for an engine error: what was wrong for bad input, a plain page otherwise.
fn failure(e: &crate::Error) -> Response {
    match e {
        crate::Error::NotFound { .. } => refuse(StatusCode::NOT_FOUND),
        e if e.is_invalid_input() => super::message_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That could not be done",
            &e.to_string(),
        ),
        e => {
            tracing::error!(error = %e, "console request failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A posted form's pairs, in order (a name may repeat, like the channel boxes).
struct FormPairs(Vec<(String, String)>);

impl<S: Send + Sync> FromRequest<S> for FormPairs {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map(|f| FormPairs(f.0))
            .map_err(|_| refuse(StatusCode::BAD_REQUEST))
    }
}

/// True when the posted `csrf` pair is the session's token.
fn csrf_ok(who: &SignedIn, pairs: &[(String, String)]) -> bool {
    pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| who.csrf.verify(v))
}

/// TEMPORARY stand-in for the operator sign-in's extractor (replaced at the merge of
/// the sign-in branch): the signed-in principal and their CSRF token, put in the
/// request's extensions by whoever authenticated it.
#[derive(Debug, Clone)]
pub struct SignedIn {
    principal: Principal,
    csrf: Arc<crate::access::CsrfToken>,
}

impl SignedIn {
    fn principal(&self) -> &Principal {
        &self.principal
    }

    fn operator(&self) -> OperatorId {
        self.principal.operator()
    }

    fn csrf(&self) -> &str {
        self.csrf.expose()
    }

    /// Ok when the role grants `permission` (fresh factor or not), else a 403 page.
    fn allow(&self, state: &AppState, permission: Permission) -> Result<(), Response> {
        match self
            .principal
            .decide(permission, state.engine().clock().now())
        {
            Decision::NotInRole => Err(refuse(StatusCode::FORBIDDEN)),
            _ => Ok(()),
        }
    }

    /// Ok when `permission` is allowed now; to the step-up page when only a fresh
    /// second factor is missing; a 403 page otherwise.
    fn allow_fresh(
        &self,
        state: &AppState,
        permission: Permission,
        back: &str,
    ) -> Result<(), Response> {
        match self
            .principal
            .decide(permission, state.engine().clock().now())
        {
            Decision::Allowed => Ok(()),
            Decision::NotInRole => Err(refuse(StatusCode::FORBIDDEN)),
            Decision::NeedsFreshSecondFactor => Err(Redirect::to(&format!(
                "/console/step-up?next={}",
                urlencoding(back)
            ))
            .into_response()),
        }
    }
}

/// Percent-encodes a path for a query value (paths here are ASCII).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or_else(|| Redirect::to("/console/sign-in").into_response())
    }
}

#[cfg(test)]
mod tests;

/// TEMPORARY test support until the sign-in branch lands: wraps `router` so that every
/// request is signed in as operator 1 with `role` (and a fresh second factor when
/// `fresh`), one session throughout. Never built into a release (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub fn sign_everyone_in(router: Router, role: crate::access::Role, fresh: bool) -> Router {
    let session = Arc::new(crate::access::SessionId::generate().csrf_token());
    router.layer(axum::middleware::from_fn(
        move |mut req: Request, next: axum::middleware::Next| {
            let csrf = session.clone();
            async move {
                let fresh_until = fresh.then(|| chrono::Utc::now() + chrono::Duration::days(1));
                req.extensions_mut().insert(SignedIn {
                    principal: Principal::new(
                        OperatorId(1),
                        role,
                        crate::access::principal::Credential::Session { fresh_until },
                    ),
                    csrf,
                });
                next.run(req).await
            }
        },
    ))
}
