//! The forms list: every form with its title, its number of questions, when it was
//! created and the campaigns that send it.

use super::{failure, may, render, SignedIn};
use crate::access::Permission;
use crate::server::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;

/// GET `/console/forms`: every form, newest first.
pub(super) async fn forms_page(State(state): State<AppState>, who: SignedIn) -> Response {
    let store = state.engine().store();
    let (mut forms, campaigns) = match tokio::try_join!(store.forms(), store.campaigns()) {
        Ok(x) => x,
        Err(e) => return failure(&who, &e),
    };
    forms.sort_by_key(|f| std::cmp::Reverse(f.id));
    let can_track = may(&who, &state, Permission::ReadTracking);
    let rows: Vec<_> = forms
        .iter()
        .map(|f| {
            let used: Vec<_> = campaigns
                .iter()
                .filter(|c| c.form_id == f.id)
                .map(|c| context! { id => c.id.0, name => &c.name })
                .collect();
            context! {
                id => f.id.0,
                name => &f.spec.name,
                title => &f.spec.title,
                fields => f.spec.fields.len(),
                created => f.created_at.format("%-d %B %Y %H:%M").to_string(),
                campaigns => used,
            }
        })
        .collect();
    render(
        &who,
        StatusCode::OK,
        "console/forms.html",
        "Forms",
        Vec::new(),
        context! { forms => rows, can_track },
    )
}
