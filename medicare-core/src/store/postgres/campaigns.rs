//! Campaigns (recipients and deliveries written by `COPY`) and the delivery queue
//! (claimed with `FOR UPDATE SKIP LOCKED`, outcomes recorded through `UNNEST`).

use super::copy::copy_in;
use super::PostgresStore;
use crate::campaign::{
    CampaignId, DeliveryOutcome, DeliveryStatus, NewCampaign, NewRecipient, PendingDelivery, Shard,
};
use crate::error::{Error, Result};
use crate::notify::Channel;
use crate::store::rows::{self, corrupt};
use crate::store::{Audience, CampaignStore, DeliveryStore, DynPlanner};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::collections::HashMap;

/// `AND recipient_id % count = index` for a shard; nothing without one.
fn push_shard(q: &mut QueryBuilder<'_, Postgres>, shard: Option<Shard>) {
    if let Some(shard) = shard {
        q.push(" AND recipient_id % ")
            .push_bind(i64::from(shard.count()))
            .push(" = ")
            .push_bind(i64::from(shard.index()));
    }
}

/// Writes one page of campaign `id`'s recipients (patients `after` < id ≤ the page's
/// last, in order) and their planned deliveries, each by `COPY`.
async fn write_page(
    conn: &mut PgConnection,
    id: i64,
    after: i64,
    recipients: &[NewRecipient],
) -> Result<()> {
    let Some(last) = recipients.last() else {
        return Ok(());
    };
    copy_in(
        conn,
        "COPY recipients (campaign_id, patient_id, given_name, phone, email, link_nonce, token_hash) FROM STDIN",
        recipients,
        |row, r| {
            row.int(id)
                .int(r.patient_id.0)
                .text(&r.given_name)
                .opt_text(r.phone.as_deref())
                .opt_text(r.email.as_deref())
                .bytes(&r.link.nonce.0)
                .bytes(&r.link.token_hash.0)
                .end_row();
            Ok(())
        },
    )
    .await?;
    let ids: HashMap<i64, i64> = sqlx::query_as(
        "SELECT patient_id, id FROM recipients \
         WHERE campaign_id = $1 AND patient_id > $2 AND patient_id <= $3",
    )
    .bind(id)
    .bind(after)
    .bind(last.patient_id.0)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    copy_in(
        conn,
        "COPY deliveries (campaign_id, recipient_id, channel, round, status, reason, segments) FROM STDIN",
        recipients,
        |row, r| {
            let recipient = *ids.get(&r.patient_id.0).ok_or_else(|| {
                corrupt("recipient of patient", r.patient_id.0, "not stored".into())
            })?;
            for d in &r.deliveries {
                let status = if d.suppressed.is_some() {
                    DeliveryStatus::Suppressed
                } else {
                    DeliveryStatus::Pending
                };
                row.int(id)
                    .int(recipient)
                    .text(d.channel.as_str())
                    .int(d.round.into())
                    .text(status.as_str())
                    .opt_text(d.suppressed.map(|s| s.as_str()))
                    .int(d.segments.into())
                    .end_row();
            }
            Ok(())
        },
    )
    .await?;
    Ok(())
}

#[async_trait]
impl CampaignStore for PostgresStore {
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
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (name, form_id, filter, channels, state, messages_json, link_expires_at, created_at, \
             strategy, budget_micros, second_wave_hours, reach_json) \
             VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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
        .bind(wave_hours.and_then(|h| i32::try_from(h).ok()))
        .bind(reach)
        .fetch_one(&mut *tx)
        .await?;

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

    crate::store::forward::shared_core!(campaign, campaigns, set_campaign_state, recipient_count);
}

#[async_trait]
impl DeliveryStore for PostgresStore {
    async fn claim_pending(
        &self,
        campaign: CampaignId,
        channel: Channel,
        round: i32,
        shard: Option<Shard>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>> {
        let address = match channel {
            Channel::Sms => "r.phone",
            Channel::Email => "r.email",
        };
        // Rows another claimer has locked are skipped, not waited for; a row claimed and
        // committed meanwhile is re-checked under its lock and no longer `pending`.
        let mut q = QueryBuilder::<Postgres>::new(
            "WITH claimed AS (UPDATE deliveries SET status = 'sending', updated_at = ",
        );
        q.push_bind(now)
            .push(" WHERE id IN (SELECT id FROM deliveries WHERE campaign_id = ")
            .push_bind(campaign.0)
            .push(" AND round = ")
            .push_bind(round)
            .push(" AND channel = ")
            .push_bind(channel.as_str())
            .push(" AND status = 'pending'");
        push_shard(&mut q, shard);
        q.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(limit))
            .push(" FOR UPDATE SKIP LOCKED) RETURNING id, recipient_id) ")
            .push(format!(
                "SELECT c.id, c.recipient_id, {address}, r.given_name, r.link_nonce \
                 FROM claimed c JOIN recipients r ON r.id = c.recipient_id ORDER BY c.id"
            ));
        let rows: Vec<(i64, i64, Option<String>, String, Vec<u8>)> =
            q.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(id, recipient_id, address, given_name, nonce)| {
                rows::pending_delivery(id, recipient_id, address, given_name, nonce)
            })
            .collect()
    }

    async fn record_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if outcomes.is_empty() {
            return Ok(());
        }
        // In id order, so two transactions never lock the same rows in opposite orders.
        let mut sorted: Vec<&DeliveryOutcome> = outcomes.iter().collect();
        sorted.sort_unstable_by_key(|o| o.id);
        let ids: Vec<i64> = sorted.iter().map(|o| o.id).collect();
        let statuses: Vec<&str> = sorted.iter().map(|o| o.status.as_str()).collect();
        let sent = |o: &&DeliveryOutcome| o.status == DeliveryStatus::Sent;
        let providers: Vec<Option<&str>> = sorted
            .iter()
            .map(|o| sent(o).then_some(o.detail.as_str()))
            .collect();
        let reasons: Vec<Option<&str>> = sorted
            .iter()
            .map(|o| (!sent(o)).then_some(o.detail.as_str()))
            .collect();
        let attempts: Vec<i32> = sorted
            .iter()
            .map(|o| i32::try_from(o.attempts).unwrap_or(i32::MAX))
            .collect();
        let duplicates: Vec<i32> = sorted.iter().map(|o| i32::from(o.may_duplicate)).collect();
        let transient: Vec<i32> = sorted.iter().map(|o| i32::from(o.transient)).collect();
        let costs: Vec<(Option<i64>, Option<i64>, Option<i64>)> = sorted
            .iter()
            .map(|o| crate::store::rows::outcome_cost(o))
            .collect();
        let segments: Vec<Option<i64>> = costs.iter().map(|c| c.0).collect();
        let prices: Vec<Option<i64>> = costs.iter().map(|c| c.1).collect();
        let costs: Vec<Option<i64>> = costs.iter().map(|c| c.2).collect();
        // One statement is one transaction: every outcome is recorded, or none.
        sqlx::query(
            "UPDATE deliveries d SET status = v.status, provider_id = v.provider_id, \
             reason = v.reason, attempts = d.attempts + v.attempts, updated_at = $6, \
             maybe_duplicate = GREATEST(d.maybe_duplicate, v.maybe_duplicate), \
             transient = v.transient, \
             sent_segments = COALESCE(v.sent_segments, d.sent_segments), \
             unit_price_micros = COALESCE(v.unit_price_micros, d.unit_price_micros), \
             cost_micros = COALESCE(v.cost_micros, d.cost_micros) \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::integer[], \
                         $7::integer[], $8::integer[], $9::bigint[], $10::bigint[], $11::bigint[]) \
             AS v (id, status, provider_id, reason, attempts, maybe_duplicate, transient, \
                   sent_segments, unit_price_micros, cost_micros) \
             WHERE d.id = v.id AND d.status = 'sending'",
        )
        .bind(&ids)
        .bind(&statuses)
        .bind(&providers)
        .bind(&reasons)
        .bind(&attempts)
        .bind(now)
        .bind(&duplicates)
        .bind(&transient)
        .bind(&segments)
        .bind(&prices)
        .bind(&costs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn requeue_in_flight(
        &self,
        campaign: CampaignId,
        round: i32,
        shard: Option<Shard>,
        claimed_before: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        let mut q = QueryBuilder::<Postgres>::new(
            "UPDATE deliveries SET status = 'pending', maybe_duplicate = 1 \
             WHERE status = 'sending' AND campaign_id = ",
        );
        q.push_bind(campaign.0)
            .push(" AND round = ")
            .push_bind(round);
        push_shard(&mut q, shard);
        if let Some(before) = claimed_before {
            q.push(" AND updated_at <= ").push_bind(before);
        }
        let done = q.build().execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    crate::store::forward::shared_core!(delivery_counts, queued, queued_rounds, retry_failed);
}
