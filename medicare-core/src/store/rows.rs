//! What the SQL stores share to talk to their database: binding compiled values, and
//! decoding rows into the domain types, so each backend writes only its SQL.
//!
//! [`Cells`] reads one typed value from any sqlx row (SQLite, PostgreSQL, MySQL); the
//! decoders take the columns in the order their doc comments give, which every backend's
//! query selects.

use super::{
    LinkRecord, NonRespondent, NonResponseReason, RecipientTracking, ResponseRow, RoundInfo,
    StoredForm, TrackingCounts,
};
use crate::campaign::{
    Campaign, CampaignId, CampaignMessages, CampaignState, DeliveryCount, DeliveryStatus, FormId,
};
use crate::error::{Error, Result};
use crate::form::FormSpec;
use crate::link::TokenHash;
use crate::notify::Channel;
use crate::patient::{ConditionCode, Email, NhsNumber, Patient, PatientId, Phone, Postcode, Sex};
use crate::sql::SqlValue;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Arguments, ColumnIndex, Decode, Encode, Row, Type};

/// A stored row that does not decode into the domain type.
pub(crate) fn corrupt(what: &str, id: i64, why: String) -> Error {
    Error::Database(sqlx::Error::Decode(
        format!("stored {what} {id} is invalid: {why}").into(),
    ))
}

/// A count read from the database.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Binds compiled-filter and response values, in order.
pub(crate) fn arguments<'q, A>(params: &'q [SqlValue]) -> Result<A>
where
    A: Arguments<'q> + Default,
    Option<String>: Encode<'q, A::Database> + Type<A::Database>,
    &'q str: Encode<'q, A::Database> + Type<A::Database>,
    i64: Encode<'q, A::Database> + Type<A::Database>,
    bool: Encode<'q, A::Database> + Type<A::Database>,
    NaiveDate: Encode<'q, A::Database> + Type<A::Database>,
{
    let mut args = A::default();
    for p in params {
        let added = match p {
            SqlValue::Null => args.add(None::<String>),
            SqlValue::Text(s) => args.add(s.as_str()),
            SqlValue::Int(i) => args.add(*i),
            SqlValue::Bool(b) => args.add(*b),
            SqlValue::Date(d) => args.add(*d),
        };
        added.map_err(|e| Error::Database(sqlx::Error::Encode(e)))?;
    }
    Ok(args)
}

/// Typed reads of a row's columns, by position.
pub(crate) trait Cells {
    /// A 64-bit integer (PostgreSQL: `bigint` only).
    fn int(&self, i: usize) -> Result<i64>;
    /// A 32-bit integer (PostgreSQL: `integer` only).
    fn int32(&self, i: usize) -> Result<i32>;
    /// Text.
    fn text(&self, i: usize) -> Result<String>;
    /// Text or `NULL`.
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    /// A timestamp.
    fn time(&self, i: usize) -> Result<DateTime<Utc>>;
    /// A timestamp or `NULL`.
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>>;
    /// A date.
    fn date(&self, i: usize) -> Result<NaiveDate>;
    /// A boolean.
    fn flag(&self, i: usize) -> Result<bool>;
    /// Bytes.
    fn bytes(&self, i: usize) -> Result<Vec<u8>>;
}

impl<R> Cells for R
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> NaiveDate: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
    fn int32(&self, i: usize) -> Result<i32> {
        Ok(self.try_get(i)?)
    }
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn time(&self, i: usize) -> Result<DateTime<Utc>> {
        Ok(self.try_get(i)?)
    }
    fn opt_time(&self, i: usize) -> Result<Option<DateTime<Utc>>> {
        Ok(self.try_get(i)?)
    }
    fn date(&self, i: usize) -> Result<NaiveDate> {
        Ok(self.try_get(i)?)
    }
    fn flag(&self, i: usize) -> Result<bool> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>> {
        Ok(self.try_get(i)?)
    }
}

/// The patient columns every backend selects, in [`patient`]'s order, from `patients p`;
/// the condition codes follow as one `;`-joined text (`NULL`: none).
pub(crate) const PATIENT_COLUMNS: &str = "p.id, p.external_id, p.nhs_number, p.given_name, \
     p.family_name, p.date_of_birth, p.sex, p.phone, p.email, p.postcode, p.sms_opt_out, \
     p.email_opt_out";

/// A patient: [`PATIENT_COLUMNS`], then its condition codes joined by `;`.
pub(crate) fn patient(r: &impl Cells) -> Result<(PatientId, Patient)> {
    let id = r.int(0)?;
    let bad = |why: String| corrupt("patient", id, why);
    let conditions = r
        .opt_text(12)?
        .unwrap_or_default()
        .split(';')
        .filter(|c| !c.is_empty())
        .map(ConditionCode::parse)
        .collect::<std::result::Result<_, _>>()
        .map_err(bad)?;
    let patient = Patient {
        external_id: r.text(1)?,
        nhs_number: NhsNumber::parse(&r.text(2)?).map_err(bad)?,
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

/// The columns [`form`] reads, from `forms`.
pub(crate) const FORM_COLUMNS: &str = "id, spec_json, response_table, page_location, created_at";

/// A form: [`FORM_COLUMNS`].
pub(crate) fn form(r: &impl Cells) -> Result<StoredForm> {
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

/// The columns [`campaign`] reads, from `campaigns`.
pub(crate) const CAMPAIGN_COLUMNS: &str =
    "id, name, form_id, filter, channels, state, messages_json, link_expires_at, created_at";

/// A campaign: [`CAMPAIGN_COLUMNS`].
pub(crate) fn campaign(r: &impl Cells) -> Result<Campaign> {
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
    })
}

/// The link lookup every backend runs, up to its `WHERE`: [`link`] reads its columns.
pub(crate) const LINK_QUERY: &str = "SELECT r.id, r.campaign_id, c.state, c.form_id, \
     r.token_hash, c.link_expires_at, r.submitted_at \
     FROM recipients r JOIN campaigns c ON c.id = r.campaign_id";

/// A link: the columns of [`LINK_QUERY`].
pub(crate) fn link(r: &impl Cells) -> Result<LinkRecord> {
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

/// A delivery count of `campaign`: channel, round, status, reason, count, segments.
pub(crate) fn delivery_count(r: &impl Cells, campaign: CampaignId) -> Result<DeliveryCount> {
    let channel = r.text(0)?;
    let status = r.text(2)?;
    let bad = |why: String| corrupt("delivery of campaign", campaign.0, why);
    Ok(DeliveryCount {
        channel: Channel::parse(&channel).map_err(bad)?,
        round: r.int32(1)?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| bad(format!("unknown status {status:?}")))?,
        reason: r.opt_text(3)?,
        count: count(r.int(4)?),
        segments: count(r.int(5)?),
    })
}

/// A round: round, recipients, unfinished deliveries, last activity.
pub(crate) fn round_info(r: &impl Cells) -> Result<RoundInfo> {
    Ok(RoundInfo {
        round: r.int32(0)?,
        recipients: count(r.int(1)?),
        unfinished: count(r.int(2)?),
        last_activity: r.opt_time(3)?,
    })
}

/// A non-respondent: recipient, patient, external id, opens, reminders.
pub(crate) fn non_respondent(r: &impl Cells) -> Result<NonRespondent> {
    let open_count = count(r.int(3)?);
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
        reminders: count(r.int(4)?),
    })
}

/// Tracking figures: recipients, opened, responded, recipients sent to, messages sent,
/// suppressed, failed.
pub(crate) fn tracking_counts(r: &impl Cells) -> Result<TrackingCounts> {
    let n = |i: usize| -> Result<u64> { Ok(count(r.int(i)?)) };
    Ok(TrackingCounts {
        recipients: n(0)?,
        opened: n(1)?,
        responded: n(2)?,
        sent: n(3)?,
        delivered_to_provider: n(4)?,
        suppressed: n(5)?,
        failed: n(6)?,
    })
}

/// One recipient's tracking: first opened, opens, submitted.
pub(crate) fn recipient_tracking(r: &impl Cells, recipient_id: i64) -> Result<RecipientTracking> {
    Ok(RecipientTracking {
        recipient_id,
        first_opened_at: r.opt_time(0)?,
        open_count: count(r.int(1)?),
        submitted_at: r.opt_time(2)?,
    })
}

/// A response: recipient, submitted, then `fields` answers as text.
pub(crate) fn response_row(r: &impl Cells, fields: usize) -> Result<ResponseRow> {
    Ok(ResponseRow {
        recipient_id: r.int(0)?,
        submitted_at: r.time(1)?,
        values: (0..fields)
            .map(|i| r.opt_text(i + 2))
            .collect::<Result<_>>()?,
    })
}
