//! Settings core does not own, kept for the crate that does: medicare-aws reads its own
//! (`kms_key_id`, `email_from`, ...) from here, so an AWS setting is declared, documented
//! and checked in medicare-aws, not in core.
//!
//! They come from `medicare.toml` (top-level string keys core does not know) and from the
//! `MEDICARE_*` variables that set no core setting. A key in the file that no backend
//! claims is refused when the workspace opens ([`Extensions::check_claimed`]), as an
//! unknown key always was; a variable no one claims is not (the environment also holds
//! variables the programs read themselves, such as `MEDICARE_LOG`).

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Settings for other crates' backends, by key (`kms_key_id`). Their values are never
/// printed: `Debug` shows the keys only.
#[derive(Clone, Default)]
pub struct Extensions {
    values: BTreeMap<String, String>,
    from_file: BTreeSet<String>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

impl Extensions {
    /// Sets `key` (lowercase, as in the file) to `value`, replacing any earlier value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        self.from_file.remove(&key);
        self.values.insert(key, value.into());
    }

    /// Sets `key` from the settings file.
    pub(super) fn set_from_file(&mut self, key: String, value: String) {
        self.values.insert(key.clone(), value);
        self.from_file.insert(key);
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The settings as `T` (a struct of optional fields, keys as field names, values
    /// parsed as the `MEDICARE_*` variables are). A bad value is refused naming its key.
    pub fn deserialize<T: DeserializeOwned + fmt::Debug>(&self) -> Result<T> {
        let settings = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        super::env::deserialize_settings(settings)
    }

    /// Refuses a key from the settings file that none of `claimed` (the keys the
    /// program's backends read) names: it is a typo or a setting this program lacks.
    pub fn check_claimed(&self, claimed: &[&str]) -> Result<()> {
        match self
            .from_file
            .iter()
            .find(|k| !claimed.contains(&k.as_str()))
        {
            Some(key) => Err(Error::Config(format!(
                "medicare.toml: unknown setting `{key}` (or one for backends this program \
                 was built without)"
            ))),
            None => Ok(()),
        }
    }
}
