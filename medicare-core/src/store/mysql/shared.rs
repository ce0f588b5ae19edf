//! The statements every SQL backend runs alike.
//!
//! Most of a store is the same SQL on every engine, bar the placeholders: looking up a
//! form or a campaign, spending a link, counting what a campaign did. [`Shared`] writes
//! those statements for a backend's [`Dialect`], runs them on its pool and decodes the
//! rows with [`super::rows`]; a backend's trait methods delegate to it and keep to
//! themselves only what really differs (bulk writes, the claim, engine-specific reads).

use super::rows::{self, Affected, ReadRow};
use crate::campaign::{Campaign, CampaignId, CampaignState, DeliveryCount, FormId};
use crate::error::{Error, Result};
use crate::filter::AnyFilter;
use crate::form::{insert_response, Answers};
use crate::link::TokenHash;
use crate::sql::Dialect;
use crate::store::{
    LinkRecord, NonRespondent, RecipientTracking, RoundInfo, StoredForm, SubmitOutcome,
    TrackingCounts,
};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

/// A backend's pool and dialect, running the shared statements.
pub(crate) struct Shared<'p, DB: Database> {
    /// The backend's pool.
    pub pool: &'p Pool<DB>,
    /// The backend's SQL dialect.
    pub dialect: Dialect,
}

/// Which forms a lookup selects.
#[derive(Debug, Clone, Copy)]
enum FormKey<'a> {
    All,
    Id(FormId),
    Name(&'a str),
}

/// `SUM(expr)` as a 64-bit integer (MySQL sums integers as DECIMAL).
pub(crate) fn int_sum(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("CAST(SUM({expr}) AS SIGNED)"),
        Dialect::Sqlite | Dialect::Postgres => format!("SUM({expr})"),
    }
}

impl<DB> Shared<'_, DB>
where
    DB: Database,
    DB::Row: ReadRow,
    DB::QueryResult: Affected,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> NaiveDate: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    /// The `n`th placeholder (from 1).
    fn p(&self, n: usize) -> String {
        self.dialect.placeholder(n)
    }

    /// How many stored patients match `filter` on `today`.
    pub async fn count_patients(&self, filter: &AnyFilter, today: NaiveDate) -> Result<u64> {
        let predicate = filter.to_sql(self.dialect, today);
        let sql = format!("SELECT COUNT(*) FROM patients p WHERE {}", predicate.sql);
        let mut args = <DB as Database>::Arguments::default();
        rows::bind_values::<DB>(&mut args, &predicate.params)?;
        let row = sqlx::query_with(&sql, args).fetch_one(self.pool).await?;
        Ok(u64::try_from(row.int(0)?).unwrap_or_default())
    }

    /// The forms `key` selects, by id.
    async fn forms_where(&self, key: FormKey<'_>) -> Result<Vec<StoredForm>> {
        let condition = match key {
            FormKey::All => String::new(),
            FormKey::Id(_) => format!(" WHERE id = {}", self.p(1)),
            FormKey::Name(_) => format!(" WHERE name = {}", self.p(1)),
        };
        let sql = format!(
            "SELECT {} FROM forms{condition} ORDER BY id",
            rows::FORM_COLUMNS
        );
        let query = sqlx::query(&sql);
        let query = match key {
            FormKey::All => query,
            FormKey::Id(id) => query.bind(id.0),
            FormKey::Name(name) => query.bind(name),
        };
        let found = query.fetch_all(self.pool).await?;
        found.iter().map(rows::form).collect()
    }

    /// A form by id.
    pub async fn form(&self, id: FormId) -> Result<StoredForm> {
        self.forms_where(FormKey::Id(id))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(format!("form {id}")))
    }

    /// A form by name.
    pub async fn form_by_name(&self, name: &str) -> Result<StoredForm> {
        self.forms_where(FormKey::Name(name))
            .await?
            .pop()
            .ok_or_else(|| {
                Error::not_found(format!(
                    "form {:?}",
                    name.chars().take(64).collect::<String>()
                ))
            })
    }

    /// Every form, by id.
    pub async fn forms(&self) -> Result<Vec<StoredForm>> {
        self.forms_where(FormKey::All).await
    }

    /// Campaigns with this id (all without one), by id.
    async fn campaigns_where(&self, id: Option<CampaignId>) -> Result<Vec<Campaign>> {
        let condition = id
            .map(|_| format!(" WHERE id = {}", self.p(1)))
            .unwrap_or_default();
        let sql = format!(
            "SELECT {} FROM campaigns{condition} ORDER BY id",
            rows::CAMPAIGN_COLUMNS
        );
        let mut query = sqlx::query(&sql);
        if let Some(id) = id {
            query = query.bind(id.0);
        }
        let found = query.fetch_all(self.pool).await?;
        found.iter().map(rows::campaign).collect()
    }

    /// A campaign by id.
    pub async fn campaign(&self, id: CampaignId) -> Result<Campaign> {
        self.campaigns_where(Some(id))
            .await?
            .pop()
            .ok_or_else(|| Error::not_found(format!("campaign {id}")))
    }

    /// Every campaign, by id.
    pub async fn campaigns(&self) -> Result<Vec<Campaign>> {
        self.campaigns_where(None).await
    }

    /// Moves a campaign from one of `from` to `to`; a conflict if it is in another state.
    /// (Rows *matched* count as moved: the MySQL driver asks for them.)
    pub async fn set_campaign_state(
        &self,
        id: CampaignId,
        from: &[CampaignState],
        to: CampaignState,
    ) -> Result<()> {
        let states: Vec<String> = (3..3 + from.len()).map(|n| self.p(n)).collect();
        let sql = format!(
            "UPDATE campaigns SET state = {} WHERE id = {} AND state IN ({})",
            self.p(1),
            self.p(2),
            states.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(to.as_str()).bind(id.0);
        for s in from {
            query = query.bind(s.as_str());
        }
        if !from.is_empty() && query.execute(self.pool).await?.affected() == 1 {
            return Ok(());
        }
        let current = self.campaign(id).await?.state;
        Err(rows::state_conflict(id, current, from))
    }

    /// How many recipients the campaign has.
    pub async fn recipient_count(&self, id: CampaignId) -> Result<u64> {
        let sql = format!(
            "SELECT COUNT(*) FROM recipients WHERE campaign_id = {}",
            self.p(1)
        );
        let row = sqlx::query(&sql).bind(id.0).fetch_one(self.pool).await?;
        Ok(u64::try_from(row.int(0)?).unwrap_or_default())
    }

    /// Delivery counts by channel, round, status and reason.
    pub async fn delivery_counts(&self, campaign: CampaignId) -> Result<Vec<DeliveryCount>> {
        let sql = format!(
            "SELECT {0}, COUNT(*), {1} FROM deliveries WHERE campaign_id = {2} \
             GROUP BY {0} ORDER BY round, channel, status, reason",
            rows::DELIVERY_COUNT_COLUMNS,
            int_sum(self.dialect, "segments"),
            self.p(1)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?;
        found
            .iter()
            .map(|r| rows::delivery_count(r, campaign))
            .collect()
    }

    /// The link whose token hashes to `token_hash`, if any.
    pub async fn link(&self, token_hash: &TokenHash) -> Result<Option<LinkRecord>> {
        let sql = format!(
            "SELECT {} FROM recipients r JOIN campaigns c ON c.id = r.campaign_id \
             WHERE r.token_hash = {}",
            rows::LINK_COLUMNS,
            self.p(1)
        );
        let row = sqlx::query(&sql)
            .bind(token_hash.0.as_slice())
            .fetch_optional(self.pool)
            .await?;
        row.as_ref().map(rows::link).transpose()
    }

    /// Counts one open of the recipient's link, recording the first.
    pub async fn record_open(&self, recipient_id: i64, now: DateTime<Utc>) -> Result<()> {
        let sql = format!(
            "UPDATE recipients SET open_count = open_count + 1, \
             first_opened_at = COALESCE(first_opened_at, {}) WHERE id = {}",
            self.p(1),
            self.p(2)
        );
        sqlx::query(&sql)
            .bind(now)
            .bind(recipient_id)
            .execute(self.pool)
            .await?;
        Ok(())
    }

    /// In one transaction: spends the link (only if it is not already) and writes the
    /// response row. Spending first locks the recipient's row, so a racing submission
    /// waits, then finds the link spent; the response table's unique `recipient_id` is
    /// the second line.
    pub async fn submit_response(
        &self,
        recipient_id: i64,
        form: &StoredForm,
        answers: &Answers,
        now: DateTime<Utc>,
    ) -> Result<SubmitOutcome> {
        let insert = insert_response(
            &form.spec,
            &form.response_table,
            self.dialect,
            recipient_id,
            now,
            answers,
        )?;
        let mut args = <DB as Database>::Arguments::default();
        rows::bind_values::<DB>(&mut args, &insert.params)?;
        let spend = format!(
            "UPDATE recipients SET submitted_at = {} WHERE id = {} AND submitted_at IS NULL",
            self.p(1),
            self.p(2)
        );
        let mut tx = self.pool.begin().await?;
        let spent = sqlx::query(&spend)
            .bind(now)
            .bind(recipient_id)
            .execute(&mut *tx)
            .await?;
        if spent.affected() == 0 {
            return Ok(SubmitOutcome::AlreadySubmitted);
        }
        sqlx::query_with(&insert.sql, args)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(SubmitOutcome::Stored)
    }

    /// The campaign's rounds, in order.
    pub async fn rounds(&self, campaign: CampaignId) -> Result<Vec<RoundInfo>> {
        let sql = format!(
            "SELECT round, COUNT(DISTINCT recipient_id), {}, MAX(updated_at) \
             FROM deliveries WHERE campaign_id = {} GROUP BY round ORDER BY round",
            int_sum(
                self.dialect,
                "CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END"
            ),
            self.p(1)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?;
        let rounds = found.iter().map(rows::round_info).collect::<Result<_>>()?;
        let sql = format!(
            "SELECT round, COUNT(*) FROM non_respondents WHERE campaign_id = {} GROUP BY round",
            self.p(1)
        );
        let planned = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?
            .iter()
            .map(|r| Ok((rows::round(r, 0)?, r.int(1)?)))
            .collect::<Result<_>>()?;
        Ok(rows::with_planned_rounds(rounds, planned))
    }

    /// The recipients materialised as non-respondents of `round`, by recipient id.
    pub async fn round_non_respondents(
        &self,
        campaign: CampaignId,
        round: i32,
    ) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT recipient_id FROM non_respondents WHERE campaign_id = {} AND round = {} \
             ORDER BY recipient_id",
            self.p(1),
            self.p(2)
        );
        sqlx::query(&sql)
            .bind(campaign.0)
            .bind(round)
            .fetch_all(self.pool)
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect()
    }

    /// Who has not answered now, by recipient id.
    pub async fn non_respondents(&self, campaign: CampaignId) -> Result<Vec<NonRespondent>> {
        // Reminders are counted once for the campaign and joined: a per-recipient
        // subquery cannot seek `non_respondents` by recipient (its key leads with the
        // round) and made this quadratic, 37 s for 20,000 non-respondents.
        let sql = format!(
            "SELECT r.id, r.patient_id, p.external_id, r.open_count, COALESCE(n.reminders, 0) \
             FROM recipients r JOIN patients p ON p.id = r.patient_id \
             LEFT JOIN (SELECT recipient_id, COUNT(*) AS reminders FROM non_respondents \
                        WHERE campaign_id = {} GROUP BY recipient_id) n ON n.recipient_id = r.id \
             WHERE r.campaign_id = {} AND r.submitted_at IS NULL ORDER BY r.id",
            self.p(1),
            self.p(2)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?;
        found.iter().map(rows::non_respondent).collect()
    }

    /// The campaign's tracking figures.
    pub async fn tracking_counts(&self, campaign: CampaignId) -> Result<TrackingCounts> {
        let deliveries = |n: usize, what: &str| {
            format!(
                "(SELECT {what} FROM deliveries WHERE campaign_id = {} AND status = ",
                self.p(n)
            )
        };
        let sql = format!(
            "SELECT COUNT(*), COALESCE({}, 0), COALESCE({}, 0), \
             {}'sent'), {}'sent'), {}'suppressed'), {}'failed') \
             FROM recipients WHERE campaign_id = {}",
            int_sum(
                self.dialect,
                "CASE WHEN first_opened_at IS NULL THEN 0 ELSE 1 END"
            ),
            int_sum(
                self.dialect,
                "CASE WHEN submitted_at IS NULL THEN 0 ELSE 1 END"
            ),
            deliveries(1, "COUNT(DISTINCT recipient_id)"),
            deliveries(2, "COUNT(*)"),
            deliveries(3, "COUNT(*)"),
            deliveries(4, "COUNT(*)"),
            self.p(5)
        );
        let mut query = sqlx::query(&sql);
        for _ in 0..5 {
            query = query.bind(campaign.0);
        }
        rows::tracking_counts(&query.fetch_one(self.pool).await?)
    }

    /// One recipient's tracking.
    pub async fn recipient_tracking(&self, recipient_id: i64) -> Result<RecipientTracking> {
        let sql = format!(
            "SELECT {} FROM recipients WHERE id = {}",
            rows::TRACKING_COLUMNS,
            self.p(1)
        );
        let r = sqlx::query(&sql)
            .bind(recipient_id)
            .fetch_optional(self.pool)
            .await?
            .ok_or_else(|| Error::not_found(format!("recipient {recipient_id}")))?;
        rows::recipient_tracking(&r, recipient_id)
    }
}
