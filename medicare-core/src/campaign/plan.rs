//! Planning a campaign's recipients, page by page: a link each, one delivery per
//! channel (suppressed with a reason, or pending with its SMS segments), and the counts
//! the campaign row keeps of the whole audience (reach, SMS encoding surprises).

use super::engine::Templates;
use super::{
    AudienceTotals, CampaignMessages, NewRecipient, PatientContact, PlannedDelivery, Reach,
    RecipientPlanner, Strategy, SuppressReason,
};
use crate::error::{Error, Result};
use crate::link::LinkSigner;
use crate::notify::{Channel, EncodingSurprises, MessageValues};

/// Plans the recipients of one campaign being created.
pub(super) struct AudiencePlanner<'a> {
    /// Issues each recipient's link.
    pub signer: &'a dyn LinkSigner,
    /// The first round's templates (the SMS one prices each message).
    pub templates: &'a Templates,
    /// The campaign's messages as requested.
    pub messages: &'a CampaignMessages,
    /// The channels and when each goes.
    pub strategy: Strategy,
    /// `strategy.channels()`.
    pub channels: &'a [Channel],
    /// A link of the length every link has, to size each SMS.
    pub sample_link: &'a str,
    /// The form's title, as messages name it.
    pub form_title: &'a str,
    /// The links' expiry, as messages give it.
    pub expires_on: &'a str,
    /// The filter's source, for the error of an empty audience.
    pub filter: &'a str,
    /// SMS encoding surprises over every recipient sent an SMS.
    pub encoding: EncodingSurprises,
    /// Who each channel reaches.
    pub reach: Reach,
    /// Recipients planned so far.
    pub planned: u64,
}

impl AudiencePlanner<'_> {
    /// One patient's recipient.
    fn recipient(&mut self, c: PatientContact) -> NewRecipient {
        // Every reachable phone is priced, whatever the strategy, so that the preview
        // can compare strategies.
        let sms_segments = (c.phone.is_some() && !c.sms_opt_out).then(|| {
            let values = MessageValues {
                link: self.sample_link,
                org: &self.messages.org,
                given_name: &c.given_name,
                form_title: self.form_title,
                expires_on: self.expires_on,
            };
            let cost = self.templates.sms.sms_cost(&values);
            if self.channels.contains(&Channel::Sms) {
                self.encoding.add(&cost);
            }
            cost.sent.segments as u32
        });
        let usable_email = c.email.is_some() && !c.email_opt_out;
        self.reach.count(usable_email, sms_segments);
        let deliveries = self
            .channels
            .iter()
            .map(|&channel| {
                let round = match (self.strategy, channel) {
                    (Strategy::EmailFirst, Channel::Sms) if usable_email => {
                        super::SECOND_WAVE_ROUND
                    }
                    _ => 0,
                };
                plan_delivery(channel, &c, round, sms_segments.unwrap_or(0))
            })
            .collect();
        NewRecipient {
            patient_id: c.id,
            link: self.signer.issue(),
            given_name: c.given_name,
            phone: c.phone,
            email: c.email,
            deliveries,
        }
    }
}

impl RecipientPlanner for AudiencePlanner<'_> {
    fn plan(&mut self, page: Vec<PatientContact>) -> Result<Vec<NewRecipient>> {
        self.planned += page.len() as u64;
        Ok(page.into_iter().map(|c| self.recipient(c)).collect())
    }

    fn finish(&mut self) -> Result<AudienceTotals> {
        if self.planned == 0 {
            return Err(Error::invalid(
                "filter",
                format!("`{}` selects no patient", self.filter),
            ));
        }
        Ok(AudienceTotals {
            messages: CampaignMessages {
                sms_encoding: Some(self.encoding),
                ..self.messages.clone()
            },
            reach: self.reach,
            recipients: self.planned,
        })
    }
}

/// Plans one delivery of `round`: suppressed with a reason, or pending with its SMS
/// segments.
fn plan_delivery(
    channel: Channel,
    c: &PatientContact,
    round: i32,
    sms_segments: u32,
) -> PlannedDelivery {
    let (opted_out, missing, reason) = match channel {
        Channel::Sms => (c.sms_opt_out, c.phone.is_none(), SuppressReason::NoPhone),
        Channel::Email => (c.email_opt_out, c.email.is_none(), SuppressReason::NoEmail),
    };
    let suppressed = if opted_out {
        Some(SuppressReason::OptedOut)
    } else if missing {
        Some(reason)
    } else {
        None
    };
    let segments = if channel == Channel::Sms && suppressed.is_none() {
        sms_segments
    } else {
        0
    };
    PlannedDelivery {
        channel,
        suppressed,
        segments,
        round,
    }
}
