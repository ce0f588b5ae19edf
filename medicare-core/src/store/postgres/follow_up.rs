//! Links, opens and responses (the form service's side), and the follow-up: reminder
//! rounds, non-respondents and tracking figures.

use super::{arguments, PostgresStore};
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::form::{insert_response, Answers, FieldType};
use crate::link::TokenHash;
use crate::sql::Dialect;
use crate::store::rows::{self, count, LINK_QUERY};
use crate::store::{
    FollowUpStore, LinkRecord, NonRespondent, RecipientTracking, ResponseRow, ResponseStore,
    RoundInfo, StoredForm, SubmitOutcome, TrackingCounts,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

#[async_trait]
impl ResponseStore for PostgresStore {
    async fn link(&self, token_hash: &TokenHash) -> Result<Option<LinkRecord>> {
        let sql = format!("{LINK_QUERY} WHERE r.token_hash = $1");
        let row = sqlx::query(&sql)
            .bind(token_hash.0.as_slice())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::link).transpose()
    }

    async fn record_open(&self, recipient_id: i64, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE recipients SET open_count = open_count + 1, \
             first_opened_at = COALESCE(first_opened_at, $1) WHERE id = $2",
        )
        .bind(now)
        .bind(recipient_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn submit_response(
        &self,
        recipient_id: i64,
        form: &StoredForm,
        answers: &Answers,
        now: DateTime<Utc>,
    ) -> Result<SubmitOutcome> {
        let insert = insert_response(
            &form.spec,
            &form.response_table,
            Dialect::Postgres,
            recipient_id,
            now,
            answers,
        )?;
        let mut tx = self.pool.begin().await?;
        // The update locks the recipient's row: a racing submission waits for this
        // transaction, then re-reads the row, finds the link spent and updates nothing.
        // The response table's unique recipient_id is the second line.
        let spent = sqlx::query(
            "UPDATE recipients SET submitted_at = $1 WHERE id = $2 AND submitted_at IS NULL",
        )
        .bind(now)
        .bind(recipient_id)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() == 0 {
            return Ok(SubmitOutcome::AlreadySubmitted);
        }
        sqlx::query_with(&insert.sql, arguments(&insert.params)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SubmitOutcome::Stored)
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
        if round < 1 {
            return Err(Error::invalid("reminder round", "must be 1 or more"));
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO non_respondents (campaign_id, round, recipient_id, patient_id, reason, created_at) \
             SELECT r.campaign_id, $1, r.id, r.patient_id, \
             CASE WHEN r.first_opened_at IS NULL THEN 'not_opened' ELSE 'opened_not_submitted' END, $2 \
             FROM recipients r WHERE r.campaign_id = $3 AND r.submitted_at IS NULL \
             ORDER BY r.id ON CONFLICT DO NOTHING",
        )
        .bind(round)
        .bind(now)
        .bind(campaign.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO deliveries (campaign_id, recipient_id, channel, round, status, reason, segments) \
             SELECT d.campaign_id, d.recipient_id, d.channel, n.round, \
             CASE WHEN d.status = 'suppressed' THEN 'suppressed' ELSE 'pending' END, \
             CASE WHEN d.status = 'suppressed' THEN d.reason END, d.segments \
             FROM non_respondents n JOIN deliveries d \
             ON d.campaign_id = n.campaign_id AND d.recipient_id = n.recipient_id AND d.round = 0 \
             WHERE n.campaign_id = $1 AND n.round = $2 ORDER BY d.id ON CONFLICT DO NOTHING",
        )
        .bind(campaign.0)
        .bind(round)
        .execute(&mut *tx)
        .await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM non_respondents WHERE campaign_id = $1 AND round = $2",
        )
        .bind(campaign.0)
        .bind(round)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(count(n))
    }

    async fn suppress_responded(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'suppressed', reason = 'responded', updated_at = $1 \
             WHERE campaign_id = $2 AND round = $3 AND status = 'pending' AND recipient_id IN \
             (SELECT id FROM recipients WHERE campaign_id = $2 AND submitted_at IS NOT NULL)",
        )
        .bind(now)
        .bind(campaign.0)
        .bind(round)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn rounds(&self, campaign: CampaignId) -> Result<Vec<RoundInfo>> {
        // Every round with deliveries or materialised non-respondents; a reminder round
        // covers its non-respondents (some of whom may have had no delivery at all).
        let rows = sqlx::query(
            "WITH d AS (SELECT round, COUNT(DISTINCT recipient_id) AS recipients, \
                        COUNT(*) FILTER (WHERE status IN ('pending', 'sending')) AS unfinished, \
                        MAX(updated_at) AS last_activity \
                        FROM deliveries WHERE campaign_id = $1 GROUP BY round), \
                  n AS (SELECT round, COUNT(*) AS recipients FROM non_respondents \
                        WHERE campaign_id = $1 GROUP BY round) \
             SELECT COALESCE(d.round, n.round), COALESCE(n.recipients, d.recipients), \
                    COALESCE(d.unfinished, 0), d.last_activity \
             FROM d FULL JOIN n ON n.round = d.round ORDER BY 1",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::round_info).collect()
    }

    async fn round_non_respondents(&self, campaign: CampaignId, round: i32) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT recipient_id FROM non_respondents WHERE campaign_id = $1 AND round = $2 ORDER BY recipient_id",
        )
        .bind(campaign.0)
        .bind(round)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn non_respondents(&self, campaign: CampaignId) -> Result<Vec<NonRespondent>> {
        let rows = sqlx::query(
            "SELECT r.id, r.patient_id, p.external_id, r.open_count, COALESCE(n.reminders, 0) \
             FROM recipients r JOIN patients p ON p.id = r.patient_id \
             LEFT JOIN (SELECT recipient_id, COUNT(*) AS reminders FROM non_respondents \
                        WHERE campaign_id = $1 GROUP BY recipient_id) n ON n.recipient_id = r.id \
             WHERE r.campaign_id = $1 AND r.submitted_at IS NULL ORDER BY r.id",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::non_respondent).collect()
    }

    async fn tracking_counts(&self, campaign: CampaignId) -> Result<TrackingCounts> {
        let r = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM recipients WHERE campaign_id = $1), \
             (SELECT COUNT(*) FROM recipients WHERE campaign_id = $1 AND first_opened_at IS NOT NULL), \
             (SELECT COUNT(*) FROM recipients WHERE campaign_id = $1 AND submitted_at IS NOT NULL), \
             COUNT(DISTINCT recipient_id) FILTER (WHERE status = 'sent'), \
             COUNT(*) FILTER (WHERE status = 'sent'), \
             COUNT(*) FILTER (WHERE status = 'suppressed'), \
             COUNT(*) FILTER (WHERE status = 'failed') \
             FROM deliveries WHERE campaign_id = $1",
        )
        .bind(campaign.0)
        .fetch_one(&self.pool)
        .await?;
        rows::tracking_counts(&r)
    }

    async fn recipient_tracking(&self, recipient_id: i64) -> Result<RecipientTracking> {
        let r = sqlx::query(
            "SELECT first_opened_at, open_count, submitted_at FROM recipients WHERE id = $1",
        )
        .bind(recipient_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| Error::not_found(format!("recipient {recipient_id}")))?;
        rows::recipient_tracking(&r, recipient_id)
    }

    async fn responses_by_day(&self, campaign: CampaignId) -> Result<Vec<(NaiveDate, u64)>> {
        let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
            "SELECT CAST(submitted_at AT TIME ZONE 'UTC' AS DATE) AS day, COUNT(*) FROM recipients \
             WHERE campaign_id = $1 AND submitted_at IS NOT NULL GROUP BY day ORDER BY day",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(day, n)| (day, count(n))).collect())
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
            "SELECT r.id, r.submitted_at{columns} FROM {} t JOIN recipients r ON r.id = t.{} \
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
