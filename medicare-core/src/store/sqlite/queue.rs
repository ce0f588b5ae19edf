//! The delivery queue's busy writes, claims and outcomes, on one connection of the
//! store's own ([`Direct`]) when the database is a file.
//!
//! **One connection.** In WAL mode a connection that starts a transaction after another
//! connection committed throws its whole page cache away. Claims on one of sqlx's
//! connections and outcomes on another made every transaction of a send start cold and
//! read its pages again; on one connection each finds the pages the one before it left
//! (a 112,500-recipient send read 34,000 pages before, 21,000 after, most of them now
//! the log's own checkpoints).
//!
//! **Outcomes.** Every outcome sets values of its own (the provider's message id above
//! all), so a batch cannot be one plain `UPDATE`. As one `UPDATE … FROM (VALUES …)` per
//! 1,000 outcomes through sqlx, SQLite first materialised the values, then the join, and
//! sqlx bound each of the 10,000 values on its way to the connection's thread: recording
//! a 112,500 recipient send took four times the rows' own update. A prepared statement
//! stepped once per row, on a thread that binds straight from the outcomes, costs little
//! more than the update itself.
//!
//! **Claims.** One read of the queue's head with its recipients, then one `UPDATE` of the
//! same head marking it `sending`: both in one immediate transaction, so nothing changes
//! the head in between and no other sender, in this process or another, can claim it.
//!
//! An in-memory database has only the pool's one connection: there the same statements
//! run through sqlx (claims read in one JSON value, see [`fetch_json_array`]).

use super::direct::Direct;
use super::{arguments, fetch_json_array, SqliteStore};
use crate::campaign::{CampaignId, DeliveryOutcome, DeliveryStatus, PendingDelivery, Shard};
use crate::error::{Error, Result};
use crate::notify::Channel;
use crate::sql::SqlValue;
use crate::store::rows::{self, corrupt};
use chrono::{DateTime, SecondsFormat, Utc};
use std::path::PathBuf;
use std::sync::Arc;

/// One delivery's outcome. Only a delivery still `sending` is updated, so recording an
/// outcome twice changes nothing.
const UPDATE_OUTCOME: &str = "UPDATE deliveries SET status = ?, provider_id = ?, reason = ?, \
     attempts = attempts + ?, maybe_duplicate = max(maybe_duplicate, ?), transient = ?, \
     sent_segments = COALESCE(?, sent_segments), \
     unit_price_micros = COALESCE(?, unit_price_micros), \
     cost_micros = COALESCE(?, cost_micros), updated_at = ? \
     WHERE id = ? AND status = 'sending'";

/// The values [`UPDATE_OUTCOME`] binds for `o`, in order, but the time and the id.
struct Bound<'a> {
    status: &'static str,
    provider_id: Option<&'a str>,
    reason: Option<&'a str>,
    attempts: i64,
    maybe_duplicate: i64,
    transient: i64,
    segments: Option<i64>,
    unit_price: Option<i64>,
    cost: Option<i64>,
}

impl<'a> Bound<'a> {
    fn of(o: &'a DeliveryOutcome) -> Self {
        let sent = o.status == DeliveryStatus::Sent;
        let (segments, unit_price, cost) = rows::outcome_cost(o);
        Bound {
            status: o.status.as_str(),
            provider_id: sent.then_some(o.detail.as_str()),
            reason: (!sent).then_some(o.detail.as_str()),
            attempts: i64::from(o.attempts),
            maybe_duplicate: i64::from(o.may_duplicate),
            transient: i64::from(o.transient),
            segments,
            unit_price,
            cost,
        }
    }
}

/// The connection a send claims and records on: opened on the first send, closed with
/// the store.
#[derive(Default)]
pub(super) struct QueueConnection {
    slot: tokio::sync::Mutex<Slot>,
}

/// Where the connection is in its life.
#[derive(Default)]
enum Slot {
    #[default]
    Unopened,
    Open(Arc<Direct>),
    Closed,
}

impl std::fmt::Debug for QueueConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueConnection")
    }
}

impl QueueConnection {
    /// The connection to the database file at `path`, opened if it is not yet.
    async fn get(&self, path: &std::path::Path) -> Result<Arc<Direct>> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            Slot::Open(direct) => Ok(direct.clone()),
            Slot::Closed => Err(Error::Conflict("the SQLite store is closed".into())),
            Slot::Unopened => {
                let direct = Direct::open(PathBuf::from(path), "sqlite-queue").await?;
                // As the pool's connections: a commit reaches the log, not the disk.
                direct
                    .run(|c| Ok(c.pragma_update(None, "synchronous", "NORMAL")?))
                    .await?;
                let direct = Arc::new(direct);
                *slot = Slot::Open(direct.clone());
                Ok(direct)
            }
        }
    }

    /// Closes the connection (after the claim or recording in progress, if any) for good.
    pub(super) async fn close(&self) {
        *self.slot.lock().await = Slot::Closed;
    }
}

/// A time as the text sqlx writes for it, so that both ways store the same text.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The head of one channel's queue: what a claim takes.
pub(super) struct Claim {
    /// The campaign.
    pub campaign: CampaignId,
    /// The channel.
    pub channel: Channel,
    /// The round.
    pub round: i32,
    /// Only this shard's recipients, if any.
    pub shard: Option<Shard>,
    /// Deliveries at most.
    pub limit: u32,
}

/// A claimed row: delivery id, recipient id, address, given name, link nonce.
type Claimed<Nonce> = (i64, i64, Option<String>, String, Nonce);

impl Claim {
    /// The ids (and recipients) of the head's deliveries, in order; its parameters are
    /// [`Self::params`].
    fn head(&self) -> String {
        let shard = if self.shard.is_some() {
            " AND recipient_id % ? = ?"
        } else {
            ""
        };
        format!(
            "SELECT id, recipient_id FROM deliveries WHERE campaign_id = ? AND round = ? \
             AND channel = ? AND status = 'pending'{shard} ORDER BY id LIMIT ?"
        )
    }

    /// The head's deliveries with what a message needs: `columns` of `d` (the head) and
    /// `r` (their recipients), with `{address}` standing for the channel's address.
    fn select(&self, columns: &str) -> String {
        let address = match self.channel {
            Channel::Sms => "r.phone",
            Channel::Email => "r.email",
        };
        format!(
            "SELECT {} FROM ({}) d JOIN recipients r ON r.id = d.recipient_id",
            columns.replace("{address}", address),
            self.head()
        )
    }

    /// Marks the head `sending` at the bound time (the first parameter, then
    /// [`Self::params`]).
    fn mark(&self) -> String {
        format!(
            "UPDATE deliveries SET status = 'sending', updated_at = ? \
             WHERE id IN (SELECT id FROM ({}))",
            self.head()
        )
    }

    /// The parameters of [`Self::head`].
    fn params(&self) -> Vec<SqlValue> {
        let mut params = vec![
            SqlValue::Int(self.campaign.0),
            SqlValue::Int(self.round.into()),
            SqlValue::Text(self.channel.as_str().into()),
        ];
        if let Some(shard) = self.shard {
            params.push(SqlValue::Int(shard.count().into()));
            params.push(SqlValue::Int(shard.index().into()));
        }
        params.push(SqlValue::Int(self.limit.into()));
        params
    }
}

/// The columns a claim reads, as rows.
const CLAIM_COLUMNS: &str = "d.id, d.recipient_id, {address}, r.given_name, r.link_nonce";

/// The same columns as one JSON array of arrays, the nonce in hex.
const CLAIM_JSON: &str = "json_group_array(json_array(d.id, d.recipient_id, {address}, \
     r.given_name, hex(r.link_nonce)))";

/// A compiled value as rusqlite's.
fn value(v: &SqlValue) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Int(i) => Value::Integer(*i),
        SqlValue::Bool(b) => Value::Integer(i64::from(*b)),
        SqlValue::Date(d) => Value::Text(d.to_string()),
    }
}

impl SqliteStore {
    /// The file's own connection for the queue, opened if it is not yet; `None` for an
    /// in-memory database, whose queue runs through the pool.
    async fn queue_connection(&self) -> Result<Option<Arc<Direct>>> {
        match &self.file {
            Some(path) => Ok(Some(self.queue.get(path).await?)),
            None => Ok(None),
        }
    }

    /// Claims the head of a queue (marks it `sending` at `now`), taking the writers'
    /// turn: a claim that found the lock held by an outcome recording would sleep in
    /// SQLite's busy handler (1, 2, 5, 10 ms…) instead of starting the moment it commits.
    pub(super) async fn claim_rows(
        &self,
        claim: Claim,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>> {
        let _turn = self.turn.lock().await;
        let now = time_text(now);
        let mut rows = match self.queue_connection().await? {
            Some(direct) => direct.run(move |c| claim_direct(c, &claim, &now)).await?,
            None => self.claim_through_pool(&claim, &now).await?,
        };
        rows.sort_unstable_by_key(|d| d.id);
        Ok(rows)
    }

    /// The in-memory database's way: the same statements through the pool.
    async fn claim_through_pool(&self, claim: &Claim, now: &str) -> Result<Vec<PendingDelivery>> {
        let params = claim.params();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows: Vec<Claimed<String>> =
            fetch_json_array(&mut *tx, &claim.select(CLAIM_JSON), arguments(&params)?).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut marked = vec![SqlValue::Text(now.into())];
        marked.extend(params);
        sqlx::query_with(&claim.mark(), arguments(&marked)?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter()
            .map(|(id, recipient_id, address, given_name, nonce)| {
                let nonce = hex::decode(nonce)
                    .map_err(|_| corrupt("delivery link nonce", id, "not hex".into()))?;
                rows::pending_delivery(id, recipient_id, address, given_name, nonce)
            })
            .collect()
    }

    /// Records `outcomes` in one transaction, taking the writers' turn.
    pub(super) async fn record_outcome_rows(
        &self,
        outcomes: &[DeliveryOutcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.turn.lock().await;
        let now = time_text(now);
        match self.queue_connection().await? {
            Some(direct) => {
                let outcomes = outcomes.to_vec();
                direct.run(move |c| record_direct(c, &outcomes, &now)).await
            }
            None => self.record_through_pool(outcomes, &now).await,
        }
    }

    /// The in-memory database's way: the same statement through the pool.
    async fn record_through_pool(&self, outcomes: &[DeliveryOutcome], now: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for o in outcomes {
            let b = Bound::of(o);
            sqlx::query(UPDATE_OUTCOME)
                .bind(b.status)
                .bind(b.provider_id)
                .bind(b.reason)
                .bind(b.attempts)
                .bind(b.maybe_duplicate)
                .bind(b.transient)
                .bind(b.segments)
                .bind(b.unit_price)
                .bind(b.cost)
                .bind(now)
                .bind(o.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// Steps [`UPDATE_OUTCOME`] once per outcome, in one immediate transaction.
fn record_direct(
    conn: &mut rusqlite::Connection,
    outcomes: &[DeliveryOutcome],
    now: &str,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut update = tx.prepare_cached(UPDATE_OUTCOME)?;
        for o in outcomes {
            let b = Bound::of(o);
            update.execute(rusqlite::params![
                b.status,
                b.provider_id,
                b.reason,
                b.attempts,
                b.maybe_duplicate,
                b.transient,
                b.segments,
                b.unit_price,
                b.cost,
                now,
                o.id,
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Reads and marks the head of `claim`'s queue in one immediate transaction.
fn claim_direct(
    conn: &mut rusqlite::Connection,
    claim: &Claim,
    now: &str,
) -> Result<Vec<PendingDelivery>> {
    let params: Vec<rusqlite::types::Value> = claim.params().iter().map(value).collect();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let rows = {
        let mut select = tx.prepare_cached(&claim.select(CLAIM_COLUMNS))?;
        let rows = select
            .query_map(rusqlite::params_from_iter(&params), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<Claimed<Vec<u8>>>>>()?;
        if !rows.is_empty() {
            let now = rusqlite::types::Value::Text(now.into());
            let marked = std::iter::once(now).chain(params);
            tx.prepare_cached(&claim.mark())?
                .execute(rusqlite::params_from_iter(marked))?;
        }
        rows
    };
    tx.commit()?;
    rows.into_iter()
        .map(|(id, recipient_id, address, given_name, nonce)| {
            rows::pending_delivery(id, recipient_id, address, given_name, nonce)
        })
        .collect()
}
