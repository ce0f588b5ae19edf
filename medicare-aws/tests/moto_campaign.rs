//! End to end against moto (URL in `MEDICARE_TEST_MOTO_URL`): 2,000 generated patients, the
//! form page in S3 under SSE-KMS, a campaign through SNS and SES, and a check of every SMS
//! and email moto recorded against the database; then a backup to S3 (SSE-KMS and a KMS
//! envelope) restored into a fresh database.

mod support;

use medicare_aws::{EmailOptions, S3BackupSink, S3FormPublisher, S3Location, SesEmailNotifier};
use medicare_core::backup::keys::{generate_identity, BackupKeys, Identities, KeyPaths};
use medicare_core::backup::{table_summaries, Backups};
use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::{presented_token_hash, HmacLinkSigner};
use medicare_core::notify::Channel;
use medicare_core::patient::{generate, GenerateOptions, Phone};
use medicare_core::publish::FormPublisher;
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::ResponseStore;
use rand::RngCore;
use secrecy::SecretBox;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// An opted-out number moto ships in its list.
const MOTO_OPTED_OUT: &str = "+447700900149";

/// Every distinct form-link token in `text` whose links start with `base_url`.
fn tokens_in(text: &str, base_url: &str) -> HashSet<String> {
    let prefix = format!("{base_url}/f/");
    text.match_indices(&prefix)
        .map(|(at, _)| text[at + prefix.len()..].chars().take(22).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_through_s3_sns_and_ses_gives_every_patient_their_own_link() {
    let Some(url) = moto_url() else { return };
    let config = moto_config(&url).await;
    let bucket = create_bucket(&config).await;
    let kms_key = create_kms_key(&config).await;
    let from = format!("{}@example.org", unique("flu"));
    verify_sender(&config, &from).await;
    // moto's recordings are global: this run's messages are the ones with its base URL.
    let base_url = format!("https://{}.example.org", unique("run"));

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("medicare.db"))
        .await
        .unwrap();
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let signer = HmacLinkSigner::new(SecretBox::new(Box::new(key)), &base_url).unwrap();
    let publisher = Arc::new(S3FormPublisher::new(
        &config,
        S3Location::new(&bucket, "forms").unwrap(),
        Some(kms_key.clone()),
    ));
    let sms = sms_notifier(&config);
    assert!(sms.sync_opted_out().await.unwrap() > 0);
    let email = Arc::new(
        SesEmailNotifier::new(
            &config,
            EmailOptions {
                from,
                configuration_set: None,
            },
        )
        .unwrap(),
    );
    let engine = Engine::new(
        Arc::new(store.clone()),
        publisher.clone(),
        Arc::new(signer),
        Arc::new(SystemClock),
    )
    .with_notifier(Channel::Sms, sms)
    .with_notifier(Channel::Email, email);

    let mut patients = generate(GenerateOptions {
        count: 2_000,
        seed: 2026,
    });
    // One patient has a number on the provider's opted-out list (and nobody else has it).
    patients.retain(|p| {
        p.phone
            .as_ref()
            .is_none_or(|ph| ph.as_str() != MOTO_OPTED_OUT)
    });
    let opted_out_patient = patients
        .iter_mut()
        .find(|p| p.phone.is_some() && !p.sms_opt_out)
        .unwrap();
    opted_out_patient.phone = Some(Phone::parse("07700 900149").unwrap());
    assert_eq!(
        opted_out_patient.phone.as_ref().unwrap().as_str(),
        MOTO_OPTED_OUT
    );
    engine.import_patients(&patients).await.unwrap();

    let spec = FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap();
    let form = engine.create_form(&spec).await.unwrap();
    assert_eq!(
        form.page_location,
        format!("s3://{bucket}/forms/{}.html", spec.name)
    );
    assert!(publisher.fetch(&spec.name).await.unwrap().contains("<form"));

    let filter = Arc::new(Filter::parse("has_phone or has_email").unwrap());
    let campaign = engine
        .create_campaign(&CampaignRequest::new("moto e2e", form.id, filter))
        .await
        .unwrap();
    let options = SendOptions {
        concurrency: 16,
        base_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(200),
        ..SendOptions::default()
    };
    let report = engine.send(campaign, &options, &()).await.unwrap();
    assert!(
        report.channels.iter().all(|c| c.is_complete()),
        "{:?}",
        report.channels
    );
    let (report_elapsed, report_retries) = (report.elapsed, report.retries);

    // The database's view: per channel, the sent deliveries' recipients and provider ids.
    let rows = delivery_rows(&store, campaign).await;
    let sent = |channel: &str| -> HashMap<i64, &str> {
        rows.iter()
            .filter(|r| r.channel == channel && r.status == "sent")
            .map(|r| (r.recipient, r.provider_id.as_deref().unwrap()))
            .collect()
    };
    let contact = |recipient: i64, channel: &str| -> Option<&str> {
        rows.iter()
            .find(|r| r.recipient == recipient && r.channel == channel)?
            .address()
    };

    let recorded = moto_data(&url).await;
    let ours_sms: Vec<(String, String)> = moto_sms(&recorded)
        .into_iter()
        .filter(|(_, text)| text.contains(&base_url))
        .collect();
    let ours_email: Vec<(String, String, String)> = moto_emails(&recorded)
        .into_iter()
        .filter(|(_, _, body)| body.contains(&base_url))
        .collect();
    let messages: Vec<(&str, &str, &str)> = ours_sms
        .iter()
        .map(|(to, text)| ("sms", to.as_str(), text.as_str()))
        .chain(
            ours_email
                .iter()
                .map(|(to, _, body)| ("email", to.as_str(), body.as_str())),
        )
        .collect();

    let mut seen: HashMap<&str, HashSet<String>> = HashMap::new();
    for (channel, to, text) in &messages {
        let tokens = tokens_in(text, &base_url);
        assert_eq!(tokens.len(), 1, "one link per {channel} message");
        let token = tokens.into_iter().next().unwrap();
        let link = store
            .link(&presented_token_hash(&token).expect("a well-formed token"))
            .await
            .unwrap()
            .expect("a link the store issued");
        assert_eq!(link.campaign_id, campaign);
        assert_eq!(
            contact(link.recipient_id, channel),
            Some(*to),
            "the {channel} went to the link's own recipient"
        );
        assert!(
            seen.entry(channel).or_default().insert(token),
            "a {channel} link appears twice"
        );
    }
    for channel in ["sms", "email"] {
        let in_db = sent(channel);
        let at_provider = seen.get(channel).map_or(0, HashSet::len);
        assert_eq!(
            at_provider,
            in_db.len(),
            "{channel}: moto's count = the database's"
        );
        assert!(in_db.len() > 1_000, "{channel}: {} sent", in_db.len());
    }
    // The provider ids recorded are the ids moto gave its SMS.
    let sms_ids: HashSet<&str> = recorded["sns"]["SMS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["message"].as_str().is_some_and(|t| t.contains(&base_url)))
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(sms_ids, sent("sms").into_values().collect::<HashSet<_>>());

    // The opted-out number: recorded failed, never published.
    let opted: Vec<_> = rows
        .iter()
        .filter(|r| r.channel == "sms" && r.phone.as_deref() == Some(MOTO_OPTED_OUT))
        .collect();
    assert_eq!(opted.len(), 1);
    assert_eq!(opted[0].status, "failed");
    assert!(
        opted[0].reason.as_deref().unwrap().contains("opted out"),
        "{:?}",
        opted[0].reason
    );
    assert!(!ours_sms.iter().any(|(to, _)| to == MOTO_OPTED_OUT));

    // A backup of this database to S3 (SSE-KMS + envelope) restores table for table.
    let keys_dir = dir.path().join("keys");
    let paths = KeyPaths::in_workspace(&keys_dir);
    generate_identity(&paths.identity(), &paths.recipients()).unwrap();
    let keys = BackupKeys::for_backup(&paths).unwrap();
    let identities = Identities::from_file(&paths.identity()).unwrap();
    let backups = Backups::new(
        Arc::new(S3BackupSink::new(
            &config,
            S3Location::new(&bucket, "backups").unwrap(),
            Some(kms_key),
        )),
        Arc::new(SystemClock),
    );
    let manifest = backups.run(&store, &keys, None).await.unwrap();
    let listing = backups.list(&keys.trusted).await.unwrap();
    assert_eq!(listing.backups.len(), 1, "skipped: {:?}", listing.skipped);
    assert_eq!(listing.backups[0].id, manifest.id);
    let restored_path = dir.path().join("restored.db");
    let report = backups
        .restore_to_sqlite_file(
            &manifest.id,
            &identities,
            &keys.trusted,
            &restored_path,
            false,
        )
        .await
        .unwrap();
    assert!(report.rows() > 2_000);
    let restored = SqliteStore::open(&restored_path).await.unwrap();
    assert_eq!(
        table_summaries(&restored).await.unwrap(),
        table_summaries(&store).await.unwrap()
    );
    backups
        .restore_test(&manifest.id, &identities, &keys.trusted)
        .await
        .unwrap();
    eprintln!(
        "moto e2e: {} SMS and {} emails checked, send took {:?} ({} retries); backup {} bytes, {} rows restored",
        ours_sms.len(),
        ours_email.len(),
        report_elapsed,
        report_retries,
        manifest.object.size,
        report.rows()
    );
}
