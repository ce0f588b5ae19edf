//! The statements every SQL backend runs alike.
//!
//! Most of a store is the same SQL on every engine, bar the placeholders: looking up a
//! form or a campaign, spending a link, counting what a campaign did. [`Shared`] writes
//! those statements for a backend's [`Dialect`], runs them on its pool and decodes the
//! rows with [`super::rows`]; every backend's trait methods delegate to it and keep to
//! themselves only what really differs (bulk writes, the claim, engine-specific reads).

use super::audit_sql::{append_all_in, event_of, record};
use super::rows::{self, Affected, ReadRow};
use super::{
    Audience, DynPlanner, LinkOpen, LinkRecord, NonRespondent, RecipientTracking, RoundInfo,
    StoredForm, Submission, SubmitOutcome, TrackingCounts, AUDIENCE_PAGE,
};
use crate::audit::{Action, Actor, Detail, Outcome, Target, TargetKind};
use crate::campaign::{
    Campaign, CampaignId, CampaignState, DeliveryCount, FormId, NewCampaign, NewRecipient,
    PatientContact, RecipientPlanner,
};
use crate::error::{Error, Result};
use crate::filter::AnyFilter;
use crate::form::{insert_response, response_table_ddl, FormSpec};
use crate::link::TokenHash;
use crate::notify::Channel;
use crate::patient::{Patient, PatientId};
use crate::sql::{Dialect, SqlValue};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

/// A backend's pool and dialect, running the shared statements.
pub(crate) struct Shared<'p, DB: Database> {
    /// The backend's pool.
    pub pool: &'p Pool<DB>,
    /// The backend's SQL dialect.
    pub dialect: Dialect,
    /// The writers' turn, for a database with one writer at a time (SQLite): the busy
    /// writes take it before they begin, so they queue here instead of polling the
    /// database's lock.
    pub turn: Option<&'p WriteTurn>,
}

/// One writer at a time, queued in this process (see [`Shared::turn`]).
pub(crate) type WriteTurn = tokio::sync::Mutex<()>;

impl<'p, DB: Database> Shared<'p, DB> {
    /// Waits for the writers' turn, if the database has one: hold the guard until the
    /// write's transaction ends.
    pub async fn writing(&self) -> Option<tokio::sync::MutexGuard<'p, ()>> {
        match self.turn {
            Some(turn) => Some(turn.lock().await),
            None => None,
        }
    }

    /// Closes every connection of the pool ([`Close`](super::Close)). sqlx's own close
    /// can return while a connection that was just used is still on its way back to the
    /// pool (its return is a task of its own), which then stays open in a closed pool;
    /// closing again until none is left closes it too.
    pub async fn close(&self) {
        // Each round closes what came back during the one before: one or two suffice.
        for _ in 0..=MAX_POOL_ROUNDS {
            self.pool.close().await;
            if self.pool.size() == 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    }
}

/// Rounds [`Shared::close`] makes at most: a bound, never reached in practice.
const MAX_POOL_ROUNDS: usize = 64;

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

/// The ledger event of a patient's link at work: acted by the link, on its recipient
/// (and the form answered).
pub(crate) fn link_event(
    action: Action,
    recipient: i64,
    form: Option<FormId>,
) -> crate::audit::AuditEvent {
    let mut target = Target::none().with_id(TargetKind::Recipient, recipient);
    if let Some(form) = form {
        target = target.with_id(TargetKind::Form, form.0);
    }
    let what = (action, target, Detail::none(), Outcome::Ok);
    event_of(Some(Actor::PatientLink(recipient)), what)
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

    /// The contact details of every patient matching `filter` on `today`, by id
    /// (SQLite reads them in bulk its own way).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub async fn matching_contacts(
        &self,
        filter: &AnyFilter,
        today: NaiveDate,
    ) -> Result<Vec<PatientContact>> {
        let mut conn = self.pool.acquire().await?;
        self.contacts(&mut conn, filter, today, None).await
    }

    /// One page of the contacts `audience` selects: the first `limit` patients after
    /// patient `after`, by id, read on `conn` (the creating transaction).
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub async fn contacts_page(
        &self,
        conn: &mut DB::Connection,
        audience: &Audience,
        after: i64,
        limit: usize,
    ) -> Result<Vec<PatientContact>> {
        let page = Some((after, limit));
        self.contacts(conn, audience.filter.as_ref(), audience.today, page)
            .await
    }

    /// The contacts `filter` selects on `today`, by id: all of them, or the page of
    /// `limit` after patient `after`.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    async fn contacts(
        &self,
        conn: &mut DB::Connection,
        filter: &AnyFilter,
        today: NaiveDate,
        page: Option<(i64, usize)>,
    ) -> Result<Vec<PatientContact>> {
        let mut predicate = filter.to_sql(self.dialect, today);
        let mut sql = format!(
            "SELECT p.id, p.given_name, p.phone, p.email, p.sms_opt_out, p.email_opt_out \
             FROM patients p WHERE ({})",
            predicate.sql
        );
        if let Some((after, limit)) = page {
            let n = predicate.params.len();
            sql.push_str(&format!(
                " AND p.id > {} ORDER BY p.id LIMIT {}",
                self.p(n + 1),
                self.p(n + 2)
            ));
            predicate.params.push(SqlValue::Int(after));
            predicate
                .params
                .push(SqlValue::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
        } else {
            sql.push_str(" ORDER BY p.id");
        }
        let mut args = <DB as Database>::Arguments::default();
        rows::bind_values::<DB>(&mut args, &predicate.params)?;
        let found = sqlx::query_with(&sql, args).fetch_all(&mut *conn).await?;
        found
            .iter()
            .map(|r| {
                Ok(PatientContact {
                    id: PatientId(r.int(0)?),
                    given_name: r.text(1)?,
                    phone: r.opt_text(2)?,
                    email: r.opt_text(3)?,
                    sms_opt_out: r.flag(4)?,
                    email_opt_out: r.flag(5)?,
                })
            })
            .collect()
    }

    /// Writes new campaign `id`'s audience in `tx` (the creating transaction): reads the
    /// patients `audience` selects a page at a time, has `planner` plan each page and
    /// `write_page(conn, id, after, recipients)` store it before the next is read; then
    /// completes the campaign ([`Self::campaign_created`]) and commits.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub async fn write_audience<W>(
        &self,
        mut tx: sqlx::Transaction<'_, DB>,
        (campaign, id): (&NewCampaign, i64),
        audience: &Audience,
        planner: &mut DynPlanner<'_>,
        write_page: W,
    ) -> Result<CampaignId>
    where
        W: for<'c> Fn(
            &'c mut DB::Connection,
            i64,
            i64,
            &'c [NewRecipient],
        ) -> futures::future::BoxFuture<'c, Result<()>>,
    {
        let mut after = i64::MIN;
        loop {
            let page = self
                .contacts_page(&mut tx, audience, after, AUDIENCE_PAGE)
                .await?;
            let Some(last) = page.last().map(|c| c.id.0) else {
                break;
            };
            let recipients = planner.plan(page)?;
            write_page(&mut tx, id, after, &recipients).await?;
            after = last;
        }
        self.campaign_created(&mut tx, campaign, CampaignId(id), planner)
            .await?;
        tx.commit().await?;
        Ok(CampaignId(id))
    }

    /// Completes a campaign whose audience is written: stores the planner's totals
    /// (messages with their encoding surprises, reach) on its row and records its
    /// creation in the ledger, on `conn` (the creating transaction). Fails, leaving the
    /// transaction to be rolled back, when the planner does (an empty audience).
    pub async fn campaign_created(
        &self,
        conn: &mut DB::Connection,
        campaign: &NewCampaign,
        id: CampaignId,
        planner: &mut dyn RecipientPlanner,
    ) -> Result<()> {
        let totals = planner.finish()?;
        let (messages, reach) = rows::finished_campaign(&totals)?;
        let sql = format!(
            "UPDATE campaigns SET messages_json = {}, reach_json = {} WHERE id = {}",
            self.p(1),
            self.p(2),
            self.p(3)
        );
        sqlx::query(&sql)
            .bind(messages.as_str())
            .bind(reach.as_str())
            .bind(id.0)
            .execute(&mut *conn)
            .await?;
        let detail = Detail::none().count("recipients", totals.recipients);
        let target = Target::campaign(id).with_id(TargetKind::Form, campaign.form_id.0);
        record::<DB>(
            conn,
            self.dialect,
            None,
            Action::CampaignCreate,
            target,
            detail,
        )
        .await?;
        Ok(())
    }

    /// Every stored patient with its condition codes, by id; the codes are aggregated by
    /// the database (`codes`: its aggregate of `c.code` joined by `;`).
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub async fn all_patients(&self) -> Result<Vec<(PatientId, Patient)>> {
        let codes = match self.dialect {
            Dialect::Sqlite => "group_concat(c.code, ';')",
            Dialect::Postgres => "string_agg(c.code, ';')",
            Dialect::Mysql => "GROUP_CONCAT(c.code SEPARATOR ';')",
        };
        let sql = format!(
            "SELECT {}, (SELECT {codes} FROM patient_conditions c WHERE c.patient_id = p.id) \
             FROM patients p ORDER BY p.id",
            rows::PATIENT_COLUMNS
        );
        let found = sqlx::query(&sql).fetch_all(self.pool).await?;
        found
            .iter()
            .map(|r| {
                let codes = r.opt_text(12)?.unwrap_or_default();
                rows::patient(r, codes.split(';').filter(|c| !c.is_empty()))
            })
            .collect()
    }

    /// Stores a validated form and creates its response table in one transaction (for
    /// engines whose DDL is transactional: SQLite and PostgreSQL). A second form of the
    /// same name waits for this one's unique key, then clashes.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub async fn create_form(
        &self,
        spec: &FormSpec,
        page_location: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredForm> {
        spec.validate()?;
        let spec_json =
            serde_json::to_string(spec).map_err(|e| Error::invalid("form spec", e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        let insert = format!(
            "INSERT INTO forms (name, spec_json, response_table, page_location, created_at) \
             VALUES ({}, {}, '', {}, {}) ON CONFLICT (name) DO NOTHING RETURNING id",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4)
        );
        let inserted = sqlx::query(&insert)
            .bind(spec.name.as_str())
            .bind(spec_json.as_str())
            .bind(page_location)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = inserted else {
            return Err(Error::AlreadyExists {
                what: format!("form {:?}", spec.name),
            });
        };
        let id = row.int(0)?;
        let table = format!("resp_{id}");
        let name = format!(
            "UPDATE forms SET response_table = {} WHERE id = {}",
            self.p(1),
            self.p(2)
        );
        sqlx::query(&name)
            .bind(table.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for ddl in response_table_ddl(spec, &table, self.dialect)? {
            sqlx::query(&ddl).execute(&mut *tx).await?;
        }
        let fields = spec.fields.len() as u64;
        let detail = Detail::none().count("fields", fields);
        let target = Target::form(FormId(id));
        record::<DB>(
            &mut tx,
            self.dialect,
            None,
            Action::FormCreate,
            target,
            detail,
        )
        .await?;
        tx.commit().await?;
        self.form(FormId(id)).await
    }

    /// One transaction materialising reminder `round`: its non-respondents, and a
    /// delivery for each of their first-round deliveries (suppressed ones stay
    /// suppressed). Planning again inserts nothing twice. Returns the round's size.
    pub async fn plan_reminder_round(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        if round < 1 {
            return Err(Error::invalid("reminder round", "must be 1 or more"));
        }
        let _turn = self.writing().await;
        let mut tx = self.pool.begin().await?;
        let non_respondents = format!(
            "INSERT INTO non_respondents (campaign_id, round, recipient_id, patient_id, reason, created_at) \
             SELECT r.campaign_id, {0}, r.id, r.patient_id, \
             CASE WHEN r.first_opened_at IS NULL THEN 'not_opened' ELSE 'opened_not_submitted' END, {1} \
             FROM recipients r WHERE r.campaign_id = {2} AND r.submitted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM non_respondents n \
                             WHERE n.campaign_id = r.campaign_id AND n.round = {3} AND n.recipient_id = r.id) \
             ORDER BY r.id",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4)
        );
        sqlx::query(&non_respondents)
            .bind(round)
            .bind(now)
            .bind(campaign.0)
            .bind(round)
            .execute(&mut *tx)
            .await?;
        let deliveries = format!(
            "INSERT INTO deliveries (campaign_id, recipient_id, channel, round, status, reason, segments) \
             SELECT d.campaign_id, d.recipient_id, d.channel, n.round, \
             CASE WHEN d.status = 'suppressed' THEN 'suppressed' ELSE 'pending' END, \
             CASE WHEN d.status = 'suppressed' THEN d.reason END, d.segments \
             FROM non_respondents n JOIN deliveries d \
             ON d.campaign_id = n.campaign_id AND d.recipient_id = n.recipient_id AND d.round = 0 \
             WHERE n.campaign_id = {} AND n.round = {} \
             AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.campaign_id = d.campaign_id \
                             AND x.recipient_id = d.recipient_id AND x.channel = d.channel \
                             AND x.round = n.round) \
             ORDER BY d.id",
            self.p(1),
            self.p(2)
        );
        sqlx::query(&deliveries)
            .bind(campaign.0)
            .bind(round)
            .execute(&mut *tx)
            .await?;
        let size = format!(
            "SELECT COUNT(*) FROM non_respondents WHERE campaign_id = {} AND round = {}",
            self.p(1),
            self.p(2)
        );
        let n = sqlx::query(&size)
            .bind(campaign.0)
            .bind(round)
            .fetch_one(&mut *tx)
            .await?
            .int(0)?;
        let size = u64::try_from(n).unwrap_or_default();
        let detail = Detail::none()
            .count("round", u64::try_from(round).unwrap_or_default())
            .count("recipients", size);
        let target = Target::campaign(campaign);
        record::<DB>(
            &mut tx,
            self.dialect,
            None,
            Action::ReminderRound,
            target,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(size)
    }

    /// Suppresses the round's pending deliveries to recipients who have answered.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub async fn suppress_responded(
        &self,
        campaign: CampaignId,
        round: i32,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let sql = format!(
            "UPDATE deliveries SET status = 'suppressed', reason = 'responded', updated_at = {} \
             WHERE campaign_id = {} AND round = {} AND status = 'pending' AND recipient_id IN \
             (SELECT id FROM recipients WHERE campaign_id = {} AND submitted_at IS NOT NULL)",
            self.p(1),
            self.p(2),
            self.p(3),
            self.p(4)
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
        if !from.is_empty() {
            let mut tx = self.pool.begin().await?;
            if query.execute(&mut *tx).await?.affected() == 1 {
                let detail = Detail::none().word("state", to.as_str());
                let target = Target::campaign(id);
                record::<DB>(
                    &mut tx,
                    self.dialect,
                    None,
                    Action::CampaignStatus,
                    target,
                    detail,
                )
                .await?;
                tx.commit().await?;
                return Ok(());
            }
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
            "SELECT {0}, COUNT(*), {1}, {2} FROM deliveries WHERE campaign_id = {3} \
             GROUP BY {0} ORDER BY round, channel, status, reason",
            rows::DELIVERY_COUNT_COLUMNS,
            int_sum(self.dialect, "segments"),
            int_sum(
                self.dialect,
                "CASE WHEN status = 'sent' THEN maybe_duplicate ELSE 0 END"
            ),
            self.p(1)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?;
        let mut counts = found
            .iter()
            .map(|r| rows::delivery_count(r, campaign))
            .collect::<Result<Vec<_>>>()?;
        rows::sort_delivery_counts(&mut counts);
        Ok(counts)
    }

    /// The round's pending deliveries per channel.
    pub async fn queued(&self, campaign: CampaignId, round: i32) -> Result<Vec<(Channel, u64)>> {
        let sql = format!(
            "SELECT channel, COUNT(*) FROM deliveries WHERE campaign_id = {} AND round = {} \
             AND status = 'pending' GROUP BY channel ORDER BY channel",
            self.p(1),
            self.p(2)
        );
        let found = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(round)
            .fetch_all(self.pool)
            .await?;
        found.iter().map(|r| rows::queued(r, campaign)).collect()
    }

    /// The rounds with pending deliveries, in order.
    pub async fn queued_rounds(&self, campaign: CampaignId) -> Result<Vec<i32>> {
        let sql = format!(
            "SELECT DISTINCT round FROM deliveries WHERE campaign_id = {} \
             AND status = 'pending' ORDER BY round",
            self.p(1)
        );
        sqlx::query(&sql)
            .bind(campaign.0)
            .fetch_all(self.pool)
            .await?
            .iter()
            .map(|r| rows::round(r, 0))
            .collect()
    }

    /// Returns the campaign's failed deliveries whose failure was transient to the
    /// queue; permanent failures stay failed. Returns how many.
    pub async fn retry_failed(&self, campaign: CampaignId) -> Result<u64> {
        let sql = format!(
            "UPDATE deliveries SET status = 'pending', reason = NULL, transient = 0 \
             WHERE campaign_id = {} AND status = 'failed' AND transient = 1",
            self.p(1)
        );
        let done = sqlx::query(&sql)
            .bind(campaign.0)
            .execute(self.pool)
            .await?;
        Ok(done.affected())
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

    /// Counts each open (recording a recipient's first), with its ledger event, in one
    /// transaction. (SQLite writes a group in one statement of its own.)
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    pub async fn record_opens(&self, opens: &[LinkOpen]) -> Result<()> {
        if opens.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE recipients SET open_count = open_count + 1, \
             first_opened_at = COALESCE(first_opened_at, {}) WHERE id = {}",
            self.p(1),
            self.p(2)
        );
        // In recipient order, so two batches never lock the same rows in opposite orders.
        let mut opens = opens.to_vec();
        opens.sort_by_key(|o| (o.recipient_id, o.at));
        let _turn = self.writing().await;
        let mut tx = self.pool.begin().await?;
        let mut events = Vec::with_capacity(opens.len());
        for open in &opens {
            let opened = sqlx::query(&sql)
                .bind(open.at)
                .bind(open.recipient_id)
                .execute(&mut *tx)
                .await?;
            if opened.affected() == 1 {
                events.push(link_event(Action::LinkOpen, open.recipient_id, None));
            }
        }
        append_all_in::<DB>(&mut tx, self.dialect, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// In one transaction, each submission in turn: spends its link (only if it is not
    /// already) and writes its response row, with its ledger event. Spending first
    /// locks the recipient's row, so a racing submission waits, then finds the link
    /// spent; the response table's unique `recipient_id` is the second line. Rows are
    /// locked in recipient order (a recipient's own submissions keep theirs: the first
    /// is stored).
    pub async fn submit_responses(&self, submissions: &[Submission]) -> Result<Vec<SubmitOutcome>> {
        let mut outcomes = vec![SubmitOutcome::AlreadySubmitted; submissions.len()];
        if submissions.is_empty() {
            return Ok(outcomes);
        }
        let spend = format!(
            "UPDATE recipients SET submitted_at = {} WHERE id = {} AND submitted_at IS NULL",
            self.p(1),
            self.p(2)
        );
        let mut order: Vec<usize> = (0..submissions.len()).collect();
        order.sort_by_key(|&i| submissions[i].recipient_id);
        let mut events = Vec::with_capacity(submissions.len());
        let _turn = self.writing().await;
        let mut tx = self.pool.begin().await?;
        for i in order {
            let s = &submissions[i];
            let insert = insert_response(
                &s.form.spec,
                &s.form.response_table,
                self.dialect,
                s.recipient_id,
                s.at,
                &s.answers,
            )?;
            let mut args = <DB as Database>::Arguments::default();
            rows::bind_values::<DB>(&mut args, &insert.params)?;
            let spent = sqlx::query(&spend)
                .bind(s.at)
                .bind(s.recipient_id)
                .execute(&mut *tx)
                .await?;
            if spent.affected() == 0 {
                continue;
            }
            sqlx::query_with(&insert.sql, args)
                .execute(&mut *tx)
                .await?;
            events.push(link_event(
                Action::FormSubmit,
                s.recipient_id,
                Some(s.form.id),
            ));
            outcomes[i] = SubmitOutcome::Stored;
        }
        append_all_in::<DB>(&mut tx, self.dialect, &events).await?;
        tx.commit().await?;
        Ok(outcomes)
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

    /// The campaign's tracking figures: one pass over its recipients and one over its
    /// deliveries (a subquery per status scanned the deliveries five times).
    pub async fn tracking_counts(&self, campaign: CampaignId) -> Result<TrackingCounts> {
        let sum = |expr: &str| format!("COALESCE({}, 0)", int_sum(self.dialect, expr));
        let sql = format!(
            "SELECT r.n, r.opened, r.responded, d.reached, d.sent, d.suppressed, d.failed, \
             d.duplicates FROM \
             (SELECT COUNT(*) AS n, {} AS opened, {} AS responded \
              FROM recipients WHERE campaign_id = {}) r CROSS JOIN \
             (SELECT COUNT(DISTINCT CASE WHEN status = 'sent' THEN recipient_id END) AS reached, \
              {} AS sent, {} AS suppressed, {} AS failed, {} AS duplicates \
              FROM deliveries WHERE campaign_id = {}) d",
            sum("CASE WHEN first_opened_at IS NULL THEN 0 ELSE 1 END"),
            sum("CASE WHEN submitted_at IS NULL THEN 0 ELSE 1 END"),
            self.p(1),
            sum("CASE WHEN status = 'sent' THEN 1 ELSE 0 END"),
            sum("CASE WHEN status = 'suppressed' THEN 1 ELSE 0 END"),
            sum("CASE WHEN status = 'failed' THEN 1 ELSE 0 END"),
            sum("CASE WHEN status = 'sent' AND maybe_duplicate = 1 THEN 1 ELSE 0 END"),
            self.p(2)
        );
        let row = sqlx::query(&sql)
            .bind(campaign.0)
            .bind(campaign.0)
            .fetch_one(self.pool)
            .await?;
        rows::tracking_counts(&row)
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
