//! The weekly non-respondent report.
//!
//! [`weekly_report`] gathers, for every active campaign (sending or sent, links still
//! working at the start of the week), its tracking figures, its response rate day by day,
//! its reminder rounds, who has not answered, and the responses of the week. The week is
//! the ISO week of the engine's [`Clock`](crate::clock::Clock), so tests pin it with a
//! `FixedClock`. [`write_weekly_report`] writes it as HTML (with an SVG chart drawn here;
//! no script, every value escaped), CSV (one row per non-respondent) and JSON.
//!
//! The report is as sensitive as the database: it names patients by the provider's own
//! record number (never by name or contact) and carries the week's answers.

mod html;

use crate::campaign::{CampaignId, CampaignState, Engine, RoundSpend};
use crate::error::{Error, Result};
use crate::store::{NonRespondent, ResponseRow, RoundInfo, TrackingCounts};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub(crate) use html::csv_cell;
pub use html::{render_csv, render_html};

/// One day of a campaign's response curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// The day (UTC).
    pub date: NaiveDate,
    /// Recipients who had answered by the end of the day.
    pub responded: u64,
    /// `responded` over the campaign's recipients (0 to 1).
    pub rate: f64,
}

/// One campaign in the weekly report.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignReport {
    /// The campaign.
    pub id: CampaignId,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: CampaignState,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its links expire.
    pub link_expires_at: DateTime<Utc>,
    /// Tracking figures now.
    pub counts: TrackingCounts,
    /// Responded over recipients now (0 to 1).
    pub response_rate: f64,
    /// The response rate day by day, from creation to the report's day.
    pub series: Vec<SeriesPoint>,
    /// Its rounds (0: first send; then reminders).
    pub rounds: Vec<RoundInfo>,
    /// Who has not answered, by recipient id.
    pub non_respondents: Vec<NonRespondent>,
    /// The form's field labels, in order (the columns of `responses`).
    pub fields: Vec<String>,
    /// The responses submitted during the week.
    pub responses: Vec<ResponseRow>,
    /// Spent versus estimated, per round and channel.
    pub spend: Vec<RoundSpend>,
}

/// The weekly report.
#[derive(Debug, Clone, Serialize)]
pub struct WeeklyReport {
    /// The ISO week, `2026-W47`.
    pub week: String,
    /// Its Monday.
    pub week_start: NaiveDate,
    /// Its Sunday.
    pub week_end: NaiveDate,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// Every active campaign.
    pub campaigns: Vec<CampaignReport>,
}

/// Where [`write_weekly_report`] put the report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportFiles {
    /// The HTML page.
    pub html: PathBuf,
    /// The non-respondents as CSV.
    pub csv: PathBuf,
    /// Everything as JSON.
    pub json: PathBuf,
}

/// `n` over `recipients` (0 to 1; 0 without recipients).
fn rate(n: u64, recipients: u64) -> f64 {
    if recipients == 0 {
        0.0
    } else {
        n as f64 / recipients as f64
    }
}

/// A campaign's response curve from `first` to `last` (inclusive), one point per day:
/// the responses of `by_day` (per day, in day order) summed up to each day, over
/// `recipients`.
pub fn response_series(
    first: NaiveDate,
    last: NaiveDate,
    by_day: &[(NaiveDate, u64)],
    recipients: u64,
) -> Vec<SeriesPoint> {
    let mut series = Vec::new();
    let mut cumulative = 0;
    let mut day = first;
    let mut next = by_day.iter().peekable();
    while day <= last {
        while let Some((_, n)) = next.next_if(|(d, _)| *d <= day) {
            cumulative += n;
        }
        series.push(SeriesPoint {
            date: day,
            responded: cumulative,
            rate: rate(cumulative, recipients),
        });
        day += Duration::days(1);
    }
    series
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Builds the report for the week the engine's clock is in, and records that it did in
/// the audit ledger (`report_generate`, target `report:weekly`, with the numbers of
/// campaigns and responses it holds).
pub async fn weekly_report(engine: &Engine) -> Result<WeeklyReport> {
    build(engine, None).await
}

/// The weekly report of campaign `id` alone: the same figures as [`weekly_report`]
/// gives it, or no campaign when it is not active this week (a draft, or links that
/// expired before the week began). `NotFound` for an unknown campaign.
pub async fn campaign_weekly_report(engine: &Engine, id: CampaignId) -> Result<WeeklyReport> {
    engine.store().campaign(id).await?;
    build(engine, Some(id)).await
}

/// The report of the current week, of every active campaign or of `only` one.
async fn build(engine: &Engine, only: Option<CampaignId>) -> Result<WeeklyReport> {
    let now = engine.clock().now();
    let today = now.date_naive();
    let week_start = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let week_end = week_start + Duration::days(6);
    let (from, to) = (midnight(week_start), midnight(week_end + Duration::days(1)));
    let store = engine.store();
    let mut campaigns = Vec::new();
    for c in store.campaigns().await? {
        let active = only.is_none_or(|id| id == c.id)
            && matches!(c.state, CampaignState::Sending | CampaignState::Sent)
            && c.link_expires_at > from
            && c.created_at < to;
        if !active {
            continue;
        }
        // The campaign's figures are independent reads: run side by side, each on a
        // connection of its own.
        let form = store.form(c.form_id).await?;
        let (counts, by_day, responses, rounds, non_respondents, spend) = futures::try_join!(
            store.tracking_counts(c.id),
            store.responses_by_day(c.id),
            store.responses(c.id, &form, from, to),
            store.rounds(c.id),
            store.non_respondents(c.id),
            engine.spend(c.id)
        )?;
        let series = response_series(c.created_at.date_naive(), today, &by_day, counts.recipients);
        campaigns.push(CampaignReport {
            id: c.id,
            response_rate: rate(counts.responded, counts.recipients),
            counts,
            series,
            rounds,
            non_respondents,
            fields: form.spec.fields.iter().map(|f| f.label.clone()).collect(),
            responses,
            spend,
            name: c.name,
            state: c.state,
            created_at: c.created_at,
            link_expires_at: c.link_expires_at,
        });
    }
    let responses: usize = campaigns.iter().map(|c| c.responses.len()).sum();
    crate::audit::record(
        store.as_ref(),
        crate::audit::Action::ReportGenerate,
        crate::audit::Target::none().with_name(crate::audit::TargetKind::Report, "weekly")?,
        crate::audit::Detail::none()
            .count("campaigns", campaigns.len() as u64)
            .count("responses", responses as u64),
    )
    .await?;
    Ok(WeeklyReport {
        week: format!(
            "{}-W{:02}",
            week_start.iso_week().year(),
            week_start.iso_week().week()
        ),
        week_start,
        week_end,
        generated_at: now,
        campaigns,
    })
}

/// Writes `report` into `dir` as `weekly-<week>.html`, `.csv` and `.json` (files
/// readable by their owner only), replacing an earlier report of the same week.
pub fn write_weekly_report(report: &WeeklyReport, dir: &Path) -> Result<ReportFiles> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let base = dir.join(format!("weekly-{}", report.week));
    let files = ReportFiles {
        html: base.with_extension("html"),
        csv: base.with_extension("csv"),
        json: base.with_extension("json"),
    };
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::invalid("weekly report", e.to_string()))?;
    for (path, text) in [
        (&files.html, render_html(report)),
        (&files.csv, render_csv(report)),
        (&files.json, json),
    ] {
        write_replacing(path, text.as_bytes())?;
    }
    Ok(files)
}

/// Writes a private file through a temporary one and a rename, so a reader never sees
/// half a report.
fn write_replacing(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::link::write_private_file(&tmp, bytes)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests;
