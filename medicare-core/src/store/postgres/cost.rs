//! [`CostStore`] on PostgreSQL: the metered claim locks the campaign row (`SELECT ... FOR
//! UPDATE`), so concurrent senders take their turns at the campaign's spend.

use super::PostgresStore;
use crate::campaign::CampaignId;
use crate::error::Result;
use crate::notify::Money;
use crate::store::{
    CostStore, DeliveryCost, MeasuredOpens, MeteredBatch, MeteredClaim, RecordedSpend,
};
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

    async fn record_costs(&self, costs: &[DeliveryCost]) -> Result<()> {
        self.shared().record_costs(costs).await
    }

    async fn set_budget(&self, campaign: CampaignId, budget: Option<Money>) -> Result<()> {
        self.shared().set_budget(campaign, budget).await
    }

    async fn suppress_opened(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.shared().suppress_opened(campaign, round, now).await
    }

    async fn recorded_spend(&self, campaign: CampaignId) -> Result<Vec<RecordedSpend>> {
        self.shared().recorded_spend(campaign).await
    }

    async fn measured_opens(&self, except: CampaignId) -> Result<MeasuredOpens> {
        self.shared().measured_opens(except).await
    }
}
