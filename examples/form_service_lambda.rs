//! The patient form service as an AWS Lambda function behind API Gateway (HTTP API,
//! route `ANY /f/{token}`): the same axum router `medicare serve` runs, adapted by
//! `lambda_http`. The patient's IP comes from the API Gateway request context, so the
//! per-IP link budget works as it does behind a socket (per execution environment; the
//! API's own throttling bounds the whole).
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

/// The form service for `ws`, taking each client's IP from the API Gateway context.
pub fn service(ws: &Workspace) -> axum::Router {
    let options = ServerOptions {
        link_requests_per_minute: ws.config().link_requests_per_minute,
        send_options: ws.config().send_options(),
        reminder_policy: ws.config().reminder_policy(),
        ..ServerOptions::default()
    };
    router(ws.engine().clone(), options).layer(axum::middleware::from_fn(client_ip))
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
                        let router = service(&ws);
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
        serde_json::json!({
            "version": "2.0",
            "routeKey": "ANY /f/{token}",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {"host": "forms.example.org", "user-agent": "test"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "forms.example.org",
                "domainPrefix": "forms", "requestId": "req-1", "routeKey": "ANY /f/{token}",
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

        let app = service(&ws);
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
}
