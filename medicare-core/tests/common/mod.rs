//! What the integration tests share: an engine on an in-memory SQLite store with a
//! recording notifier and a pinned clock.
#![allow(dead_code, missing_docs)]

use chrono::{TimeZone, Utc};
use medicare_core::campaign::{CampaignId, CampaignRequest, Engine, FormId};
use medicare_core::clock::FixedClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::HmacLinkSigner;
use medicare_core::notify::{Channel, Notifier, RecordingNotifier};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use secrecy::SecretBox;
use std::sync::Arc;

pub struct Harness {
    pub engine: Engine,
    pub store: SqliteStore,
    pub signer: Arc<HmacLinkSigner>,
    pub dir: tempfile::TempDir,
}

pub const BASE_URL: &str = "https://forms.example.org";

impl Harness {
    pub async fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("test.db"))
            .await
            .unwrap();
        let signer =
            Arc::new(HmacLinkSigner::new(SecretBox::new(Box::new([42u8; 32])), BASE_URL).unwrap());
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap(),
        ));
        let engine = Engine::new(
            Arc::new(store.clone()),
            Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
            signer.clone(),
            clock,
        );
        Harness {
            engine,
            store,
            signer,
            dir,
        }
    }

    /// The engine sending both channels through `notifier`.
    pub fn engine_with(&self, notifier: Arc<dyn Notifier>) -> Engine {
        self.engine
            .clone()
            .with_notifier(Channel::Sms, notifier.clone())
            .with_notifier(Channel::Email, notifier)
    }

    pub async fn populate(&self, count: usize) {
        self.engine
            .import_patients(&generate(GenerateOptions { count, seed: 11 }))
            .await
            .unwrap();
    }

    pub async fn demo_form(&self) -> FormId {
        let spec = FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap();
        self.engine.create_form(&spec).await.unwrap().id
    }

    pub async fn campaign(&self, filter: &str) -> CampaignId {
        let form = self.demo_form().await;
        let request = CampaignRequest::new("test", form, Arc::new(Filter::parse(filter).unwrap()));
        self.engine.create_campaign(&request).await.unwrap()
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap()
    }

    /// Waits until the deliveries' statuses have stopped changing for half a second: a
    /// claim or a recording a killed send had started runs to its end (as a statement
    /// handed to the database would in a real crash), and only then is the record read.
    #[allow(dead_code)] // not every test binary kills a send
    pub async fn settle(&self) {
        let sql = "SELECT COUNT(*) * 1000000 + SUM(status = 'sent') * 1000 \
                   + SUM(status = 'sending') FROM deliveries";
        let (mut last, mut quiet) = (self.scalar(sql).await, 0);
        while quiet < 5 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let now = self.scalar(sql).await;
            quiet = if now == last { quiet + 1 } else { 0 };
            last = now;
        }
    }

    /// A fingerprint of everything stored: table names and row counts.
    pub async fn fingerprint(&self) -> Vec<(String, i64)> {
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                .fetch_all(self.store.pool())
                .await
                .unwrap();
        let mut out = Vec::new();
        for t in tables {
            let n = self.scalar(&format!("SELECT COUNT(*) FROM \"{t}\"")).await;
            out.push((t, n));
        }
        out
    }
}

pub fn recorder() -> Arc<RecordingNotifier> {
    Arc::new(RecordingNotifier::new())
}
