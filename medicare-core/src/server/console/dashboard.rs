//! The campaign dashboard: every campaign with its state, and for one campaign its send
//! progress per channel and its funnel, live through `/console/campaigns/{id}/status`
//! (the same figures as JSON, polled by the console's script); the response rate by
//! day (a server-drawn chart with its data table); the non-respondents by reason,
//! condition, age band and postcode district; "Send reminder" with its rules
//! ([`super::reminding`]); and, for the roles that may read reports, the campaign's part
//! of the weekly report and its CSV. Counts only: no patient appears here.

use super::reminding::{reminder_view, ReminderView};
use super::sending::{channel_label, Sending};
use super::{failure, may, render, Id, SignedIn};
use crate::access::Permission;
use crate::campaign::CampaignId;
use crate::console::board::board;
use crate::console::breakdown::campaign_breakdown;
use crate::console::chart::campaign_chart;
use crate::notify::Channel;
use crate::report::{campaign_weekly_report, render_csv, WeeklyReport};
use crate::server::views::ErrorItem;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use minijinja::context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// GET `/console/campaigns`: every campaign, newest first.
pub(super) async fn campaigns_page(State(state): State<AppState>, who: SignedIn) -> Response {
    let engine = state.engine();
    let mut campaigns = match engine.store().campaigns().await {
        Ok(c) => c,
        Err(e) => return failure(&who, &e),
    };
    campaigns.sort_by_key(|c| std::cmp::Reverse(c.id));
    let rows: Vec<_> = campaigns
        .iter()
        .map(|c| {
            context! {
                id => c.id.0,
                name => &c.name,
                state => c.state.as_str(),
                created => c.created_at.format("%-d %B %Y %H:%M").to_string(),
            }
        })
        .collect();
    render(
        &who,
        StatusCode::OK,
        "console/campaigns.html",
        "Campaigns",
        Vec::new(),
        context! {
            campaigns => rows,
            can_create => may(&who, &state, Permission::CreateCampaigns),
        },
    )
}

/// The query of the dashboard: `reminded` names the reminder round just started (the
/// confirmation banner after "Send reminder").
#[derive(Debug, Default, Deserialize)]
pub(super) struct BoardQuery {
    reminded: Option<String>,
}

/// GET `/console/campaigns/{id}`: one campaign's dashboard.
pub(super) async fn board_page(
    State(state): State<AppState>,
    Extension(sending): Extension<Sending>,
    who: SignedIn,
    Id(id): Id,
    Query(query): Query<BoardQuery>,
) -> Response {
    let reminded = query.reminded.and_then(|r| r.parse::<i32>().ok());
    board_view(
        &state,
        &sending,
        &who,
        CampaignId(id),
        reminded,
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

/// What the dashboard shows of the weekly report (counts, never answers).
#[derive(Debug, Serialize)]
struct ReportView {
    week: String,
    week_start: String,
    week_end: String,
    included: bool,
    response_percent: String,
    non_respondents: usize,
    responses_this_week: usize,
    rounds: Vec<RoundRow>,
}

#[derive(Debug, Serialize)]
struct RoundRow {
    round: i32,
    recipients: u64,
    unfinished: u64,
    last_activity: String,
}

impl ReportView {
    fn of(report: &WeeklyReport) -> Self {
        let day = |d: chrono::NaiveDate| d.format("%-d %B %Y").to_string();
        let c = report.campaigns.first();
        ReportView {
            week: report.week.clone(),
            week_start: day(report.week_start),
            week_end: day(report.week_end),
            included: c.is_some(),
            response_percent: c
                .map_or_else(String::new, |c| format!("{:.1}", c.response_rate * 100.0)),
            non_respondents: c.map_or(0, |c| c.non_respondents.len()),
            responses_this_week: c.map_or(0, |c| c.responses.len()),
            rounds: c.map_or_else(Vec::new, |c| {
                c.rounds
                    .iter()
                    .map(|r| RoundRow {
                        round: r.round,
                        recipients: r.recipients,
                        unfinished: r.unfinished,
                        last_activity: r.last_activity.map_or_else(
                            || "–".to_string(),
                            |t| t.format("%-d %B %Y %H:%M UTC").to_string(),
                        ),
                    })
                    .collect()
            }),
        }
    }
}

/// The dashboard of campaign `id`, with the banner of reminder round `reminded` (when it
/// is one the campaign has reached) and `errors` in its error summary.
pub(super) async fn board_view(
    state: &AppState,
    sending: &Sending,
    who: &SignedIn,
    id: CampaignId,
    reminded: Option<i32>,
    errors: Vec<ErrorItem>,
    status: StatusCode,
) -> Response {
    let engine = state.engine();
    let board = match board(engine, id).await {
        Ok(b) => b,
        Err(e) => return failure(who, &e),
    };
    let figures = tokio::try_join!(
        campaign_chart(engine, id, board.funnel.recipients),
        campaign_breakdown(engine, id),
        engine.reminder_outlook(id, &state.options().reminder_policy),
    );
    let (chart, breakdown, outlook) = match figures {
        Ok(f) => f,
        Err(e) => return failure(who, &e),
    };
    let report = if may(who, state, Permission::ReadReports) {
        match campaign_weekly_report(engine, id).await {
            Ok(r) => Some(ReportView::of(&r)),
            Err(e) => return failure(who, &e),
        }
    } else {
        None
    };
    let reminder: ReminderView = reminder_view(
        &outlook,
        may(who, state, Permission::SendReminders),
        sending.busy(id),
    );
    let banner = reminded.filter(|r| *r >= 1 && *r <= outlook.next_round);
    let channel_labels: BTreeMap<&str, &str> = Channel::ALL
        .into_iter()
        .map(|c| (c.as_str(), channel_label(c)))
        .collect();
    let title = board.name.clone();
    render(
        who,
        status,
        "console/board.html",
        &title,
        errors,
        context! {
            board,
            channel_labels,
            chart,
            breakdown,
            reminder,
            report,
            banner,
            csrf => who.csrf_token().unwrap_or_default(),
        },
    )
}

/// GET `/console/campaigns/{id}/status`: the dashboard's figures as JSON.
pub(super) async fn board_status(
    State(state): State<AppState>,
    who: SignedIn,
    Id(id): Id,
) -> Response {
    match board(state.engine(), CampaignId(id)).await {
        Ok(b) => Json(b).into_response(),
        Err(e) => failure(&who, &e),
    }
}

/// GET `/console/campaigns/{id}/report.csv`: the campaign's non-respondents of this
/// week's report as CSV (formula-safe, as `medicare report weekly` writes it).
pub(super) async fn report_csv(
    State(state): State<AppState>,
    who: SignedIn,
    Id(id): Id,
) -> Response {
    let report = match campaign_weekly_report(state.engine(), CampaignId(id)).await {
        Ok(r) => r,
        Err(e) => return failure(&who, &e),
    };
    tracing::info!(campaign = id, operator = %who.principal().operator(), "console: report CSV downloaded");
    let disposition = format!("attachment; filename=\"campaign-{id}-{}.csv\"", report.week);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or(HeaderValue::from_static("attachment")),
            ),
        ],
        render_csv(&report),
    )
        .into_response()
}
