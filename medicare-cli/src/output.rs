//! Printing results: text for people, JSON for scripts.
//!
//! Every line goes through [`say!`]: when the reader of standard output has gone away
//! (`medicare campaign create ... | head -1`), the rest of the output is dropped quietly
//! and the command ends as it would have, instead of panicking (as `println!` does) after
//! its work was done.

use medicare_core::campaign::{Campaign, CampaignStatus, ChannelSummary, Preview, SendReport};
use medicare_core::demo::DemoSummary;
use medicare_core::store::StoredForm;
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once standard output cannot be written: nothing more is tried.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to standard output (see [`say!`]).
pub fn write_line(args: fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    if let Err(e) = written {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
        }
    }
}

/// `println!` that never panics: a closed pipe ends the output quietly, another write
/// error is reported once on standard error.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Prints results as text or JSON.
pub struct Printer {
    /// JSON output.
    pub json: bool,
}

/// Prints `value` as pretty JSON, quietly stopping on a closed pipe.
pub(crate) fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => say!("{s}"),
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
        say!(
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
            say!("{what}: {n}");
        }
    }

    /// What a FHIR import stored and skipped.
    pub fn fhir_import(
        &self,
        stored: medicare_core::store::UpsertCounts,
        s: &medicare_core::fhir::ImportSummary,
    ) {
        let imported = stored.inserted + stored.updated;
        if self.json {
            return print_json(&serde_json::json!({
                "imported": imported,
                "inserted": stored.inserted,
                "updated": stored.updated,
                "summary": s,
            }));
        }
        println!(
            "imported: {imported} ({} new, {} updated)",
            stored.inserted, stored.updated
        );
        println!("  not invited (inactive or deceased): {}", s.not_invited);
        println!(
            "  without an NHS number (keyed by resource id): {}",
            s.without_nhs_number
        );
        println!(
            "  conditions: {} mapped, {} not current or not confirmed, {} with codes outside the map, {} for patients not imported",
            s.conditions_mapped, s.conditions_not_current, s.conditions_unmapped, s.conditions_without_patient
        );
        println!(
            "  other resources skipped: {}{}",
            s.skipped.values().sum::<u64>(),
            reasons(&s.skipped)
        );
    }

    /// A form.
    pub fn form(&self, form: &StoredForm) {
        if self.json {
            return print_json(form);
        }
        say!("form {} {:?}: {}", form.id, form.spec.name, form.spec.title);
        say!("  response table: {}", form.response_table);
        say!("  page: {}", form.page_location);
        for f in &form.spec.fields {
            say!(
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
            say!("{:>4}  {:<32} {}", f.id, f.spec.name, f.spec.title);
        }
    }

    /// Campaigns.
    pub fn campaigns(&self, campaigns: &[Campaign]) {
        if self.json {
            return print_json(&campaigns);
        }
        for c in campaigns {
            say!("{:>4}  {:<10} {:<40} {}", c.id, c.state, c.name, c.filter);
        }
    }

    /// A preview.
    pub fn preview(&self, p: &Preview) {
        if self.json {
            return print_json(p);
        }
        say!(
            "campaign {} ({}): {}",
            p.campaign.id,
            p.campaign.state,
            p.campaign.name
        );
        say!(
            "You are sending this form: {} ({} fields)",
            p.form.spec.title,
            p.form.spec.fields.len()
        );
        say!(
            "To these patients: {}  -> {} recipients",
            p.campaign.filter,
            p.recipients
        );
        channel_lines(&p.channels);
        say!(
            "Sample SMS ({} segment(s), {:?}, {} units):",
            p.sample_sms_segments.segments,
            p.sample_sms_segments.encoding,
            p.sample_sms_segments.units
        );
        say!("  {}", p.sample_sms);
        say!("Sample email subject: {}", p.sample_email_subject);
        say!(
            "Cost of what is left to send: {}  ({} SMS segments at {}, {} emails at {})",
            p.estimated_cost,
            p.sms_segments_to_send,
            String::from(p.prices.sms_segment),
            p.emails_to_send,
            String::from(p.prices.email),
        );
        if let Some(c) = &p.cost_comparison {
            crate::cost_cmd::comparison_lines(c);
        }
        if let Some(b) = p.campaign.budget {
            say!("Spend cap: {b}");
        }
        if let Some(e) = p.encoding.filter(|e| e.counts.messages > 0) {
            let c = e.counts;
            say!(
                "Encoding surprises: {} of {} SMS are UCS-2 because of a substituted value (a name, the organisation); {} SMS take {} extra segment(s), {}",
                c.ucs2_by_value, c.messages, c.extra_segment_messages, c.extra_segments, e.extra_cost
            );
            if c.gsm_safe {
                say!(
                    "  gsm_safe is on: {} SMS kept in GSM-7, {} segment(s) saved, {}",
                    c.gsm_safe_gsm7_messages,
                    c.gsm_safe_segments,
                    e.gsm_safe_saving
                );
            } else if c.gsm_safe_segments > 0 {
                say!(
                    "  gsm_safe = true would keep {} SMS in GSM-7 and save {} segment(s), {}",
                    c.gsm_safe_gsm7_messages,
                    c.gsm_safe_segments,
                    e.gsm_safe_saving
                );
            }
        }
        say!("Sample reminder SMS:\n  {}", p.sample_reminder_sms);
        say!(
            "Links expire: {}",
            p.campaign.link_expires_at.format("%Y-%m-%d %H:%M UTC")
        );
    }

    /// A send report.
    pub fn send_report(&self, r: &SendReport) {
        if self.json {
            return print_json(r);
        }
        say!(
            "campaign {} round {}: sent in {:.2?}",
            r.campaign,
            r.round,
            r.elapsed
        );
        if r.requeued_in_flight > 0 {
            say!("  resumed: {} deliveries were in flight when the last send stopped and were sent again (each may have arrived twice)", r.requeued_in_flight);
        }
        say!("  retries: {}", r.retries);
        channel_lines(&r.channels);
        if let Some(cap) = &r.stopped_at_budget {
            crate::cost_cmd::cap_line(cap);
        }
    }

    /// A status.
    pub fn status(&self, s: &CampaignStatus) {
        if self.json {
            return print_json(s);
        }
        say!(
            "campaign {} ({}): {} — {} recipients",
            s.campaign.id,
            s.campaign.state,
            s.campaign.name,
            s.recipients
        );
        channel_lines(&s.channels);
        say!(
            "  strategy {}{}",
            s.campaign.strategy,
            s.campaign
                .budget
                .map(|b| format!(", spend cap {b}"))
                .unwrap_or_default()
        );
        crate::cost_cmd::spend_lines(&s.spend);
    }

    /// The demo's summary.
    pub fn demo(&self, d: &DemoSummary) {
        if self.json {
            return print_json(d);
        }
        let t = &d.timings;
        say!("medicare demo in {}", d.dir);
        say!(
            "  patients generated and stored: {} ({:.2?} + {:.2?})",
            d.patients,
            t.generate,
            t.import
        );
        say!("  form created and published: {:.2?}", t.form);
        say!(
            "  audience: {} -> {} recipients (campaign {}, created in {:.2?})",
            d.filter,
            d.preview.recipients,
            d.campaign,
            t.create
        );
        crate::cost_cmd::demo_strategy_lines(&d.preview);
        say!(
            "  preview: {} SMS segments ({} per message), {} emails, estimated cost {}",
            d.preview.sms_segments_to_send,
            d.preview.sample_sms_segments.segments,
            d.preview.emails_to_send,
            d.preview.estimated_cost
        );
        say!("  sent in {:.2?}:", t.send);
        channel_lines(&d.send.channels);
        if let Some(lines) = d.outbox_lines {
            say!("  outbox: {lines} messages in {}/outbox.jsonl", d.dir);
        }
        if let Some(f) = &d.follow_up {
            say!(
                "  served on {}: {} answered, {} opened only, over HTTP in {:.2?} ({} unexpected)",
                f.served_on,
                f.answered,
                f.opened_only,
                f.answer_time,
                f.unexpected
            );
            say!(
                "  reminder round {}: {} non-respondents, in {:.2?}",
                f.remind.round,
                f.remind.non_respondents,
                f.remind_time
            );
            channel_lines(&f.remind.send.channels);
            let k = &f.tracking;
            say!(
                "  tracking: {} recipients, {} reached, {} opened, {} responded",
                k.recipients,
                k.sent,
                k.opened,
                k.responded
            );
            say!(
                "  weekly report: {} (in {:.2?})",
                f.report.html.display(),
                f.report_time
            );
            say!(
                "    also {} and {}",
                f.report.csv.display(),
                f.report.json.display()
            );
        }
        say!("  total time: {:.2?}", t.total);
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
