//! The embedded store: one SQLite file (or memory), the zero-configuration default.
//!
//! Bulk paths write multi-row statements inside one transaction (SQLite allows 32,766
//! bound values a statement), so a 112,500-patient campaign is a few hundred statements,
//! not a few hundred thousand. The delivery queue is claimed in immediate transactions
//! (`queue.rs`), so several senders, even in several processes, never claim the same row.

mod access;
mod audit;
mod cost;
mod counts;
mod direct;
mod queue;
mod reader;
mod snapshot;
mod writer;

use super::audit_sql::{append_all_in, record};
use super::rows;
use super::shared::{link_event, Shared, WriteTurn};
use super::{
    Audience, CampaignStore, DeliveryStore, DynPlanner, FollowUpStore, FormStore, LinkOpen,
    PatientStore, ResponseRow, ResponseStore, StoredForm, AUDIENCE_PAGE,
};
use crate::audit::{Action, Detail, Target};
use crate::campaign::{
    CampaignId, DeliveryCount, DeliveryOutcome, NewCampaign, NewRecipient, PatientContact,
    PendingDelivery, Shard,
};
use crate::error::{Error, Result};
use crate::filter::AnyFilter;
use crate::notify::Channel;
use crate::patient::{Patient, PatientId};
use crate::sql::{Dialect, SqlValue};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{
    Arguments, ConnectOptions, Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Rows a multi-row statement writes at most (SQLite binds at most 32,766 values).
const CHUNK: usize = 1_000;

/// How often closing the store tries to fold the write-ahead log into the file: for up
/// to a second in all. 50 ms was not always enough on a loaded 2-core machine (the
/// demo's CLI test found the log left once in CI), and the wait is spent only while a
/// connection is still closing.
const FOLD_ATTEMPTS: usize = 50;

/// The pause between two of those tries.
const FOLD_PAUSE: Duration = Duration::from_millis(20);

/// The page cache a campaign's creation writes with (24 MiB, in KiB).
const CREATE_CACHE: &str = "PRAGMA cache_size = -24576";

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file (`None`: the database is in memory).
    file: Option<PathBuf>,
    /// SQLite has one writer at a time, and a writer that finds the lock taken sleeps
    /// (1, 2, 5, 10 ms...) before it tries again. The store's busy writes (claims,
    /// outcomes, opens, answers, reminders) queue for this turn instead, and each starts
    /// as soon as the one before it ends.
    turn: Arc<WriteTurn>,
    /// The file's own connection for a send's claims and outcomes.
    queue: Arc<queue::QueueConnection>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(options, 4).await
    }

    /// Opens a `sqlite:` URL (`sqlite://medicare.db`, `sqlite::memory:`).
    pub async fn open_url(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|_| Error::Config("the database URL is not a valid sqlite: URL".into()))?
            .create_if_missing(true);
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::connect(options, if memory { 1 } else { 4 }).await
    }

    /// A private in-memory database (for tests).
    pub async fn memory() -> Result<Self> {
        Self::open_url("sqlite::memory:").await
    }

    async fn connect(options: SqliteConnectOptions, max: u32) -> Result<Self> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Bulk statements legitimately take seconds; sqlx would print each one (1,000
            // rows of placeholders) as a warning. Keep them for debug logs.
            .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1));
        let in_memory = max == 1;
        let file = (!in_memory).then(|| options.get_filename().to_path_buf());
        if !in_memory {
            create_private(options.get_filename())?;
            // Switching a new file to WAL and migrating it need the database to themselves:
            // do both on one connection before the pool opens several at once.
            let mut first = options.connect().await?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&mut first)
                .await?;
            first.close().await?;
        }
        // A connection to a local file does not go stale: no round trip to the
        // connection's thread to test it before every use.
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(max)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        if in_memory {
            // Each in-memory connection is its own database: migrate the pool's only one.
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        }
        Ok(SqliteStore {
            pool,
            file,
            turn: Arc::default(),
            queue: Arc::default(),
        })
    }

    /// The connection pool, for queries outside the traits (reports, checks, tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The statements SQLite runs like every backend.
    fn shared(&self) -> Shared<'_, Sqlite> {
        Shared {
            pool: &self.pool,
            dialect: Dialect::Sqlite,
            turn: Some(&self.turn),
        }
    }
}

#[async_trait]
impl super::Close for SqliteStore {
    async fn close(&self) {
        self.queue.close().await;
        self.shared().close().await;
        if let Some(path) = self.file.clone() {
            // The last connection to close folds the log into the file and removes it,
            // but connections closing at the same moment each see the other still open
            // and leave it. One more, alone, is surely the last: it reads the schema (a
            // connection that never read has not opened the log) and closes. A pool
            // connection reported closed can still be closing on its own thread for a
            // moment: while the log is there, the fold is tried again after a pause, a
            // few times (another process using the file keeps it, rightly). A failure
            // leaves the log for the next open to replay: nothing is lost.
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            // A try can also fail outright: a connection closing at the same moment holds
            // the file's lock while it checkpoints, and each sees the other open. Such a
            // failure is tried again like a log left behind; the last one is reported.
            let once = move || -> rusqlite::Result<()> {
                let conn = rusqlite::Connection::open_with_flags(
                    &path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
                )?;
                conn.busy_timeout(FOLD_PAUSE)?;
                conn.pragma_query_value(None, "schema_version", |r| r.get::<_, i64>(0))?;
                conn.close().map_err(|(_, e)| e)
            };
            let fold = move || -> rusqlite::Result<bool> {
                let mut last = Ok(false);
                for _ in 0..FOLD_ATTEMPTS {
                    last = once().map(|()| false);
                    if !Path::new(&wal).exists() {
                        return Ok(true);
                    }
                    std::thread::sleep(FOLD_PAUSE);
                }
                last
            };
            match tokio::task::spawn_blocking(fold).await {
                Ok(Ok(true)) | Err(_) => {}
                Ok(Ok(false)) => tracing::warn!(
                    "the SQLite write-ahead log was left beside the file: another connection has it open"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the SQLite write-ahead log was left beside the file");
                }
            }
        }
    }
}

/// Creates the database file, if it is missing, readable and writable by its owner only
/// (0600), whatever the umask: it holds patient data. SQLite gives the `-wal` and `-shm`
/// files it creates beside it the database file's permissions.
fn create_private(path: &Path) -> Result<()> {
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
    match file.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Binds compiled values, in order.
fn arguments(params: &[SqlValue]) -> Result<SqliteArguments<'_>> {
    rows::arguments::<Sqlite>(params)
}

/// Runs `sql`, which selects one JSON array (SQLite's `json_group_array`), and decodes
/// its items.
///
/// sqlx's SQLite driver hands every result row from its worker thread to the async side
/// one at a time: 3 to 7 µs a row on a 2-core machine, several seconds for a 112,500
/// recipient campaign. The same rows aggregated by SQLite into one JSON value cost well
/// under 1 µs a row, so the bulk reads (audiences, recipient ids, claimed batches) use
/// this; everything else reads rows normally.
async fn fetch_json_array<'e, T, E>(
    executor: E,
    sql: &str,
    args: SqliteArguments<'_>,
) -> Result<Vec<T>>
where
    T: serde::de::DeserializeOwned,
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let json: String = sqlx::query_scalar_with(sql, args)
        .fetch_one(executor)
        .await?;
    serde_json::from_str(&json)
        .map_err(|e| Error::database(sqlx::Error::Decode(format!("bulk read: {e}").into())))
}

/// The contacts `filter` selects on `today`, by id, read in bulk
/// ([`fetch_json_array`]): all of them, or the page of `limit` after patient `after`.
async fn contacts(
    conn: &mut SqliteConnection,
    filter: &AnyFilter,
    today: NaiveDate,
    page: Option<(i64, usize)>,
) -> Result<Vec<PatientContact>> {
    let mut predicate = filter.to_sql(Dialect::Sqlite, today);
    let page_sql = match page {
        Some((after, limit)) => {
            predicate.params.push(SqlValue::Int(after));
            predicate
                .params
                .push(SqlValue::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            " AND p.id > ? ORDER BY p.id LIMIT ?"
        }
        None => " ORDER BY p.id",
    };
    let sql = format!(
        "SELECT json_group_array(json_array(id, given_name, phone, email, sms_opt_out, email_opt_out)) \
         FROM (SELECT p.* FROM patients p WHERE ({}){page_sql})",
        predicate.sql
    );
    type Contact = (i64, String, Option<String>, Option<String>, i64, i64);
    let rows: Vec<Contact> =
        fetch_json_array(&mut *conn, &sql, arguments(&predicate.params)?).await?;
    Ok(rows
        .into_iter()
        .map(|(id, given_name, phone, email, sms, mail)| PatientContact {
            id: PatientId(id),
            given_name,
            phone,
            email,
            sms_opt_out: sms != 0,
            email_opt_out: mail != 0,
        })
        .collect())
}

/// Writes one page of campaign `id`'s recipients (patients `after` < id ≤ the page's
/// last, in order) and their planned deliveries.
async fn write_page(
    conn: &mut SqliteConnection,
    id: i64,
    after: i64,
    recipients: &[NewRecipient],
) -> Result<()> {
    let Some(last) = recipients.last() else {
        return Ok(());
    };
    execute_chunks(conn, recipients.chunks(CHUNK), |chunk| {
        rows::insert_recipients::<Sqlite>(Dialect::Sqlite, id, chunk)
    })
    .await?;
    // The page's new ids, keyed by patient, in one read (see `fetch_json_array`).
    let mut args = SqliteArguments::default();
    for value in [id, after, last.patient_id.0] {
        args.add(value)
            .map_err(|e| Error::database(sqlx::Error::Encode(e)))?;
    }
    let ids: HashMap<i64, i64> = fetch_json_array::<(i64, i64), _>(
        &mut *conn,
        "SELECT json_group_array(json_array(patient_id, id)) FROM recipients \
         WHERE campaign_id = ? AND patient_id > ? AND patient_id <= ?",
        args,
    )
    .await?
    .into_iter()
    .collect();
    let planned = rows::planned_deliveries(recipients, &ids)?;
    execute_chunks(conn, planned.chunks(CHUNK), |chunk| {
        rows::insert_deliveries::<Sqlite>(Dialect::Sqlite, id, chunk)
    })
    .await
}

/// Runs the statement `build` makes of each chunk, in order, building each while SQLite
/// runs the one before: the calling thread's share of a multi-row insert (the SQL and
/// its values) is then spent while SQLite's thread works, not while it waits.
async fn execute_chunks<'a, T: 'a>(
    conn: &mut SqliteConnection,
    mut chunks: impl Iterator<Item = &'a [T]>,
    build: impl Fn(&'a [T]) -> QueryBuilder<'a, Sqlite>,
) -> Result<()> {
    let mut next = chunks.next().map(&build);
    while let Some(mut statement) = next.take() {
        // In order: the statement goes to SQLite's thread before the next is built.
        let (done, following) = futures::join!(statement.build().execute(&mut *conn), async {
            chunks.next().map(&build)
        });
        done?;
        next = following;
    }
    Ok(())
}

#[async_trait]
impl PatientStore for SqliteStore {
    async fn insert_patients(&self, patients: &[Patient]) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        for chunk in patients.chunks(CHUNK) {
            let mut check = QueryBuilder::<Sqlite>::new(
                "SELECT external_id FROM patients WHERE external_id IN (",
            );
            let mut ids = check.separated(", ");
            for p in chunk {
                ids.push_bind(p.external_id.as_str());
            }
            check.push(") OR nhs_number IN (");
            let mut nhs = check.separated(", ");
            // `IN (NULL)` matches nothing: a chunk may hold no NHS number at all.
            nhs.push("NULL");
            for n in chunk.iter().filter_map(|p| p.nhs_number.as_ref()) {
                nhs.push_bind(n.as_str());
            }
            check.push(") LIMIT 5");
            let clashes: Vec<String> = check.build_query_scalar().fetch_all(&mut *tx).await?;
            if !clashes.is_empty() {
                return Err(Error::AlreadyExists {
                    what: format!(
                        "patient (external id or NHS number already stored; e.g. stored external ids {}); nothing was imported",
                        clashes.join(", ")
                    ),
                });
            }

            let now = Utc::now();
            let mut insert = rows::insert_patients::<Sqlite>(chunk, now);
            insert.build().execute(&mut *tx).await?;

            let codes: Vec<(&str, &str)> = chunk
                .iter()
                .flat_map(|p| {
                    p.conditions
                        .iter()
                        .map(move |c| (p.external_id.as_str(), c.as_str()))
                })
                .collect();
            for codes in codes.chunks(CHUNK) {
                let mut q = QueryBuilder::<Sqlite>::new(
                    "INSERT INTO patient_conditions (patient_id, code) SELECT p.id, v.column2 FROM (",
                );
                q.push_values(codes, |mut b, (id, code)| {
                    b.push_bind(*id).push_bind(*code);
                });
                q.push(") AS v JOIN patients p ON p.external_id = v.column1");
                q.build().execute(&mut *tx).await?;
            }
        }
        let detail = Detail::none().count("imported", patients.len() as u64);
        let (action, target) = (Action::PatientImport, Target::none());
        record::<Sqlite>(&mut tx, Dialect::Sqlite, None, action, target, detail).await?;
        tx.commit().await?;
        Ok(patients.len() as u64)
    }

    async fn matching_contacts(
        &self,
        filter: &AnyFilter,
        today: NaiveDate,
    ) -> Result<Vec<PatientContact>> {
        let mut conn = self.pool.acquire().await?;
        contacts(&mut conn, filter, today, None).await
    }

    crate::store::forward::shared_core!(upsert_patients, count_patients, all_patients);
}

#[async_trait]
impl FormStore for SqliteStore {
    crate::store::forward::shared_core!(create_form, form, form_by_name, forms);
}

#[async_trait]
impl CampaignStore for SqliteStore {
    async fn create_campaign<'p>(
        &self,
        campaign: &NewCampaign,
        audience: &Audience,
        planner: &mut DynPlanner<'p>,
    ) -> Result<CampaignId> {
        let mut conn = self.pool.acquire().await?;
        // The links' token hashes are random keys: each goes to a random page of their
        // unique index, which outgrows SQLite's default 2 MiB page cache long before a
        // million recipients. A larger cache for this write, and the connection's own
        // again after.
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query(CREATE_CACHE).execute(&mut *conn).await?;
        let created = self
            .create_campaign_on(&mut conn, campaign, audience, planner)
            .await;
        let reset = sqlx::query(&format!("PRAGMA cache_size = {cache}"))
            .execute(&mut *conn)
            .await;
        let id = created?;
        reset?;
        Ok(id)
    }

    crate::store::forward::shared_core!(campaign, campaigns, set_campaign_state, recipient_count);
}

impl SqliteStore {
    /// [`CampaignStore::create_campaign`] on `conn`, in one transaction.
    async fn create_campaign_on(
        &self,
        conn: &mut SqliteConnection,
        campaign: &NewCampaign,
        audience: &Audience,
        planner: &mut DynPlanner<'_>,
    ) -> Result<CampaignId> {
        let channels: Vec<&str> = campaign.channels.iter().map(|c| c.as_str()).collect();
        let messages = serde_json::to_string(&campaign.messages)
            .map_err(|e| Error::invalid("campaign messages", e.to_string()))?;
        let (strategy, budget, wave_hours, reach) = rows::campaign_plan(campaign)?;
        let mut tx = conn.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO campaigns (name, form_id, filter, channels, state, messages_json, link_expires_at, created_at, \
             strategy, budget_micros, second_wave_hours, reach_json) \
             VALUES (?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        .fetch_one(&mut *tx)
        .await?;

        // Each page is planned while SQLite writes the one before it: the page is read
        // first, then the write of the one before starts, and the planning (links
        // issued, SMS priced) runs while SQLite's thread inserts.
        let mut after = i64::MIN;
        // The page planned but not yet written: the patient id before it, its recipients.
        let mut unwritten: Option<(i64, Vec<NewRecipient>)> = None;
        loop {
            let page = contacts(
                &mut tx,
                audience.filter.as_ref(),
                audience.today,
                Some((after, AUDIENCE_PAGE)),
            )
            .await?;
            let last = page.last().map(|c| c.id.0);
            let planned = match (unwritten.take(), last) {
                (Some((before, recipients)), Some(_)) => {
                    // In order: the write sends its first statement before the planning
                    // takes the thread.
                    let (written, planned) =
                        futures::join!(write_page(&mut tx, id, before, &recipients), async {
                            planner.plan(page)
                        });
                    written?;
                    Some(planned?)
                }
                (Some((before, recipients)), None) => {
                    write_page(&mut tx, id, before, &recipients).await?;
                    None
                }
                (None, Some(_)) => Some(planner.plan(page)?),
                (None, None) => None,
            };
            let Some(last) = last else {
                break;
            };
            unwritten = planned.map(|recipients| (after, recipients));
            after = last;
        }
        self.shared()
            .campaign_created(&mut tx, campaign, CampaignId(id), planner)
            .await?;
        tx.commit().await?;
        Ok(CampaignId(id))
    }
}

#[async_trait]
impl DeliveryStore for SqliteStore {
    async fn claim_pending(
        &self,
        campaign: CampaignId,
        channel: Channel,
        round: i32,
        shard: Option<Shard>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>> {
        let claim = queue::Claim {
            campaign,
            channel,
            round,
            shard,
            limit,
        };
        self.claim_rows(claim, now).await
    }

    async fn record_outcomes(
        &self,
        outcomes: &[DeliveryOutcome],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.record_outcome_rows(outcomes, now).await
    }

    async fn requeue_in_flight(
        &self,
        campaign: CampaignId,
        round: i32,
        shard: Option<Shard>,
        claimed_before: Option<DateTime<Utc>>,
    ) -> Result<u64> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "UPDATE deliveries SET status = 'pending', maybe_duplicate = 1 \
             WHERE status = 'sending' AND campaign_id = ",
        );
        q.push_bind(campaign.0)
            .push(" AND round = ")
            .push_bind(round);
        if let Some(shard) = shard {
            q.push(" AND recipient_id % ")
                .push_bind(i64::from(shard.count()))
                .push(" = ")
                .push_bind(i64::from(shard.index()));
        }
        if let Some(before) = claimed_before {
            q.push(" AND updated_at <= ").push_bind(before);
        }
        let done = q.build().execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn delivery_counts(&self, campaign: CampaignId) -> Result<Vec<DeliveryCount>> {
        self.delivery_count_rows(campaign).await
    }

    crate::store::forward::shared_core!(queued, queued_rounds, retry_failed);
}

#[async_trait]
impl ResponseStore for SqliteStore {
    /// The shared core's open recording, in one statement: SQLite has one writer, so a
    /// group's rows need no lock order, and one `UPDATE … FROM` counts every open of the
    /// group (a recipient opened twice counts twice; their first open is the earliest).
    /// The form service records opens in groups, and each statement is a round trip to
    /// the connection's thread.
    async fn record_opens(&self, opens: &[LinkOpen]) -> Result<()> {
        if opens.is_empty() {
            return Ok(());
        }
        let mut opens = opens.to_vec();
        opens.sort_by_key(|o| (o.recipient_id, o.at));
        // Per recipient: how many opens, and the earliest (the list is in time order).
        let mut counted: Vec<(i64, i64, DateTime<Utc>)> = Vec::with_capacity(opens.len());
        for open in &opens {
            match counted.last_mut() {
                Some((id, n, _)) if *id == open.recipient_id => *n += 1,
                _ => counted.push((open.recipient_id, 1, open.at)),
            }
        }
        let _turn = self.turn.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut found = std::collections::HashSet::with_capacity(counted.len());
        for chunk in counted.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("WITH v(id, n, at) AS (");
            q.push_values(chunk, |mut b, (id, n, at)| {
                b.push_bind(*id).push_bind(*n).push_bind(*at);
            });
            q.push(
                ") UPDATE recipients SET open_count = open_count + v.n, \
                 first_opened_at = COALESCE(first_opened_at, v.at) \
                 FROM v WHERE recipients.id = v.id RETURNING recipients.id",
            );
            let ids: Vec<i64> = q.build_query_scalar().fetch_all(&mut *tx).await?;
            found.extend(ids);
        }
        let events: Vec<_> = opens
            .iter()
            .filter(|o| found.contains(&o.recipient_id))
            .map(|o| link_event(Action::LinkOpen, o.recipient_id, None))
            .collect();
        append_all_in::<Sqlite>(&mut tx, Dialect::Sqlite, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    crate::store::forward::shared_core!(link, submit_responses);
}

#[async_trait]
impl FollowUpStore for SqliteStore {
    async fn responses_by_day(&self, campaign: CampaignId) -> Result<Vec<(NaiveDate, u64)>> {
        let times: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT submitted_at FROM recipients WHERE campaign_id = ? AND submitted_at IS NOT NULL",
        )
        .bind(campaign.0)
        .fetch_all(&self.pool)
        .await?;
        let mut days = std::collections::BTreeMap::<NaiveDate, u64>::new();
        for t in times {
            *days.entry(t.date_naive()).or_default() += 1;
        }
        Ok(days.into_iter().collect())
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
        let q = |name: &str| Dialect::Sqlite.quote_ident(name);
        let columns: Vec<String> = form
            .spec
            .fields
            .iter()
            .map(|f| format!("CAST(t.{} AS TEXT)", q(&f.name)))
            .collect();
        let sql = format!(
            "SELECT r.id, r.submitted_at, r.patient_id{}{} FROM {} t JOIN recipients r ON r.id = t.{} \
             WHERE r.campaign_id = ? ORDER BY r.submitted_at, r.id",
            if columns.is_empty() { "" } else { ", " },
            columns.join(", "),
            q(&form.response_table),
            q("recipient_id"),
        );
        let rows = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(&self.pool)
            .await?;
        // Timestamps are text here: compare them as times, not as strings.
        let mut out = Vec::new();
        for r in &rows {
            let row = rows::response_row(r, form.spec.fields.len())?;
            if row.submitted_at >= from && row.submitted_at < to {
                out.push(row);
            }
        }
        Ok(out)
    }

    crate::store::forward::shared_core!(
        plan_reminder_round,
        suppress_responded,
        rounds,
        round_non_respondents,
        non_respondents,
        tracking_counts,
        recipient_tracking
    );
}

#[cfg(test)]
mod tests {
    //! The conformance suite, on a fresh in-memory database per check.
    use super::SqliteStore;
    use crate::store::conformance as c;

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                c::$name(&SqliteStore::memory().await.unwrap()).await;
            }
        )*};
    }

    /// A response that fails to be written leaves the link unspent: the spend and the
    /// row are one transaction.
    #[tokio::test]
    async fn a_failed_response_write_does_not_spend_the_link() {
        use crate::store::{FormStore, ResponseStore};
        let f = crate::test_support::Fixture::sent_campaign(10).await;
        let form = f.store.form(crate::campaign::FormId(1)).await.unwrap();
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON resp_1 BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(f.store.pool())
        .await
        .unwrap();
        let now = chrono::Utc::now();
        let err = f
            .store
            .submit_response(1, &form, &f.answers(), now)
            .await
            .unwrap_err();
        assert!(matches!(err, crate::Error::Database(_)), "{err}");
        assert_eq!(
            f.scalar("SELECT COUNT(*) FROM recipients WHERE submitted_at IS NOT NULL")
                .await,
            0
        );
        assert_eq!(f.scalar("SELECT COUNT(*) FROM resp_1").await, 0);
        sqlx::query("DROP TRIGGER refuse")
            .execute(f.store.pool())
            .await
            .unwrap();
        assert_eq!(
            f.store
                .submit_response(1, &form, &f.answers(), now)
                .await
                .unwrap(),
            crate::store::SubmitOutcome::Stored
        );
    }

    /// The database file and the `-wal` and `-shm` files beside it are created 0600
    /// under a permissive umask: they hold patient data.
    #[tokio::test]
    async fn database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let mut spec = c::sample_form();
        spec.name = "private".into();
        crate::store::FormStore::create_form(&store, &spec, "x", chrono::Utc::now())
            .await
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = dir.path().join(format!("private.db{suffix}"));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
        }
    }

    /// A closed store leaves the database one file, holding every write, even after
    /// several connections were in use; it refuses further work with an error.
    #[tokio::test]
    async fn closing_folds_the_write_ahead_log_into_the_file() {
        use crate::store::{Close, DeliveryStore, FormStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("closed.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let mut spec = c::sample_form();
        spec.name = "kept".into();
        store
            .create_form(&spec, "x", chrono::Utc::now())
            .await
            .unwrap();
        // Opens the connection outcomes are recorded on: closing closes it too.
        let now = chrono::Utc::now();
        DeliveryStore::record_outcomes(&store, &[], now)
            .await
            .unwrap();
        let reads = (0..8).map(|_| store.forms());
        for forms in futures::future::join_all(reads).await {
            assert_eq!(forms.unwrap().len(), 1);
        }
        assert!(dir.path().join("closed.db-wal").exists());
        store.close().await;
        for suffix in ["-wal", "-shm"] {
            let file = dir.path().join(format!("closed.db{suffix}"));
            assert!(!file.exists(), "{} is left", file.display());
        }
        assert!(store.forms().await.is_err());
        assert!(DeliveryStore::record_outcomes(&store, &[], now)
            .await
            .is_err());
        let reopened = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            reopened.form_by_name("kept").await.unwrap().spec.name,
            "kept"
        );
    }

    /// Two stores on one database file stand for two sending processes.
    #[tokio::test]
    async fn several_senders_deliver_every_message_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let mut stores: Vec<std::sync::Arc<dyn crate::store::Store>> = Vec::new();
        for _ in 0..3 {
            stores.push(std::sync::Arc::new(SqliteStore::open(&path).await.unwrap()));
        }
        c::several_senders_deliver_every_message_once(stores).await;
    }

    /// The cost suite (issue 15): the cap, concurrent capped senders on one file, the
    /// second wave.
    mod cost {
        use super::SqliteStore;
        use crate::store::cost_conformance as cost;
        use std::sync::Arc;

        #[tokio::test]
        async fn a_spend_cap_stops_at_the_right_message() {
            cost::a_spend_cap_stops_at_the_right_message(Arc::new(
                SqliteStore::memory().await.unwrap(),
            ))
            .await;
        }

        #[tokio::test]
        async fn email_first_second_wave_never_reaches_openers() {
            cost::email_first_second_wave_never_reaches_openers(Arc::new(
                SqliteStore::memory().await.unwrap(),
            ))
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn concurrent_senders_never_overspend() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("capped.db");
            let mut stores: Vec<Arc<dyn crate::store::Store>> = Vec::new();
            for _ in 0..3 {
                stores.push(Arc::new(SqliteStore::open(&path).await.unwrap()));
            }
            cost::concurrent_senders_never_overspend(stores).await;
        }
    }

    /// The workspace builds SQLite without its process-wide page-cache and memory
    /// statistics locks (`.cargo/config.toml`): a build that lost the flags fails here.
    #[tokio::test]
    async fn sqlite_is_built_without_its_process_wide_locks() {
        let store = SqliteStore::memory().await.unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
    }

    /// The conformance checks of the queue again on a database file, where claims,
    /// outcomes and delivery counts run on the store's own connection rather than
    /// through the pool as in memory (each test is the check's name with `_on_a_file`).
    macro_rules! on_a_file {
        ($($name:ident => $check:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                let dir = tempfile::tempdir().unwrap();
                let store = SqliteStore::open(&dir.path().join("queue.db"))
                    .await
                    .unwrap();
                c::$check(&store).await;
            }
        )*};
    }

    on_a_file!(
        the_delivery_queue_is_exactly_once_on_a_file => the_delivery_queue_is_exactly_once,
        shards_and_concurrent_claims_split_the_queue_on_a_file =>
            shards_and_concurrent_claims_split_the_queue,
        reminder_rounds_cover_exactly_the_non_respondents_on_a_file =>
            reminder_rounds_cover_exactly_the_non_respondents,
    );

    conformance!(
        shards_and_concurrent_claims_split_the_queue,
        patients_round_trip_and_import_is_atomic,
        filters_select_the_same_patients_as_in_memory,
        forms_are_stored_once,
        campaigns_are_created_page_by_page_or_not_at_all,
        the_delivery_queue_is_exactly_once,
        responses_are_stored_once_and_spend_the_link,
        reminder_rounds_cover_exactly_the_non_respondents,
    );
}
