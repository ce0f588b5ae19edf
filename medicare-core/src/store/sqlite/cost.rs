//! [`CostStore`] on SQLite: the metered claim takes the write lock first (`BEGIN
//! IMMEDIATE`), so no other sender reads the campaign's spend until it commits.

use super::SqliteStore;
use crate::campaign::CampaignId;
use crate::error::Result;
use crate::notify::Money;
use crate::store::{
    CostStore, DeliveryCost, MeasuredOpens, MeteredBatch, MeteredClaim, RecordedSpend,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl CostStore for SqliteStore {
    async fn claim_metered(
        &self,
        claim: &MeteredClaim,
        now: DateTime<Utc>,
    ) -> Result<MeteredBatch> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
