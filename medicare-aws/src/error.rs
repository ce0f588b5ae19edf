//! One classifier for every AWS call: what failed, and what the caller can do about it.
//!
//! An SDK error becomes a [`Failure`]: throttled (throttling codes, HTTP 429), transient
//! (HTTP 5xx, timeouts, connection failures, unreadable responses) or permanent (invalid
//! parameters and every other 4xx). The notifiers hand it to the engine as a
//! [`NotifyError`]; the S3 and KMS types turn it into a medicare [`Error`].
//!
//! Descriptions carry the operation, the AWS error code and the HTTP status only. AWS
//! error *messages* are left out on purpose: some echo the request ("Invalid parameter:
//! PhoneNumber Reason: +44... is not valid"), and a phone number or email address must
//! never reach a log or a delivery record.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use medicare_core::notify::NotifyError;
use medicare_core::Error;
use std::time::Duration;

/// What the caller should do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Slow down and try again.
    Throttled,
    /// Try again after a backoff.
    Transient,
    /// Trying the same call again cannot succeed.
    Permanent,
}

/// A classified AWS failure, described without personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    /// `SNS Publish: Throttling (HTTP 400)`.
    pub description: String,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The AWS error code, when the service sent one.
    pub code: Option<String>,
    /// How long the service asked the caller to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// Error codes that mean "slow down", across SNS, SES, S3 and KMS.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "Throttled",
    "ThrottledException",
    "TooManyRequests",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "KMSThrottling",
    "KMSThrottlingException",
];

/// Error codes that mean "the service failed, try again".
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "KMSInternalException",
    "DependencyTimeoutException",
];

impl Failure {
    fn new(kind: FailureKind, description: String) -> Self {
        Failure {
            kind,
            description,
            status: None,
            code: None,
            retry_after: None,
        }
    }

    /// Classifies `err`, raised by `operation` (`SNS Publish`).
    pub fn classify<E>(operation: &str, err: &SdkError<E, Response>) -> Failure
    where
        E: ProvideErrorMetadata,
    {
        match err {
            SdkError::ConstructionFailure(_) => Failure::new(
                FailureKind::Permanent,
                format!("{operation}: the request could not be built"),
            ),
            SdkError::TimeoutError(_) => {
                Failure::new(FailureKind::Transient, format!("{operation}: timed out"))
            }
            SdkError::DispatchFailure(d) => {
                // Connector errors describe the connection (host, os error), never the
                // request body: safe to show, and needed to diagnose a bad endpoint.
                let kind = if d.is_user() {
                    FailureKind::Permanent
                } else {
                    FailureKind::Transient
                };
                let cause = d
                    .as_connector_error()
                    .map_or_else(|| "no detail".to_string(), |c| error_chain(c));
                Failure::new(
                    kind,
                    format!("{operation}: the request could not be sent: {cause}"),
                )
            }
            SdkError::ResponseError(r) => {
                let status = r.raw().status().as_u16();
                let mut f = Failure::new(
                    FailureKind::Transient,
                    format!("{operation}: unreadable response (HTTP {status})"),
                );
                f.status = Some(status);
                f
            }
            SdkError::ServiceError(s) => {
                let status = s.raw().status().as_u16();
                let code = s.err().code().map(str::to_string);
                let kind = match code.as_deref() {
                    _ if status == 429 => FailureKind::Throttled,
                    Some(c) if THROTTLING_CODES.contains(&c) => FailureKind::Throttled,
                    Some(c) if TRANSIENT_CODES.contains(&c) => FailureKind::Transient,
                    _ if status >= 500 => FailureKind::Transient,
                    _ => FailureKind::Permanent,
                };
                let retry_after = s
                    .raw()
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                Failure {
                    kind,
                    description: format!(
                        "{operation}: {} (HTTP {status})",
                        code.as_deref().unwrap_or("error without a code")
                    ),
                    status: Some(status),
                    code,
                    retry_after,
                }
            }
            _ => Failure::new(
                FailureKind::Transient,
                format!("{operation}: unexpected SDK failure"),
            ),
        }
    }

    /// The failure as the engine's [`NotifyError`].
    pub fn into_notify_error(self) -> NotifyError {
        match self.kind {
            FailureKind::Throttled => NotifyError::Throttled {
                reason: self.description,
                retry_after: self.retry_after,
            },
            FailureKind::Transient => NotifyError::Transient {
                reason: self.description,
            },
            FailureKind::Permanent => NotifyError::Permanent {
                reason: self.description,
            },
        }
    }

    /// The failure as a medicare [`Error`] about `location` (`s3://bucket/key`, a KMS
    /// key id): an I/O error whose kind says permission, timeout or other.
    pub fn into_error(self, location: impl Into<String>) -> Error {
        let kind = match (self.status, self.kind) {
            (Some(401 | 403), _) => std::io::ErrorKind::PermissionDenied,
            (_, FailureKind::Throttled | FailureKind::Transient) => std::io::ErrorKind::TimedOut,
            _ => std::io::ErrorKind::Other,
        };
        Error::io(location.into(), std::io::Error::new(kind, self.description))
    }
}

/// `error: its source: ...`, on one line: unlike the SDK's `DisplayErrorContext`, without
/// a `Debug` dump of the whole error appended.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        // Some layers repeat their source's message in their own.
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = e.source();
    }
    line.replace(['\n', '\r'], " ")
}

/// A notifier call's outcome for the engine: the provider's message id, or the
/// classified failure (logged with the delivery id only).
pub(crate) fn sent_message_id<E>(
    operation: &str,
    delivery_id: i64,
    result: Result<Option<String>, SdkError<E, Response>>,
) -> Result<String, NotifyError>
where
    E: ProvideErrorMetadata,
{
    match result {
        Ok(Some(id)) => Ok(id),
        Ok(None) => Err(NotifyError::Transient {
            reason: format!("{operation}: the response had no message id"),
        }),
        Err(e) => {
            let failure = Failure::classify(operation, &e);
            tracing::debug!(delivery = delivery_id, error = %failure.description, "send failed");
            Err(failure.into_notify_error())
        }
    }
}

/// Shorthand: classify `err` and turn it into a medicare [`Error`] about `location`.
pub(crate) fn storage_error<E>(
    operation: &str,
    location: impl Into<String>,
    err: &SdkError<E, Response>,
) -> Error
where
    E: ProvideErrorMetadata,
{
    Failure::classify(operation, err).into_error(location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish::PublishError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(
        code: Option<&str>,
        status: u16,
        retry_after: Option<&str>,
    ) -> SdkError<PublishError, Response> {
        let mut meta =
            ErrorMetadata::builder().message("Invalid parameter: PhoneNumber +447700900123");
        if let Some(c) = code {
            meta = meta.code(c);
        }
        let mut raw = http::Response::builder().status(status);
        if let Some(r) = retry_after {
            raw = raw.header("Retry-After", r);
        }
        let raw = Response::try_from(raw.body(SdkBody::empty()).unwrap()).unwrap();
        SdkError::service_error(PublishError::generic(meta.build()), raw)
    }

    #[test]
    fn service_errors_are_classified_by_code_then_status() {
        let cases = [
            (Some("Throttling"), 400, FailureKind::Throttled),
            (Some("ThrottlingException"), 400, FailureKind::Throttled),
            (
                Some("TooManyRequestsException"),
                429,
                FailureKind::Throttled,
            ),
            (None, 429, FailureKind::Throttled),
            (Some("InternalError"), 500, FailureKind::Transient),
            (None, 503, FailureKind::Transient),
            (Some("SomethingNew"), 502, FailureKind::Transient),
            (Some("InvalidParameter"), 400, FailureKind::Permanent),
            (Some("AuthorizationError"), 403, FailureKind::Permanent),
            (None, 404, FailureKind::Permanent),
        ];
        for (code, status, kind) in cases {
            let f = Failure::classify("SNS Publish", &service(code, status, None));
            assert_eq!(f.kind, kind, "{code:?} {status}");
            assert_eq!(f.status, Some(status));
            // The AWS message (which here echoes a phone number) is never carried.
            assert!(!f.description.contains("+44"), "{}", f.description);
            assert!(
                f.description.starts_with("SNS Publish: "),
                "{}",
                f.description
            );
        }
    }

    #[test]
    fn retry_after_is_kept_for_throttling() {
        let f = Failure::classify(
            "SES SendEmail",
            &service(Some("TooManyRequestsException"), 429, Some("3")),
        );
        assert_eq!(
            f.clone().into_notify_error(),
            NotifyError::Throttled {
                reason: "SES SendEmail: TooManyRequestsException (HTTP 429)".into(),
                retry_after: Some(Duration::from_secs(3)),
            }
        );
        assert!(f.into_notify_error().is_retryable());
    }

    #[test]
    fn transport_failures_are_transient_and_bad_requests_permanent() {
        let io: SdkError<PublishError, Response> =
            SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
        assert_eq!(
            Failure::classify("SNS Publish", &io).kind,
            FailureKind::Transient
        );
        let timeout: SdkError<PublishError, Response> = SdkError::timeout_error("slow");
        assert_eq!(
            Failure::classify("SNS Publish", &timeout).kind,
            FailureKind::Transient
        );
        let user: SdkError<PublishError, Response> =
            SdkError::dispatch_failure(ConnectorError::user("bad endpoint".into()));
        assert_eq!(
            Failure::classify("SNS Publish", &user).kind,
            FailureKind::Permanent
        );
        let construction: SdkError<PublishError, Response> =
            SdkError::construction_failure("missing field");
        let f = Failure::classify("SNS Publish", &construction);
        assert_eq!(f.kind, FailureKind::Permanent);
        assert!(!f.into_notify_error().is_retryable());
    }

    #[test]
    fn storage_errors_name_the_location_and_the_permission_problem() {
        let err = storage_error(
            "S3 PutObject",
            "s3://b/k",
            &service(Some("AccessDenied"), 403, None),
        );
        let Error::Io { path, source } = &err else {
            panic!("{err}")
        };
        assert_eq!(path.to_str(), Some("s3://b/k"));
        assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
        assert_eq!(
            err.to_string(),
            "s3://b/k: S3 PutObject: AccessDenied (HTTP 403)"
        );
    }
}
