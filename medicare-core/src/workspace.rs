//! The workspace: the composition root. It turns [`Config`] settings (and any
//! [`Backends`] a caller supplies, such as medicare-aws's) into one wired [`Engine`] over
//! a folder of embedded defaults: the database, the link key, the form and backup
//! folders and the outbox.

use crate::access::SecretSealer;
use crate::backup::local::LocalFolderSink;
use crate::backup::sink::BackupSink;
use crate::campaign::Engine;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EmailTransport, Location, SmsTransport};
use crate::error::{Error, Result};
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, Notifier, OutboxNotifier};
use crate::publish::{FormPublisher, LocalFolderPublisher};
use crate::store::{open_database, Database};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Services a workspace uses instead of its embedded defaults: the AWS ones come from
/// `medicare_aws::backends(&config)`. Whatever is left empty is the embedded default.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// Where form pages are published (default: the local folder).
    pub publisher: Option<Arc<dyn FormPublisher>>,
    /// The notifier per channel (default: the outbox file).
    pub notifiers: BTreeMap<Channel, Arc<dyn Notifier>>,
    /// Where backups are stored (default: the local backup folder).
    pub backup_sink: Option<Arc<dyn BackupSink>>,
    /// What seals operators' TOTP secrets (default: the workspace's key file,
    /// [`LocalSealer`](crate::access::LocalSealer)).
    pub sealer: Option<Arc<dyn SecretSealer>>,
    /// The [extension settings](crate::config::Extensions) the supplier of these
    /// backends reads (medicare-aws's `kms_key_id`, ...): keys in `medicare.toml` that
    /// neither core nor these name are refused as unknown.
    pub claimed_settings: Vec<&'static str>,
}

impl Backends {
    /// The backup sink: this one's, or the folder `config.backups` names (default:
    /// `backups/` in `dir`).
    pub fn backup_sink_or_folder(
        &self,
        config: &Config,
        dir: &Path,
    ) -> Result<Arc<dyn BackupSink>> {
        if let Some(sink) = &self.backup_sink {
            return Ok(sink.clone());
        }
        match Location::resolve(config.backups.as_deref(), dir, "backups") {
            Location::Folder(folder) => Ok(Arc::new(LocalFolderSink::new(folder))),
            Location::S3(_) => Err(needs_aws("backups on s3://")),
        }
    }

    /// Checks that every setting naming a service outside the folder has one here.
    fn check(&self, config: &Config) -> Result<()> {
        config.extensions.check_claimed(&self.claimed_settings)?;
        if config.sms == SmsTransport::Sns && !self.notifiers.contains_key(&Channel::Sms) {
            return Err(needs_aws("sms = \"sns\""));
        }
        if config.email == EmailTransport::Ses && !self.notifiers.contains_key(&Channel::Email) {
            return Err(needs_aws("email = \"ses\""));
        }
        if Location::s3(config.forms.as_deref()).is_some() && self.publisher.is_none() {
            return Err(needs_aws("forms on s3://"));
        }
        if Location::s3(config.backups.as_deref()).is_some() && self.backup_sink.is_none() {
            return Err(needs_aws("backups on s3://"));
        }
        Ok(())
    }
}

/// The error for a setting that names an AWS service the program has no backend for.
fn needs_aws(what: &str) -> Error {
    Error::Config(format!(
        "{what} needs the AWS backends, which this program was built without \
         (the medicare CLI and medicare-aws have them)"
    ))
}

/// A folder holding the embedded defaults, wired into an [`Engine`].
#[derive(Debug, Clone)]
pub struct Workspace {
    dir: PathBuf,
    config: Config,
    database: Arc<dyn Database>,
    backup_sink: Arc<dyn BackupSink>,
    sealer: Option<Arc<dyn SecretSealer>>,
    engine: Engine,
}

impl Workspace {
    /// Opens (creating as needed) the workspace in `dir` with `config`, on the embedded
    /// defaults.
    pub async fn open(dir: &Path, config: Config) -> Result<Workspace> {
        Self::open_with(dir, config, Arc::new(SystemClock), Backends::default()).await
    }

    /// As [`Workspace::open`], reading the time from `clock`.
    pub async fn open_with_clock(
        dir: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Workspace> {
        Self::open_with(dir, config, clock, Backends::default()).await
    }

    /// Opens the workspace with `backends` standing in for the embedded defaults (the
    /// settings that name other services must have theirs here).
    pub async fn open_with(
        dir: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
        backends: Backends,
    ) -> Result<Workspace> {
        backends.check(&config)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let database: Arc<dyn Database> = match &config.database_url {
            None => embedded_database(dir).await?,
            Some(url) => open_database(url).await?,
        };
        let signer = Arc::new(HmacLinkSigner::from_key_file(
            &dir.join("keys/link.key"),
            &config.base_url,
        )?);
        let backup_sink = backends.backup_sink_or_folder(&config, dir)?;
        let publisher = match backends.publisher {
            Some(p) => p,
            None => match Location::resolve(config.forms.as_deref(), dir, "forms") {
                Location::Folder(folder) => Arc::new(LocalFolderPublisher::new(folder)),
                Location::S3(_) => unreachable!("checked: an s3:// location has a publisher"),
            },
        };
        let mut engine = Engine::new(database.clone(), publisher, signer, clock)
            .with_prices(config.prices())
            .with_open_rate(config.second_wave_open_rate);
        let mut outbox: Option<Arc<OutboxNotifier>> = None;
        for channel in [Channel::Sms, Channel::Email] {
            let notifier: Arc<dyn Notifier> = match backends.notifiers.get(&channel) {
                Some(n) => n.clone(),
                None => match &outbox {
                    Some(o) => o.clone(),
                    None => {
                        let o = Arc::new(OutboxNotifier::open(dir.join("outbox.jsonl"))?);
                        outbox = Some(o.clone());
                        o
                    }
                },
            };
            engine = engine.with_notifier(channel, notifier);
        }
        Ok(Workspace {
            dir: dir.to_path_buf(),
            config,
            database,
            backup_sink,
            sealer: backends.sealer,
            engine,
        })
    }

    /// The database (the engine's store, and what backups read and restore).
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.database
    }

    /// Closes the database's connections, once everything using them is done: on the
    /// embedded SQLite file this folds the write-ahead log back in, so `medicare.db`
    /// alone holds every write (see [`Close::close`](crate::store::Close::close)).
    /// Programs call it before they exit; the workspace refuses further work after it.
    pub async fn close(&self) {
        self.database.close().await;
    }

    /// Where backups are stored.
    pub fn backup_sink(&self) -> &Arc<dyn BackupSink> {
        &self.backup_sink
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The operators' sign-in service on this workspace's database, on the engine's
    /// clock: TOTP secrets sealed by the backends' sealer (KMS on AWS) or else with the
    /// workspace's key (`keys/operator-secrets.key`, made on first use), passwords hashed
    /// with the OWASP parameters.
    pub fn access(&self) -> Result<crate::access::Service> {
        let sealer: Arc<dyn SecretSealer> = match &self.sealer {
            Some(sealer) => sealer.clone(),
            None => Arc::new(crate::access::LocalSealer::in_workspace(&self.dir)?),
        };
        Ok(crate::access::Service::new(
            self.database.clone(),
            sealer,
            self.engine.clock().clone(),
            crate::access::PasswordHasher::owasp()?,
        ))
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The outbox file.
    pub fn outbox_path(&self) -> PathBuf {
        self.dir.join("outbox.jsonl")
    }

    /// The folder weekly reports are written to.
    pub fn reports_dir(&self) -> PathBuf {
        self.dir.join("reports")
    }
}

/// The embedded default database: `medicare.db` in the folder.
#[cfg(feature = "sqlite")]
async fn embedded_database(dir: &Path) -> Result<Arc<dyn Database>> {
    let store = crate::store::sqlite::SqliteStore::open(&dir.join("medicare.db")).await?;
    Ok(Arc::new(store))
}

/// Without the `sqlite` feature there is no embedded database: a URL must name one.
#[cfg(not(feature = "sqlite"))]
async fn embedded_database(_dir: &Path) -> Result<Arc<dyn Database>> {
    Err(Error::Config(
        "no database_url (MEDICARE_DATABASE_URL) is set, and this program was built \
         without the embedded SQLite store"
            .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_settings_are_refused_without_their_backends() {
        let mut c = Config::default();
        c.apply_env([
            ("MEDICARE_SMS".to_string(), "sns".to_string()),
            (
                "MEDICARE_FORMS".to_string(),
                "s3://forms-bucket/pages".to_string(),
            ),
        ])
        .unwrap();
        let err = Backends::default().check(&c).unwrap_err();
        assert!(
            matches!(err, Error::Config(_)) && err.to_string().contains("sns"),
            "{err}"
        );
        c.sms = SmsTransport::Outbox;
        let err = Backends::default().check(&c).unwrap_err();
        assert!(err.to_string().contains("forms on s3://"), "{err}");
        c.forms = None;
        Backends::default().check(&c).unwrap();
        let c = Config::from_toml("kms_key_id = \"alias/k\"").unwrap();
        let err = Backends::default().check(&c).unwrap_err();
        assert!(err.to_string().contains("kms_key_id"), "{err}");
        let claimed = Backends {
            claimed_settings: vec!["kms_key_id"],
            ..Backends::default()
        };
        claimed.check(&c).unwrap();
    }
}
