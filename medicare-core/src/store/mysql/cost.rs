//! [`CostStore`] on MySQL: the metered claim locks the campaign row (`SELECT ... FOR
//! UPDATE`), so concurrent senders take their turns at the campaign's spend; a claim the
//! server rolls back to break a deadlock runs again whole.

use super::{retry_transient, MySqlStore};
use crate::error::Result;
use crate::store::{CostStore, MeteredBatch, MeteredClaim};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl CostStore for MySqlStore {
    async fn claim_metered(
        &self,
        claim: &MeteredClaim,
        now: DateTime<Utc>,
    ) -> Result<MeteredBatch> {
        retry_transient(|| async {
            let mut tx = self.pool.begin().await?;
            let batch = self.shared().claim_metered(&mut tx, claim, now).await?;
            tx.commit().await?;
            Ok(batch)
        })
        .await
    }

    crate::store::forward::shared_core!(recorded_spend, measured_opens);
    crate::store::forward::shared_core!(retrying: set_budget, suppress_opened);
}
