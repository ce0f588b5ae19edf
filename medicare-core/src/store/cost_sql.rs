//! The [`super::CostStore`] statements, alike on every SQL backend: a backend opens the
//! claim's transaction its own way (SQLite takes the write lock up front) and delegates
//! everything else.

use super::cost::{MeasuredOpens, MeteredBatch, MeteredClaim, RecordedSpend};
use super::rows::{self, corrupt, Affected, ReadRow};
use super::shared::{int_sum, Shared};
use crate::campaign::CampaignId;
use crate::error::{Error, Result};
use crate::notify::{Channel, Money};
use crate::sql::Dialect;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};
use std::collections::HashMap;

/// `COALESCE(SUM(expr), 0)` as a 64-bit integer (PostgreSQL sums `bigint` as
/// `numeric`, MySQL every integer as `DECIMAL`).
fn big_sum(dialect: Dialect, expr: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("CAST(COALESCE(SUM({expr}), 0) AS SIGNED)"),
        Dialect::Postgres => format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)"),
        Dialect::Sqlite => format!("COALESCE(SUM({expr}), 0)"),
    }
}

/// A locking read's suffix: SQLite's claim holds the database's write lock already.
fn for_update(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres | Dialect::Mysql => " FOR UPDATE",
    }
}

/// What one delivery costs: its segments at the segment price, or one email.
fn unit_cost(channel: Channel, segments: i64, unit_price: Money) -> Money {
    match channel {
        Channel::Sms => unit_price.times(u64::try_from(segments).unwrap_or_default()),
        Channel::Email => unit_price,
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
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> NaiveDate: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    /// The metered claim, on `conn` inside the transaction the backend opened (and
    /// commits): lock the campaign row, add up spend and reservations, take what fits.
    pub async fn claim_metered(
        &self,
        conn: &mut <DB as Database>::Connection,
        claim: &MeteredClaim,
        now: DateTime<Utc>,
    ) -> Result<MeteredBatch> {
        let p = |n| self.dialect.placeholder(n);
        let lock = format!(
            "SELECT budget_micros FROM campaigns WHERE id = {}{}",
            p(1),
            for_update(self.dialect)
        );
        let budget = sqlx::query(&lock)
            .bind(claim.campaign.0)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| Error::not_found(format!("campaign {}", claim.campaign)))?
            .opt_int(0)?;
        let committed = match budget {
            None => 0,
            Some(_) => {
                let sql = format!(
                    "SELECT {} FROM deliveries WHERE campaign_id = {} AND status IN ('sending', 'sent')",
                    big_sum(self.dialect, "cost_micros"),
                    p(1)
                );
                sqlx::query(&sql)
                    .bind(claim.campaign.0)
                    .fetch_one(&mut *conn)
                    .await?
                    .int(0)?
            }
        };
        let mut sql = format!(
            "SELECT d.id, d.recipient_id, d.segments FROM deliveries d WHERE d.campaign_id = {} \
             AND d.round = {} AND d.channel = {} AND d.status = 'pending'",
            p(1),
            p(2),
            p(3)
        );
        let mut next = 4;
        if claim.shard.is_some() {
            sql.push_str(&format!(" AND d.recipient_id % {} = {}", p(4), p(5)));
            next = 6;
        }
        if claim.skip_engaged {
            sql.push_str(
                " AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.id = d.recipient_id \
                 AND (r.first_opened_at IS NOT NULL OR r.submitted_at IS NOT NULL))",
            );
        }
        sql.push_str(&format!(
            " ORDER BY d.id LIMIT {}{}",
            p(next),
            for_update(self.dialect)
        ));
        let mut query = sqlx::query(&sql)
            .bind(claim.campaign.0)
            .bind(claim.round)
            .bind(claim.channel.as_str());
        if let Some(shard) = claim.shard {
            query = query
                .bind(i64::from(shard.count()))
                .bind(i64::from(shard.index()));
        }
        let pending = query
            .bind(i64::from(claim.limit))
            .fetch_all(&mut *conn)
            .await?;
        let mut spent = committed;
        let mut taken: Vec<(i64, i64)> = Vec::with_capacity(pending.len());
        let mut capped = false;
        for row in &pending {
            let cost = unit_cost(claim.channel, row.int(2)?, claim.unit_price).0;
            if budget.is_some_and(|b| spent.saturating_add(cost) > b) {
                capped = true;
                break;
            }
            spent = spent.saturating_add(cost);
            taken.push((row.int(0)?, row.int(1)?));
        }
        if taken.is_empty() {
            return Ok(MeteredBatch {
                deliveries: Vec::new(),
                capped,
            });
        }
        let cost = match claim.channel {
            Channel::Sms => format!("segments * {}", p(2)),
            Channel::Email => p(2),
        };
        let update = format!(
            "UPDATE deliveries SET status = 'sending', updated_at = {}, cost_micros = {cost}, \
             unit_price_micros = {} WHERE id IN ({})",
            p(1),
            p(3),
            self.dialect.placeholders(4, taken.len())
        );
        let mut query = sqlx::query(&update)
            .bind(now)
            .bind(claim.unit_price.0)
            .bind(claim.unit_price.0);
        for (id, _) in &taken {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
        let address = match claim.channel {
            Channel::Sms => "phone",
            Channel::Email => "email",
        };
        let details = format!(
            "SELECT id, {address}, given_name, link_nonce FROM recipients WHERE id IN ({})",
            self.dialect.placeholders(1, taken.len())
        );
        let mut query = sqlx::query(&details);
        for (_, recipient) in &taken {
            query = query.bind(*recipient);
        }
        let mut found = HashMap::new();
        for r in query.fetch_all(&mut *conn).await? {
            found.insert(r.int(0)?, (r.opt_text(1)?, r.text(2)?, r.bytes(3)?));
        }
        let deliveries = taken
            .into_iter()
            .map(|(id, recipient_id)| {
                let (address, given_name, nonce) = found
                    .get(&recipient_id)
                    .cloned()
                    .ok_or_else(|| corrupt("delivery recipient", id, "missing".into()))?;
                rows::pending_delivery(id, recipient_id, address, given_name, nonce)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(MeteredBatch { deliveries, capped })
    }

    /// Sets or removes the campaign's budget.
    pub async fn set_budget(&self, campaign: CampaignId, budget: Option<Money>) -> Result<()> {
        if budget.is_some_and(|b| b.0 < 0) {
            return Err(Error::invalid("budget", "must not be negative"));
        }
        let sql = format!(
            "UPDATE campaigns SET budget_micros = {} WHERE id = {}",
            self.dialect.placeholder(1),
            self.dialect.placeholder(2)
        );
        let done = sqlx::query(&sql)
            .bind(budget.map(|b| b.0))
            .bind(campaign.0)
            .execute(self.pool)
            .await?;
        if done.affected() == 0 {
            // MySQL counts matched rows (the pool asks it to): none means no campaign.
            self.campaign(campaign).await?;
        }
        Ok(())
    }

    /// Suppresses (reason `opened`) the round's pending deliveries to recipients who
    /// have opened their link.
    pub async fn suppress_opened(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let p = |n| self.dialect.placeholder(n);
        let sql = format!(
            "UPDATE deliveries SET status = 'suppressed', reason = 'opened', updated_at = {} \
             WHERE campaign_id = {} AND round = {} AND status = 'pending' AND recipient_id IN \
             (SELECT id FROM recipients WHERE campaign_id = {} AND first_opened_at IS NOT NULL)",
            p(1),
            p(2),
            p(3),
            p(4)
        );
        let _turn = self.writing().await;
        let done = sqlx::query(&sql)
            .bind(now)
            .bind(campaign.0)
            .bind(round)
            .bind(campaign.0)
            .execute(self.pool)
            .await?;
        Ok(done.affected())
    }

    /// Recorded spend by round and channel.
    pub async fn recorded_spend(&self, campaign: CampaignId) -> Result<Vec<RecordedSpend>> {
        let d = self.dialect;
        let sql = format!(
            "SELECT round, channel, {}, {}, {}, {} FROM deliveries \
             WHERE campaign_id = {} AND status IN ('sent', 'sending') \
             GROUP BY round, channel ORDER BY round, channel",
            int_sum(
                d,
                "CASE WHEN status = 'sent' AND cost_micros IS NOT NULL THEN 1 ELSE 0 END"
            ),
            big_sum(
                d,
                "CASE WHEN status = 'sent' THEN COALESCE(sent_segments, 0) ELSE 0 END"
            ),
            big_sum(
                d,
                "CASE WHEN status = 'sent' THEN COALESCE(cost_micros, 0) ELSE 0 END"
            ),
            big_sum(
                d,
                "CASE WHEN status = 'sending' THEN COALESCE(cost_micros, 0) ELSE 0 END"
            ),
            d.placeholder(1)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?;
        found
            .iter()
            .map(|r| {
                Ok(RecordedSpend {
                    round: rows::round(r, 0)?,
                    channel: Channel::parse(&r.text(1)?)
                        .map_err(|e| corrupt("delivery of campaign", campaign.0, e))?,
                    messages: rows::count(r, 2)?,
                    segments: rows::count(r, 3)?,
                    spent: Money(r.int(4)?),
                    reserved: Money(r.int(5)?),
                })
            })
            .collect()
    }

    /// Opens measured on every other campaign's sent first-round emails.
    pub async fn measured_opens(&self, except: CampaignId) -> Result<MeasuredOpens> {
        let sql = format!(
            "SELECT COUNT(*), {} FROM recipients r WHERE r.campaign_id <> {} AND EXISTS \
             (SELECT 1 FROM deliveries d WHERE d.campaign_id = r.campaign_id \
              AND d.recipient_id = r.id AND d.round = 0 AND d.channel = 'email' \
              AND d.status = 'sent')",
            big_sum(
                self.dialect,
                "CASE WHEN r.first_opened_at IS NULL THEN 0 ELSE 1 END"
            ),
            self.dialect.placeholder(1)
        );
        let r = sqlx::query(&sql)
            .bind(except.0)
            .fetch_one(self.pool)
            .await?;
        Ok(MeasuredOpens {
            emailed: rows::count(&r, 0)?,
            opened: rows::count(&r, 1)?,
        })
    }
}
