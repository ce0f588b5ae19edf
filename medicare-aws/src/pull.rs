//! Pulling the cloud's backups onto the premises (`medicare backup pull`): the cloud side
//! (the backup Lambda, S3) holds only public keys; the on-premises server holds the age
//! identity, so only there can a backup be decrypted and checked.
//!
//! A pull copies, oldest first, every backup the destination folder does not have yet:
//! it checks the manifest's Ed25519 signature, copies the encrypted object (named by its
//! SHA-256, which must be the one the manifest signed), then decrypts every chunk and
//! checks every table's row count and checksum with the private key, reading the copy
//! (and, for an incremental, its full already pulled), and only then writes the manifest.
//! So a manifest in the destination means a complete, verified backup; a pull killed part
//! way leaves at most an object without a manifest, which the next pull checks and
//! completes. Nothing in the destination is ever overwritten; a backup that fails a check
//! is refused, reported, and whatever this pull had copied of it removed; the next backups
//! are still pulled. A second pull copies nothing.
//!
//! The source is any [`BackupSink`]: `s3://bucket/prefix` ([`crate::S3BackupSink`], which
//! opens the KMS envelope when the workspace names the key) or a folder.

use async_trait::async_trait;
use medicare_core::backup::keys::{Identities, TrustedSigners};
use medicare_core::backup::manifest::Manifest;
use medicare_core::backup::sink::{get_bytes, BackupSink, Body, ObjectInfo, StoredObject};
use medicare_core::backup::{Backups, DATA_PREFIX, MANIFEST_PREFIX};
use medicare_core::clock::SystemClock;
use medicare_core::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A backup a pull brought in, verified.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Pulled {
    /// The backup.
    pub id: String,
    /// `full` or `incremental`.
    pub kind: String,
    /// Ciphertext bytes copied by this pull (0: the object was there already, from a pull
    /// that was interrupted).
    pub bytes_copied: u64,
    /// Rows checked.
    pub rows: u64,
}

/// A backup a pull refused, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Refused {
    /// The manifest's key in the source.
    pub manifest: String,
    /// What failed.
    pub reason: String,
}

/// What a pull did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PullReport {
    /// Backups copied and verified, oldest first.
    pub pulled: Vec<Pulled>,
    /// Backups the destination already had.
    pub already_present: usize,
    /// Backups refused (a bad signature, a changed object, a failed decryption).
    pub refused: Vec<Refused>,
    /// Objects in the source no manifest names (a backup being written, or debris).
    pub unreferenced: Vec<String>,
}

/// Pulls every backup `destination` lacks from `source` (see the module docs). Errors
/// are for the pull as a whole (the source cannot be listed, the destination cannot be
/// written); a backup that fails a check is reported in [`PullReport::refused`].
pub async fn pull(
    source: &dyn BackupSink,
    destination: Arc<dyn BackupSink>,
    identities: &Identities,
    trusted: &TrustedSigners,
) -> Result<PullReport> {
    let data = format!("{DATA_PREFIX}/");
    let keys = |infos: Vec<ObjectInfo>| -> BTreeMap<String, u64> {
        infos.into_iter().map(|o| (o.key, o.size)).collect()
    };
    let have_manifests: BTreeSet<String> = destination
        .list(MANIFEST_PREFIX)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut have_objects = keys(destination.list(&data).await?);
    let remote_objects = keys(source.list(&data).await?);
    let mut referenced = BTreeSet::new();
    let mut report = PullReport::default();
    for info in source.list(MANIFEST_PREFIX).await? {
        let refuse = |reason: String| Refused {
            manifest: info.key.clone(),
            reason,
        };
        let text = get_bytes(source, &info.key).await?;
        let manifest =
            match Manifest::verify(&text, trusted, &format!("backup manifest {}", info.key)) {
                Ok(m) if Manifest::key_for(&m.id) == info.key => m,
                Ok(m) => {
                    report
                        .refused
                        .push(refuse(format!("it names backup {}, not its own key", m.id)));
                    continue;
                }
                Err(e) => {
                    report.refused.push(refuse(e.to_string()));
                    continue;
                }
            };
        referenced.insert(manifest.object.key.clone());
        if have_manifests.contains(&info.key) {
            report.already_present += 1;
            continue;
        }
        let object = &manifest.object;
        let mut bytes_copied = 0;
        match have_objects.get(&object.key) {
            Some(&size) if size == object.size => {}
            Some(_) => {
                report.refused.push(refuse(format!(
                    "the destination holds {} with another size: left as it is",
                    object.key
                )));
                continue;
            }
            None if !remote_objects.contains_key(&object.key) => {
                report
                    .refused
                    .push(refuse(format!("its object {} is missing", object.key)));
                continue;
            }
            None => {
                let stored = destination
                    .put_object(DATA_PREFIX, source.get(&object.key).await?)
                    .await?;
                if stored.key != object.key || stored.size != object.size {
                    if !have_objects.contains_key(&stored.key) {
                        destination.delete(&stored.key).await?;
                    }
                    report.refused.push(refuse(format!(
                        "its object {} does not match the signed manifest (SHA-256 {}, {} bytes): it was changed",
                        object.key, stored.sha256, stored.size
                    )));
                    continue;
                }
                bytes_copied = stored.size;
                have_objects.insert(stored.key, stored.size);
            }
        }
        let staged: Arc<dyn BackupSink> = Arc::new(Staged {
            destination: destination.clone(),
            key: info.key.clone(),
            manifest: text.clone(),
        });
        match Backups::new(staged, Arc::new(SystemClock))
            .verify(&manifest.id, identities, trusted)
            .await
        {
            Ok(check) => {
                destination.put(&info.key, text).await?;
                report.pulled.push(Pulled {
                    id: manifest.id.clone(),
                    kind: manifest.kind.as_str().to_string(),
                    bytes_copied,
                    rows: check.rows(),
                });
            }
            Err(e) => {
                if bytes_copied > 0 {
                    destination.delete(&object.key).await?;
                    have_objects.remove(&object.key);
                }
                report.refused.push(refuse(e.to_string()));
            }
        }
    }
    report.unreferenced = remote_objects
        .into_keys()
        .filter(|k| !referenced.contains(k))
        .collect();
    Ok(report)
}

/// The destination as it will be once the manifest is written: the check reads the
/// manifest from memory and everything else from the destination. Read-only.
#[derive(Debug)]
struct Staged {
    destination: Arc<dyn BackupSink>,
    key: String,
    manifest: Vec<u8>,
}

#[async_trait]
impl BackupSink for Staged {
    async fn put_object(&self, prefix: &str, _body: Body) -> Result<StoredObject> {
        Err(Error::invalid(prefix, "a pull's check writes nothing"))
    }

    async fn put(&self, key: &str, _bytes: Vec<u8>) -> Result<()> {
        Err(Error::invalid(key, "a pull's check writes nothing"))
    }

    async fn get(&self, key: &str) -> Result<Body> {
        if key == self.key {
            return Ok(Box::new(std::io::Cursor::new(self.manifest.clone())));
        }
        self.destination.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut found = self.destination.list(prefix).await?;
        if self.key.starts_with(prefix) && !found.iter().any(|o| o.key == self.key) {
            found.push(ObjectInfo {
                key: self.key.clone(),
                size: self.manifest.len() as u64,
            });
            found.sort_by(|a, b| a.key.cmp(&b.key));
        }
        Ok(found)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        Err(Error::invalid(key, "a pull's check deletes nothing"))
    }
}
