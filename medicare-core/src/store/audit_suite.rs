//! What every SQL backend's audit tests run (test builds only): an intact chain
//! verifies; the application's own connection cannot change or delete an event; each
//! kind of tampering, done behind the application's back with the triggers dropped, is
//! found at the right seq; concurrent appends keep one gapless chain; an action and its
//! event commit (or roll back) together; a whole campaign lifecycle by three actors is
//! recorded as exactly the expected events; and a canary patient's personal data never
//! reaches the ledger, its export or its checkpoints.

use crate::audit::{
    self, chain, read_checkpoints, verify_ledger, write_checkpoint, Action, Actor, AuditContext,
    AuditEvent, AuditStore, Detail, LedgerEntry, ProblemKind, Target, TargetKind,
};
use crate::backup::keys::{ManifestSigner, TrustedSigners};
use crate::backup::sink::{get_bytes, BackupSink, MemorySink};
use crate::campaign::{CampaignId, CampaignRequest, FormId};
use crate::error::{Error, Result};
use crate::form::FormSpec;
use crate::patient::Patient;
use crate::store::Database;
use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use std::sync::Arc;

/// What a test does behind the application's back: raw SQL on a privileged connection.
#[async_trait]
pub(crate) trait Privileged: Send + Sync {
    /// Runs `sql` (one or more statements).
    async fn exec(&self, sql: &str) -> Result<()>;
    /// Writes `entry` as it is, bypassing the chain head.
    async fn insert_entry(&self, entry: &LedgerEntry) -> Result<()>;
    /// The statements that drop the ledger's append-only triggers.
    fn drop_triggers(&self) -> &'static str;
}

/// `n` events by a few actors, appended one by one.
async fn seed(db: &dyn AuditStore, n: i64) -> Vec<LedgerEntry> {
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
    let mut out = Vec::new();
    for i in 1..=n {
        let actor = match i % 3 {
            0 => Actor::local("alice").unwrap(),
            1 => Actor::Operator(crate::access::OperatorId(i)),
            _ => Actor::system("reminders").unwrap(),
        };
        let event = AuditEvent::new(
            at + chrono::Duration::seconds(i),
            actor,
            Action::CampaignStatus,
            Target::campaign(CampaignId(i)),
        )
        .with_detail(Detail::none().count("n", i as u64));
        out.push(db.append_event(&event).await.unwrap());
    }
    out
}

fn keys() -> (ManifestSigner, TrustedSigners) {
    let signer = ManifestSigner::generate();
    let trusted = TrustedSigners::default().with(&signer);
    (signer, trusted)
}

/// Appended entries are gapless, chained and verify; the head is the last entry.
pub(crate) async fn an_intact_chain_verifies(db: Arc<dyn Database>) {
    let sink = MemorySink::new();
    let (signer, trusted) = keys();
    let empty = verify_ledger(db.as_ref(), &sink, &trusted).await.unwrap();
    assert!(empty.is_intact() && empty.entries == 0, "{empty:?}");
    let written = seed(db.as_ref(), 5).await;
    write_checkpoint(
        db.as_ref(),
        &sink,
        &signer,
        Actor::system("test").unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    let stored = audit::all_entries(db.as_ref()).await.unwrap();
    assert_eq!(stored.len(), 6, "five events and the checkpoint's own");
    assert_eq!(stored[..5], written[..], "stored exactly as appended");
    for (i, e) in stored.iter().enumerate() {
        assert_eq!(e.seq, i as i64 + 1);
        assert_eq!(chain::recompute(e), e.hash);
    }
    assert_eq!(stored[5].action, "audit_checkpoint");
    assert_eq!(stored[5].detail, "seq=5");
    assert_eq!(db.audit_head().await.unwrap(), (6, stored[5].hash));
    let v = verify_ledger(db.as_ref(), &sink, &trusted).await.unwrap();
    assert!(v.is_intact(), "{v:?}");
    assert_eq!((v.entries, v.head_seq, v.checkpoints), (6, 6, 1));
}

/// The application's own connection can neither change nor delete an event.
pub(crate) async fn the_application_cannot_change_the_ledger(
    db: Arc<dyn Database>,
    own: &dyn Privileged,
) {
    seed(db.as_ref(), 2).await;
    for sql in [
        "UPDATE audit_events SET actor = 'local:mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
        "DELETE FROM audit_events",
    ] {
        let e = own.exec(sql).await.expect_err(sql);
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    let (_, trusted) = keys();
    let v = verify_ledger(db.as_ref(), &MemorySink::new(), &trusted)
        .await
        .unwrap();
    assert!(v.is_intact() && v.entries == 2, "{v:?}");
}

/// One kind of tampering and where verification must find it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Tamper {
    /// Change one field of seq 3.
    Edit,
    /// Delete seq 3.
    Delete,
    /// Insert a well-formed entry at seq 4, renumbering the rest.
    Insert,
    /// Swap seq 3 and 4.
    Reorder,
    /// Drop seq 5 and 6 after a checkpoint vouched for 6.
    Truncate,
    /// Rewrite seq 2 onwards as a consistent chain after a checkpoint vouched for 6.
    Rewrite,
}

impl Tamper {
    /// Every kind.
    pub(crate) const ALL: [Tamper; 6] = [
        Tamper::Edit,
        Tamper::Delete,
        Tamper::Insert,
        Tamper::Reorder,
        Tamper::Truncate,
        Tamper::Rewrite,
    ];

    fn expected(self) -> (i64, ProblemKind) {
        match self {
            Tamper::Edit => (3, ProblemKind::HashMismatch),
            Tamper::Delete => (3, ProblemKind::Gap),
            Tamper::Insert => (4, ProblemKind::Inserted),
            Tamper::Reorder => (3, ProblemKind::Reordered),
            Tamper::Truncate => (5, ProblemKind::Truncated),
            Tamper::Rewrite => (6, ProblemKind::CheckpointMismatch),
        }
    }
}

/// Six events and a checkpoint of them, the triggers dropped, `tamper` done, and
/// verification names the expected seq and problem.
pub(crate) async fn tampering_is_found(
    db: Arc<dyn Database>,
    admin: &dyn Privileged,
    tamper: Tamper,
) {
    let sink = MemorySink::new();
    let (signer, trusted) = keys();
    let entries = seed(db.as_ref(), 6).await;
    let checkpoint = crate::audit::Checkpoint::sign(6, &entries[5].hash, Utc::now(), &signer);
    sink.put(&checkpoint.key(), serde_json::to_vec(&checkpoint).unwrap())
        .await
        .unwrap();
    let before = verify_ledger(db.as_ref(), &sink, &trusted).await.unwrap();
    assert!(before.is_intact(), "{before:?}");
    admin.exec(admin.drop_triggers()).await.unwrap();
    let forged = |seq: i64, prev: [u8; 32]| {
        let event = AuditEvent::new(
            Utc::now(),
            Actor::local("mallory").unwrap(),
            Action::ResponsesExport,
            Target::campaign(CampaignId(1)),
        );
        chain::seal(&event, seq, prev)
    };
    match tamper {
        Tamper::Edit => {
            admin
                .exec("UPDATE audit_events SET actor = 'local:mallory' WHERE seq = 3")
                .await
                .unwrap();
        }
        Tamper::Delete => admin
            .exec("DELETE FROM audit_events WHERE seq = 3")
            .await
            .unwrap(),
        Tamper::Insert => {
            admin
                .exec("UPDATE audit_events SET seq = seq + 1000 WHERE seq > 3")
                .await
                .unwrap();
            admin
                .exec("UPDATE audit_events SET seq = seq - 999 WHERE seq > 1000")
                .await
                .unwrap();
            admin
                .insert_entry(&forged(4, entries[2].hash))
                .await
                .unwrap();
        }
        Tamper::Reorder => {
            for sql in [
                "UPDATE audit_events SET seq = 1000 WHERE seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE seq = 4",
                "UPDATE audit_events SET seq = 4 WHERE seq = 1000",
            ] {
                admin.exec(sql).await.unwrap();
            }
        }
        Tamper::Truncate => admin
            .exec("DELETE FROM audit_events WHERE seq > 4")
            .await
            .unwrap(),
        Tamper::Rewrite => {
            admin
                .exec("DELETE FROM audit_events WHERE seq > 1")
                .await
                .unwrap();
            let mut prev = entries[0].hash;
            for seq in 2..=6 {
                let entry = forged(seq, prev);
                admin.insert_entry(&entry).await.unwrap();
                prev = entry.hash;
            }
        }
    }
    let v = verify_ledger(db.as_ref(), &sink, &trusted).await.unwrap();
    let problem = v
        .problem
        .unwrap_or_else(|| panic!("{tamper:?} went unnoticed"));
    assert_eq!(
        (problem.seq, problem.kind),
        tamper.expected(),
        "{tamper:?}: {problem}"
    );
    // Without the checkpoint, truncation and a consistent rewrite cannot be seen: that is
    // what checkpoints are for.
    if matches!(tamper, Tamper::Truncate | Tamper::Rewrite) {
        let bare = verify_ledger(db.as_ref(), &MemorySink::new(), &trusted)
            .await
            .unwrap();
        assert!(bare.is_intact(), "{tamper:?}: {bare:?}");
    }
    // A checkpoint signed by an untrusted key is a problem of its own.
    if matches!(tamper, Tamper::Edit) {
        let stranger = ManifestSigner::generate();
        let other = MemorySink::new();
        let c = crate::audit::Checkpoint::sign(1, &entries[0].hash, Utc::now(), &stranger);
        other
            .put(&c.key(), serde_json::to_vec(&c).unwrap())
            .await
            .unwrap();
        let found = read_checkpoints(&other, &trusted).await.unwrap();
        assert!(!found[0].trusted);
        let v =
            crate::audit::verify::verify(&audit::all_entries(db.as_ref()).await.unwrap(), &found);
        assert_eq!(v.problem.unwrap().kind, ProblemKind::UntrustedCheckpoint);
    }
}

/// Appends from many concurrent transactions keep one gapless, valid chain.
pub(crate) async fn concurrent_appends_keep_one_chain(db: Arc<dyn Database>) {
    const TASKS: i64 = 8;
    const EACH: i64 = 25;
    let mut handles = Vec::new();
    for t in 0..TASKS {
        let db = db.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..EACH {
                let event = AuditEvent::new(
                    Utc::now(),
                    Actor::Operator(crate::access::OperatorId(t)),
                    Action::ResponsesRead,
                    Target::campaign(CampaignId(i)),
                );
                db.append_event(&event).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let (_, trusted) = keys();
    let v = verify_ledger(db.as_ref(), &MemorySink::new(), &trusted)
        .await
        .unwrap();
    assert!(v.is_intact(), "{v:?}");
    assert_eq!(
        (v.entries, v.head_seq),
        ((TASKS * EACH) as u64, TASKS * EACH)
    );
}

fn demo_form() -> FormSpec {
    FormSpec::from_toml_str(crate::demo::DEMO_FORM).unwrap()
}

/// An action and its event commit together: a refused action leaves no event.
pub(crate) async fn an_action_and_its_event_commit_together(db: Arc<dyn Database>) {
    let alice = AuditContext::new(Actor::local("alice").unwrap());
    let form = audit::scope(alice.clone(), db.create_form(&demo_form(), "p", Utc::now()))
        .await
        .unwrap();
    let again = audit::scope(alice.clone(), db.create_form(&demo_form(), "p", Utc::now())).await;
    assert!(
        matches!(again, Err(Error::AlreadyExists { .. })),
        "{again:?}"
    );
    let patients = crate::patient::generate(crate::patient::GenerateOptions { count: 3, seed: 1 });
    assert_eq!(
        audit::scope(alice.clone(), db.insert_patients(&patients))
            .await
            .unwrap(),
        3
    );
    let clash = audit::scope(alice.clone(), db.insert_patients(&patients[..1])).await;
    assert!(clash.is_err());
    let entries = audit::all_entries(db.as_ref()).await.unwrap();
    let got: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
        .collect();
    let form_target = format!("form:{}", form.id.0);
    assert_eq!(
        got,
        [
            ("local:alice", "form_create", form_target.as_str()),
            ("local:alice", "patient_import", ""),
        ]
    );
    assert_eq!(entries[1].detail, "imported=3");
    // Outside any scope, the event still is recorded, as unattributed.
    db.set_campaign_state(CampaignId(999), &[], crate::campaign::CampaignState::Draft)
        .await
        .expect_err("no such campaign");
    assert_eq!(audit::all_entries(db.as_ref()).await.unwrap().len(), 2);
}

/// The whole lifecycle (import, form, campaign, preview of identifiable recipients,
/// send, a patient answers, reminder, report, export, backup, checkpoint) as three
/// actors (a data steward on the local CLI, a campaign manager signed in as operator 7,
/// the reminder job) and the patient's link, recorded as exactly the expected events;
/// and a canary patient whose name, phone, email and answer never reach the ledger, its
/// CSV and JSON exports or its checkpoints.
pub(crate) async fn a_lifecycle_is_recorded_without_personal_data(db: Arc<dyn Database>) {
    const NAME: &str = "Zebedee";
    const FAMILY: &str = "Quonsetterby";
    const PHONE: &str = "+447700900461";
    const EMAIL: &str = "zebedee.canary@example.org";
    const ANSWER: &str = "canary-needs-a-hoist";
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
    let store: Arc<dyn crate::store::Store> = db.clone();
    let engine = crate::test_support::engine(store, dir.path(), now);
    let alice = AuditContext::new(Actor::local("alice").unwrap());
    let manager = AuditContext::new(Actor::Operator(crate::access::OperatorId(7)));
    let reminders = AuditContext::new(Actor::system("reminders").unwrap());

    let mut patients =
        crate::patient::generate(crate::patient::GenerateOptions { count: 4, seed: 3 });
    let canary: &mut Patient = &mut patients[0];
    canary.given_name = NAME.into();
    canary.family_name = FAMILY.into();
    canary.phone = Some(crate::patient::Phone::parse(PHONE).unwrap());
    canary.email = Some(crate::patient::Email::parse(EMAIL).unwrap());
    canary.sms_opt_out = false;
    let mut csv = Vec::new();
    crate::patient::write_csv(&patients, &mut csv).unwrap();
    let file = crate::patient::parse_csv(csv.as_slice(), "canary.csv", now.date_naive()).unwrap();
    audit::scope(alice.clone(), engine.import_csv(&file))
        .await
        .unwrap();
    let spec = demo_form();
    let form = audit::scope(alice.clone(), engine.create_form(&spec))
        .await
        .unwrap();
    let request = CampaignRequest::new(
        "canary",
        form.id,
        Arc::new(crate::filter::Filter::parse("has_phone or has_email").unwrap()),
    );
    let campaign = audit::scope(manager.clone(), engine.create_campaign(&request))
        .await
        .unwrap();
    let stored = db.campaign(campaign).await.unwrap();
    let (_, rows) = audit::scope(
        manager.clone(),
        crate::console::subset::campaign_subset(&engine, &stored, true),
    )
    .await
    .unwrap();
    // A masked subset shows no identifiable data and is not recorded.
    audit::scope(
        manager.clone(),
        crate::console::subset::campaign_subset(&engine, &stored, false),
    )
    .await
    .unwrap();
    audit::scope(
        manager.clone(),
        engine.send(campaign, &Default::default(), &()),
    )
    .await
    .unwrap();
    let recipient = db
        .non_respondents(campaign)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.patient_id.0 == 1)
        .expect("the canary is a recipient")
        .recipient_id;
    let answers = spec
        .check_submission(&[
            ("wants_vaccination".into(), "yes".into()),
            ("access_needs".into(), ANSWER.into()),
        ])
        .unwrap();
    db.record_opens(&[crate::store::LinkOpen {
        recipient_id: recipient,
        at: now,
    }])
    .await
    .unwrap();
    db.submit_response(recipient, &form, &answers, now)
        .await
        .unwrap();
    audit::scope(reminders.clone(), db.plan_reminder_round(campaign, 1, now))
        .await
        .unwrap();
    let report = audit::scope(alice.clone(), crate::report::weekly_report(&engine))
        .await
        .unwrap();
    assert_eq!(report.campaigns.len(), 1);
    let mut export = Vec::new();
    let exported = audit::scope(
        alice.clone(),
        crate::fhir::export_responses(db.as_ref(), campaign, "https://x.example", &mut export),
    )
    .await
    .unwrap();
    assert_eq!(exported, 1);
    let paths = crate::backup::keys::KeyPaths::in_workspace(dir.path());
    crate::backup::keys::generate_identity(&paths.identity(), &paths.recipients()).unwrap();
    let backup_keys = crate::backup::keys::BackupKeys::for_backup(&paths).unwrap();
    let ledger: Arc<dyn AuditStore> = db.clone();
    let backups = crate::backup::Backups::new(
        Arc::new(MemorySink::new()),
        Arc::new(crate::clock::FixedClock::new(now)),
    )
    .with_ledger(ledger);
    let manifest = audit::scope(alice.clone(), backups.run(db.as_ref(), &backup_keys, None))
        .await
        .unwrap();

    let sink = MemorySink::new();
    let (signer, trusted) = keys();
    write_checkpoint(
        db.as_ref(),
        &sink,
        &signer,
        reminders.actor.clone(),
        Utc::now(),
    )
    .await
    .unwrap();
    let entries = audit::all_entries(db.as_ref()).await.unwrap();
    let got: Vec<(String, String, String)> = entries
        .iter()
        .map(|e| (e.actor.clone(), e.action.clone(), e.target.clone()))
        .collect();
    let c = format!("campaign:{}", campaign.0);
    let f = format!("form:{}", form.id.0);
    let r = format!("recipient:{recipient}");
    let patient = format!("patient-link:{recipient}");
    let want: Vec<(String, String, String)> = [
        ("local:alice", "patient_import", String::new()),
        ("local:alice", "form_create", f.clone()),
        ("operator:7", "campaign_create", format!("{c},{f}")),
        ("operator:7", "recipients_preview", c.clone()),
        ("operator:7", "campaign_status", c.clone()),
        ("operator:7", "send", c.clone()),
        ("operator:7", "campaign_status", c.clone()),
        (&*patient, "link_open", r.clone()),
        (&*patient, "form_submit", format!("{r},{f}")),
        ("system:reminders", "reminder_round", c.clone()),
        (
            "local:alice",
            "report_generate",
            "report:weekly".to_string(),
        ),
        ("local:alice", "responses_export", c.clone()),
        (
            "local:alice",
            "backup_run",
            format!("backup:{}", manifest.id),
        ),
        ("system:reminders", "audit_checkpoint", String::new()),
    ]
    .into_iter()
    .map(|(a, b, t)| (a.to_string(), b.to_string(), t))
    .collect();
    assert_eq!(got, want);
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&csv));
    assert_eq!(entries[0].detail, format!("imported=4,file_sha256={sha}"));
    assert_eq!(entries[3].detail, format!("rows={}", rows.len()));
    assert_eq!(entries[10].detail, "campaigns=1,responses=1");
    assert_eq!(entries[11].detail, "responses=1");
    assert!(
        entries[12].detail.starts_with("kind=full,bytes="),
        "{}",
        entries[12].detail
    );
    assert!(entries.iter().all(|e| e.outcome == "ok"));
    let v = verify_ledger(db.as_ref(), &sink, &trusted).await.unwrap();
    assert!(v.is_intact(), "{v:?}");

    let mut everything = audit::to_csv(&entries);
    everything.push_str(&serde_json::to_string(&entries).unwrap());
    for info in sink.list("").await.unwrap() {
        everything
            .push_str(&String::from_utf8(get_bytes(&sink, &info.key).await.unwrap()).unwrap());
    }
    for canary in [NAME, FAMILY, PHONE, "7700900461", EMAIL, ANSWER] {
        assert!(
            !everything.to_lowercase().contains(&canary.to_lowercase()),
            "{canary} reached the ledger"
        );
    }
    let _ = FormId(0);
    let _ = TargetKind::Recipient;
}

/// A backup restored over a database with a ledger of its own (`replace`) brings the
/// source's ledger, seqs and hashes as they were: it verifies against the source's
/// checkpoints, and appends go on from its head.
pub(crate) async fn a_restore_keeps_the_ledger_verifiable(
    source: Arc<dyn Database>,
    target: Arc<dyn Database>,
) {
    let sink = MemorySink::new();
    let (signer, trusted) = keys();
    seed(source.as_ref(), 5).await;
    write_checkpoint(
        source.as_ref(),
        &sink,
        &signer,
        Actor::system("backup").unwrap(),
        Utc::now(),
    )
    .await
    .unwrap();
    seed(target.as_ref(), 2).await;
    let mut snapshot = source.open_snapshot().await.unwrap();
    let tables = snapshot.tables().to_vec();
    let mut restore = target.begin_restore(true).await.unwrap();
    for table in &tables {
        let mut rows = crate::store::access_suite::Collect::default();
        snapshot.scan(table, &mut rows).await.unwrap();
        restore.prepare_table(table).await.unwrap();
        if !rows.0.is_empty() {
            restore.insert(table, rows.0).await.unwrap();
        }
    }
    restore.commit().await.unwrap();
    drop(snapshot);
    let restored = audit::all_entries(target.as_ref()).await.unwrap();
    assert_eq!(restored, audit::all_entries(source.as_ref()).await.unwrap());
    let v = verify_ledger(target.as_ref(), &sink, &trusted)
        .await
        .unwrap();
    assert!(v.is_intact() && v.entries == 6, "{v:?}");
    seed(target.as_ref(), 1).await;
    let v = verify_ledger(target.as_ref(), &sink, &trusted)
        .await
        .unwrap();
    assert!(v.is_intact() && v.head_seq == 7, "{v:?}");
    // The triggers are back after the restore.
    let e = target
        .append_event(&AuditEvent::new(
            Utc::now(),
            Actor::system("x").unwrap(),
            Action::Request,
            Target::none(),
        ))
        .await;
    assert!(e.is_ok());
}

/// A connection as the application's own role under the documented grant set (SELECT
/// and INSERT on `audit_events`; SELECT, INSERT and UPDATE on `audit_head`), on a
/// database whose ledger the owner made.
#[async_trait]
pub(crate) trait GrantedRole: Send + Sync {
    /// Appends `event` as the application does, in a transaction of its own.
    async fn append(&self, event: &AuditEvent) -> Result<LedgerEntry>;
    /// Runs `sql` as the role.
    async fn exec(&self, sql: &str) -> Result<()>;
}

/// Under the grant set, the application's role appends (the chain goes on from the
/// owner's entries and verifies) but UPDATE, DELETE and TRUNCATE of an event are refused
/// by the grant itself (a permission error, before any trigger runs).
pub(crate) async fn the_grant_set_allows_only_insert_and_select(
    db: Arc<dyn Database>,
    role: &dyn GrantedRole,
) {
    seed(db.as_ref(), 2).await;
    let event = AuditEvent::new(
        Utc::now(),
        Actor::Operator(crate::access::OperatorId(3)),
        Action::ResponsesRead,
        Target::campaign(CampaignId(1)),
    );
    let entry = role.append(&event).await.expect("the role may append");
    assert_eq!(entry.seq, 3);
    for sql in [
        "UPDATE audit_events SET actor = 'local:mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
        "TRUNCATE TABLE audit_events",
    ] {
        let e = role.exec(sql).await.expect_err(sql).to_string();
        let by_grant = e.contains("permission denied") || e.contains("command denied");
        assert!(by_grant && !e.contains("append-only"), "{sql}: {e}");
    }
    let (_, trusted) = keys();
    let v = verify_ledger(db.as_ref(), &MemorySink::new(), &trusted)
        .await
        .unwrap();
    assert!(v.is_intact() && v.entries == 3, "{v:?}");
}
