//! Links, responses, reminder rounds and tracking figures on MySQL.

use super::campaigns::every_channel;
use super::{retry_transient, MySqlStore};
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::form::{Decimal, FieldType};
use crate::sql::Dialect;
use crate::store::{FollowUpStore, ResponseRow, ResponseStore, StoredForm};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use std::str::FromStr;

#[async_trait]
impl ResponseStore for MySqlStore {
    crate::store::forward::shared_core!(link);
    crate::store::forward::shared_core!(retrying: record_opens, submit_responses);
}

/// A response value read as text, the way every backend reports it: decimals in their
/// normalised form (MySQL pads the fraction with zeros to the column's scale).
fn response_text(kind: FieldType, value: Option<String>) -> Option<String> {
    match (kind, value) {
        (FieldType::Decimal, Some(v)) => {
            Some(Decimal::from_str(&v).map(|d| d.to_string()).unwrap_or(v))
        }
        (_, value) => value,
    }
}

#[async_trait]
impl FollowUpStore for MySqlStore {
    async fn plan_reminder_round(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let shared = self.shared();
        retry_transient(|| shared.plan_reminder_round(campaign, round, now)).await
    }

    async fn suppress_responded(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let sql = format!(
            "UPDATE deliveries d JOIN recipients r ON r.id = d.recipient_id \
             SET d.status = 'suppressed', d.reason = 'responded', d.updated_at = ? \
             WHERE d.campaign_id = ? AND d.round = ? AND d.{} AND d.status = 'pending' \
             AND r.submitted_at IS NOT NULL",
            every_channel()
        );
        retry_transient(|| async {
            let done = sqlx::query(&sql)
                .bind(now)
                .bind(campaign.0)
                .bind(round)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    async fn responses_by_day(&self, campaign: CampaignId) -> Result<Vec<(NaiveDate, u64)>> {
        // Times are stored in UTC, so DATE() is the UTC day.
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT DATE(submitted_at) AS day, COUNT(*) FROM recipients \
             WHERE campaign_id = ? AND submitted_at IS NOT NULL GROUP BY day ORDER BY day",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(d, n)| (d, n as u64)).collect())
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
        let q = |name: &str| Dialect::Mysql.quote_ident(name);
        let columns: Vec<String> = form
            .spec
            .fields
            .iter()
            .map(|f| format!(", CAST(t.{} AS CHAR)", q(&f.name)))
            .collect();
        let sql = format!(
            "SELECT r.id, r.submitted_at, r.patient_id{} FROM {} t JOIN recipients r ON r.id = t.{} \
             WHERE r.campaign_id = ? AND r.submitted_at >= ? AND r.submitted_at < ? \
             ORDER BY r.submitted_at, r.id",
            columns.concat(),
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
            .map(|r| {
                let values = form
                    .spec
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| Ok(response_text(f.kind, r.try_get(i + 3)?)))
                    .collect::<Result<_>>()?;
                Ok(ResponseRow {
                    recipient_id: r.try_get(0)?,
                    submitted_at: r.try_get(1)?,
                    patient_id: crate::patient::PatientId(r.try_get(2)?),
                    values,
                })
            })
            .collect()
    }

    crate::store::forward::shared_core!(
        rounds,
        round_non_respondents,
        non_respondents,
        tracking_counts,
        recipient_tracking
    );
}
