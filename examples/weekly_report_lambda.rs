//! The weekly non-respondent report as an AWS Lambda handler on an EventBridge schedule
//! (`cron(0 7 ? * MON *)`): the same library calls as `medicare report weekly`. The
//! report (HTML, CSV, JSON) is written to the workspace's `reports/` folder and, when
//! `MEDICARE_REPORTS` names `s3://bucket/prefix`, uploaded there with SSE-KMS.
//!
//! `main` opens the workspace once (see [`lambda_support`]); tests invoke [`handler`]
//! with a sample scheduled event.

use medicare_core::report::{weekly_report, write_weekly_report};
use medicare_core::Workspace;
use medicare_examples::lambda_support::{
    telemetry, unavailable, FreshWorkspace, HandlerError, ScheduledEvent,
};
use serde::Serialize;

/// What the handler returns: the week, counts and where the files went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportResponse {
    /// The ISO week reported.
    pub week: String,
    /// Campaigns in the report.
    pub campaigns: usize,
    /// Non-respondents listed, over every campaign.
    pub non_respondents: u64,
    /// Where the files were stored.
    pub stored: Vec<String>,
}

/// Where the report files go after they are written locally.
#[async_trait::async_trait]
pub trait ReportUpload: Send + Sync {
    /// Stores the file at `path`; returns where it went.
    async fn upload(&self, path: &std::path::Path) -> anyhow::Result<String>;
}

/// Keeps the files where they were written.
pub struct KeepLocal;

#[async_trait::async_trait]
impl ReportUpload for KeepLocal {
    async fn upload(&self, path: &std::path::Path) -> anyhow::Result<String> {
        Ok(path.display().to_string())
    }
}

/// Uploads to S3 with SSE-KMS.
pub struct ToS3 {
    client: aws_sdk_s3::Client,
    location: medicare_aws::S3Location,
    kms_key_id: Option<String>,
}

#[async_trait::async_trait]
impl ReportUpload for ToS3 {
    async fn upload(&self, path: &std::path::Path) -> anyhow::Result<String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| anyhow::anyhow!("report file {} has no name", path.display()))?;
        let key = self.location.key(name);
        let content_type = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("csv") => "text/csv; charset=utf-8",
            _ => "application/json",
        };
        let mut put = self
            .client
            .put_object()
            .bucket(self.location.bucket())
            .key(&key)
            .content_type(content_type)
            .cache_control("no-store")
            .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .body(aws_sdk_s3::primitives::ByteStream::from_path(path).await?);
        if let Some(id) = &self.kms_key_id {
            put = put.ssekms_key_id(id);
        }
        put.send()
            .await
            .map_err(|e| anyhow::anyhow!("uploading {key}: {}", e.into_service_error()))?;
        Ok(format!("s3://{}/{key}", self.location.bucket()))
    }
}

/// Makes this week's report and stores it.
pub async fn handler(
    event: ScheduledEvent,
    ws: &Workspace,
    upload: &dyn ReportUpload,
) -> Result<ReportResponse, HandlerError> {
    event.check()?;
    // Recorded in the audit ledger as the scheduled job it is.
    let job = medicare_core::audit::Actor::system("weekly-report")
        .map(medicare_core::audit::AuditContext::new)
        .map_err(|e| HandlerError::new("ReportFailed", e))?;
    let report = medicare_core::audit::scope(job, weekly_report(ws.engine()))
        .await
        .map_err(|e| HandlerError::new("ReportFailed", e))?;
    let files = write_weekly_report(&report, &ws.reports_dir())
        .map_err(|e| HandlerError::new("ReportFailed", e))?;
    let mut stored = Vec::new();
    for path in [files.html, files.csv, files.json] {
        stored.push(
            upload
                .upload(&path)
                .await
                .map_err(|e| HandlerError::new("UploadFailed", e))?,
        );
    }
    Ok(ReportResponse {
        week: report.week.clone(),
        campaigns: report.campaigns.len(),
        non_respondents: report
            .campaigns
            .iter()
            .map(|c| c.non_respondents.len() as u64)
            .sum(),
        stored,
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = telemetry::init()?;
    let workspace = FreshWorkspace::open().await?;
    let ws = workspace.get().await?;
    let upload: Box<dyn ReportUpload> = match std::env::var("MEDICARE_REPORTS") {
        Ok(url) if url.starts_with("s3://") => {
            let aws = medicare_aws::AwsSettings::from_config(ws.config())?;
            let config = medicare_aws::sdk_config(aws.aws_endpoint_url.as_deref()).await?;
            Box::new(ToS3 {
                client: medicare_aws::connect::s3_client(&config),
                location: medicare_aws::S3Location::parse(&url)?,
                kms_key_id: aws.kms_key_id,
            })
        }
        _ => Box::new(KeepLocal),
    };
    let (workspace, upload) = (&workspace, upload.as_ref());
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ScheduledEvent>| async move {
            let request_id = event.context.request_id;
            telemetry::begin(metrics, &request_id);
            let result = match workspace.get().await.map_err(unavailable) {
                Ok(ws) => handler(event.payload, &ws, upload).await,
                Err(e) => Err(e),
            };
            if let Err(e) = telemetry::flush(metrics, std::io::stdout()) {
                tracing::warn!(error = %e, "the metrics could not be written");
            }
            result
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use medicare_core::campaign::CampaignRequest;
    use medicare_core::filter::Filter;
    use medicare_core::form::FormSpec;
    use medicare_core::patient::{generate, GenerateOptions};
    use medicare_core::Config;
    use std::sync::Arc;

    const SAMPLE: &str = r#"{
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-11-23T07:00:00Z", "region": "eu-west-2",
        "resources": ["arn:aws:scheduler:eu-west-2:123456789012:schedule/default/weekly"],
        "detail": {}
    }"#;

    #[tokio::test]
    async fn a_scheduled_event_writes_the_weekly_report() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), Config::default())
            .await
            .unwrap();
        let engine = ws.engine();
        engine
            .import_patients(&generate(GenerateOptions { count: 60, seed: 2 }))
            .await
            .unwrap();
        let form = engine
            .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap())
            .await
            .unwrap();
        let id = engine
            .create_campaign(&CampaignRequest::new(
                "lambda",
                form.id,
                Arc::new(Filter::all()),
            ))
            .await
            .unwrap();
        engine.send(id, &Default::default(), &()).await.unwrap();

        let event: ScheduledEvent = serde_json::from_str(SAMPLE).unwrap();
        let response = handler(event, &ws, &KeepLocal).await.unwrap();
        assert_eq!(response.campaigns, 1);
        let recipients = engine.store().tracking_counts(id).await.unwrap().recipients;
        assert_eq!(
            response.non_respondents, recipients,
            "nobody has answered yet"
        );
        assert_eq!(response.stored.len(), 3);
        for file in &response.stored {
            assert!(
                std::path::Path::new(file).starts_with(ws.reports_dir()),
                "{file}"
            );
        }

        let mut wrong: ScheduledEvent = serde_json::from_str(SAMPLE).unwrap();
        wrong.detail_type = "Object Created".into();
        let err = handler(wrong, &ws, &KeepLocal).await.unwrap_err();
        assert_eq!(err.error_type, "UnexpectedEvent");
    }
}
