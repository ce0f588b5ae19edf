//! [`CostStore`] on SQLite: the metered claim takes the write lock first (`BEGIN
//! IMMEDIATE`), so no other sender reads the campaign's spend until it commits.

use super::SqliteStore;
use crate::error::Result;
use crate::store::{CostStore, MeteredBatch, MeteredClaim};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl CostStore for SqliteStore {
    async fn claim_metered(
        &self,
        claim: &MeteredClaim,
        now: DateTime<Utc>,
    ) -> Result<MeteredBatch> {
        let _turn = self.turn.lock().await;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let batch = self.shared().claim_metered(&mut tx, claim, now).await?;
        tx.commit().await?;
        Ok(batch)
    }

    crate::store::forward::shared_core!(
        set_budget,
        suppress_opened,
        recorded_spend,
        measured_opens
    );
}
