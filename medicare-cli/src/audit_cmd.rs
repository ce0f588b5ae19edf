//! `medicare audit verify|log|checkpoint`: the audit ledger from the command line.
//!
//! Glue only: each command is one call into `medicare_core::audit`. Checkpoints are
//! signed with `keys/audit-signing.key` (created on first use, its public key added to
//! `keys/audit-signers.pub`) and written beside the backups; `verify` trusts the keys in
//! `keys/audit-signers.pub`.

use crate::backup_cmd::{self, SinkArgs};
use crate::output::{print_json, say};
use clap::{Args, Subcommand};
use medicare_core::audit::{
    self, Action, Actor, AuditQuery, Checkpoint, LedgerEntry, Target, Verification,
};
use medicare_core::backup::keys::{KeyPaths, ManifestSigner, TrustedSigners};
use medicare_core::store::Database;
use medicare_core::Error;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `medicare audit ...`
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the whole chain and check it against every signed checkpoint; exit 0
    /// only when intact, 8 when something is wrong (naming the first bad seq).
    Verify {
        #[command(flatten)]
        sink: SinkArgs,
        /// The trusted checkpoint signers (default: `<workspace>/keys/audit-signers.pub`).
        #[arg(long)]
        signers: Option<PathBuf>,
    },
    /// List events, oldest first.
    Log(LogArgs),
    /// Sign the ledger's head and write it beside the backups (every `backup run` does
    /// this too).
    Checkpoint {
        #[command(flatten)]
        sink: SinkArgs,
    },
}

/// Which events `audit log` lists, and how.
#[derive(Args)]
pub struct LogArgs {
    /// Only events at or after this time (RFC 3339, e.g. 2026-11-30T00:00:00Z).
    #[arg(long)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events by this actor (operator:ID, local:USER, patient-link:ID,
    /// system:JOB).
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (e.g. campaign_create, send, form_submit).
    #[arg(long)]
    action: Option<String>,
    /// Only events naming these ids (kind:id pairs joined by ',', e.g. campaign:3).
    #[arg(long)]
    target: Option<String>,
    /// Print CSV (formula-safe, with the hashes, enough to recompute the chain).
    #[arg(long, conflicts_with = "json")]
    csv: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs an audit command on the workspace in `dir`, as `actor`.
pub async fn run(
    db: &dyn Database,
    dir: &Path,
    database: Option<&SecretString>,
    actor: Actor,
    command: AuditCommand,
    json: bool,
) -> Result<ExitCode, Error> {
    let paths = KeyPaths::in_workspace(dir);
    match command {
        AuditCommand::Verify { sink, signers } => {
            let signers = signers.unwrap_or_else(|| paths.audit_signers());
            let trusted = if signers.exists() {
                TrustedSigners::from_file(&signers)?
            } else {
                TrustedSigners::default()
            };
            let sink = backup_cmd::sink(dir, &sink, database).await?;
            let verification = audit::verify_ledger(db, sink.as_ref(), &trusted).await?;
            print_verification(&verification, json);
            if !verification.is_intact() {
                return Ok(ExitCode::from(crate::exit::LEDGER_NOT_INTACT));
            }
        }
        AuditCommand::Log(args) => {
            let query = AuditQuery {
                since: args.since,
                actor: args.actor.as_deref().map(str::parse).transpose()?,
                action: args
                    .action
                    .as_deref()
                    .map(str::parse::<Action>)
                    .transpose()?,
                target: args
                    .target
                    .as_deref()
                    .map(str::parse::<Target>)
                    .transpose()?,
            };
            let entries = audit::list(db, &query).await?;
            audit::record_read(db, actor, entries.len(), chrono::Utc::now()).await?;
            if args.csv {
                say!("{}", audit::to_csv(&entries).trim_end());
            } else if json || args.json {
                print_json(&entries);
            } else {
                entries.iter().for_each(print_entry);
            }
        }
        AuditCommand::Checkpoint { sink } => {
            let signer =
                ManifestSigner::load_or_create(&paths.audit_signing_key(), &paths.audit_signers())?;
            let sink = backup_cmd::sink(dir, &sink, database).await?;
            let checkpoint =
                audit::write_checkpoint(db, sink.as_ref(), &signer, actor, chrono::Utc::now())
                    .await?;
            print_checkpoint(&checkpoint, json);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Signs the head after a backup and writes it beside the backups.
pub async fn checkpoint_after_backup(
    db: &dyn Database,
    dir: &Path,
    sink: &dyn medicare_core::backup::sink::BackupSink,
    actor: Actor,
) -> Result<Checkpoint, Error> {
    let paths = KeyPaths::in_workspace(dir);
    let signer =
        ManifestSigner::load_or_create(&paths.audit_signing_key(), &paths.audit_signers())?;
    audit::write_checkpoint(db, sink, &signer, actor, chrono::Utc::now()).await
}

fn print_verification(v: &Verification, json: bool) {
    if json {
        print_json(v);
        return;
    }
    match &v.problem {
        None => say!(
            "intact: {} entries, head seq {} ({}), {} checkpoints",
            v.entries,
            v.head_seq,
            &v.head_hash[..16],
            v.checkpoints
        ),
        Some(p) => say!("NOT INTACT: {p}"),
    }
}

fn print_entry(e: &LedgerEntry) {
    say!(
        "{:>6}  {}  {:<22} {:<20} {:<7} {} {}",
        e.seq,
        audit::chain::encode_time(e.at),
        e.actor,
        e.action,
        e.outcome,
        e.target,
        e.detail
    );
}

fn print_checkpoint(c: &Checkpoint, json: bool) {
    if json {
        print_json(c);
    } else {
        say!("checkpoint: seq {} hash {} at {}", c.seq, c.hash, c.at);
        say!("  written to {}", c.key());
    }
}
