//! Signed checkpoints of the ledger, kept off the database.
//!
//! A checkpoint is the chain head (`seq`, `hash`) at a time, signed with an Ed25519 key
//! kept with the backup keys (`keys/audit-signing.key`, its public half added to
//! `keys/audit-signers.pub`), and written to the backup sink under
//! `audit/checkpoints/`: on premises in the backup folder, in AWS in the backup bucket
//! (under Object Lock). Whoever controls the database but not the sink and the key cannot
//! rewrite or shorten the ledger before a checkpoint unnoticed.
//!
//! The signed message is UTF-8 text, four lines each ending with `\n`:
//! `medicare-audit-checkpoint-v1`, `seq=<seq>`, `hash=<hex>`, `at=<time as the chain
//! encodes it>`. The stored object is JSON with those fields plus `signer` (the public
//! key, hex) and `signature` (hex).

use super::chain::encode_time;
use super::event::{Action, Actor, AuditEvent, Detail, Target};
use super::store::AuditStore;
use crate::backup::keys::{ManifestSigner, TrustedSigners};
use crate::backup::sink::{get_bytes, BackupSink};
use crate::error::{Error, Result};
use chrono::{DateTime, SubsecRound, Utc};
use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};

/// Where checkpoints are kept in the backup sink.
pub const CHECKPOINT_PREFIX: &str = "audit/checkpoints/";

/// A signed chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last entry's seq (0: the ledger was empty).
    pub seq: i64,
    /// Its hash, hex (the genesis hash when empty).
    pub hash: String,
    /// When the checkpoint was taken.
    pub at: DateTime<Utc>,
    /// The signer's public key, hex.
    pub signer: String,
    /// The Ed25519 signature over [`Checkpoint::message`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// Signs the head (`seq`, `hash`) at `at`.
    pub fn sign(seq: i64, hash: &[u8; 32], at: DateTime<Utc>, signer: &ManifestSigner) -> Self {
        let at = at.trunc_subsecs(6);
        let hash = hex::encode(hash);
        let signature = signer.sign(message(seq, &hash, at).as_bytes());
        Checkpoint {
            seq,
            hash,
            at,
            signer: signer.public_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }

    /// The signed message.
    pub fn message(&self) -> String {
        message(self.seq, &self.hash, self.at)
    }

    /// True when a trusted signer signed it.
    pub fn is_signed_by(&self, trusted: &TrustedSigners) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        trusted.verify(
            &self.signer,
            self.message().as_bytes(),
            &Signature::from_bytes(&bytes),
        )
    }

    /// Its key in the sink: by seq, then time, so a listing is in chain order.
    pub fn key(&self) -> String {
        format!(
            "{CHECKPOINT_PREFIX}{:020}-{}.json",
            self.seq,
            self.at.format("%Y%m%dT%H%M%S%6fZ")
        )
    }
}

fn message(seq: i64, hash: &str, at: DateTime<Utc>) -> String {
    format!(
        "medicare-audit-checkpoint-v1\nseq={seq}\nhash={hash}\nat={}\n",
        encode_time(at)
    )
}

/// Signs the ledger's current head, writes it to `sink`, and records that it did
/// (an `audit_checkpoint` event by `actor`, after the head it signed).
pub async fn write_checkpoint(
    ledger: &dyn AuditStore,
    sink: &dyn BackupSink,
    signer: &ManifestSigner,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Checkpoint> {
    let (seq, hash) = ledger.audit_head().await?;
    let checkpoint = Checkpoint::sign(seq, &hash, now, signer);
    let json = serde_json::to_vec_pretty(&checkpoint)
        .map_err(|e| Error::invalid("audit checkpoint", e.to_string()))?;
    sink.put(&checkpoint.key(), json).await?;
    let seq_detail = u64::try_from(seq).unwrap_or_default();
    ledger
        .append_event(
            &AuditEvent::new(now, actor, Action::AuditCheckpoint, Target::none())
                .with_detail(Detail::none().count("seq", seq_detail)),
        )
        .await?;
    Ok(checkpoint)
}

/// A checkpoint as read back from the sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCheckpoint {
    /// Its key in the sink.
    pub key: String,
    /// The checkpoint, if it parsed.
    pub checkpoint: Option<Checkpoint>,
    /// True when it parsed and a trusted signer signed it.
    pub trusted: bool,
}

/// Every checkpoint in `sink`, in key (chain) order, each checked against `trusted`.
pub async fn read_checkpoints(
    sink: &dyn BackupSink,
    trusted: &TrustedSigners,
) -> Result<Vec<StoredCheckpoint>> {
    let mut out = Vec::new();
    for info in sink.list(CHECKPOINT_PREFIX).await? {
        let bytes = get_bytes(sink, &info.key).await?;
        let checkpoint = serde_json::from_slice::<Checkpoint>(&bytes).ok();
        let trusted = checkpoint.as_ref().is_some_and(|c| c.is_signed_by(trusted));
        out.push(StoredCheckpoint {
            key: info.key,
            checkpoint,
            trusted,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_checkpoint_verifies_only_unchanged_and_by_a_trusted_key() {
        let signer = ManifestSigner::generate();
        let trusted = TrustedSigners::default().with(&signer);
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let c = Checkpoint::sign(5, &[7; 32], at, &signer);
        assert!(c.is_signed_by(&trusted));
        assert_eq!(
            c.key(),
            "audit/checkpoints/00000000000000000005-20261130T120000000000Z.json"
        );
        crate::backup::sink::check_key(&c.key()).unwrap();
        let shorter = Checkpoint {
            seq: 4,
            ..c.clone()
        };
        assert!(!shorter.is_signed_by(&trusted));
        let stranger = ManifestSigner::generate();
        assert!(!c.is_signed_by(&TrustedSigners::default().with(&stranger)));
        assert!(!Checkpoint::sign(5, &[7; 32], at, &stranger).is_signed_by(&trusted));
    }
}
