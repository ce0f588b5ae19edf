//! The demo campaign of the brief, end to end on the embedded defaults: generate a
//! population, create the vaccination form, select the patients with a lung condition,
//! create and preview the campaign, send it through the outbox, and summarise.

use crate::campaign::{CampaignId, CampaignRequest, Preview, SendObserver, SendReport};
use crate::config::{Config, Workspace};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::patient::{generate, GenerateOptions, LUNG_CONDITIONS};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The marker file that says a folder was made by the demo (and may be reset by it).
pub const DEMO_MARKER: &str = ".medicare-demo";

/// The vaccination registration form the demo creates.
pub const DEMO_FORM: &str = r#"
name = "vaccination_registration"
title = "Register for your vaccination"
description = "You have been invited because you have a lung condition. It takes a minute."
submit_label = "Register"

[[fields]]
name = "wants_vaccination"
label = "Would you like to be vaccinated?"
type = "yes_no"
required = true

[[fields]]
name = "preferred_site"
label = "Where would you like to be vaccinated?"
type = "single_choice"
options = ["My GP surgery", "A local pharmacy", "A vaccination centre"]

[[fields]]
name = "available_days"
label = "Which days suit you?"
type = "multiple_choice"
options = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

[[fields]]
name = "earliest_date"
label = "The earliest date you could come"
type = "date"
min = "2026-01-01"

[[fields]]
name = "contact_phone"
label = "A phone number to confirm your appointment"
type = "phone"

[[fields]]
name = "access_needs"
label = "Anything we should know to help you on the day?"
type = "long_text"
max_length = 1000
"#;

/// What the demo does.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Patients to generate.
    pub count: usize,
    /// Random seed.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            count: 112_500,
            seed: 2026,
        }
    }
}

/// How long each step took.
#[derive(Debug, Clone, Serialize)]
pub struct DemoTimings {
    /// Generating the population.
    pub generate: Duration,
    /// Importing it.
    pub import: Duration,
    /// Creating and publishing the form.
    pub form: Duration,
    /// Creating the campaign (freezing recipients, issuing links).
    pub create: Duration,
    /// Sending through the outbox.
    pub send: Duration,
    /// All of it.
    pub total: Duration,
}

/// The demo's result.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// The folder it ran in.
    pub dir: String,
    /// Patients generated and stored.
    pub patients: u64,
    /// The audience filter.
    pub filter: String,
    /// The campaign.
    pub campaign: CampaignId,
    /// The preview shown before sending.
    pub preview: Preview,
    /// What the send did.
    pub send: SendReport,
    /// Lines in the outbox file.
    pub outbox_lines: u64,
    /// Step timings.
    pub timings: DemoTimings,
}

/// The demo's audience: every patient with a lung condition.
pub fn lung_filter() -> Filter {
    let codes: Vec<String> = LUNG_CONDITIONS.iter().map(|c| format!("{c:?}")).collect();
    Filter::parse(&format!("condition in ({})", codes.join(", ")))
        .expect("the demo filter is valid")
}

/// Runs the demo in `dir`, which must be empty, missing, or an earlier demo's folder
/// (which is reset).
pub async fn run_demo(
    dir: &Path,
    options: DemoOptions,
    observer: &dyn SendObserver,
) -> Result<DemoSummary> {
    prepare_folder(dir)?;
    let total = Instant::now();
    let ws = Workspace::open(dir, Config::default()).await?;
    let engine = ws.engine();

    let t = Instant::now();
    let patients = generate(GenerateOptions {
        count: options.count,
        seed: options.seed,
    });
    let generate = t.elapsed();
    let t = Instant::now();
    let stored = engine.import_patients(&patients).await?;
    drop(patients);
    let import = t.elapsed();

    let t = Instant::now();
    let form = engine
        .create_form(&FormSpec::from_toml_str(DEMO_FORM)?)
        .await?;
    let form_time = t.elapsed();

    let filter = lung_filter();
    let t = Instant::now();
    let mut request = CampaignRequest::new(
        "Vaccination invitation: lung conditions",
        form.id,
        Arc::new(filter.clone()),
    );
    request.messages.org = ws.config().org.clone();
    let campaign = engine.create_campaign(&request).await?;
    let create = t.elapsed();
    let preview = engine.preview(campaign).await?;

    let t = Instant::now();
    let send = engine
        .send(campaign, &ws.config().send_options(), observer)
        .await?;
    let send_time = t.elapsed();

    let outbox = std::fs::read(ws.outbox_path()).map_err(|e| Error::io(ws.outbox_path(), e))?;
    let outbox_lines = outbox.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok(DemoSummary {
        dir: dir.display().to_string(),
        patients: stored,
        filter: filter.source().to_string(),
        campaign,
        preview,
        send,
        outbox_lines,
        timings: DemoTimings {
            generate,
            import,
            form: form_time,
            create,
            send: send_time,
            total: total.elapsed(),
        },
    })
}

fn prepare_folder(dir: &Path) -> Result<()> {
    let marker = dir.join(DEMO_MARKER);
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(dir, e)),
        Ok(mut entries) => {
            if marker.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            } else if entries.next().is_some() {
                return Err(Error::invalid(
                    dir.display().to_string(),
                    "the demo runs in an empty or new folder (or one an earlier demo made); this one holds other files",
                ));
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    std::fs::write(&marker, b"made by medicare demo\n").map_err(|e| Error::io(marker, e))
}
