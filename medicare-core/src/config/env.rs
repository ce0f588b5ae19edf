//! The `MEDICARE_*` environment variables, deserialised by `envy` (serde) rather than read
//! one by one.
//!
//! Each variable is first deserialised on its own, so a bad value is refused naming its
//! variable (`MEDICARE_SMS_RATE: ...`); a variable that sets none of the core settings is
//! not core's, and is kept as an [extension](super::Extensions) for the crate that owns
//! it (medicare-aws's `MEDICARE_KMS_KEY_ID`, ...). An empty variable counts as unset.

use crate::error::{Error, Result};
use crate::notify::Money;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::num::{NonZeroU32, NonZeroUsize};

/// The prefix of every configuration variable.
pub const PREFIX: &str = "MEDICARE_";

/// The core settings a `MEDICARE_*` variable can set (each absent unless set).
#[derive(Debug, Default, Deserialize)]
pub(super) struct EnvOverrides {
    pub database_url: Option<SecretString>,
    pub base_url: Option<String>,
    pub org: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub gsm_safe: Option<bool>,
    pub sms_price: Option<Money>,
    pub email_price: Option<Money>,
    pub sms_rate: Option<NonZeroU32>,
    pub email_rate: Option<NonZeroU32>,
    pub concurrency: Option<NonZeroUsize>,
    pub bind: Option<String>,
    pub link_requests_per_minute: Option<NonZeroU32>,
    pub reminder_gap_hours: Option<u32>,
    pub max_reminders: Option<u32>,
    pub second_wave_open_rate: Option<u32>,
    pub forms: Option<String>,
    pub backups: Option<String>,
    pub sms: Option<super::SmsTransport>,
    pub email: Option<super::EmailTransport>,
}

/// `true`/`false`, also written `1`/`0`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let text = String::deserialize(d)?;
    match text.trim() {
        "true" | "1" => Ok(Some(true)),
        "false" | "0" => Ok(Some(false)),
        _ => Err(serde::de::Error::custom("must be true or false")),
    }
}

/// The `MEDICARE_*` variables of this process (others, and any not in UTF-8, are left).
pub fn process_vars() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with(PREFIX))
        .collect()
}

/// Deserialises `T` from `vars` (names without the prefix, any case), each variable first
/// on its own so that an error names it: `MEDICARE_{NAME}: why`. Returns `T` and the
/// variables that set nothing in `T` (`is_unset` says whether a `T` set nothing).
pub(crate) fn deserialize_vars<T: DeserializeOwned + std::fmt::Debug>(
    vars: Vec<(String, String)>,
    is_unset: impl Fn(&T) -> bool,
) -> Result<(T, Vec<(String, String)>)> {
    let mut own = Vec::new();
    let mut others = Vec::new();
    for (name, value) in vars {
        if value.is_empty() {
            continue;
        }
        let one: T = envy::from_iter([(name.clone(), value.clone())])
            .map_err(|e| Error::Config(format!("{PREFIX}{}: {e}", name.to_uppercase())))?;
        if is_unset(&one) {
            others.push((name, value));
        } else {
            own.push((name, value));
        }
    }
    let all = envy::from_iter(own).map_err(|e| Error::Config(format!("{PREFIX}*: {e}")))?;
    Ok((all, others))
}

impl EnvOverrides {
    /// Whether no setting is set.
    pub fn is_unset(&self) -> bool {
        format!("{self:?}") == format!("{:?}", EnvOverrides::default())
    }

    /// The overrides `vars` (full names, `MEDICARE_...`) give, and the variables that are
    /// not core settings (names less the prefix, lowercase).
    pub fn read(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(EnvOverrides, Vec<(String, String)>)> {
        let vars = vars
            .into_iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_lowercase(), v)))
            .collect();
        deserialize_vars(vars, EnvOverrides::is_unset)
    }
}

/// Deserialises `T` from a list of settings, for [`Extensions`](super::Extensions).
pub(super) fn deserialize_settings<T: DeserializeOwned + std::fmt::Debug>(
    settings: Vec<(String, String)>,
) -> Result<T> {
    // Every key was kept because core does not know it; for `T`, a key it does not know
    // either is someone else's, so nothing is refused for that here.
    deserialize_vars(settings, |_: &T| false).map(|(t, _)| t)
}
