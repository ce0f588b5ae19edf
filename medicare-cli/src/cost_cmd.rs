//! The cost commands and lines (issue 15): `campaign second-wave`, `campaign budget`, and
//! what previews, send reports and statuses say about strategies, spend and the cap.

use crate::output::say;
use crate::output::{print_json, Printer};
use crate::progress;
use medicare_core::campaign::{CampaignId, Engine, SendOptions};
use medicare_core::campaign::{
    CostComparison, OpenRateSource, RoundSpend, SpendCap, StrategyEstimate,
};
use medicare_core::notify::Money;
use medicare_core::Error;
use std::process::ExitCode;

/// `campaign second-wave ID`: sends (or resumes) an `email_first` second wave.
pub async fn run_second_wave(
    engine: &Engine,
    out: &Printer,
    id: i64,
    options: &SendOptions,
) -> Result<ExitCode, Error> {
    let bars = progress::Bars::new(!out.json);
    let report = engine
        .send_second_wave(CampaignId(id), options, &bars)
        .await?;
    bars.finish();
    out.send_report(&report);
    Ok(crate::exit::of_send(&report))
}

/// `campaign budget ID (--set AMOUNT | --none)`: sets or removes the spend cap.
pub async fn run_budget(
    engine: &Engine,
    out: &Printer,
    id: i64,
    set: Option<&str>,
    none: bool,
) -> Result<(), Error> {
    let budget = match (set, none) {
        (Some(amount), false) => Some(parse_budget(amount, "--set")?),
        (None, true) => None,
        _ => {
            return Err(Error::invalid(
                "campaign budget",
                "give either --set AMOUNT or --none",
            ))
        }
    };
    let campaign = engine.set_budget(CampaignId(id), budget).await?;
    if out.json {
        print_json(&campaign);
        return Ok(());
    }
    match campaign.budget {
        Some(b) => say!(
            "campaign {}: spend cap {b}; send (or remind) again to resume a stopped send",
            campaign.id
        ),
        None => say!("campaign {}: no spend cap", campaign.id),
    }
    Ok(())
}

/// Parses a budget amount given as `what` (e.g. `250` or `£3100.50`).
pub fn parse_budget(amount: &str, what: &str) -> Result<Money, Error> {
    Money::parse(amount).map_err(|m| Error::invalid(what, m))
}

/// The preview's strategy comparison lines.
pub fn comparison_lines(c: &CostComparison) {
    let line = |e: &StrategyEstimate| {
        let wave = if e.second_wave_sms > 0 {
            format!(
                " + second wave {} ({} SMS, {} segments)",
                e.second_wave_cost, e.second_wave_sms, e.second_wave_segments
            )
        } else {
            String::new()
        };
        say!(
            "  {:<11} {}: first round {} ({} emails, {} SMS, {} segments){wave}",
            e.strategy.as_str(),
            e.total,
            e.first_round_cost,
            e.emails,
            e.first_round_sms,
            e.first_round_segments
        );
    };
    say!("Estimated cost by strategy:");
    line(&c.chosen);
    if c.chosen.strategy != c.both.strategy {
        line(&c.both);
        say!("  saving: {}", c.saving);
    }
    let source = match c.open_rate_source {
        OpenRateSource::Configured => "configured".to_string(),
        OpenRateSource::Measured { emailed, opened } => {
            format!("measured on past campaigns: {opened} of {emailed} emailed opened")
        }
        OpenRateSource::Default => "default: no past campaign to measure".to_string(),
    };
    say!(
        "  assuming {}% of the second wave open their email first ({source}), {} a segment, {} an email",
        c.open_rate_percent,
        String::from(c.prices.sms_segment),
        String::from(c.prices.email)
    );
}

/// The spend cap line of a send report.
pub fn cap_line(cap: &SpendCap) {
    say!(
        "  stopped at the spend cap {}: {} committed, {} deliveries left pending (raise it with `campaign budget`, then send again)",
        cap.budget, cap.committed, cap.left_pending
    );
}

/// The status's spent-versus-estimated lines.
pub fn spend_lines(spend: &[RoundSpend]) {
    for s in spend {
        say!(
            "  round {} ({:?}) {}: spent {} of estimated {} ({} sent, {} segments){}",
            s.round,
            s.kind,
            s.channel,
            s.spent,
            s.estimated,
            s.messages,
            s.segments,
            if s.reserved.0 > 0 {
                format!(", {} reserved in flight", s.reserved)
            } else {
                String::new()
            }
        );
    }
}

/// The demo summary's lines: what `both` and `email_first` cost for its campaign.
pub fn demo_strategy_lines(p: &medicare_core::campaign::Preview) {
    let (Some(reach), Some(c)) = (p.campaign.reach, &p.cost_comparison) else {
        return;
    };
    let [both, first] = c.both_and_email_first(&reach);
    say!(
        "  strategies: both {} ({} SMS, {} segments, {} emails); email_first {} ({} SMS at once, {} of {} in the second wave at a {}% open rate), saving {}",
        both.total,
        both.first_round_sms,
        both.first_round_segments,
        both.emails,
        first.total,
        first.first_round_sms,
        first.second_wave_sms,
        reach.second_wave().0,
        c.open_rate_percent,
        Money(both.total.0 - first.total.0)
    );
}
