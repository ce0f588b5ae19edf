//! Rows in and out, the same way on every SQL backend.
//!
//! A backend writes its own SQL, but what the rows hold is common: a backend reads
//! columns through [`ReadRow`] (implemented for its row type by [`impl_read_row!`]) and
//! hands the row to the decoders here, which turn stored text and numbers into domain
//! types; each decoder's column list is a constant beside it, which the backend's query
//! selects. A stored value that does not parse is an error naming the row, never the
//! value (it may be personal data). Bound values ([`SqlValue`]) are added to any
//! backend's arguments by [`bind_values`].

use crate::campaign::{
    Campaign, CampaignId, CampaignMessages, CampaignState, DeliveryCount, DeliveryStatus, FormId,
    Strategy,
};
use crate::error::{Error, Result};
use crate::form::FormSpec;
use crate::link::TokenHash;
use crate::notify::{Channel, Money};
use crate::patient::{ConditionCode, Email, NhsNumber, Patient, PatientId, Phone, Postcode, Sex};
use crate::sql::SqlValue;
use crate::store::{
    LinkRecord, NonRespondent, NonResponseReason, RecipientTracking, ResponseRow, RoundInfo,
    StoredForm, TrackingCounts,
};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeSet;

/// Typed access to the columns of a result row, by position.
pub(crate) trait ReadRow {
    /// An integer column.
    fn int(&self, i: usize) -> Result<i64>;
    /// A text column (also a byte-compared text column, e.g. MySQL's `VARBINARY`).
    fn text(&self, i: usize) -> Result<String>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A boolean column.
    fn flag(&self, i: usize) -> Result<bool>;
    /// A date column.
    fn date(&self, i: usize) -> Result<NaiveDate>;
    /// A time column.
    fn time(&self, i: usize) -> Result<DateTime<Utc>>;
    /// A nullable time column.
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    /// A bytes column.
    fn bytes(&self, i: usize) -> Result<Vec<u8>>;
}

/// How many rows a statement changed (or matched, where the driver asks for that).
pub(crate) trait Affected {
    /// The count.
    fn affected(&self) -> u64;
}

/// Implements [`ReadRow`] and [`Affected`] for a driver's row and query-result types.
/// Text is decoded without the driver's type check, so byte-compared text columns
/// (declared binary) read as text too; the bytes must still be UTF-8.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(unused_macros)
)]
macro_rules! impl_read_row {
    ($row:ty, $result:ty) => {
        impl $crate::store::rows::Affected for $result {
            fn affected(&self) -> u64 {
                self.rows_affected()
            }
        }

        impl $crate::store::rows::ReadRow for $row {
            fn int(&self, i: usize) -> $crate::error::Result<i64> {
                // PostgreSQL's `integer` (rounds, segments) does not decode as i64.
                match sqlx::Row::try_get::<i64, _>(self, i) {
                    Err(sqlx::Error::ColumnDecode { .. }) => {
                        Ok(sqlx::Row::try_get::<i32, _>(self, i)?.into())
                    }
                    other => Ok(other?),
                }
            }
            fn text(&self, i: usize) -> $crate::error::Result<String> {
                Ok(sqlx::Row::try_get_unchecked(self, i)?)
            }
            fn opt_text(&self, i: usize) -> $crate::error::Result<Option<String>> {
                Ok(sqlx::Row::try_get_unchecked(self, i)?)
            }
            fn flag(&self, i: usize) -> $crate::error::Result<bool> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
            fn date(&self, i: usize) -> $crate::error::Result<chrono::NaiveDate> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
            fn time(&self, i: usize) -> $crate::error::Result<chrono::DateTime<chrono::Utc>> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
            fn opt_time(
                &self,
                i: usize,
            ) -> $crate::error::Result<Option<chrono::DateTime<chrono::Utc>>> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
            fn opt_int(&self, i: usize) -> $crate::error::Result<Option<i64>> {
                match sqlx::Row::try_get::<Option<i64>, _>(self, i) {
                    Err(sqlx::Error::ColumnDecode { .. }) => {
                        Ok(sqlx::Row::try_get::<Option<i32>, _>(self, i)?.map(i64::from))
                    }
                    other => Ok(other?),
                }
            }
            fn bytes(&self, i: usize) -> $crate::error::Result<Vec<u8>> {
                Ok(sqlx::Row::try_get(self, i)?)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
impl_read_row!(sqlx::sqlite::SqliteRow, sqlx::sqlite::SqliteQueryResult);
#[cfg(feature = "postgres")]
impl_read_row!(sqlx::postgres::PgRow, sqlx::postgres::PgQueryResult);
#[cfg(feature = "mysql")]
impl_read_row!(sqlx::mysql::MySqlRow, sqlx::mysql::MySqlQueryResult);

/// Adds `params` to a backend's arguments, in order.
pub(crate) fn bind_values<'q, DB>(
    args: &mut <DB as sqlx::Database>::Arguments<'q>,
    params: &'q [SqlValue],
) -> Result<()>
where
    DB: sqlx::Database,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    NaiveDate: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    use sqlx::Arguments;
    for p in params {
        let added = match p {
            SqlValue::Null => args.add(None::<String>),
            SqlValue::Text(s) => args.add(s.as_str()),
            SqlValue::Int(i) => args.add(*i),
            SqlValue::Bool(b) => args.add(*b),
            SqlValue::Date(d) => args.add(*d),
        };
        added.map_err(|e| Error::database(sqlx::Error::Encode(e)))?;
    }
    Ok(())
}

/// The error for a stored value that does not parse: names the row, not the value.
pub(crate) fn corrupt(what: &str, id: i64, why: String) -> Error {
    Error::database(sqlx::Error::Decode(
        format!("stored {what} {id} is invalid: {why}").into(),
    ))
}

/// A count read as an unsigned number.
pub(crate) fn count<R: ReadRow>(r: &R, i: usize) -> Result<u64> {
    Ok(u64::try_from(r.int(i)?).unwrap_or_default())
}

/// Binds `params` into a fresh argument list.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn arguments<'q, DB>(
    params: &'q [SqlValue],
) -> Result<<DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments<'q>: Default,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    NaiveDate: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut args = Default::default();
    bind_values::<DB>(&mut args, params)?;
    Ok(args)
}

/// A round number.
pub(crate) fn round<R: ReadRow>(r: &R, i: usize) -> Result<i32> {
    let n = r.int(i)?;
    i32::try_from(n).map_err(|_| corrupt("round number", n, "out of range".into()))
}

/// The columns [`patient`] reads (`patients p`), conditions aside.
pub(crate) const PATIENT_COLUMNS: &str = "p.id, p.external_id, p.nhs_number, p.given_name, \
     p.family_name, p.date_of_birth, p.sex, p.phone, p.email, p.postcode, p.sms_opt_out, \
     p.email_opt_out";

/// A patient from [`PATIENT_COLUMNS`], with its conditions' codes.
pub(crate) fn patient<R: ReadRow>(
    r: &R,
    codes: impl IntoIterator<Item = impl AsRef<str>>,
) -> Result<(PatientId, Patient)> {
    let id = r.int(0)?;
    let bad = |why: String| corrupt("patient", id, why);
    let conditions = codes
        .into_iter()
        .map(|c| ConditionCode::parse(c.as_ref()))
        .collect::<std::result::Result<BTreeSet<_>, _>>()
        .map_err(bad)?;
    let patient = Patient {
        external_id: r.text(1)?,
        nhs_number: r
            .opt_text(2)?
            .map(|n| NhsNumber::parse(&n))
            .transpose()
            .map_err(bad)?,
        given_name: r.text(3)?,
        family_name: r.text(4)?,
        date_of_birth: r.date(5)?,
        sex: Sex::parse(&r.text(6)?).map_err(bad)?,
        phone: r
            .opt_text(7)?
            .map(|p| Phone::parse(&p))
            .transpose()
            .map_err(bad)?,
        email: r
            .opt_text(8)?
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(bad)?,
        postcode: Postcode::parse(&r.text(9)?).map_err(bad)?,
        sms_opt_out: r.flag(10)?,
        email_opt_out: r.flag(11)?,
        conditions,
    };
    Ok((PatientId(id), patient))
}

/// The columns [`form`] reads.
pub(crate) const FORM_COLUMNS: &str = "id, spec_json, response_table, page_location, created_at";

/// A form from [`FORM_COLUMNS`].
pub(crate) fn form<R: ReadRow>(r: &R) -> Result<StoredForm> {
    let id = r.int(0)?;
    let spec: FormSpec =
        serde_json::from_str(&r.text(1)?).map_err(|e| corrupt("form", id, e.to_string()))?;
    Ok(StoredForm {
        id: FormId(id),
        spec,
        response_table: r.text(2)?,
        page_location: r.text(3)?,
        created_at: r.time(4)?,
    })
}

/// The columns [`campaign`] reads.
pub(crate) const CAMPAIGN_COLUMNS: &str =
    "id, name, form_id, filter, channels, state, messages_json, link_expires_at, created_at, \
     strategy, budget_micros, second_wave_hours, reach_json";

/// A campaign from [`CAMPAIGN_COLUMNS`].
pub(crate) fn campaign<R: ReadRow>(r: &R) -> Result<Campaign> {
    let id = r.int(0)?;
    let bad = |why: String| corrupt("campaign", id, why);
    let channels = r
        .text(4)?
        .split(',')
        .map(Channel::parse)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    let state = r.text(5)?;
    let messages: CampaignMessages =
        serde_json::from_str(&r.text(6)?).map_err(|e| bad(e.to_string()))?;
    Ok(Campaign {
        id: CampaignId(id),
        name: r.text(1)?,
        form_id: FormId(r.int(2)?),
        filter: r.text(3)?,
        channels,
        state: CampaignState::parse(&state)
            .ok_or_else(|| bad(format!("unknown state {state:?}")))?,
        messages,
        link_expires_at: r.time(7)?,
        created_at: r.time(8)?,
        strategy: Strategy::parse(&r.text(9)?).map_err(bad)?,
        budget: r.opt_int(10)?.map(Money),
        second_wave_hours: r
            .opt_int(11)?
            .map(|h| u32::try_from(h).map_err(|_| bad("second wave hours out of range".into())))
            .transpose()?,
        reach: r
            .opt_text(12)?
            .map(|j| serde_json::from_str(&j).map_err(|e| bad(e.to_string())))
            .transpose()?,
    })
}

/// What a new campaign stores beyond its name, form, filter, channels and messages:
/// its strategy, budget (micros), second-wave delay (hours) and reach (JSON).
pub(crate) fn campaign_plan(
    c: &crate::campaign::NewCampaign,
) -> Result<(&'static str, Option<i64>, Option<i64>, String)> {
    // The reach is counted while the audience is written, and stored after it
    // ([`finished_campaign`]); the row starts with none.
    let reach = serde_json::to_string(&crate::campaign::Reach::default())
        .map_err(|e| Error::invalid("campaign reach", e.to_string()))?;
    Ok((
        c.strategy.as_str(),
        c.budget.map(|m| m.0),
        c.second_wave_hours.map(i64::from),
        reach,
    ))
}

/// The `messages_json` and `reach_json` of a campaign whose audience is written.
pub(crate) fn finished_campaign(
    totals: &crate::campaign::AudienceTotals,
) -> Result<(String, String)> {
    let messages = serde_json::to_string(&totals.messages)
        .map_err(|e| Error::invalid("campaign messages", e.to_string()))?;
    let reach = serde_json::to_string(&totals.reach)
        .map_err(|e| Error::invalid("campaign reach", e.to_string()))?;
    Ok((messages, reach))
}

/// The conflict of a campaign found in `current` state when it had to be in one of `from`.
pub(crate) fn state_conflict(
    id: CampaignId,
    current: CampaignState,
    from: &[CampaignState],
) -> Error {
    Error::Conflict(format!(
        "campaign {id} is {current}; this needs it to be {}",
        from.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
}

/// The columns [`delivery_count`] reads, grouped by all but the last two.
pub(crate) const DELIVERY_COUNT_COLUMNS: &str = "channel, round, status, reason";

/// A (channel, count) row of the queue's counts.
pub(crate) fn queued<R: ReadRow>(r: &R, campaign: CampaignId) -> Result<(Channel, u64)> {
    let bad = |why: String| corrupt("delivery of campaign", campaign.0, why);
    Ok((Channel::parse(&r.text(0)?).map_err(bad)?, count(r, 1)?))
}

/// A delivery count from [`DELIVERY_COUNT_COLUMNS`], then the count and the segments.
pub(crate) fn delivery_count<R: ReadRow>(r: &R, campaign: CampaignId) -> Result<DeliveryCount> {
    let bad = |why: String| corrupt("delivery of campaign", campaign.0, why);
    let status = r.text(2)?;
    Ok(DeliveryCount {
        channel: Channel::parse(&r.text(0)?).map_err(bad)?,
        round: round(r, 1)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| bad(format!("unknown status {status:?}")))?,
        reason: r.opt_text(3)?,
        count: count(r, 4)?,
        segments: count(r, 5)?,
        possible_duplicates: count(r, 6)?,
    })
}

/// The columns [`link`] reads (`recipients r JOIN campaigns c`).
pub(crate) const LINK_COLUMNS: &str =
    "r.id, r.campaign_id, c.state, c.form_id, r.token_hash, c.link_expires_at, r.submitted_at";

/// A link from [`LINK_COLUMNS`].
pub(crate) fn link<R: ReadRow>(r: &R) -> Result<LinkRecord> {
    let id = r.int(0)?;
    let state = r.text(2)?;
    let hash: [u8; 32] = r
        .bytes(4)?
        .try_into()
        .map_err(|_| corrupt("recipient token hash", id, "wrong length".into()))?;
    Ok(LinkRecord {
        recipient_id: id,
        campaign_id: CampaignId(r.int(1)?),
        campaign_state: CampaignState::parse(&state)
            .ok_or_else(|| corrupt("campaign state of recipient", id, state.clone()))?,
        form_id: FormId(r.int(3)?),
        token_hash: TokenHash(hash),
        expires_at: r.time(5)?,
        submitted_at: r.opt_time(6)?,
    })
}

/// A round from (round, recipients, unfinished, last activity).
pub(crate) fn round_info<R: ReadRow>(r: &R) -> Result<RoundInfo> {
    Ok(RoundInfo {
        round: round(r, 0)?,
        recipients: count(r, 1)?,
        unfinished: count(r, 2)?,
        last_activity: r.opt_time(3)?,
    })
}

/// Adds the reminder rounds' planned non-respondent counts to `rounds` (a round whose
/// non-respondents all had no delivery still counts), in round order.
pub(crate) fn with_planned_rounds(
    mut rounds: Vec<RoundInfo>,
    planned: Vec<(i32, i64)>,
) -> Vec<RoundInfo> {
    for (round, n) in planned {
        let n = u64::try_from(n).unwrap_or_default();
        match rounds.iter_mut().find(|r| r.round == round) {
            Some(r) => r.recipients = n,
            None => rounds.push(RoundInfo {
                round,
                recipients: n,
                unfinished: 0,
                last_activity: None,
            }),
        }
    }
    rounds.sort_by_key(|r| r.round);
    rounds
}

/// A non-respondent from (recipient, patient, external id, open count, reminders).
pub(crate) fn non_respondent<R: ReadRow>(r: &R) -> Result<NonRespondent> {
    let open_count = count(r, 3)?;
    Ok(NonRespondent {
        recipient_id: r.int(0)?,
        patient_id: PatientId(r.int(1)?),
        external_id: r.text(2)?,
        reason: if open_count == 0 {
            NonResponseReason::NotOpened
        } else {
            NonResponseReason::OpenedNotSubmitted
        },
        open_count,
        reminders: count(r, 4)?,
    })
}

/// Tracking counts from (recipients, opened, responded, sent recipients, sent messages,
/// suppressed, failed).
pub(crate) fn tracking_counts<R: ReadRow>(r: &R) -> Result<TrackingCounts> {
    Ok(TrackingCounts {
        recipients: count(r, 0)?,
        opened: count(r, 1)?,
        responded: count(r, 2)?,
        sent: count(r, 3)?,
        delivered_to_provider: count(r, 4)?,
        suppressed: count(r, 5)?,
        failed: count(r, 6)?,
        possible_duplicates: count(r, 7)?,
    })
}

/// The columns [`recipient_tracking`] reads.
pub(crate) const TRACKING_COLUMNS: &str = "first_opened_at, open_count, submitted_at";

/// A recipient's tracking from [`TRACKING_COLUMNS`].
pub(crate) fn recipient_tracking<R: ReadRow>(
    r: &R,
    recipient_id: i64,
) -> Result<RecipientTracking> {
    Ok(RecipientTracking {
        recipient_id,
        first_opened_at: r.opt_time(0)?,
        open_count: count(r, 1)?,
        submitted_at: r.opt_time(2)?,
    })
}

/// A response from (recipient, submitted at, patient, then `fields` answers as text).
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) fn response_row<R: ReadRow>(r: &R, fields: usize) -> Result<ResponseRow> {
    Ok(ResponseRow {
        recipient_id: r.int(0)?,
        submitted_at: r.time(1)?,
        patient_id: PatientId(r.int(2)?),
        values: (0..fields)
            .map(|i| r.opt_text(i + 3))
            .collect::<Result<_>>()?,
    })
}

/// Sorts delivery counts the way every backend reports them: by round, channel, status
/// and reason (no reason first), whatever the database's collation.
pub(crate) fn sort_delivery_counts(counts: &mut [DeliveryCount]) {
    counts.sort_by(|a, b| {
        (a.round, a.channel.as_str(), a.status.as_str(), &a.reason).cmp(&(
            b.round,
            b.channel.as_str(),
            b.status.as_str(),
            &b.reason,
        ))
    });
}

/// The multi-row `INSERT` of `chunk` into `patients`, stamped `now` (the same statement
/// on every engine that writes patients with bound values).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert_patients<'a, DB>(
    chunk: &'a [Patient],
    now: DateTime<Utc>,
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    NaiveDate: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    DateTime<Utc>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut insert = sqlx::QueryBuilder::<DB>::new(
        "INSERT INTO patients (external_id, nhs_number, given_name, family_name, date_of_birth, \
         sex, phone, email, postcode, sms_opt_out, email_opt_out, created_at) ",
    );
    insert.push_values(chunk, |mut b, p| {
        b.push_bind(p.external_id.as_str())
            .push_bind(p.nhs_number.as_ref().map(NhsNumber::as_str))
            .push_bind(p.given_name.as_str())
            .push_bind(p.family_name.as_str())
            .push_bind(p.date_of_birth)
            .push_bind(p.sex.as_str())
            .push_bind(p.phone.as_ref().map(Phone::as_str))
            .push_bind(p.email.as_ref().map(Email::as_str))
            .push_bind(p.postcode.as_str())
            .push_bind(p.sms_opt_out)
            .push_bind(p.email_opt_out)
            .push_bind(now);
    });
    insert
}

/// How a campaign's multi-row `INSERT`s begin on `dialect`. On SQLite, `OR FAIL`: a
/// plain `INSERT` of many rows inside a transaction first copies every page it changes
/// to a statement journal, so that a constraint failure halfway could undo the
/// statement alone. A failure fails the whole creation (its transaction rolls back), so
/// the statement need not be undone on its own, and `OR FAIL` writes no such copy.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
fn insert_into(dialect: crate::sql::Dialect, table_and_columns: &str) -> String {
    let verb = match dialect {
        crate::sql::Dialect::Sqlite => "INSERT OR FAIL",
        crate::sql::Dialect::Postgres | crate::sql::Dialect::Mysql => "INSERT",
    };
    format!("{verb} INTO {table_and_columns} ")
}

/// The multi-row `INSERT` of `chunk` into campaign `id`'s recipients (the same
/// statement on every engine that writes recipients with bound values, but the verb:
/// see [`insert_into`]).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert_recipients<'a, DB>(
    dialect: crate::sql::Dialect,
    id: i64,
    chunk: &'a [crate::campaign::NewRecipient],
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a [u8]: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::<DB>::new(insert_into(
        dialect,
        "recipients (campaign_id, patient_id, given_name, phone, email, link_nonce, token_hash)",
    ));
    q.push_values(chunk, |mut b, r| {
        b.push_bind(id)
            .push_bind(r.patient_id.0)
            .push_bind(r.given_name.as_str())
            .push_bind(r.phone.as_deref())
            .push_bind(r.email.as_deref())
            .push_bind(r.link.nonce.0.as_slice())
            .push_bind(r.link.token_hash.0.as_slice());
    });
    q
}

/// Each planned delivery of `recipients` beside its recipient's id (`ids`: recipient id
/// by patient id, as just inserted); an error if a recipient's id is missing.
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn planned_deliveries<'a>(
    recipients: &'a [crate::campaign::NewRecipient],
    ids: &std::collections::HashMap<i64, i64>,
) -> Result<Vec<(i64, &'a crate::campaign::PlannedDelivery)>> {
    let mut planned = Vec::with_capacity(recipients.len() * 2);
    for r in recipients {
        let recipient = *ids
            .get(&r.patient_id.0)
            .ok_or_else(|| corrupt("recipient of patient", r.patient_id.0, "not stored".into()))?;
        planned.extend(r.deliveries.iter().map(|d| (recipient, d)));
    }
    // One channel after the other (recipients in order within each): a send claims and
    // records each channel's deliveries separately, in id order, so each batch then
    // rewrites pages holding its own channel only, not every page twice.
    planned.sort_by_key(|(_, d)| d.channel);
    Ok(planned)
}

/// The multi-row `INSERT` of `planned` (recipient id, delivery) into campaign `id`'s
/// deliveries: pending, or suppressed with its reason (the verb: see [`insert_into`]).
#[cfg_attr(not(any(feature = "sqlite", feature = "mysql")), allow(dead_code))]
pub(crate) fn insert_deliveries<'a, DB>(
    dialect: crate::sql::Dialect,
    id: i64,
    planned: &'a [(i64, &'a crate::campaign::PlannedDelivery)],
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i32: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    u32: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::<DB>::new(insert_into(
        dialect,
        "deliveries (campaign_id, recipient_id, channel, round, status, reason, segments)",
    ));
    q.push_values(planned, |mut b, (recipient, d)| {
        let status = if d.suppressed.is_some() {
            crate::campaign::DeliveryStatus::Suppressed
        } else {
            crate::campaign::DeliveryStatus::Pending
        };
        b.push_bind(id)
            .push_bind(*recipient)
            .push_bind(d.channel.as_str())
            .push_bind(d.round)
            .push_bind(status.as_str())
            .push_bind(d.suppressed.map(|s| s.as_str()))
            .push_bind(d.segments);
    });
    q
}

/// A claimed delivery as read (id, recipient, address, given name, link nonce), its
/// nonce checked: the one decoding every backend's claims share.
pub(crate) fn pending_delivery(
    id: i64,
    recipient_id: i64,
    address: Option<String>,
    given_name: String,
    nonce: Vec<u8>,
) -> Result<crate::campaign::PendingDelivery> {
    let nonce: [u8; 16] = nonce
        .try_into()
        .map_err(|_| corrupt("delivery link nonce", id, "not 16 bytes".into()))?;
    Ok(crate::campaign::PendingDelivery {
        id,
        recipient_id,
        address,
        given_name,
        link_nonce: crate::link::LinkNonce(nonce),
    })
}

/// An outcome's cost as bound values: (SMS segments if sent, the unit price, the cost),
/// each `NULL` (kept as stored) when the outcome carries no cost.
pub(crate) fn outcome_cost(
    outcome: &crate::campaign::DeliveryOutcome,
) -> (Option<i64>, Option<i64>, Option<i64>) {
    match outcome.cost {
        None => (None, None, None),
        Some(c) => (
            c.sent_segments.map(i64::from),
            Some(c.unit_price.0),
            Some(c.cost.0),
        ),
    }
}
