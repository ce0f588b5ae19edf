//! The JSON API for integrators' own front ends: the campaign lifecycle of the CLI, one
//! route per step, each calling the same [`Engine`](crate::campaign::Engine) method.
//!
//! Every route but `/api/openapi.json` needs `Authorization: Bearer <token>` with the
//! configured [`ServerOptions::api_token`](super::ServerOptions::api_token); without one
//! configured the API answers `403`. Errors are `{"error": {"kind", "message"}}` with the
//! status of their meaning (`400`/`422` bad input, `404`, `409` conflict, `500`); a
//! `500` never carries the underlying detail, which goes to the log.
//!
//! The routes are one table ([`api_routes`]) from which both the router and the check
//! against the OpenAPI document ([`OPENAPI`]) are made, so they cannot drift apart.

use super::AppState;
use crate::campaign::{CampaignId, CampaignRequest, FormId, Strategy};
use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::notify::{Channel, Money};
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The OpenAPI 3.1 description of the API, served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// An API error: an [`Error`] shown with the status of its meaning.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

/// A JSON error body.
pub(crate) fn error_body(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "kind": kind, "message": message } })),
    )
        .into_response()
}

/// The HTTP status of each [`ErrorKind`]: the API's one mapping from the library's
/// classification. What the caller can fix is a `4xx`; everything else is a `500`.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Config
        | ErrorKind::Notify
        | ErrorKind::Database
        | ErrorKind::Io
        | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let status = http_status(kind);
        if status.is_server_error() {
            tracing::error!(error = %self.0, kind = %kind, "API request failed");
            return error_body(status, "internal", "internal error; see the service log");
        }
        error_body(status, kind.as_str(), &self.0.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// A JSON object body as `T` (serde would also read a struct from an array).
fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let invalid = |e: serde_json::Error| ApiError(Error::invalid("request body", e.to_string()));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError(Error::invalid(
            "request body",
            "must be a JSON object",
        )));
    }
    serde_json::from_value(value).map_err(invalid)
}

fn parse_filter(source: Option<&str>) -> ApiResult<Filter> {
    match source {
        None => Ok(Filter::all()),
        Some(s) => Filter::parse(s).map_err(|e| ApiError(Error::invalid("filter", e.render(s)))),
    }
}

/// An optional member that, when present, must not be `null` (as the OpenAPI document
/// says: absent means the default, `null` is not a value of its type).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// `POST /api/patients/count`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountRequest {
    #[serde(default, deserialize_with = "present")]
    filter: Option<String>,
}

/// `POST /api/campaigns`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCampaign {
    name: String,
    form: i64,
    filter: String,
    /// Exactly `"sms"` or `"email"`, as the OpenAPI document's enum says.
    #[serde(default, deserialize_with = "present")]
    channels: Option<Vec<Channel>>,
    #[serde(default, deserialize_with = "present")]
    link_days: Option<i64>,
    /// `both`, `email_first`, `sms_only` or `email_only`.
    #[serde(default, deserialize_with = "present")]
    strategy: Option<Strategy>,
    /// A decimal amount of pounds, as a string (e.g. `"2500.00"`).
    #[serde(default, deserialize_with = "present")]
    budget: Option<Money>,
    #[serde(default, deserialize_with = "present")]
    second_wave_hours: Option<u32>,
}

/// `PUT /api/campaigns/{id}/budget`: the member is required; `null` removes the cap.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBudget {
    #[serde(deserialize_with = "nullable")]
    budget: Option<Money>,
}

/// A required member that may be `null`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

#[derive(Serialize)]
struct Count {
    count: u64,
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn list_forms(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.engine().store().forms().await?).into_response())
}

async fn create_form(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    // A spec is an object (serde would also read one from an array).
    json_body::<serde_json::Value>(&body)?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| Error::invalid("request body", "must be UTF-8 JSON"))?;
    let form = s
        .engine()
        .create_form(&FormSpec::from_json_str(text)?)
        .await?;
    Ok((StatusCode::CREATED, Json(form)).into_response())
}

async fn get_form(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    Ok(Json(s.engine().store().form(FormId(id)).await?).into_response())
}

async fn count_patients(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CountRequest = json_body(&body)?;
    let filter = parse_filter(req.filter.as_deref())?;
    let count = s.engine().count_patients(&filter).await?;
    Ok(Json(Count { count }).into_response())
}

async fn list_campaigns(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(s.engine().store().campaigns().await?).into_response())
}

async fn create_campaign(State(s): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateCampaign = json_body(&body)?;
    let filter = parse_filter(Some(&req.filter))?;
    let mut request = CampaignRequest::new(req.name, FormId(req.form), Arc::new(filter));
    if let Some(channels) = req.channels {
        request.channels = channels;
    }
    if let Some(days) = req.link_days {
        request.set_link_days(days)?;
    }
    request.strategy = req.strategy;
    request.budget = req.budget;
    request.second_wave_hours = req.second_wave_hours;
    let id = s.engine().create_campaign(&request).await?;
    Ok((StatusCode::CREATED, Json(s.engine().preview(id).await?)).into_response())
}

async fn campaign_status(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    Ok(Json(s.engine().status(CampaignId(id)).await?).into_response())
}

async fn campaign_preview(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    Ok(Json(s.engine().preview(CampaignId(id)).await?).into_response())
}

/// Runs a send to completion on its own task, so a caller who hangs up does not cut a
/// batch short (it would be resumed, but some patients could get it twice).
async fn detached<T, F>(work: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = crate::Result<T>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|e| ApiError(Error::Config(format!("the send task stopped: {e}"))))?
        .map_err(ApiError)
}

async fn campaign_send(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let (engine, options) = (s.engine().clone(), s.options().send_options.clone());
    let report = detached(async move { engine.send(CampaignId(id), &options, &()).await }).await?;
    Ok(Json(report).into_response())
}

async fn campaign_second_wave(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let (engine, options) = (s.engine().clone(), s.options().send_options.clone());
    let report =
        detached(async move { engine.send_second_wave(CampaignId(id), &options, &()).await })
            .await?;
    Ok(Json(report).into_response())
}

async fn campaign_budget(
    State(s): State<AppState>,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: SetBudget = json_body(&body)?;
    Ok(Json(s.engine().set_budget(CampaignId(id), req.budget).await?).into_response())
}

async fn campaign_retry_failed(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let requeued = s.engine().retry_failed(CampaignId(id)).await?;
    Ok(Json(serde_json::json!({ "requeued": requeued })).into_response())
}

async fn campaign_remind(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let engine = s.engine().clone();
    let (policy, options) = (
        s.options().reminder_policy,
        s.options().send_options.clone(),
    );
    let report =
        detached(async move { engine.remind(CampaignId(id), &policy, &options, &()).await })
            .await?;
    Ok(Json(report).into_response())
}

async fn campaign_tracking(State(s): State<AppState>, Path(id): Path<i64>) -> ApiResult<Response> {
    let store = s.engine().store();
    store.campaign(CampaignId(id)).await?;
    Ok(Json(store.tracking_counts(CampaignId(id)).await?).into_response())
}

async fn campaign_non_respondents(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let store = s.engine().store();
    store.campaign(CampaignId(id)).await?;
    Ok(Json(store.non_respondents(CampaignId(id)).await?).into_response())
}

/// Every response to the campaign as FHIR R4 `QuestionnaireResponse` NDJSON.
async fn campaign_responses_fhir(
    State(s): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let mut body = Vec::new();
    crate::fhir::export_responses(
        s.engine().store().as_ref(),
        CampaignId(id),
        &s.options().public_base_url,
        &mut body,
    )
    .await?;
    Ok((
        [(header::CONTENT_TYPE, crate::fhir::NDJSON_MEDIA_TYPE)],
        body,
    )
        .into_response())
}

async fn weekly_report(State(s): State<AppState>) -> ApiResult<Response> {
    Ok(Json(crate::report::weekly_report(s.engine()).await?).into_response())
}

/// Every API route that needs the bearer token: (method, path, handler).
pub fn api_routes() -> Vec<(Method, &'static str, MethodRouter<AppState>)> {
    vec![
        (Method::GET, "/api/forms", get(list_forms)),
        (Method::POST, "/api/forms", post(create_form)),
        (Method::GET, "/api/forms/{id}", get(get_form)),
        (Method::POST, "/api/patients/count", post(count_patients)),
        (Method::GET, "/api/campaigns", get(list_campaigns)),
        (Method::POST, "/api/campaigns", post(create_campaign)),
        (Method::GET, "/api/campaigns/{id}", get(campaign_status)),
        (
            Method::GET,
            "/api/campaigns/{id}/preview",
            get(campaign_preview),
        ),
        (
            Method::POST,
            "/api/campaigns/{id}/send",
            post(campaign_send),
        ),
        (
            Method::POST,
            "/api/campaigns/{id}/remind",
            post(campaign_remind),
        ),
        (
            Method::POST,
            "/api/campaigns/{id}/second-wave",
            post(campaign_second_wave),
        ),
        (
            Method::PUT,
            "/api/campaigns/{id}/budget",
            put(campaign_budget),
        ),
        (
            Method::POST,
            "/api/campaigns/{id}/retry-failed",
            post(campaign_retry_failed),
        ),
        (
            Method::GET,
            "/api/campaigns/{id}/tracking",
            get(campaign_tracking),
        ),
        (
            Method::GET,
            "/api/campaigns/{id}/non-respondents",
            get(campaign_non_respondents),
        ),
        (
            Method::GET,
            "/api/campaigns/{id}/responses/fhir",
            get(campaign_responses_fhir),
        ),
        (Method::GET, "/api/reports/weekly", get(weekly_report)),
    ]
}

/// The path of the OpenAPI document (served without a token).
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The API router: [`api_routes`] behind the bearer token, and the OpenAPI document.
pub fn routes(state: AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (_, path, handler) in api_routes() {
        router = router.route(path, handler);
    }
    router
        .route_layer(axum::middleware::from_fn_with_state(state, require_token))
        .route(OPENAPI_PATH, get(openapi))
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// The shortest API token the service accepts: 32 characters (at least 128 bits when
/// drawn from a base64 or hex alphabet). A shorter configured token never authenticates
/// anyone, so an empty or guessable setting cannot open the API.
pub const MIN_API_TOKEN_LEN: usize = 32;

/// Whether `token` is long enough to guard the API ([`MIN_API_TOKEN_LEN`]).
pub fn api_token_is_strong(token: &str) -> bool {
    token.chars().count() >= MIN_API_TOKEN_LEN
}

/// The credentials of an `Authorization` header using the `Bearer` scheme, whose name is
/// matched case-insensitively (RFC 9110 §11.1).
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

/// Refuses API requests without the configured bearer token (compared in constant time).
/// A configured token shorter than [`MIN_API_TOKEN_LEN`] turns the API off (`403`) rather
/// than letting an empty or short secret authenticate anyone.
async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let expected = match &app.options().api_token {
        Some(token) if api_token_is_strong(token.expose_secret()) => token,
        Some(_) => {
            return error_body(
                StatusCode::FORBIDDEN,
                "api_disabled",
                "the API is off: the configured API token is shorter than 32 characters",
            )
        }
        None => {
            return error_body(
                StatusCode::FORBIDDEN,
                "api_disabled",
                "the API is off: start the service with an API token (MEDICARE_API_TOKEN)",
            )
        }
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credentials)
        .unwrap_or("");
    let ok: bool = !presented.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            &digest(presented.as_bytes())[..],
            &digest(expected.expose_secret().as_bytes())[..],
        ));
    if !ok {
        let mut r = error_body(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    next.run(req).await
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn every_kind_has_a_status_that_says_whose_fault_it_is() {
        for kind in ErrorKind::ALL {
            let status = http_status(*kind);
            assert!(
                status.is_client_error() || status == StatusCode::INTERNAL_SERVER_ERROR,
                "{kind}: {status}"
            );
            assert_eq!(status.is_client_error(), kind.is_caller_error(), "{kind}");
        }
    }

    #[tokio::test]
    async fn a_template_error_is_a_500_without_its_detail() {
        let e = Error::Template {
            name: "form page".into(),
            message: "secret detail".into(),
        };
        let response = ApiError(e).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(r#""kind":"internal""#), "{body}");
        assert!(!body.contains("secret detail"), "{body}");
    }
}
