//! # medicare-aws
//!
//! AWS implementations of the seams of [`medicare_core`]: form pages in S3
//! ([`S3FormPublisher`], SSE-KMS), SMS through SNS ([`SnsSmsNotifier`]), email through SES
//! v2 ([`SesEmailNotifier`]), backups in S3 ([`S3BackupSink`], SSE-KMS and a KMS
//! envelope, [`KmsEnvelope`]), operators' TOTP secrets sealed with KMS ([`KmsSealer`]),
//! and presigned S3 links as an alternative link signer
//! ([`PresignedLinkSigner`]).
//!
//! ## Why it looks the way it does
//!
//! Every type here implements a trait of medicare-core and nothing more: the campaign
//! engine keeps the pacing, retries, batching and recording, so a campaign sent through
//! SNS and SES behaves exactly as one sent to the outbox file. In particular the
//! notifiers' SDK clients are built with **the SDK's own retries disabled**
//! ([`connect::sns_client`], [`connect::ses_client`]): the SDK gives up after three
//! attempts, which under sustained throttling loses a share of a campaign, while the
//! engine re-queues each recipient with backoff and jitter under a generous attempt
//! budget and records permanent failures. A notifier sends one message, once, and
//! classifies its failure (throttled, transient or permanent) for the engine.
//!
//! All clients come from one [`SdkConfig`](aws_config::SdkConfig) built by
//! [`connect::sdk_config`]: the standard aws-config chain (environment, profile, web
//! identity, container and instance credentials), with an optional endpoint override so
//! the same code talks to AWS or to a local AWS-compatible server (moto).
//!
//! No error message or log line carries a phone number, an email address or a message
//! text: errors name the AWS error code, the HTTP status and ids.
//!
//! ## Wiring an engine to AWS
//!
//! ```no_run
//! # async fn run() -> medicare_core::Result<()> {
//! use medicare_aws::{
//!     connect, EmailOptions, S3FormPublisher, S3Location, SesEmailNotifier, SmsOptions,
//!     SnsSmsNotifier,
//! };
//! use medicare_core::campaign::{Engine, SendOptions};
//! use medicare_core::clock::SystemClock;
//! use medicare_core::link::HmacLinkSigner;
//! use medicare_core::notify::Channel;
//! use std::sync::Arc;
//!
//! // `None`: AWS itself; `Some("http://127.0.0.1:5000")`: a local moto server.
//! let aws = connect::sdk_config(None).await?;
//! let store = medicare_core::store::sqlite::SqliteStore::open("medicare.db".as_ref()).await?;
//! let forms = S3FormPublisher::new(
//!     &aws,
//!     S3Location::parse("s3://example-forms/pages")?,
//!     Some("alias/medicare".to_string()),
//! );
//! let sms = SnsSmsNotifier::new(&aws, SmsOptions::default())?;
//! // Numbers that replied STOP are never sent to: the list is loaded by the first SMS.
//! let email = SesEmailNotifier::new(
//!     &aws,
//!     EmailOptions { from: "flu@example.org".into(), configuration_set: None },
//! )?;
//! let signer = HmacLinkSigner::from_key_file("link.key".as_ref(), "https://forms.example.org")?;
//! let engine = Engine::new(Arc::new(store), Arc::new(forms), Arc::new(signer), Arc::new(SystemClock))
//!     .with_notifier(Channel::Sms, Arc::new(sms))
//!     .with_notifier(Channel::Email, Arc::new(email));
//! # let campaign = medicare_core::campaign::CampaignId(1);
//! engine.send(campaign, &SendOptions::default(), &()).await?;
//! # Ok(()) }
//! ```

pub mod connect;
mod error;

mod backends;
mod backup;
mod kms;
mod location;
mod presign;
mod publish;
pub mod pull;
pub mod rds;
mod s3;
mod sealer;
mod ses;
mod settings;
mod sns;

pub use backends::backends;
pub use backup::S3BackupSink;
pub use connect::sdk_config;
pub use kms::KmsEnvelope;
pub use location::S3Location;
pub use presign::{PresignedLinkSigner, MAX_PRESIGNED_EXPIRY};
pub use publish::S3FormPublisher;
pub use sealer::KmsSealer;
pub use ses::{EmailOptions, SesEmailNotifier};
pub use settings::AwsSettings;
pub use sns::{SmsOptions, SmsType, SnsSmsNotifier, MAX_SMS_BYTES};
