//! Campaigns and the delivery queue on MySQL.

use super::{retry_transient, rows_per_statement, MySqlStore, LOCKED_QUEUE_PATIENCE};
use crate::campaign::{
    CampaignId, CampaignState, DeliveryOutcome, DeliveryStatus, NewCampaign, NewRecipient,
    PendingDelivery, Shard,
};
use crate::error::{Error, Result};
use crate::notify::Channel;
use crate::sql::Dialect;
use crate::store::rows::{self, corrupt};
use crate::store::{Audience, CampaignStore, DeliveryStore, DynPlanner};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlConnection, QueryBuilder, Row};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Outcomes one `UPDATE` records at most (each is one `SELECT` of the derived table).
const OUTCOMES_PER_STATEMENT: usize = 1_000;

/// Inserts one page of campaign `id`'s recipients (patients `after` < id ≤ the page's
/// last, in order) and returns their ids by patient.
async fn insert_recipients(
    conn: &mut MySqlConnection,
    id: i64,
    after: i64,
    recipients: &[NewRecipient],
) -> Result<HashMap<i64, i64>> {
    let Some(last) = recipients.last() else {
        return Ok(HashMap::new());
    };
    for chunk in recipients.chunks(rows_per_statement(7)) {
        rows::insert_recipients::<MySql>(Dialect::Mysql, id, chunk)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    let ids: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT patient_id, id FROM recipients \
         WHERE campaign_id = ? AND patient_id > ? AND patient_id <= ?",
    )
    .bind(id)
    .bind(after)
    .bind(last.patient_id.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ids.into_iter().collect())
}

/// Inserts the planned deliveries of campaign `id`'s recipients.
async fn insert_deliveries(
    conn: &mut MySqlConnection,
    id: i64,
    recipients: &[NewRecipient],
    ids: &HashMap<i64, i64>,
) -> Result<()> {
    let planned = rows::planned_deliveries(recipients, ids)?;
    for chunk in planned.chunks(rows_per_statement(7)) {
        rows::insert_deliveries::<MySql>(Dialect::Mysql, id, chunk)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes one page of campaign `id`'s recipients (patients `after` < id ≤ the page's
/// last, in order) and their planned deliveries.
async fn write_page(
    conn: &mut MySqlConnection,
    id: i64,
    after: i64,
    recipients: &[NewRecipient],
) -> Result<()> {
    let ids = insert_recipients(conn, id, after, recipients).await?;
    insert_deliveries(conn, id, recipients, &ids).await
}

#[async_trait]
impl CampaignStore for MySqlStore {
    async fn create_campaign<'p>(
        &self,
        campaign: &NewCampaign,
        audience: &Audience,
        planner: &mut DynPlanner<'p>,
    ) -> Result<CampaignId> {
        let channels: Vec<&str> = campaign.channels.iter().map(|c| c.as_str()).collect();
        let messages = serde_json::to_string(&campaign.messages)
            .map_err(|e| Error::invalid("campaign messages", e.to_string()))?;
        let (strategy, budget, wave_hours, reach) = crate::store::rows::campaign_plan(campaign)?;
        let mut tx = self.pool.begin().await?;
        let id = sqlx::query(
            "INSERT INTO campaigns (name, form_id, filter, channels, state, messages_json, link_expires_at, created_at, \
             strategy, budget_micros, second_wave_hours, reach_json) \
             VALUES (?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&campaign.name)
        .bind(campaign.form_id.0)
        .bind(&campaign.filter)
        .bind(channels.join(","))
        .bind(messages)
        .bind(campaign.link_expires_at)
        .bind(campaign.created_at)
        .bind(strategy)
        .bind(budget)
        .bind(wave_hours)
        .bind(reach)
        .execute(&mut *tx)
        .await?
        .last_insert_id();
        let id =
            i64::try_from(id).map_err(|_| corrupt("campaign", -1, "id out of range".into()))?;
        self.shared()
            .write_audience(
                tx,
                (campaign, id),
                audience,
                planner,
                |c, id, after, page| Box::pin(write_page(c, id, after, page)),
            )
            .await
    }

    crate::store::forward::shared_core!(campaign, campaigns, recipient_count);

    async fn set_campaign_state(
        &self,
        id: CampaignId,
        from: &[CampaignState],
        to: CampaignState,
    ) -> Result<()> {
        // The change and its audit event are one transaction, which InnoDB may pick as a
        // deadlock victim against a concurrent claim: it runs again whole.
        let shared = self.shared();
        retry_transient(|| shared.set_campaign_state(id, from, to)).await
    }
}

/// One claim's queue: the pending deliveries of a (campaign, channel, round), of a shard's
/// recipients only if given.
#[derive(Debug, Clone, Copy)]
struct Queue {
    campaign: CampaignId,
    channel: Channel,
    round: i32,
    shard: Option<Shard>,
}

impl Queue {
    /// Appends the `WHERE` condition selecting the queue's rows (it seeks the
    /// `deliveries_queue` index; the shard test reads `recipient_id` from it too).
    fn push_condition(&self, q: &mut QueryBuilder<'_, MySql>) {
        q.push(" WHERE campaign_id = ")
            .push_bind(self.campaign.0)
            .push(" AND round = ")
            .push_bind(self.round)
            .push(" AND channel = ")
            .push_bind(self.channel.as_str())
            .push(" AND status = 'pending'");
        push_shard(q, self.shard);
    }
}

/// Appends ` AND recipient_id % count = index` for a shard.
fn push_shard(q: &mut QueryBuilder<'_, MySql>, shard: Option<Shard>) {
    if let Some(shard) = shard {
        q.push(" AND recipient_id % ")
            .push_bind(i64::from(shard.count()))
            .push(" = ")
            .push_bind(i64::from(shard.index()));
    }
}

/// Appends `(a, b, ...)` binding each id.
fn push_ids(q: &mut QueryBuilder<'_, MySql>, ids: impl IntoIterator<Item = i64>) {
    q.push("(");
    let mut list = q.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    q.push(")");
}

/// `channel IN ('sms', 'email')`: with it, a scan of a campaign's round by status seeks
/// the queue index (whose third column is the channel) instead of reading every row.
pub(super) fn every_channel() -> String {
    let names: Vec<String> = Channel::ALL
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect();
    format!("channel IN ({})", names.join(", "))
}

impl MySqlStore {
    /// One claim transaction: locks up to `limit` of the queue's pending rows that no
    /// other transaction holds, marks them `sending` and returns them (empty when every
    /// row it could take was locked or there was none).
    async fn try_claim(
        &self,
        queue: Queue,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>> {
        let address = match queue.channel {
            Channel::Sms => "phone",
            Channel::Email => "email",
        };
        let mut tx = self.pool.begin().await?;
        let mut q = QueryBuilder::<MySql>::new("SELECT id, recipient_id FROM deliveries");
        queue.push_condition(&mut q);
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(limit))
            .push(" FOR UPDATE SKIP LOCKED");
        let locked: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut *tx).await?;
        if locked.is_empty() {
            return Ok(Vec::new());
        }
        let mut q =
            QueryBuilder::<MySql>::new("UPDATE deliveries SET status = 'sending', updated_at = ");
        q.push_bind(now).push(" WHERE id IN ");
        push_ids(&mut q, locked.iter().map(|(id, _)| *id));
        q.build().execute(&mut *tx).await?;
        // Recipients' contact details and links are frozen at creation: a plain read.
        let mut q = QueryBuilder::<MySql>::new(format!(
            "SELECT id, {address}, given_name, link_nonce FROM recipients WHERE id IN "
        ));
        push_ids(&mut q, locked.iter().map(|(_, r)| *r));
        let mut details: HashMap<i64, (Option<String>, String, Vec<u8>)> = HashMap::new();
        for r in q.build().fetch_all(&mut *tx).await? {
            details.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
        }
        tx.commit().await?;
        locked
            .into_iter()
            .map(|(id, recipient_id)| {
                let (address, given_name, nonce) = details
                    .remove(&recipient_id)
                    .ok_or_else(|| corrupt("delivery recipient", id, "missing".into()))?;
                rows::pending_delivery(id, recipient_id, address, given_name, nonce)
            })
            .collect()
    }

    /// Whether the queue holds pending rows (committed ones, locked or not).
    async fn has_pending(&self, queue: Queue) -> Result<bool> {
        let mut q = QueryBuilder::<MySql>::new("SELECT EXISTS (SELECT 1 FROM deliveries");
        queue.push_condition(&mut q);
        q.push(")");
        let found: i64 = q.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(found != 0)
    }

    /// One transaction recording `outcomes`.
    async fn record_once(&self, outcomes: &[DeliveryOutcome], now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for chunk in outcomes.chunks(OUTCOMES_PER_STATEMENT) {
            let mut q = QueryBuilder::<MySql>::new("UPDATE deliveries d JOIN (");
            for (i, o) in chunk.iter().enumerate() {
                let sent = o.status == DeliveryStatus::Sent;
                let (sent_segments, price, cost) = rows::outcome_cost(o);
                // The first row names the derived table's columns.
                let [id, status, provider_id, reason, attempts, duplicate, transient, segments, unit_price, costs] =
                    if i == 0 {
                        [
                            " AS id, ",
                            " AS status, ",
                            " AS provider_id, ",
                            " AS reason, ",
                            " AS attempts, ",
                            " AS maybe_duplicate, ",
                            " AS transient, ",
                            " AS sent_segments, ",
                            " AS unit_price_micros, ",
                            " AS cost_micros",
                        ]
                    } else {
                        [", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ", ""]
                    };
                q.push(if i == 0 {
                    "SELECT "
                } else {
                    " UNION ALL SELECT "
                })
                .push_bind(o.id)
                .push(id)
                .push_bind(o.status.as_str())
                .push(status)
                .push_bind(sent.then_some(o.detail.as_str()))
                .push(provider_id)
                .push_bind((!sent).then_some(o.detail.as_str()))
                .push(reason)
                .push_bind(o.attempts)
                .push(attempts)
                .push_bind(i64::from(o.may_duplicate))
                .push(duplicate)
                .push_bind(i64::from(o.transient))
                .push(transient)
                .push_bind(sent_segments)
                .push(segments)
                .push_bind(price)
                .push(unit_price)
                .push_bind(cost)
                .push(costs);
            }
            q.push(
                ") v ON d.id = v.id \
                 SET d.status = v.status, d.provider_id = v.provider_id, d.reason = v.reason, \
                 d.attempts = d.attempts + v.attempts, \
                 d.maybe_duplicate = GREATEST(d.maybe_duplicate, v.maybe_duplicate), \
                 d.transient = v.transient, \
                 d.sent_segments = COALESCE(v.sent_segments, d.sent_segments), \
                 d.unit_price_micros = COALESCE(v.unit_price_micros, d.unit_price_micros), \
                 d.cost_micros = COALESCE(v.cost_micros, d.cost_micros), d.updated_at = ",
            );
            q.push_bind(now);
            q.push(" WHERE d.status = 'sending'");
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl DeliveryStore for MySqlStore {
    async fn claim_pending(
        &self,
        campaign: CampaignId,
        channel: Channel,
        round: i32,
        shard: Option<Shard>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>> {
        let queue = Queue {
            campaign,
            channel,
            round,
            shard,
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let claimed = retry_transient(|| self.try_claim(queue, limit, now)).await?;
            // Nothing claimed: done, unless other transactions hold every pending row
            // for a moment (another claimer's scan, a reminder round being planned).
            if !claimed.is_empty() || limit == 0 || !self.has_pending(queue).await? {
                return Ok(claimed);
            }
            if started.elapsed() > LOCKED_QUEUE_PATIENCE {
                return Err(Error::Conflict(format!(
                    "campaign {campaign}: the pending {channel} deliveries of round {round} stayed locked by other transactions for {} s",
                    LOCKED_QUEUE_PATIENCE.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    async fn record_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        retry_transient(|| self.record_once(outcomes, now)).await
    }

    async fn requeue_in_flight(
        &self,
        campaign: CampaignId,
        round: i32,
        shard: Option<Shard>,
        claimed_before: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        retry_transient(|| async {
            let mut q = QueryBuilder::<MySql>::new(
                "UPDATE deliveries SET status = 'pending', maybe_duplicate = 1 WHERE campaign_id = ",
            );
            q.push_bind(campaign.0)
                .push(" AND round = ")
                .push_bind(round)
                .push(format!(" AND {} AND status = 'sending'", every_channel()));
            push_shard(&mut q, shard);
            if let Some(before) = claimed_before {
                q.push(" AND updated_at <= ").push_bind(before);
            }
            Ok(q.build().execute(&self.pool).await?.rows_affected())
        })
        .await
    }

    crate::store::forward::shared_core!(delivery_counts, queued, queued_rounds);
    crate::store::forward::shared_core!(retrying: retry_failed);
}
