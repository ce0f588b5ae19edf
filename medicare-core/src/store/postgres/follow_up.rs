//! Links, opens and responses (the form service's side), and the follow-up: reminder
//! rounds, non-respondents and tracking figures.

use super::PostgresStore;
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::form::FieldType;
use crate::sql::Dialect;
use crate::store::rows;
use crate::store::{FollowUpStore, ResponseRow, ResponseStore, StoredForm};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

#[async_trait]
impl ResponseStore for PostgresStore {
    crate::store::forward::shared_core!(link, record_opens, submit_responses);
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

    crate::store::forward::shared_core!(
        plan_reminder_round,
        suppress_responded,
        rounds,
        round_non_respondents,
        non_respondents,
        tracking_counts,
        recipient_tracking
    );
}
