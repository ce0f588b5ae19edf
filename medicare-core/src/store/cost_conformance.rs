//! The cost behaviour every backend must show (issue 15), run by each backend's tests:
//! strategies plan and send what they say, a spend cap stops a send at the right message
//! and a raised cap resumes it with nothing sent twice, concurrent senders never spend
//! past the cap together, and an `email_first` second wave never reaches a patient who
//! opened their link or answered.

use crate::campaign::{
    CampaignId, CampaignRequest, CampaignState, DeliveryStatus, Engine, RoundKind, SendOptions,
    Strategy, SECOND_WAVE_ROUND,
};
use crate::clock::{Clock, FixedClock};
use crate::error::Error;
use crate::filter::Filter;
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, Money, Prices, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
use crate::store::conformance::sample_form;
use crate::store::Store;
use chrono::{TimeZone, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One pound.
const POUND: i64 = 1_000_000;

/// Prices that make the arithmetic plain: £1 a segment, 1p an email.
fn prices() -> Prices {
    Prices {
        sms_segment: Money(POUND),
        email: Money(10_000),
    }
}

/// Engines over `stores` (one database), sharing a recorder and a pinned clock.
fn engines(
    stores: Vec<Arc<dyn Store>>,
    dir: &std::path::Path,
) -> (Vec<Engine>, Arc<RecordingNotifier>, Arc<FixedClock>) {
    let recorder = Arc::new(RecordingNotifier::new());
    let clock = Arc::new(FixedClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap(),
    ));
    let engines = stores
        .into_iter()
        .map(|store| {
            let signer = HmacLinkSigner::new(
                secrecy::SecretBox::new(Box::new([5u8; 32])),
                "https://forms.example.org",
            )
            .expect("a valid base URL");
            Engine::new(
                store,
                Arc::new(LocalFolderPublisher::new(dir.join("forms"))),
                Arc::new(signer),
                clock.clone(),
            )
            .with_notifier(Channel::Sms, recorder.clone())
            .with_notifier(Channel::Email, recorder.clone())
            .with_prices(prices())
        })
        .collect();
    (engines, recorder, clock)
}

/// `count` patients, the sample form, and a campaign to all of them with `strategy` and
/// `budget`.
async fn campaign(
    engine: &Engine,
    count: usize,
    strategy: Strategy,
    budget: Option<Money>,
) -> CampaignId {
    engine
        .import_patients(&generate(GenerateOptions { count, seed: 15 }))
        .await
        .unwrap();
    let form = engine.create_form(&sample_form()).await.unwrap();
    let mut request = CampaignRequest::new("cost", form.id, Arc::new(Filter::all()));
    request.strategy = Some(strategy);
    request.budget = budget;
    engine.create_campaign(&request).await.unwrap()
}

/// How many deliveries of `round` on `channel` are in `status` (with `reason`, if given).
async fn count(
    store: &dyn Store,
    id: CampaignId,
    round: i32,
    channel: Channel,
    status: DeliveryStatus,
    reason: Option<&str>,
) -> u64 {
    store
        .delivery_counts(id)
        .await
        .unwrap()
        .iter()
        .filter(|c| c.round == round && c.channel == channel && c.status == status)
        .filter(|c| reason.is_none() || c.reason.as_deref() == reason)
        .map(|c| c.count)
        .sum()
}

/// Every delivery id sent at most once; returns them.
fn sent_once(recorder: &RecordingNotifier) -> BTreeSet<i64> {
    let mut once = BTreeSet::new();
    for m in recorder.sent() {
        assert!(
            once.insert(m.delivery_id),
            "delivery {} sent twice",
            m.delivery_id
        );
    }
    once
}

/// An SMS-only campaign capped at £k and a half stops after exactly `k` one-segment
/// messages (the first `k` by id), says so in its report, and leaves the rest pending;
/// raising the cap lets the same send resume and finish with nothing sent twice, and
/// the recorded spend is exact.
pub async fn a_spend_cap_stops_at_the_right_message(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let (engines, recorder, _) = engines(vec![store.clone()], dir.path());
    let engine = &engines[0];
    let k = 37;
    let id = campaign(
        engine,
        120,
        Strategy::SmsOnly,
        Some(Money(k * POUND + POUND / 2)),
    )
    .await;
    let reach = engine.store().campaign(id).await.unwrap().reach.unwrap();
    assert_eq!(
        reach.sms_segments, reach.sms,
        "every SMS of this population is one segment"
    );
    let options = SendOptions {
        concurrency: 8,
        ..SendOptions::default()
    };
    let report = engine.send(id, &options, &()).await.unwrap();
    let cap = report.stopped_at_budget.expect("the send reports the cap");
    assert_eq!(report.sent[&Channel::Sms], k as u64);
    assert_eq!(cap.committed, Money(k * POUND));
    assert_eq!(cap.left_pending, reach.sms - k as u64);
    let first = sent_once(&recorder);
    let pending = count(&*store, id, 0, Channel::Sms, DeliveryStatus::Pending, None).await;
    assert_eq!(pending, reach.sms - k as u64);
    assert_eq!(
        engine.store().campaign(id).await.unwrap().state,
        CampaignState::Sending,
        "a capped send is not complete"
    );
    let spend = engine.spend(id).await.unwrap();
    assert_eq!(spend.len(), 1);
    assert_eq!(
        (spend[0].spent, spend[0].messages, spend[0].segments),
        (Money(k * POUND), k as u64, k as u64)
    );
    assert_eq!(spend[0].estimated, Money(reach.sms as i64 * POUND));

    // Sending again under the same cap sends nothing more.
    let again = engine.send(id, &options, &()).await.unwrap();
    assert_eq!(again.sent.values().sum::<u64>(), 0);
    assert!(again.stopped_at_budget.is_some());

    // Raised: the same send resumes and finishes; the first k are not sent again.
    engine
        .set_budget(id, Some(Money(1_000 * POUND)))
        .await
        .unwrap();
    let rest = engine.send(id, &options, &()).await.unwrap();
    assert!(rest.stopped_at_budget.is_none());
    assert_eq!(rest.sent[&Channel::Sms], reach.sms - k as u64);
    let all = sent_once(&recorder);
    assert_eq!(all.len() as u64, reach.sms);
    assert!(
        first.iter().max() < all.difference(&first).min(),
        "the capped send took the first deliveries in order"
    );
    assert_eq!(
        engine.store().campaign(id).await.unwrap().state,
        CampaignState::Sent
    );
    let spend = engine.spend(id).await.unwrap();
    assert_eq!(spend[0].spent, Money(reach.sms as i64 * POUND));
    assert_eq!(spend[0].reserved, Money(0));
    assert!(matches!(
        engine.set_budget(CampaignId(id.0 + 100), None).await,
        Err(Error::NotFound { .. })
    ));
}

/// Several senders (one store each, as separate processes) send one capped campaign at
/// once: together they send exactly what fits, never more.
pub async fn concurrent_senders_never_overspend(stores: Vec<Arc<dyn Store>>) {
    assert!(stores.len() >= 2, "several senders need several stores");
    let dir = tempfile::tempdir().unwrap();
    let (engines, recorder, _) = engines(stores, dir.path());
    let k = 61;
    let id = campaign(
        &engines[0],
        200,
        Strategy::SmsOnly,
        Some(Money(k * POUND + POUND / 3)),
    )
    .await;
    let reach = engines[0]
        .store()
        .campaign(id)
        .await
        .unwrap()
        .reach
        .unwrap();
    assert_eq!(reach.sms_segments, reach.sms);
    let sends = engines.iter().map(|engine| async move {
        let options = SendOptions {
            concurrency: 4,
            in_flight_lease: Some(std::time::Duration::from_secs(600)),
            ..SendOptions::default()
        };
        engine.send(id, &options, &()).await.unwrap()
    });
    let reports = futures::future::join_all(sends).await;
    let sent = sent_once(&recorder);
    assert_eq!(
        sent.len(),
        k as usize,
        "the senders together sent what fits"
    );
    assert_eq!(
        reports.iter().flat_map(|r| r.sent.values()).sum::<u64>(),
        k as u64
    );
    assert!(reports.iter().any(|r| r.stopped_at_budget.is_some()));
    let spend = engines[0].spend(id).await.unwrap();
    assert_eq!(spend[0].spent, Money(k * POUND));
    assert_eq!(
        count(
            &*engines[0].store().clone(),
            id,
            0,
            Channel::Sms,
            DeliveryStatus::Pending,
            None
        )
        .await,
        reach.sms - k as u64
    );
}

/// `email_first`: the first round emails every recipient with a usable email and texts
/// only those without one; the preview prices it beside `both`; the second wave waits
/// for its delay, then texts only those who neither opened nor answered, each planned
/// SMS ending sent or suppressed with its reason; reminders follow it, by email.
pub async fn email_first_second_wave_never_reaches_openers(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let (engines, recorder, clock) = engines(vec![store.clone()], dir.path());
    let engine = engines[0].clone().with_open_rate(Some(40));
    let id = campaign(&engine, 240, Strategy::EmailFirst, None).await;
    let stored = engine.store().campaign(id).await.unwrap();
    let reach = stored.reach.unwrap();
    assert_eq!(stored.channels, vec![Channel::Sms, Channel::Email]);
    assert!(reach.sms_without_email > 0 && reach.second_wave().0 > 0);

    let preview = engine.preview(id).await.unwrap();
    let compare = preview.cost_comparison.unwrap();
    assert_eq!(compare.chosen.strategy, Strategy::EmailFirst);
    assert_eq!(compare.both.first_round_segments, reach.sms_segments);
    assert_eq!(compare.open_rate_percent, 40);
    assert_eq!(compare.chosen.emails, reach.email);
    assert!(compare.saving.0 > 0, "email_first saves on both");
    assert_eq!(
        compare.saving,
        Money(compare.both.total.0 - compare.chosen.total.0)
    );

    let first = engine.send(id, &SendOptions::default(), &()).await.unwrap();
    // The preview's first-round estimate is what was sent.
    assert_eq!(first.sent[&Channel::Email], compare.chosen.emails);
    assert_eq!(first.sent[&Channel::Sms], compare.chosen.first_round_sms);
    let round0 = recorder.sent();
    let emailed: BTreeSet<i64> = round0
        .iter()
        .filter(|m| m.channel == Channel::Email)
        .map(|m| m.recipient_id)
        .collect();
    assert!(round0
        .iter()
        .filter(|m| m.channel == Channel::Sms)
        .all(|m| !emailed.contains(&m.recipient_id)));
    assert_eq!(
        count(
            &*store,
            id,
            SECOND_WAVE_ROUND,
            Channel::Sms,
            DeliveryStatus::Pending,
            None
        )
        .await,
        reach.second_wave().0
    );

    // Too early: the wave waits for its delay; reminders wait for the wave.
    assert!(matches!(
        engine
            .send_second_wave(id, &SendOptions::default(), &())
            .await,
        Err(Error::Conflict(_))
    ));
    clock.advance(chrono::Duration::hours(80));
    assert!(matches!(
        engine
            .remind(id, &Default::default(), &SendOptions::default(), &())
            .await,
        Err(Error::Conflict(_))
    ));

    // Every third emailed recipient opens; every fifth of those answers too.
    let form = engine.store().form(stored.form_id).await.unwrap();
    let answers = form
        .spec
        .check_submission(&[("attending".to_string(), "yes".to_string())])
        .unwrap();
    let mut engaged = BTreeSet::new();
    for (i, &recipient) in emailed.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        store
            .record_opens(&[crate::store::LinkOpen {
                recipient_id: recipient,
                at: clock.now(),
            }])
            .await
            .unwrap();
        if i % 5 == 0 {
            store
                .submit_response(recipient, &form, &answers, clock.now())
                .await
                .unwrap();
        }
        engaged.insert(recipient);
    }
    let wave = engine
        .send_second_wave(id, &SendOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(wave.round, SECOND_WAVE_ROUND);
    let texted: Vec<i64> = recorder
        .sent()
        .iter()
        .filter(|m| m.round == SECOND_WAVE_ROUND)
        .map(|m| m.recipient_id)
        .collect();
    assert!(!texted.is_empty());
    assert!(texted
        .iter()
        .all(|r| !engaged.contains(r) && emailed.contains(r)));
    assert!(recorder
        .sent()
        .iter()
        .filter(|m| m.round == SECOND_WAVE_ROUND)
        .all(|m| m.channel == Channel::Sms));
    let suppressed_opened = count(
        &*store,
        id,
        SECOND_WAVE_ROUND,
        Channel::Sms,
        DeliveryStatus::Suppressed,
        Some("opened"),
    )
    .await;
    let suppressed_responded = count(
        &*store,
        id,
        SECOND_WAVE_ROUND,
        Channel::Sms,
        DeliveryStatus::Suppressed,
        Some("responded"),
    )
    .await;
    assert!(suppressed_opened > 0 && suppressed_responded > 0);
    assert_eq!(
        texted.len() as u64 + suppressed_opened + suppressed_responded,
        reach.second_wave().0,
        "every planned second-wave SMS ended sent or suppressed with its reason"
    );
    assert_eq!(
        count(
            &*store,
            id,
            SECOND_WAVE_ROUND,
            Channel::Sms,
            DeliveryStatus::Pending,
            None
        )
        .await,
        0
    );
    // Sending the wave again sends nothing twice.
    let again = engine
        .send_second_wave(id, &SendOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(again.sent.values().sum::<u64>(), 0);
    sent_once(&recorder);

    // Spend is recorded per round: the wave's SMS at the price in force.
    let spend = engine.spend(id).await.unwrap();
    let by_round: BTreeMap<(i32, Channel), _> =
        spend.iter().map(|s| ((s.round, s.channel), *s)).collect();
    let wave_spend = by_round[&(SECOND_WAVE_ROUND, Channel::Sms)];
    assert_eq!(wave_spend.kind, RoundKind::SecondWave);
    assert_eq!(wave_spend.messages, texted.len() as u64);
    assert_eq!(wave_spend.spent, Money(wave_spend.segments as i64 * POUND));
    assert_eq!(
        by_round[&(0, Channel::Email)].spent,
        Money(reach.email as i64 * 10_000)
    );

    // The first reminder is round 2, by email to those with one.
    clock.advance(chrono::Duration::days(4));
    let reminder = engine
        .remind(id, &Default::default(), &SendOptions::default(), &())
        .await
        .unwrap();
    assert_eq!(reminder.round, SECOND_WAVE_ROUND + 1);
    let reminded = recorder
        .sent()
        .into_iter()
        .filter(|m| m.round == reminder.round)
        .collect::<Vec<_>>();
    assert!(reminded
        .iter()
        .all(|m| m.channel == Channel::Email || !emailed.contains(&m.recipient_id)));
    assert!(reminded
        .iter()
        .any(|m| m.text.contains("reminder") || m.text.contains("Reminder")));
}
