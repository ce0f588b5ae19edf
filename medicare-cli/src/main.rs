//! `medicare`: the command line of the medicare SDK.
//!
//! Glue only: it parses arguments, calls `medicare_core`, and prints the result, for
//! people by default and as JSON with `--json`. Exit codes are stable for scripts:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | failure outside the caller's control (database, disk, notifier) |
//! | 2 | bad command line |
//! | 3 | invalid input (a file, a filter, a form spec, a setting) |
//! | 4 | not found |
//! | 5 | conflict (already exists, wrong campaign state) |
//! | 6 | configuration problem |
//! | 7 | a send finished with failed deliveries |
//! | 8 | a send stopped at the campaign's spend cap (the rest is pending) |
//! | 9 | `audit verify` found the ledger not intact |

mod audit_cmd;
mod backup_cmd;
mod cost_cmd;
mod exit;
mod fhir_cmd;
mod operator_cmd;
mod output;
mod progress;
mod service_cmd;
mod wiring;

use clap::{Args, Parser, Subcommand, ValueEnum};
use medicare_core::campaign::{CampaignId, CampaignRequest, SendOptions, Shard};
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::notify::Channel;
use medicare_core::workspace::Workspace;
use medicare_core::Error;
use secrecy::SecretString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// Run patient outreach campaigns: forms, audiences, one-time links by SMS and email.
#[derive(Parser)]
#[command(name = "medicare", version, about, long_about = None, after_help = EXIT_CODES)]
struct Cli {
    /// The workspace folder (database, forms, outbox, keys).
    #[arg(long, global = true, default_value = ".", env = "MEDICARE_DIR")]
    dir: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// The database URL (`sqlite:...`, `postgres://...`, `mysql://...`); overrides
    /// `database_url` in medicare.toml and MEDICARE_DATABASE_URL. Default: medicare.db in
    /// the workspace folder.
    #[arg(long, global = true, value_name = "URL", value_parser = secret_url, hide_env_values = true)]
    database: Option<SecretString>,
    #[command(subcommand)]
    command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok, 1 failure, 2 bad command line, 3 invalid input, 4 not found, 5 conflict, 6 configuration, 7 send finished with failures, 8 send stopped at the spend cap, 9 audit ledger not intact.";

#[derive(Subcommand)]
enum Command {
    /// Import, generate and count patients.
    #[command(subcommand)]
    Patients(PatientsCommand),
    /// Create and show forms.
    #[command(subcommand)]
    Form(FormCommand),
    /// Create, preview, send and follow campaigns.
    #[command(subcommand)]
    Campaign(CampaignCommand),
    /// Export a campaign's answers.
    #[command(subcommand)]
    Responses(ResponsesCommand),
    /// Run the whole vaccination campaign on a synthetic population, in a fresh folder.
    Demo(DemoArgs),
    /// Serve the patient forms (and, with an API token, the JSON API).
    Serve(service_cmd::ServeArgs),
    /// Write reports.
    #[command(subcommand)]
    Report(service_cmd::ReportCommand),
    #[command(flatten)]
    Backups(backup_cmd::Command),
    /// Operators: accounts, roles, second factors and API tokens.
    #[command(subcommand)]
    Operator(operator_cmd::OperatorCommand),
    /// The audit ledger: verify it, list it, sign a checkpoint.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
}

#[derive(Subcommand)]
enum PatientsCommand {
    /// Import patients from a CSV file, or FHIR R4 (a Bundle, a Patient, a Bulk Data
    /// folder or NDJSON file); all or none.
    Import {
        /// The CSV file (its header is documented in the README), or the FHIR file or folder.
        file: PathBuf,
        /// The input format.
        #[arg(long, value_enum, default_value_t = ImportFormat::Csv)]
        format: ImportFormat,
        /// FHIR: a TOML code map adding to the standard one (default: fhir-codes.toml in
        /// the workspace folder, if there is one).
        #[arg(long, value_name = "FILE")]
        code_map: Option<PathBuf>,
    },
    /// Generate a deterministic synthetic population and store it.
    Generate {
        /// How many patients.
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Random seed (the same seed gives the same patients).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write them as a FHIR Bulk Data export into this folder instead of storing them.
        #[arg(long, value_name = "DIR")]
        fhir_export: Option<PathBuf>,
    },
    /// Count the patients a filter selects (all patients without one).
    Count {
        /// A filter, e.g. 'condition = "copd" and age >= 65'.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand)]
enum FormCommand {
    /// Create a form from a TOML or JSON spec: validate, create its table, publish its page.
    Create {
        /// The spec file (.toml or .json).
        spec: PathBuf,
    },
    /// Show a form (by name or id).
    Show {
        /// Name or id.
        form: String,
    },
    /// List forms.
    List,
    /// Write a form as a FHIR R4 Questionnaire.
    Export {
        /// Name or id.
        form: String,
        /// The output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write (created with permissions 0600); default: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ResponsesCommand {
    /// Write every response to a campaign, as FHIR R4 QuestionnaireResponse NDJSON.
    Export {
        /// Campaign id.
        campaign: i64,
        /// The output format.
        #[arg(long, value_enum)]
        format: ExportFormat,
        /// The file to write (created with permissions 0600); default: standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Formats patients are imported from.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ImportFormat {
    /// The documented CSV header.
    Csv,
    /// HL7 FHIR R4 JSON or NDJSON.
    Fhir,
}

/// Formats forms and answers are exported as.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// HL7 FHIR R4 (Questionnaire; QuestionnaireResponse NDJSON).
    Fhir,
}

#[derive(Subcommand)]
enum CampaignCommand {
    /// Create a campaign: freeze the audience, issue links, plan deliveries. Sends nothing.
    Create(CreateArgs),
    /// Show what a send would do: counts, suppressions, a sample message, segments, cost.
    Preview {
        /// Campaign id.
        id: i64,
    },
    /// Send a campaign (or resume an interrupted send).
    Send {
        /// Campaign id.
        id: i64,
        /// Send without asking for confirmation (required when not on a terminal).
        #[arg(long, short)]
        yes: bool,
        /// Send only shard INDEX of COUNT of the recipients (e.g. `0/4`), so that
        /// several processes can split one campaign.
        #[arg(long, value_name = "INDEX/COUNT", value_parser = parse_shard)]
        shard: Option<Shard>,
        /// Other senders may be working the campaign: only deliveries claimed more than
        /// this many seconds ago are taken back as left by a sender that died. Longer
        /// than a batch can take, retries included.
        #[arg(long, value_name = "SECONDS")]
        lease_secs: Option<u64>,
    },
    /// Send (or resume) an email_first campaign's SMS second wave, once it is due, to
    /// those who have neither opened their link nor answered.
    SecondWave {
        /// Campaign id.
        id: i64,
    },
    /// Set or remove a campaign's spend cap (a send stopped by it resumes when sent again).
    Budget {
        /// Campaign id.
        id: i64,
        /// The cap, in pounds (e.g. 250 or 3100.50).
        #[arg(long, value_name = "AMOUNT")]
        set: Option<String>,
        /// Remove the cap.
        #[arg(long)]
        none: bool,
    },
    /// Send the next reminder round to the campaign's non-respondents only.
    Remind {
        /// Campaign id.
        id: i64,
    },
    /// Return deliveries that failed transiently (a provider or network fault that
    /// outlasted every retry) to the queue; permanent failures stay failed. Then
    /// `campaign send` again delivers them, whatever their round.
    RetryFailed {
        /// Campaign id.
        id: i64,
    },
    /// Show where a campaign stands.
    Status {
        /// Campaign id.
        id: i64,
    },
    /// List campaigns.
    List,
}

#[derive(Args)]
struct CreateArgs {
    /// The form (name or id).
    #[arg(long)]
    form: String,
    /// The audience filter.
    #[arg(long)]
    filter: String,
    /// A name for people.
    #[arg(long, default_value = "campaign")]
    name: String,
    /// Channels, comma-separated.
    #[arg(long, default_value = "sms,email", value_delimiter = ',')]
    channels: Vec<String>,
    /// Days the links work.
    #[arg(long, default_value_t = 30)]
    link_days: i64,
    /// Which channels go when: both, email_first, sms_only or email_only (default: what
    /// --channels implies).
    #[arg(long)]
    strategy: Option<String>,
    /// email_first: hours after the first send before the SMS second wave may go
    /// (default 72).
    #[arg(long, value_name = "HOURS")]
    second_wave_hours: Option<u32>,
    /// A spend cap in pounds (e.g. 2500): no send or reminder spends beyond it.
    #[arg(long, value_name = "AMOUNT")]
    budget: Option<String>,
}

#[derive(Args)]
struct DemoArgs {
    /// The folder to run in (created; reset if an earlier demo made it).
    #[arg(long, default_value = "medicare-demo")]
    into: PathBuf,
    /// Patients to generate.
    #[arg(long, default_value_t = 112_500)]
    count: usize,
    /// Random seed.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
}

/// Parses `--shard INDEX/COUNT`.
fn parse_shard(text: &str) -> Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}

/// Keeps a database URL secret from the moment it is parsed (it may hold a password).
fn secret_url(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_string()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MEDICARE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // Everything this process does is recorded in the ledger as `local:<os user>`.
    let me = medicare_core::audit::AuditContext::new(medicare_core::audit::Actor::local_os_user());
    match runtime.block_on(medicare_core::audit::scope(me, run(cli))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::status(e.kind())
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let out = output::Printer { json: cli.json };
    let command = match cli.command {
        Command::Demo(args) => {
            let bars = progress::Bars::new(!cli.json);
            let options = medicare_core::demo::DemoOptions {
                count: args.count,
                seed: args.seed,
            };
            let config = wiring::demo_config(cli.database.as_ref())?;
            let backends = wiring::backends(&config).await?;
            let summary =
                medicare_core::demo::run_demo_with(&args.into, config, backends, options, &bars)
                    .await?;
            bars.finish();
            out.demo(&summary);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Backups(command) => {
            return backup_cmd::run(command, &cli.dir, cli.database.as_ref(), cli.json).await
        }
        other => other,
    };
    let ws = wiring::open_workspace(&cli.dir, cli.database.as_ref()).await?;
    let global = Global {
        dir: &cli.dir,
        database: cli.database.as_ref(),
        json: cli.json,
    };
    let result = run_in(&ws, command, global).await;
    ws.close().await;
    result
}

/// The options every command takes.
#[derive(Clone, Copy)]
struct Global<'a> {
    dir: &'a Path,
    database: Option<&'a SecretString>,
    json: bool,
}

/// Runs `command` in the open workspace `ws`.
async fn run_in(ws: &Workspace, command: Command, cli: Global<'_>) -> Result<ExitCode, Error> {
    let out = output::Printer { json: cli.json };
    let engine = ws.engine();
    match command {
        Command::Serve(args) => return service_cmd::run_serve(ws, args).await,
        Command::Operator(command) => {
            operator_cmd::run(ws, command, cli.json).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Audit(command) => {
            let actor = medicare_core::audit::current().actor;
            let db = ws.database().as_ref();
            return audit_cmd::run(db, cli.dir, cli.database, actor, command, cli.json).await;
        }
        Command::Report(report) => return service_cmd::run_report(ws, &out, report).await,
        Command::Campaign(CampaignCommand::Remind { id }) => {
            return service_cmd::run_remind(ws, &out, id).await
        }
        Command::Patients(PatientsCommand::Import {
            file,
            format: ImportFormat::Fhir,
            code_map,
        }) => fhir_cmd::import(ws, &out, &file, code_map.as_deref()).await?,
        Command::Patients(PatientsCommand::Import { file, .. }) => {
            let reader = std::fs::File::open(&file).map_err(|e| Error::io(&file, e))?;
            let patients = medicare_core::patient::parse_csv(
                reader,
                &file.display().to_string(),
                engine.clock().today(),
            )?;
            out.count("imported", engine.import_csv(&patients).await?);
        }
        Command::Patients(PatientsCommand::Generate {
            count,
            seed,
            fhir_export: Some(dir),
        }) => fhir_cmd::write_synthetic_export(&out, count, seed, &dir)?,
        Command::Patients(PatientsCommand::Generate { count, seed, .. }) => {
            let patients =
                medicare_core::patient::generate(medicare_core::patient::GenerateOptions {
                    count,
                    seed,
                });
            out.count("generated", engine.import_patients(&patients).await?);
        }
        Command::Patients(PatientsCommand::Count { filter }) => {
            let filter = parse_filter(filter.as_deref())?;
            out.count("patients", engine.count_patients(&filter).await?);
        }
        Command::Form(FormCommand::Create { spec }) => {
            let form = engine.create_form(&FormSpec::from_path(&spec)?).await?;
            out.form(&form);
        }
        Command::Form(FormCommand::Show { form }) => out.form(&find_form(engine, &form).await?),
        Command::Form(FormCommand::List) => out.forms(&engine.store().forms().await?),
        Command::Form(FormCommand::Export {
            form,
            format: ExportFormat::Fhir,
            out: path,
        }) => fhir_cmd::export_form(ws, &find_form(engine, &form).await?, path.as_ref())?,
        Command::Responses(ResponsesCommand::Export {
            campaign,
            format: ExportFormat::Fhir,
            out: path,
        }) => fhir_cmd::export_responses(ws, &out, campaign, path.as_ref()).await?,
        Command::Campaign(CampaignCommand::Create(args)) => {
            let form = find_form(engine, &args.form).await?;
            let mut request = CampaignRequest::new(
                args.name,
                form.id,
                Arc::new(parse_filter(Some(&args.filter))?),
            );
            request.channels = args
                .channels
                .iter()
                .map(|c| Channel::parse(c).map_err(|m| Error::invalid("--channels", m)))
                .collect::<Result<_, _>>()?;
            request.set_link_days(args.link_days)?;
            request.strategy = args
                .strategy
                .as_deref()
                .map(medicare_core::campaign::Strategy::parse)
                .transpose()
                .map_err(|m| Error::invalid("--strategy", m))?;
            request.second_wave_hours = args.second_wave_hours;
            request.budget = args
                .budget
                .as_deref()
                .map(|b| cost_cmd::parse_budget(b, "--budget"))
                .transpose()?;
            request.messages.org = ws.config().org.clone();
            request.messages.gsm_safe = ws.config().gsm_safe;
            let id = engine.create_campaign(&request).await?;
            out.preview(&engine.preview(id).await?);
        }
        Command::Campaign(CampaignCommand::SecondWave { id }) => {
            return cost_cmd::run_second_wave(engine, &out, id, &ws.config().send_options()).await
        }
        Command::Campaign(CampaignCommand::Budget { id, set, none }) => {
            cost_cmd::run_budget(engine, &out, id, set.as_deref(), none).await?
        }
        Command::Campaign(CampaignCommand::RetryFailed { id }) => {
            out.count("requeued", engine.retry_failed(CampaignId(id)).await?);
        }
        Command::Campaign(CampaignCommand::Preview { id }) => {
            out.preview(&engine.preview(CampaignId(id)).await?)
        }
        Command::Campaign(CampaignCommand::Send {
            id,
            yes,
            shard,
            lease_secs,
        }) => {
            let id = CampaignId(id);
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Error::invalid(
                        "campaign send",
                        "not on a terminal: confirm with --yes",
                    ));
                }
                out.preview(&engine.preview(id).await?);
                if !output::confirm("Confirm and send?") {
                    eprintln!("nothing sent");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            let bars = progress::Bars::new(!cli.json);
            let options = SendOptions {
                shard,
                in_flight_lease: lease_secs.map(std::time::Duration::from_secs),
                ..ws.config().send_options()
            };
            let report = engine.send(id, &options, &bars).await?;
            bars.finish();
            out.send_report(&report);
            return Ok(exit::of_send(&report));
        }
        Command::Campaign(CampaignCommand::Status { id }) => {
            out.status(&engine.status(CampaignId(id)).await?)
        }
        Command::Campaign(CampaignCommand::List) => {
            out.campaigns(&engine.store().campaigns().await?)
        }
        Command::Demo(_) | Command::Backups(_) => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_filter(source: Option<&str>) -> Result<Filter, Error> {
    match source {
        None => Ok(Filter::all()),
        Some(s) => Filter::parse(s).map_err(|e| Error::invalid("filter", e.render(s))),
    }
}

async fn find_form(
    engine: &medicare_core::campaign::Engine,
    key: &str,
) -> Result<medicare_core::store::StoredForm, Error> {
    match key.parse::<i64>() {
        Ok(id) => {
            engine
                .store()
                .form(medicare_core::campaign::FormId(id))
                .await
        }
        Err(_) => engine.store().form_by_name(key).await,
    }
}
