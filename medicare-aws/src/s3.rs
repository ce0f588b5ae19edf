//! The S3 calls the form publisher and the backup sink share.

use crate::error::storage_error;
use crate::location::S3Location;
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use medicare_core::{Error, Result};

/// A `PutObject` of `body` as `name` under `location`, encrypted by S3 with KMS (under
/// `kms_key_id`, or the AWS-managed key); the caller adds headers and sends it.
pub(crate) fn put_encrypted(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    name: &str,
    body: Vec<u8>,
    kms_key_id: Option<&str>,
) -> PutObjectFluentBuilder {
    client
        .put_object()
        .bucket(location.bucket())
        .key(location.key(name))
        .body(ByteStream::from(body))
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .set_ssekms_key_id(kms_key_id.map(str::to_string))
}

/// The bytes of `name` under `location`; `missing()` when there is no such object.
pub(crate) async fn get_bytes(
    client: &aws_sdk_s3::Client,
    location: &S3Location,
    name: &str,
    missing: impl FnOnce() -> Error,
) -> Result<Vec<u8>> {
    let url = location.url_of(name);
    let object = client
        .get_object()
        .bucket(location.bucket())
        .key(location.key(name))
        .send()
        .await
        .map_err(|e| match e.as_service_error() {
            Some(s) if s.is_no_such_key() => missing(),
            _ => storage_error("S3 GetObject", &url, &e),
        })?;
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| Error::io(&url, std::io::Error::other(e)))?;
    Ok(bytes.to_vec())
}
