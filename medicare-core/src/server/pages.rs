//! The patient pages: `GET /f/{token}` shows the form, `POST /f/{token}` answers it.
//!
//! A link is checked in this order, each failure with its own plain page: the client's
//! budget of link requests (`429`), the token's shape, then its hash in the store and a
//! constant-time comparison (unknown and tampered look alike: `404`), the campaign's
//! state and the link's expiry (`410`), and whether it was already answered (`410`).
//! None of these pages says more than a patient needs.

use super::auth::{Access, RouteTable};
use super::{message_page, AppState, ClientIp};
use crate::campaign::CampaignState;
use crate::form::{render_form_page, FormPage};
use crate::link::presented_token_hash;
use crate::store::{LinkRecord, StoredForm, SubmitOutcome};
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
    crate::metrics::link_rejected(crate::metrics::LinkRejection::NotValid);
    message_page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "We could not find a form for this link. Please check that you copied the whole link from your message.\n\nIf it still does not work, contact your surgery.",
    )
}

fn expired() -> Response {
    crate::metrics::link_rejected(crate::metrics::LinkRejection::Expired);
    message_page(
        StatusCode::GONE,
        "This link has expired",
        "The time to answer with this link has passed. If you still need to answer, please contact your surgery.",
    )
}

fn spent() -> Response {
    crate::metrics::link_rejected(crate::metrics::LinkRejection::Spent);
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

/// Checks a presented link: the first failing check's page, or the link and its form.
async fn check_link(
    state: &AppState,
    ip: ClientIp,
    token: &str,
) -> Result<(LinkRecord, StoredForm), Response> {
    if !state.allow_link_request(ip.0) {
        // The address itself is not logged: it can identify a patient.
        tracing::warn!("a client spent its link request budget");
        return Err(too_many());
    }
    let Some(hash) = presented_token_hash(token) else {
        return Err(not_valid());
    };
    let store = state.engine().store();
    let link = match store.link(&hash).await {
        Ok(Some(link)) if link.token_hash.ct_eq(&hash) => link,
        Ok(_) => return Err(not_valid()),
        Err(e) => {
            tracing::error!(error = %e, "looking a link up failed");
            return Err(failure());
        }
    };
    match link.campaign_state {
        CampaignState::Sending | CampaignState::Sent => {}
        CampaignState::Draft | CampaignState::Cancelled => return Err(not_valid()),
    }
    if state.engine().clock().now() >= link.expires_at {
        return Err(expired());
    }
    if link.submitted_at.is_some() {
        return Err(spent());
    }
    match store.form(link.form_id).await {
        Ok(form) => Ok((link, form)),
        Err(e) => {
            tracing::error!(recipient = link.recipient_id, error = %e, "loading a form failed");
            Err(failure())
        }
    }
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
    let (link, form) = match check_link(&state, ip, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let now = state.engine().clock().now();
    if let Err(e) = state
        .engine()
        .store()
        .record_open(link.recipient_id, now)
        .await
    {
        // The patient still gets the form; the open is lost, and said so.
        tracing::error!(recipient = link.recipient_id, error = %e, "recording an open failed");
    }
    crate::metrics::link_opened();
    form_page(
        &FormPage::new(&form.spec),
        StatusCode::OK,
        link.recipient_id,
    )
}

/// `POST /f/{token}`: checks the answers; shows the form again with a message per field,
/// or stores them and spends the link in one transaction.
pub async fn submit_form(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let (link, form) = match check_link(&state, ip, &token).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Ok(raw) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "We could not read your answers",
            "Please go back to the form and send it again.",
        );
    };
    let answers = match form.spec.check_submission(&raw) {
        Ok(answers) => answers,
        Err(errors) => {
            tracing::info!(
                recipient = link.recipient_id,
                problems = errors.len(),
                "submission refused"
            );
            let page = FormPage {
                spec: &form.spec,
                action: None,
                values: Some(&raw),
                errors: Some(&errors),
            };
            return form_page(&page, StatusCode::UNPROCESSABLE_ENTITY, link.recipient_id);
        }
    };
    let now = state.engine().clock().now();
    match state
        .engine()
        .store()
        .submit_response(link.recipient_id, &form, &answers, now)
        .await
    {
        Ok(SubmitOutcome::Stored) => {
            crate::metrics::form_submitted();
            tracing::info!(
                recipient = link.recipient_id,
                campaign = link.campaign_id.0,
                "response stored"
            );
            thank_you()
        }
        Ok(SubmitOutcome::AlreadySubmitted) => spent(),
        Err(crate::Error::AlreadyExists { .. }) => spent(),
        Err(e) => {
            tracing::error!(recipient = link.recipient_id, error = %e, "storing a response failed");
            failure()
        }
    }
}
