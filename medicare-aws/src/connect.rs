//! One configuration for every AWS client: the standard aws-config chain with an optional
//! endpoint override, and the clients built from it.
//!
//! The same code talks to AWS (no override) or to a local AWS-compatible server such as
//! moto (`Some("http://127.0.0.1:5000")`). With an override, S3 is addressed path-style
//! (`{endpoint}/{bucket}/{key}`), since a local server has no per-bucket host names.
//!
//! The notifiers' clients ([`sns_client`], [`ses_client`]) make **one attempt per call**:
//! the campaign engine retries each recipient itself, with backoff, jitter and a
//! generous attempt budget, so an SDK retry layered underneath would only multiply
//! attempts and hide throttling from the engine's pacing. They also bound each attempt
//! ([`NOTIFY_ATTEMPT_TIMEOUT`]), so a hung connection becomes a transient error the engine
//! retries. The S3 and KMS clients keep the SDK's standard retries: nothing above them
//! retries.

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use medicare_core::{Error, Result};
use std::time::Duration;

/// How long one SNS or SES call may take before it counts as a transient failure.
pub const NOTIFY_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads the standard aws-config chain (region and credentials from the environment,
/// profile, web identity, container or instance metadata), with `endpoint_url` overriding
/// every service's endpoint when given.
///
/// Fails with a clear message when the endpoint is not an `http(s)://` URL or no region
/// is configured (set `AWS_REGION`).
pub async fn sdk_config(endpoint_url: Option<&str>) -> Result<SdkConfig> {
    sdk_config_with(
        aws_config::defaults(BehaviorVersion::latest()),
        endpoint_url,
    )
    .await
}

/// As [`sdk_config`], from a loader the caller has already adjusted (a fixed region,
/// static test credentials, a named profile, ...).
pub async fn sdk_config_with(
    loader: ConfigLoader,
    endpoint_url: Option<&str>,
) -> Result<SdkConfig> {
    let loader = match endpoint_url {
        Some(url) => loader.endpoint_url(check_endpoint(url)?),
        None => loader,
    };
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(Error::Config(
            "no AWS region is configured: set AWS_REGION (or a region in the AWS profile)".into(),
        ));
    }
    Ok(config)
}

fn check_endpoint(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let host = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"));
    match host {
        Some(h) if !h.is_empty() && !h.contains(['/', '?', '#', ' ', '@']) => Ok(trimmed.into()),
        _ => Err(Error::invalid(
            "AWS endpoint URL",
            "must be http://host[:port] or https://host[:port], without path, query or credentials",
        )),
    }
}

/// An S3 client; path-style addressing when the endpoint is overridden.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A KMS client.
pub fn kms_client(config: &SdkConfig) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(config)
}

/// An SNS client making one attempt per call (see the module docs).
pub fn sns_client(config: &SdkConfig) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .timeout_config(notify_timeouts(config))
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// An SES v2 client making one attempt per call (see the module docs).
pub fn ses_client(config: &SdkConfig) -> aws_sdk_sesv2::Client {
    let conf = aws_sdk_sesv2::config::Builder::from(config)
        .retry_config(RetryConfig::disabled())
        .timeout_config(notify_timeouts(config))
        .build();
    aws_sdk_sesv2::Client::from_conf(conf)
}

/// The configured timeouts, with an attempt timeout added when none is set.
fn notify_timeouts(config: &SdkConfig) -> TimeoutConfig {
    config
        .timeout_config()
        .map(TimeoutConfig::to_builder)
        .unwrap_or_default()
        .take_unset_from(TimeoutConfig::builder().operation_attempt_timeout(NOTIFY_ATTEMPT_TIMEOUT))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn loader() -> ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-2"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
    }

    #[tokio::test]
    async fn endpoint_override_is_checked_and_applied() {
        let config = sdk_config_with(loader(), Some("http://127.0.0.1:5077/"))
            .await
            .unwrap();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5077"));
        for bad in [
            "127.0.0.1:5077",
            "ftp://x",
            "http://",
            "http://h/path",
            "http://u:p@h",
        ] {
            let err = sdk_config_with(loader(), Some(bad)).await.unwrap_err();
            assert!(err.to_string().contains("AWS endpoint URL"), "{bad}: {err}");
        }
        let none = sdk_config_with(loader(), None).await.unwrap();
        assert_eq!(none.endpoint_url(), None);
    }

    #[tokio::test]
    async fn a_missing_region_is_a_clear_error() {
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(None::<aws_config::Region>)
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"));
        // The chain may still find a region in the environment of the machine running the
        // test; only assert the message when it did not.
        if let Err(e) = sdk_config_with(loader, None).await {
            assert!(e.to_string().contains("AWS_REGION"), "{e}");
        }
    }

    #[tokio::test]
    async fn notifier_clients_make_one_attempt_with_a_bounded_time() {
        let config = sdk_config_with(loader(), None).await.unwrap();
        let sns = sns_client(&config);
        assert_eq!(sns.config().retry_config().unwrap().max_attempts(), 1);
        assert_eq!(
            sns.config()
                .timeout_config()
                .unwrap()
                .operation_attempt_timeout(),
            Some(NOTIFY_ATTEMPT_TIMEOUT)
        );
        let ses = ses_client(&config);
        assert_eq!(ses.config().retry_config().unwrap().max_attempts(), 1);
        // S3 keeps the SDK's standard retries. (Path-style addressing with an endpoint
        // override is not readable back from the config; the moto tests depend on it.)
        let s3 = s3_client(&config);
        assert!(s3.config().retry_config().unwrap().max_attempts() > 1);
    }
}
