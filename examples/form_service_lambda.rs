//! The patient form service and the JSON API as an AWS Lambda function behind API
//! Gateway (HTTP API, routes `ANY /f/{token}` and `ANY /api/{proxy+}`): the same axum
//! router `medicare serve` runs, adapted by `lambda_http`. The patient's IP comes from the
//! API Gateway request context, so the per-IP link budget works as it does behind a
//! socket (per execution environment; the API's own throttling bounds the whole).
//!
//! The JSON API takes the same per-operator API tokens as `medicare serve` (made with
//! `medicare operator token create`), checked by the same route table and guard: the
//! workspace's [`access`](medicare_core::Workspace::access) service is the router's. Its
//! TOTP sealer is KMS (`MEDICARE_OPERATOR_SECRETS_KMS_KEY_ID`) or the workspace key file
//! installed from Secrets Manager (`MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN`); see
//! [`lambda_support`](medicare_examples::lambda_support).
//!
//! `main` opens the workspace once (see [`lambda_support`]); tests invoke the service
//! with a sample API Gateway event.

use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use medicare_core::server::{router, ServerOptions};
use medicare_core::Workspace;
use medicare_examples::lambda_support::{telemetry, FreshWorkspace};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The form service and JSON API for `ws` (operators' tokens checked by `ws`'s access
/// service), taking each client's IP from the API Gateway context.
pub fn service(ws: &Workspace) -> medicare_core::Result<axum::Router> {
    let options = ServerOptions {
        link_requests_per_minute: ws.config().link_requests_per_minute,
        access: Some(Arc::new(ws.access()?)),
        send_options: ws.config().send_options(),
        reminder_policy: ws.config().reminder_policy(),
        public_base_url: ws.config().base_url.clone(),
        ..ServerOptions::default()
    };
    Ok(router(ws.engine().clone(), options).layer(axum::middleware::from_fn(client_ip)))
}

/// Copies the source IP API Gateway saw into the connection info the router reads.
async fn client_ip(mut request: Request, next: Next) -> Response {
    let ip = request
        .extensions()
        .get::<RequestContext>()
        .and_then(|context| match context {
            RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
            RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
        })
        .and_then(|ip| ip.parse::<IpAddr>().ok());
    if let Some(ip) = ip {
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip, 0)));
    }
    next.run(request).await
}

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    use lambda_http::RequestExt;
    use tower::ServiceExt;
    let metrics = telemetry::init()?;
    let workspace = FreshWorkspace::open().await?;
    // The router (and its rate limiter) is rebuilt only when the workspace is reopened.
    let cache: tokio::sync::Mutex<Option<(Arc<Workspace>, axum::Router)>> = Default::default();
    let (workspace, cache) = (&workspace, &cache);
    lambda_http::run(tower::service_fn(
        move |request: lambda_http::Request| async move {
            let ws = workspace.get().await?;
            let router = {
                let mut cache = cache.lock().await;
                match cache.as_ref() {
                    Some((cached, router)) if Arc::ptr_eq(cached, &ws) => router.clone(),
                    _ => {
                        let router = service(&ws)?;
                        *cache = Some((ws, router.clone()));
                        router
                    }
                }
            };
            let request_id = request
                .lambda_context_ref()
                .map(|c| c.request_id.clone())
                .unwrap_or_default();
            telemetry::begin(metrics, &request_id);
            let response = router.oneshot(request).await;
            if let Err(e) = telemetry::flush(metrics, std::io::stdout()) {
                tracing::warn!(error = %e, "the metrics could not be written");
            }
            Ok::<_, lambda_http::Error>(response?)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use medicare_core::campaign::CampaignRequest;
    use medicare_core::filter::Filter;
    use medicare_core::form::FormSpec;
    use medicare_core::patient::{generate, GenerateOptions};
    use medicare_core::Config;
    use std::sync::Arc;
    use tower::ServiceExt;

    fn api_gateway_event(method: &str, path: &str, ip: &str) -> String {
        api_gateway_event_with(method, path, ip, None)
    }

    /// An HTTP API event for `path`, with `Authorization: Bearer <bearer>` when given.
    fn api_gateway_event_with(method: &str, path: &str, ip: &str, bearer: Option<&str>) -> String {
        let route = if path.starts_with("/api/") {
            "ANY /api/{proxy+}"
        } else {
            "ANY /f/{token}"
        };
        let mut headers = serde_json::json!({"host": "forms.example.org", "user-agent": "test"});
        if let Some(token) = bearer {
            headers["authorization"] = format!("Bearer {token}").into();
        }
        serde_json::json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "forms.example.org",
                "domainPrefix": "forms", "requestId": "req-1", "routeKey": route,
                "stage": "$default", "time": "21/Nov/2026:09:00:00 +0000", "timeEpoch": 1795251600000u64,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                         "sourceIp": ip, "userAgent": "test"}
            },
            "isBase64Encoded": false
        })
        .to_string()
    }

    #[tokio::test]
    async fn an_api_gateway_event_opens_the_patients_form() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), Config::default())
            .await
            .unwrap();
        let engine = ws.engine();
        engine
            .import_patients(&generate(GenerateOptions { count: 40, seed: 8 }))
            .await
            .unwrap();
        let form = engine
            .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap())
            .await
            .unwrap();
        let id = engine
            .create_campaign(&CampaignRequest::new(
                "lambda",
                form.id,
                Arc::new(Filter::all()),
            ))
            .await
            .unwrap();
        engine.send(id, &Default::default(), &()).await.unwrap();
        let outbox = std::fs::read_to_string(ws.outbox_path()).unwrap();
        let path = medicare_core::link::link_path(outbox.lines().next().unwrap())
            .unwrap()
            .to_string();

        let app = service(&ws).unwrap();
        let request =
            lambda_http::request::from_str(&api_gateway_event("GET", &path, "203.0.113.9"))
                .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["referrer-policy"].to_str().unwrap(),
            "no-referrer"
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Register for your vaccination"));

        let unknown = lambda_http::request::from_str(&api_gateway_event(
            "GET",
            "/f/AAAAAAAAAAAAAAAAAAAAAA",
            "203.0.113.9",
        ))
        .unwrap();
        assert_eq!(app.oneshot(unknown).await.unwrap().status(), 404);
        let tracking = engine.store().tracking_counts(id).await.unwrap();
        assert_eq!(tracking.opened, 1, "{tracking:?}");
    }

    /// Sends `path` with `bearer` through `app` as API Gateway would; the status and the
    /// JSON body.
    async fn api_call(
        app: &axum::Router,
        path: &str,
        bearer: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let event = api_gateway_event_with("GET", path, "203.0.113.9", bearer);
        let request = lambda_http::request::from_str(&event).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        if status == 401 {
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
        }
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn the_json_api_takes_operators_tokens_as_medicare_serve_does() {
        use medicare_core::access::Role;
        use medicare_core::clock::{Clock, FixedClock};
        use medicare_core::server::testing::enrol;
        use secrecy::ExposeSecret;

        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z")
                .unwrap()
                .into(),
        ));
        let ws = Workspace::open_with_clock(dir.path(), Config::default(), clock.clone())
            .await
            .unwrap();
        // Operators made as `medicare operator add` makes them: the workspace's service.
        let access = ws.access().unwrap();
        let manager = enrol(&access, clock.as_ref(), Role::CampaignManager)
            .await
            .unwrap();
        let analyst = enrol(&access, clock.as_ref(), Role::Analyst).await.unwrap();
        let app = service(&ws).unwrap();

        let (status, body) =
            api_call(&app, "/api/forms", Some(manager.token.expose_secret())).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.is_array(), "{body}");

        // A role without the permission: 403, naming the permission.
        let (status, body) =
            api_call(&app, "/api/forms", Some(analyst.token.expose_secret())).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["kind"], "forbidden", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("create_forms"),
            "{body}"
        );

        // No token, a made-up token: 401 with a JSON error.
        for bearer in [
            None,
            Some("medicare_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ] {
            let (status, body) = api_call(&app, "/api/forms", bearer).await;
            assert_eq!(
                (status, &body["error"]["kind"]),
                (401, &"unauthorized".into()),
                "{body}"
            );
        }

        // A revoked token: 401.
        let tokens = access.tokens(manager.id).await.unwrap();
        access.revoke_token(manager.id, tokens[0].id).await.unwrap();
        let (status, body) =
            api_call(&app, "/api/forms", Some(manager.token.expose_secret())).await;
        assert_eq!(
            (status, &body["error"]["kind"]),
            (401, &"unauthorized".into()),
            "{body}"
        );

        // An expired token: accepted the day it is made, 401 once it has expired.
        let short = access
            .create_token(manager.id, "short", clock.now() + chrono::Duration::days(1))
            .await
            .unwrap();
        let (status, _) = api_call(&app, "/api/forms", Some(short.token.expose())).await;
        assert_eq!(status, 200);
        clock.advance(chrono::Duration::days(1) + chrono::Duration::seconds(1));
        let (status, body) = api_call(&app, "/api/forms", Some(short.token.expose())).await;
        assert_eq!(
            (status, &body["error"]["kind"]),
            (401, &"unauthorized".into()),
            "{body}"
        );
        assert!(
            !body.to_string().contains(short.token.expose()),
            "the answer does not echo the token"
        );
    }
}
