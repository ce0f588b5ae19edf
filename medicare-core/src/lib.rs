//! # medicare-core
//!
//! The library behind `medicare`: a health provider runs patient outreach campaigns with
//! it. An operator defines a form, picks patients with a filter, previews the audience
//! and the cost, and confirms; every patient gets a unique one-time link by SMS and
//! email; the engine records every delivery, and a killed send resumes where it stopped.
//!
//! ## Why the seams look the way they do
//!
//! Everything that touches the outside world is a small trait, used as `Arc<dyn Trait>`
//! and mockable (feature `mocks`): [`store::Store`] (SQLite by default; PostgreSQL and
//! MySQL follow), [`publish::FormPublisher`] (local folder; S3), [`notify::Notifier`]
//! (outbox file; SNS, SES), [`link::LinkSigner`] and [`clock::Clock`]. The traits are
//! deliberately minimal: a notifier sends *one* message and classifies its failure; the
//! pacing, retries, batching and recording that make a bulk send safe live once, in the
//! [`campaign::Engine`], so every backend gets them and behaves the same.
//!
//! Patients answer through the form service ([`server`], feature `server`: an axum
//! router with the patient pages and a JSON API); [`report`] makes the weekly
//! non-respondent report, and [`campaign::Engine::remind`] sends reminder rounds.
//!
//! Patient data is health data. No log line or error message carries a name, phone
//! number, email address or answer: they name ids, lines, fields and positions. Links
//! carry only a random token; the database keeps only its hash.
//!
//! ## Quick start
//!
//! ```no_run
//! # async fn run() -> medicare_core::Result<()> {
//! use medicare_core::{campaign::CampaignRequest, filter::Filter, Workspace};
//! use std::sync::Arc;
//!
//! let ws = Workspace::open(std::path::Path::new("."), Default::default()).await?;
//! let engine = ws.engine();
//! let patients = medicare_core::patient::generate(medicare_core::patient::GenerateOptions { count: 1000, seed: 1 });
//! engine.import_patients(&patients).await?;
//! let form = engine.create_form(&medicare_core::form::FormSpec::from_toml_str(r#"
//!     name = "flu"
//!     title = "Register for your flu vaccination"
//!     [[fields]]
//!     name = "attending"
//!     label = "Will you attend?"
//!     type = "yes_no"
//!     required = true
//! "#)?).await?;
//! let filter = Arc::new(Filter::parse(r#"condition in ("asthma", "copd") and age >= 65"#)?);
//! let id = engine.create_campaign(&CampaignRequest::new("flu 2026", form.id, filter)).await?;
//! println!("{:?}", engine.preview(id).await?.estimated_cost);
//! engine.send(id, &Default::default(), &()).await?;
//! # Ok(()) }
//! ```

pub mod access;
pub mod audit;
pub mod backup;
pub mod campaign;
pub mod clock;
pub mod config;
pub mod console;
pub mod demo;
pub mod error;
pub mod fhir;
pub mod filter;
pub mod form;
mod group_commit;
pub mod link;
pub mod metrics;
pub mod notify;
pub mod patient;
pub mod publish;
pub mod report;
#[cfg(feature = "server")]
pub mod server;
pub mod sql;
pub mod store;
mod task;
#[cfg(any(test, feature = "testing"))]
pub mod test_support;
pub mod workspace;

pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use workspace::Workspace;
