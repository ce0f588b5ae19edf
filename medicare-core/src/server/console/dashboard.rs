//! The campaign dashboard: every campaign with its state, and for one campaign its send
//! progress per channel and its funnel, live through `/console/campaigns/{id}/status`
//! (the same figures as JSON, polled by the console's script). Counts only.

use super::sending::channel_label;
use super::{failure, may, render, SignedIn};
use crate::access::Permission;
use crate::campaign::CampaignId;
use crate::console::board::board;
use crate::notify::Channel;
use crate::server::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use minijinja::context;
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

/// GET `/console/campaigns/{id}`: one campaign's dashboard.
pub(super) async fn board_page(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<i64>,
) -> Response {
    let board = match board(state.engine(), CampaignId(id)).await {
        Ok(b) => b,
        Err(e) => return failure(&who, &e),
    };
    let channel_labels: BTreeMap<&str, &str> = Channel::ALL
        .into_iter()
        .map(|c| (c.as_str(), channel_label(c)))
        .collect();
    let title = board.name.clone();
    render(
        &who,
        StatusCode::OK,
        "console/board.html",
        &title,
        Vec::new(),
        context! { board, channel_labels },
    )
}

/// GET `/console/campaigns/{id}/status`: the dashboard's figures as JSON.
pub(super) async fn board_status(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<i64>,
) -> Response {
    match board(state.engine(), CampaignId(id)).await {
        Ok(b) => Json(b).into_response(),
        Err(e) => failure(&who, &e),
    }
}
