//! "Send reminder" on the dashboard: the rules a reminder is held to (the gap between
//! rounds, the number of rounds, the rounds done), why it cannot go when it cannot, and
//! the POST that sends it.
//!
//! The rules are the engine's ([`crate::campaign::Engine::reminder_outlook`]) and the
//! send is [`crate::campaign::Engine::remind`], the call behind `medicare campaign
//! remind` and `POST /api/campaigns/{id}/remind`, run in the background as the first
//! send is. The form carries the round it offers (`round`) as its idempotency key: a
//! double click or a resubmitted POST for a round already planned, or one being sent by
//! this server, starts nothing and goes back to the dashboard.

use super::dashboard::board_view;
use super::sending::Sending;
use super::{refuse, FormPairs, Id, SignedIn};
use crate::audit::{Actor, AuditContext};
use crate::campaign::{CampaignId, ReminderBlock, ReminderOutlook};
use crate::server::views::ErrorItem;
use crate::server::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Serialize;

/// The dashboard's "Send reminder" section.
#[derive(Debug, Serialize)]
pub(super) struct ReminderView {
    /// The engine's outlook (rules and rounds done).
    outlook: ReminderOutlook,
    /// The button is shown (the role may send reminders, and one can go now).
    can_send: bool,
    /// The role may send reminders.
    permitted: bool,
    /// Why a reminder cannot go now, in words.
    why_not: Option<String>,
}

/// How a [`ReminderBlock`] is explained on the page.
fn explain(block: &ReminderBlock) -> String {
    match block {
        ReminderBlock::NotSent { state } => format!(
            "Reminders can go once the campaign has been sent: it is {state}."
        ),
        ReminderBlock::SecondWaveFirst { round, unfinished } => format!(
            "The second wave must be sent first: {unfinished} messages of round {round} are still to go."
        ),
        ReminderBlock::LinksExpired => {
            "The campaign's links have expired, so a reminder would not help.".to_string()
        }
        ReminderBlock::NoRoundsLeft { max_reminders } => format!(
            "No reminder rounds are left: this campaign has had all {max_reminders}."
        ),
        ReminderBlock::TooSoon {
            available_from,
            min_gap_hours,
        } => format!(
            "Too soon: the next reminder can go from {} (at least {min_gap_hours} hours after the last round).",
            available_from.format("%-d %B %Y at %H:%M UTC")
        ),
    }
}

/// The section for `outlook`, for an operator who `permitted` to send reminders, while
/// this server is (`busy`) or is not sending the campaign.
pub(super) fn reminder_view(
    outlook: &ReminderOutlook,
    permitted: bool,
    busy: bool,
) -> ReminderView {
    let why_not = match &outlook.blocked {
        Some(block) => Some(explain(block)),
        None if busy => Some("A round is being sent now: its progress is shown above.".to_string()),
        None => None,
    };
    ReminderView {
        outlook: outlook.clone(),
        can_send: permitted && why_not.is_none(),
        permitted,
        why_not,
    }
}

/// POST `/console/campaigns/{id}/reminders`: sends the reminder round the form offered
/// (`round`), once.
pub(super) async fn remind(
    State(state): State<AppState>,
    Extension(sending): Extension<Sending>,
    who: SignedIn,
    Id(id): Id,
    form: FormPairs,
) -> Response {
    let id = CampaignId(id);
    let Some(round) = form.get("round").and_then(|r| r.parse::<i32>().ok()) else {
        return refuse(&who, StatusCode::BAD_REQUEST);
    };
    let engine = state.engine().clone();
    let policy = state.options().reminder_policy;
    let outlook = match engine.reminder_outlook(id, &policy).await {
        Ok(o) => o,
        Err(e) => return super::failure(&who, &e),
    };
    let board = |r: i32| {
        Redirect::to(&format!("/console/campaigns/{id}?reminded={r}#reminders")).into_response()
    };
    if round < 1 || round > outlook.next_round {
        // Not a round this campaign offered: a tampered form.
        return refuse(&who, StatusCode::BAD_REQUEST);
    }
    if round < outlook.next_round {
        // Planned already: this POST is a repeat.
        return board(round);
    }
    if let Some(block) = &outlook.blocked {
        let errors = vec![ErrorItem::new("reminder-unavailable", explain(block))];
        return board_view(
            &state,
            &sending,
            &who,
            id,
            None,
            errors,
            StatusCode::CONFLICT,
        )
        .await;
    }
    if !sending.start(id) {
        // Being sent by this server: a double click.
        return board(round);
    }
    let options = state.options().send_options.clone();
    let operator = who.principal().operator();
    tracing::info!(campaign = id.0, round, operator = %operator, "console: reminder confirmed");
    let acting = AuditContext::new(Actor::Operator(operator));
    tokio::spawn(async move {
        let sent = crate::audit::scope(acting, engine.remind(id, &policy, &options, &())).await;
        match sent {
            Ok(r) => tracing::info!(
                campaign = id.0,
                round = r.round,
                non_respondents = r.non_respondents,
                "console: reminder sent"
            ),
            Err(e) => {
                tracing::warn!(campaign = id.0, error = %e, "console: reminder stopped; sending again resumes it")
            }
        }
        sending.finish(id);
    });
    board(round)
}
