//! The operator console's library side: what the pages under `/console` check and
//! compute, kept out of the handlers so that the handlers stay thin and the rules are
//! tested without a browser.
//!
//! - [`draft`]: the form wizard's first two screens (how many fields; each field's
//!   name, question, type and constraints) turned into a [`crate::form::FormSpec`]
//!   through the same validation a TOML spec gets, with every problem at its input.
//! - [`audience`]: the audience filter and the sending choices (channels, link
//!   lifetime, SMS text) turned into a [`crate::campaign::CampaignRequest`], with a
//!   filter error pointing at its line and column.
//! - [`board`]: the campaign dashboard's figures (send progress per channel, the
//!   funnel from recipients to responses), counts only.
//! - [`chart`]: the response rate by day, laid out as the bars of a server-drawn SVG
//!   with the same figures for its data table.
//! - [`breakdown`]: the non-respondents counted by reason, condition, age band and
//!   postcode district.
//! - [`subset`]: the "Subset of patients" rows, masked to initials, age band and
//!   postcode district unless the operator may see identifiable data.
//!
//! Nothing here stores anything: the console creates forms and campaigns and sends
//! through the same [`crate::campaign::Engine`] calls as the CLI and the JSON API.

pub mod audience;
pub mod board;
pub mod breakdown;
pub mod chart;
pub mod draft;
pub mod subset;

#[cfg(test)]
mod tests;
