//! Links that are presigned S3 GET URLs: an alternative [`LinkSigner`].
//!
//! Each recipient's link is a SigV4 query-signed `GET` of their own object,
//! `s3://bucket/prefix/<token>.html`: S3 itself checks the signature and the expiry, so
//! the page can be served with no form service in front of it. The token is still the
//! recipient's 128-bit token (issued and derived by the wrapped signer, usually an
//! [`HmacLinkSigner`](medicare_core::link::HmacLinkSigner)), and the store still keeps
//! only its hash, so [`medicare_core::link::presented_token_hash`] recognises it.
//!
//! ## Caveats: read before choosing these links
//!
//! - **A presigned URL is not single-use and cannot be revoked.** Anyone holding it can
//!   fetch the object as often as they like until it expires; the only ways to cut it
//!   short are deleting the object or revoking the signing credentials (which kills every
//!   link they signed). The one-time behaviour of medicare's own links (one accepted
//!   submission) must then be enforced where submissions are accepted, not by S3.
//! - **Expiry is at most 7 days** ([`MAX_PRESIGNED_EXPIRY`], the SigV4 maximum), counted
//!   from when the message is built (at send time). Longer is refused.
//! - **Temporary credentials shorten it further**: a URL signed with session credentials
//!   (an assumed role, Lambda's execution role) stops working when they expire.
//!   [`PresignedLinkSigner::new`] refuses credentials that expire before the links would;
//!   sign with long-term credentials of a user allowed only `s3:GetObject` on the prefix.
//! - The URL is long (about 500 characters, more with a session token): an SMS carrying
//!   it takes several segments.
//!
//! Signing is computed locally and synchronously (no call to AWS), as [`LinkSigner`]
//! requires. moto does not check presigned signatures, so the tests check the URL built
//! against AWS's published SigV4 example.

use crate::location::S3Location;
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use medicare_core::clock::{Clock, SystemClock};
use medicare_core::link::{IssuedLink, LinkNonce, LinkSigner};
use medicare_core::{Error, Result};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The longest a SigV4 presigned URL can be valid: 7 days.
pub const MAX_PRESIGNED_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Issues links as presigned S3 GET URLs (see the module docs, and their caveats).
pub struct PresignedLinkSigner {
    tokens: Arc<dyn LinkSigner>,
    location: S3Location,
    /// `https://bucket.s3.region.amazonaws.com` or `{endpoint}/bucket`.
    bucket_url: String,
    region: String,
    identity: Identity,
    expires_in: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for PresignedLinkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedLinkSigner")
            .field("location", &self.location)
            .field("bucket_url", &self.bucket_url)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl PresignedLinkSigner {
    /// Links to objects under `location`, valid for `expires_in` (at most
    /// [`MAX_PRESIGNED_EXPIRY`]), with tokens issued and derived by `tokens`. The region,
    /// the endpoint and the credentials come from `config`; the credentials are resolved
    /// once, now, and must not expire before `expires_in` has passed.
    pub async fn new(
        config: &SdkConfig,
        location: S3Location,
        tokens: Arc<dyn LinkSigner>,
        expires_in: Duration,
    ) -> Result<Self> {
        let region = config
            .region()
            .ok_or_else(|| Error::Config("presigned links need an AWS region".into()))?
            .to_string();
        let provider = config.credentials_provider().ok_or_else(|| {
            Error::Config("presigned links need AWS credentials; none are configured".into())
        })?;
        let credentials = provider.provide_credentials().await.map_err(|e| {
            Error::Config(format!(
                "presigned links: the AWS credentials could not be loaded: {e}"
            ))
        })?;
        let bucket_url = bucket_url(&location, &region, config.endpoint_url());
        let signer = Self::from_credentials(
            credentials,
            &region,
            bucket_url,
            location,
            tokens,
            expires_in,
        )?;
        let now = SystemTime::from(signer.clock.now());
        if let Some(expiry) = signer.identity.expiration() {
            if expiry < now + expires_in {
                return Err(Error::Config(format!(
                    "presigned links: the AWS credentials are temporary and expire in {} s, before links valid for {} s would; sign with long-term credentials or shorten the expiry",
                    expiry.duration_since(now).unwrap_or_default().as_secs(),
                    expires_in.as_secs()
                )));
            }
        }
        Ok(signer)
    }

    fn from_credentials(
        credentials: Credentials,
        region: &str,
        bucket_url: String,
        location: S3Location,
        tokens: Arc<dyn LinkSigner>,
        expires_in: Duration,
    ) -> Result<Self> {
        if expires_in.is_zero() || expires_in > MAX_PRESIGNED_EXPIRY {
            return Err(Error::invalid(
                "presigned link expiry",
                format!(
                    "must be between 1 second and 7 days ({} s, the SigV4 maximum); got {} s",
                    MAX_PRESIGNED_EXPIRY.as_secs(),
                    expires_in.as_secs()
                ),
            ));
        }
        let signer = PresignedLinkSigner {
            tokens,
            location,
            bucket_url,
            region: region.to_string(),
            identity: credentials.into(),
            expires_in,
            clock: Arc::new(SystemClock),
        };
        // Signing cannot fail for the keys this signer builds; prove it once, here, so
        // `url` never has to.
        signer
            .presign("probe.html", SystemTime::now())
            .map_err(|m| Error::Config(format!("presigned links cannot be signed: {m}")))?;
        Ok(signer)
    }

    /// Signs with `clock`'s time instead of the system's (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The object key (under the location's prefix) a token's link opens.
    pub fn object_key(&self, token: &SecretString) -> String {
        self.location
            .key(&format!("{}.html", token.expose_secret()))
    }

    /// The presigned GET URL of `key` (a full object key), signed at `now`.
    fn presign(&self, key: &str, now: SystemTime) -> std::result::Result<String, String> {
        let url = format!("{}/{key}", self.bucket_url);
        presigned_get(
            &url,
            "s3",
            SignableBody::UnsignedPayload,
            &self.region,
            &self.identity,
            self.expires_in,
            now,
        )
    }
}

/// `url` (which may carry a query already) as a SigV4 query-signed GET for `service` in
/// `region` (`body`: how the payload is signed: S3 leaves it unsigned, other services sign
/// the empty body), valid for `expires_in` from `now`. Computed locally: no call to AWS.
pub(crate) fn presigned_get(
    url: &str,
    service: &str,
    body: SignableBody<'_>,
    region: &str,
    identity: &Identity,
    expires_in: Duration,
    now: SystemTime,
) -> std::result::Result<String, String> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request =
        SignableRequest::new("GET", url, std::iter::empty(), body).map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let query: Vec<String> = instructions
        .params()
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect();
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}{}", query.join("&")))
}

/// Where the bucket is reached: `{endpoint}/bucket` (path style) with an endpoint
/// override; otherwise the regional virtual-hosted name, or path style for a bucket name
/// with dots (which would not match S3's TLS certificate as a host name).
fn bucket_url(location: &S3Location, region: &str, endpoint: Option<&str>) -> String {
    let bucket = location.bucket();
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    match endpoint {
        Some(e) => format!("{}/{bucket}", e.trim_end_matches('/')),
        None if bucket.contains('.') => format!("https://s3.{region}.{domain}/{bucket}"),
        None => format!("https://{bucket}.s3.{region}.{domain}"),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl LinkSigner for PresignedLinkSigner {
    fn issue(&self) -> IssuedLink {
        self.tokens.issue()
    }

    fn token(&self, nonce: &LinkNonce) -> SecretString {
        self.tokens.token(nonce)
    }

    fn url(&self, token: &SecretString) -> String {
        self.presign(&self.object_key(token), SystemTime::from(self.clock.now()))
            .expect("signing was proven to work when the signer was built")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use medicare_core::clock::FixedClock;
    use medicare_core::link::{presented_token_hash, HmacLinkSigner};
    use secrecy::SecretBox;

    fn tokens() -> Arc<dyn LinkSigner> {
        Arc::new(
            HmacLinkSigner::new(
                SecretBox::new(Box::new([3u8; 32])),
                "https://unused.example.org",
            )
            .unwrap(),
        )
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url.split_once('?')
            .unwrap()
            .1
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
        q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// AWS's published example of a presigned GET ("Authenticating Requests: Using Query
    /// Parameters (AWS Signature Version 4)"): the same inputs must give its signature.
    #[test]
    fn matches_the_aws_documented_presigned_url() {
        let credentials = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        );
        let location = S3Location::new("examplebucket", "").unwrap();
        let signer = PresignedLinkSigner::from_credentials(
            credentials,
            "us-east-1",
            "https://examplebucket.s3.amazonaws.com".into(),
            location,
            tokens(),
            Duration::from_secs(86400),
        )
        .unwrap();
        let at = SystemTime::from(Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap());
        let url = signer.presign("test.txt", at).unwrap();
        assert!(
            url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"),
            "{url}"
        );
        let q = query(&url);
        assert_eq!(param(&q, "X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(
            param(&q, "X-Amz-Credential"),
            Some("AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request")
        );
        assert_eq!(param(&q, "X-Amz-Date"), Some("20130524T000000Z"));
        assert_eq!(param(&q, "X-Amz-Expires"), Some("86400"));
        assert_eq!(param(&q, "X-Amz-SignedHeaders"), Some("host"));
        assert_eq!(
            param(&q, "X-Amz-Signature"),
            Some("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
        );
    }

    fn signer(
        endpoint: Option<&str>,
        expires_in: Duration,
        session: Option<&str>,
    ) -> Result<PresignedLinkSigner> {
        let location = S3Location::parse("s3://medicare-links/campaign-7").unwrap();
        let credentials = Credentials::new(
            "testing",
            "testing",
            session.map(str::to_string),
            None,
            "tests",
        );
        let url = bucket_url(&location, "eu-west-2", endpoint);
        PresignedLinkSigner::from_credentials(
            credentials,
            "eu-west-2",
            url,
            location,
            tokens(),
            expires_in,
        )
    }

    #[test]
    fn links_are_signed_urls_of_the_recipients_object() {
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).unwrap(),
        ));
        let s = signer(None, MAX_PRESIGNED_EXPIRY, None)
            .unwrap()
            .with_clock(clock.clone());
        let issued = s.issue();
        let token = s.token(&issued.nonce);
        let url = s.url(&token);
        let path = format!(
            "https://medicare-links.s3.eu-west-2.amazonaws.com/campaign-7/{}.html?",
            token.expose_secret()
        );
        assert!(url.starts_with(&path), "{url}");
        // The token in the URL is the one whose hash the store keeps.
        assert_eq!(
            presented_token_hash(token.expose_secret()),
            Some(issued.token_hash)
        );
        let q = query(&url);
        assert_eq!(param(&q, "X-Amz-Expires"), Some("604800"));
        assert_eq!(param(&q, "X-Amz-Date"), Some("20261121T093000Z"));
        assert_eq!(
            param(&q, "X-Amz-Credential"),
            Some("testing%2F20261121%2Feu-west-2%2Fs3%2Faws4_request")
        );
        let signature = param(&q, "X-Amz-Signature").unwrap();
        assert_eq!(signature.len(), 64);
        assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(param(&q, "X-Amz-Security-Token"), None);
        // Deterministic for one instant; another instant or object signs differently.
        assert_eq!(s.url(&token), url);
        clock.advance(chrono::Duration::seconds(1));
        assert_ne!(s.url(&token), url);
        assert_ne!(s.url(&s.token(&s.issue().nonce)), url);
    }

    #[test]
    fn endpoint_overrides_and_dotted_buckets_use_path_style() {
        let s = signer(
            Some("http://127.0.0.1:5077"),
            Duration::from_secs(60),
            Some("session-token"),
        )
        .unwrap();
        let url = s.url(&SecretString::from("AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(
            url.starts_with(
                "http://127.0.0.1:5077/medicare-links/campaign-7/AAAAAAAAAAAAAAAAAAAAAA.html?"
            ),
            "{url}"
        );
        assert_eq!(
            param(&query(&url), "X-Amz-Security-Token"),
            Some("session-token")
        );
        let dotted = S3Location::parse("s3://forms.example.org/x").unwrap();
        assert_eq!(
            bucket_url(&dotted, "eu-west-2", None),
            "https://s3.eu-west-2.amazonaws.com/forms.example.org"
        );
        assert_eq!(
            bucket_url(&dotted, "cn-north-1", None),
            "https://s3.cn-north-1.amazonaws.com.cn/forms.example.org"
        );
    }

    #[test]
    fn expiry_is_capped_at_the_sigv4_maximum() {
        signer(None, MAX_PRESIGNED_EXPIRY, None).unwrap();
        for bad in [
            MAX_PRESIGNED_EXPIRY + Duration::from_secs(1),
            Duration::ZERO,
        ] {
            let err = signer(None, bad, None).unwrap_err().to_string();
            assert!(
                err.contains("presigned link expiry") && err.contains("7 days"),
                "{err}"
            );
        }
    }

    #[tokio::test]
    async fn temporary_credentials_expiring_before_the_links_are_refused() {
        let expiry = SystemTime::now() + Duration::from_secs(3600);
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("eu-west-2"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "testing",
                    "testing",
                    Some("session".into()),
                    Some(expiry),
                    "tests",
                )),
            )
            .build();
        let location = S3Location::parse("s3://medicare-links").unwrap();
        let err = PresignedLinkSigner::new(
            &config,
            location.clone(),
            tokens(),
            Duration::from_secs(7200),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("temporary") && err.contains("long-term credentials"),
            "{err}"
        );
        let ok = PresignedLinkSigner::new(&config, location, tokens(), Duration::from_secs(1800))
            .await
            .unwrap();
        assert!(format!("{ok:?}").contains("medicare-links"));
        assert!(!format!("{ok:?}").contains("testing"));
    }
}
