//! The test fixtures every crate's tests share (feature `testing`): an engine over any
//! store with a recording notifier and a pinned clock, a database filled so that every
//! table holds rows ([`populate`]), and a sent SMS campaign on a file SQLite store
//! ([`Fixture`], pinned to Tuesday of ISO week 2026-W47).

use crate::campaign::SendOptions;
use crate::campaign::{CampaignId, CampaignRequest, Engine};
use crate::clock::FixedClock;
use crate::form::FormSpec;
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
#[cfg(feature = "sqlite")]
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use chrono::DateTime;
use chrono::{TimeZone, Utc};
use secrecy::SecretBox;
use std::sync::Arc;

/// An engine over `store`, publishing forms under `dir`, with a recording notifier on
/// both channels and a clock pinned at `now`.
pub fn engine(store: Arc<dyn Store>, dir: &std::path::Path, now: DateTime<Utc>) -> Engine {
    let signer = HmacLinkSigner::new(
        SecretBox::new(Box::new([3u8; 32])),
        "https://forms.example.org",
    )
    .expect("a valid link base");
    let recorder = Arc::new(RecordingNotifier::new());
    Engine::new(
        store,
        Arc::new(LocalFolderPublisher::new(dir.join("forms"))),
        Arc::new(signer),
        Arc::new(FixedClock::new(now)),
    )
    .with_notifier(Channel::Sms, recorder.clone())
    .with_notifier(Channel::Email, recorder)
}

/// Imports `count` generated patients (population `seed`) through `engine` and creates
/// the demo form; returns the form.
pub async fn patients_and_demo_form(
    engine: &Engine,
    count: usize,
    seed: u64,
) -> crate::store::StoredForm {
    engine
        .import_patients(&generate(GenerateOptions { count, seed }))
        .await
        .unwrap();
    engine
        .create_form(&FormSpec::from_toml_str(crate::demo::DEMO_FORM).unwrap())
        .await
        .unwrap()
}

/// Fills `store` so that every table holds rows: `count` generated patients, the demo
/// form, a campaign to those with a lung condition (sent), `responses` of them
/// answered at a time with microseconds, and a reminder round planned.
pub async fn populate(
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    count: usize,
    responses: usize,
) -> CampaignId {
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    let engine = engine(store.clone(), dir, start);
    let form = patients_and_demo_form(&engine, count, 7).await;
    let spec = &form.spec;
    let filter = Arc::new(crate::demo::lung_filter());
    let id = engine
        .create_campaign(&CampaignRequest::new("flu", form.id, filter))
        .await
        .unwrap();
    engine.send(id, &SendOptions::default(), &()).await.unwrap();
    let answers = spec
        .check_submission(&[
            ("wants_vaccination".into(), "yes".into()),
            ("available_days".into(), "Monday".into()),
            ("earliest_date".into(), "2026-04-01".into()),
            ("access_needs".into(), "step-free access".into()),
        ])
        .unwrap();
    let at = Utc.with_ymd_and_hms(2026, 3, 3, 10, 30, 15).unwrap()
        + chrono::Duration::microseconds(123_456);
    for recipient in store
        .non_respondents(id)
        .await
        .unwrap()
        .iter()
        .take(responses)
    {
        store
            .submit_response(recipient.recipient_id, &form, &answers, at)
            .await
            .unwrap();
    }
    store.plan_reminder_round(id, 1, at).await.unwrap();
    id
}

/// A sent campaign and everything around it.
#[cfg(feature = "sqlite")]
pub struct Fixture {
    /// The engine.
    pub engine: Engine,
    /// Its store (a file in `dir`).
    pub store: SqliteStore,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// What it sent.
    pub recorder: Arc<RecordingNotifier>,
    /// The sent campaign.
    pub campaign: CampaignId,
    /// The folder holding the database and the forms.
    pub dir: tempfile::TempDir,
}

#[cfg(feature = "sqlite")]
impl Fixture {
    /// `patients` generated patients; the campaign goes by SMS to those with a phone and
    /// its first round is sent.
    pub async fn sent_campaign(patients: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 17, 9, 0, 0).unwrap(),
        ));
        let signer = Arc::new(
            HmacLinkSigner::new(SecretBox::new(Box::new([9u8; 32])), "http://127.0.0.1:1").unwrap(),
        );
        let recorder = Arc::new(RecordingNotifier::new());
        let engine = Engine::new(
            Arc::new(store.clone()),
            Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
            signer,
            clock.clone(),
        )
        .with_notifier(Channel::Sms, recorder.clone())
        .with_notifier(Channel::Email, recorder.clone());
        let form = patients_and_demo_form(&engine, patients, 5).await;
        let mut request = CampaignRequest::new(
            "test campaign",
            form.id,
            Arc::new(crate::filter::Filter::parse("has_phone").unwrap()),
        );
        request.channels = vec![Channel::Sms];
        let campaign = engine.create_campaign(&request).await.unwrap();
        engine
            .send(campaign, &Default::default(), &())
            .await
            .unwrap();
        Fixture {
            engine,
            store,
            clock,
            recorder,
            campaign,
            dir,
        }
    }

    /// A query's single integer.
    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    /// Valid answers to the demo form.
    pub fn answers(&self) -> crate::form::Answers {
        FormSpec::from_toml_str(crate::demo::DEMO_FORM)
            .unwrap()
            .check_submission(&[("wants_vaccination".to_string(), "yes".to_string())])
            .unwrap()
    }
}
