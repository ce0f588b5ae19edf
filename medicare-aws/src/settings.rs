//! The AWS settings, owned here rather than in core: each is a `medicare.toml` key and a
//! `MEDICARE_*` variable (`kms_key_id`, `MEDICARE_KMS_KEY_ID`), read from the
//! [`Extensions`](medicare_core::config::Extensions) core keeps for the crates that own
//! them.

use medicare_core::{Config, Result};
use serde::Deserialize;

/// The settings the AWS backends read; every one is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AwsSettings {
    /// The address emails are sent from (SES: a verified identity); needed with
    /// `email = "ses"`.
    pub email_from: Option<String>,
    /// The SES configuration set, if any (event publishing, suppression).
    pub ses_configuration_set: Option<String>,
    /// The SMS sender ID, where the destination country allows one.
    pub sms_sender_id: Option<String>,
    /// The KMS key (id, ARN or alias) for S3 server-side encryption and backup envelopes.
    pub kms_key_id: Option<String>,
    /// The KMS key (id, ARN or alias) that seals operators' TOTP secrets
    /// ([`KmsSealer`](crate::KmsSealer)); absent: the workspace's key file seals them.
    /// Every program that signs operators in on one database must use the same sealer.
    pub operator_secrets_kms_key_id: Option<String>,
    /// An endpoint for every AWS API (a local AWS-compatible server); absent: AWS itself.
    pub aws_endpoint_url: Option<String>,
}

impl AwsSettings {
    /// The keys of these settings (what [`crate::backends`] claims in `medicare.toml`).
    pub const KEYS: &'static [&'static str] = &[
        "email_from",
        "ses_configuration_set",
        "sms_sender_id",
        "kms_key_id",
        "operator_secrets_kms_key_id",
        "aws_endpoint_url",
    ];

    /// The AWS settings in `config` (its file, then the environment).
    pub fn from_config(config: &Config) -> Result<AwsSettings> {
        config.extensions.deserialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_sets_its_setting_from_the_file_or_the_environment() {
        for (i, key) in AwsSettings::KEYS.iter().enumerate() {
            let mut config = Config::default();
            if i % 2 == 0 {
                config.extensions.set(*key, "value");
            } else {
                config = Config::from_toml(&format!("{key} = \"value\"")).unwrap();
            }
            let s = AwsSettings::from_config(&config).unwrap();
            let set = [
                &s.email_from,
                &s.ses_configuration_set,
                &s.sms_sender_id,
                &s.kms_key_id,
                &s.operator_secrets_kms_key_id,
                &s.aws_endpoint_url,
            ];
            assert_eq!(set.iter().filter(|v| v.is_some()).count(), 1, "{key}");
            assert_eq!(set[i].as_deref(), Some("value"), "{key}");
        }
    }

    #[test]
    fn the_environment_variables_keep_their_names() {
        let mut config = Config::default();
        config
            .apply_env([
                (
                    "MEDICARE_EMAIL_FROM".to_string(),
                    "flu@example.org".to_string(),
                ),
                (
                    "MEDICARE_AWS_ENDPOINT_URL".to_string(),
                    "http://127.0.0.1:5000".to_string(),
                ),
                ("MEDICARE_LOG".to_string(), "debug".to_string()),
            ])
            .unwrap();
        let s = AwsSettings::from_config(&config).unwrap();
        assert_eq!(s.email_from.as_deref(), Some("flu@example.org"));
        assert_eq!(s.aws_endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(s.kms_key_id, None);
    }
}
