//! Rendering the weekly report: an HTML page with an SVG chart, and a CSV.
//!
//! Every value that reaches the page goes through [`escape`]; every CSV cell through
//! [`csv_cell`] (quoted, and defused when a spreadsheet would read it as a formula).

use super::{CampaignReport, WeeklyReport};
use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Line colours, one per campaign (cycled).
const COLOURS: [&str; 6] = [
    "#1d70b8", "#d4351c", "#00703c", "#912b88", "#f47738", "#505a5f",
];
const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 32.0;
const TOP: f64 = 12.0;
const RIGHT: f64 = 12.0;

/// The response-rate chart: one line per campaign, rate (0-100 %) over days.
fn chart(report: &WeeklyReport) -> String {
    let days: Vec<chrono::NaiveDate> = {
        let mut d: Vec<_> = report
            .campaigns
            .iter()
            .flat_map(|c| c.series.iter().map(|p| p.date))
            .collect();
        d.sort();
        d.dedup();
        d
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let span = days.len().saturating_sub(1).max(1) as f64;
    let x = |date: chrono::NaiveDate| {
        let i = days.iter().position(|d| *d == date).unwrap_or(0) as f64;
        LEFT + plot_w * i / span
    };
    let y = |rate: f64| TOP + plot_h * (1.0 - rate.clamp(0.0, 1.0));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-labelledby=\"chart-title\">\
         <title id=\"chart-title\">Response rate by day, per campaign</title>"
    );
    for pct in [0, 25, 50, 75, 100] {
        let yy = y(f64::from(pct) / 100.0);
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#b1b4b6\" stroke-width=\"1\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{pct}%</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let labels = if first == last {
            vec![(first, "start")]
        } else {
            vec![(first, "start"), (last, "end")]
        };
        for (date, anchor) in labels {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{anchor}\">{}</text>",
                x(*date),
                HEIGHT - 10.0,
                date
            );
        }
    }
    for (i, c) in report.campaigns.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = c
            .series
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.date), y(p.rate)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            escape(&c.name)
        );
        // The latest rate, marked (a one-day series is just this point).
        if let Some(p) = c.series.last() {
            let _ = write!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\"><title>{}: {}</title></circle>",
                x(p.date),
                y(p.rate),
                escape(&c.name),
                pct(p.rate)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn campaign_section(out: &mut String, i: usize, c: &CampaignReport) {
    let k = &c.counts;
    let _ = write!(
        out,
        "<section><h2><span class=\"key\" style=\"color:{}\">&#9632;</span> Campaign {}: {}</h2>\
         <p>State {}; links expire {}.</p>\
         <table><tr><th>Recipients</th><th>Reached</th><th>Messages accepted by provider</th><th>Opened</th><th>Responded</th><th>Suppressed</th><th>Failed</th><th>May have arrived twice</th><th>Response rate</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        COLOURS[i % COLOURS.len()],
        c.id,
        escape(&c.name),
        c.state,
        c.link_expires_at.format("%Y-%m-%d"),
        k.recipients,
        k.sent,
        k.delivered_to_provider,
        k.opened,
        k.responded,
        k.suppressed,
        k.failed,
        k.possible_duplicates,
        pct(c.response_rate),
    );
    out.push_str("<h3>Rounds</h3><table><tr><th>Round</th><th>Recipients</th><th>Unfinished</th><th>Last activity</th></tr>");
    for r in &c.rounds {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if r.round == 0 {
                "first send".to_string()
            } else {
                format!("reminder {}", r.round)
            },
            r.recipients,
            r.unfinished,
            r.last_activity
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M").to_string())
        );
    }
    out.push_str("</table><h3>Spend</h3><table><tr><th>Round</th><th>Channel</th><th>Estimated</th><th>Spent</th><th>Sent</th><th>Segments</th></tr>");
    for s in &c.spend {
        let _ = write!(
            out,
            "<tr><td>{} ({})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.round,
            match s.kind {
                crate::campaign::RoundKind::First => "first send",
                crate::campaign::RoundKind::SecondWave => "second wave",
                crate::campaign::RoundKind::Reminder => "reminder",
            },
            s.channel,
            escape(&s.estimated.to_string()),
            escape(&s.spent.to_string()),
            s.messages,
            s.segments
        );
    }
    let _ = write!(
        out,
        "</table><h3>Non-respondents ({})</h3><table><tr><th>Recipient</th><th>Patient</th><th>Record number</th><th>Why</th><th>Opens</th><th>Reminders</th></tr>",
        c.non_respondents.len()
    );
    for n in &c.non_respondents {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            n.recipient_id,
            n.patient_id.0,
            escape(&n.external_id),
            n.reason.as_str().replace('_', " "),
            n.open_count,
            n.reminders
        );
    }
    let _ = write!(
        out,
        "</table><h3>Responses this week ({})</h3><table><tr><th>Recipient</th><th>Submitted</th>",
        c.responses.len()
    );
    for label in &c.fields {
        let _ = write!(out, "<th>{}</th>", escape(label));
    }
    out.push_str("</tr>");
    for r in &c.responses {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td>",
            r.recipient_id,
            r.submitted_at.format("%Y-%m-%d %H:%M")
        );
        for v in &r.values {
            let _ = write!(out, "<td>{}</td>", escape(v.as_deref().unwrap_or("")));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>");
}

/// The report as a self-contained HTML page (inline style, inline SVG, no script).
pub fn render_html(report: &WeeklyReport) -> String {
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>Weekly non-respondent report {week}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#0b0c0c}}\
         table{{border-collapse:collapse;margin:.5rem 0 1rem}}th,td{{border:1px solid #b1b4b6;padding:.25rem .5rem;text-align:left}}\
         .key{{font-size:1.2em}}</style></head><body>\
         <h1>Weekly non-respondent report {week}</h1>\
         <p>Week {start} to {end}; made {made}. Confidential: patient records.</p>\
         <h2>Response rate over time</h2>{chart}",
        week = escape(&report.week),
        start = report.week_start,
        end = report.week_end,
        made = report.generated_at.format("%Y-%m-%d %H:%M UTC"),
        chart = chart(report),
    );
    if report.campaigns.is_empty() {
        out.push_str("<p>No active campaign this week.</p>");
    }
    for (i, c) in report.campaigns.iter().enumerate() {
        campaign_section(&mut out, i, c);
    }
    out.push_str("</body></html>\n");
    out
}

/// One CSV cell: quoted, and prefixed with `'` when a spreadsheet would run it as a
/// formula.
pub(crate) fn csv_cell(s: &str) -> String {
    let defused = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// The non-respondents of every campaign, one CSV row each.
pub fn render_csv(report: &WeeklyReport) -> String {
    let mut out = String::from(
        "week,campaign_id,campaign,recipient_id,patient_id,record_number,reason,open_count,reminders\n",
    );
    for c in &report.campaigns {
        for n in &c.non_respondents {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                csv_cell(&report.week),
                c.id,
                csv_cell(&c.name),
                n.recipient_id,
                n.patient_id.0,
                csv_cell(&n.external_id),
                n.reason.as_str(),
                n.open_count,
                n.reminders
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
        assert_eq!(csv_cell("a\"b"), "\"a\"\"b\"");
    }
}
