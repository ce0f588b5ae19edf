//! `medicare backup run|list|verify|restore|pull|prune` and `medicare keys generate`.
//!
//! Glue only: every command is one call into `medicare_core::backup`. Backups go to a
//! local (on-premises) folder, `<workspace>/backups` unless `--to` or
//! `MEDICARE_BACKUP_DIR` names another; keys live in `<workspace>/keys`.

use crate::output::{print_json, say};
use crate::wiring;
use clap::{Args, Subcommand};
use medicare_core::backup::keys::{
    generate_identity, BackupKeys, Identities, KeyPaths, TrustedSigners,
};
use medicare_core::backup::manifest::{BackupKind, Manifest};
use medicare_core::backup::retention::PrunePlan;
use medicare_core::backup::{Backups, CheckReport};
use medicare_core::clock::SystemClock;
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::{open_database, Database};
use medicare_core::Error;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The backup and key commands (flattened into the top-level command list).
#[derive(Subcommand)]
pub enum Command {
    /// Encrypted backups kept on premises: run, list, verify, restore, prune.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Backup keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `medicare backup ...`
#[derive(Subcommand)]
pub enum BackupCommand {
    /// Take today's backup (a weekly full, else an incremental), then apply retention.
    Run {
        #[command(flatten)]
        sink: SinkArgs,
        /// Take a full backup whatever the day.
        #[arg(long)]
        full: bool,
        /// Do not apply retention after the backup.
        #[arg(long)]
        no_prune: bool,
    },
    /// List the complete, trusted backups.
    List {
        #[command(flatten)]
        sink: SinkArgs,
    },
    /// Decrypt a backup and check every object, table count and checksum.
    Verify {
        /// The backup id, or `latest`.
        #[arg(default_value = "latest")]
        id: String,
        #[command(flatten)]
        sink: SinkArgs,
        #[command(flatten)]
        keys: ReadKeys,
        /// Also restore into a scratch SQLite database and compare it table by table.
        #[arg(long)]
        restore_test: bool,
    },
    /// Restore a backup into a named SQLite database file, or into a PostgreSQL or MySQL
    /// database (`--into-database`, e.g. a new Aurora cluster after a failover).
    Restore {
        /// The backup id, or `latest`.
        id: String,
        /// The database file to restore into (created if missing).
        #[arg(long, required_unless_present = "into_database")]
        into: Option<PathBuf>,
        /// The database URL to restore into (`postgres://...` or `mysql://...`, created
        /// tables if missing); the URL may carry a password and is never printed.
        #[arg(
            long,
            env = "MEDICARE_RESTORE_DATABASE_URL",
            hide_env_values = true,
            conflicts_with = "into"
        )]
        into_database: Option<SecretString>,
        /// Replace the contents of a database that is not empty.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        sink: SinkArgs,
        #[command(flatten)]
        keys: ReadKeys,
    },
    /// Copy the backups a source (the cloud's `s3://bucket/prefix`) has and this folder
    /// lacks, checking each with the private key before keeping it; never overwrites.
    Pull {
        /// Where the backups are: `s3://bucket/prefix` or a folder.
        #[arg(long)]
        from: String,
        /// The on-premises folder to copy them into (default: the `backups` setting's
        /// folder, else `<workspace>/backups`).
        #[arg(long)]
        to: Option<PathBuf>,
        #[command(flatten)]
        keys: ReadKeys,
    },
    /// Delete backups older than the retention (35 days), keeping fulls still needed.
    Prune {
        #[command(flatten)]
        sink: SinkArgs,
        /// Only print what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `medicare keys ...`
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate an age identity (0600) and add its recipient to the backup recipients.
    Generate {
        /// Generate the escrow identity (`keys/escrow.identity`, to be moved offline).
        #[arg(long)]
        escrow: bool,
    },
}

/// Where backups are kept.
#[derive(Args)]
pub struct SinkArgs {
    /// Where backups are kept: the on-premises folder, or `s3://bucket/prefix` (default:
    /// the `backups` setting, else `<workspace>/backups`).
    #[arg(long, env = "MEDICARE_BACKUP_DIR")]
    to: Option<String>,
}

/// Keys for reading backups.
#[derive(Args)]
pub struct ReadKeys {
    /// The age identity file (default: `<workspace>/keys/backup.identity`).
    #[arg(long, env = "MEDICARE_BACKUP_IDENTITY")]
    identity: Option<PathBuf>,
    /// The trusted signers file (default: `<workspace>/keys/backup-signers.pub`).
    #[arg(long)]
    signers: Option<PathBuf>,
}

impl ReadKeys {
    fn load(&self, paths: &KeyPaths) -> Result<(Identities, TrustedSigners), Error> {
        let identity = self.identity.clone().unwrap_or_else(|| paths.identity());
        let signers = self.signers.clone().unwrap_or_else(|| paths.signers());
        Ok((
            Identities::from_file(&identity)?,
            TrustedSigners::from_file(&signers)?,
        ))
    }
}

/// The backups of the workspace in `dir`, kept where `--to`, `MEDICARE_BACKUP_DIR`,
/// `MEDICARE_BACKUPS` or medicare.toml say (a folder or `s3://bucket/prefix`); runs,
/// verifications, restores and prunes are recorded in the workspace database's audit
/// ledger when it has one (a machine that only keeps backups may have none).
async fn backups(
    dir: &Path,
    sink: &SinkArgs,
    database: &WorkspaceDatabase<'_>,
) -> Result<Backups, Error> {
    let backups = Backups::new(
        self::sink(dir, sink, database.url).await?,
        Arc::new(SystemClock),
    );
    Ok(match database.get().await? {
        Some(db) => backups.with_ledger(db),
        None => backups,
    })
}

/// The backup sink `sink` (else the settings) names: where checkpoints go too.
pub async fn sink(
    dir: &Path,
    sink: &SinkArgs,
    database: Option<&SecretString>,
) -> Result<Arc<dyn medicare_core::backup::sink::BackupSink>, Error> {
    let mut config = wiring::config(dir, database)?;
    if let Some(to) = &sink.to {
        config.backups = Some(match to.strip_prefix("s3://") {
            Some(_) => to.clone(),
            None => std::path::absolute(to)
                .map_err(|e| Error::io(to, e))?
                .display()
                .to_string(),
        });
    }
    let backends = wiring::backends(&config).await?;
    backends.backup_sink_or_folder(&config, dir)
}

/// The workspace's database, as its settings say: opened on first use (a backup never
/// creates the database it reads) and closed when the command ends, so an embedded file
/// is left whole.
struct WorkspaceDatabase<'a> {
    dir: &'a Path,
    url: Option<&'a SecretString>,
    opened: tokio::sync::OnceCell<Option<Arc<dyn Database>>>,
}

impl<'a> WorkspaceDatabase<'a> {
    fn new(dir: &'a Path, url: Option<&'a SecretString>) -> Self {
        WorkspaceDatabase {
            dir,
            url,
            opened: tokio::sync::OnceCell::new(),
        }
    }

    /// The embedded database file, used when the settings name no database URL.
    fn file(&self) -> PathBuf {
        self.dir.join("medicare.db")
    }

    /// The database, or `None` when the settings name none and the workspace has no
    /// `medicare.db` (a machine that only keeps backups).
    async fn get(&self) -> Result<Option<Arc<dyn Database>>, Error> {
        let opened = self
            .opened
            .get_or_try_init(|| async {
                match wiring::config(self.dir, self.url)?.database_url {
                    Some(url) => open_database(&url).await.map(Some),
                    None if !self.file().exists() => Ok(None),
                    None => {
                        let store: Arc<dyn Database> =
                            Arc::new(SqliteStore::open(&self.file()).await?);
                        Ok::<_, Error>(Some(store))
                    }
                }
            })
            .await?;
        Ok(opened.clone())
    }

    /// The database, which must exist.
    async fn required(&self) -> Result<Arc<dyn Database>, Error> {
        self.get()
            .await?
            .ok_or_else(|| Error::not_found(format!("database {}", self.file().display())))
    }

    /// Closes the database if the command opened it.
    async fn close(&self) {
        if let Some(Some(database)) = self.opened.get() {
            database.close().await;
        }
    }
}

fn print_manifest(m: &Manifest) {
    say!(
        "backup {} {:<11} {:>9} rows {:>12} bytes{}",
        m.id,
        m.kind.as_str(),
        m.total_rows(),
        m.object.size,
        m.parent
            .as_ref()
            .map(|p| format!("  (on {p})"))
            .unwrap_or_default()
    );
}

fn print_check(what: &str, r: &CheckReport) {
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    say!(
        "{what} backup {}: {} tables, {} rows, {} bytes in {:.2}s ({:.1} MB/s, {:.0} rows/s)",
        r.id,
        r.tables.len(),
        r.rows(),
        r.bytes,
        secs,
        r.bytes as f64 / 1e6 / secs,
        r.rows() as f64 / secs
    );
    for t in &r.tables {
        say!("  {:<24} {:>9} rows  {}", t.name, t.rows, &t.sha256[..16]);
    }
}

fn print_plan(plan: &PrunePlan, dry_run: bool) {
    let verb = if dry_run { "would delete" } else { "deleted" };
    say!(
        "kept {} backups ({} older fulls still needed); {verb} {} backups and {} unreferenced objects",
        plan.keep.len() + plan.keep_as_parent.len(),
        plan.keep_as_parent.len(),
        plan.delete.len(),
        plan.orphans.len()
    );
    for id in &plan.delete {
        say!("  {verb} backup {id}");
    }
    for key in &plan.orphans {
        say!("  {verb} object {key}");
    }
}

fn print_pull(r: &medicare_aws::pull::PullReport) {
    for p in &r.pulled {
        say!(
            "pulled backup {} {:<11} {:>12} bytes copied, {:>9} rows verified",
            p.id,
            p.kind,
            p.bytes_copied,
            p.rows
        );
    }
    say!(
        "{} pulled, {} already here, {} refused",
        r.pulled.len(),
        r.already_present,
        r.refused.len()
    );
    for f in &r.refused {
        eprintln!("refused {}: {}", f.manifest, f.reason);
    }
    for key in &r.unreferenced {
        eprintln!("no manifest names {key} (a backup being written, or debris): not pulled");
    }
}

/// Runs one backup or key command in workspace `dir`.
pub async fn run(
    command: Command,
    dir: &Path,
    db: Option<&SecretString>,
    json: bool,
) -> Result<ExitCode, Error> {
    let database = WorkspaceDatabase::new(dir, db);
    let result = run_on(command, dir, &database, json).await;
    database.close().await;
    result
}

/// Runs `command` on the workspace in `dir`, whose database `db` opens when needed.
async fn run_on(
    command: Command,
    dir: &Path,
    db: &WorkspaceDatabase<'_>,
    json: bool,
) -> Result<ExitCode, Error> {
    let paths = KeyPaths::in_workspace(dir);
    match command {
        Command::Keys(KeysCommand::Generate { escrow }) => {
            let identity = if escrow {
                paths.escrow_identity()
            } else {
                paths.identity()
            };
            let made = generate_identity(&identity, &paths.recipients())?;
            if json {
                print_json(&made);
            } else {
                say!("identity (secret, 0600): {}", made.identity_file.display());
                say!("recipient: {}", made.recipient);
                say!(
                    "  added to {}; give it to the cloud side",
                    made.recipients_file.display()
                );
                if escrow {
                    say!("  move the escrow identity offline now");
                }
            }
        }
        Command::Backup(BackupCommand::Run {
            sink,
            full,
            no_prune,
        }) => {
            let keys = BackupKeys::for_backup(&paths)?;
            let source = db.required().await?;
            let backups = backups(dir, &sink, db).await?;
            let kind = full.then_some(BackupKind::Full);
            let manifest = backups.run(&*source, &keys, kind).await?;
            // The ledger's head, signed, beside the backup it is in.
            let actor = medicare_core::audit::current().actor;
            crate::audit_cmd::checkpoint_after_backup(
                &*source,
                dir,
                backups.sink().as_ref(),
                actor,
            )
            .await?;
            let pruned = if no_prune {
                None
            } else {
                Some(backups.prune(&keys.trusted, false).await?)
            };
            if json {
                print_json(&serde_json::json!({ "backup": manifest, "pruned": pruned }));
            } else {
                print_manifest(&manifest);
                if let Some(plan) = &pruned {
                    print_plan(plan, false);
                }
            }
        }
        Command::Backup(BackupCommand::List { sink }) => {
            let trusted = TrustedSigners::from_file(&paths.signers())?;
            let listing = backups(dir, &sink, db).await?.list(&trusted).await?;
            if json {
                print_json(&listing);
            } else {
                listing.backups.iter().for_each(print_manifest);
                for (key, why) in &listing.skipped {
                    eprintln!("skipped {key}: {why}");
                }
            }
        }
        Command::Backup(BackupCommand::Verify {
            id,
            sink,
            keys,
            restore_test,
        }) => {
            let (identities, trusted) = keys.load(&paths)?;
            let backups = backups(dir, &sink, db).await?;
            let id = backups.resolve(&id, &trusted).await?;
            let report = if restore_test {
                backups.restore_test(&id, &identities, &trusted).await?
            } else {
                backups.verify(&id, &identities, &trusted).await?
            };
            if json {
                print_json(&report);
            } else {
                print_check(
                    if restore_test {
                        "restore-tested"
                    } else {
                        "verified"
                    },
                    &report,
                );
            }
        }
        Command::Backup(BackupCommand::Restore {
            id,
            into,
            into_database,
            replace,
            sink,
            keys,
        }) => {
            let (identities, trusted) = keys.load(&paths)?;
            let backups = backups(dir, &sink, db).await?;
            let id = backups.resolve(&id, &trusted).await?;
            let (report, target) = match (into, into_database) {
                (Some(into), _) => (
                    backups
                        .restore_to_sqlite_file(&id, &identities, &trusted, &into, replace)
                        .await?,
                    into.display().to_string(),
                ),
                (None, Some(url)) => {
                    let target = open_database(&url).await?;
                    let report = backups
                        .restore(
                            &id,
                            &identities,
                            &trusted,
                            &*target,
                            "the database",
                            replace,
                        )
                        .await;
                    target.close().await;
                    (report?, "the database".to_string())
                }
                (None, None) => {
                    return Err(Error::invalid(
                        "backup restore",
                        "name where to restore: --into FILE or --into-database URL",
                    ))
                }
            };
            if json {
                print_json(&report);
            } else {
                print_check(&format!("restored into {target}:"), &report);
            }
        }
        Command::Backup(BackupCommand::Pull { from, to, keys }) => {
            let (identities, trusted) = keys.load(&paths)?;
            let source = backups(dir, &SinkArgs { to: Some(from) }, db).await?;
            let to = to.map(|t| t.display().to_string());
            let destination = backups(dir, &SinkArgs { to }, db).await?;
            let report = medicare_aws::pull::pull(
                source.sink().as_ref(),
                destination.sink().clone(),
                &identities,
                &trusted,
            )
            .await?;
            if json {
                print_json(&report);
            } else {
                print_pull(&report);
            }
            if !report.refused.is_empty() {
                return Ok(crate::exit::status(medicare_core::ErrorKind::InvalidInput));
            }
        }
        Command::Backup(BackupCommand::Prune { sink, dry_run }) => {
            let trusted = TrustedSigners::from_file(&paths.signers())?;
            let plan = backups(dir, &sink, db)
                .await?
                .prune(&trusted, dry_run)
                .await?;
            if json {
                print_json(&plan);
            } else {
                print_plan(&plan, dry_run);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
