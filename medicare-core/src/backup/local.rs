//! The on-premises folder sink: objects are files under one folder.
//!
//! Every write is atomic and durable: a temporary file (`.tmp-*`, in the object's own
//! folder) is written, fsynced, renamed into place, and the folder is fsynced. Streamed
//! objects are named by the SHA-256 of their bytes, computed while they are written. A
//! write that fails or is cancelled deletes its temporary file; one killed outright
//! leaves at most a `.tmp-*` file of ciphertext, which listing ignores.

use super::sink::{check_key, BackupSink, Body, ObjectInfo, StoredObject};
use crate::error::{Error, Result};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Keeps backup objects as files under a folder.
#[derive(Debug, Clone)]
pub struct LocalFolderSink {
    root: PathBuf,
}

impl LocalFolderSink {
    /// A sink rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalFolderSink { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    fn temp_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(|e| Error::io(dir, e))
    }

    fn commit(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        if let Some(dir) = path.parent() {
            if let Ok(d) = std::fs::File::open(dir) {
                // Makes the rename durable; not every platform allows a folder fsync.
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

#[async_trait]
impl BackupSink for LocalFolderSink {
    async fn put_object(&self, prefix: &str, mut body: Body) -> Result<StoredObject> {
        check_key(prefix)?;
        let dir = self.root.join(prefix);
        // Dropped (on error or cancellation), the guard deletes the temporary file.
        let tmp = Self::temp_in(&dir)?;
        let file = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
        let mut file = tokio::fs::File::from_std(file);
        let mut hash = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = body
                .read(&mut buf)
                .await
                .map_err(|e| Error::io(tmp.path(), e))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            size += n as u64;
            file.write_all(&buf[..n])
                .await
                .map_err(|e| Error::io(tmp.path(), e))?;
        }
        file.flush().await.map_err(|e| Error::io(tmp.path(), e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::io(tmp.path(), e))?;
        drop(file);
        let sha256 = hex::encode(hash.finalize());
        let key = format!("{prefix}/{sha256}.age");
        Self::commit(tmp, &self.path(&key)?)?;
        Ok(StoredObject { key, sha256, size })
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.path(key)?;
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut tmp = Self::temp_in(&dir)?;
            tmp.write_all(&bytes)
                .and_then(|()| tmp.as_file().sync_all())
                .map_err(|e| Error::io(tmp.path(), e))?;
            Self::commit(tmp, &path)
        })
        .await
        .map_err(|e| Error::io(&self.root, std::io::Error::other(e)))?
    }

    async fn get(&self, key: &str) -> Result<Body> {
        let path = self.path(key)?;
        match tokio::fs::File::open(&path).await {
            Ok(f) => Ok(Box::new(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::not_found(format!(
                "backup object {key} in {}",
                self.root.display()
            ))),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &root, &mut out)?;
            out.retain(|o| o.key.starts_with(&prefix));
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| Error::io(&self.root, std::io::Error::other(e)))?
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }
}

/// Lists complete objects (skipping `.tmp-*` and other hidden names).
fn walk(root: &Path, dir: &Path, out: &mut Vec<ObjectInfo>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        let meta = entry.metadata().map_err(|e| Error::io(entry.path(), e))?;
        if meta.is_dir() {
            walk(root, &entry.path(), out)?;
        } else if let Ok(rel) = entry.path().strip_prefix(root) {
            out.push(ObjectInfo {
                key: rel.to_string_lossy().replace('\\', "/"),
                size: meta.len(),
            });
        }
    }
    Ok(())
}
