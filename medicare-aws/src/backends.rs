//! From settings to services: the AWS implementations a [`Config`] names, ready for
//! [`medicare_core::Workspace::open_with`]. The CLI and the Lambda examples call
//! [`backends`], so choosing S3, SNS, SES or KMS is configuration, never code.

use crate::{
    sdk_config, AwsSettings, EmailOptions, KmsSealer, S3BackupSink, S3FormPublisher, S3Location,
    SesEmailNotifier, SmsOptions, SnsSmsNotifier,
};
use medicare_core::config::{Backends, Config, EmailTransport, Location, SmsTransport};
use medicare_core::notify::Channel;
use medicare_core::{Error, Result};
use std::sync::Arc;

/// The AWS services `config` names (`forms`/`backups` on `s3://`, `sms = "sns"`,
/// `email = "ses"`, `operator_secrets_kms_key_id`), built from one aws-config chain with `aws_endpoint_url` as the
/// endpoint override; what it names locally is left to the embedded defaults. Nothing
/// here calls AWS: the SNS notifier loads its opted-out list when it first sends, so a
/// command that sends nothing works without reaching SNS.
pub async fn backends(config: &Config) -> Result<Backends> {
    let mut backends = Backends {
        claimed_settings: AwsSettings::KEYS.to_vec(),
        ..Backends::default()
    };
    let aws = AwsSettings::from_config(config)?;
    if !config.uses_aws() && aws.operator_secrets_kms_key_id.is_none() {
        return Ok(backends);
    }
    let sdk = sdk_config(aws.aws_endpoint_url.as_deref()).await?;
    let s3 = |setting: &Option<String>| -> Result<Option<S3Location>> {
        Location::s3(setting.as_deref())
            .map(S3Location::parse)
            .transpose()
    };
    if let Some(key) = &aws.operator_secrets_kms_key_id {
        backends.sealer = Some(Arc::new(KmsSealer::new(&sdk, key.clone())));
    }
    if let Some(location) = s3(&config.forms)? {
        backends.publisher = Some(Arc::new(S3FormPublisher::new(
            &sdk,
            location,
            aws.kms_key_id.clone(),
        )));
    }
    if let Some(location) = s3(&config.backups)? {
        backends.backup_sink = Some(Arc::new(S3BackupSink::new(
            &sdk,
            location,
            aws.kms_key_id.clone(),
        )));
    }
    if config.sms == SmsTransport::Sns {
        let sns = SnsSmsNotifier::new(
            &sdk,
            SmsOptions {
                sender_id: aws.sms_sender_id.clone(),
                ..SmsOptions::default()
            },
        )?;
        backends.notifiers.insert(Channel::Sms, Arc::new(sns));
    }
    if config.email == EmailTransport::Ses {
        let from = aws.email_from.clone().ok_or_else(|| {
            Error::Config(
                "email = \"ses\" needs email_from (MEDICARE_EMAIL_FROM): a verified SES identity"
                    .into(),
            )
        })?;
        backends.notifiers.insert(
            Channel::Email,
            Arc::new(SesEmailNotifier::new(
                &sdk,
                EmailOptions {
                    from,
                    configuration_set: aws.ses_configuration_set.clone(),
                },
            )?),
        );
    }
    Ok(backends)
}
