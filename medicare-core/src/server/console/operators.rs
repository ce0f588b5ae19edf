//! The operators page (admin): every operator with their role and status, and the
//! changes `medicare operator` makes: disable, enable, unlock, reset the second factor,
//! set the role. Each change is one POST form calling the same
//! [`crate::access::Service`] function as the CLI; the route needs
//! [`crate::access::Permission::ManageOperators`], so a fresh second factor too.
//!
//! A second factor reset shows no secret here: the operator sets up a new authenticator
//! app at their next sign-in, as at their first.

use super::{failure, refuse, render, FormPairs, Id, SignedIn};
use crate::access::{AccessError, OperatorId, Role};
use crate::audit::{Actor, AuditContext};
use crate::server::views::ErrorItem;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

/// A change the page can make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Disable,
    Enable,
    Unlock,
    ResetMfa,
    SetRole,
}

impl Change {
    const ALL: [Change; 5] = [
        Change::Disable,
        Change::Enable,
        Change::Unlock,
        Change::ResetMfa,
        Change::SetRole,
    ];

    /// The form's `action` value.
    fn as_str(self) -> &'static str {
        match self {
            Change::Disable => "disable",
            Change::Enable => "enable",
            Change::Unlock => "unlock",
            Change::ResetMfa => "reset-mfa",
            Change::SetRole => "set-role",
        }
    }

    fn parse(s: &str) -> Option<Change> {
        Change::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// What the confirmation banner says was done.
    fn done(self) -> &'static str {
        match self {
            Change::Disable => "disabled: their sessions have ended",
            Change::Enable => "enabled",
            Change::Unlock => "unlocked",
            Change::ResetMfa => {
                "second factor reset: they set up a new authenticator app when they next sign in"
            }
            Change::SetRole => "given a new role: they sign in again to use it",
        }
    }
}

/// The page's query: the change just made, for the banner.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Done {
    changed: Option<String>,
    action: Option<String>,
}

/// GET `/console/operators`.
pub(super) async fn operators_page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(done): Query<Done>,
) -> Response {
    let banner = done
        .changed
        .and_then(|id| id.parse::<i64>().ok())
        .zip(done.action.as_deref().and_then(Change::parse));
    page(&state, &who, banner, Vec::new(), StatusCode::OK).await
}

/// The page, with the banner of `banner` (operator id and change) and `errors`.
async fn page(
    state: &AppState,
    who: &SignedIn,
    banner: Option<(i64, Change)>,
    errors: Vec<ErrorItem>,
    status: StatusCode,
) -> Response {
    let Some(service) = state.access() else {
        return refuse(who, StatusCode::FORBIDDEN);
    };
    let operators = match service.operators().await {
        Ok(o) => o,
        Err(e) => return access_failure(who, state, e).await,
    };
    let me = who.principal().operator();
    let banner = banner.and_then(|(id, change)| {
        operators
            .iter()
            .find(|o| o.id.0 == id)
            .map(|o| format!("{} {}.", o.username.as_str(), change.done()))
    });
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.format("%-d %B %Y %H:%M UTC").to_string())
    };
    let rows: Vec<_> = operators
        .iter()
        .map(|o| {
            context! {
                id => o.id.0,
                username => o.username.as_str(),
                display_name => o.display_name.as_str(),
                role => o.role.as_str(),
                status => o.status,
                locked_until => time(o.locked_until),
                last_sign_in => time(o.last_sign_in_at),
                is_me => o.id == me,
            }
        })
        .collect();
    let roles: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
    render(
        who,
        status,
        "console/operators.html",
        "Operators",
        errors,
        context! {
            operators => rows,
            roles,
            banner,
            csrf => who.csrf_token().unwrap_or_default(),
        },
    )
}

/// An access-service error as a page: a conflict (the last admin) back on the page with
/// its reason, a missing operator as 404.
async fn access_failure(who: &SignedIn, state: &AppState, e: AccessError) -> Response {
    match e {
        AccessError::Other(crate::Error::Conflict(message)) => {
            let errors = vec![ErrorItem::new("operator-error", message)];
            Box::pin(page(state, who, None, errors, StatusCode::CONFLICT)).await
        }
        AccessError::Other(e) => failure(who, &e),
        e => {
            tracing::error!(error = %e, "console: an operator change failed");
            refuse(who, StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// POST `/console/operators/{id}`: the change named by the form's `action` (and `role`
/// for `set-role`).
pub(super) async fn change(
    State(state): State<AppState>,
    who: SignedIn,
    Id(id): Id,
    form: FormPairs,
) -> Response {
    let Some(service) = state.access().cloned() else {
        return refuse(&who, StatusCode::FORBIDDEN);
    };
    let Some(change) = form.get("action").and_then(Change::parse) else {
        return refuse(&who, StatusCode::BAD_REQUEST);
    };
    let role = match (change, form.get("role").map(str::parse::<Role>)) {
        (Change::SetRole, Some(Ok(role))) => Some(role),
        (Change::SetRole, _) => return refuse(&who, StatusCode::BAD_REQUEST),
        _ => None,
    };
    let target = OperatorId(id);
    let acting = AuditContext::new(Actor::Operator(who.principal().operator()));
    let done = crate::audit::scope(acting, async {
        match change {
            Change::Disable => service.disable(target).await.map(|_| ()),
            Change::Enable => service.enable(target).await,
            Change::Unlock => service.unlock(target).await,
            Change::ResetMfa => service.reset_mfa(target).await.map(|_| ()),
            Change::SetRole => match role {
                Some(role) => service.set_role(target, role).await,
                None => Ok(()),
            },
        }
    })
    .await;
    match done {
        Ok(()) => {
            tracing::info!(operator = %who.principal().operator(), target = id, action = change.as_str(), "console: operator changed");
            Redirect::to(&format!(
                "/console/operators?changed={id}&action={}",
                change.as_str()
            ))
            .into_response()
        }
        Err(e) => access_failure(&who, &state, e).await,
    }
}
