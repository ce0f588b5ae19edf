//! Recording a send's outcomes: one prepared single-row `UPDATE` per delivery, stepped on
//! a connection of the store's own ([`Direct`]) when the database is a file.
//!
//! Every outcome sets values of its own (the provider's message id above all), so a batch
//! cannot be one plain `UPDATE`. As one `UPDATE … FROM (VALUES …)` per 1,000 outcomes
//! through sqlx, SQLite first materialised the values, then the join, and sqlx bound each
//! of the 10,000 values on its way to the connection's thread: recording a 112,500
//! recipient send took four times the rows' own update. A prepared statement stepped once
//! per row, on a thread that binds straight from the outcomes, costs little more than the
//! update itself. An in-memory database has only the pool's one connection: there the
//! same statement runs through sqlx, row by row, in one transaction.

use super::direct::Direct;
use super::SqliteStore;
use crate::campaign::{DeliveryOutcome, DeliveryStatus};
use crate::error::{Error, Result};
use crate::store::rows;
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

/// The connection outcomes are recorded on: opened on the first send, closed with the
/// store.
#[derive(Default)]
pub(super) struct OutcomeConnection {
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

impl std::fmt::Debug for OutcomeConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutcomeConnection")
    }
}

impl OutcomeConnection {
    /// The connection to the database file at `path`, opened if it is not yet.
    async fn get(&self, path: &std::path::Path) -> Result<Arc<Direct>> {
        let mut slot = self.slot.lock().await;
        match &*slot {
            Slot::Open(direct) => Ok(direct.clone()),
            Slot::Closed => Err(Error::Conflict("the SQLite store is closed".into())),
            Slot::Unopened => {
                let direct = Direct::open(PathBuf::from(path), "sqlite-outcomes").await?;
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

    /// Closes the connection (after the recording in progress, if any) for good.
    pub(super) async fn close(&self) {
        *self.slot.lock().await = Slot::Closed;
    }
}

impl SqliteStore {
    /// Records `outcomes` in one transaction, taking the writers' turn.
    pub(super) async fn record_outcome_rows(
        &self,
        outcomes: &[DeliveryOutcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let _turn = self.turn.lock().await;
        // As sqlx writes a time, once for both ways.
        let now = now.to_rfc3339_opts(SecondsFormat::AutoSi, false);
        match &self.file {
            Some(path) => {
                let direct = self.outcomes.get(path).await?;
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
