//! Where backups are kept: the [`BackupSink`] seam, and its in-memory implementation.
//!
//! A sink stores opaque, already encrypted objects; it never sees plaintext. Objects are
//! written atomically (a reader sees a whole object or none), so a backup killed part
//! way leaves nothing that [`Backups::list`](super::Backups::list) or [`Backups::restore`](super::Backups::restore) would take for a
//! backup. The on-premises folder sink is [`super::local::LocalFolderSink`]; the S3 sink
//! (SSE-KMS) implements the same trait in medicare-aws.

use crate::error::{Error, Result};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};

/// A stored object, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectInfo {
    /// Its key (`data/<sha256>.age`, `manifests/<id>.manifest`).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// An object stored from a stream, named by its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Its key: `<prefix>/<sha256>.age`.
    pub key: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A body to store: any byte stream.
pub type Body = Box<dyn AsyncRead + Send + Unpin>;

/// Stores, lists, reads and deletes encrypted backup objects.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BackupSink: Send + Sync + std::fmt::Debug {
    /// Stores `body` under `<prefix>/<sha256 of body>.age`, atomically: if reading
    /// `body` fails, nothing is stored.
    async fn put_object(&self, prefix: &str, body: Body) -> Result<StoredObject>;

    /// Stores a small object under `key`, atomically (replacing one with the same key).
    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()>;

    /// Reads the object under `key` ([`Error::NotFound`] if there is none).
    async fn get(&self, key: &str) -> Result<Body>;

    /// Every complete object whose key starts with `prefix`, by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>>;

    /// Deletes the object under `key` (no error if there is none).
    async fn delete(&self, key: &str) -> Result<()>;
}

/// Reads a whole (small) object.
pub async fn get_bytes(sink: &dyn BackupSink, key: &str) -> Result<Vec<u8>> {
    let mut body = sink.get(key).await?;
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::io(key, e))?;
    Ok(bytes)
}

/// Checks a sink key: ASCII letters, digits, `.`, `_`, `-` and `/` separators, no
/// empty or dot-leading parts (so no `..`, no hidden or temporary names).
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("backup object key {key:?}"),
            "must be ASCII letters, digits, '.', '_', '-' in '/'-separated parts, none empty or starting with '.'",
        ))
    }
}

/// Keeps objects in memory; for tests and simulations.
#[derive(Debug, Default)]
pub struct MemorySink {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.objects.lock().expect("memory sink lock")
    }
}

#[async_trait]
impl BackupSink for MemorySink {
    async fn put_object(&self, prefix: &str, mut body: Body) -> Result<StoredObject> {
        use sha2::{Digest, Sha256};
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::io(format!("memory:{prefix}"), e))?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let key = format!("{prefix}/{sha256}.age");
        check_key(&key)?;
        let size = bytes.len() as u64;
        self.objects().insert(key.clone(), bytes);
        Ok(StoredObject { key, sha256, size })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        check_key(key)?;
        self.objects().insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Body> {
        check_key(key)?;
        let bytes = self
            .objects()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("backup object {key}")))?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        Ok(self
            .objects()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| ObjectInfo {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.objects().remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_sink_or_name_temporary_files() {
        for good in ["data/ab12.age", "manifests/20260302T020000Z.manifest"] {
            check_key(good).unwrap();
        }
        for bad in [
            "",
            "../x",
            "data/../x",
            "/abs",
            "data/.tmp-1",
            "a//b",
            "a b",
            "a\\b",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn memory_sink_stores_by_content_and_lists_by_prefix() {
        let sink = MemorySink::new();
        let stored = sink
            .put_object("data", Box::new(std::io::Cursor::new(b"abc".to_vec())))
            .await
            .unwrap();
        assert_eq!(
            stored.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(stored.key, format!("data/{}.age", stored.sha256));
        sink.put("manifests/x.manifest", b"m".to_vec())
            .await
            .unwrap();
        assert_eq!(sink.list("data/").await.unwrap().len(), 1);
        assert_eq!(get_bytes(&sink, &stored.key).await.unwrap(), b"abc");
        sink.delete(&stored.key).await.unwrap();
        assert!(matches!(
            sink.get(&stored.key).await,
            Err(Error::NotFound { .. })
        ));
    }
}
