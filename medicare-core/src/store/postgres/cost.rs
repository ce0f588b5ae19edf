//! [`CostStore`] on PostgreSQL: the metered claim locks the campaign row (`SELECT ... FOR
//! UPDATE`), so concurrent senders take their turns at the campaign's spend.

use super::PostgresStore;
use crate::error::Result;
use crate::store::{CostStore, MeteredBatch, MeteredClaim};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl CostStore for PostgresStore {
    async fn claim_metered(
        &self,
        claim: &MeteredClaim,
        now: DateTime<Utc>,
    ) -> Result<MeteredBatch> {
        let mut tx = self.pool.begin().await?;
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
