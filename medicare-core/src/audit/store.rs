//! The ledger's storage seam: append an event, read the head, read entries in order.
//!
//! Every SQL backend implements [`AuditStore`] on the statements in `store::audit_sql`;
//! those statements also append inside the transaction of the action an event records,
//! so the two commit or roll back together.

use super::event::{AuditEvent, LedgerEntry};
use crate::error::Result;
use async_trait::async_trait;

/// Appends to and reads the audit ledger.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditStore: Send + Sync + std::fmt::Debug {
    /// Appends `event` in a transaction of its own (for actions that change nothing in
    /// the database: reads, exports, refusals, backups), after the current head;
    /// concurrent appends take their turn. Returns the entry as stored.
    async fn append_event(&self, event: &AuditEvent) -> Result<LedgerEntry>;

    /// The chain head: the last entry's seq and hash (0 and the genesis hash when empty).
    async fn audit_head(&self) -> Result<(i64, [u8; 32])>;

    /// Up to `limit` entries with `seq > after`, in `seq` order, as stored.
    async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<LedgerEntry>>;
}
