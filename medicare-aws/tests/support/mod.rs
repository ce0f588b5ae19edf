//! What the medicare-aws integration tests share: mocked clients, the services' error
//! answers, and the moto connection (URL from `MEDICARE_TEST_MOTO_URL`).

#![allow(dead_code)] // Each test file uses its own share.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_sns::operation::list_phone_numbers_opted_out::ListPhoneNumbersOptedOutOutput;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use medicare_aws::EmailOptions;
use rand::Rng;

/// An SNS client answering from `rules`, with SDK retries off as in production. Unless
/// `rules` answer it first, `ListPhoneNumbersOptedOut` (which the first SMS of a send
/// calls) answers an empty list.
pub fn sns_mock(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_sns::Client {
    let nobody = mock!(aws_sdk_sns::Client::list_phone_numbers_opted_out)
        .then_output(|| ListPhoneNumbersOptedOutOutput::builder().build());
    let mut rules = rules.to_vec();
    if mode == RuleMode::MatchAny {
        rules.push(&nobody);
    }
    mock_client!(aws_sdk_sns, mode, &rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

/// An SES v2 client answering from `rules`, with SDK retries off as in production.
pub fn ses_mock(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_sesv2::Client {
    mock_client!(aws_sdk_sesv2, mode, rules, |b| b
        .retry_config(RetryConfig::disabled()))
}

/// A KMS client answering from `rules`.
pub fn kms_mock(mode: RuleMode, rules: &[&Rule]) -> aws_sdk_kms::Client {
    mock_client!(aws_sdk_kms, mode, rules)
}

fn response(status: u16, headers: &[(&str, &str)], body: String) -> Response {
    let mut builder = http::Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    Response::try_from(builder.body(SdkBody::from(body)).unwrap()).unwrap()
}

/// An SNS (awsQuery, XML) error answer whose message echoes `echo`, as SNS's do.
pub fn sns_error(status: u16, code: &str, retry_after: Option<&str>, echo: &str) -> Response {
    let body = format!(
        r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>Invalid parameter: PhoneNumber Reason: {echo}</Message></Error><RequestId>4c1b5a5e-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
    );
    let mut headers = vec![("content-type", "text/xml")];
    if let Some(after) = retry_after {
        headers.push(("retry-after", after));
    }
    response(status, &headers, body)
}

/// An SES v2 (restJson1) error answer whose message echoes `echo`.
pub fn ses_error(status: u16, code: &str, echo: &str) -> Response {
    response(
        status,
        &[
            ("content-type", "application/json"),
            ("x-amzn-errortype", code),
        ],
        format!(r#"{{"message":"Rejected: {echo}"}}"#),
    )
}

/// A KMS (awsJson1_1) error answer.
pub fn kms_error(status: u16, code: &str) -> Response {
    response(
        status,
        &[("content-type", "application/x-amz-json-1.1")],
        format!(r#"{{"__type":"{code}","message":"refused"}}"#),
    )
}

/// A successful SNS Publish answer.
pub fn sns_published(message_id: &str) -> Response {
    response(
        200,
        &[("content-type", "text/xml")],
        format!(
            r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>{message_id}</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>"#
        ),
    )
}

/// A successful SES SendEmail answer.
pub fn ses_sent(message_id: &str) -> Response {
    response(
        200,
        &[("content-type", "application/json")],
        format!(r#"{{"MessageId":"{message_id}"}}"#),
    )
}

/// The sender the tests use.
pub fn email_options() -> EmailOptions {
    EmailOptions {
        from: "flu@example.org".into(),
        configuration_set: None,
    }
}

/// A name no other run uses (`{prefix}-{16 hex}`).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::thread_rng().gen::<u64>())
}

/// The moto server's URL, or `None` (the test is skipped, saying so) outside CI.
pub fn moto_url() -> Option<String> {
    medicare_core::store::conformance::server_url("MEDICARE_TEST_MOTO_URL")
}

/// A configuration for moto at `url`: fixed region and fake credentials, set here rather
/// than read from the environment.
pub async fn moto_config(url: &str) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-2"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"));
    medicare_aws::connect::sdk_config_with(loader, Some(url))
        .await
        .unwrap()
}

/// An SNS notifier with the tests' sender ID.
pub fn sms_notifier(config: &SdkConfig) -> std::sync::Arc<medicare_aws::SnsSmsNotifier> {
    let options = medicare_aws::SmsOptions {
        sender_id: Some("MediCARE".into()),
        ..medicare_aws::SmsOptions::default()
    };
    std::sync::Arc::new(medicare_aws::SnsSmsNotifier::new(config, options).unwrap())
}

/// Creates a fresh bucket in moto and returns its name.
pub async fn create_bucket(config: &SdkConfig) -> String {
    let name = unique("medicare-test");
    medicare_aws::connect::s3_client(config)
        .create_bucket()
        .bucket(&name)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest2)
                .build(),
        )
        .send()
        .await
        .unwrap();
    name
}

/// Creates a symmetric KMS key in moto and returns its id.
pub async fn create_kms_key(config: &SdkConfig) -> String {
    medicare_aws::connect::kms_client(config)
        .create_key()
        .description("medicare tests")
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string()
}

/// Verifies `address` as an SES sender identity.
pub async fn verify_sender(config: &SdkConfig, address: &str) {
    medicare_aws::connect::ses_client(config)
        .create_email_identity()
        .email_identity(address)
        .send()
        .await
        .unwrap();
}

/// What moto recorded (`GET /moto-api/data.json`).
pub async fn moto_data(url: &str) -> serde_json::Value {
    reqwest::get(format!("{}/moto-api/data.json", url.trim_end_matches('/')))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The SMS moto recorded: (number, text).
pub fn moto_sms(data: &serde_json::Value) -> Vec<(String, String)> {
    data["sns"]["SMS"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|m| {
                    (
                        m["phone_number"].as_str().unwrap_or_default().to_string(),
                        m["message"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The emails moto recorded: (first To address, subject, body).
pub fn moto_emails(data: &serde_json::Value) -> Vec<(String, String, String)> {
    data["ses"]["Message"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|m| {
                    (
                        m["destinations"]["ToAddresses"][0]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        m["subject"].as_str().unwrap_or_default().to_string(),
                        m["body"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One delivery of a campaign, with its recipient's contact.
#[derive(Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    pub recipient: i64,
    pub channel: String,
    pub status: String,
    pub reason: Option<String>,
    pub attempts: i64,
    pub provider_id: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
}

impl DeliveryRow {
    /// The address this delivery was for.
    pub fn address(&self) -> Option<&str> {
        match self.channel.as_str() {
            "sms" => self.phone.as_deref(),
            _ => self.email.as_deref(),
        }
    }
}

/// Every delivery of `campaign`, read straight from the database.
pub async fn delivery_rows(
    store: &medicare_core::store::sqlite::SqliteStore,
    campaign: medicare_core::campaign::CampaignId,
) -> Vec<DeliveryRow> {
    sqlx::query_as(
        "SELECT r.id AS recipient, d.channel, d.status, d.reason, d.attempts, d.provider_id,
                r.phone, r.email
         FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
         WHERE d.campaign_id = ?",
    )
    .bind(campaign.0)
    .fetch_all(store.pool())
    .await
    .unwrap()
}
