//! What messages cost and say, from campaign creation to send: a name that pushes its SMS
//! into UCS-2 is counted by the preview, `gsm_safe` turns it back into GSM-7 without
//! touching the fixed text or the link, the preview's segments are the segments sent, and
//! reminders have texts of their own.

mod common;

use chrono::{TimeZone, Utc};
use common::{recorder, Harness, BASE_URL};
use medicare_core::campaign::{
    CampaignId, CampaignRequest, Engine, FormId, MessageTexts, Preview, ReminderPolicy,
    SendOptions, MAX_REMINDERS,
};
use medicare_core::clock::FixedClock;
use medicare_core::filter::Filter;
use medicare_core::notify::{sms_segments, Channel, OutboundMessage, RecordingNotifier};
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use std::sync::Arc;

/// An SMS with the patient's name in it: one GSM-7 segment for a short plain name.
const NAMED_SMS: &str =
    "Hello {given_name}, {org} invites you to register for your vaccination: {link} Reply STOP to opt out";

/// Names pushing the SMS into UCS-2: two with a faithful GSM-7 equivalent, one without.
const NAMES: [&str; 3] = ["D’Arcy", "Ann–Marie", "Łucja"];

/// The engine over `h`'s store with a clock the test moves, sending both channels to a
/// recorder.
fn engine(h: &Harness) -> (Engine, Arc<FixedClock>, Arc<RecordingNotifier>) {
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap(),
    ));
    let sent = recorder();
    let engine = Engine::new(
        Arc::new(h.store.clone()),
        Arc::new(LocalFolderPublisher::new(h.dir.path().join("forms"))),
        h.signer.clone(),
        clock.clone(),
    )
    .with_notifier(Channel::Sms, sent.clone())
    .with_notifier(Channel::Email, sent.clone());
    (engine, clock, sent)
}

/// 40 patients; the first three who can get an SMS are given [`NAMES`].
async fn populate_with_names(engine: &Engine) {
    let mut patients = generate(GenerateOptions { count: 40, seed: 3 });
    let reachable = patients
        .iter_mut()
        .filter(|p| p.phone.is_some() && !p.sms_opt_out);
    for (patient, name) in reachable.zip(NAMES) {
        patient.given_name = name.to_string();
    }
    engine.import_patients(&patients).await.unwrap();
}

/// `count` generated patients, the demo form, and an audience of those with a phone.
async fn form_and_audience(h: &Harness, engine: &Engine, count: usize) -> (FormId, Arc<Filter>) {
    engine
        .import_patients(&generate(GenerateOptions { count, seed: 4 }))
        .await
        .unwrap();
    (
        h.demo_form().await,
        Arc::new(Filter::parse("has_phone").unwrap()),
    )
}

async fn sms_campaign(engine: &Engine, form: FormId, gsm_safe: bool) -> (CampaignId, Preview) {
    let mut request = CampaignRequest::new(
        format!("named, gsm_safe {gsm_safe}"),
        form,
        Arc::new(Filter::parse("has_phone").unwrap()),
    );
    request.channels = vec![Channel::Sms];
    request.messages.sms = NAMED_SMS.to_string();
    request.messages.gsm_safe = gsm_safe;
    let id = engine.create_campaign(&request).await.unwrap();
    (id, engine.preview(id).await.unwrap())
}

fn sms_to(sent: &[OutboundMessage], campaign: CampaignId, name: &str) -> Vec<String> {
    sent.iter()
        .filter(|m| m.campaign_id == campaign.0 && m.text.starts_with(&format!("Hello {name},")))
        .map(|m| m.text.clone())
        .collect()
}

#[tokio::test]
async fn gsm_safe_turns_a_name_s_ucs2_sms_into_gsm7_and_the_preview_says_so() {
    let h = Harness::new().await;
    let (engine, _clock, recorder) = engine(&h);
    populate_with_names(&engine).await;
    let form = h.demo_form().await;

    let (plain_id, plain) = sms_campaign(&engine, form, false).await;
    let report = plain.encoding.expect("counted at creation");
    assert!(!report.counts.gsm_safe);
    assert_eq!(report.counts.messages, plain.channels[0].pending);
    assert_eq!(report.counts.ucs2_by_value, 3, "{report:?}");
    assert_eq!(report.counts.extra_segment_messages, 3, "{report:?}");
    assert_eq!(report.counts.gsm_safe_gsm7_messages, 2, "{report:?}");
    assert!(report.counts.gsm_safe_segments >= 2, "{report:?}");
    assert_eq!(
        report.extra_cost,
        plain.prices.estimate(report.counts.extra_segments, 0)
    );
    assert_eq!(
        report.gsm_safe_saving,
        plain.prices.estimate(report.counts.gsm_safe_segments, 0)
    );

    let (safe_id, safe) = sms_campaign(&engine, form, true).await;
    let saved = safe.encoding.expect("counted at creation");
    assert!(saved.counts.gsm_safe);
    assert_eq!(saved.counts.ucs2_by_value, 1, "only Łucja: {saved:?}");
    assert_eq!(saved.counts.gsm_safe_gsm7_messages, 2);
    assert_eq!(
        saved.counts.gsm_safe_segments,
        report.counts.gsm_safe_segments
    );
    assert_eq!(
        safe.sms_segments_to_send + saved.counts.gsm_safe_segments,
        plain.sms_segments_to_send,
        "the saving is the difference between the two estimates"
    );
    assert_eq!(
        plain.estimated_cost.0 - safe.estimated_cost.0,
        saved.gsm_safe_saving.0
    );

    for id in [plain_id, safe_id] {
        engine.send(id, &SendOptions::default(), &()).await.unwrap();
    }
    let sent = recorder.sent();
    // What the preview estimated is what was sent, segment for segment.
    for (id, preview) in [(plain_id, &plain), (safe_id, &safe)] {
        let segments: usize = sent
            .iter()
            .filter(|m| m.campaign_id == id.0)
            .map(|m| sms_segments(&m.text).segments)
            .sum();
        assert_eq!(segments as u64, preview.sms_segments_to_send);
    }
    // Without gsm_safe the names are sent as written; with it, only the value changes.
    assert_eq!(sms_to(&sent, plain_id, "D’Arcy").len(), 1);
    let darcy = sms_to(&sent, safe_id, "D'Arcy");
    let annmarie = sms_to(&sent, safe_id, "Ann-Marie");
    assert_eq!((darcy.len(), annmarie.len()), (1, 1));
    assert!(sms_to(&sent, safe_id, "D’Arcy").is_empty());
    for text in darcy.iter().chain(&annmarie) {
        assert_eq!(sms_segments(text).segments, 1, "{text}");
        let link_at = text.find(BASE_URL).expect("the link");
        let link = text[link_at..].split(' ').next().unwrap();
        assert!(link.starts_with(&format!("{BASE_URL}/f/")) && link.len() > 30);
        assert!(text.ends_with(" Reply STOP to opt out"));
        assert!(text.contains(", MediCARE invites you to register for your vaccination: "));
    }
    // A letter with no faithful equivalent is never respelt.
    assert_eq!(sms_to(&sent, safe_id, "Łucja").len(), 1);
}

#[tokio::test]
async fn reminders_say_they_are_reminders_with_texts_per_round() {
    let h = Harness::new().await;
    let (engine, clock, recorder) = engine(&h);
    let (form, audience) = form_and_audience(&h, &engine, 30).await;

    // Default texts: the first send invites, the reminder says it is one.
    let id = engine
        .create_campaign(&CampaignRequest::new("defaults", form, audience.clone()))
        .await
        .unwrap();
    let preview = engine.preview(id).await.unwrap();
    assert!(preview.sample_reminder_sms.contains("reminder"));
    assert!(!preview.sample_sms.contains("reminder"));
    let (invitation, reminder) = (
        sms_segments(&preview.sample_sms),
        sms_segments(&preview.sample_reminder_sms),
    );
    assert!(
        reminder.units <= invitation.units,
        "no longer than the invitation"
    );
    assert_eq!(
        (reminder.encoding, reminder.segments),
        (invitation.encoding, 1)
    );

    // Own texts for rounds 1 and 2; round 3 reuses round 2's.
    let mut request = CampaignRequest::new("own texts", form, audience.clone());
    let round = |n: &str| MessageTexts {
        sms: format!("{{org}} reminder {n}: {{link}}"),
        email_subject: format!("Reminder {n}: {{form_title}}"),
        ..MessageTexts::reminder()
    };
    request.messages.reminders = vec![round("one"), round("two")];
    let own = engine.create_campaign(&request).await.unwrap();

    let policy = ReminderPolicy {
        max_reminders: 3,
        ..ReminderPolicy::default()
    };
    for id in [id, own] {
        engine.send(id, &SendOptions::default(), &()).await.unwrap();
    }
    for _ in 1..=3 {
        clock.advance(policy.min_gap + chrono::Duration::hours(1));
        for id in [id, own] {
            engine
                .remind(id, &policy, &SendOptions::default(), &())
                .await
                .unwrap();
        }
    }
    let sent = recorder.sent();
    let texts = |id: CampaignId, round: i32, channel: Channel| -> Vec<&OutboundMessage> {
        sent.iter()
            .filter(|m| m.campaign_id == id.0 && m.round == round && m.channel == channel)
            .collect()
    };
    for round in 0..=3 {
        let sms = texts(id, round, Channel::Sms);
        let email = texts(id, round, Channel::Email);
        assert!(!sms.is_empty() && !email.is_empty(), "round {round}");
        for m in sms {
            assert_eq!(m.text.contains("reminder"), round > 0, "{}", m.text);
        }
        for m in email {
            let subject = m.subject.as_deref().unwrap();
            assert_eq!(subject.starts_with("Reminder: "), round > 0, "{subject}");
            assert_eq!(m.text.contains("This is a reminder"), round > 0);
        }
    }
    for (round, word) in [(1, "one"), (2, "two"), (3, "two")] {
        for m in texts(own, round, Channel::Sms) {
            assert!(
                m.text
                    .starts_with(&format!("MediCARE reminder {word}: {BASE_URL}/f/")),
                "{}",
                m.text
            );
        }
        for m in texts(own, round, Channel::Email) {
            assert!(m
                .subject
                .as_deref()
                .unwrap()
                .starts_with(&format!("Reminder {word}: ")));
        }
    }
}

#[tokio::test]
async fn a_bad_reminder_text_is_refused_at_creation_naming_its_round() {
    let h = Harness::new().await;
    let (engine, _clock, _recorder) = engine(&h);
    let (form, audience) = form_and_audience(&h, &engine, 10).await;
    let before = h.fingerprint().await;

    let mut request = CampaignRequest::new("bad", form, audience.clone());
    request.messages.reminders = vec![
        MessageTexts::reminder(),
        MessageTexts {
            sms: "{org}: no link here".to_string(),
            ..MessageTexts::reminder()
        },
    ];
    let err = engine.create_campaign(&request).await.unwrap_err();
    assert!(
        err.to_string().contains("reminder 2 SMS template") && err.to_string().contains("{link}"),
        "{err}"
    );
    request.messages.reminders = vec![MessageTexts {
        email_subject: "{name}".to_string(),
        ..MessageTexts::reminder()
    }];
    let err = engine.create_campaign(&request).await.unwrap_err();
    assert!(
        err.to_string().contains("reminder 1 email subject"),
        "{err}"
    );
    request.messages.reminders = vec![MessageTexts::reminder(); MAX_REMINDERS as usize + 1];
    let err = engine.create_campaign(&request).await.unwrap_err();
    assert!(err.to_string().contains("reminder texts"), "{err}");
    assert_eq!(h.fingerprint().await, before, "nothing stored");
}
