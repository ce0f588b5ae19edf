//! The operator console under `/console`: the brief's three screens (how many fields →
//! field names, types and the audience filter → "You are sending this form" / "To these
//! patients" / "Confirm and send"), the campaign dashboard (funnel, response-rate chart,
//! non-respondents, "Send reminder", the weekly report and its CSV), the forms list, the
//! operators page (admin) and the audit page (auditor), with a navigation that links only
//! the pages the operator's role may open ([`nav`]).
//!
//! Server-rendered on the view layer ([`super::views`], auto-escaped) and complete
//! without JavaScript; one self-hosted script ([`SCRIPT`]) makes the filter count, the
//! name check and the dashboard live. Every route is declared in [`routes`] with the
//! permission it needs; the guard ([`super::auth`]) enforces it, the fresh second factor
//! of "Confirm and send" and the CSRF token of every post before a handler runs. The
//! handlers are thin: the rules are in [`crate::console`] and the work in the
//! [`crate::campaign::Engine`].

mod audit_log;
mod dashboard;
mod forms;
mod operators;
mod reminding;
mod sending;
mod wizard;

use super::auth::{Access, RouteTable, SignedIn};
use super::views::{self, ErrorItem, NavLink, Page};
use crate::access::{Permission, Role};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use serde::Serialize;

/// The console's script, served at [`SCRIPT_PATH`].
pub const SCRIPT: &str = include_str!("static/console.js");

/// Where the script is served.
pub const SCRIPT_PATH: &str = "/console/assets/console.js";

/// The console's templates (added to the view layer's sources).
pub const TEMPLATES: &[(&str, &str)] = &[
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
    ("console/forms.html", include_str!("templates/forms.html")),
    (
        "console/operators.html",
        include_str!("templates/operators.html"),
    ),
    ("console/audit.html", include_str!("templates/audit.html")),
];

/// The console's pages in the navigation, each with the permission that opens it
/// (`None`: every signed-in operator).
const NAV: &[(&str, &str, Option<Permission>)] = &[
    ("/console", "Home", None),
    (
        "/console/campaigns",
        "Campaigns",
        Some(Permission::ReadTracking),
    ),
    ("/console/forms", "Forms", Some(Permission::CreateForms)),
    (
        "/console/operators",
        "Operators",
        Some(Permission::ManageOperators),
    ),
    (
        "/console/audit",
        "Audit log",
        Some(Permission::ReadAuditLog),
    ),
];

/// The navigation of an operator with `role`: only the pages the role may open.
pub fn nav(role: Role) -> Vec<NavLink> {
    NAV.iter()
        .filter(|(_, _, p)| p.is_none_or(|p| role.allows(p)))
        .map(|(href, label, _)| NavLink { href, label })
        .collect()
}

/// The console's routes, each with the permission it needs. ("Create" also checks the
/// form permission in its handler: it creates a form and a campaign.)
pub fn routes() -> RouteTable {
    use Permission as P;
    let sending = sending::Sending::default();
    RouteTable::new()
        .get(SCRIPT_PATH, Access::Public, get(script))
        .get(
            "/console/forms/new",
            Access::Requires(P::CreateForms),
            get(wizard::count_page),
        )
        .post(
            "/console/forms/new",
            Access::Requires(P::CreateForms),
            post(wizard::count_submit),
        )
        .get(
            "/console/forms/new/fields",
            Access::Requires(P::CreateCampaigns),
            get(wizard::fields_page),
        )
        .post(
            "/console/forms/new/fields",
            Access::Requires(P::CreateCampaigns),
            post(wizard::fields_submit),
        )
        .get(
            "/console/forms/check-name",
            Access::Requires(P::CreateForms),
            get(wizard::check_name),
        )
        .get(
            "/console/audience/count",
            Access::Requires(P::CountPatients),
            get(wizard::audience_count),
        )
        .get(
            "/console/campaigns",
            Access::Requires(P::ReadTracking),
            get(dashboard::campaigns_page),
        )
        .get(
            "/console/campaigns/{id}",
            Access::Requires(P::ReadTracking),
            get(dashboard::board_page).layer(Extension(sending.clone())),
        )
        .get(
            "/console/campaigns/{id}/status",
            Access::Requires(P::ReadTracking),
            get(dashboard::board_status),
        )
        .get(
            "/console/campaigns/{id}/preview",
            Access::Requires(P::CreateCampaigns),
            get(sending::preview_page),
        )
        .get(
            "/console/campaigns/{id}/subset",
            Access::Requires(P::CountPatients),
            get(sending::subset_page),
        )
        .post(
            "/console/campaigns/{id}/send",
            Access::Requires(P::SendCampaigns),
            post(sending::send).layer(Extension(sending.clone())),
        )
        .post(
            "/console/campaigns/{id}/reminders",
            Access::Requires(P::SendReminders),
            post(reminding::remind).layer(Extension(sending.clone())),
        )
        .get(
            "/console/campaigns/{id}/report.csv",
            Access::Requires(P::ReadReports),
            get(dashboard::report_csv),
        )
        .get(
            "/console/forms",
            Access::Requires(P::CreateForms),
            get(forms::forms_page),
        )
        .get(
            "/console/operators",
            Access::Requires(P::ManageOperators),
            get(operators::operators_page),
        )
        .post(
            "/console/operators/{id}",
            Access::Requires(P::ManageOperators),
            post(operators::change),
        )
        .get(
            "/console/audit",
            Access::Requires(P::ReadAuditLog),
            get(audit_log::audit_page),
        )
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

/// Renders a console page: the layout with `title`, the operator's header, the error
/// summary of `errors`, and the page's own values.
fn render(
    who: &SignedIn,
    status: StatusCode,
    template: &str,
    title: &str,
    errors: Vec<ErrorItem>,
    body: impl Serialize,
) -> Response {
    // The layout flattens the page's values beside its own: they must be a map.
    let body = match serde_json::to_value(body) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(template, error = %e, "a console page's values do not serialize");
            return refuse(who, StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    views::page(
        status,
        template,
        &Page::new(title, body)
            .with_header(who.header())
            .with_errors(errors),
    )
}

/// A plain refusal page.
fn refuse(who: &SignedIn, status: StatusCode) -> Response {
    let (title, message) = match status {
        StatusCode::FORBIDDEN => (
            "You cannot do this",
            "Your role does not allow this. Ask an administrator if you need it.",
        ),
        StatusCode::NOT_FOUND => ("Page not found", "There is nothing at this address."),
        StatusCode::BAD_REQUEST => (
            "That could not be read",
            "The page sent something this service cannot read. Go back, reload the page and try again.",
        ),
        _ => (
            "Something went wrong",
            "The service could not do that just now. Try again in a few minutes.",
        ),
    };
    views::message(status, title, message, Some(who.header()))
}

/// The page for an engine error: the message for bad input, a plain page otherwise
/// (the detail is logged, by id only).
fn failure(who: &SignedIn, e: &crate::Error) -> Response {
    match e {
        crate::Error::NotFound { .. } => refuse(who, StatusCode::NOT_FOUND),
        e if e.is_invalid_input() => views::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            "That could not be done",
            &e.to_string(),
            Some(who.header()),
        ),
        e => {
            tracing::error!(error = %e, "console request failed");
            refuse(who, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// True when the operator's role grants `permission` now (for what a page offers).
fn may(who: &SignedIn, state: &super::AppState, permission: Permission) -> bool {
    who.principal()
        .decide(permission, state.engine().clock().now())
        != crate::access::Decision::NotInRole
}

/// The numeric `{id}` of a console path; anything else is a page that does not exist
/// (404, with the console's own page rather than the framework's message).
struct Id(i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || {
            views::message(
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address: check the number in it.",
                None,
            )
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        raw.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(Id)
            .ok_or_else(not_found)
    }
}

impl<'a> FormPairs {
    /// The value of the first `name` field, if any.
    fn get(&'a self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
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
            .map_err(|_| {
                views::message(
                    StatusCode::BAD_REQUEST,
                    "That could not be read",
                    "The page sent something this service cannot read. Go back, reload the page and try again.",
                    None,
                )
            })
    }
}

#[cfg(test)]
mod tests;

/// Test support (feature `testing`): a console session for a test operator.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use crate::access::service::SecondFactor;
    use crate::access::{Role, SessionId};
    use crate::server::testing::{totp_code, Operators, PASSWORD};

    /// Signs `role`'s test operator in with their password and the authenticator code
    /// `step` 30-second steps from now (each sign-in of one operator needs a later code
    /// than the last), as the sign-in pages do; returns the session (the cookie's value).
    pub async fn sign_in(ops: &Operators, role: Role, step: i64) -> crate::Result<SessionId> {
        let op = ops.of(role);
        let fail = |e: crate::access::AccessError| crate::Error::Config(e.to_string());
        let pending = ops
            .service
            .sign_in(&op.username, &secrecy::SecretString::from(PASSWORD))
            .await
            .map_err(fail)?;
        let code = totp_code(&op.enrolment, ops.clock.as_ref(), step);
        let done = ops
            .service
            .second_factor(&pending.id, SecondFactor::Totp(&code))
            .await
            .map_err(fail)?;
        Ok(done.id)
    }
}
