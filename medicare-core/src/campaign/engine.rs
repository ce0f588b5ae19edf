//! The engine: creating forms and campaigns, previews and status.

use super::plan::AudiencePlanner;
use super::{
    Campaign, CampaignId, CampaignMessages, CampaignStatus, ChannelSummary, FormId, NewCampaign,
    Reach, Strategy,
};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::filter::{AnyFilter, PatientFilter};
use crate::form::{render_form_page, FormPage, FormSpec};
use crate::group_commit::GroupCommit;
use crate::link::forms::FormCache;
use crate::link::LinkSigner;
use crate::notify::{
    sms_segments, Channel, EncodingReport, EncodingSurprises, MessageTemplate, MessageValues,
    Money, Notifier, Prices, SmsSegments, TemplateKind,
};
use crate::patient::{CsvPatients, Patient};
use crate::publish::FormPublisher;
use crate::store::{
    Audience, LinkOpen, Store, StoredForm, Submission, SubmitOutcome, UpsertCounts,
};
use chrono::Duration;
use secrecy::SecretString;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The campaign engine. Cheap to clone; share it.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(super) store: Arc<dyn Store>,
    publisher: Arc<dyn FormPublisher>,
    pub(super) signer: Arc<dyn LinkSigner>,
    pub(super) notifiers: BTreeMap<Channel, Arc<dyn Notifier>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) prices: Prices,
    /// The second-wave open rate previews assume (percent); `None`: measured on past
    /// campaigns, or [`super::DEFAULT_OPEN_RATE_PERCENT`].
    pub(super) open_rate_percent: Option<u32>,
    /// Link opens waiting for their group's transaction.
    pub(crate) opens: Arc<GroupCommit<LinkOpen, ()>>,
    /// Patients' answers waiting for their group's transaction.
    pub(crate) submissions: Arc<GroupCommit<Submission, Result<SubmitOutcome>>>,
    /// Forms read by the form service.
    pub(crate) forms: Arc<FormCache>,
}

/// What an operator asks for when creating a campaign.
#[derive(Debug, Clone)]
pub struct CampaignRequest {
    /// A name for people.
    pub name: String,
    /// The form the links open.
    pub form: FormId,
    /// The audience.
    pub filter: Arc<dyn PatientFilter>,
    /// The channels to send on (at least one, no repeats).
    pub channels: Vec<Channel>,
    /// The message templates.
    pub messages: CampaignMessages,
    /// How long links work after creation.
    pub link_ttl: Duration,
    /// Which channels go when; `None`: what `channels` implies (both, or one only).
    pub strategy: Option<Strategy>,
    /// The spend cap, if any.
    pub budget: Option<Money>,
    /// `email_first` only: hours after the first send before the SMS second wave may go
    /// (default [`super::DEFAULT_SECOND_WAVE_HOURS`]).
    pub second_wave_hours: Option<u32>,
}

impl CampaignRequest {
    /// A request with the default messages, both channels and 30-day links.
    pub fn new(name: impl Into<String>, form: FormId, filter: Arc<dyn PatientFilter>) -> Self {
        CampaignRequest {
            name: name.into(),
            form,
            filter,
            channels: Channel::ALL.to_vec(),
            messages: CampaignMessages::default(),
            link_ttl: Duration::days(30),
            strategy: None,
            budget: None,
            second_wave_hours: None,
        }
    }

    /// Sets the link lifetime to `days` days (the CLI's `--link-days`, the API's
    /// `link_days`); a number of days no clock can add is bad input, not a panic.
    /// (Whether the lifetime is allowed is checked when the campaign is created.)
    pub fn set_link_days(&mut self, days: i64) -> Result<()> {
        self.link_ttl = Duration::try_days(days)
            .ok_or_else(|| Error::invalid("link days", "must be between 1 and 366 days"))?;
        Ok(())
    }
}

/// What the operator sees before confirming a send.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The campaign.
    pub campaign: Campaign,
    /// The form the links open.
    pub form: StoredForm,
    /// Recipients frozen at creation.
    pub recipients: u64,
    /// Per channel: to send, suppressed (with reasons), already sent or failed.
    pub channels: Vec<ChannelSummary>,
    /// A sample SMS (with a placeholder name and link, never a patient's).
    pub sample_sms: String,
    /// How the sample SMS is encoded and split.
    pub sample_sms_segments: SmsSegments,
    /// A sample email subject.
    pub sample_email_subject: String,
    /// A sample email text part.
    pub sample_email_text: String,
    /// SMS segments that will be billed for the deliveries still to send.
    pub sms_segments_to_send: u64,
    /// Emails still to send.
    pub emails_to_send: u64,
    /// The estimated cost of what is still to send (an `email_first` second wave in
    /// full, before any opener is left out: see `cost_comparison` for the expectation).
    pub estimated_cost: Money,
    /// The chosen strategy's estimate beside `both`'s, the saving, and the assumptions
    /// (`None` for a campaign created before reach was counted).
    pub cost_comparison: Option<super::CostComparison>,
    /// The prices the estimate used.
    pub prices: Prices,
    /// The first round's SMS that a substituted value (a name with `’`, `ŵ` or `ł`, an
    /// organisation name) pushes into UCS-2 or an extra segment, what that costs, and
    /// what `gsm_safe` saves (when on) or would save (when off). `None` for a campaign
    /// created before these were counted.
    pub encoding: Option<EncodingReport>,
    /// A sample first reminder SMS (placeholder name and link).
    pub sample_reminder_sms: String,
}

/// Templates parsed once per campaign.
#[derive(Debug, Clone)]
pub(super) struct Templates {
    pub sms: MessageTemplate,
    pub subject: MessageTemplate,
    pub text: MessageTemplate,
    pub html: MessageTemplate,
}

impl Templates {
    /// The first send's templates, after checking every round's (so a reminder template
    /// never fails at send time).
    pub(super) fn parse(m: &CampaignMessages, channels: &[Channel]) -> Result<Self> {
        if m.reminders.len() > super::MAX_REMINDERS as usize {
            return Err(Error::invalid(
                "reminder texts",
                format!("at most {} (one per reminder round)", super::MAX_REMINDERS),
            ));
        }
        for round in 1..=m.reminders.len() {
            Self::for_round(m, channels, round as i32)?;
        }
        Self::for_round(m, channels, 0)
    }

    /// The templates of `round` (0: the first send; then the reminders).
    pub(super) fn for_round(
        m: &CampaignMessages,
        channels: &[Channel],
        round: i32,
    ) -> Result<Self> {
        let texts = m.texts(round);
        let name = |what: &str| match round {
            0 => what.to_string(),
            r => format!("reminder {r} {what}"),
        };
        let parse =
            |source: &str, kind, what: &str| MessageTemplate::parse(source, kind, &name(what));
        let t = Templates {
            sms: parse(&texts.sms, TemplateKind::Text, "SMS template")?.gsm_safe(m.gsm_safe),
            subject: parse(&texts.email_subject, TemplateKind::Text, "email subject")?,
            text: parse(&texts.email_text, TemplateKind::Text, "email text")?,
            html: parse(&texts.email_html, TemplateKind::Html, "email HTML")?,
        };
        if channels.contains(&Channel::Sms) && !t.sms.has_link() {
            return Err(Error::invalid(name("SMS template"), "must contain {link}"));
        }
        if channels.contains(&Channel::Email) && !(t.text.has_link() && t.html.has_link()) {
            return Err(Error::invalid(
                name("email templates"),
                "the text and HTML parts must both contain {link}",
            ));
        }
        if m.org.trim().is_empty() || m.org.chars().count() > 60 {
            return Err(Error::invalid(
                "organisation name",
                "must be 1 to 60 characters",
            ));
        }
        Ok(t)
    }
}

/// A readable date for message bodies: `21 December 2026`.
pub(super) fn human_date(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %B %Y").to_string()
}

impl Engine {
    /// An engine over `store`, publishing forms with `publisher`, signing links with
    /// `signer`. Add notifiers with [`Engine::with_notifier`].
    pub fn new(
        store: Arc<dyn Store>,
        publisher: Arc<dyn FormPublisher>,
        signer: Arc<dyn LinkSigner>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Engine {
            store,
            publisher,
            signer,
            notifiers: BTreeMap::new(),
            clock,
            prices: Prices::default(),
            open_rate_percent: None,
            opens: Arc::default(),
            submissions: Arc::default(),
            forms: Arc::default(),
        }
    }

    /// Sends `channel` through `notifier`.
    pub fn with_notifier(mut self, channel: Channel, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.insert(channel, notifier);
        self
    }

    /// Estimates costs with `prices`.
    pub fn with_prices(mut self, prices: Prices) -> Self {
        self.prices = prices;
        self
    }

    /// Assumes `percent` of an `email_first` second wave's recipients open their email's
    /// link in time, in previews (instead of what past campaigns measured).
    pub fn with_open_rate(mut self, percent: Option<u32>) -> Self {
        self.open_rate_percent = percent;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Stores patients, all or none.
    pub async fn import_patients(&self, patients: &[Patient]) -> Result<u64> {
        let n = self.store.insert_patients(patients).await?;
        tracing::info!(count = n, "patients imported");
        Ok(n)
    }

    /// Stores patients, updating those already stored (by NHS number, else external
    /// id) instead of refusing them: all or none. A re-imported record export.
    pub async fn upsert_patients(&self, patients: &[Patient]) -> Result<UpsertCounts> {
        let counts = self.store.upsert_patients(patients).await?;
        tracing::info!(
            inserted = counts.inserted,
            updated = counts.updated,
            "patients imported or updated"
        );
        Ok(counts)
    }

    /// Imports the patients of a CSV file (see [`crate::patient::parse_csv`]): all or
    /// none. When the store refuses them because an external id or NHS number is stored
    /// already, the error names the file's clashing lines and columns, never the stored
    /// record. The ledger's `patient_import` event notes the file's SHA-256.
    pub async fn import_csv(&self, file: &CsvPatients) -> Result<u64> {
        let noted = crate::audit::current()
            .noting(crate::audit::Detail::none().digest("file_sha256", file.sha256()));
        let imported = crate::audit::scope(noted, self.import_patients(file.patients())).await;
        match imported {
            Err(Error::AlreadyExists { .. }) => {
                Err(file.already_stored(&self.store.all_patients().await?))
            }
            other => other,
        }
    }

    /// How many patients `filter` selects today.
    pub async fn count_patients(&self, filter: &AnyFilter) -> Result<u64> {
        self.store.count_patients(filter, self.clock.today()).await
    }

    /// Validates a form, renders its page, publishes it, and stores the form with its
    /// response table. Nothing is stored when any step before the last fails.
    pub async fn create_form(&self, spec: &FormSpec) -> Result<StoredForm> {
        spec.validate()?;
        match self.store.form_by_name(&spec.name).await {
            Ok(_) => {
                return Err(Error::AlreadyExists {
                    what: format!("form {:?}", spec.name),
                })
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let page = render_form_page(&FormPage::new(spec))?;
        let location = self.publisher.publish(&spec.name, &page).await?;
        let form = self
            .store
            .create_form(spec, &location, self.clock.now())
            .await?;
        tracing::info!(form = form.id.0, "form created");
        Ok(form)
    }

    /// Freezes the audience, issues one link per recipient and plans every delivery
    /// (suppressing opted-out patients and missing contacts). Nothing is sent.
    pub async fn create_campaign(&self, request: &CampaignRequest) -> Result<CampaignId> {
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::invalid(
                "campaign name",
                "must be 1 to 200 characters",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        if request.channels.is_empty() || !request.channels.iter().all(|c| seen.insert(*c)) {
            return Err(Error::invalid(
                "channels",
                "name each of sms and email at most once, and at least one",
            ));
        }
        let strategy = Strategy::resolve(request.strategy, &request.channels)?;
        let channels = strategy.channels();
        let second_wave_hours = super::spend::second_wave_hours(strategy, request)?;
        if request.budget.is_some_and(|b| b.0 < 0) {
            return Err(Error::invalid("budget", "must not be negative"));
        }
        if request.link_ttl < Duration::hours(1) || request.link_ttl > Duration::days(366) {
            return Err(Error::invalid(
                "link lifetime",
                "must be between 1 hour and 366 days",
            ));
        }
        let templates = Templates::parse(&request.messages, &channels)?;
        let form = self.store.form(request.form).await?;

        let now = self.clock.now();
        let expires = now + request.link_ttl;
        let started = std::time::Instant::now();
        // Every link has the same length, so a representative link sizes every SMS.
        let sample_link = self
            .signer
            .url(&self.signer.token(&self.signer.issue().nonce));
        let expires_on = human_date(expires);
        let filter = request.filter.describe();
        let mut planner = AudiencePlanner {
            signer: self.signer.as_ref(),
            templates: &templates,
            messages: &request.messages,
            strategy,
            channels: &channels,
            sample_link: &sample_link,
            form_title: &form.spec.title,
            expires_on: &expires_on,
            filter: &filter,
            encoding: EncodingSurprises::new(request.messages.gsm_safe),
            reach: Reach::default(),
            planned: 0,
        };
        let campaign = NewCampaign {
            name: name.to_string(),
            form_id: form.id,
            filter: filter.clone(),
            channels: channels.clone(),
            messages: request.messages.clone(),
            link_expires_at: expires,
            created_at: now,
            strategy,
            budget: request.budget,
            second_wave_hours,
        };
        let audience = Audience {
            filter: request.filter.clone(),
            today: now.date_naive(),
        };
        let id = self
            .store
            .create_campaign(&campaign, &audience, &mut planner)
            .await?;
        tracing::info!(
            campaign = id.0,
            recipients = planner.planned,
            elapsed = ?started.elapsed(),
            "campaign created"
        );
        Ok(id)
    }

    /// The preview of DESIGN.md §2 step 4: the form, counts per channel, suppressions,
    /// a sample message with its segments, and the cost of what is left to send.
    pub async fn preview(&self, id: CampaignId) -> Result<Preview> {
        let status = self.status(id).await?;
        let campaign = status.campaign;
        let form = self.store.form(campaign.form_id).await?;
        let templates = Templates::parse(&campaign.messages, &campaign.channels)?;
        let placeholder = SecretString::from("X".repeat(crate::link::TOKEN_BYTES * 4 / 3 + 1));
        let link = self.signer.url(&placeholder);
        let expires_on = human_date(campaign.link_expires_at);
        let values = MessageValues {
            link: &link,
            org: &campaign.messages.org,
            given_name: "Sam",
            form_title: &form.spec.title,
            expires_on: &expires_on,
        };
        let sample_sms = templates.sms.render(&values);
        let sample_reminder_sms = Templates::for_round(&campaign.messages, &campaign.channels, 1)?
            .sms
            .render(&values);
        let to_send = |s: &ChannelSummary| s.pending + s.sending;
        let email = status
            .channels
            .iter()
            .find(|s| s.channel == Some(Channel::Email));
        let sms_segments_to_send = status
            .counts
            .iter()
            .filter(|c| {
                c.channel == Channel::Sms
                    && matches!(
                        c.status,
                        super::DeliveryStatus::Pending | super::DeliveryStatus::Sending
                    )
            })
            .map(|c| c.segments)
            .sum();
        let emails_to_send = email.map_or(0, to_send);
        let cost_comparison = self.cost_comparison(&campaign).await?;
        Ok(Preview {
            cost_comparison,
            sample_sms_segments: sms_segments(&sample_sms),
            sample_sms,
            sample_email_subject: templates.subject.render(&values),
            sample_email_text: templates.text.render(&values),
            sms_segments_to_send,
            emails_to_send,
            estimated_cost: self.prices.estimate(sms_segments_to_send, emails_to_send),
            prices: self.prices,
            encoding: campaign
                .messages
                .sms_encoding
                .map(|e| e.priced(&self.prices)),
            sample_reminder_sms,
            recipients: status.recipients,
            channels: status.channels,
            campaign,
            form,
        })
    }

    /// Where a campaign stands: its state and the first round's counts per channel.
    pub async fn status(&self, id: CampaignId) -> Result<CampaignStatus> {
        let campaign = self.store.campaign(id).await?;
        let counts = self.store.delivery_counts(id).await?;
        let recipients = self.store.recipient_count(id).await?;
        let recorded = self.store.recorded_spend(id).await?;
        Ok(CampaignStatus {
            spend: super::spend::round_spend(&campaign, &counts, &recorded, &self.prices),
            channels: ChannelSummary::from_counts(&campaign, &counts, 0),
            campaign,
            recipients,
            counts,
        })
    }
}
