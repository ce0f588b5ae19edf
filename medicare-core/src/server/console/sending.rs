//! Screen 3 and the send: "You are sending this form:" (the patient page in a
//! sandboxed frame), "To these patients:" (counts per channel, suppressions with their
//! reasons, the cost, the expiry, the SMS as patients see it), "Subset of patients",
//! and "Confirm and send".
//!
//! The preview is the engine's [`crate::campaign::Engine::preview`]; the send is its
//! [`crate::campaign::Engine::send`], run in the background and resumable as the CLI's
//! `campaign send` is. A double click or a resubmitted POST sends once: only a draft
//! campaign that is not already being sent by this server is started, and any other
//! POST just goes to the dashboard.

use super::{failure, may, render, Id, SignedIn};
use crate::access::{Decision, Permission};
use crate::campaign::{CampaignId, CampaignState};
use crate::console::subset::{campaign_subset, SubsetRow};
use crate::form::{render_form_page, FormPage};
use crate::notify::{Channel, SmsEncoding};
use crate::server::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use minijinja::context;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The campaigns this server is sending now, first round or reminder (so a second POST
/// does not start a second send beside the first).
#[derive(Debug, Clone, Default)]
pub(super) struct Sending(Arc<Mutex<HashSet<CampaignId>>>);

impl Sending {
    /// Marks `id` as sending; false when it already was.
    pub(super) fn start(&self, id: CampaignId) -> bool {
        self.0.lock().map(|mut s| s.insert(id)).unwrap_or(false)
    }

    /// True while this server sends `id` (its first round or a reminder).
    pub(super) fn busy(&self, id: CampaignId) -> bool {
        self.0.lock().map(|s| s.contains(&id)).unwrap_or(true)
    }

    /// Marks `id` as no longer sending.
    pub(super) fn finish(&self, id: CampaignId) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(&id);
        }
    }
}

/// How a channel is named on the pages.
pub(super) fn channel_label(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "Text message",
        Channel::Email => "Email",
    }
}

/// GET `/console/campaigns/{id}/preview`: screen 3.
pub(super) async fn preview_page(
    State(state): State<AppState>,
    who: SignedIn,
    Id(id): Id,
) -> Response {
    let engine = state.engine();
    let preview = match engine.preview(CampaignId(id)).await {
        Ok(p) => p,
        Err(e) => return failure(&who, &e),
    };
    let form_page = match render_form_page(&FormPage::new(&preview.form.spec)) {
        Ok(html) => html,
        Err(e) => return failure(&who, &e),
    };
    let channels: Vec<_> = preview
        .channels
        .iter()
        .map(|c| {
            context! {
                label => c.channel.map_or("Unknown", channel_label),
                to_send => c.pending + c.sending,
                suppressed => c.suppressed,
                reasons => c.suppressed_reasons.iter().map(|(r, n)| (r.replace('_', " "), *n)).collect::<Vec<_>>(),
            }
        })
        .collect();
    let orders = match (preview.campaign.reach, &preview.cost_comparison) {
        (Some(reach), Some(c)) if preview.campaign.channels.len() == Channel::ALL.len() => c
            .both_and_email_first(&reach)
            .iter()
            .map(|e| {
                context! {
                    strategy => e.strategy.as_str(),
                    chosen => e.strategy == preview.campaign.strategy,
                    total => e.total.to_string(),
                    first_round => format!("{} emails, {} text messages", e.emails, e.first_round_sms),
                    second_wave => e.second_wave_sms,
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    let open_rate = preview.cost_comparison.map(|c| c.open_rate_percent);
    let sms = preview.campaign.channels.contains(&Channel::Sms);
    let segments = &preview.sample_sms_segments;
    let title = "Check before you send";
    render(
        &who,
        StatusCode::OK,
        "console/preview.html",
        title,
        Vec::new(),
        context! {
            csrf => who.csrf_token().unwrap_or_default(),
            campaign => &preview.campaign,
            form_title => &preview.form.spec.title,
            form_page,
            recipients => preview.recipients,
            channels,
            cost => preview.estimated_cost.to_string(),
            budget => preview.campaign.budget.map(|b| b.to_string()),
            orders,
            open_rate,
            expires_on => preview.campaign.link_expires_at.format("%-d %B %Y at %H:%M UTC").to_string(),
            sample_sms => sms.then_some(&preview.sample_sms),
            sms_units => segments.units,
            sms_encoding => match segments.encoding { SmsEncoding::Gsm7 => "GSM-7", SmsEncoding::Ucs2 => "UCS-2 (one or more characters are outside GSM-7)" },
            sms_segments => segments.segments,
            can_subset => may(&who, &state, Permission::CountPatients),
            can_send => may(&who, &state, Permission::SendCampaigns),
            fresh => who.principal().decide(Permission::SendCampaigns, engine.clock().now()) == Decision::Allowed,
        },
    )
}

/// GET `/console/campaigns/{id}/subset`: the first patients the campaign's filter
/// selects, masked unless the operator may see identifiable data.
pub(super) async fn subset_page(
    State(state): State<AppState>,
    who: SignedIn,
    Id(id): Id,
) -> Response {
    let engine = state.engine();
    let now = engine.clock().now();
    let identified =
        who.principal().decide(Permission::ViewPatientIdentity, now) == Decision::Allowed;
    let campaign = match engine.store().campaign(CampaignId(id)).await {
        Ok(c) => c,
        Err(e) => return failure(&who, &e),
    };
    let (total, rows) = match campaign_subset(engine, &campaign, identified).await {
        Ok(x) => x,
        Err(e) => return failure(&who, &e),
    };
    let rows: Vec<_> = rows
        .into_iter()
        .map(|r| match r {
            SubsetRow::Masked {
                initials,
                age_band,
                district,
            } => context! { initials, age_band, district },
            SubsetRow::Identified {
                name,
                nhs_number,
                age,
                postcode,
            } => context! { name, nhs_number, age, postcode },
        })
        .collect();
    tracing::info!(campaign = id, rows = rows.len(), identified, operator = %who.principal().operator(), "console: subset viewed");
    render(
        &who,
        StatusCode::OK,
        "console/subset.html",
        "Subset of patients",
        Vec::new(),
        context! { campaign => campaign, rows, total, identified },
    )
}

/// POST `/console/campaigns/{id}/send`: "Confirm and send". Needs the send permission
/// and a fresh second factor (otherwise the operator is sent to enter it again).
pub(super) async fn send(
    State(state): State<AppState>,
    Extension(sending): Extension<Sending>,
    who: SignedIn,
    Id(id): Id,
) -> Response {
    let id = CampaignId(id);
    let engine = state.engine().clone();
    let campaign = match engine.store().campaign(id).await {
        Ok(c) => c,
        Err(e) => return failure(&who, &e),
    };
    let board = Redirect::to(&format!("/console/campaigns/{id}")).into_response();
    if campaign.state != CampaignState::Draft || !sending.start(id) {
        // Sent already, or being sent: this POST is a repeat.
        return board;
    }
    let options = state.options().send_options.clone();
    let operator = who.principal().operator();
    tracing::info!(campaign = id.0, operator = %operator, "console: send confirmed");
    // The send outlives the request: it keeps the request's acting operator and id, so
    // its ledger events are theirs.
    let acting = crate::audit::current();
    tokio::spawn(async move {
        match crate::audit::scope(acting, engine.send(id, &options, &())).await {
            Ok(report) => {
                tracing::info!(campaign = id.0, elapsed = ?report.elapsed, "console: send finished")
            }
            Err(e) => {
                tracing::warn!(campaign = id.0, error = %e, "console: send stopped; sending again resumes it")
            }
        }
        sending.finish(id);
    });
    board
}
