//! Reading the ledger: every entry in order, a filtered listing (`medicare audit log`
//! and the auditor's API), a formula-safe CSV export, whole-ledger verification, and the
//! record that someone read it.

use super::checkpoint::read_checkpoints;
use super::context::AuditContext;
use super::event::{Action, Actor, Detail, LedgerEntry, Target};
use super::store::AuditStore;
use super::verify::{verify, Verification};
use crate::backup::keys::TrustedSigners;
use crate::backup::sink::BackupSink;
use crate::error::Result;
use crate::report::csv_cell;
use chrono::{DateTime, Utc};
use std::fmt::Write as _;

/// Entries read per statement.
const PAGE: u32 = 5_000;

/// Records that `actor` read `entries` entries of the ledger at `at` (what `audit log`
/// and the console's audit page append after a listing).
pub async fn record_read(
    ledger: &dyn AuditStore,
    actor: Actor,
    entries: usize,
    at: DateTime<Utc>,
) -> Result<LedgerEntry> {
    let event = AuditContext::new(actor).event(
        at,
        Action::AuditRead,
        Target::none(),
        Detail::none().count("entries", entries as u64),
    );
    ledger.append_event(&event).await
}

/// Every entry, in seq order, as stored.
pub async fn all_entries(ledger: &dyn AuditStore) -> Result<Vec<LedgerEntry>> {
    let mut out: Vec<LedgerEntry> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = ledger.audit_entries(after, PAGE).await?;
        let done = page.len() < PAGE as usize;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Recomputes the whole chain and checks it against every checkpoint in `sink` signed by
/// a key in `trusted`.
pub async fn verify_ledger(
    ledger: &dyn AuditStore,
    sink: &dyn BackupSink,
    trusted: &TrustedSigners,
) -> Result<Verification> {
    let entries = all_entries(ledger).await?;
    let checkpoints = read_checkpoints(sink, trusted).await?;
    Ok(verify(&entries, &checkpoints))
}

/// Which entries a listing shows; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// At or after this time.
    pub since: Option<DateTime<Utc>>,
    /// By this actor.
    pub actor: Option<Actor>,
    /// This action.
    pub action: Option<Action>,
    /// Naming every `kind:id` of this target.
    pub target: Option<Target>,
}

impl AuditQuery {
    /// True when `entry` is one the query shows.
    pub fn matches(&self, entry: &LedgerEntry) -> bool {
        let target_ok = self.target.as_ref().is_none_or(|want| {
            let have: Target = entry.target.parse().unwrap_or_default();
            want.ids().iter().all(|(k, id)| have.names(*k, id))
        });
        self.since.is_none_or(|t| entry.at >= t)
            && self
                .actor
                .as_ref()
                .is_none_or(|a| entry.actor == a.to_string())
            && self.action.is_none_or(|a| entry.action == a.as_str())
            && target_ok
    }
}

/// The entries `query` selects, in seq order.
pub async fn list(ledger: &dyn AuditStore, query: &AuditQuery) -> Result<Vec<LedgerEntry>> {
    let mut entries = all_entries(ledger).await?;
    entries.retain(|e| query.matches(e));
    Ok(entries)
}

/// `entries` as CSV with a header; every text cell is quoted and defused so a
/// spreadsheet never runs it as a formula. Hashes are hex, so the export is enough to
/// recompute the chain.
pub fn to_csv(entries: &[LedgerEntry]) -> String {
    let mut out =
        String::from("seq,at,actor,action,target,outcome,detail,request_id,prev_hash,hash\n");
    for e in entries {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            e.seq,
            super::chain::encode_time(e.at),
            csv_cell(&e.actor),
            csv_cell(&e.action),
            csv_cell(&e.target),
            csv_cell(&e.outcome),
            csv_cell(&e.detail),
            csv_cell(&e.request_id),
            hex::encode(e.prev_hash),
            hex::encode(e.hash)
        );
    }
    out
}
