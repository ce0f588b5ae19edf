//! The audit ledger: who did what to patient data, tamper-evident.
//!
//! Every action on patient data, and every refusal, is one [`AuditEvent`]: its actor,
//! its action, the ids it touched (never a name, phone, email or answer), its outcome.
//! Events are appended to the `audit_events` table in the same database transaction as
//! the action they record, each chained on the one before by SHA-256 ([`chain`]
//! documents the encoding, so an auditor can recompute it with other tools). The table
//! is append-only on every backend (triggers refuse UPDATE and DELETE; the migrations
//! document a grant set for PostgreSQL and MySQL in which the application can only
//! INSERT and SELECT it).
//!
//! The chain alone shows an edit, a deletion, an insertion or a reordering; it cannot
//! show its own tail being dropped, nor a chain rewritten from some point by whoever
//! controls the database. [`checkpoint`]s anchor it outside: the head, signed with a key
//! kept with the backup keys, written to the backup sink by `medicare audit checkpoint`
//! and by every backup run. [`verify`] checks both and names the first bad `seq`.
//!
//! Refusals are recorded with [`record_denial`], which the server's permission guard
//! calls; actions that change nothing in the database (reads, exports, reports,
//! previews of identifiable data, backups) with [`record`], in a transaction of their
//! own, before their result is handed over.

pub mod chain;
pub mod checkpoint;
mod context;
mod event;
mod read;
mod store;
pub mod verify;

pub use checkpoint::{read_checkpoints, write_checkpoint, Checkpoint, StoredCheckpoint};
pub use context::{current, scope, AuditContext};
pub use event::{
    Action, Actor, AuditEvent, Detail, LedgerEntry, Outcome, RequestId, Target, TargetKind,
};
pub use read::{all_entries, list, record_read, to_csv, verify_ledger, AuditQuery};
pub use store::AuditStore;
#[cfg(any(test, feature = "mocks"))]
pub use store::MockAuditStore;
pub use verify::{Problem, ProblemKind, Verification};

use crate::access::Permission;
use crate::error::Result;
use chrono::{DateTime, Utc};

/// Records a refusal: the acting party of `context` asked for `action` on `target`
/// and lacked `permission` (none: the refusal came before any permission was checked,
/// e.g. no session), for `reason` (a fixed word). The one call the server's permission
/// guard (and any other gate) makes for every denied request.
pub async fn record_denial(
    ledger: &dyn AuditStore,
    context: &AuditContext,
    at: DateTime<Utc>,
    action: Action,
    target: Target,
    permission: Option<Permission>,
    reason: &'static str,
) -> Result<LedgerEntry> {
    let event = AuditEvent::denied(
        at,
        context.actor.clone(),
        action,
        target,
        permission,
        reason,
    )
    .with_request(context.request_id.clone());
    ledger.append_event(&event).await
}

/// Appends, in a transaction of its own, `action` on `target` with `detail` by the
/// acting party of the current task ([`current`]), now. For actions that write nothing
/// to the database (reads, exports, reports, backups): call it before handing the result
/// over, so nothing is read unrecorded.
pub async fn record(
    ledger: &dyn AuditStore,
    action: Action,
    target: Target,
    detail: Detail,
) -> Result<LedgerEntry> {
    let event = current().event(Utc::now(), action, target, detail);
    ledger.append_event(&event).await
}

/// [`record`] with an outcome: a backup run that failed is recorded as `failed`.
pub async fn record_outcome(
    ledger: &dyn AuditStore,
    action: Action,
    target: Target,
    detail: Detail,
    outcome: Outcome,
) -> Result<LedgerEntry> {
    let event = current()
        .event(Utc::now(), action, target, detail)
        .with_outcome(outcome);
    ledger.append_event(&event).await
}
