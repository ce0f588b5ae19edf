//! Printing results: text for people, JSON for scripts.

use medicare_core::campaign::{Campaign, CampaignStatus, ChannelSummary, Preview, SendReport};
use medicare_core::demo::DemoSummary;
use medicare_core::store::StoredForm;
use serde::Serialize;
use std::io::Write;

/// Prints results as text or JSON.
pub struct Printer {
    /// JSON output.
    pub json: bool,
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot write JSON: {e}"),
    }
}

fn reasons(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = map.iter().map(|(r, n)| format!("{r}: {n}")).collect();
    format!(" ({})", parts.join(", "))
}

fn channel_lines(channels: &[ChannelSummary]) {
    for c in channels {
        let name = c.channel.map_or("?", |c| c.as_str());
        println!(
            "  {name:<6} to send {:>7}  sent {:>7}  failed {:>5}{}  suppressed {:>6}{}",
            c.pending + c.sending,
            c.sent,
            c.failed,
            reasons(&c.failed_reasons),
            c.suppressed,
            reasons(&c.suppressed_reasons),
        );
        if c.possible_duplicates > 0 {
            println!(
                "         may have arrived more than once: {}",
                c.possible_duplicates
            );
        }
    }
}

impl Printer {
    /// Any serialisable value as JSON.
    pub fn json_value(&self, value: &impl Serialize) {
        print_json(value);
    }

    /// A single count.
    pub fn count(&self, what: &str, n: u64) {
        if self.json {
            print_json(&serde_json::json!({ what: n }));
        } else {
            println!("{what}: {n}");
        }
    }

    /// A form.
    pub fn form(&self, form: &StoredForm) {
        if self.json {
            return print_json(form);
        }
        println!("form {} {:?}: {}", form.id, form.spec.name, form.spec.title);
        println!("  response table: {}", form.response_table);
        println!("  page: {}", form.page_location);
        for f in &form.spec.fields {
            println!(
                "  - {:<24} {:<16} {}{}",
                f.name,
                format!("{:?}", f.kind),
                f.label,
                if f.required { " (required)" } else { "" }
            );
        }
    }

    /// Forms.
    pub fn forms(&self, forms: &[StoredForm]) {
        if self.json {
            return print_json(&forms);
        }
        for f in forms {
            println!("{:>4}  {:<32} {}", f.id, f.spec.name, f.spec.title);
        }
    }

    /// Campaigns.
    pub fn campaigns(&self, campaigns: &[Campaign]) {
        if self.json {
            return print_json(&campaigns);
        }
        for c in campaigns {
            println!("{:>4}  {:<10} {:<40} {}", c.id, c.state, c.name, c.filter);
        }
    }

    /// A preview.
    pub fn preview(&self, p: &Preview) {
        if self.json {
            return print_json(p);
        }
        println!(
            "campaign {} ({}): {}",
            p.campaign.id, p.campaign.state, p.campaign.name
        );
        println!(
            "You are sending this form: {} ({} fields)",
            p.form.spec.title,
            p.form.spec.fields.len()
        );
        println!(
            "To these patients: {}  -> {} recipients",
            p.campaign.filter, p.recipients
        );
        channel_lines(&p.channels);
        println!(
            "Sample SMS ({} segment(s), {:?}, {} units):",
            p.sample_sms_segments.segments,
            p.sample_sms_segments.encoding,
            p.sample_sms_segments.units
        );
        println!("  {}", p.sample_sms);
        println!("Sample email subject: {}", p.sample_email_subject);
        println!(
            "Cost of what is left to send: {}  ({} SMS segments at {}, {} emails at {})",
            p.estimated_cost,
            p.sms_segments_to_send,
            String::from(p.prices.sms_segment),
            p.emails_to_send,
            String::from(p.prices.email),
        );
        println!(
            "Links expire: {}",
            p.campaign.link_expires_at.format("%Y-%m-%d %H:%M UTC")
        );
    }

    /// A send report.
    pub fn send_report(&self, r: &SendReport) {
        if self.json {
            return print_json(r);
        }
        println!(
            "campaign {} round {}: sent in {:.2?}",
            r.campaign, r.round, r.elapsed
        );
        if r.requeued_in_flight > 0 {
            println!("  resumed: {} deliveries were in flight when the last send stopped and were sent again (each may have arrived twice)", r.requeued_in_flight);
        }
        println!("  retries: {}", r.retries);
        channel_lines(&r.channels);
    }

    /// A status.
    pub fn status(&self, s: &CampaignStatus) {
        if self.json {
            return print_json(s);
        }
        println!(
            "campaign {} ({}): {} — {} recipients",
            s.campaign.id, s.campaign.state, s.campaign.name, s.recipients
        );
        channel_lines(&s.channels);
    }

    /// The demo's summary.
    pub fn demo(&self, d: &DemoSummary) {
        if self.json {
            return print_json(d);
        }
        let t = &d.timings;
        println!("medicare demo in {}", d.dir);
        println!(
            "  patients generated and stored: {} ({:.2?} + {:.2?})",
            d.patients, t.generate, t.import
        );
        println!("  form created and published: {:.2?}", t.form);
        println!(
            "  audience: {} -> {} recipients (campaign {}, created in {:.2?})",
            d.filter, d.preview.recipients, d.campaign, t.create
        );
        println!(
            "  preview: {} SMS segments ({} per message), {} emails, estimated cost {}",
            d.preview.sms_segments_to_send,
            d.preview.sample_sms_segments.segments,
            d.preview.emails_to_send,
            d.preview.estimated_cost
        );
        println!("  sent in {:.2?}:", t.send);
        channel_lines(&d.send.channels);
        if let Some(lines) = d.outbox_lines {
            println!("  outbox: {lines} messages in {}/outbox.jsonl", d.dir);
        }
        if let Some(f) = &d.follow_up {
            println!(
                "  served on {}: {} answered, {} opened only, over HTTP in {:.2?} ({} unexpected)",
                f.served_on, f.answered, f.opened_only, f.answer_time, f.unexpected
            );
            println!(
                "  reminder round {}: {} non-respondents",
                f.remind.round, f.remind.non_respondents
            );
            channel_lines(&f.remind.send.channels);
            let k = &f.tracking;
            println!(
                "  tracking: {} recipients, {} reached, {} opened, {} responded",
                k.recipients, k.sent, k.opened, k.responded
            );
            println!("  weekly report: {}", f.report.html.display());
            println!(
                "    also {} and {}",
                f.report.csv.display(),
                f.report.json.display()
            );
        }
        println!("  total time: {:.2?}", t.total);
    }
}

/// Asks a yes/no question on the terminal; anything but y/yes is no.
pub fn confirm(question: &str) -> bool {
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok()
        && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}
