//! Form pages in S3, encrypted with SSE-KMS.

use crate::connect::s3_client;
use crate::error::storage_error;
use crate::location::S3Location;
use crate::s3;
use async_trait::async_trait;
use aws_config::SdkConfig;
use medicare_core::publish::FormPublisher;
use medicare_core::{Error, Result};

/// The content type of a published page.
const CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// Caches may keep a page but must revalidate it (cheap, by ETag) before reuse, so a
/// republished form is seen at once.
const CACHE_CONTROL: &str = "no-cache";

/// Publishes form pages as `s3://bucket/prefix/<form name>.html`.
///
/// Every page is written with server-side encryption by KMS (`aws:kms`), under the given
/// key, or under the account's AWS-managed S3 key when none is given; with content type
/// `text/html; charset=utf-8` and `Cache-Control: no-cache`. A `PutObject` is atomic: a
/// reader sees the old page or the new one, never half of one. Keys are form names,
/// checked like the local publisher's (a strict identifier), so nothing can escape the
/// prefix.
#[derive(Debug, Clone)]
pub struct S3FormPublisher {
    client: aws_sdk_s3::Client,
    location: S3Location,
    kms_key_id: Option<String>,
}

impl S3FormPublisher {
    /// Publishes under `location`, encrypting with the KMS key `kms_key_id` (a key id,
    /// ARN or alias) or, when `None`, the AWS-managed key.
    pub fn new(config: &SdkConfig, location: S3Location, kms_key_id: Option<String>) -> Self {
        Self::from_client(s3_client(config), location, kms_key_id)
    }

    /// As [`S3FormPublisher::new`], with a client the caller built.
    pub fn from_client(
        client: aws_sdk_s3::Client,
        location: S3Location,
        kms_key_id: Option<String>,
    ) -> Self {
        S3FormPublisher {
            client,
            location,
            kms_key_id,
        }
    }

    /// Where pages go.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    fn object_name(key: &str) -> Result<String> {
        medicare_core::form::validate_identifier(key)
            .map_err(|m| Error::invalid("form page key", m))?;
        Ok(format!("{key}.html"))
    }
}

#[async_trait]
impl FormPublisher for S3FormPublisher {
    async fn publish(&self, key: &str, html: &str) -> Result<String> {
        let name = Self::object_name(key)?;
        let url = self.location.url_of(&name);
        let body = html.as_bytes().to_vec();
        s3::put_encrypted(
            &self.client,
            &self.location,
            &name,
            body,
            self.kms_key_id.as_deref(),
        )
        .content_type(CONTENT_TYPE)
        .cache_control(CACHE_CONTROL)
        .send()
        .await
        .map_err(|e| storage_error("S3 PutObject", &url, &e))?;
        Ok(url)
    }

    async fn fetch(&self, key: &str) -> Result<String> {
        let name = Self::object_name(key)?;
        let bytes = s3::get_bytes(&self.client, &self.location, &name, || {
            Error::not_found(format!("form page {key:?}"))
        })
        .await?;
        String::from_utf8(bytes).map_err(|_| {
            Error::invalid(
                format!("form page {}", self.location.url_of(&name)),
                "is not UTF-8 text",
            )
        })
    }
}
