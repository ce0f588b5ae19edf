//! IAM database authentication for Aurora: the database password is an RDS auth token,
//! a SigV4-presigned `connect` request signed with the caller's AWS credentials (the
//! Lambda function's role), valid for 15 minutes, instead of a stored password.
//!
//! The token is computed locally ([`auth_token`]), the same way AWS's SDKs do; the tests
//! check it against the SDKs' published example. A token is only checked when a
//! connection is opened: connections already open outlive it, and a connection pool that
//! opens new ones needs a fresh token, which is why [`DatabaseIamAuth::url`] is cheap to
//! call again.

use crate::presign::{encode, presigned_get};
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_runtime_api::client::identity::Identity;
use medicare_core::{Error, Result};
use secrecy::SecretString;
use std::time::{Duration, SystemTime};

/// How long an RDS auth token is accepted (fixed by RDS).
pub const AUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Which database user at which endpoint a token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseIamAuth {
    /// `postgres` or `mysql`.
    pub scheme: String,
    /// The cluster endpoint's host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The database.
    pub database: String,
    /// The database user granted `rds_iam` (PostgreSQL) or created `IDENTIFIED WITH
    /// AWSAuthenticationPlugin` (MySQL).
    pub user: String,
    /// The cluster's region.
    pub region: String,
}

/// The RDS auth token for `user` at `host:port` in `region`, signed at `now` with
/// `identity` (AWS credentials). The token is the password: keep it secret.
pub fn auth_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    identity: &Identity,
    now: SystemTime,
) -> Result<SecretString> {
    let url = format!(
        "https://{host}:{port}/?Action=connect&DBUser={}",
        encode(user)
    );
    let body = aws_sigv4::http_request::SignableBody::Bytes(&[]);
    let signed = presigned_get(
        &url,
        "rds-db",
        body,
        region,
        identity,
        AUTH_TOKEN_LIFETIME,
        now,
    )
    .map_err(|m| Error::Config(format!("the RDS auth token cannot be signed: {m}")))?;
    Ok(SecretString::from(
        signed.trim_start_matches("https://").to_string(),
    ))
}

impl DatabaseIamAuth {
    /// A database URL (TLS required, as IAM authentication demands) whose password is a
    /// token signed now with `config`'s credentials.
    pub async fn url(&self, config: &SdkConfig) -> Result<SecretString> {
        let provider = config.credentials_provider().ok_or_else(|| {
            Error::Config(
                "IAM database authentication needs AWS credentials; none are configured".into(),
            )
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            Error::Config(format!(
                "IAM database authentication: the AWS credentials could not be loaded: {e}"
            ))
        })?;
        self.url_with(&credentials.into(), SystemTime::now())
    }

    /// [`DatabaseIamAuth::url`] with given credentials and time.
    pub fn url_with(&self, identity: &Identity, now: SystemTime) -> Result<SecretString> {
        use secrecy::ExposeSecret;
        let tls = match self.scheme.as_str() {
            "postgres" => "sslmode=require",
            // The token is sent in the clear-text plugin's packet, inside TLS.
            "mysql" => "ssl-mode=REQUIRED&enable-cleartext-plugin=true",
            other => {
                return Err(Error::Config(format!(
                    "IAM database authentication: the scheme is {other:?}, not postgres or mysql"
                )))
            }
        };
        let token = auth_token(
            &self.host,
            self.port,
            &self.user,
            &self.region,
            identity,
            now,
        )?;
        Ok(SecretString::from(format!(
            "{}://{}:{}@{}:{}/{}?{tls}",
            self.scheme,
            encode(&self.user),
            encode(token.expose_secret()),
            self.host,
            self.port,
            self.database,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use secrecy::ExposeSecret;
    use std::time::UNIX_EPOCH;

    fn identity() -> Identity {
        Credentials::new("akid", "secret", None, None, "test").into()
    }

    /// The AWS SDKs' published RDS auth token example (aws-sdk-rust's `auth_token`
    /// tests, the same inputs as botocore's `generate_db_auth_token` test): Monday,
    /// 26 August 2024, 22:00 UTC.
    #[test]
    fn matches_the_sdks_published_rds_auth_token() {
        let at = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let token = auth_token(
            "prod-instance.us-east-1.rds.amazonaws.com",
            3306,
            "peccy",
            "us-east-1",
            &identity(),
            at,
        )
        .unwrap();
        assert_eq!(
            token.expose_secret(),
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request&X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    #[test]
    fn the_url_carries_the_token_as_an_escaped_password_over_tls() {
        let auth = DatabaseIamAuth {
            scheme: "postgres".into(),
            host: "db.cluster-x.eu-west-2.rds.amazonaws.com".into(),
            port: 5432,
            database: "medicare".into(),
            user: "medicare_app".into(),
            region: "eu-west-2".into(),
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let url = auth.url_with(&identity(), at).unwrap();
        let url = url.expose_secret();
        assert!(
            url.starts_with("postgres://medicare_app:db.cluster-x.eu-west-2.rds.amazonaws.com%3A5432%2F%3FAction%3Dconnect%26DBUser%3Dmedicare_app%26X-Amz-Algorithm"),
            "{url}"
        );
        assert!(
            url.ends_with(
                "@db.cluster-x.eu-west-2.rds.amazonaws.com:5432/medicare?sslmode=require"
            ),
            "{url}"
        );
        let other = DatabaseIamAuth {
            scheme: "sqlite".into(),
            ..auth
        };
        let err = other.url_with(&identity(), at).unwrap_err().to_string();
        assert!(err.contains("sqlite"), "{err}");
    }
}
