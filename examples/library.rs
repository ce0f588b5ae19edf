//! Embedding medicare: a campaign from a Rust program, on the embedded defaults, with the
//! in-memory recording notifier standing in for SMS and email.
//!
//! Run with `cargo run -p medicare-examples --example library`.

use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::HmacLinkSigner;
use medicare_core::notify::{Channel, RecordingNotifier};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("medicare-example-{}", std::process::id()));
    let store = Arc::new(SqliteStore::memory().await?);
    let signer = Arc::new(HmacLinkSigner::from_key_file(
        &dir.join("link.key"),
        "https://forms.example.org",
    )?);
    let notifier = Arc::new(RecordingNotifier::new());
    let engine = Engine::new(
        store,
        Arc::new(LocalFolderPublisher::new(dir.join("forms"))),
        signer,
        Arc::new(SystemClock),
    )
    .with_notifier(Channel::Sms, notifier.clone())
    .with_notifier(Channel::Email, notifier.clone());

    engine
        .import_patients(&generate(GenerateOptions {
            count: 2_000,
            seed: 7,
        }))
        .await?;
    let form = engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM)?)
        .await?;
    let filter = Filter::parse(r#"condition in ("asthma", "copd") and age >= 50"#)?;
    println!(
        "audience: {} patients",
        engine.count_patients(&filter).await?
    );

    let id = engine
        .create_campaign(&CampaignRequest::new("example", form.id, Arc::new(filter)))
        .await?;
    let preview = engine.preview(id).await?;
    println!(
        "{} recipients, estimated cost {}",
        preview.recipients, preview.estimated_cost
    );

    let report = engine.send(id, &SendOptions::default(), &()).await?;
    println!(
        "sent {:?}, failed {:?}; the notifier holds {} messages",
        report.sent,
        report.failed,
        notifier.count()
    );
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
