//! Encoding surprises: what substituted values cost in SMS segments.
//!
//! The fixed text of an SMS template is seen (and priced) by the operator who wrote it;
//! the values substituted into it are not. One `’` in a patient's name or in the
//! organisation's name switches that message to UCS-2 and typically doubles or triples
//! its segments. [`SmsCost`] prices one message three ways — as the values are, with the
//! values transliterated ([`gsm7_transliterate`]), and with every value character outside
//! the GSM-7 basic alphabet counted as one plain character — and [`EncodingSurprises`]
//! adds them up over a campaign, so the preview can say how many messages a value pushed
//! into UCS-2 or an extra segment, what that costs, and what `gsm_safe` saves.

use super::gsm7::{gsm7_transliterate, is_gsm7_basic};
use super::{
    sms_segments, MessageTemplate, MessageValues, Money, Prices, SmsEncoding, SmsSegments,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use unicode_segmentation::UnicodeSegmentation;

/// One SMS priced three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsCost {
    /// The message as it will be sent (values transliterated if the template is
    /// GSM-safe).
    pub sent: SmsSegments,
    /// With the values as they are.
    pub raw: SmsSegments,
    /// With the values transliterated to GSM-7 where faithful.
    pub transliterated: SmsSegments,
    /// With every user-perceived character of a value that is not all GSM-7 basic
    /// alphabet counted as one plain character: what the message would cost if its
    /// values held no encoding surprise.
    pub plain: SmsSegments,
}

/// `value` with every grapheme cluster not made only of GSM-7 basic characters replaced
/// by one `?`.
fn plain(value: &str) -> Cow<'_, str> {
    if value.chars().all(is_gsm7_basic) {
        return Cow::Borrowed(value);
    }
    Cow::Owned(
        value
            .graphemes(true)
            .map(|g| if g.chars().all(is_gsm7_basic) { g } else { "?" })
            .collect(),
    )
}

impl MessageTemplate {
    /// Prices the SMS this template renders with `values` (see [`SmsCost`]).
    pub fn sms_cost(&self, values: &MessageValues<'_>) -> SmsCost {
        let raw = sms_segments(&self.render_mapped(values, Cow::Borrowed));
        if !self.values_outside(values, is_gsm7_basic) {
            return SmsCost {
                sent: raw,
                raw,
                transliterated: raw,
                plain: raw,
            };
        }
        let transliterated = sms_segments(&self.render_mapped(values, gsm7_transliterate));
        let plain = sms_segments(&self.render_mapped(values, plain));
        SmsCost {
            sent: if self.is_gsm_safe() {
                transliterated
            } else {
                raw
            },
            raw,
            transliterated,
            plain,
        }
    }
}

/// Encoding surprises over a set of SMS messages (a campaign's first round).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncodingSurprises {
    /// Whether values are transliterated (the campaign's `gsm_safe` setting).
    pub gsm_safe: bool,
    /// SMS messages counted.
    pub messages: u64,
    /// Messages sent in UCS-2 only because of a substituted value.
    pub ucs2_by_value: u64,
    /// Messages billed more segments than they would be without an encoding surprise in
    /// their values.
    pub extra_segment_messages: u64,
    /// The extra segments those messages are billed.
    pub extra_segments: u64,
    /// Messages that transliteration turns (with `gsm_safe`) or would turn (without) from
    /// UCS-2 into GSM-7.
    pub gsm_safe_gsm7_messages: u64,
    /// Segments transliteration saves (with `gsm_safe`) or would save (without).
    pub gsm_safe_segments: u64,
}

impl EncodingSurprises {
    /// No messages yet, for a campaign with or without `gsm_safe`.
    pub fn new(gsm_safe: bool) -> Self {
        EncodingSurprises {
            gsm_safe,
            ..Default::default()
        }
    }

    /// Counts one message.
    pub fn add(&mut self, cost: &SmsCost) {
        self.messages += 1;
        if cost.sent.encoding == SmsEncoding::Ucs2 && cost.plain.encoding == SmsEncoding::Gsm7 {
            self.ucs2_by_value += 1;
        }
        let extra = cost.sent.segments.saturating_sub(cost.plain.segments);
        if extra > 0 {
            self.extra_segment_messages += 1;
            self.extra_segments += extra as u64;
        }
        if cost.raw.encoding == SmsEncoding::Ucs2
            && cost.transliterated.encoding == SmsEncoding::Gsm7
        {
            self.gsm_safe_gsm7_messages += 1;
        }
        self.gsm_safe_segments += cost
            .raw
            .segments
            .saturating_sub(cost.transliterated.segments) as u64;
    }

    /// These counts with their cost at `prices`.
    pub fn priced(self, prices: &Prices) -> EncodingReport {
        EncodingReport {
            counts: self,
            extra_cost: prices.estimate(self.extra_segments, 0),
            gsm_safe_saving: prices.estimate(self.gsm_safe_segments, 0),
        }
    }
}

/// Encoding surprises with what they cost: what the preview shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EncodingReport {
    /// The counts.
    #[serde(flatten)]
    pub counts: EncodingSurprises,
    /// What the extra segments cost.
    pub extra_cost: Money,
    /// What `gsm_safe` saves (when on) or would save (when off).
    pub gsm_safe_saving: Money,
}

#[cfg(test)]
mod tests {
    use super::super::TemplateKind;
    use super::*;

    const SMS: &str = "{org}: hello {given_name}, please register for your vaccination at {link} \
                       before {expires_on}. Reply STOP to opt out";

    fn values(given_name: &str) -> MessageValues<'_> {
        MessageValues {
            link: "https://forms.example.org/f/AAAAAAAAAAAAAAAAAAAAAA",
            org: "MediCARE",
            given_name,
            form_title: "Flu",
            expires_on: "1 May 2027",
        }
    }

    fn template(gsm_safe: bool) -> MessageTemplate {
        MessageTemplate::parse(SMS, TemplateKind::Text, "SMS template")
            .unwrap()
            .gsm_safe(gsm_safe)
    }

    #[test]
    fn a_plain_name_is_no_surprise() {
        let cost = template(false).sms_cost(&values("Renée"));
        assert_eq!(cost.sent, cost.plain);
        assert_eq!(
            (cost.sent.encoding, cost.sent.segments),
            (SmsEncoding::Gsm7, 1)
        );
    }

    #[test]
    fn a_curly_apostrophe_costs_segments_and_gsm_safe_saves_them() {
        let cost = template(false).sms_cost(&values("Siân O’Neil"));
        // "â" is not GSM-7 either: the name keeps the message UCS-2 even transliterated.
        assert_eq!(cost.raw.encoding, SmsEncoding::Ucs2);
        assert_eq!(cost.transliterated, cost.raw);

        let cost = template(false).sms_cost(&values("Sean O’Neil"));
        assert_eq!(
            (cost.raw.encoding, cost.raw.segments),
            (SmsEncoding::Ucs2, 3)
        );
        assert_eq!(
            (cost.transliterated.encoding, cost.transliterated.segments),
            (SmsEncoding::Gsm7, 1)
        );
        assert_eq!(cost.plain, cost.transliterated);
        assert_eq!(cost.sent, cost.raw);
        assert_eq!(
            template(true)
                .sms_cost(&values("Sean O’Neil"))
                .sent
                .segments,
            1
        );
    }

    #[test]
    fn surprises_add_up_with_and_without_gsm_safe() {
        let names = ["Sam", "Sean O’Neil", "Łukasz", "Dŵr", "Ann–Marie"];
        for gsm_safe in [false, true] {
            let t = template(gsm_safe);
            let mut s = EncodingSurprises::new(gsm_safe);
            for name in names {
                s.add(&t.sms_cost(&values(name)));
            }
            assert_eq!(s.messages, 5);
            assert_eq!(s.gsm_safe_gsm7_messages, 2, "O’Neil and Ann–Marie");
            assert_eq!(s.gsm_safe_segments, 4);
            if gsm_safe {
                assert_eq!((s.ucs2_by_value, s.extra_segment_messages), (2, 2));
                assert_eq!(s.extra_segments, 4);
            } else {
                assert_eq!((s.ucs2_by_value, s.extra_segment_messages), (4, 4));
                assert_eq!(s.extra_segments, 8);
            }
            let report = s.priced(&Prices::default());
            assert_eq!(report.gsm_safe_saving, Prices::default().estimate(4, 0));
        }
    }

    #[test]
    fn a_ucs2_template_is_not_blamed_on_its_values() {
        let t = MessageTemplate::parse("☎ {given_name} {link}", TemplateKind::Text, "t").unwrap();
        let mut s = EncodingSurprises::new(false);
        s.add(&t.sms_cost(&values("Sean O’Neil")));
        assert_eq!(
            (s.ucs2_by_value, s.extra_segments, s.gsm_safe_segments),
            (0, 0, 0)
        );
    }
}
