//! Storage: the traits every SQL backend implements, and the backends.
//!
//! The traits follow the campaign lifecycle, one per concern, each small enough to
//! implement and mock on its own; [`Store`] is all of them together, which is what the
//! engine holds (`Arc<dyn Store>`). Every bulk write is one transaction: a failed import or
//! campaign creation leaves nothing behind.
//!
//! Each database is one feature-gated folder (`sqlite`, the default; `postgres`;
//! `mysql`) holding its connection and migrations, the code that really differs between
//! engines (bulk writes, claims) and its [`snapshot`] (backup source and restore target).
//! What they write alike is written once, in the crate-private `shared` core (statements)
//! and `rows` (bound values and row decoding). With the `testing` feature, `conformance`
//! holds the behaviour suite every backend passes.

#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports)
)]
mod access_sql;
#[cfg(test)]
mod access_suite;
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code, unused_imports)
)]
pub(crate) mod audit_sql;
#[cfg(test)]
pub(crate) mod audit_suite;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod cost_conformance;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod forward;
#[cfg(test)]
mod killed_sender;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
mod rows;
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
mod shared;
pub mod snapshot;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod upsert;

use crate::access::AccessStore;
use crate::audit::AuditStore;
use crate::campaign::{
    Campaign, CampaignId, CampaignState, DeliveryCount, DeliveryOutcome, FormId, NewCampaign,
    PatientContact, PendingDelivery, RecipientPlanner, Shard,
};
use crate::error::{Error, Result};
use crate::filter::AnyFilter;
use crate::form::FormSpec;
use crate::notify::Channel;
use crate::patient::{Patient, PatientId};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use snapshot::{RestoreTarget, SnapshotSource};
use std::sync::Arc;

/// A stored form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredForm {
    /// Its id.
    pub id: FormId,
    /// The validated spec.
    pub spec: FormSpec,
    /// The per-form response table (`resp_<id>`).
    pub response_table: String,
    /// Where the rendered page was published: a path on the server or an object key,
    /// so it is left out of JSON (the API must not reveal the server's file layout).
    #[serde(skip_serializing)]
    pub page_location: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// What [`PatientStore::upsert_patients`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    /// Patients stored anew.
    pub inserted: u64,
    /// Patients already stored, updated.
    pub updated: u64,
}

/// Patients: bulk import, and the queries audiences are built from.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PatientStore: Send + Sync + std::fmt::Debug {
    /// Stores `patients` in one transaction: all of them, or (on any clash with a stored
    /// external id or NHS number) none. Returns how many were stored.
    async fn insert_patients(&self, patients: &[Patient]) -> Result<u64>;

    /// Stores `patients` in one transaction, updating the ones already stored instead of
    /// refusing them: a patient with an NHS number is matched by it, one without by its
    /// external id. An update replaces the name, date of birth, sex, contact details,
    /// postcode and conditions, and keeps the stored external id; opt-outs are only ever
    /// added, never cleared (a patient's own opt-out outlives a re-import). Fails,
    /// storing nothing, when a new patient's external id is stored for another patient.
    async fn upsert_patients(&self, patients: &[Patient]) -> Result<UpsertCounts>;

    /// How many stored patients match `filter` on `today`.
    async fn count_patients(&self, filter: &AnyFilter, today: NaiveDate) -> Result<u64>;

    /// The contact details of every patient matching `filter` on `today`, by id.
    async fn matching_contacts(
        &self,
        filter: &AnyFilter,
        today: NaiveDate,
    ) -> Result<Vec<PatientContact>>;

    /// Every stored patient with its id, by id (for exports, checks and tests).
    async fn all_patients(&self) -> Result<Vec<(PatientId, Patient)>>;
}

/// Forms and their response tables.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FormStore: Send + Sync + std::fmt::Debug {
    /// Stores a validated form and creates its response table, in one transaction.
    async fn create_form(
        &self,
        spec: &FormSpec,
        page_location: &str,
        now: DateTime<Utc>,
    ) -> Result<StoredForm>;

    /// A form by id.
    async fn form(&self, id: FormId) -> Result<StoredForm>;

    /// A form by name.
    async fn form_by_name(&self, name: &str) -> Result<StoredForm>;

    /// Every form, by id.
    async fn forms(&self) -> Result<Vec<StoredForm>>;
}

/// A [`RecipientPlanner`] borrowed for `'p` (what [`CampaignStore::create_campaign`]
/// takes).
pub type DynPlanner<'p> = dyn RecipientPlanner + 'p;

/// Patients a campaign's audience reads at a time while it is created.
pub const AUDIENCE_PAGE: usize = 10_000;

/// Who a new campaign goes to: the patients `filter` selects on `today` (ages are
/// counted on it).
#[derive(Debug, Clone)]
pub struct Audience {
    /// The audience filter.
    pub filter: Arc<AnyFilter>,
    /// The day the filter is evaluated on.
    pub today: NaiveDate,
}

/// Campaigns and their frozen recipients.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait CampaignStore: Send + Sync + std::fmt::Debug {
    /// Stores a campaign, its recipients and their planned deliveries in one
    /// transaction: reads the patients `audience` selects in id order, a page of
    /// [`AUDIENCE_PAGE`] at a time, and writes each page's recipients as `planner` plans
    /// them before reading the next (bounded memory at any audience size); then stores
    /// the planner's totals on the campaign row. An error of the planner (an empty
    /// audience) or of the database leaves nothing stored.
    async fn create_campaign<'p>(
        &self,
        campaign: &NewCampaign,
        audience: &Audience,
        planner: &mut DynPlanner<'p>,
    ) -> Result<CampaignId>;

    /// A campaign by id.
    async fn campaign(&self, id: CampaignId) -> Result<Campaign>;

    /// Every campaign, by id.
    async fn campaigns(&self) -> Result<Vec<Campaign>>;

    /// Moves a campaign from one of `from` to `to`; a conflict if it is in another state.
    async fn set_campaign_state(
        &self,
        id: CampaignId,
        from: &[CampaignState],
        to: CampaignState,
    ) -> Result<()>;

    /// How many recipients the campaign has.
    async fn recipient_count(&self, id: CampaignId) -> Result<u64>;
}

/// The delivery queue: claim, record, recover.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DeliveryStore: Send + Sync + std::fmt::Debug {
    /// Atomically marks up to `limit` pending deliveries of (campaign, channel, round) —
    /// of `shard`'s recipients only, if given — as `sending` at `now`, and returns them,
    /// oldest first. Claimers never get the same row, whether they share a process or
    /// not: several senders can work one campaign at once.
    async fn claim_pending(
        &self,
        campaign: CampaignId,
        channel: Channel,
        round: i32,
        shard: Option<Shard>,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<PendingDelivery>>;

    /// Records the outcomes of claimed deliveries, in one transaction.
    async fn record_outcomes(&self, outcomes: &[DeliveryOutcome], now: DateTime<Utc>)
        -> Result<()>;

    /// Returns deliveries of the round (of `shard`'s recipients only, if given) left
    /// `sending` by an interrupted send to `pending`, marked as possible duplicates, and
    /// says how many there were: each may or may not have reached the provider. With `claimed_before`, only claims made
    /// at or before then are taken back (other senders may still hold younger ones);
    /// without it, every claim is (the caller is the only sender).
    async fn requeue_in_flight(
        &self,
        campaign: CampaignId,
        round: i32,
        shard: Option<Shard>,
        claimed_before: Option<DateTime<Utc>>,
    ) -> Result<u64>;

    /// Delivery counts by channel, round, status and reason.
    async fn delivery_counts(&self, campaign: CampaignId) -> Result<Vec<DeliveryCount>>;

    /// How many of the round's deliveries wait in the queue (`pending`), per channel
    /// that has any: read from the queue's own index, so it stays cheap when
    /// [`Self::delivery_counts`] reads every row of a large campaign.
    async fn queued(&self, campaign: CampaignId, round: i32) -> Result<Vec<(Channel, u64)>>;

    /// The rounds with deliveries waiting in the queue (`pending`), in order: read from
    /// the queue's own index where the database has one, so a finished campaign answers
    /// without reading its deliveries.
    async fn queued_rounds(&self, campaign: CampaignId) -> Result<Vec<i32>>;

    /// Returns the campaign's deliveries that failed transiently (retries exhausted) to
    /// `pending`, so a send tries them again; permanent failures stay failed. Returns
    /// how many.
    async fn retry_failed(&self, campaign: CampaignId) -> Result<u64>;
}

mod follow_up;
pub use follow_up::*;
mod cost;
pub use cost::*;
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]
mod cost_sql;

/// Everything the engine needs from storage, the audit ledger included.
pub trait Store:
    PatientStore
    + FormStore
    + CampaignStore
    + DeliveryStore
    + ResponseStore
    + FollowUpStore
    + CostStore
    + AuditStore
{
}

impl<T> Store for T where
    T: PatientStore
        + FormStore
        + CampaignStore
        + DeliveryStore
        + ResponseStore
        + FollowUpStore
        + CostStore
        + AuditStore
{
}

/// Ending a database's connections when its user is done with it.
#[async_trait]
pub trait Close: Send + Sync {
    /// Waits for the connections in use to come back, then closes them all. An
    /// embedded SQLite file is left whole: its write-ahead log is checkpointed into it
    /// and removed, so the file alone holds every write. A closed store refuses any
    /// further work.
    async fn close(&self);
}

/// A whole database: the engine's [`Store`], the operators' [`AccessStore`], what
/// backups read and restore into, and the connections' end. Every backend is one.
pub trait Database: Store + AccessStore + SnapshotSource + RestoreTarget + Close {}

impl<T> Database for T where T: Store + AccessStore + SnapshotSource + RestoreTarget + Close {}

/// Opens (and migrates) the database `url` names: `sqlite:` (file or `:memory:`),
/// `postgres://` or `mysql://` (each with its cargo feature). The URL stays secret: it
/// may carry a password, and no error repeats it.
pub async fn open_database(url: &SecretString) -> Result<Arc<dyn Database>> {
    let url = url.expose_secret();
    let scheme = url.split(':').next().unwrap_or_default();
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open_url(url).await?)),
        #[cfg(feature = "postgres")]
        "postgres" | "postgresql" => Ok(Arc::new(postgres::PostgresStore::connect(url).await?)),
        #[cfg(feature = "mysql")]
        "mysql" | "mariadb" => Ok(Arc::new(mysql::MySqlStore::connect(url).await?)),
        other => Err(Error::Config(match other {
            "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb" => {
                format!("this build of medicare has no {scheme} support: enable its cargo feature")
            }
            _ => "the database URL must start with sqlite:, postgres:// or mysql://".to_string(),
        })),
    }
}
