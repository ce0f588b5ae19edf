//! The audit ledger in SQL: the [`AuditStore`] of every backend, and [`append_all_in`], which
//! appends events inside the transaction of the action they record.
//!
//! The statements are the same on SQLite, PostgreSQL and MySQL bar the placeholders and
//! the spelling of one upsert. An append first moves the single-row chain head (the
//! upsert: `seq = seq + 1`, or the row at seq 1 for the first event; a new database has
//! no head row, so a restore can bring its own): that takes the head's row lock
//! (SQLite: the database's write lock), so appends from concurrent transactions take
//! their turn, each sees the head its predecessor
//! committed, and `seq` stays gapless (a rolled-back append rolls its seq back too). It
//! then reads the head, writes the event chained on the head's hash and moves the head's
//! hash on. Each backend folder's `audit.rs` implements the trait by forwarding to these
//! statements (`store::forward::shared_core!`).
//!
//! [`AuditStore`]: crate::audit::AuditStore

use super::rows::{corrupt, ReadRow};
use super::shared::Shared;
use crate::audit::{chain, Action, Actor, AuditEvent, Detail, LedgerEntry, Outcome, Target};
use crate::error::Result;
use crate::sql::Dialect;
use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

/// The columns [`entry`] reads, in order.
const ENTRY_COLUMNS: &str =
    "seq, at, actor, action, target, outcome, detail, request_id, prev_hash, hash";

/// A 32-byte hash column of entry `seq`.
fn hash32<R: ReadRow>(r: &R, i: usize, seq: i64) -> Result<[u8; 32]> {
    r.bytes(i)?
        .try_into()
        .map_err(|_| corrupt("audit entry", seq, "hash of the wrong length".into()))
}

/// An entry from [`ENTRY_COLUMNS`].
fn entry<R: ReadRow>(r: &R) -> Result<LedgerEntry> {
    let seq = r.int(0)?;
    Ok(LedgerEntry {
        seq,
        at: r.time(1)?,
        actor: r.text(2)?,
        action: r.text(3)?,
        target: r.text(4)?,
        outcome: r.text(5)?,
        detail: r.text(6)?,
        request_id: r.text(7)?,
        prev_hash: hash32(r, 8, seq)?,
        hash: hash32(r, 9, seq)?,
    })
}

/// Ledger rows one multi-row insert writes at most (10 bound values each).
const ENTRIES_PER_STATEMENT: usize = 500;

/// Writes `entries` as they are (the chain head is the caller's business), a few
/// hundred rows per statement.
pub(crate) async fn insert_entries<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    entries: &[LedgerEntry],
) -> Result<()>
where
    DB: Database,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    for chunk in entries.chunks(ENTRIES_PER_STATEMENT) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", dialect.placeholders(1 + 10 * i, 10)))
            .collect();
        let insert = format!(
            "INSERT INTO audit_events ({ENTRY_COLUMNS}) VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&insert);
        for entry in chunk {
            query = query
                .bind(entry.seq)
                .bind(entry.at)
                .bind(entry.actor.as_str())
                .bind(entry.action.as_str())
                .bind(entry.target.as_str())
                .bind(entry.outcome.as_str())
                .bind(entry.detail.as_str())
                .bind(entry.request_id.as_str())
                .bind(entry.prev_hash.as_slice())
                .bind(entry.hash.as_slice());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The one entry an append of one event wrote.
fn only(mut sealed: Vec<LedgerEntry>) -> Result<LedgerEntry> {
    sealed
        .pop()
        .ok_or_else(|| corrupt("audit entry", 0, "an append wrote nothing".into()))
}

/// Appends `events` in order, chained one on the other, inside the caller's open
/// transaction on `conn`: the head moves once for all of them (one turn, one read, a
/// multi-row insert, one move), so a group of events costs about what one does.
pub(crate) async fn append_all_in<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    events: &[AuditEvent],
) -> Result<Vec<LedgerEntry>>
where
    DB: Database,
    DB::Row: ReadRow,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    let Ok(count) = i64::try_from(events.len()) else {
        return Err(corrupt("audit entry", 0, "too many events at once".into()));
    };
    if count == 0 {
        return Ok(Vec::new());
    }
    // The head's seq becomes the last event's; its hash is still the one before the
    // first (a new ledger starts from the zero hash).
    let take_turn = match dialect {
        Dialect::Sqlite => format!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, {count}, zeroblob(32)) \
             ON CONFLICT (id) DO UPDATE SET seq = seq + {count}"
        ),
        Dialect::Postgres => format!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, {count}, decode(repeat('00', 32), 'hex')) \
             ON CONFLICT (id) DO UPDATE SET seq = audit_head.seq + {count}"
        ),
        Dialect::Mysql => format!(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, {count}, UNHEX(REPEAT('00', 32))) \
             ON DUPLICATE KEY UPDATE seq = seq + {count}"
        ),
    };
    let head = match dialect {
        // MySQL's upsert returns nothing: read the head it moved.
        Dialect::Mysql => {
            sqlx::query(&take_turn).execute(&mut *conn).await?;
            sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *conn)
                .await?
        }
        Dialect::Sqlite | Dialect::Postgres => {
            sqlx::query(&format!("{take_turn} RETURNING seq, hash"))
                .fetch_one(&mut *conn)
                .await?
        }
    };
    let last = head.int(0)?;
    let first = last - count + 1;
    let mut prev = hash32(&head, 1, first - 1)?;
    let mut sealed = Vec::with_capacity(events.len());
    for (seq, event) in (first..=last).zip(events) {
        let entry = chain::seal(event, seq, prev);
        prev = entry.hash;
        sealed.push(entry);
    }
    insert_entries::<DB>(conn, dialect, &sealed).await?;
    let move_head = format!(
        "UPDATE audit_head SET hash = {} WHERE id = 1",
        dialect.placeholder(1)
    );
    sqlx::query(&move_head)
        .bind(prev.as_slice())
        .execute(&mut *conn)
        .await?;
    for event in events {
        crate::metrics::audit_event(event.outcome);
    }
    Ok(sealed)
}

/// Appends, inside the caller's open transaction on `conn`, `action` on `target` by the
/// acting party of the current task ([`crate::audit::current`]), or by `actor` when
/// given (patients act by their link, whoever serves them; an operator signs in as
/// themself), keeping the scope's request id. Called last in the transaction, so the
/// chain head is locked only until its commit.
pub(crate) async fn record<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    actor: Option<Actor>,
    action: Action,
    target: Target,
    detail: Detail,
) -> Result<LedgerEntry>
where
    DB: Database,
    DB::Row: ReadRow,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    let what = (action, target, detail, Outcome::Ok);
    record_outcome::<DB>(conn, dialect, actor, what).await
}

/// [`record`] of an action with its outcome (a failed sign-in step is written, the
/// failure it counts with it): `(action, target, detail, outcome)`.
pub(crate) async fn record_outcome<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    actor: Option<Actor>,
    (action, target, detail, outcome): (Action, Target, Detail, Outcome),
) -> Result<LedgerEntry>
where
    DB: Database,
    DB::Row: ReadRow,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    let event = event_of(actor, (action, target, detail, outcome));
    let sealed = append_all_in::<DB>(conn, dialect, std::slice::from_ref(&event)).await?;
    only(sealed)
}

/// The event of `(action, target, detail, outcome)` now, by the acting party of the
/// current task, or by `actor` when given (see [`record`]).
pub(crate) fn event_of(
    actor: Option<Actor>,
    (action, target, detail, outcome): (Action, Target, Detail, Outcome),
) -> AuditEvent {
    let mut context = crate::audit::current();
    if let Some(actor) = actor {
        context = context.acted_by(actor);
    }
    context
        .event(Utc::now(), action, target, detail)
        .with_outcome(outcome)
}

impl<DB> Shared<'_, DB>
where
    DB: Database,
    DB::Row: ReadRow,
    for<'q> <DB as Database>::Arguments<'q>: IntoArguments<'q, DB> + Default,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> DateTime<Utc>: Encode<'q, DB> + Type<DB>,
{
    /// Appends `event` in a transaction of its own.
    pub async fn append_event(&self, event: &AuditEvent) -> Result<LedgerEntry> {
        let mut tx = self.pool.begin().await?;
        let entry =
            only(append_all_in::<DB>(&mut tx, self.dialect, std::slice::from_ref(event)).await?)?;
        tx.commit().await?;
        Ok(entry)
    }

    /// The chain head as the head row holds it (none yet: the genesis).
    pub async fn audit_head(&self) -> Result<(i64, [u8; 32])> {
        let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(self.pool)
            .await?;
        match head {
            None => Ok((0, chain::GENESIS)),
            Some(head) => {
                let seq = head.int(0)?;
                Ok((seq, hash32(&head, 1, seq)?))
            }
        }
    }

    /// Up to `limit` entries after `after`, in seq order.
    pub async fn audit_entries(&self, after: i64, limit: u32) -> Result<Vec<LedgerEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_events WHERE seq > {} ORDER BY seq LIMIT {}",
            self.dialect.placeholder(1),
            self.dialect.placeholder(2)
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool)
            .await?;
        rows.iter().map(entry).collect()
    }
}
