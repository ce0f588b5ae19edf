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

use crate::campaign::{Engine, ReminderPolicy, SendOptions, MAX_REMINDERS};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, Money, OutboxNotifier, Prices};
use crate::publish::LocalFolderPublisher;
use crate::store::sqlite::SqliteStore;
use crate::store::{open_database, Store};
use secrecy::SecretString;
use serde::Deserialize;
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
}

impl Default for Config {
    fn default() -> Self {
        let prices = Prices::default();
        Config {
            database_url: None,
            base_url: "http://localhost:8080".to_string(),
            org: "MediCARE".to_string(),
            sms_price: prices.sms_segment,
            email_price: prices.email,
            sms_rate: None,
            email_rate: None,
            concurrency: SendOptions::default().concurrency,
            bind: "127.0.0.1:8080".to_string(),
            link_requests_per_minute: NonZeroU32::new(60).expect("non-zero"),
            reminder_gap_hours: 72,
            max_reminders: MAX_REMINDERS,
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
        Ok(())
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

/// A folder holding the embedded defaults, wired into an [`Engine`].
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
    config: Config,
    engine: Engine,
}

impl Workspace {
    /// Opens (creating as needed) the workspace in `dir` with `config`.
    pub async fn open(dir: &Path, config: Config) -> Result<Workspace> {
        Self::open_with_clock(dir, config, Arc::new(SystemClock)).await
    }

    /// As [`Workspace::open`], reading the time from `clock`.
    pub async fn open_with_clock(
        dir: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Workspace> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let store: Arc<dyn Store> = match &config.database_url {
            None => Arc::new(SqliteStore::open(&dir.join("medicare.db")).await?),
            Some(url) => open_database(url).await?,
        };
        let signer = Arc::new(HmacLinkSigner::from_key_file(
            &dir.join("keys/link.key"),
            &config.base_url,
        )?);
        let outbox = Arc::new(OutboxNotifier::open(dir.join("outbox.jsonl"))?);
        let engine = Engine::new(
            store,
            Arc::new(LocalFolderPublisher::new(dir.join("forms"))),
            signer,
            clock,
        )
        .with_notifier(Channel::Sms, outbox.clone())
        .with_notifier(Channel::Email, outbox)
        .with_prices(config.prices());
        Ok(Workspace {
            dir: dir.to_path_buf(),
            config,
            engine,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
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
}
