//! Backups in S3: SSE-KMS, and a KMS envelope around each object when a key is given.
//!
//! ## Why objects are buffered
//!
//! [`BackupSink::put_object`] names an object by the SHA-256 of its bytes, which is known
//! only once the whole stream has been read, and S3 cannot rename an object. Streaming
//! would mean a multipart upload to a temporary key, then a server-side copy to the final
//! key (limited to 5 GiB) and a delete: three more requests and a temporary object that
//! a crash could leave behind. Backups are zstd-compressed before they are encrypted
//! (a database of ~112,500 patients with a campaign is a few megabytes), so this sink
//! reads the body into memory instead, hashes it, seals it in one KMS envelope (one
//! AES-GCM tag over the whole object, so [`BackupSink::get`] authenticates it before
//! returning a byte) and stores it with one atomic `PutObject`. The cost is memory of
//! about twice the backup's size; bodies over [`S3BackupSink::MAX_OBJECT_BYTES`] are
//! refused with a clear error and nothing stored.
//!
//! With a KMS key the stored object is `envelope(age ciphertext)` and its `x-amz-meta-
//! medicare-size` metadata holds the size of what [`BackupSink::get`] returns; `list`
//! reads that metadata (one `HeadObject` per listed object, a few dozen for a 35-day
//! retention) so the sizes it reports match the manifests.

use crate::connect::s3_client;
use crate::error::storage_error;
use crate::kms::KmsEnvelope;
use crate::location::S3Location;
use crate::s3;
use async_trait::async_trait;
use aws_config::SdkConfig;
use futures::{StreamExt, TryStreamExt};
use medicare_core::backup::sink::{check_key, BackupSink, Body, ObjectInfo, StoredObject};
use medicare_core::{Error, Result};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

/// The metadata entry holding the size of the object as `get` returns it.
const SIZE_METADATA: &str = "medicare-size";
/// `HeadObject` calls in flight while listing an enveloped sink.
const HEAD_CONCURRENCY: usize = 16;

/// Keeps backup objects under `s3://bucket/prefix/`, written with SSE-KMS and, when a
/// KMS key is given, each sealed in a [`KmsEnvelope`] (see the module docs).
#[derive(Debug, Clone)]
pub struct S3BackupSink {
    client: aws_sdk_s3::Client,
    location: S3Location,
    kms_key_id: Option<String>,
    envelope: Option<KmsEnvelope>,
    list_page_size: Option<i32>,
}

impl S3BackupSink {
    /// The largest object stored (S3's limit for one `PutObject`).
    pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

    /// A sink under `location`. With `kms_key_id` (a key id, ARN or alias) objects are
    /// encrypted by S3 under that key and sealed in a KMS envelope under it; without, S3
    /// encrypts them under the account's AWS-managed key.
    pub fn new(config: &SdkConfig, location: S3Location, kms_key_id: Option<String>) -> Self {
        let envelope = kms_key_id
            .as_ref()
            .map(|key| KmsEnvelope::new(config, key.clone()));
        S3BackupSink {
            client: s3_client(config),
            location,
            kms_key_id,
            envelope,
            list_page_size: None,
        }
    }

    /// Lists at most `n` keys per `ListObjectsV2` page (S3's default is 1,000).
    pub fn with_list_page_size(mut self, n: i32) -> Self {
        self.list_page_size = Some(n.max(1));
        self
    }

    /// Where objects go.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    async fn store(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let url = self.location.url_of(key);
        let size = bytes.len();
        let body = match &self.envelope {
            Some(envelope) => envelope.seal(&bytes).await?,
            None => bytes,
        };
        s3::put_encrypted(
            &self.client,
            &self.location,
            key,
            body,
            self.kms_key_id.as_deref(),
        )
        .content_type("application/octet-stream")
        .metadata(SIZE_METADATA, size.to_string())
        .send()
        .await
        .map_err(|e| storage_error("S3 PutObject", &url, &e))?;
        Ok(())
    }

    /// The size `get` returns for an enveloped object (from its metadata).
    async fn logical_size(&self, key: &str) -> Result<u64> {
        let url = self.location.url_of(key);
        let head = self
            .client
            .head_object()
            .bucket(self.location.bucket())
            .key(self.location.key(key))
            .send()
            .await
            .map_err(|e| storage_error("S3 HeadObject", &url, &e))?;
        head.metadata()
            .and_then(|m| m.get(SIZE_METADATA))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Error::invalid(
                    format!("backup object {url}"),
                    format!("has no {SIZE_METADATA} metadata: it was not stored by this sink"),
                )
            })
    }
}

#[async_trait]
impl BackupSink for S3BackupSink {
    async fn put_object(&self, prefix: &str, body: Body) -> Result<StoredObject> {
        check_key(prefix)?;
        let mut bytes = Vec::new();
        body.take(Self::MAX_OBJECT_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::io(self.location.url_of(prefix), e))?;
        if bytes.len() as u64 > Self::MAX_OBJECT_BYTES {
            return Err(Error::invalid(
                format!("backup object under {}", self.location.url_of(prefix)),
                format!(
                    "is over {} bytes, the most one S3 PutObject takes; nothing was stored",
                    Self::MAX_OBJECT_BYTES
                ),
            ));
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key = format!("{prefix}/{sha256}.age");
        check_key(&key)?;
        let size = bytes.len() as u64;
        self.store(&key, bytes).await?;
        Ok(StoredObject { key, sha256, size })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        check_key(key)?;
        self.store(key, bytes).await
    }

    async fn get(&self, key: &str) -> Result<Body> {
        check_key(key)?;
        let url = self.location.url_of(key);
        let stored = s3::get_bytes(&self.client, &self.location, key, || {
            Error::not_found(format!("backup object {key} in {}", self.location))
        })
        .await?;
        let bytes = match &self.envelope {
            Some(envelope) => {
                let mut opened = envelope.open(&stored).await.map_err(|e| match e {
                    Error::InvalidInput { message, .. } => {
                        Error::invalid(format!("backup object {url}"), message)
                    }
                    other => other,
                })?;
                // Age ciphertext, not a secret: moved out rather than copied.
                std::mem::take(&mut *opened)
            }
            None => stored,
        };
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(self.location.bucket())
                .prefix(self.location.key(prefix))
                .set_max_keys(self.list_page_size)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| storage_error("S3 ListObjectsV2", self.location.to_string(), &e))?;
            for object in page.contents() {
                let Some(key) = object.key().and_then(|k| self.location.relative(k)) else {
                    continue;
                };
                // Only names this sink could have written (no temporary or foreign keys).
                if key.starts_with(prefix) && check_key(key).is_ok() {
                    let size = object.size().unwrap_or(0).max(0) as u64;
                    found.push(ObjectInfo {
                        key: key.to_string(),
                        size,
                    });
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        if self.envelope.is_some() {
            found = futures::stream::iter(found)
                .map(|info| async move {
                    let size = self.logical_size(&info.key).await?;
                    Ok::<_, Error>(ObjectInfo { size, ..info })
                })
                .buffered(HEAD_CONCURRENCY)
                .try_collect()
                .await?;
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let url = self.location.url_of(key);
        self.client
            .delete_object()
            .bucket(self.location.bucket())
            .key(self.location.key(key))
            .send()
            .await
            .map_err(|e| storage_error("S3 DeleteObject", &url, &e))?;
        Ok(())
    }
}
