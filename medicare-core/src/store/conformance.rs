//! A behaviour suite every [`Store`] implementation must pass.
//!
//! Each function takes a fresh, empty store and panics on a violation; a backend's
//! tests call them all (see the SQLite tests). They use only the traits, so they hold any
//! backend to the same contract.

use super::Store;
use crate::campaign::{
    CampaignMessages, CampaignState, DeliveryOutcome, DeliveryStatus, FormId, NewCampaign,
    NewRecipient, PlannedDelivery, SuppressReason,
};
use crate::filter::Filter;
use crate::form::FormSpec;
use crate::link::{IssuedLink, LinkNonce, TokenHash};
use crate::notify::Channel;
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
    let mut clash = population(600, 2);
    clash[0].external_id = "fresh-0".into();
    clash[599] = patients[10].clone();
    let err = store.insert_patients(&clash).await.unwrap_err();
    assert!(matches!(err, crate::Error::AlreadyExists { .. }), "{err}");
    assert!(err.to_string().contains(&patients[10].external_id), "{err}");
    assert_eq!(store.all_patients().await.unwrap().len(), 500);
}

/// Counting and matching agree with the in-memory evaluation of the filter.
pub async fn filters_select_the_same_patients_as_in_memory(store: &dyn Store) {
    let patients = population(2_000, 3);
    store.insert_patients(&patients).await.unwrap();
    let stored = store.all_patients().await.unwrap();
    for source in [
        "all",
        r#"condition in ("asthma", "copd") and age >= 65"#,
        r#"not has_phone or sms_opt_out"#,
        r#"postcode starts_with "SW1" or (sex = "female" and age < 30)"#,
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

fn link(i: u8, j: u8) -> IssuedLink {
    IssuedLink {
        nonce: LinkNonce([i; 16]),
        token_hash: TokenHash([i ^ j; 32]),
    }
}

/// Claims never overlap, outcomes are recorded, in-flight rows are requeued, counts add up.
pub async fn the_delivery_queue_is_exactly_once(store: &dyn Store) {
    let patients = population(300, 4);
    store.insert_patients(&patients).await.unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap();
    let form = store.create_form(&sample_form(), "x", now).await.unwrap();
    let contacts = store
        .matching_contacts(&Filter::all(), today())
        .await
        .unwrap();
    let recipients: Vec<NewRecipient> = contacts
        .iter()
        .enumerate()
        .map(|(i, c)| NewRecipient {
            patient_id: c.id,
            given_name: c.given_name.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
            link: link((i % 251) as u8, (i / 251) as u8 + 1),
            deliveries: vec![
                PlannedDelivery {
                    channel: Channel::Sms,
                    suppressed: None,
                    segments: 1,
                },
                PlannedDelivery {
                    channel: Channel::Email,
                    suppressed: (i % 10 == 0).then_some(SuppressReason::OptedOut),
                    segments: 0,
                },
            ],
        })
        .collect();
    let campaign = NewCampaign {
        name: "conformance".into(),
        form_id: form.id,
        filter: "all".into(),
        channels: vec![Channel::Sms, Channel::Email],
        messages: CampaignMessages::default(),
        link_expires_at: now + chrono::Duration::days(30),
        created_at: now,
    };
    let id = store.create_campaign(&campaign, &recipients).await.unwrap();
    assert_eq!(store.recipient_count(id).await.unwrap(), 300);
    let stored = store.campaign(id).await.unwrap();
    assert_eq!(
        (stored.state, stored.channels.clone()),
        (CampaignState::Draft, campaign.channels.clone())
    );

    let a = store
        .claim_pending(id, Channel::Sms, 0, 100, now)
        .await
        .unwrap();
    let b = store
        .claim_pending(id, Channel::Sms, 0, 100, now)
        .await
        .unwrap();
    assert_eq!((a.len(), b.len()), (100, 100));
    let ids: BTreeSet<i64> = a.iter().chain(&b).map(|d| d.id).collect();
    assert_eq!(ids.len(), 200, "claims must not overlap");
    assert!(a
        .iter()
        .all(|d| d.address.as_deref().is_some_and(|p| p.starts_with('+'))));

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
        })
        .collect();
    store.record_outcomes(&outcomes, now).await.unwrap();
    // Recording again is harmless: only `sending` rows are updated.
    store.record_outcomes(&outcomes, now).await.unwrap();

    // `b` was never recorded: as after a crash, it goes back to the queue.
    assert_eq!(store.requeue_in_flight(id, 0).await.unwrap(), 100);
    let rest = store
        .claim_pending(id, Channel::Sms, 0, 1_000, now)
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
