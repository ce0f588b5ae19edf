//! Configuration, and the embedded defaults in one folder.
//!
//! With no configuration at all, a [`Workspace`] keeps everything in one folder:
//!
//! | what | where |
//! |---|---|
//! | database | `medicare.db` (SQLite) |
//! | published form pages | `forms/` |
//! | messages "sent" | `outbox.jsonl` (one JSON line per message) |
//! | link signing key | `keys/link.key` (generated, 0600) |
//! | weekly reports | `reports/` |
//!
//! A `medicare.toml` in the folder, then `MEDICARE_*` environment variables, override the
//! defaults (each key below has a variable: `base_url` is `MEDICARE_BASE_URL`).

use crate::backup::local::LocalFolderSink;
use crate::backup::sink::BackupSink;
use crate::campaign::{Engine, ReminderPolicy, SendOptions, MAX_REMINDERS};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::link::HmacLinkSigner;
use crate::notify::Notifier;
use crate::notify::{Channel, Money, OutboxNotifier, Prices};
use crate::publish::FormPublisher;
use crate::publish::LocalFolderPublisher;
use crate::store::sqlite::SqliteStore;
use crate::store::{open_database, Database};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Settings; every field has a working default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Database URL (`sqlite://...`); default: `medicare.db` in the folder. Kept secret:
    /// a server URL may carry a password, and `Debug` must not print it.
    pub database_url: Option<SecretString>,
    /// The base URL links start with (`https://forms.example.org`).
    pub base_url: String,
    /// The organisation name used in messages.
    pub org: String,
    /// Transliterate substituted values in new campaigns' SMS (never the fixed text, never
    /// the link) to the GSM-7 alphabet where a faithful equivalent exists (`’` to `'`),
    /// so a name does not switch a message to UCS-2. Off by default.
    pub gsm_safe: bool,
    /// The price of one SMS segment (decimal, e.g. `0.027556`).
    pub sms_price: Money,
    /// The price of one email.
    pub email_price: Money,
    /// SMS per second (absent: unlimited; SNS allows about 10-20 for a sender ID).
    pub sms_rate: Option<NonZeroU32>,
    /// Emails per second (absent: unlimited; SES starts at 1 in the sandbox).
    pub email_rate: Option<NonZeroU32>,
    /// Messages in flight per channel.
    pub concurrency: usize,
    /// Where `medicare serve` listens (`127.0.0.1:8080`).
    pub bind: String,
    /// Requests to `/f/...` per minute per client IP (token guessing budget).
    pub link_requests_per_minute: NonZeroU32,
    /// Hours between the end of one round and the next reminder round.
    pub reminder_gap_hours: u32,
    /// Reminder rounds per campaign (1 to 5).
    pub max_reminders: u32,
    /// The share (percent, 0 to 100) of an `email_first` second wave's recipients a
    /// preview assumes will have opened their email by then; absent: what past campaigns
    /// in the database measured, or 50 without any.
    pub second_wave_open_rate: Option<u32>,
    /// Where form pages are published: a folder, or `s3://bucket/prefix` (needs the AWS
    /// backends). Default: `forms/` in the workspace.
    pub forms: Option<String>,
    /// Where backups are stored: a folder, or `s3://bucket/prefix` (needs the AWS
    /// backends). Default: `backups/` in the workspace.
    pub backups: Option<String>,
    /// How SMS are sent: `outbox` (the default: appended to `outbox.jsonl`) or `sns`.
    pub sms: SmsTransport,
    /// How emails are sent: `outbox` (the default) or `ses`.
    pub email: EmailTransport,
    /// The address emails are sent from (SES: a verified identity).
    pub email_from: Option<String>,
    /// The SES configuration set, if any (event publishing, suppression).
    pub ses_configuration_set: Option<String>,
    /// The SMS sender ID, where the destination country allows one.
    pub sms_sender_id: Option<String>,
    /// The KMS key (id, ARN or alias) for S3 server-side encryption and backup envelopes.
    pub kms_key_id: Option<String>,
    /// An endpoint for every AWS API (a local AWS-compatible server); absent: AWS itself.
    pub aws_endpoint_url: Option<String>,
}

/// How SMS are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsTransport {
    /// Appended to the workspace's outbox file.
    #[default]
    Outbox,
    /// Amazon SNS, direct to the phone number.
    Sns,
}

/// How emails are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransport {
    /// Appended to the workspace's outbox file.
    #[default]
    Outbox,
    /// Amazon SES (v2 API), one email per recipient.
    Ses,
}

/// Where a workspace keeps something: a local folder, or an S3 location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A folder on this machine.
    Folder(PathBuf),
    /// `s3://bucket/prefix`, as written.
    S3(String),
}

impl Location {
    /// `setting` (absent: `default` in the workspace) as a location.
    pub fn resolve(setting: Option<&str>, dir: &Path, default: &str) -> Location {
        match (Location::s3(setting), setting) {
            (Some(url), _) => Location::S3(url.to_string()),
            (None, Some(s)) => Location::Folder(dir.join(s)),
            (None, None) => Location::Folder(dir.join(default)),
        }
    }

    /// The setting, if it names an S3 location (`s3://...`).
    pub fn s3(setting: Option<&str>) -> Option<&str> {
        setting.filter(|s| s.starts_with("s3://"))
    }
}

impl Default for Config {
    fn default() -> Self {
        let prices = Prices::default();
        Config {
            database_url: None,
            base_url: "http://localhost:8080".to_string(),
            org: "MediCARE".to_string(),
            gsm_safe: false,
            sms_price: prices.sms_segment,
            email_price: prices.email,
            sms_rate: None,
            email_rate: None,
            concurrency: SendOptions::default().concurrency,
            bind: "127.0.0.1:8080".to_string(),
            link_requests_per_minute: NonZeroU32::new(60).expect("non-zero"),
            reminder_gap_hours: 72,
            max_reminders: MAX_REMINDERS,
            second_wave_open_rate: None,
            forms: None,
            backups: None,
            sms: SmsTransport::Outbox,
            email: EmailTransport::Outbox,
            email_from: None,
            ses_configuration_set: None,
            sms_sender_id: None,
            kms_key_id: None,
            aws_endpoint_url: None,
        }
    }
}

impl Config {
    /// Reads `medicare.toml` in `dir` if present, then applies `MEDICARE_*` variables.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("medicare.toml");
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(Error::io(path, e)),
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        Ok(config)
    }

    /// Applies `MEDICARE_*` variables read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<()> {
        let bad = |k: &str, m: String| Error::Config(format!("{k}: {m}"));
        let rate = |k: &str, v: String| {
            v.parse::<NonZeroU32>().map_err(|_| {
                bad(
                    k,
                    "must be a whole number of messages per second, at least 1".into(),
                )
            })
        };
        if let Some(v) = var("MEDICARE_DATABASE_URL") {
            self.database_url = Some(SecretString::from(v));
        }
        if let Some(v) = var("MEDICARE_BASE_URL") {
            self.base_url = v;
        }
        if let Some(v) = var("MEDICARE_ORG") {
            self.org = v;
        }
        if let Some(v) = var("MEDICARE_GSM_SAFE") {
            self.gsm_safe = match v.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(bad("MEDICARE_GSM_SAFE", "must be true or false".into())),
            };
        }
        if let Some(v) = var("MEDICARE_SMS_PRICE") {
            self.sms_price = Money::parse(&v).map_err(|m| bad("MEDICARE_SMS_PRICE", m))?;
        }
        if let Some(v) = var("MEDICARE_EMAIL_PRICE") {
            self.email_price = Money::parse(&v).map_err(|m| bad("MEDICARE_EMAIL_PRICE", m))?;
        }
        if let Some(v) = var("MEDICARE_SMS_RATE") {
            self.sms_rate = Some(rate("MEDICARE_SMS_RATE", v)?);
        }
        if let Some(v) = var("MEDICARE_EMAIL_RATE") {
            self.email_rate = Some(rate("MEDICARE_EMAIL_RATE", v)?);
        }
        if let Some(v) = var("MEDICARE_CONCURRENCY") {
            self.concurrency = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    "MEDICARE_CONCURRENCY",
                    "must be a whole number, at least 1".into(),
                )
            })?;
        }
        if let Some(v) = var("MEDICARE_BIND") {
            self.bind = v;
        }
        if let Some(v) = var("MEDICARE_LINK_REQUESTS_PER_MINUTE") {
            self.link_requests_per_minute = v.parse().map_err(|_| {
                bad(
                    "MEDICARE_LINK_REQUESTS_PER_MINUTE",
                    "must be a whole number, at least 1".into(),
                )
            })?;
        }
        if let Some(v) = var("MEDICARE_REMINDER_GAP_HOURS") {
            self.reminder_gap_hours = v.parse().map_err(|_| {
                bad(
                    "MEDICARE_REMINDER_GAP_HOURS",
                    "must be a whole number of hours".into(),
                )
            })?;
        }
        if let Some(v) = var("MEDICARE_MAX_REMINDERS") {
            self.max_reminders = v
                .parse()
                .ok()
                .filter(|n| (1..=MAX_REMINDERS).contains(n))
                .ok_or_else(|| {
                    bad(
                        "MEDICARE_MAX_REMINDERS",
                        format!("must be a whole number from 1 to {MAX_REMINDERS}"),
                    )
                })?;
        }
        if let Some(v) = var("MEDICARE_SECOND_WAVE_OPEN_RATE") {
            self.second_wave_open_rate = Some(v.trim().parse().map_err(|_| {
                bad(
                    "MEDICARE_SECOND_WAVE_OPEN_RATE",
                    "must be a whole percentage from 0 to 100".into(),
                )
            })?);
        }
        if self.second_wave_open_rate.is_some_and(|p| p > 100) {
            return Err(bad(
                "second_wave_open_rate",
                "must be a whole percentage from 0 to 100".into(),
            ));
        }
        let text = |k: &str| var(k).filter(|v| !v.is_empty());
        for (key, field) in [
            ("MEDICARE_FORMS", &mut self.forms),
            ("MEDICARE_BACKUPS", &mut self.backups),
            ("MEDICARE_EMAIL_FROM", &mut self.email_from),
            (
                "MEDICARE_SES_CONFIGURATION_SET",
                &mut self.ses_configuration_set,
            ),
            ("MEDICARE_SMS_SENDER_ID", &mut self.sms_sender_id),
            ("MEDICARE_KMS_KEY_ID", &mut self.kms_key_id),
            ("MEDICARE_AWS_ENDPOINT_URL", &mut self.aws_endpoint_url),
        ] {
            if let Some(v) = text(key) {
                *field = Some(v);
            }
        }
        if let Some(v) = text("MEDICARE_SMS") {
            self.sms = match v.as_str() {
                "outbox" => SmsTransport::Outbox,
                "sns" => SmsTransport::Sns,
                _ => return Err(bad("MEDICARE_SMS", "must be outbox or sns".into())),
            };
        }
        if let Some(v) = text("MEDICARE_EMAIL") {
            self.email = match v.as_str() {
                "outbox" => EmailTransport::Outbox,
                "ses" => EmailTransport::Ses,
                _ => return Err(bad("MEDICARE_EMAIL", "must be outbox or ses".into())),
            };
        }
        Ok(())
    }

    /// Whether any setting needs the AWS backends (S3, SNS, SES).
    pub fn uses_aws(&self) -> bool {
        Location::s3(self.forms.as_deref()).is_some()
            || Location::s3(self.backups.as_deref()).is_some()
            || self.sms == SmsTransport::Sns
            || self.email == EmailTransport::Ses
    }

    /// The reminder limits these settings give.
    pub fn reminder_policy(&self) -> ReminderPolicy {
        ReminderPolicy {
            max_reminders: self.max_reminders.clamp(1, MAX_REMINDERS),
            min_gap: chrono::Duration::hours(i64::from(self.reminder_gap_hours)),
        }
    }

    /// The prices for cost estimates.
    pub fn prices(&self) -> Prices {
        Prices {
            sms_segment: self.sms_price,
            email: self.email_price,
        }
    }

    /// The send options these settings give.
    pub fn send_options(&self) -> SendOptions {
        let mut rate_limits = BTreeMap::new();
        if let Some(r) = self.sms_rate {
            rate_limits.insert(Channel::Sms, r);
        }
        if let Some(r) = self.email_rate {
            rate_limits.insert(Channel::Email, r);
        }
        SendOptions {
            concurrency: self.concurrency,
            rate_limits,
            ..SendOptions::default()
        }
    }
}

/// Services a workspace uses instead of its embedded defaults: the AWS ones come from
/// `medicare_aws::backends(&config)`. Whatever is left empty is the embedded default.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// Where form pages are published (default: the local folder).
    pub publisher: Option<Arc<dyn FormPublisher>>,
    /// The notifier per channel (default: the outbox file).
    pub notifiers: BTreeMap<Channel, Arc<dyn Notifier>>,
    /// Where backups are stored (default: the local backup folder).
    pub backup_sink: Option<Arc<dyn BackupSink>>,
}

impl Backends {
    /// The backup sink: this one's, or the folder `config.backups` names (default:
    /// `backups/` in `dir`).
    pub fn backup_sink_or_folder(
        &self,
        config: &Config,
        dir: &Path,
    ) -> Result<Arc<dyn BackupSink>> {
        if let Some(sink) = &self.backup_sink {
            return Ok(sink.clone());
        }
        match Location::resolve(config.backups.as_deref(), dir, "backups") {
            Location::Folder(folder) => Ok(Arc::new(LocalFolderSink::new(folder))),
            Location::S3(_) => Err(needs_aws("backups on s3://")),
        }
    }

    /// Checks that every setting naming a service outside the folder has one here.
    fn check(&self, config: &Config) -> Result<()> {
        if config.sms == SmsTransport::Sns && !self.notifiers.contains_key(&Channel::Sms) {
            return Err(needs_aws("sms = \"sns\""));
        }
        if config.email == EmailTransport::Ses && !self.notifiers.contains_key(&Channel::Email) {
            return Err(needs_aws("email = \"ses\""));
        }
        if Location::s3(config.forms.as_deref()).is_some() && self.publisher.is_none() {
            return Err(needs_aws("forms on s3://"));
        }
        if Location::s3(config.backups.as_deref()).is_some() && self.backup_sink.is_none() {
            return Err(needs_aws("backups on s3://"));
        }
        Ok(())
    }
}

/// The error for a setting that names an AWS service the program has no backend for.
fn needs_aws(what: &str) -> Error {
    Error::Config(format!(
        "{what} needs the AWS backends, which this program was built without \
         (the medicare CLI and medicare-aws have them)"
    ))
}

/// A folder holding the embedded defaults, wired into an [`Engine`].
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
    config: Config,
    database: Arc<dyn Database>,
    backup_sink: Arc<dyn BackupSink>,
    engine: Engine,
}

impl Workspace {
    /// Opens (creating as needed) the workspace in `dir` with `config`, on the embedded
    /// defaults.
    pub async fn open(dir: &Path, config: Config) -> Result<Workspace> {
        Self::open_with(dir, config, Arc::new(SystemClock), Backends::default()).await
    }

    /// As [`Workspace::open`], reading the time from `clock`.
    pub async fn open_with_clock(
        dir: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Workspace> {
        Self::open_with(dir, config, clock, Backends::default()).await
    }

    /// Opens the workspace with `backends` standing in for the embedded defaults (the
    /// settings that name other services must have theirs here).
    pub async fn open_with(
        dir: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
        backends: Backends,
    ) -> Result<Workspace> {
        backends.check(&config)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let database: Arc<dyn Database> = match &config.database_url {
            None => Arc::new(SqliteStore::open(&dir.join("medicare.db")).await?),
            Some(url) => open_database(url).await?,
        };
        let signer = Arc::new(HmacLinkSigner::from_key_file(
            &dir.join("keys/link.key"),
            &config.base_url,
        )?);
        let backup_sink = backends.backup_sink_or_folder(&config, dir)?;
        let publisher = match backends.publisher {
            Some(p) => p,
            None => match Location::resolve(config.forms.as_deref(), dir, "forms") {
                Location::Folder(folder) => Arc::new(LocalFolderPublisher::new(folder)),
                Location::S3(_) => unreachable!("checked: an s3:// location has a publisher"),
            },
        };
        let mut engine = Engine::new(database.clone(), publisher, signer, clock)
            .with_prices(config.prices())
            .with_open_rate(config.second_wave_open_rate);
        let mut outbox: Option<Arc<OutboxNotifier>> = None;
        for channel in [Channel::Sms, Channel::Email] {
            let notifier: Arc<dyn Notifier> = match backends.notifiers.get(&channel) {
                Some(n) => n.clone(),
                None => match &outbox {
                    Some(o) => o.clone(),
                    None => {
                        let o = Arc::new(OutboxNotifier::open(dir.join("outbox.jsonl"))?);
                        outbox = Some(o.clone());
                        o
                    }
                },
            };
            engine = engine.with_notifier(channel, notifier);
        }
        Ok(Workspace {
            dir: dir.to_path_buf(),
            config,
            database,
            backup_sink,
            engine,
        })
    }

    /// The database (the engine's store, and what backups read and restore).
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.database
    }

    /// Where backups are stored.
    pub fn backup_sink(&self) -> &Arc<dyn BackupSink> {
        &self.backup_sink
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The operators' sign-in service on this workspace's database, on the engine's
    /// clock: TOTP secrets sealed with the workspace's key (`keys/operator-secrets.key`,
    /// made on first use), passwords hashed with the OWASP parameters.
    pub fn access(&self) -> Result<crate::access::Service> {
        let sealer = crate::access::LocalSealer::in_workspace(&self.dir)?;
        Ok(crate::access::Service::new(
            self.database.clone(),
            Arc::new(sealer),
            self.engine.clock().clone(),
            crate::access::PasswordHasher::owasp()?,
        ))
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The outbox file.
    pub fn outbox_path(&self) -> PathBuf {
        self.dir.join("outbox.jsonl")
    }

    /// The folder weekly reports are written to.
    pub fn reports_dir(&self) -> PathBuf {
        self.dir.join("reports")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_bad_values_are_named() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "MEDICARE_SMS_RATE" => Some("20".to_string()),
            "MEDICARE_SMS_PRICE" => Some("0.03".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.sms_rate, NonZeroU32::new(20));
        assert_eq!(c.sms_price, Money(30_000));
        c.apply_env(|k| {
            (k == "MEDICARE_DATABASE_URL").then(|| "postgres://u:hunter2@db/x".to_string())
        })
        .unwrap();
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "Debug must not print the URL"
        );
        let err = c
            .apply_env(|k| (k == "MEDICARE_EMAIL_RATE").then(|| "0".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("MEDICARE_EMAIL_RATE"), "{err}");
    }

    #[test]
    fn gsm_safe_is_off_unless_set() {
        let mut c = Config::default();
        assert!(!c.gsm_safe);
        c.apply_env(|k| (k == "MEDICARE_GSM_SAFE").then(|| "true".to_string()))
            .unwrap();
        assert!(c.gsm_safe);
        let err = c
            .apply_env(|k| (k == "MEDICARE_GSM_SAFE").then(|| "yes please".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("MEDICARE_GSM_SAFE"), "{err}");
        let c: Config = toml::from_str("gsm_safe = true").unwrap();
        assert!(c.gsm_safe);
    }

    #[test]
    fn aws_settings_are_read_and_refused_without_their_backends() {
        let mut c = Config::default();
        assert!(!c.uses_aws());
        c.apply_env(|k| match k {
            "MEDICARE_SMS" => Some("sns".to_string()),
            "MEDICARE_FORMS" => Some("s3://forms-bucket/pages".to_string()),
            "MEDICARE_KMS_KEY_ID" => Some("alias/medicare".to_string()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.sms, SmsTransport::Sns);
        assert_eq!(c.kms_key_id.as_deref(), Some("alias/medicare"));
        assert!(c.uses_aws());
        let err = Backends::default().check(&c).unwrap_err();
        assert!(
            matches!(err, Error::Config(_)) && err.to_string().contains("sns"),
            "{err}"
        );
        let err = c
            .apply_env(|k| (k == "MEDICARE_EMAIL").then(|| "pigeon".to_string()))
            .unwrap_err();
        assert!(err.to_string().contains("MEDICARE_EMAIL"), "{err}");
        let dir = Path::new("/srv/medicare");
        assert_eq!(
            Location::resolve(c.forms.as_deref(), dir, "forms"),
            Location::S3("s3://forms-bucket/pages".into())
        );
        assert_eq!(
            Location::resolve(None, dir, "backups"),
            Location::Folder(dir.join("backups"))
        );
    }
}
