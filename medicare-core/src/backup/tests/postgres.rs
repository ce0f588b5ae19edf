//! Backups of a PostgreSQL database: a round trip into another, and through SQLite
//! and back (the format is engine-neutral).
use super::super::keys::{generate_identity, BackupKeys, Identities, KeyPaths};
use super::super::sink::MemorySink;
use super::super::{table_summaries, Backups};
use crate::clock::FixedClock;
use crate::patient::{generate, GenerateOptions};
use crate::store::postgres::tests::{at, populate, scratch};
use crate::store::postgres::PostgresStore;
use crate::store::{FormStore, PatientStore};
use std::sync::Arc;

async fn all_rows(store: &PostgresStore) -> (usize, usize) {
    let patients = store.all_patients().await.unwrap().len();
    let forms = store.forms().await.unwrap().len();
    (patients, forms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_round_trip_restores_every_table_on_postgres_and_through_sqlite() {
    scratch(|source_db| async move {
        let source = source_db.store();
        populate(source, 2_000, 300).await;
        let dir = tempfile::tempdir().unwrap();
        let paths = KeyPaths::in_workspace(dir.path());
        generate_identity(&paths.identity(), &paths.recipients()).unwrap();
        let keys = BackupKeys::for_backup(&paths).unwrap();
        let identities = Identities::from_file(&paths.identity()).unwrap();
        let backups = Backups::new(Arc::new(MemorySink::new()), Arc::new(FixedClock::new(at())));

        let manifest = backups.run(source, &keys, None).await.unwrap();
        let expected = table_summaries(source).await.unwrap();
        let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "patients",
                "patient_conditions",
                "forms",
                "campaigns",
                "recipients",
                "deliveries",
                "operators",
                "audit_events",
                "audit_head",
                "non_respondents",
                "operator_recovery_codes",
                "operator_sessions",
                "operator_tokens",
                "resp_1"
            ]
        );
        let rows = |name: &str| expected.iter().find(|(n, _)| n == name).unwrap().1.rows;
        assert_eq!(
            (rows("patients"), rows("recipients"), rows("resp_1")),
            (2_000, 2_000, 300)
        );
        assert_eq!(rows("non_respondents"), 1_700);

        scratch(|target_db| async move {
            let target = target_db.store();
            let restore = |replace| {
                backups.restore(
                    &manifest.id,
                    &identities,
                    &keys.trusted,
                    target,
                    "target",
                    replace,
                )
            };
            restore(false).await.unwrap();
            assert_eq!(table_summaries(target).await.unwrap(), expected);
            // A target holding rows is refused unless replaced; replaced, it is the same.
            let err = restore(false).await.unwrap_err();
            assert!(matches!(err, crate::Error::Conflict(_)), "{err}");
            restore(true).await.unwrap();
            assert_eq!(table_summaries(target).await.unwrap(), expected);
            // New rows take ids after the restored ones.
            let mut more = generate(GenerateOptions { count: 1, seed: 99 });
            more[0].external_id = "after-restore".into();
            target.insert_patients(&more).await.unwrap();
            let last = target.all_patients().await.unwrap().pop().unwrap();
            assert_eq!(
                (last.0 .0, last.1.external_id.as_str()),
                (2_001, "after-restore")
            );
            let mut spec = crate::form::FormSpec::from_toml_str(
                crate::store::postgres::tests::EVERY_TYPE_FORM,
            )
            .unwrap();
            spec.name = "second".into();
            let form = target.create_form(&spec, "x", at()).await.unwrap();
            assert_eq!(form.response_table, "resp_2");

            // Through SQLite and back: a PostgreSQL backup restores into SQLite, a
            // backup of that into PostgreSQL, and every table is as it was.
            let sqlite = crate::store::sqlite::SqliteStore::open(&dir.path().join("via.db"))
                .await
                .unwrap();
            backups
                .restore(
                    &manifest.id,
                    &identities,
                    &keys.trusted,
                    &sqlite,
                    "via.db",
                    false,
                )
                .await
                .unwrap();
            let later = Backups::new(
                Arc::new(MemorySink::new()),
                Arc::new(FixedClock::new(at() + chrono::Duration::hours(1))),
            );
            let via = later.run(&sqlite, &keys, None).await.unwrap();
            later
                .restore(&via.id, &identities, &keys.trusted, target, "target", true)
                .await
                .unwrap();
            assert_eq!(table_summaries(target).await.unwrap(), expected);
            assert_eq!(all_rows(target).await, all_rows(source).await);
        })
        .await;
    })
    .await;
}

/// The database suite, on two scratch databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_suite_passes() {
    use crate::backup::conformance::database as suite;
    scratch(|source| async move {
        scratch(|target| async move {
            suite::a_backup_restores_every_table(
                Arc::new(source.store().clone()),
                Arc::new(target.store().clone()),
            )
            .await;
        })
        .await;
    })
    .await;
    scratch(|source| async move {
        scratch(|target| async move {
            suite::a_failed_restore_leaves_the_target_empty(
                Arc::new(source.store().clone()),
                Arc::new(target.store().clone()),
            )
            .await;
        })
        .await;
    })
    .await;
}
