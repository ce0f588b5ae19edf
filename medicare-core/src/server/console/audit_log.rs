//! The audit page (auditor): the latest ledger events, filtered as `medicare audit log`
//! filters them (since, actor, action, target), and whether the chain verifies.
//!
//! The listing is [`crate::audit::AuditQuery`] over the ledger's entries and the check
//! is [`crate::audit::verify::verify`] of the whole chain; the signed checkpoints live
//! beside the backups, so the page says to run `medicare audit verify` for those.
//! Reading the ledger is itself recorded ([`crate::audit::record_read`]), as the CLI
//! records it.

use super::{failure, render, SignedIn};
use crate::audit::{self, Action, Actor, AuditQuery, AuditStore, Target};
use crate::server::views::ErrorItem;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

/// The most events the page lists (the newest).
const SHOWN: usize = 200;

/// The filters as typed.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(super) struct Filters {
    #[serde(default)]
    since: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
}

/// A date (`2026-11-30`, from its midnight UTC) or an RFC 3339 time.
fn parse_since(s: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(chrono::NaiveTime::MIN).and_utc())
        .or_else(|| {
            DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

/// Reads one filter: `None` when left blank; an error at `id` when it cannot be read.
fn read<T>(
    errors: &mut Vec<ErrorItem>,
    id: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    problem: &str,
) -> Option<T> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    let value = parse(raw);
    if value.is_none() {
        errors.push(ErrorItem::new(id, problem));
    }
    value
}

impl Filters {
    /// The query the filters make, or an error for each filter that cannot be read.
    fn query(&self) -> Result<AuditQuery, Vec<ErrorItem>> {
        let mut errors = Vec::new();
        let query = AuditQuery {
            since: read(
                &mut errors,
                "since",
                &self.since,
                parse_since,
                "Enter the date as year-month-day, like 2026-11-30",
            ),
            actor: read(
                &mut errors,
                "actor",
                &self.actor,
                |s| s.parse::<Actor>().ok(),
                "Enter the actor as operator:<id>, local:<user>, patient-link:<id> or system:<job>",
            ),
            action: read(
                &mut errors,
                "action",
                &self.action,
                |s| s.parse::<Action>().ok(),
                "Choose an action from the list",
            ),
            target: read(
                &mut errors,
                "target",
                &self.target,
                |s| s.parse::<Target>().ok(),
                "Enter the target as kind:id, like campaign:3 (pairs joined by commas)",
            ),
        };
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(errors)
        }
    }
}

/// GET `/console/audit`.
pub(super) async fn audit_page(
    State(state): State<AppState>,
    who: SignedIn,
    Query(filters): Query<Filters>,
) -> Response {
    let engine = state.engine();
    let ledger: &dyn AuditStore = engine.store().as_ref();
    let entries = match audit::all_entries(ledger).await {
        Ok(e) => e,
        Err(e) => return failure(&who, &e),
    };
    let verification = audit::verify::verify(&entries, &[]);
    let (status, errors, shown, matched) = match filters.query() {
        Ok(query) => {
            let matching: Vec<_> = entries.iter().filter(|e| query.matches(e)).collect();
            let matched = matching.len();
            let shown: Vec<_> = matching.into_iter().rev().take(SHOWN).collect();
            (StatusCode::OK, Vec::new(), shown, matched)
        }
        Err(errors) => (StatusCode::BAD_REQUEST, errors, Vec::new(), 0),
    };
    let actor = Actor::Operator(who.principal().operator());
    if let Err(e) = audit::record_read(ledger, actor, shown.len(), engine.clock().now()).await {
        return failure(&who, &e);
    }
    // Every filter has an entry ("" for none): the templates are rendered strictly.
    let mut errors_by_id: std::collections::BTreeMap<String, String> =
        ["since", "actor", "action", "target"]
            .into_iter()
            .map(|id| (id.to_string(), String::new()))
            .collect();
    errors_by_id.extend(errors.iter().map(|e| (e.field.clone(), e.text.clone())));
    let rows: Vec<_> = shown
        .iter()
        .map(|e| {
            context! {
                seq => e.seq,
                at => e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                actor => &e.actor,
                action => &e.action,
                target => &e.target,
                outcome => &e.outcome,
                detail => &e.detail,
            }
        })
        .collect();
    let actions: Vec<_> = Action::ALL.iter().map(|a| a.as_str()).collect();
    render(
        &who,
        status,
        "console/audit.html",
        "Audit log",
        errors,
        context! {
            filters,
            errors_by_id,
            actions,
            rows,
            matched,
            shown_max => SHOWN,
            verification => context! {
                intact => verification.is_intact(),
                entries => verification.entries,
                head_seq => verification.head_seq,
                head_hash => verification.head_hash.get(..16).unwrap_or_default(),
                problem => verification.problem.as_ref().map(ToString::to_string),
            },
        },
    )
}
