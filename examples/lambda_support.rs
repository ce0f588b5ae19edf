//! What the Lambda examples share: opening the workspace their environment describes,
//! and the error shape Lambda reports.
//!
//! A function's environment (set by `examples/template.yaml`) names everything: the
//! database (a `MEDICARE_DATABASE_URL`, or the Aurora secret `MEDICARE_DATABASE_SECRET_ARN`
//! with `MEDICARE_DATABASE_SCHEME`, `_HOST`, `_PORT` and `_NAME`), the link signing key
//! (the secret `MEDICARE_LINK_KEY_SECRET_ARN`: every function must derive the same links),
//! and the services (`MEDICARE_FORMS=s3://...`, `MEDICARE_SMS=sns`, `MEDICARE_EMAIL=ses`,
//! `MEDICARE_KMS_KEY_ID`...), read by [`medicare_core::Config`] and wired by
//! [`medicare_aws::backends`]. The workspace folder (`MEDICARE_DIR`, default
//! `/tmp/medicare`) holds only what is derived at start-up.

use medicare_core::clock::SystemClock;
use medicare_core::config::{Config, Workspace};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
/// the function's init phase.
pub async fn open_workspace() -> anyhow::Result<Workspace> {
    let dir = workspace_dir();
    let mut config = Config::load(&dir)?;
    let secrets = Secrets::from_env(config.aws_endpoint_url.as_deref()).await?;
    if config.database_url.is_none() {
        if let Ok(arn) = std::env::var("MEDICARE_DATABASE_SECRET_ARN") {
            config.database_url = Some(database_url(&secrets.get(&arn).await?)?);
        }
    }
    if let Ok(arn) = std::env::var("MEDICARE_LINK_KEY_SECRET_ARN") {
        install_link_key(&dir, &secrets.get(&arn).await?)?;
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

/// Secrets Manager, reached through the same configuration as the other AWS clients.
struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    async fn from_env(endpoint_url: Option<&str>) -> anyhow::Result<Self> {
        let config = medicare_aws::sdk_config(endpoint_url).await?;
        Ok(Secrets {
            client: aws_sdk_secretsmanager::Client::new(&config),
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
    let var = |k: &str| std::env::var(k).map_err(|_| anyhow::anyhow!("{k} is not set"));
    let scheme = var("MEDICARE_DATABASE_SCHEME")?;
    let host = var("MEDICARE_DATABASE_HOST")?;
    let name = var("MEDICARE_DATABASE_NAME")?;
    let (default_port, tls) = match scheme.as_str() {
        "postgres" => ("5432", "sslmode=require"),
        "mysql" => ("3306", "ssl-mode=REQUIRED"),
        other => anyhow::bail!("MEDICARE_DATABASE_SCHEME is {other:?}, not postgres or mysql"),
    };
    let port = std::env::var("MEDICARE_DATABASE_PORT").unwrap_or_else(|_| default_port.into());
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

/// Writes the link key (the secret holds the 32 bytes in base64) where the workspace
/// reads it, readable by this process only.
fn install_link_key(dir: &Path, key: &SecretString) -> anyhow::Result<()> {
    use base64::Engine as _;
    let bytes = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(key.expose_secret().trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| anyhow::anyhow!("the link key secret is not 32 bytes in base64"))?,
    );
    write_private(&dir.join("keys/link.key"), &bytes)
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
}
