//! The patient pages: `GET /f/{token}` shows the form, `POST /f/{token}` answers it.
//!
//! The handlers are thin: the client's budget of link requests (`429`) is theirs; the
//! link rules are the engine's ([`crate::link::open`]), and each refusal gets its own
//! plain page: not valid (`404`: malformed, unknown, tampered, or of a campaign not
//! sending), expired or already answered (`410`). None of these pages says more than a
//! patient needs.

use super::auth::{Access, RouteTable};
use super::{message_page, AppState, ClientIp};
use crate::form::{render_form_page, FormPage};
use crate::link::open::{Answered, LinkRefusal};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

/// The patient routes, public (a patient holds nothing but the link), with the request
/// timeout: a patient's request never waits long.
pub fn routes(timeout: std::time::Duration) -> RouteTable {
    let timeout = || {
        tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)
    };
    RouteTable::new()
        .get(
            "/f/{token}",
            Access::Public,
            get(open_form).layer(timeout()),
        )
        .post(
            "/f/{token}",
            Access::Public,
            post(submit_form).layer(timeout()),
        )
}

fn not_valid() -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "We could not find a form for this link. Please check that you copied the whole link from your message.\n\nIf it still does not work, contact your surgery.",
    )
}

fn expired() -> Response {
    message_page(
        StatusCode::GONE,
        "This link has expired",
        "The time to answer with this link has passed. If you still need to answer, please contact your surgery.",
    )
}

fn spent() -> Response {
    message_page(
        StatusCode::GONE,
        "You have already answered",
        "Thank you: we already have your answers for this form. Each link can be used once.\n\nIf you need to change your answers, please contact your surgery.",
    )
}

fn thank_you() -> Response {
    message_page(
        StatusCode::OK,
        "Thank you",
        "We have your answers. You can close this page.",
    )
}

fn failure() -> Response {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "We could not open your form just now. Please try again in a few minutes.",
    )
}

fn too_many() -> Response {
    crate::metrics::link_rejected(crate::metrics::LinkRejection::RateLimited);
    let mut r = message_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Please wait a moment",
        "There have been too many requests from your connection. Please wait a minute and try again.",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// The page for a refused link.
fn refused(refusal: LinkRefusal) -> Response {
    match refusal {
        LinkRefusal::Expired => expired(),
        LinkRefusal::Spent => spent(),
        LinkRefusal::NotValid => not_valid(),
    }
}

/// Spends one of the client's link requests: `Err` with the page when none is left.
#[allow(clippy::result_large_err)] // the error is the page itself, returned as is
fn within_budget(state: &AppState, ip: ClientIp) -> Result<(), Response> {
    if state.allow_link_request(ip.0) {
        return Ok(());
    }
    // The address itself is not logged: it can identify a patient.
    tracing::warn!("a client spent its link request budget");
    Err(too_many())
}

fn form_page(page: &FormPage<'_>, status: StatusCode, recipient: i64) -> Response {
    match render_form_page(page) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(recipient, error = %e, "rendering a form failed");
            failure()
        }
    }
}

/// `GET /f/{token}`: records the open and shows the form.
pub async fn open_form(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(token): Path<String>,
) -> Response {
    if let Err(page) = within_budget(&state, ip) {
        return page;
    }
    match state.engine().open_link(&token).await {
        Ok(Ok(open)) => form_page(
            &FormPage::new(&open.form.spec),
            StatusCode::OK,
            open.link.recipient_id,
        ),
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => {
            tracing::error!(error = %e, "opening a link failed");
            failure()
        }
    }
}

/// `POST /f/{token}`: checks the answers; shows the form again with a message per field,
/// or stores them and spends the link in one transaction.
pub async fn submit_form(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(page) = within_budget(&state, ip) {
        return page;
    }
    let raw = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body);
    let Ok(raw) = raw else {
        // The link is still judged first: an unreadable body on a dead link gets the
        // link's page, as before.
        return match state.engine().check_link(&token).await {
            Ok(Ok(_)) => message_page(
                StatusCode::BAD_REQUEST,
                "We could not read your answers",
                "Please go back to the form and send it again.",
            ),
            Ok(Err(refusal)) => refused(refusal),
            Err(e) => {
                tracing::error!(error = %e, "checking a link failed");
                failure()
            }
        };
    };
    match state.engine().submit_answer(&token, &raw).await {
        Ok(Answered::Stored { .. }) => thank_you(),
        Ok(Answered::Invalid { open, errors }) => {
            let page = FormPage {
                spec: &open.form.spec,
                action: None,
                values: Some(&raw),
                errors: Some(&errors),
            };
            form_page(
                &page,
                StatusCode::UNPROCESSABLE_ENTITY,
                open.link.recipient_id,
            )
        }
        Ok(Answered::Refused(refusal)) => refused(refusal),
        Err(e) => {
            tracing::error!(error = %e, "storing a response failed");
            failure()
        }
    }
}
