//! The manifest: what one backup holds, signed with Ed25519.
//!
//! A manifest names the encrypted object by its SHA-256 and size, lists every table with
//! its row count and checksum, and records the recipients' fingerprints, so a backup can
//! be checked before anything is decrypted. It holds no personal data (ids, counts and
//! hashes only) and is stored in clear beside the object as the signed text:
//!
//! ```text
//! {"format_version":1,"id":"20261121T020000Z",...}
//! ed25519 <signer public key, hex> <signature, base64>
//! ```

use super::keys::{ManifestSigner, TrustedSigners};
use crate::error::{Error, Result};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A full backup holds every table; an incremental holds the tables that changed since
/// its parent full, and takes the others from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupKind {
    /// Every table.
    Full,
    /// The tables changed since the parent full.
    Incremental,
}

impl BackupKind {
    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Full => "full",
            BackupKind::Incremental => "incremental",
        }
    }
}

/// One table in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableEntry {
    /// The table.
    pub name: String,
    /// Its rows.
    pub rows: u64,
    /// Its checksum ([`super::format::TableDigest`]), hex.
    pub sha256: String,
    /// True when the rows are in this backup's object; false when an incremental takes
    /// the table unchanged from its parent.
    pub stored: bool,
}

/// The encrypted object a backup's tables are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Its key in the sink (`data/<sha256>.age`).
    pub key: String,
    /// SHA-256 of the ciphertext, hex.
    pub sha256: String,
    /// Size of the ciphertext in bytes.
    pub size: u64,
}

/// What one backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest and stream format version.
    pub format_version: u32,
    /// The backup's id: its UTC time, `YYYYMMDDTHHMMSSZ` (sorts by time).
    pub id: String,
    /// When it was taken.
    pub created_at: DateTime<Utc>,
    /// Full or incremental.
    pub kind: BackupKind,
    /// The full an incremental builds on.
    pub parent: Option<String>,
    /// Every table, in restore order.
    pub tables: Vec<TableEntry>,
    /// The encrypted object.
    pub object: ObjectRef,
    /// Fingerprints of the age recipients it is encrypted to.
    pub recipients: Vec<String>,
}

impl Manifest {
    /// The sink key of the manifest of backup `id`.
    pub fn key_for(id: &str) -> String {
        format!("manifests/{id}.manifest")
    }

    /// Total rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }

    /// The signed text stored in the sink.
    pub fn sign(&self, signer: &ManifestSigner) -> Result<Vec<u8>> {
        let body = serde_json::to_string(self)
            .map_err(|e| Error::invalid("backup manifest", e.to_string()))?;
        let signature = signer.sign(body.as_bytes());
        Ok(format!(
            "{body}\ned25519 {} {}\n",
            signer.public_hex(),
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
        )
        .into_bytes())
    }

    /// Parses a signed manifest, refusing it unless it is signed by a trusted signer.
    /// `what` names it in errors.
    pub fn verify(text: &[u8], trusted: &TrustedSigners, what: &str) -> Result<Manifest> {
        let bad = |m: &str| Error::invalid(what.to_string(), m.to_string());
        let text = std::str::from_utf8(text).map_err(|_| bad("is not text"))?;
        let (body, sig_line) = text
            .trim_end_matches('\n')
            .rsplit_once('\n')
            .ok_or_else(|| bad("is not signed (no signature line): refused"))?;
        let mut parts = sig_line.split(' ');
        let (Some("ed25519"), Some(signer), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("is not signed (no ed25519 signature line): refused"));
        };
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .ok()
            .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
            .ok_or_else(|| bad("has a malformed signature: refused"))?;
        if !trusted.verify(signer, body.as_bytes(), &sig) {
            return Err(bad(&format!(
                "is not signed by a trusted signer (signer {signer} is unknown, or the manifest was changed): refused"
            )));
        }
        let manifest: Manifest =
            serde_json::from_str(body).map_err(|e| bad(&format!("does not parse: {e}")))?;
        if manifest.format_version != super::format::FORMAT_VERSION {
            return Err(bad(&format!(
                "has format version {}, this build reads {}",
                manifest.format_version,
                super::format::FORMAT_VERSION
            )));
        }
        Ok(manifest)
    }
}
