//! The daily backup as a scheduled AWS Lambda handler (an EventBridge schedule,
//! `cron(0 2 * * ? *)`), making the same library call as `medicare backup run`:
//! [`Backups::daily`] takes the day's backup (weekly full, else incremental) and applies
//! the 35-day retention.
//!
//! The handler is generic over that call ([`DailyBackup`]), so tests pass a stand-in and a
//! sample event. `main` builds everything once (the Lambda init phase), then hands the
//! handler to `lambda_runtime`. The workspace comes from the environment (see
//! [`lambda_support`]): the database (Aurora, from its secret), the backup sink
//! (`MEDICARE_BACKUPS`: a folder, or `s3://bucket/prefix` with SSE-KMS and a KMS envelope)
//! and the backup keys, installed from the secret `MEDICARE_BACKUP_KEYS_SECRET_ARN` (the
//! public age recipients and the manifest signing key; the age identity that decrypts
//! stays on premises). Failures become the Lambda diagnostic (`errorType`,
//! `errorMessage`), never carrying personal data.

use async_trait::async_trait;
use medicare_core::backup::keys::{BackupKeys, KeyPaths};
use medicare_core::backup::{Backups, DailyReport};
use medicare_core::clock::SystemClock;
use medicare_core::store::Database;
use medicare_core::Workspace;
use medicare_examples::lambda_support::{
    install_key_files, telemetry, unavailable, FreshWorkspace, HandlerError, ScheduledEvent,
};
use serde::Serialize;
use std::sync::Arc;

/// What the handler returns (ids, counts and sizes only: no personal data).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BackupResponse {
    /// The backup taken.
    pub backup_id: String,
    /// `full` or `incremental`.
    pub kind: String,
    /// Rows in it.
    pub rows: u64,
    /// Ciphertext bytes stored.
    pub bytes: u64,
    /// Backups deleted by retention.
    pub pruned: usize,
}

/// The library call the handler makes, as a seam for tests.
#[async_trait]
pub trait DailyBackup: Send + Sync {
    /// Takes the day's backup and applies retention.
    async fn daily(&self) -> medicare_core::Result<DailyReport>;
}

/// The real job: a workspace's database, backup keys and backup sink, built once.
#[derive(Debug)]
pub struct WorkspaceBackup {
    database: Arc<dyn Database>,
    keys: BackupKeys,
    backups: Backups,
}

impl WorkspaceBackup {
    /// Backs up `ws`'s database into its backup sink (a folder, or S3 with SSE-KMS), with
    /// the keys in its `keys/` folder.
    pub fn new(ws: &Workspace) -> medicare_core::Result<Self> {
        Ok(WorkspaceBackup {
            database: ws.database().clone(),
            keys: BackupKeys::for_backup(&KeyPaths::in_workspace(ws.dir()))?,
            backups: Backups::new(ws.backup_sink().clone(), Arc::new(SystemClock))
                .with_ledger(ws.database().clone()),
        })
    }

    /// With the backups kept elsewhere (another sink, an injected clock).
    pub fn with_backups(mut self, backups: Backups) -> Self {
        self.backups = backups;
        self
    }
}

#[async_trait]
impl DailyBackup for WorkspaceBackup {
    async fn daily(&self) -> medicare_core::Result<DailyReport> {
        // Recorded in the ledger as the scheduled job it is.
        let job =
            medicare_core::audit::AuditContext::new(medicare_core::audit::Actor::system("backup")?);
        medicare_core::audit::scope(job, self.backups.daily(&*self.database, &self.keys)).await
    }
}

/// Handles one scheduled event.
pub async fn handler(
    event: ScheduledEvent,
    job: &dyn DailyBackup,
) -> Result<BackupResponse, HandlerError> {
    event.check()?;
    let report = job.daily().await;
    // The "no successful backup in 26 hours" alarm counts these.
    medicare_core::metrics::backup_finished(report.as_ref().ok().map(|r| r.backup.object.size));
    let report = report.map_err(|e| HandlerError::new("BackupFailed", e))?;
    Ok(BackupResponse {
        backup_id: report.backup.id.clone(),
        kind: report.backup.kind.as_str().to_string(),
        rows: report.backup.total_rows(),
        bytes: report.backup.object.size,
        pruned: report.pruned.delete.len(),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let metrics = telemetry::init()?;
    let workspace = FreshWorkspace::open().await?;
    let ws = workspace.get().await?;
    if let Ok(arn) = std::env::var("MEDICARE_BACKUP_KEYS_SECRET_ARN") {
        install_key_files(
            ws.dir(),
            &arn,
            medicare_aws::AwsSettings::from_config(ws.config())?
                .aws_endpoint_url
                .as_deref(),
        )
        .await?;
    }
    let workspace = &workspace;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<ScheduledEvent>| async move {
            let request_id = event.context.request_id;
            telemetry::begin(metrics, &request_id);
            let result = async {
                let ws = workspace.get().await.map_err(unavailable)?;
                let job = WorkspaceBackup::new(&ws)
                    .map_err(|e| HandlerError::new("BackupKeysUnavailable", e))?;
                handler(event.payload, &job).await
            }
            .await;
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
    use medicare_core::backup::keys::generate_identity;
    use medicare_core::backup::sink::MemorySink;
    use medicare_core::clock::FixedClock;
    use medicare_core::patient::{generate, GenerateOptions};

    const SAMPLE: &str = r#"{
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-03-02T02:00:00Z", "region": "eu-west-2",
        "resources": ["arn:aws:events:eu-west-2:123456789012:rule/medicare-daily-backup"],
        "detail": {}
    }"#;

    struct Broken;

    #[async_trait]
    impl DailyBackup for Broken {
        async fn daily(&self) -> medicare_core::Result<DailyReport> {
            Err(medicare_core::Error::Config(
                "the backup recipients file is missing".into(),
            ))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scheduled_event_takes_the_daily_backup() {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::open(dir.path(), Default::default())
            .await
            .unwrap();
        ws.engine()
            .import_patients(&generate(GenerateOptions { count: 50, seed: 3 }))
            .await
            .unwrap();
        let paths = KeyPaths::in_workspace(dir.path());
        generate_identity(&paths.identity(), &paths.recipients()).unwrap();
        let at: chrono::DateTime<chrono::Utc> = "2026-03-02T02:00:00Z".parse().unwrap();
        let sink = Arc::new(MemorySink::new());
        let job = WorkspaceBackup::new(&ws)
            .unwrap()
            .with_backups(Backups::new(sink, Arc::new(FixedClock::new(at))));

        let event: ScheduledEvent = serde_json::from_str(SAMPLE).unwrap();
        let response = handler(event, &job).await.unwrap();
        assert_eq!(response.backup_id, "20260302T020000Z");
        assert_eq!(response.kind, "full");
        assert!(response.rows >= 50 && response.bytes > 0);
    }

    #[tokio::test]
    async fn failures_become_the_lambda_diagnostic() {
        let event: ScheduledEvent = serde_json::from_str(SAMPLE).unwrap();
        let err = handler(event.clone(), &Broken).await.unwrap_err();
        assert_eq!(err.error_type, "BackupFailed");
        assert!(err.error_message.contains("recipients"));
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["errorType"], "BackupFailed");
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "BackupFailed");

        let other = ScheduledEvent {
            detail_type: "Object Created".into(),
            ..event
        };
        assert_eq!(
            handler(other, &Broken).await.unwrap_err().error_type,
            "UnexpectedEvent"
        );
    }
}
