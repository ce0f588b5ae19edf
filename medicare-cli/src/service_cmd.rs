//! The follow-up commands: `serve` (the form service), `campaign remind` and
//! `report weekly`. Parsing and printing only; the work is medicare-core's.

use crate::output::{say, Printer};
use crate::progress;
use clap::{Args, Subcommand};
use medicare_core::access::SessionCookie;
use medicare_core::backup::keys::{KeyPaths, TrustedSigners};
use medicare_core::backup::Backups;
use medicare_core::campaign::{CampaignId, RemindReport};
use medicare_core::report::{weekly_report, write_weekly_report, ReportFiles, WeeklyReport};
use medicare_core::server::{router, serve, ServerOptions};
use medicare_core::{Error, Workspace};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `medicare serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default: the `bind` setting, 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<String>,
    /// Serve Prometheus metrics at `/metrics` on this address (its own listener, e.g.
    /// 127.0.0.1:9090, never the public one); without it there is no metrics endpoint.
    #[arg(long, env = "MEDICARE_METRICS_BIND")]
    metrics_bind: Option<String>,
}

/// `medicare report ...`.
#[derive(Subcommand)]
pub enum ReportCommand {
    /// Write this week's non-respondent report (HTML with a chart, CSV, JSON).
    Weekly {
        /// The folder to write to (default: `reports/` in the workspace).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Runs the form service until Ctrl-C.
pub async fn run_serve(ws: &Workspace, args: ServeArgs) -> Result<ExitCode, Error> {
    let config = ws.config();
    if std::env::var_os("MEDICARE_API_TOKEN").is_some() {
        return Err(Error::Config(
            "MEDICARE_API_TOKEN is no longer read: the JSON API takes per-operator tokens \
             (`medicare operator token create NAME ...`); unset it"
                .into(),
        ));
    }
    let bind = args.bind.unwrap_or_else(|| config.bind.clone());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {bind}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot listen on {bind}: {e}")))?;
    let https = config.base_url.starts_with("https://");
    let session_cookie = SessionCookie::for_bind(addr, https).unwrap_or_else(|e| {
        eprintln!(
            "warning: {e}; the session cookie stays Secure, so browsers send it over https:// only"
        );
        SessionCookie::secure()
    });
    let options = ServerOptions {
        link_requests_per_minute: config.link_requests_per_minute,
        access: Some(Arc::new(ws.access()?)),
        session_cookie,
        send_options: config.send_options(),
        reminder_policy: config.reminder_policy(),
        public_base_url: config.base_url.clone(),
        ..ServerOptions::default()
    };
    eprintln!(
        "medicare form service on http://{addr} (links: {}/f/...; operators: {}/console/sign-in; JSON API with operators' tokens); Ctrl-C stops",
        config.base_url, config.base_url
    );
    if let Some(metrics_bind) = args.metrics_bind {
        let metrics_addr = serve_metrics(&metrics_bind, addr).await?;
        eprintln!("metrics on http://{metrics_addr}/metrics");
        watch_backups(ws);
    }
    serve(listener, router(ws.engine().clone(), options), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .map_err(|e| Error::Config(format!("serving on {bind}: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the Prometheus endpoint on its own listener (refusing the form service's own
/// address: metrics are never public).
async fn serve_metrics(
    bind: &str,
    public: std::net::SocketAddr,
) -> Result<std::net::SocketAddr, Error> {
    let cannot = |e: std::io::Error| Error::Config(format!("cannot serve metrics on {bind}: {e}"));
    let listener = tokio::net::TcpListener::bind(bind).await.map_err(cannot)?;
    let addr = listener.local_addr().map_err(cannot)?;
    if addr.port() == public.port() {
        return Err(Error::Config(format!(
            "the metrics address {bind} is the form service's: metrics need their own, private address"
        )));
    }
    let handle = medicare_core::metrics::prometheus::install()?;
    tokio::spawn(serve(
        listener,
        medicare_core::metrics::prometheus::router(handle),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    ));
    Ok(addr)
}

/// Keeps the backup age and size gauges current: every five minutes, from the
/// workspace's backup folder (when it has trusted signers, i.e. backups are taken here).
fn watch_backups(ws: &Workspace) {
    let signers = KeyPaths::in_workspace(ws.dir()).signers();
    let Ok(trusted) = TrustedSigners::from_file(&signers) else {
        return;
    };
    let backups = Backups::new(ws.backup_sink().clone(), ws.engine().clock().clone());
    let clock = ws.engine().clock().clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(300));
        loop {
            every.tick().await;
            if let Err(e) =
                medicare_core::metrics::observe_backups(&backups, &trusted, clock.now()).await
            {
                tracing::warn!(error = %e, "the backup folder could not be read for metrics");
            }
        }
    });
}

/// Sends the next reminder round of campaign `id`.
pub async fn run_remind(ws: &Workspace, out: &Printer, id: i64) -> Result<ExitCode, Error> {
    let bars = progress::Bars::new(!out.json);
    let report = ws
        .engine()
        .remind(
            CampaignId(id),
            &ws.config().reminder_policy(),
            &ws.config().send_options(),
            &bars,
        )
        .await?;
    bars.finish();
    print_remind(out, &report);
    Ok(if report.send.failed.values().any(|&n| n > 0) {
        ExitCode::from(7)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_remind(out: &Printer, r: &RemindReport) {
    if out.json {
        return out.json_value(r);
    }
    say!(
        "campaign {} reminder round {}{}: {} non-respondents",
        r.send.campaign,
        r.round,
        if r.resumed { " (resumed)" } else { "" },
        r.non_respondents
    );
    out.send_report(&r.send);
}

/// Writes this week's report.
pub async fn run_report(
    ws: &Workspace,
    out: &Printer,
    command: ReportCommand,
) -> Result<ExitCode, Error> {
    let ReportCommand::Weekly { out: dir } = command;
    let report = weekly_report(ws.engine()).await?;
    let files = write_weekly_report(&report, &dir.unwrap_or_else(|| ws.reports_dir()))?;
    print_report(out, &report, &files);
    Ok(ExitCode::SUCCESS)
}

fn print_report(out: &Printer, report: &WeeklyReport, files: &ReportFiles) {
    if out.json {
        return out.json_value(&serde_json::json!({
            "week": report.week,
            "campaigns": report.campaigns.len(),
            "files": files,
        }));
    }
    say!(
        "weekly report {} ({} active campaigns)",
        report.week,
        report.campaigns.len()
    );
    for c in &report.campaigns {
        say!(
            "  campaign {} {:?}: {} of {} responded ({:.1}%), {} outstanding",
            c.id,
            c.name,
            c.counts.responded,
            c.counts.recipients,
            c.response_rate * 100.0,
            c.non_respondents.len()
        );
    }
    say!(
        "  {}\n  {}\n  {}",
        files.html.display(),
        files.csv.display(),
        files.json.display()
    );
}
