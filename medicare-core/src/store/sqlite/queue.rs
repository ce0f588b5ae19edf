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
//! **Together.** A send runs two claimers and two recorders, one of each per channel, and
//! they often wait for the writers' turn at the same time. Each queues its work before it
//! waits; whichever gets the turn first runs everything queued by then in one
//! transaction, each piece in a savepoint of its own (a piece that fails undoes only its
//! own changes), and hands each its result once the transaction has committed. Fewer
//! commits write each page to the log fewer times: a 112,500-recipient send took
//! 1.59–1.64 s instead of 1.76–1.77 s (bench runs alternating on one machine).
//!
//! An in-memory database has only the pool's one connection: there the same statements
//! run through sqlx (claims read in one JSON value, see [`fetch_json_array`]).

use super::direct::{stopped, Direct};
use super::{arguments, fetch_json_array, SqliteStore};
use crate::campaign::{CampaignId, DeliveryOutcome, DeliveryStatus, PendingDelivery, Shard};
use crate::error::{Error, Result};
use crate::group_commit::GroupCommit;
use crate::notify::Channel;
use crate::sql::SqlValue;
use crate::store::rows::{self, corrupt};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{ToSqlOutput, ValueRef};
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

    /// The same values as rusqlite's, for [`UPDATE_OUTCOME`]'s first nine parameters.
    fn values(&self) -> [ValueRef<'a>; 9] {
        let text = |t: Option<&'a str>| t.map_or(ValueRef::Null, |t| ValueRef::Text(t.as_bytes()));
        let int = |i: Option<i64>| i.map_or(ValueRef::Null, ValueRef::Integer);
        [
            ValueRef::Text(self.status.as_bytes()),
            text(self.provider_id),
            text(self.reason),
            ValueRef::Integer(self.attempts),
            ValueRef::Integer(self.maybe_duplicate),
            ValueRef::Integer(self.transient),
            int(self.segments),
            int(self.unit_price),
            int(self.cost),
        ]
    }
}

/// The connection a send claims and records on: opened on the first send, closed with
/// the store.
#[derive(Default)]
pub(super) struct QueueConnection {
    slot: tokio::sync::Mutex<Slot>,
    /// Claims and recordings waiting for a transaction (see the module's "Together").
    together: GroupCommit<Piece, Answer>,
}

/// One caller's piece of a queue transaction.
enum Piece {
    /// Claim the head of a queue at the time given.
    Claim(Claim, String),
    /// Record outcomes at the time given.
    Record(Vec<DeliveryOutcome>, String),
}

/// A piece's result: the deliveries it claimed (a recording claims none).
type Answer = Result<Vec<PendingDelivery>>;

impl Piece {
    /// Does the piece's work on `conn`, inside the caller's transaction.
    fn run(&self, conn: &rusqlite::Connection) -> Answer {
        match self {
            Piece::Claim(claim, now) => claim_direct(conn, claim, now),
            Piece::Record(outcomes, now) => {
                record_direct(conn, outcomes, now)?;
                Ok(Vec::new())
            }
        }
    }
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
    pub(super) async fn queue_connection(&self) -> Result<Option<Arc<Direct>>> {
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
        let now = time_text(now);
        let mut rows = match self.queue_connection().await? {
            Some(direct) => self.together(direct, Piece::Claim(claim, now)).await?,
            None => {
                let _turn = self.turn.lock().await;
                self.claim_through_pool(&claim, &now).await?
            }
        };
        rows.sort_unstable_by_key(|d| d.id);
        Ok(rows)
    }

    /// Runs `piece` in the next queue transaction on `direct`: whichever caller gets to
    /// write first takes every piece waiting, and writes them with the writers' turn.
    async fn together(&self, direct: Arc<Direct>, piece: Piece) -> Answer {
        let turn = self.turn.clone();
        self.queue
            .together
            .write(piece, move |pieces| async move {
                let count = pieces.len();
                let _turn = turn.lock().await;
                direct
                    .run(move |c| Ok(run_together(c, pieces)))
                    .await
                    .unwrap_or_else(|_| (0..count).map(|_| Err(stopped())).collect())
            })
            .await
            .unwrap_or_else(|| Err(stopped()))
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
        let now = time_text(now);
        match self.queue_connection().await? {
            Some(direct) => {
                let piece = Piece::Record(outcomes.to_vec(), now);
                self.together(direct, piece).await.map(drop)
            }
            None => {
                let _turn = self.turn.lock().await;
                self.record_through_pool(outcomes, &now).await
            }
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

/// Runs `pieces` in one immediate transaction, each in a savepoint of its own; their
/// answers, in order, once the transaction has committed (each the commit's failure if
/// it did not).
fn run_together(conn: &mut rusqlite::Connection, pieces: Vec<Piece>) -> Vec<Answer> {
    let count = pieces.len();
    let mut answers = Vec::with_capacity(count);
    let commit = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .and_then(|mut tx| {
            for piece in &pieces {
                answers.push(in_savepoint(&mut tx, |sp| piece.run(sp)));
            }
            tx.commit()
        });
    match commit {
        Ok(()) => answers,
        Err(e) => (0..count).map(|_| Err(same(&e))).collect(),
    }
}

/// `e` again, for each of the pieces a failed commit fails.
fn same(e: &rusqlite::Error) -> Error {
    let copy = match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    };
    Error::from(copy)
}

/// Runs `work` in a savepoint of `tx`: kept if it succeeds, undone if it fails.
fn in_savepoint<T>(
    tx: &mut rusqlite::Transaction<'_>,
    work: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<T> {
    let sp = tx.savepoint()?;
    let result = work(&sp)?;
    sp.commit()?;
    Ok(result)
}

/// Steps [`UPDATE_OUTCOME`] once per outcome. SQLite keeps a statement's bound values
/// from one step to the next, so each outcome binds only the values that differ from
/// the one before it (most outcomes of a batch differ only in the id and the provider's
/// message id).
fn record_direct(
    conn: &rusqlite::Connection,
    outcomes: &[DeliveryOutcome],
    now: &str,
) -> Result<()> {
    let mut update = conn.prepare_cached(UPDATE_OUTCOME)?;
    update.raw_bind_parameter(10, now)?;
    let mut before: Option<[ValueRef<'_>; 9]> = None;
    for o in outcomes {
        let values = Bound::of(o).values();
        for (i, value) in values.iter().enumerate() {
            if before.is_none_or(|b| b[i] != *value) {
                update.raw_bind_parameter(i + 1, ToSqlOutput::Borrowed(*value))?;
            }
        }
        update.raw_bind_parameter(11, o.id)?;
        update.raw_execute()?;
        before = Some(values);
    }
    Ok(())
}

/// Reads and marks the head of `claim`'s queue.
fn claim_direct(
    conn: &rusqlite::Connection,
    claim: &Claim,
    now: &str,
) -> Result<Vec<PendingDelivery>> {
    let params: Vec<rusqlite::types::Value> = claim.params().iter().map(value).collect();
    let rows = {
        let mut select = conn.prepare_cached(&claim.select(CLAIM_COLUMNS))?;
        let rows = select
            .query_map(rusqlite::params_from_iter(&params), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<Vec<Claimed<Vec<u8>>>>>()?;
        if !rows.is_empty() {
            let now = rusqlite::types::Value::Text(now.into());
            let marked = std::iter::once(now).chain(params);
            conn.prepare_cached(&claim.mark())?
                .execute(rusqlite::params_from_iter(marked))?;
        }
        rows
    };
    rows.into_iter()
        .map(|(id, recipient_id, address, given_name, nonce)| {
            rows::pending_delivery(id, recipient_id, address, given_name, nonce)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Queue work run together: each piece in its own savepoint, each caller its own
    //! answer.
    use super::*;
    use crate::campaign::CampaignRequest;
    use crate::store::Close;
    use crate::test_support;
    use chrono::TimeZone;

    /// A file store holding a draft campaign over 50 generated patients, with its queue's
    /// connection open.
    async fn draft() -> (tempfile::TempDir, SqliteStore, CampaignId, Arc<Direct>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let engine = test_support::engine(Arc::new(store.clone()), dir.path(), now);
        let form = test_support::patients_and_demo_form(&engine, 50, 3).await;
        let all = Arc::new(crate::filter::Filter::parse("all").unwrap());
        let id = engine
            .create_campaign(&CampaignRequest::new("together", form.id, all))
            .await
            .unwrap();
        let direct = store.queue_connection().await.unwrap().unwrap();
        (dir, store, id, direct)
    }

    fn claim(campaign: CampaignId, limit: u32) -> Claim {
        Claim {
            campaign,
            channel: Channel::Sms,
            round: 0,
            shard: None,
            limit,
        }
    }

    fn sent(id: i64, detail: &str) -> DeliveryOutcome {
        DeliveryOutcome {
            id,
            status: DeliveryStatus::Sent,
            detail: detail.into(),
            attempts: 1,
            may_duplicate: false,
            transient: false,
            cost: None,
        }
    }

    /// Claims `n` SMS deliveries of `campaign`; their ids.
    async fn claimed(store: &SqliteStore, campaign: CampaignId, n: u32) -> Vec<i64> {
        let rows = store
            .claim_rows(claim(campaign, n), Utc::now())
            .await
            .unwrap();
        assert_eq!(rows.len(), n as usize);
        rows.iter().map(|d| d.id).collect()
    }

    /// Runs `sql` on the queue's own connection (temporary triggers are its alone).
    async fn on_queue(direct: &Direct, sql: &'static str) {
        direct
            .run(move |c| Ok(c.execute_batch(sql)?))
            .await
            .unwrap();
    }

    /// Runs `pieces` in one transaction on the queue's connection; their answers.
    async fn together_on(direct: &Direct, pieces: Vec<Piece>) -> Vec<Answer> {
        direct
            .run(move |c| Ok(run_together(c, pieces)))
            .await
            .unwrap()
    }

    /// The SMS deliveries of `campaign` with `status`, by id.
    async fn with_status(store: &SqliteStore, campaign: CampaignId, status: &str) -> Vec<i64> {
        sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE campaign_id = ? AND channel = 'sms' AND status = ? \
             ORDER BY id",
        )
        .bind(campaign.0)
        .bind(status)
        .fetch_all(store.pool())
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_failing_piece_undoes_only_itself_and_each_caller_gets_its_own_answer() {
        let (_dir, store, id, direct) = draft().await;
        let now = time_text(Utc::now());
        let ids = claimed(&store, id, 10).await;
        // This connection refuses one provider id: the second recording fails midway.
        on_queue(
            &direct,
            "CREATE TEMP TRIGGER refuse BEFORE UPDATE ON main.deliveries \
                 WHEN NEW.provider_id = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await;

        let pieces = vec![
            Piece::Record(
                ids[..5].iter().map(|&d| sent(d, "ok")).collect(),
                now.clone(),
            ),
            Piece::Record(
                vec![sent(ids[5], "ok"), sent(ids[6], "refused")],
                now.clone(),
            ),
            Piece::Claim(claim(id, 5), now),
        ];
        let mut answers = together_on(&direct, pieces).await.into_iter();
        assert!(answers.next().unwrap().unwrap().is_empty());
        let refusal = answers.next().unwrap().unwrap_err().to_string();
        assert!(refusal.contains("refused"), "{refusal}");
        let second = answers.next().unwrap().unwrap();
        assert_eq!(second.len(), 5);
        assert!(
            second.iter().all(|d| d.id > ids[9]),
            "the claim took the next head"
        );

        assert_eq!(with_status(&store, id, "sent").await, ids[..5]);
        // The refused recording is undone whole: its first outcome too.
        let mut sending = ids[5..].to_vec();
        sending.extend(second.iter().map(|d| d.id));
        assert_eq!(with_status(&store, id, "sending").await, sending);
        store.close().await;
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_piece_and_keeps_none() {
        let (_dir, store, id, direct) = draft().await;
        let now = time_text(Utc::now());
        let ids = claimed(&store, id, 10).await;
        // One provider id writes a row whose deferred foreign key never holds: every
        // piece succeeds, and the commit fails.
        on_queue(
            &direct,
            "PRAGMA foreign_keys = ON; \
                 CREATE TABLE orphans (recipient_id INTEGER \
                   REFERENCES recipients (id) DEFERRABLE INITIALLY DEFERRED); \
                 CREATE TEMP TRIGGER orphan AFTER UPDATE ON main.deliveries \
                 WHEN NEW.provider_id = 'orphan' \
                 BEGIN INSERT INTO orphans VALUES (-1); END",
        )
        .await;
        let pieces = vec![
            Piece::Record(
                ids[..3].iter().map(|&d| sent(d, "ok")).collect(),
                now.clone(),
            ),
            Piece::Record(vec![sent(ids[3], "orphan")], now.clone()),
            Piece::Claim(claim(id, 5), now),
        ];
        let answers = together_on(&direct, pieces).await;
        assert_eq!(answers.len(), 3);
        for answer in answers {
            let failure = answer.unwrap_err().to_string();
            assert!(failure.contains("FOREIGN KEY"), "{failure}");
        }
        assert!(with_status(&store, id, "sent").await.is_empty());
        assert_eq!(with_status(&store, id, "sending").await, ids);
        // The failed transaction ended: the connection claims again.
        let next = store.claim_rows(claim(id, 5), Utc::now()).await.unwrap();
        assert!(next.len() == 5 && next.iter().all(|d| d.id > ids[9]));
        store.close().await;
    }

    #[tokio::test]
    async fn claims_and_recordings_queued_at_once_all_commit() {
        let (_dir, store, id, _direct) = draft().await;
        let pending = with_status(&store, id, "pending").await.len();
        // Eight claimers at once: whichever gets the turn runs what the others queued.
        let claims =
            futures::future::join_all((0..8).map(|_| store.claim_rows(claim(id, 4), Utc::now())))
                .await;
        let mut claimed: Vec<i64> = claims
            .into_iter()
            .flat_map(|c| c.unwrap().into_iter().map(|d| d.id))
            .collect();
        claimed.sort_unstable();
        claimed.dedup();
        assert_eq!(claimed.len(), 32.min(pending), "no two claims overlap");
        let outcomes: Vec<DeliveryOutcome> = claimed.iter().map(|&d| sent(d, "ok")).collect();
        futures::future::join_all(
            outcomes
                .chunks(4)
                .map(|group| store.record_outcome_rows(group, Utc::now())),
        )
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
        assert_eq!(with_status(&store, id, "sent").await, claimed);
        assert!(with_status(&store, id, "sending").await.is_empty());
        store.close().await;
    }

    /// Outcomes of one batch bind only what changed from the one before: each row still
    /// ends with exactly its own values, none carried over from its neighbour.
    #[tokio::test]
    async fn each_outcome_of_a_batch_keeps_its_own_values() {
        let (_dir, store, id, _direct) = draft().await;
        let ids = claimed(&store, id, 6).await;
        let failed = |d: i64, why: &str, transient: bool| DeliveryOutcome {
            status: DeliveryStatus::Failed,
            transient,
            ..sent(d, why)
        };
        let outcomes = vec![
            DeliveryOutcome {
                may_duplicate: true,
                attempts: 3,
                ..sent(ids[0], "m-0")
            },
            sent(ids[1], "m-1"),
            failed(ids[2], "throttled", true),
            failed(ids[3], "invalid number", false),
            sent(ids[4], "m-4"),
            sent(ids[5], "m-4"),
        ];
        store
            .record_outcome_rows(&outcomes, Utc::now())
            .await
            .unwrap();
        type Stored = (String, Option<String>, Option<String>, i64, i64, i64);
        let stored: Vec<Stored> = sqlx::query_as(
            "SELECT status, provider_id, reason, attempts, maybe_duplicate, transient \
             FROM deliveries WHERE id BETWEEN ? AND ? AND status IN ('sent', 'failed') ORDER BY id",
        )
        .bind(ids[0])
        .bind(ids[5])
        .fetch_all(store.pool())
        .await
        .unwrap();
        let row = |status: &str, provider: Option<&str>, reason: Option<&str>, a, m, t| {
            let text = |s: Option<&str>| s.map(str::to_string);
            (status.to_string(), text(provider), text(reason), a, m, t)
        };
        assert_eq!(
            stored,
            vec![
                row("sent", Some("m-0"), None, 3, 1, 0),
                row("sent", Some("m-1"), None, 1, 0, 0),
                row("failed", None, Some("throttled"), 1, 0, 1),
                row("failed", None, Some("invalid number"), 1, 0, 0),
                row("sent", Some("m-4"), None, 1, 0, 0),
                row("sent", Some("m-4"), None, 1, 0, 0),
            ]
        );
    }
}
