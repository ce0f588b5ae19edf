//! Links, opens and responses (the form service's side), and the follow-up: reminder
//! rounds, non-respondents and tracking figures.

use super::PostgresStore;
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::form::{Answers, FieldType};
use crate::link::TokenHash;
use crate::sql::Dialect;
use crate::store::rows;
use crate::store::{
    FollowUpStore, LinkRecord, NonRespondent, RecipientTracking, ResponseRow, ResponseStore,
    RoundInfo, StoredForm, SubmitOutcome, TrackingCounts,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

#[async_trait]
impl ResponseStore for PostgresStore {
    async fn link(&self, token_hash: &TokenHash) -> Result<Option<LinkRecord>> {
        self.shared().link(token_hash).await
    }

    async fn record_open(&self, recipient_id: i64, now: DateTime<Utc>) -> Result<()> {
        self.shared().record_open(recipient_id, now).await
    }

    async fn submit_response(
        &self,
        recipient_id: i64,
        form: &StoredForm,
        answers: &Answers,
        now: DateTime<Utc>,
    ) -> Result<SubmitOutcome> {
        self.shared()
            .submit_response(recipient_id, form, answers, now)
            .await
    }
}

/// A response column as the text SQLite stores (so reports read the same on both):
/// yes/no as `1`/`0`, decimals without trailing zeros, dates as `YYYY-MM-DD`.
fn column_as_text(column: &str, kind: FieldType) -> String {
    match kind {
        FieldType::YesNo => format!("CASE WHEN {column} THEN '1' ELSE '0' END"),
        FieldType::Decimal => format!("CAST(trim_scale({column}) AS TEXT)"),
        FieldType::Date => format!("to_char({column}, 'YYYY-MM-DD')"),
        _ => format!("CAST({column} AS TEXT)"),
    }
}

#[async_trait]
impl FollowUpStore for PostgresStore {
    async fn plan_reminder_round(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.shared()
            .plan_reminder_round(campaign, round, now)
            .await
    }

    async fn suppress_responded(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.shared().suppress_responded(campaign, round, now).await
    }

    async fn rounds(&self, campaign: CampaignId) -> Result<Vec<RoundInfo>> {
        self.shared().rounds(campaign).await
    }

    async fn round_non_respondents(&self, campaign: CampaignId, round: i32) -> Result<Vec<i64>> {
        self.shared().round_non_respondents(campaign, round).await
    }

    async fn non_respondents(&self, campaign: CampaignId) -> Result<Vec<NonRespondent>> {
        self.shared().non_respondents(campaign).await
    }

    async fn tracking_counts(&self, campaign: CampaignId) -> Result<TrackingCounts> {
        self.shared().tracking_counts(campaign).await
    }

    async fn recipient_tracking(&self, recipient_id: i64) -> Result<RecipientTracking> {
        self.shared().recipient_tracking(recipient_id).await
    }

    async fn responses_by_day(&self, campaign: CampaignId) -> Result<Vec<(NaiveDate, u64)>> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT CAST(submitted_at AT TIME ZONE 'UTC' AS DATE) AS day, COUNT(*) FROM recipients \
             WHERE campaign_id = $1 AND submitted_at IS NOT NULL GROUP BY day ORDER BY day",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(day, n)| (day, u64::try_from(n).unwrap_or_default()))
            .collect())
    }

    async fn responses(
        &self,
        campaign: CampaignId,
        form: &StoredForm,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ResponseRow>> {
        form.spec.validate()?;
        crate::form::validate_table_name(&form.response_table)
            .map_err(|m| Error::invalid("response table", m))?;
        let q = |name: &str| Dialect::Postgres.quote_ident(name);
        let columns: String = form
            .spec
            .fields
            .iter()
            .map(|f| format!(", {}", column_as_text(&format!("t.{}", q(&f.name)), f.kind)))
            .collect();
        let sql = format!(
            "SELECT r.id, r.submitted_at, r.patient_id{columns} FROM {} t JOIN recipients r ON r.id = t.{} \
             WHERE r.campaign_id = $1 AND r.submitted_at >= $2 AND r.submitted_at < $3 \
             ORDER BY r.submitted_at, r.id",
            q(&form.response_table),
            q("recipient_id"),
        );
        let rows = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| rows::response_row(r, form.spec.fields.len()))
            .collect()
    }
}
