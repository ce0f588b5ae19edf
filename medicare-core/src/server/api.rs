//! The JSON API for integrators' own front ends: the campaign lifecycle of the CLI, one
//! route per step, each calling the same [`Engine`](crate::campaign::Engine) method.
//!
//! Every route but `/api/openapi.json` needs `Authorization: Bearer <token>` with an
//! operator's API token (`medicare operator token create`) whose role grants the
//! route's permission: no token, or an unknown, expired or revoked one, is `401`; a role
//! without the permission is `403` (see [`super::auth`]). Errors are `{"error": {"kind", "message"}}` with the
//! status of their meaning (`400`/`422` bad input, `404`, `409` conflict, `500`); a
//! `500` never carries the underlying detail, which goes to the log.
//!
//! The routes are one table ([`api_routes`]), with the permission each needs, from which
//! both the router and the check against the OpenAPI document ([`OPENAPI`]) are made, so
//! they cannot drift apart.

use super::auth::{Access, RouteTable};
use super::AppState;
use crate::access::Permission;
use crate::campaign::{CampaignId, CampaignRequest, FormId, Strategy};
use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::notify::{Channel, Money};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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
/// batch short (it would be resumed, but some patients could get it twice); the task
/// keeps the request's audit scope, so its ledger events name the token's operator.
async fn detached<T, F>(work: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = crate::Result<T>> + Send + 'static,
{
    tokio::spawn(crate::audit::scope(crate::audit::current(), work))
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

/// Every API route with the permission it needs (the OpenAPI document's `x-permission`
/// says the same; a test checks it).
pub fn api_routes() -> RouteTable {
    use Permission as P;
    let needs = Access::Requires;
    RouteTable::new()
        .get(OPENAPI_PATH, Access::Public, get(openapi))
        .get("/api/forms", needs(P::CreateForms), get(list_forms))
        .post("/api/forms", needs(P::CreateForms), post(create_form))
        .get("/api/forms/{id}", needs(P::CreateForms), get(get_form))
        .post(
            "/api/patients/count",
            needs(P::CountPatients),
            post(count_patients),
        )
        .get(
            "/api/campaigns",
            needs(P::ReadTracking),
            get(list_campaigns),
        )
        .post(
            "/api/campaigns",
            needs(P::CreateCampaigns),
            post(create_campaign),
        )
        .get(
            "/api/campaigns/{id}",
            needs(P::ReadTracking),
            get(campaign_status),
        )
        .get(
            "/api/campaigns/{id}/preview",
            needs(P::CreateCampaigns),
            get(campaign_preview),
        )
        .post(
            "/api/campaigns/{id}/send",
            needs(P::SendCampaigns),
            post(campaign_send),
        )
        .post(
            "/api/campaigns/{id}/remind",
            needs(P::SendReminders),
            post(campaign_remind),
        )
        .post(
            "/api/campaigns/{id}/second-wave",
            needs(P::SendCampaigns),
            post(campaign_second_wave),
        )
        .route(
            axum::http::Method::PUT,
            "/api/campaigns/{id}/budget",
            needs(P::CreateCampaigns),
            put(campaign_budget),
        )
        .post(
            "/api/campaigns/{id}/retry-failed",
            needs(P::SendCampaigns),
            post(campaign_retry_failed),
        )
        .get(
            "/api/campaigns/{id}/tracking",
            needs(P::ReadTracking),
            get(campaign_tracking),
        )
        .get(
            "/api/campaigns/{id}/non-respondents",
            needs(P::ReadTracking),
            get(campaign_non_respondents),
        )
        .get(
            "/api/campaigns/{id}/responses/fhir",
            needs(P::ExportResponses),
            get(campaign_responses_fhir),
        )
        .get(
            "/api/reports/weekly",
            needs(P::ReadReports),
            get(weekly_report),
        )
}

/// The path of the OpenAPI document (served without a token).
pub const OPENAPI_PATH: &str = "/api/openapi.json";

/// The API's routes (the guard checks each caller's token and permission).
pub fn routes() -> RouteTable {
    api_routes()
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
