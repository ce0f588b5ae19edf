//! What the crate's unit tests share: a sent SMS campaign on a file SQLite store, with a
//! recording notifier and a pinned clock (Tuesday of ISO week 2026-W47).

use crate::campaign::{CampaignId, CampaignRequest, Engine};
use crate::clock::FixedClock;
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
use crate::store::sqlite::SqliteStore;
use chrono::{TimeZone, Utc};
use secrecy::SecretBox;
use std::sync::Arc;

/// A sent campaign and everything around it.
pub(crate) struct Fixture {
    pub engine: Engine,
    pub store: SqliteStore,
    pub clock: Arc<FixedClock>,
    pub recorder: Arc<RecordingNotifier>,
    pub campaign: CampaignId,
    pub dir: tempfile::TempDir,
}

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
        engine
            .import_patients(&generate(GenerateOptions {
                count: patients,
                seed: 5,
            }))
            .await
            .unwrap();
        let form = engine
            .create_form(&FormSpec::from_toml_str(crate::demo::DEMO_FORM).unwrap())
            .await
            .unwrap();
        let mut request = CampaignRequest::new(
            "test campaign",
            form.id,
            Arc::new(Filter::parse("has_phone").unwrap()),
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
