//! What the Lambda examples share: opening the workspace their environment describes,
//! and the error shape Lambda reports.
//!
//! A function's environment (set by `examples/template.yaml`) names everything: the
//! database (a `MEDICARE_DATABASE_URL`; or Aurora with IAM database authentication,
//! `MEDICARE_DATABASE_IAM_USER` with `MEDICARE_DATABASE_SCHEME`, `_HOST`, `_PORT` and
//! `_NAME`, the password being an RDS auth token signed with the function's role; or the
//! Aurora secret `MEDICARE_DATABASE_SECRET_ARN` with the same four), the link signing key
//! (the secret `MEDICARE_LINK_KEY_SECRET_ARN`: every function must derive the same links),
//! the key that seals operators' TOTP secrets (KMS, `MEDICARE_OPERATOR_SECRETS_KMS_KEY_ID`,
//! wired by [`medicare_aws::backends`]; or the workspace key file `medicare` made on
//! premises, stored in the secret `MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN`), and the
//! services (`MEDICARE_FORMS=s3://...`, `MEDICARE_SMS=sns`, `MEDICARE_EMAIL=ses`,
//! `MEDICARE_KMS_KEY_ID`...), read by [`medicare_core::Config`] and wired by
//! [`medicare_aws::backends`]. The workspace folder (`MEDICARE_DIR`, default
//! `/tmp/medicare`) holds only what is derived at start-up.

use medicare_core::clock::SystemClock;
use medicare_core::config::{Config, Workspace};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A failure, as the Lambda diagnostic (`errorType`, `errorMessage`) reports it. Library
/// errors never carry personal data, so their text is safe to report.
#[derive(Debug, Clone, Serialize, PartialEq, thiserror::Error)]
#[error("{error_type}: {error_message}")]
#[serde(rename_all = "camelCase")]
pub struct HandlerError {
    /// A stable type name.
    pub error_type: String,
    /// The message.
    pub error_message: String,
}

impl HandlerError {
    /// An error of type `error_type`.
    pub fn new(error_type: &str, message: impl std::fmt::Display) -> Self {
        HandlerError {
            error_type: error_type.to_string(),
            error_message: message.to_string(),
        }
    }
}

impl From<HandlerError> for lambda_runtime::Diagnostic {
    fn from(e: HandlerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type,
            error_message: e.error_message,
        }
    }
}

/// The workspace could not be (re)opened: the database or a secret is out of reach.
pub fn unavailable(e: anyhow::Error) -> HandlerError {
    HandlerError::new("WorkspaceUnavailable", e)
}

/// The fields of an EventBridge scheduled event the scheduled handlers read.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ScheduledEvent {
    /// The event id.
    pub id: String,
    /// Must be `Scheduled Event`.
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// When the schedule fired.
    pub time: chrono::DateTime<chrono::Utc>,
}

impl ScheduledEvent {
    /// Refuses any other kind of event (a misrouted rule, a test event).
    pub fn check(&self) -> Result<(), HandlerError> {
        if self.detail_type == "Scheduled Event" {
            Ok(())
        } else {
            Err(HandlerError::new(
                "UnexpectedEvent",
                format!(
                    "event {} is a {:?}, not a scheduled event",
                    self.id, self.detail_type
                ),
            ))
        }
    }
}

/// The workspace folder: `MEDICARE_DIR`, else `/tmp/medicare` (Lambda's writable disk).
pub fn workspace_dir() -> PathBuf {
    std::env::var_os("MEDICARE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/medicare"))
}

/// Opens the workspace the environment describes (see the module docs). Call it once, in
/// the function's init phase (with IAM database authentication, through
/// [`FreshWorkspace`], which opens it again before its token expires).
pub async fn open_workspace() -> anyhow::Result<Workspace> {
    let dir = workspace_dir();
    let mut config = Config::load(&dir)?;
    let secrets = Secrets::from_env(
        medicare_aws::AwsSettings::from_config(&config)?
            .aws_endpoint_url
            .as_deref(),
    )
    .await?;
    if config.database_url.is_none() {
        if let Some(auth) = iam_auth(&secrets.config)? {
            config.database_url = Some(auth.url(&secrets.config).await?);
        } else if let Ok(arn) = std::env::var("MEDICARE_DATABASE_SECRET_ARN") {
            config.database_url = Some(database_url(&secrets.get(&arn).await?)?);
        }
    }
    for (variable, file) in KEY_SECRETS {
        if let Ok(arn) = std::env::var(variable) {
            install_key(&dir, file, &secrets.get(&arn).await?)
                .map_err(|e| anyhow::anyhow!("the secret {variable} names: {e}"))?;
        }
    }
    let backends = medicare_aws::backends(&config).await?;
    Ok(Workspace::open_with(&dir, config, Arc::new(SystemClock), backends).await?)
}

/// Installs the files a secret holds (a JSON object of file name to text, e.g. the backup
/// recipients and manifest signing key) into the workspace's `keys/` folder, readable by
/// this process only. File names are plain names: no path may escape the folder.
pub async fn install_key_files(
    dir: &Path,
    arn: &str,
    endpoint_url: Option<&str>,
) -> anyhow::Result<()> {
    let secret = Secrets::from_env(endpoint_url).await?.get(arn).await?;
    let files: std::collections::BTreeMap<String, SecretString> =
        serde_json::from_str(secret.expose_secret())
            .map_err(|_| anyhow::anyhow!("secret {arn} is not a JSON object of file names"))?;
    for (name, text) in files {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            anyhow::bail!("secret {arn} names a file {name:?} outside the keys folder");
        }
        write_private(
            &dir.join("keys").join(&name),
            text.expose_secret().as_bytes(),
        )?;
    }
    Ok(())
}

/// Writes a file readable by this process only, replacing none: an existing file stays.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options.open(path)?.write_all(bytes)?;
    Ok(())
}

/// The workspace, opened again when an RDS auth token it connected with is about to
/// expire: a pool opening a connection later would otherwise present a stale token.
/// Without IAM database authentication it is opened once.
pub struct FreshWorkspace {
    current: tokio::sync::Mutex<(Arc<Workspace>, Instant)>,
    reopen_after: Option<Duration>,
}

impl FreshWorkspace {
    /// Reopened this long after opening, with IAM authentication (tokens last 15 minutes).
    pub const REOPEN_AFTER: Duration = Duration::from_secs(10 * 60);

    /// Opens the workspace the environment describes ([`open_workspace`]).
    pub async fn open() -> anyhow::Result<Self> {
        let iam = std::env::var_os("MEDICARE_DATABASE_IAM_USER").is_some()
            && std::env::var_os("MEDICARE_DATABASE_URL").is_none();
        Ok(Self::new(
            open_workspace().await?,
            iam.then_some(Self::REOPEN_AFTER),
        ))
    }

    /// `ws`, reopened (from the environment) once `reopen_after` has passed, if given.
    pub fn new(ws: Workspace, reopen_after: Option<Duration>) -> Self {
        FreshWorkspace {
            current: tokio::sync::Mutex::new((Arc::new(ws), Instant::now())),
            reopen_after,
        }
    }

    /// The workspace to serve this invocation with.
    pub async fn get(&self) -> anyhow::Result<Arc<Workspace>> {
        let mut current = self.current.lock().await;
        if self
            .reopen_after
            .is_some_and(|after| current.1.elapsed() >= after)
        {
            // Opening is not provably `Send` to the compiler (sqlx's higher-ranked
            // bounds), and Lambda services' futures must be: open on a blocking thread.
            let runtime = tokio::runtime::Handle::current();
            let ws =
                tokio::task::spawn_blocking(move || runtime.block_on(open_workspace())).await??;
            *current = (Arc::new(ws), Instant::now());
        }
        Ok(current.0.clone())
    }
}

/// IAM database authentication, if `MEDICARE_DATABASE_IAM_USER` asks for it.
fn iam_auth(
    config: &aws_config::SdkConfig,
) -> anyhow::Result<Option<medicare_aws::rds::DatabaseIamAuth>> {
    let Ok(user) = std::env::var("MEDICARE_DATABASE_IAM_USER") else {
        return Ok(None);
    };
    let endpoint = DatabaseEndpoint::from_env()?;
    let region = config
        .region()
        .ok_or_else(|| anyhow::anyhow!("IAM database authentication needs an AWS region"))?;
    Ok(Some(medicare_aws::rds::DatabaseIamAuth {
        scheme: endpoint.scheme,
        host: endpoint.host,
        port: endpoint.port,
        database: endpoint.name,
        user,
        region: region.to_string(),
    }))
}

/// `MEDICARE_DATABASE_SCHEME`, `_HOST`, `_PORT` (default: the scheme's) and `_NAME`.
struct DatabaseEndpoint {
    scheme: String,
    host: String,
    port: u16,
    name: String,
}

impl DatabaseEndpoint {
    fn from_env() -> anyhow::Result<Self> {
        let var = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} is not set"));
        let scheme = var("MEDICARE_DATABASE_SCHEME")?;
        let default_port = match scheme.as_str() {
            "postgres" => 5432,
            "mysql" => 3306,
            other => anyhow::bail!("MEDICARE_DATABASE_SCHEME is {other:?}, not postgres or mysql"),
        };
        let port = match std::env::var("MEDICARE_DATABASE_PORT") {
            Err(_) => default_port,
            Ok(p) => p.parse().map_err(|_| {
                anyhow::anyhow!("MEDICARE_DATABASE_PORT is {p:?}, not a port number")
            })?,
        };
        Ok(DatabaseEndpoint {
            scheme,
            host: var("MEDICARE_DATABASE_HOST")?,
            port,
            name: var("MEDICARE_DATABASE_NAME")?,
        })
    }
}

/// Secrets Manager, reached through the same configuration as the other AWS clients.
struct Secrets {
    config: aws_config::SdkConfig,
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    async fn from_env(endpoint_url: Option<&str>) -> anyhow::Result<Self> {
        let config = medicare_aws::sdk_config(endpoint_url).await?;
        Ok(Secrets {
            client: aws_sdk_secretsmanager::Client::new(&config),
            config,
        })
    }

    async fn get(&self, arn: &str) -> anyhow::Result<SecretString> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reading secret {arn}: {}", e.into_service_error()))?;
        let text = out
            .secret_string
            .ok_or_else(|| anyhow::anyhow!("secret {arn} holds no text"))?;
        Ok(SecretString::from(text))
    }
}

/// The database URL from an RDS-managed secret (`{"username": ..., "password": ...}`)
/// and `MEDICARE_DATABASE_SCHEME`, `_HOST`, `_PORT`, `_NAME`. TLS is required.
fn database_url(secret: &SecretString) -> anyhow::Result<SecretString> {
    #[derive(serde::Deserialize)]
    struct Master {
        username: String,
        password: SecretString,
    }
    let master: Master = serde_json::from_str(secret.expose_secret()).map_err(|_| {
        anyhow::anyhow!("the database secret is not {{\"username\", \"password\"}} JSON")
    })?;
    let DatabaseEndpoint {
        scheme,
        host,
        port,
        name,
    } = DatabaseEndpoint::from_env()?;
    let tls = if scheme == "postgres" {
        "sslmode=require"
    } else {
        "ssl-mode=REQUIRED"
    };
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    Ok(SecretString::from(format!(
        "{scheme}://{}:{}@{host}:{port}/{name}?{tls}",
        enc(&master.username),
        enc(master.password.expose_secret()),
    )))
}

/// The 256-bit keys a function may read from Secrets Manager: the variable naming the
/// secret, and the workspace file the key is installed as. Without the operator secrets
/// key (and without KMS sealing), a function has no way to open the TOTP secrets the CLI
/// sealed; the JSON API's tokens need neither.
pub const KEY_SECRETS: [(&str, &str); 2] = [
    ("MEDICARE_LINK_KEY_SECRET_ARN", "keys/link.key"),
    (
        "MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN",
        medicare_core::access::LocalSealer::KEY_FILE,
    ),
];

/// Writes a 256-bit key (the secret holds the 32 bytes in base64) as `file` in the
/// workspace, where the workspace reads it, readable by this process only.
fn install_key(dir: &Path, file: &str, key: &SecretString) -> anyhow::Result<()> {
    use base64::Engine as _;
    let bytes = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key.expose_secret().trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| anyhow::anyhow!("the key is not 32 bytes in base64"))?,
    );
    write_private(&dir.join(file), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_is_built_from_the_secret_with_tls_and_escaping() {
        std::env::set_var("MEDICARE_DATABASE_SCHEME", "postgres");
        std::env::set_var(
            "MEDICARE_DATABASE_HOST",
            "db.cluster.eu-west-2.rds.amazonaws.com",
        );
        std::env::set_var("MEDICARE_DATABASE_NAME", "medicare");
        let secret = SecretString::from(r#"{"username":"admin","password":"p@ss/w:rd"}"#);
        let url = database_url(&secret).unwrap();
        assert_eq!(
            url.expose_secret(),
            "postgres://admin:p%40ss%2Fw%3Ard@db.cluster.eu-west-2.rds.amazonaws.com:5432/medicare?sslmode=require"
        );
        let err = database_url(&SecretString::from("not json".to_string())).unwrap_err();
        assert!(!err.to_string().contains("not json"), "{err}");
    }

    /// Points this test process at moto (region, fake credentials, endpoint) and a fresh
    /// workspace folder; `None` outside CI without moto.
    fn moto_environment(dir: &Path) -> Option<String> {
        let url = medicare_core::store::conformance::server_url("MEDICARE_TEST_MOTO_URL")?;
        for (k, v) in [
            ("AWS_REGION", "eu-west-2"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("MEDICARE_AWS_ENDPOINT_URL", url.as_str()),
        ] {
            std::env::set_var(k, v);
        }
        std::env::set_var("MEDICARE_DIR", dir);
        Some(url)
    }

    #[tokio::test]
    async fn the_operator_secrets_key_comes_from_secrets_manager() {
        use base64::Engine as _;
        use medicare_core::access::{LocalSealer, SecretSealer};
        let dir = tempfile::tempdir().unwrap();
        let Some(url) = moto_environment(dir.path()) else {
            return;
        };
        let key = [0x5au8; 32];
        let secrets = Secrets::from_env(Some(&url)).await.unwrap();
        let arn = secrets
            .client
            .create_secret()
            .name(format!("operator-secrets-{}", std::process::id()))
            .secret_string(base64::engine::general_purpose::STANDARD.encode(key))
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        std::env::set_var("MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN", &arn);
        let ws = open_workspace().await.unwrap();
        let installed = dir.path().join(LocalSealer::KEY_FILE);
        assert_eq!(std::fs::read(&installed).unwrap(), key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&installed).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The sealer the access service uses is the installed key: what the CLI sealed
        // on premises with that key opens here.
        let on_premises = LocalSealer::new(secrecy::SecretBox::new(Box::new(key)));
        let secret = secrecy::SecretSlice::from(b"12345678901234567890".to_vec());
        let sealed = on_premises.seal(&secret, "c").await.unwrap();
        let here = LocalSealer::in_workspace(ws.dir()).unwrap();
        assert_eq!(
            here.open(&sealed, "c").await.unwrap().expose_secret(),
            secret.expose_secret()
        );

        // A secret that is not a 256-bit key is refused, naming the variable, never
        // quoting the secret.
        let bad = secrets
            .client
            .create_secret()
            .name(format!("operator-secrets-bad-{}", std::process::id()))
            .secret_string("hunter2-not-a-key")
            .send()
            .await
            .unwrap()
            .arn
            .unwrap();
        std::env::set_var("MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN", &bad);
        std::env::set_var("MEDICARE_DIR", dir.path().join("other"));
        let err = open_workspace().await.err().unwrap().to_string();
        assert!(
            err.contains("MEDICARE_OPERATOR_SECRETS_KEY_SECRET_ARN") && err.contains("32 bytes"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[tokio::test]
    async fn totp_secrets_are_sealed_with_kms_when_configured() {
        use medicare_core::access::{DisplayName, NewOperator, Role, Username};
        let dir = tempfile::tempdir().unwrap();
        let Some(url) = moto_environment(dir.path()) else {
            return;
        };
        let config = medicare_aws::sdk_config(Some(&url)).await.unwrap();
        let key = medicare_aws::connect::kms_client(&config)
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .key_id;
        std::env::set_var("MEDICARE_OPERATOR_SECRETS_KMS_KEY_ID", &key);
        let ws = open_workspace().await.unwrap();
        let access = ws.access().unwrap();
        let (id, enrolment) = access
            .add_operator(
                NewOperator {
                    username: Username::parse("kms-op").unwrap(),
                    display_name: DisplayName::parse("KMS Operator").unwrap(),
                    role: Role::Analyst,
                },
                SecretString::from("violet kettle sunrise"),
            )
            .await
            .unwrap();
        assert!(
            !dir.path()
                .join(medicare_core::access::LocalSealer::KEY_FILE)
                .exists(),
            "no workspace key is made when KMS seals"
        );
        // Enrolment opens the KMS-sealed secret to check the first code.
        let pending = access
            .sign_in("kms-op", &SecretString::from("violet kettle sunrise"))
            .await
            .unwrap();
        let code =
            medicare_core::server::testing::totp_code(&enrolment, ws.engine().clock().as_ref(), 0);
        access.confirm_enrolment(&pending.id, &code).await.unwrap();
        assert_eq!(access.operator(id).await.unwrap().status, "active");
    }
}

/// Logs and metrics as CloudWatch reads them: JSON log lines on stderr, each carrying the
/// fields of the spans it is in (the invocation's request id, the campaign, the shard), and
/// CloudWatch Embedded Metric Format lines on stdout, flushed after every invocation.
pub mod telemetry {
    use metrics_cloudwatch_embedded::Collector;

    /// The CloudWatch namespace of medicare's metrics (the template's alarms read it).
    pub const NAMESPACE: &str = "Medicare";

    /// Installs the log subscriber (`MEDICARE_LOG` filter, default `info`; JSON unless
    /// `MEDICARE_LOG_FORMAT=text`) and the EMF metrics recorder with the `function`
    /// dimension (`AWS_LAMBDA_FUNCTION_NAME`). Call once, first thing in `main`.
    pub fn init() -> anyhow::Result<&'static Collector> {
        let filter = tracing_subscriber::EnvFilter::try_from_env("MEDICARE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_target(false);
        let installed = if std::env::var("MEDICARE_LOG_FORMAT").as_deref() == Ok("text") {
            builder.try_init()
        } else {
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .try_init()
        };
        installed.map_err(|e| anyhow::anyhow!("the log subscriber: {e}"))?;
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_string());
        // EMF takes at most 100 values of a histogram per line: flushing every second
        // keeps provider latencies within that at the send rates the template sets.
        install(emf_builder(&function).with_auto_flush_interval(std::time::Duration::from_secs(1)))
    }

    fn emf_builder(function: &str) -> metrics_cloudwatch_embedded::Builder {
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("function", function.to_string())
    }

    /// The EMF recorder alone, for `function`, flushed only by [`flush`] (tests).
    pub fn recorder(function: &str) -> anyhow::Result<&'static Collector> {
        install(emf_builder(function))
    }

    fn install(
        builder: metrics_cloudwatch_embedded::Builder,
    ) -> anyhow::Result<&'static Collector> {
        let collector = builder
            .init()
            .map_err(|e| anyhow::anyhow!("the metrics recorder: {e}"))?;
        medicare_core::metrics::describe();
        Ok(collector)
    }

    /// Starts an invocation: its metrics lines carry its request id.
    pub fn begin(collector: &Collector, request_id: &str) {
        collector.set_property("RequestId", request_id.to_string());
    }

    /// Writes the invocation's remaining metrics as EMF lines to `out`: stdout in Lambda,
    /// where CloudWatch extracts them.
    pub fn flush(collector: &Collector, out: impl std::io::Write) -> std::io::Result<()> {
        collector.flush(out)
    }
}
