//! A behaviour suite every [`Store`] implementation must pass.
//!
//! Each function takes a fresh, empty store and panics on a violation; a backend's
//! tests call them all (see the SQLite tests). They use only the traits, so they hold any
//! backend to the same contract.

use super::{
    Audience, DeliveryCost, LinkOpen, NonResponseReason, Store, StoredForm, SubmitOutcome,
    AUDIENCE_PAGE,
};
use crate::campaign::{
    AudienceTotals, CampaignId, CampaignMessages, CampaignState, DeliveryOutcome, DeliveryStatus,
    FormId, NewCampaign, NewRecipient, PatientContact, PlannedDelivery, RecipientPlanner,
    SuppressReason,
};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::link::{IssuedLink, LinkNonce, TokenHash};
use crate::notify::{Channel, Money};
use crate::patient::{generate, GenerateOptions, Patient, PatientId};
use chrono::{NaiveDate, TimeZone, Utc};
use std::collections::BTreeSet;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).expect("valid date")
}

fn population(count: usize, seed: u64) -> Vec<Patient> {
    generate(GenerateOptions { count, seed })
}

/// The form every conformance check uses.
pub fn sample_form() -> FormSpec {
    FormSpec::from_toml_str(
        r#"
        name = "conformance"
        title = "Conformance form"
        [[fields]]
        name = "attending"
        label = "Will you attend?"
        type = "yes_no"
        required = true
        [[fields]]
        name = "notes"
        label = "Notes"
        type = "long_text"
        max_length = 500
        "#,
    )
    .expect("the sample form is valid")
}

/// Import is all-or-nothing, and what is stored reads back the same.
pub async fn patients_round_trip_and_import_is_atomic(store: &dyn Store) {
    let patients = population(500, 1);
    assert_eq!(store.insert_patients(&patients).await.unwrap(), 500);
    let stored: Vec<Patient> = store
        .all_patients()
        .await
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    assert_eq!(stored, patients);

    // A batch clashing with a stored patient stores nothing, not even its new rows.
    // (Generated external ids restart at P0000001 for every seed: rename them.)
    let mut clash = population(600, 2);
    for (i, p) in clash.iter_mut().enumerate() {
        p.external_id = format!("fresh-{i}");
    }
    clash[599] = patients[10].clone();
    let err = store.insert_patients(&clash).await.unwrap_err();
    assert!(matches!(err, crate::Error::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains("nothing was imported"), "{err}");
    assert_eq!(store.all_patients().await.unwrap().len(), 500);
}

/// Counting and matching agree with the in-memory evaluation of the filter.
pub async fn filters_select_the_same_patients_as_in_memory(store: &dyn Store) {
    let patients = population(2_000, 3);
    store.insert_patients(&patients).await.unwrap();
    let stored = store.all_patients().await.unwrap();
    // The largest filter the parser accepts, as deep as it allows: every backend runs it
    // (a longer `or` chain once reached SQLite, which refused it).
    let ages: Vec<String> = (1..crate::filter::MAX_CONDITIONS)
        .map(|i| format!("age = {}", 20 + i % 60))
        .collect();
    let half_depth = crate::filter::MAX_DEPTH / 2;
    let largest = format!(
        "{}{} or has_email{}",
        "not (".repeat(half_depth),
        ages.join(" or "),
        ")".repeat(half_depth)
    );
    for source in [
        "all",
        r#"condition in ("asthma", "copd") and age >= 65"#,
        r#"not has_phone or sms_opt_out"#,
        r#"postcode starts_with "SW1" or (sex = "female" and age < 30)"#,
        &largest,
    ] {
        let filter = Filter::parse(source).unwrap();
        let expected: Vec<PatientId> = stored
            .iter()
            .filter(|(_, p)| filter.matches(p, today()))
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(
            store.count_patients(&filter, today()).await.unwrap(),
            expected.len() as u64,
            "{source}"
        );
        let got: Vec<PatientId> = store
            .matching_contacts(&filter, today())
            .await
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, expected, "{source}");
    }
}

/// Forms are stored with their response table; names are unique.
pub async fn forms_are_stored_once(store: &dyn Store) {
    let spec = sample_form();
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let form = store
        .create_form(&spec, "forms/conformance.html", now)
        .await
        .unwrap();
    assert_eq!(form.spec, spec);
    assert_eq!(store.form(form.id).await.unwrap(), form);
    assert_eq!(store.form_by_name("conformance").await.unwrap().id, form.id);
    let again = store.create_form(&spec, "x", now).await.unwrap_err();
    assert!(
        matches!(again, crate::Error::AlreadyExists { .. }),
        "{again}"
    );
    assert_eq!(store.forms().await.unwrap().len(), 1);
    assert!(matches!(
        store.form(FormId(999)).await,
        Err(crate::Error::NotFound { .. })
    ));
}

/// A distinct link for recipient number `i`.
fn link(i: usize) -> IssuedLink {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let mut hash = [0xA5u8; 32];
    hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
    IssuedLink {
        nonce: LinkNonce(nonce),
        token_hash: TokenHash(hash),
    }
}

/// A draft campaign over `count` generated patients: SMS for all, email suppressed for
/// every tenth; returns it with its form and recipients.
async fn sample_campaign(
    store: &dyn Store,
    count: usize,
) -> (CampaignId, StoredForm, Vec<NewRecipient>) {
    let patients = population(count, 4);
    store.insert_patients(&patients).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let form = store.create_form(&sample_form(), "x", now).await.unwrap();
    let (campaign, audience) = every_patient(&form, now);
    let mut planner = SamplePlanner::default();
    let id = store
        .create_campaign(&campaign, &audience, &mut planner)
        .await
        .unwrap();
    (id, form, planner.recipients)
}

/// A campaign over every patient by SMS and email, created `now`.
fn every_patient(form: &StoredForm, now: chrono::DateTime<Utc>) -> (NewCampaign, Audience) {
    let campaign = NewCampaign {
        name: "conformance".into(),
        form_id: form.id,
        filter: "all".into(),
        channels: vec![Channel::Sms, Channel::Email],
        messages: CampaignMessages::default(),
        link_expires_at: now + chrono::Duration::days(30),
        created_at: now,
        strategy: crate::campaign::Strategy::Both,
        budget: None,
        second_wave_hours: None,
    };
    let audience = Audience {
        filter: std::sync::Arc::new(Filter::all()),
        today: today(),
    };
    (campaign, audience)
}

/// Plans SMS for every patient and email for all but every tenth (suppressed as opted
/// out), and keeps what it planned.
#[derive(Default)]
struct SamplePlanner {
    recipients: Vec<NewRecipient>,
    pages: usize,
}

impl RecipientPlanner for SamplePlanner {
    fn plan(&mut self, page: Vec<PatientContact>) -> crate::Result<Vec<NewRecipient>> {
        self.pages += 1;
        let start = self.recipients.len();
        let planned: Vec<NewRecipient> = page
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let i = start + i;
                NewRecipient {
                    patient_id: c.id,
                    given_name: c.given_name,
                    phone: c.phone,
                    email: c.email,
                    link: link(i),
                    deliveries: vec![
                        PlannedDelivery {
                            channel: Channel::Sms,
                            suppressed: None,
                            segments: 1,
                            round: 0,
                        },
                        PlannedDelivery {
                            channel: Channel::Email,
                            suppressed: i.is_multiple_of(10).then_some(SuppressReason::OptedOut),
                            segments: 0,
                            round: 0,
                        },
                    ],
                }
            })
            .collect();
        self.recipients.extend(planned.iter().cloned());
        Ok(planned)
    }

    fn finish(&mut self) -> crate::Result<AudienceTotals> {
        Ok(AudienceTotals {
            messages: CampaignMessages::default(),
            reach: Default::default(),
            recipients: self.recipients.len() as u64,
        })
    }
}

/// A campaign over more than one page of the audience freezes every selected patient
/// exactly once, in id order, with their deliveries; the planner's totals land on the
/// campaign row; and a planner that fails at the end (an empty audience), or a row the
/// database refuses halfway through a page (a link's token hash issued twice), leaves
/// nothing stored at all.
pub async fn campaigns_are_created_page_by_page_or_not_at_all(store: &dyn Store) {
    let count = AUDIENCE_PAGE + 37;
    let patients = population(count, 5);
    store.insert_patients(&patients).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let form = store.create_form(&sample_form(), "x", now).await.unwrap();
    let (campaign, audience) = every_patient(&form, now);

    /// Refuses the audience once every page is planned.
    struct Refusing(SamplePlanner);
    impl RecipientPlanner for Refusing {
        fn plan(&mut self, page: Vec<PatientContact>) -> crate::Result<Vec<NewRecipient>> {
            self.0.plan(page)
        }
        fn finish(&mut self) -> crate::Result<AudienceTotals> {
            Err(crate::Error::invalid("filter", "refused for the test"))
        }
    }
    let before = store.campaigns().await.unwrap().len();
    let mut refusing = Refusing(SamplePlanner::default());
    let refused = store
        .create_campaign(&campaign, &audience, &mut refusing)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("refused for the test"),
        "{refused}"
    );
    assert_eq!(
        refusing.0.pages, 2,
        "both pages were written before the refusal"
    );
    assert_eq!(
        store.campaigns().await.unwrap().len(),
        before,
        "no campaign row is left"
    );

    /// Gives a recipient in the middle of the second page the first recipient's link.
    struct Colliding(SamplePlanner);
    impl RecipientPlanner for Colliding {
        fn plan(&mut self, page: Vec<PatientContact>) -> crate::Result<Vec<NewRecipient>> {
            let mut planned = self.0.plan(page)?;
            if self.0.pages == 2 {
                let middle = planned.len() / 2;
                planned[middle].link.token_hash = self.0.recipients[0].link.token_hash;
            }
            Ok(planned)
        }
        fn finish(&mut self) -> crate::Result<AudienceTotals> {
            self.0.finish()
        }
    }
    let mut colliding = Colliding(SamplePlanner::default());
    store
        .create_campaign(&campaign, &audience, &mut colliding)
        .await
        .expect_err("a token hash issued twice is refused");
    assert_eq!(
        store.campaigns().await.unwrap().len(),
        before,
        "a refused row leaves no campaign row"
    );

    let mut planner = SamplePlanner::default();
    let id = store
        .create_campaign(&campaign, &audience, &mut planner)
        .await
        .unwrap();
    assert_eq!(planner.pages, 2);
    assert_eq!(store.recipient_count(id).await.unwrap(), count as u64);
    let ids: Vec<i64> = planner.recipients.iter().map(|r| r.patient_id.0).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "pages come in id order, without overlap"
    );
    let stored: u64 = store
        .delivery_counts(id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(
        stored,
        2 * count as u64,
        "every recipient has both deliveries"
    );
    // The refused attempts left no recipient behind either: only this campaign's exist.
    assert_eq!(store.campaigns().await.unwrap().len(), before + 1);
}

/// Claims never overlap, outcomes are recorded, in-flight rows are requeued, counts add up.
pub async fn the_delivery_queue_is_exactly_once(store: &dyn Store) {
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let (id, _, _) = sample_campaign(store, 300).await;
    assert_eq!(store.recipient_count(id).await.unwrap(), 300);
    let stored = store.campaign(id).await.unwrap();
    assert_eq!(
        (stored.state, stored.channels.clone()),
        (CampaignState::Draft, vec![Channel::Sms, Channel::Email])
    );
    let pending = |counts: &[crate::campaign::DeliveryCount], channel| -> u64 {
        counts
            .iter()
            .filter(|c| c.channel == channel && c.status == DeliveryStatus::Pending)
            .map(|c| c.count)
            .sum()
    };
    let counts = store.delivery_counts(id).await.unwrap();
    let (sms, email) = (
        pending(&counts, Channel::Sms),
        pending(&counts, Channel::Email),
    );
    assert!(sms > 200 && email > 0);
    assert_eq!(
        store.queued(id, 0).await.unwrap(),
        vec![(Channel::Email, email), (Channel::Sms, sms)],
        "the queue's counts are the pending deliveries'"
    );
    assert_eq!(store.queued(id, 1).await.unwrap(), vec![]);

    let a = store
        .claim_pending(id, Channel::Sms, 0, None, 100, now)
        .await
        .unwrap();
    let b = store
        .claim_pending(id, Channel::Sms, 0, None, 100, now)
        .await
        .unwrap();
    assert_eq!((a.len(), b.len()), (100, 100));
    let ids: BTreeSet<i64> = a.iter().chain(&b).map(|d| d.id).collect();
    assert_eq!(ids.len(), 200, "claims must not overlap");
    assert_eq!(
        store.queued(id, 0).await.unwrap(),
        vec![(Channel::Email, email), (Channel::Sms, sms - 200)],
        "claimed deliveries have left the queue"
    );
    assert!(a
        .iter()
        .filter_map(|d| d.address.as_deref())
        .all(|p| p.starts_with('+')));

    let outcomes: Vec<DeliveryOutcome> = a
        .iter()
        .enumerate()
        .map(|(i, d)| DeliveryOutcome {
            id: d.id,
            status: if i < 90 {
                DeliveryStatus::Sent
            } else {
                DeliveryStatus::Failed
            },
            detail: if i < 90 {
                format!("msg-{i}")
            } else {
                "permanent: invalid number".into()
            },
            attempts: 1,
            may_duplicate: false,
            transient: false,
            // Recorded in the same write: two segments at 3p each, or nothing if failed.
            cost: Some(DeliveryCost {
                sent_segments: (i < 90).then_some(2),
                unit_price: Money(30_000),
                cost: Money(if i < 90 { 60_000 } else { 0 }),
            }),
        })
        .collect();
    store.record_outcomes(&outcomes, now).await.unwrap();
    // Recording again is harmless: only `sending` rows are updated.
    store.record_outcomes(&outcomes, now).await.unwrap();
    let spend = store.recorded_spend(id).await.unwrap();
    let sms = spend
        .iter()
        .find(|s| s.round == 0 && s.channel == Channel::Sms)
        .expect("the SMS spend of round 0");
    assert_eq!(
        (sms.messages, sms.segments, sms.spent, sms.reserved),
        (90, 180, Money(90 * 60_000), Money(0)),
        "each outcome's cost is recorded with it"
    );

    // `b` was never recorded: as after a crash, it goes back to the queue.
    // A lease that has not run out takes nothing back; the sole sender takes back all.
    let earlier = now - chrono::Duration::seconds(1);
    assert_eq!(
        store
            .requeue_in_flight(id, 0, None, Some(earlier))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.requeue_in_flight(id, 0, None, None).await.unwrap(),
        100
    );
    let rest = store
        .claim_pending(id, Channel::Sms, 0, None, 1_000, now)
        .await
        .unwrap();
    assert_eq!(rest.len(), 200);

    let counts = store.delivery_counts(id).await.unwrap();
    let count = |ch: Channel, st: DeliveryStatus| -> u64 {
        counts
            .iter()
            .filter(|c| c.channel == ch && c.status == st)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(count(Channel::Sms, DeliveryStatus::Sent), 90);
    assert_eq!(count(Channel::Sms, DeliveryStatus::Failed), 10);
    assert_eq!(count(Channel::Sms, DeliveryStatus::Sending), 200);
    assert_eq!(count(Channel::Email, DeliveryStatus::Suppressed), 30);
    assert_eq!(count(Channel::Email, DeliveryStatus::Pending), 270);

    store
        .set_campaign_state(id, &[CampaignState::Draft], CampaignState::Sending)
        .await
        .unwrap();
    let conflict = store
        .set_campaign_state(id, &[CampaignState::Draft], CampaignState::Sending)
        .await
        .unwrap_err();
    assert!(matches!(conflict, crate::Error::Conflict(_)), "{conflict}");
}

fn attending(yes: bool, notes: &str) -> crate::form::Answers {
    sample_form()
        .check_submission(&[
            (
                "attending".to_string(),
                if yes { "yes" } else { "no" }.to_string(),
            ),
            ("notes".to_string(), notes.to_string()),
        ])
        .expect("valid answers")
}

/// Links are found by their hash; opens are counted; a response is stored once and
/// spends the link, and a second one stores nothing.
pub async fn responses_are_stored_once_and_spend_the_link(store: &dyn Store) {
    let (id, form, recipients) = sample_campaign(store, 20).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    assert!(store.link(&TokenHash([0xEE; 32])).await.unwrap().is_none());
    let found = store
        .link(&recipients[3].link.token_hash)
        .await
        .unwrap()
        .expect("the link is found by its hash");
    assert_eq!(found.campaign_id, id);
    assert_eq!(found.form_id, form.id);
    assert_eq!(found.submitted_at, None);
    let r = found.recipient_id;

    let open = |recipient_id, at| LinkOpen { recipient_id, at };
    let later = now + chrono::Duration::hours(1);
    store.record_opens(&[open(r, now)]).await.unwrap();
    store.record_opens(&[open(r, later)]).await.unwrap();
    let t = store.recipient_tracking(r).await.unwrap();
    assert_eq!((t.first_opened_at, t.open_count), (Some(now), 2));
    // A batch, as concurrent opens are written: out of order, one recipient twice, and
    // a recipient that does not exist (counted nowhere, and not refused).
    let recipient = |n: usize| {
        let hash = recipients[n].link.token_hash;
        async move {
            store
                .link(&hash)
                .await
                .unwrap()
                .expect("stored")
                .recipient_id
        }
    };
    let (a, b) = (recipient(4).await, recipient(5).await);
    let batch = [
        open(b, later),
        open(a, now),
        open(999_999_999, now),
        open(b, now),
    ];
    let (before, _) = store.audit_head().await.unwrap();
    store.record_opens(&batch).await.unwrap();
    store.record_opens(&[]).await.unwrap();
    let (after, _) = store.audit_head().await.unwrap();
    let recorded = store.audit_entries(before, 10).await.unwrap();
    assert_eq!(
        after - before,
        3,
        "one ledger event per open of a stored recipient"
    );
    let targets: Vec<&str> = recorded.iter().map(|e| e.target.as_str()).collect();
    assert_eq!(
        targets,
        [a, b, b].map(|r| format!("recipient:{r}")),
        "in recipient order, the unknown one left out"
    );
    let t = store.recipient_tracking(a).await.unwrap();
    assert_eq!((t.first_opened_at, t.open_count), (Some(now), 1));
    let t = store.recipient_tracking(b).await.unwrap();
    assert_eq!(
        (t.first_opened_at, t.open_count),
        (Some(now), 2),
        "the earliest open is the first"
    );

    let answers = attending(true, "<script>alert(1)</script>");
    assert_eq!(
        store
            .submit_response(r, &form, &answers, now)
            .await
            .unwrap(),
        SubmitOutcome::Stored
    );
    assert_eq!(
        store
            .submit_response(r, &form, &attending(false, "again"), now)
            .await
            .unwrap(),
        SubmitOutcome::AlreadySubmitted
    );
    let link = store
        .link(&recipients[3].link.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.submitted_at, Some(now));
    let day = chrono::Duration::days(1);
    let rows = store
        .responses(id, &form, now - day, now + day)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].recipient_id, r);
    assert_eq!(
        rows[0].values[1].as_deref(),
        Some("<script>alert(1)</script>")
    );
    assert!(store
        .responses(id, &form, now + day, now + day + day)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.responses_by_day(id).await.unwrap(),
        vec![(now.date_naive(), 1)]
    );
    let counts = store.tracking_counts(id).await.unwrap();
    assert_eq!(
        (counts.recipients, counts.opened, counts.responded),
        (20, 3, 1),
        "three recipients opened their links (one of them answered)"
    );
}

/// A reminder round materialises exactly the non-respondents, plans their deliveries
/// (keeping round 0's suppressions), and never reaches someone who answered later.
pub async fn reminder_rounds_cover_exactly_the_non_respondents(store: &dyn Store) {
    let (id, form, recipients) = sample_campaign(store, 40).await;
    let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
    let mut answered = BTreeSet::new();
    for (i, rec) in recipients.iter().enumerate() {
        let link = store.link(&rec.link.token_hash).await.unwrap().unwrap();
        if i % 4 == 0 {
            store
                .submit_response(link.recipient_id, &form, &attending(true, ""), now)
                .await
                .unwrap();
            answered.insert(link.recipient_id);
        } else if i % 4 == 1 {
            store
                .record_opens(&[crate::store::LinkOpen {
                    recipient_id: link.recipient_id,
                    at: now,
                }])
                .await
                .unwrap();
        }
    }
    assert!(store.plan_reminder_round(id, 0, now).await.is_err());
    assert_eq!(store.plan_reminder_round(id, 1, now).await.unwrap(), 30);
    // Planning again changes nothing.
    assert_eq!(store.plan_reminder_round(id, 1, now).await.unwrap(), 30);
    let planned = store.round_non_respondents(id, 1).await.unwrap();
    assert_eq!(planned.len(), 30);
    assert!(planned.iter().all(|r| !answered.contains(r)));
    let now_missing = store.non_respondents(id).await.unwrap();
    assert_eq!(
        now_missing
            .iter()
            .map(|n| n.recipient_id)
            .collect::<Vec<_>>(),
        planned
    );
    assert_eq!(
        now_missing
            .iter()
            .filter(|n| n.reason == NonResponseReason::OpenedNotSubmitted)
            .count(),
        10
    );
    assert!(now_missing.iter().all(|n| n.reminders == 1));

    let counts = store.delivery_counts(id).await.unwrap();
    let round1 = |st: DeliveryStatus| -> u64 {
        counts
            .iter()
            .filter(|c| c.round == 1 && c.status == st)
            .map(|c| c.count)
            .sum()
    };
    // 30 SMS + 30 emails, of which those of every tenth recipient stay suppressed.
    assert_eq!(
        round1(DeliveryStatus::Pending) + round1(DeliveryStatus::Suppressed),
        60
    );
    assert_eq!(round1(DeliveryStatus::Suppressed), 2);

    // Someone answers after planning: their reminders are suppressed, nobody else's.
    let late = planned[0];
    store
        .submit_response(late, &form, &attending(false, ""), now)
        .await
        .unwrap();
    assert_eq!(store.suppress_responded(id, 1, now).await.unwrap(), 2);
    let rounds = store.rounds(id).await.unwrap();
    assert_eq!(
        rounds.iter().map(|r| r.round).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(rounds[1].recipients, 30);
    assert_eq!(rounds[1].unfinished, 56);
}

/// Shards split the queue; concurrent claimers never share a delivery; a lease takes back
/// only claims older than it, and only the shard's.
pub async fn shards_and_concurrent_claims_split_the_queue(store: &dyn Store) {
    use crate::campaign::Shard;
    let t0 = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let (id, _, _) = sample_campaign(store, 300).await;
    let pending = store
        .delivery_counts(id)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.channel == Channel::Sms && c.status == DeliveryStatus::Pending)
        .map(|c| c.count)
        .sum::<u64>();
    let shards = [
        Shard::new(0, 3).unwrap(),
        Shard::new(1, 3).unwrap(),
        Shard::new(2, 3).unwrap(),
    ];

    // Six claimers at once (two per shard), each claiming small batches until empty.
    let claimer = |shard: Shard| async move {
        let mut mine = Vec::new();
        loop {
            let batch = store
                .claim_pending(id, Channel::Sms, 0, Some(shard), 7, t0)
                .await
                .unwrap();
            if batch.is_empty() {
                return (shard, mine);
            }
            mine.extend(batch.into_iter().map(|d| (d.id, d.recipient_id)));
        }
    };
    let results =
        futures::future::join_all(shards.iter().chain(&shards).map(|&s| claimer(s))).await;
    let mut seen = BTreeSet::new();
    for (shard, claimed) in &results {
        for &(delivery, recipient) in claimed {
            assert!(
                shard.contains(recipient),
                "{shard} claimed recipient {recipient}"
            );
            assert!(seen.insert(delivery), "delivery {delivery} claimed twice");
        }
    }
    assert_eq!(
        seen.len() as u64,
        pending,
        "every pending delivery claimed once"
    );

    // Claims at t0 are all in flight. Claim nothing more; a lease ending before t0 takes
    // nothing back, one ending at t0 takes back exactly the shard's claims.
    let before = t0 - chrono::Duration::seconds(5);
    assert_eq!(
        store
            .requeue_in_flight(id, 0, Some(shards[1]), Some(before))
            .await
            .unwrap(),
        0
    );
    let shard1: u64 = results
        .iter()
        .filter(|(s, _)| *s == shards[1])
        .map(|(_, c)| c.len() as u64)
        .sum();
    assert_eq!(
        store
            .requeue_in_flight(id, 0, Some(shards[1]), Some(t0))
            .await
            .unwrap(),
        shard1
    );
    let again = store
        .claim_pending(id, Channel::Sms, 0, None, 1_000, t0)
        .await
        .unwrap();
    assert_eq!(again.len() as u64, shard1);
    assert!(again.iter().all(|d| shards[1].contains(d.recipient_id)));
}

/// Several senders, each with its own connection to the same database (as separate
/// processes or Lambda invocations would be), send one campaign at once: every delivery
/// reaches the provider exactly once and ends recorded. `stores` must all open the same,
/// empty database.
pub async fn several_senders_deliver_every_message_once(stores: Vec<std::sync::Arc<dyn Store>>) {
    use crate::campaign::{CampaignRequest, Engine, SendOptions, Shard};
    use crate::clock::SystemClock;
    use crate::link::HmacLinkSigner;
    use crate::notify::RecordingNotifier;
    use crate::publish::LocalFolderPublisher;
    use std::sync::Arc;

    assert!(stores.len() >= 2, "several senders need several stores");
    let dir = tempfile::tempdir().expect("temporary folder");
    let recorder = Arc::new(RecordingNotifier::new());
    let engines: Vec<Engine> = stores
        .into_iter()
        .map(|store| {
            let signer = HmacLinkSigner::new(
                secrecy::SecretBox::new(Box::new([7u8; 32])),
                "https://forms.example.org",
            )
            .expect("valid base URL");
            Engine::new(
                store,
                Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
                Arc::new(signer),
                Arc::new(SystemClock),
            )
            .with_notifier(Channel::Sms, recorder.clone())
            .with_notifier(Channel::Email, recorder.clone())
        })
        .collect();
    let first = &engines[0];
    first.import_patients(&population(1_200, 11)).await.unwrap();
    let form = first.create_form(&sample_form()).await.unwrap();
    let id = first
        .create_campaign(&CampaignRequest::new(
            "several senders",
            form.id,
            Arc::new(Filter::all()),
        ))
        .await
        .unwrap();

    // Small batches so the senders interleave; the last two share a shard.
    let n = engines.len() as u32;
    let sends = engines.iter().enumerate().map(|(i, engine)| {
        let options = SendOptions {
            concurrency: 16,
            in_flight_lease: Some(std::time::Duration::from_secs(600)),
            shard: (i as u32 + 1 < n).then(|| Shard::new(i as u32, n - 1).unwrap()),
            ..SendOptions::default()
        };
        async move { engine.send(id, &options, &()).await.unwrap() }
    });
    let reports = futures::future::join_all(sends).await;
    assert!(reports.iter().all(|r| r.requeued_in_flight == 0));

    let sent = recorder.sent();
    let mut once = BTreeSet::new();
    for m in &sent {
        assert!(
            once.insert(m.delivery_id),
            "delivery {} sent twice",
            m.delivery_id
        );
    }
    let counts = first.store().delivery_counts(id).await.unwrap();
    let total = |status: DeliveryStatus| -> u64 {
        counts
            .iter()
            .filter(|c| c.status == status)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!(total(DeliveryStatus::Sent), sent.len() as u64);
    assert_eq!(
        total(DeliveryStatus::Pending) + total(DeliveryStatus::Sending),
        0
    );
    let reported: u64 = reports.iter().flat_map(|r| r.sent.values()).sum();
    assert_eq!(
        reported,
        sent.len() as u64,
        "the reports add up to what was sent"
    );
    assert!(
        sent.len() > 1_000,
        "the campaign sent {} messages",
        sent.len()
    );
    // Each sender sent a share (the work was split, not done by the first alone).
    assert!(reports.iter().all(|r| r.sent.values().sum::<u64>() > 0));
}

/// The URL of a test server named by environment variable `var`
/// (`MEDICARE_TEST_POSTGRES_URL`, ...). Absent, the suite is skipped, saying so, unless
/// `CI` is set: in CI a missing server is a failure, not a skip.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: CI must start the server these tests need")
        }
        _ => {
            eprintln!("skipped: {var} is not set, so no server to test against");
            None
        }
    }
}
