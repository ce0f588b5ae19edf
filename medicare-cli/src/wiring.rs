//! From settings to a workspace: `medicare.toml`, the `MEDICARE_*` variables and the
//! global `--database` flag choose the database and the services (local folders and the
//! outbox, or S3, SNS, SES and KMS through medicare-aws), with no code change.

use medicare_core::config::{Backends, Config, Workspace};
use medicare_core::Error;
use secrecy::SecretString;
use std::path::Path;

/// The settings for the workspace in `dir`: its file and the environment, then `--database`.
pub fn config(dir: &Path, database: Option<&SecretString>) -> Result<Config, Error> {
    let mut config = Config::load(dir)?;
    if let Some(url) = database {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

/// The settings the demo runs with: the defaults and the environment (the demo makes its
/// own folder, so no file), then `--database`.
pub fn demo_config(database: Option<&SecretString>) -> Result<Config, Error> {
    let mut config = Config::default();
    config.apply_env(medicare_core::config::env::process_vars())?;
    if let Some(url) = database {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

/// The services `config` names outside the workspace folder.
pub async fn backends(config: &Config) -> Result<Backends, Error> {
    medicare_aws::backends(config).await
}

/// Opens the workspace in `dir` as its settings say.
pub async fn open_workspace(
    dir: &Path,
    database: Option<&SecretString>,
) -> Result<Workspace, Error> {
    let config = config(dir, database)?;
    let backends = backends(&config).await?;
    Workspace::open_with(
        dir,
        config,
        std::sync::Arc::new(medicare_core::clock::SystemClock),
        backends,
    )
    .await
}
