//! Settings: what a workspace uses, read from `medicare.toml` and `MEDICARE_*` variables.
//! The composition root that wires them into an engine is [`crate::workspace`].
//!
//! With no configuration at all, a [`crate::Workspace`] keeps everything in one
//! folder:
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
//! defaults (each key below has a variable: `base_url` is `MEDICARE_BASE_URL`; [`env`](mod@env)
//! reads them). Settings of other crates' backends (medicare-aws's) are
//! [`Extensions`], declared and read by the crate that owns them.

use crate::campaign::{ReminderPolicy, SendOptions, MAX_REMINDERS};
use crate::error::{Error, Result};
use crate::notify::{Channel, Money, Prices};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};

pub mod env;
mod extensions;

pub use crate::workspace::{Backends, Workspace};
pub use extensions::Extensions;

/// Settings; every field has a working default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
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
    /// Settings core does not own (medicare-aws's `kms_key_id`, `email_from`, ...), for
    /// the crates that do.
    #[serde(skip)]
    pub extensions: Extensions,
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
            extensions: Extensions::default(),
        }
    }
}

impl Config {
    /// Reads `medicare.toml` in `dir` if present, then applies `MEDICARE_*` variables.
    pub fn load(dir: &Path) -> Result<Config> {
        let path = dir.join("medicare.toml");
        let mut config = match std::fs::read_to_string(&path) {
            Ok(text) => Config::from_toml(&text)
                .map_err(|m| Error::Config(format!("{}: {m}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(Error::io(path, e)),
        };
        config.apply_env(env::process_vars())?;
        Ok(config)
    }

    /// Settings from the text of a `medicare.toml`: the keys core knows, and any other
    /// top-level string as an [extension](Extensions) (checked when the workspace opens).
    pub fn from_toml(text: &str) -> std::result::Result<Config, String> {
        // Where a value is wrong, by line (the line's text is not quoted: it may hold a
        // database URL with its password).
        let located = |e: toml::de::Error| match e.span() {
            Some(span) => format!(
                "line {}: {}",
                text[..span.start].matches('\n').count() + 1,
                e.message()
            ),
            None => e.message().to_string(),
        };
        let table: toml::Table = toml::from_str(text).map_err(located)?;
        let mut unknown = Vec::new();
        let mut config: Config =
            serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
                unknown.push(path.to_string())
            })
            .map_err(located)?;
        for key in unknown {
            match table.get(&key) {
                Some(toml::Value::String(value)) => {
                    config.extensions.set_from_file(key, value.clone())
                }
                _ => return Err(format!("unknown setting `{key}`")),
            }
        }
        Ok(config)
    }

    /// Applies `MEDICARE_*` variables (`vars`: name and value pairs; others are left).
    /// A bad value is refused naming its variable; an empty one counts as unset; one that
    /// is not a core setting is kept as an [extension](Extensions).
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        let (env, others) = env::EnvOverrides::read(vars)?;
        if let Some(n) = env.max_reminders {
            if !(1..=MAX_REMINDERS).contains(&n) {
                return Err(Error::Config(format!(
                    "MEDICARE_MAX_REMINDERS: must be a whole number from 1 to {MAX_REMINDERS}"
                )));
            }
        }
        let set = |target: &mut String, value: Option<String>| {
            if let Some(v) = value {
                *target = v;
            }
        };
        self.database_url = env.database_url.or(self.database_url.take());
        set(&mut self.base_url, env.base_url);
        set(&mut self.org, env.org);
        set(&mut self.bind, env.bind);
        self.gsm_safe = env.gsm_safe.unwrap_or(self.gsm_safe);
        self.sms_price = env.sms_price.unwrap_or(self.sms_price);
        self.email_price = env.email_price.unwrap_or(self.email_price);
        self.sms_rate = env.sms_rate.or(self.sms_rate);
        self.email_rate = env.email_rate.or(self.email_rate);
        self.concurrency = env.concurrency.map_or(self.concurrency, NonZeroUsize::get);
        self.link_requests_per_minute = env
            .link_requests_per_minute
            .unwrap_or(self.link_requests_per_minute);
        self.reminder_gap_hours = env.reminder_gap_hours.unwrap_or(self.reminder_gap_hours);
        self.max_reminders = env.max_reminders.unwrap_or(self.max_reminders);
        self.second_wave_open_rate = env.second_wave_open_rate.or(self.second_wave_open_rate);
        if self.second_wave_open_rate.is_some_and(|p| p > 100) {
            return Err(Error::Config(
                "second_wave_open_rate (MEDICARE_SECOND_WAVE_OPEN_RATE): must be a whole \
                 percentage from 0 to 100"
                    .into(),
            ));
        }
        self.forms = env.forms.or(self.forms.take());
        self.backups = env.backups.or(self.backups.take());
        self.sms = env.sms.unwrap_or(self.sms);
        self.email = env.email.unwrap_or(self.email);
        for (key, value) in others {
            self.extensions.set(key, value);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn environment_overrides_and_bad_values_are_named() {
        let mut c = Config::default();
        c.apply_env(vars(&[
            ("MEDICARE_SMS_RATE", "20"),
            ("MEDICARE_SMS_PRICE", "0.03"),
            ("OTHER_PROGRAM", "ignored"),
        ]))
        .unwrap();
        assert_eq!(c.sms_rate, NonZeroU32::new(20));
        assert_eq!(c.sms_price, Money(30_000));
        c.apply_env(vars(&[(
            "MEDICARE_DATABASE_URL",
            "postgres://u:hunter2@db/x",
        )]))
        .unwrap();
        assert!(c.database_url.is_some());
        assert!(
            !format!("{c:?}").contains("hunter2"),
            "Debug must not print the URL"
        );
        for (key, value) in [
            ("MEDICARE_EMAIL_RATE", "0"),
            ("MEDICARE_CONCURRENCY", "0"),
            ("MEDICARE_LINK_REQUESTS_PER_MINUTE", "many"),
            ("MEDICARE_REMINDER_GAP_HOURS", "-1"),
            ("MEDICARE_MAX_REMINDERS", "6"),
            ("MEDICARE_SMS_PRICE", "free"),
        ] {
            let err = c.apply_env(vars(&[(key, value)])).unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err}");
            assert!(err.to_string().contains(key), "{key}: {err}");
        }
        assert_eq!(
            c.sms_rate,
            NonZeroU32::new(20),
            "a refused variable changes nothing"
        );
    }

    #[test]
    fn every_core_variable_sets_its_setting_and_empty_means_unset() {
        let mut c = Config::default();
        c.apply_env(vars(&[
            ("MEDICARE_BASE_URL", "https://forms.example.org"),
            ("MEDICARE_ORG", "Surgery"),
            ("MEDICARE_EMAIL_PRICE", "0.0001"),
            ("MEDICARE_EMAIL_RATE", "1"),
            ("MEDICARE_CONCURRENCY", "8"),
            ("MEDICARE_BIND", "0.0.0.0:80"),
            ("MEDICARE_LINK_REQUESTS_PER_MINUTE", "30"),
            ("MEDICARE_REMINDER_GAP_HOURS", "24"),
            ("MEDICARE_MAX_REMINDERS", "2"),
            ("MEDICARE_BACKUPS", "/srv/backups"),
            ("MEDICARE_EMAIL", "ses"),
            ("MEDICARE_FORMS", ""),
        ]))
        .unwrap();
        assert_eq!(c.base_url, "https://forms.example.org");
        assert_eq!(c.org, "Surgery");
        assert_eq!(c.email_price, Money(100));
        assert_eq!(c.email_rate, NonZeroU32::new(1));
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.bind, "0.0.0.0:80");
        assert_eq!(c.link_requests_per_minute.get(), 30);
        assert_eq!(c.reminder_policy().min_gap, chrono::Duration::hours(24));
        assert_eq!(c.reminder_policy().max_reminders, 2);
        assert_eq!(c.backups.as_deref(), Some("/srv/backups"));
        assert_eq!(c.email, EmailTransport::Ses);
        assert_eq!(c.forms, None, "an empty variable is unset");
    }

    #[test]
    fn gsm_safe_is_off_unless_set() {
        let mut c = Config::default();
        assert!(!c.gsm_safe);
        c.apply_env(vars(&[("MEDICARE_GSM_SAFE", "true")])).unwrap();
        assert!(c.gsm_safe);
        c.apply_env(vars(&[("MEDICARE_GSM_SAFE", "0")])).unwrap();
        assert!(!c.gsm_safe);
        c.apply_env(vars(&[("MEDICARE_GSM_SAFE", " 1 ")])).unwrap();
        assert!(c.gsm_safe);
        let err = c
            .apply_env(vars(&[("MEDICARE_GSM_SAFE", "yes please")]))
            .unwrap_err();
        assert!(err.to_string().contains("MEDICARE_GSM_SAFE"), "{err}");
        let c = Config::from_toml("gsm_safe = true").unwrap();
        assert!(c.gsm_safe);
    }

    #[test]
    fn settings_core_does_not_own_are_kept_as_extensions() {
        let mut c = Config::from_toml(
            "sms = \"sns\"\nforms = \"s3://forms-bucket/pages\"\nkms_key_id = \"alias/file\"\n",
        )
        .unwrap();
        assert!(c.uses_aws());
        assert_eq!(c.sms, SmsTransport::Sns);
        assert_eq!(c.extensions.get("kms_key_id"), Some("alias/file"));
        // The environment overrides the file, for extensions too.
        c.apply_env(vars(&[
            ("MEDICARE_KMS_KEY_ID", "alias/medicare"),
            ("MEDICARE_SMS_SENDER_ID", "Surgery"),
        ]))
        .unwrap();
        assert_eq!(c.extensions.get("kms_key_id"), Some("alias/medicare"));
        assert_eq!(c.extensions.get("sms_sender_id"), Some("Surgery"));
        let err = c
            .apply_env(vars(&[("MEDICARE_EMAIL", "pigeon")]))
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

    #[test]
    fn unknown_file_keys_are_refused_unless_a_backend_claims_them() {
        let c = Config::from_toml("bse_url = \"https://x\"\nemail_from = \"a@b\"").unwrap();
        c.extensions
            .check_claimed(&["bse_url", "email_from"])
            .unwrap();
        let err = c.extensions.check_claimed(&["email_from"]).unwrap_err();
        assert!(err.to_string().contains("`bse_url`"), "{err}");
        // Only the file's keys: the environment holds other programs' variables too.
        let mut c = Config::default();
        c.apply_env(vars(&[("MEDICARE_LOG", "debug")])).unwrap();
        c.extensions.check_claimed(&[]).unwrap();
        let err = Config::from_toml("org = \"x\"\nbind = 8080").unwrap_err();
        assert!(err.starts_with("line 2: "), "{err}");
        let err = Config::from_toml("[aws]\nregion = \"x\"").unwrap_err();
        assert!(err.contains("`aws`"), "{err}");
        let debug = format!(
            "{:?}",
            Config::from_toml("secretive = \"hunter2\"").unwrap()
        );
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
