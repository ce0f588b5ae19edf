//! The demo campaign of the brief, end to end on the embedded defaults: generate a
//! population, create the vaccination form, select the patients with a lung condition,
//! create and preview the campaign, send it through the outbox, and summarise. With the
//! `server` feature it goes on: it serves the forms on loopback, answers a deterministic
//! share of them through real HTTP requests (opening the links from the outbox), sends
//! one reminder round to the non-respondents and writes the weekly report.

use crate::campaign::{CampaignId, CampaignRequest, Preview, SendObserver, SendReport};
use crate::clock::SystemClock;
use crate::config::{Backends, Config, Workspace};
use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::notify::{Channel, Notifier, NotifyError, OutboundMessage, OutboxNotifier};
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
    /// Lines in the outbox file (absent when no channel used it).
    pub outbox_lines: Option<u64>,
    /// Step timings.
    pub timings: DemoTimings,
    /// Answers, reminder and report (feature `server`; `None` without it).
    pub follow_up: Option<DemoFollowUp>,
}

/// What the demo did after sending: answers through the form service, a reminder round
/// and the weekly report.
#[derive(Debug, Clone, Serialize)]
pub struct DemoFollowUp {
    /// Where the form service listened (loopback).
    pub served_on: String,
    /// Distinct links found in the outbox.
    pub links: u64,
    /// Forms answered over HTTP (recipient id ending in 0, 1 or 2: a deterministic 30 %).
    pub answered: u64,
    /// Links opened but not answered (recipient id ending in 3).
    pub opened_only: u64,
    /// Requests the service did not answer as expected (0 on a healthy run).
    pub unexpected: u64,
    /// Time spent answering.
    pub answer_time: Duration,
    /// The reminder round.
    pub remind: crate::campaign::RemindReport,
    /// Time spent planning and sending the reminder round.
    pub remind_time: Duration,
    /// The weekly report's files.
    pub report: crate::report::ReportFiles,
    /// Time spent building and writing the weekly report.
    pub report_time: Duration,
    /// The campaign's tracking figures at the end.
    pub tracking: crate::store::TrackingCounts,
}

/// The demo's audience: every patient with a lung condition.
pub fn lung_filter() -> Filter {
    let codes: Vec<String> = LUNG_CONDITIONS.iter().map(|c| format!("{c:?}")).collect();
    Filter::parse(&format!("condition in ({})", codes.join(", ")))
        .expect("the demo filter is valid")
}

/// Runs the demo in `dir`, which must be empty, missing, or an earlier demo's folder
/// (which is reset), on the embedded defaults.
pub async fn run_demo(
    dir: &Path,
    options: DemoOptions,
    observer: &dyn SendObserver,
) -> Result<DemoSummary> {
    run_demo_with(
        dir,
        Config::default(),
        Backends::default(),
        options,
        observer,
    )
    .await
}

/// As [`run_demo`], with `config` and `backends` choosing the database, the form
/// publisher and the notifiers (PostgreSQL, MySQL, S3, SNS, SES...). A database server
/// must hold no patients yet: the demo never mixes its synthetic population with real
/// records.
pub async fn run_demo_with(
    dir: &Path,
    config: Config,
    mut backends: Backends,
    options: DemoOptions,
    observer: &dyn SendObserver,
) -> Result<DemoSummary> {
    prepare_folder(dir)?;
    let total = Instant::now();
    // The demo's simulated patients "receive" their messages: each notifier is wrapped so
    // the links sent stay in memory for the follow-up to open.
    let inbox = Arc::new(Inbox::default());
    let mut outbox = None;
    for channel in [Channel::Sms, Channel::Email] {
        let inner = match backends.notifiers.remove(&channel) {
            Some(n) => n,
            None => match &outbox {
                Some(o) => Arc::clone(o),
                None => {
                    let o: Arc<dyn Notifier> =
                        Arc::new(OutboxNotifier::open(dir.join("outbox.jsonl"))?);
                    outbox = Some(o.clone());
                    o
                }
            },
        };
        backends.notifiers.insert(
            channel,
            Arc::new(Delivered {
                inner,
                inbox: inbox.clone(),
            }),
        );
    }
    let ws = Workspace::open_with(dir, config, Arc::new(SystemClock), backends).await?;
    let summary = demo_in(&ws, options, observer, &inbox).await;
    // Closed, the embedded database is one file again (its write-ahead log folded in):
    // part of the run, and of its time.
    ws.close().await;
    let mut summary = summary?;
    summary.timings.total = total.elapsed();
    Ok(summary)
}

/// The demo's steps in the opened workspace `ws`; the summary's total is the caller's.
async fn demo_in(
    ws: &Workspace,
    options: DemoOptions,
    observer: &dyn SendObserver,
    #[cfg_attr(not(feature = "server"), allow(unused_variables))] inbox: &Inbox,
) -> Result<DemoSummary> {
    let engine = ws.engine();
    let already = engine.count_patients(&Filter::all()).await?;
    if already > 0 {
        return Err(Error::Conflict(format!(
            "the demo needs an empty database, and this one holds {already} patients"
        )));
    }

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
    request.messages.gsm_safe = ws.config().gsm_safe;
    let campaign = engine.create_campaign(&request).await?;
    let create = t.elapsed();
    let preview = engine.preview(campaign).await?;

    let t = Instant::now();
    let send = engine
        .send(campaign, &ws.config().send_options(), observer)
        .await?;
    let send_time = t.elapsed();

    let outbox_lines = match std::fs::read(ws.outbox_path()) {
        Ok(outbox) => Some(outbox.iter().filter(|&&b| b == b'\n').count() as u64),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(ws.outbox_path(), e)),
    };
    #[cfg(feature = "server")]
    let follow_up = Some(follow_up(ws, campaign, &inbox.first_links(), observer).await?);
    #[cfg(not(feature = "server"))]
    let follow_up = None;
    Ok(DemoSummary {
        dir: ws.dir().display().to_string(),
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
            total: Duration::ZERO,
        },
        follow_up,
    })
}

/// The demo's deterministic answers for one recipient.
#[cfg(feature = "server")]
fn demo_answers(recipient: i64) -> Vec<(String, String)> {
    let sites = ["My GP surgery", "A local pharmacy", "A vaccination centre"];
    let days = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let r = recipient.unsigned_abs() as usize;
    [
        (
            "wants_vaccination",
            if r.is_multiple_of(7) { "no" } else { "yes" },
        ),
        ("preferred_site", sites[r % 3]),
        ("available_days", days[r % 6]),
        ("available_days", days[(r + 2) % 6]),
        ("earliest_date", "2026-12-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Serves the forms on loopback, answers a deterministic share over HTTP, reminds the
/// rest once and writes the weekly report.
#[cfg(feature = "server")]
async fn follow_up(
    ws: &Workspace,
    campaign: CampaignId,
    links: &std::collections::BTreeMap<i64, String>,
    observer: &dyn SendObserver,
) -> Result<DemoFollowUp> {
    use crate::server::{client, router, serve, ServerOptions};
    use futures::StreamExt;

    let engine = ws.engine();
    let loopback = |e: std::io::Error| Error::Config(format!("cannot serve on loopback: {e}"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(loopback)?;
    let addr = listener.local_addr().map_err(loopback)?;
    let base = format!("http://{addr}");
    // Every request comes from 127.0.0.1: the per-IP budget is lifted for the demo.
    let unlimited = std::num::NonZeroU32::new(u32::MAX).expect("non-zero");
    let options = ServerOptions {
        link_requests_per_minute: unlimited,
        link_burst: unlimited,
        ..ServerOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router(engine.clone(), options), async {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
    let t = Instant::now();
    let outcomes: Vec<(u8, bool)> = futures::stream::iter(links.iter())
        .filter(|(id, _)| std::future::ready(*id % 10 <= 3))
        .map(|(id, path)| {
            let (http, base) = (&http, &base);
            async move {
                let opened = client::open(http, base, path).await;
                if *id % 10 == 3 {
                    return (1, opened.is_ok_and(|s| s.is_success()));
                }
                let answered = client::submit(http, base, path, &demo_answers(*id)).await;
                (0, opened.is_ok() && answered.is_ok_and(|s| s.is_success()))
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let answer_time = t.elapsed();
    let _ = stop.send(());
    let _ = server.await;
    let unexpected = outcomes.iter().filter(|(_, ok)| !ok).count() as u64;
    let count = |kind: u8| outcomes.iter().filter(|(k, ok)| *k == kind && *ok).count() as u64;

    // The demo runs its reminder at once; a real campaign waits the configured gap.
    let policy = crate::campaign::ReminderPolicy {
        min_gap: chrono::Duration::zero(),
        ..ws.config().reminder_policy()
    };
    let t = Instant::now();
    let remind = engine
        .remind(campaign, &policy, &ws.config().send_options(), observer)
        .await?;
    let remind_time = t.elapsed();
    let t = Instant::now();
    let weekly = crate::report::weekly_report(engine).await?;
    let report = crate::report::write_weekly_report(&weekly, &ws.reports_dir())?;
    let report_time = t.elapsed();
    Ok(DemoFollowUp {
        served_on: base,
        links: links.len() as u64,
        answered: count(0),
        opened_only: count(1),
        unexpected,
        answer_time,
        remind,
        remind_time,
        report,
        report_time,
        tracking: engine.store().tracking_counts(campaign).await?,
    })
}

/// What the demo's simulated patients received: the path of each recipient's first-round
/// link, kept in memory only.
#[derive(Debug, Default)]
struct Inbox {
    links: std::sync::Mutex<std::collections::BTreeMap<i64, String>>,
}

impl Inbox {
    #[cfg(feature = "server")]
    fn first_links(&self) -> std::collections::BTreeMap<i64, String> {
        self.links.lock().expect("inbox lock").clone()
    }
}

/// A notifier that passes every message on and, once the provider accepted it, puts the
/// link in the recipient's [`Inbox`].
#[derive(Debug)]
struct Delivered {
    inner: Arc<dyn Notifier>,
    inbox: Arc<Inbox>,
}

#[async_trait::async_trait]
impl Notifier for Delivered {
    async fn send(&self, message: &OutboundMessage) -> std::result::Result<String, NotifyError> {
        let id = self.inner.send(message).await?;
        if message.round == 0 {
            if let Some(path) = crate::link::link_path(&message.text) {
                self.inbox
                    .links
                    .lock()
                    .expect("inbox lock")
                    .insert(message.recipient_id, path.to_string());
            }
        }
        Ok(id)
    }

    async fn flush(&self) -> std::result::Result<(), NotifyError> {
        self.inner.flush().await
    }
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
