//! The dashboard's response-rate chart: the campaign's response curve day by day
//! ([`crate::report::response_series`]) laid out as the bars of an SVG drawn on the
//! server, with the same figures for the data table beside it.
//!
//! The page draws the bars from the numbers here with SVG attributes only (no inline
//! style, which the console's Content-Security-Policy forbids, and no script).

use crate::campaign::{CampaignId, Engine};
use crate::error::Result;
use crate::report::{response_series, SeriesPoint};
use serde::Serialize;

/// The most days the chart shows (the latest ones).
pub const CHART_DAYS: usize = 28;

/// The chart's drawing area, in SVG user units.
pub const WIDTH: u32 = 560;
/// Its height (the bars' 100%).
pub const HEIGHT: u32 = 200;

/// One day's bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// The day, `2026-11-30`.
    pub date: String,
    /// The day as the table and the axis show it, `Mon 30 Nov`.
    pub label: String,
    /// Recipients who had answered by the end of the day.
    pub responded: u64,
    /// Their share of the recipients, in percent with one decimal.
    pub percent: f64,
    /// The bar's left edge.
    pub x: u32,
    /// Its top edge (0 is the chart's top).
    pub y: u32,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// The chart of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    /// The bars, oldest day first.
    pub bars: Vec<Bar>,
    /// The days before the first bar that the chart leaves out.
    pub days_left_out: usize,
    /// The drawing area's width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// Lays `series` out as bars: the latest [`CHART_DAYS`] days across [`WIDTH`], each as
/// tall as its rate is of [`HEIGHT`].
pub fn chart(series: &[SeriesPoint]) -> Chart {
    let skip = series.len().saturating_sub(CHART_DAYS);
    let shown = &series[skip..];
    let slot = WIDTH / (shown.len().max(1) as u32);
    let width = (slot * 3 / 4).max(1);
    let bars = shown
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let rate = p.rate.clamp(0.0, 1.0);
            let height = (rate * f64::from(HEIGHT)).round() as u32;
            Bar {
                date: p.date.to_string(),
                label: p.date.format("%a %-d %b").to_string(),
                responded: p.responded,
                percent: (rate * 1000.0).round() / 10.0,
                x: i as u32 * slot + (slot - width) / 2,
                y: HEIGHT - height,
                width,
                height,
            }
        })
        .collect();
    Chart {
        bars,
        days_left_out: skip,
        width: WIDTH,
        height: HEIGHT,
    }
}

/// Campaign `id`'s chart, from its creation to today (the engine's clock) or the day its
/// links expired, whichever is first.
pub async fn campaign_chart(engine: &Engine, id: CampaignId, recipients: u64) -> Result<Chart> {
    let store = engine.store();
    let campaign = store.campaign(id).await?;
    let by_day = store.responses_by_day(id).await?;
    let last = engine
        .clock()
        .now()
        .min(campaign.link_expires_at)
        .date_naive();
    Ok(chart(&response_series(
        campaign.created_at.date_naive(),
        last,
        &by_day,
        recipients,
    )))
}
