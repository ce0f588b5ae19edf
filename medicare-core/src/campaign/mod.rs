//! The campaign engine: the lifecycle of DESIGN.md §2 as library calls.
//!
//! [`Engine`] holds the seams (store, form publisher, link signer, notifiers, clock) and
//! offers one method per step an operator takes: import patients, create a form, count an
//! audience, create a campaign (freeze recipients, issue links, plan and suppress
//! deliveries), preview it, send it (paced, retried, recorded, resumable) and read its
//! status. The CLI, the HTTP API and the Lambda handlers all call these methods; none of
//! them holds business logic.

mod backpressure;
mod engine;
mod model;
mod pace;
mod plan;
mod remind;
mod send;
mod spend;
mod strategy;
mod summary;

pub use engine::{CampaignRequest, Engine, Preview};
pub use model::*;
pub use remind::{
    PlannedReminder, RemindReport, ReminderBlock, ReminderOutlook, ReminderPolicy, MAX_REMINDERS,
};
pub use send::{SendObserver, SendOptions, SendReport};
pub use spend::{CostComparison, OpenRateSource, RoundKind, RoundSpend, SpendCap};
pub use strategy::{
    Reach, Strategy, StrategyEstimate, DEFAULT_OPEN_RATE_PERCENT, DEFAULT_SECOND_WAVE_HOURS,
    SECOND_WAVE_ROUND,
};
pub use summary::{CampaignStatus, ChannelSummary};
