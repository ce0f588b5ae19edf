//! Reminder rounds and the weekly report, checked against the database.

use super::{render_csv, render_html, weekly_report, write_weekly_report};
use crate::campaign::{CampaignState, ReminderPolicy, SendOptions};
use crate::store::{CampaignStore, FollowUpStore, FormStore, ResponseStore};
use crate::test_support::Fixture;
use std::collections::BTreeSet;

/// Answers every third recipient's form (by recipient id) and opens every fifth link.
async fn answer_some(f: &Fixture) -> BTreeSet<i64> {
    let form = f.store.form(crate::campaign::FormId(1)).await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM recipients ORDER BY id")
        .fetch_all(f.store.pool())
        .await
        .unwrap();
    let now = crate::clock::Clock::now(&*f.clock);
    let mut answered = BTreeSet::new();
    for id in ids {
        if id % 5 == 0 {
            f.store
                .record_opens(&[crate::store::LinkOpen {
                    recipient_id: id,
                    at: now,
                }])
                .await
                .unwrap();
        }
        if id % 3 == 0 {
            f.store
                .submit_response(id, &form, &f.answers(), now)
                .await
                .unwrap();
            answered.insert(id);
        }
    }
    answered
}

fn policy(gap_hours: i64) -> ReminderPolicy {
    ReminderPolicy {
        max_reminders: 2,
        min_gap: chrono::Duration::hours(gap_hours),
    }
}

#[tokio::test]
async fn a_reminder_round_reaches_exactly_the_non_respondents() {
    let f = Fixture::sent_campaign(120).await;
    let first_round = f.recorder.count();
    let answered = answer_some(&f).await;
    let options = SendOptions::default();

    // Too early: the gap since the first send is not over.
    let early = f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .unwrap_err();
    assert!(early.to_string().contains("minimum gap"), "{early}");
    f.clock.advance(chrono::Duration::hours(49));

    let report = f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .unwrap();
    assert_eq!(report.round, 1);
    let expected: BTreeSet<i64> = sqlx::query_scalar(
        "SELECT id FROM recipients WHERE campaign_id = ? AND submitted_at IS NULL",
    )
    .bind(f.campaign.0)
    .fetch_all(f.store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert!(expected.is_disjoint(&answered));
    let materialised: BTreeSet<i64> = f
        .store
        .round_non_respondents(f.campaign, 1)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(materialised, expected);
    let reminded: Vec<i64> = f.recorder.sent()[first_round..]
        .iter()
        .map(|m| {
            assert_eq!(m.round, 1);
            m.recipient_id
        })
        .collect();
    let reminded_set: BTreeSet<i64> = reminded.iter().copied().collect();
    assert_eq!(
        reminded.len(),
        reminded_set.len(),
        "one reminder each, no repeats"
    );
    // Every non-respondent has a round-1 delivery: sent, or suppressed as in round 0
    // (opted out); nobody else has one.
    let planned: BTreeSet<i64> =
        sqlx::query_scalar("SELECT recipient_id FROM deliveries WHERE round = 1")
            .fetch_all(f.store.pool())
            .await
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(planned, expected);
    let sent: BTreeSet<i64> = sqlx::query_scalar(
        "SELECT recipient_id FROM deliveries WHERE round = 1 AND status = 'sent'",
    )
    .fetch_all(f.store.pool())
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(reminded_set, sent);
    let suppressed_elsewhere = f
        .scalar("SELECT COUNT(*) FROM deliveries WHERE round = 1 AND status = 'suppressed' AND reason <> 'opted_out'")
        .await;
    assert_eq!(suppressed_elsewhere, 0);
    assert!(reminded_set.is_subset(&expected) && !reminded_set.is_empty());
    assert_eq!(report.non_respondents, expected.len() as u64);

    // The reasons stored are right, per recipient.
    let opened_unanswered = f
        .scalar("SELECT COUNT(*) FROM non_respondents WHERE round = 1 AND reason = 'opened_not_submitted'")
        .await;
    assert_eq!(
        opened_unanswered as usize,
        expected.iter().filter(|id| *id % 5 == 0).count()
    );

    // Someone answers; the next round leaves them out. Then the limit holds.
    let late = *expected.iter().next().unwrap();
    let form = f.store.form(crate::campaign::FormId(1)).await.unwrap();
    f.store
        .submit_response(
            late,
            &form,
            &f.answers(),
            crate::clock::Clock::now(&*f.clock),
        )
        .await
        .unwrap();
    assert!(f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .is_err());
    f.clock.advance(chrono::Duration::hours(49));
    let before = f.recorder.count();
    let second = f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .unwrap();
    assert_eq!(second.round, 2);
    let reminded_again: BTreeSet<i64> = f.recorder.sent()[before..]
        .iter()
        .map(|m| m.recipient_id)
        .collect();
    let mut without_late = reminded_set.clone();
    without_late.remove(&late);
    assert_eq!(reminded_again, without_late);
    assert_eq!(second.non_respondents, expected.len() as u64 - 1);
    f.clock.advance(chrono::Duration::hours(49));
    let limit = f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .unwrap_err();
    assert!(limit.to_string().contains("2 reminder rounds"), "{limit}");
}

#[tokio::test]
async fn a_cancelled_campaign_cannot_be_reminded() {
    let f = Fixture::sent_campaign(20).await;
    f.store
        .set_campaign_state(f.campaign, &[CampaignState::Sent], CampaignState::Cancelled)
        .await
        .unwrap();
    let err = f
        .engine
        .remind(f.campaign, &policy(0), &SendOptions::default(), &())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::Conflict(_)), "{err}");
}

#[tokio::test]
async fn the_weekly_report_agrees_with_the_database() {
    let f = Fixture::sent_campaign(150).await;
    let answered = answer_some(&f).await;
    f.clock.advance(chrono::Duration::hours(1));
    f.engine
        .remind(f.campaign, &policy(0), &SendOptions::default(), &())
        .await
        .unwrap();
    let report = weekly_report(&f.engine).await.unwrap();
    assert_eq!(report.week, "2026-W47");
    assert_eq!(report.week_start.to_string(), "2026-11-16");
    assert_eq!(report.campaigns.len(), 1);
    let c = &report.campaigns[0];
    let db = |sql: &'static str| f.scalar(sql);
    assert_eq!(
        c.counts.recipients as i64,
        db("SELECT COUNT(*) FROM recipients").await
    );
    assert_eq!(
        c.counts.responded as i64,
        db("SELECT COUNT(*) FROM resp_1").await
    );
    assert_eq!(c.counts.responded as usize, answered.len());
    assert_eq!(
        c.counts.opened as i64,
        db("SELECT COUNT(*) FROM recipients WHERE open_count > 0").await
    );
    assert_eq!(
        c.counts.delivered_to_provider as i64,
        db("SELECT COUNT(*) FROM deliveries WHERE status = 'sent'").await
    );
    assert_eq!(
        c.counts.suppressed as i64,
        db("SELECT COUNT(*) FROM deliveries WHERE status = 'suppressed'").await
    );
    assert_eq!(
        c.non_respondents.len() as i64,
        db("SELECT COUNT(*) FROM recipients WHERE submitted_at IS NULL").await
    );
    assert!(c.non_respondents.iter().all(|n| n.reminders == 1));
    assert_eq!(c.responses.len(), answered.len());
    assert_eq!(c.rounds.len(), 2);
    let last = c.series.last().unwrap();
    assert_eq!(last.responded, c.counts.responded);
    assert!((c.response_rate - answered.len() as f64 / c.counts.recipients as f64).abs() < 1e-9);

    let csv = render_csv(&report);
    assert_eq!(csv.lines().count(), 1 + c.non_respondents.len());
    let html = render_html(&report);
    assert!(html.contains("<svg") && html.contains("<polyline"));
    assert!(!html.contains("<script"));
    let files = write_weekly_report(&report, &f.dir.path().join("reports")).unwrap();
    assert!(files.html.ends_with("weekly-2026-W47.html"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(
        json["campaigns"][0]["counts"]["responded"].as_u64(),
        Some(c.counts.responded)
    );
    assert!(std::fs::read_to_string(&files.csv)
        .unwrap()
        .starts_with("week,"));
}

/// The outlook says what `remind` then does: too soon (with when), ready, the limit.
#[tokio::test]
async fn the_reminder_outlook_agrees_with_remind() {
    use crate::campaign::ReminderBlock;
    let f = Fixture::sent_campaign(30).await;
    let options = SendOptions::default();
    let outlook = f
        .engine
        .reminder_outlook(f.campaign, &policy(48))
        .await
        .unwrap();
    assert_eq!(
        (
            outlook.rounds_done,
            outlook.max_reminders,
            outlook.min_gap_hours
        ),
        (0, 2, 48)
    );
    let Some(ReminderBlock::TooSoon { available_from, .. }) = outlook.blocked else {
        panic!("{outlook:?}");
    };
    assert_eq!(
        available_from,
        crate::clock::Clock::now(&*f.clock) + chrono::Duration::hours(48)
    );
    assert!(f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .is_err());
    for round in 1..=2 {
        f.clock.advance(chrono::Duration::hours(49));
        let outlook = f
            .engine
            .reminder_outlook(f.campaign, &policy(48))
            .await
            .unwrap();
        assert_eq!(
            (outlook.blocked.clone(), outlook.next_round),
            (None, round),
            "{outlook:?}"
        );
        let sent = f
            .engine
            .remind(f.campaign, &policy(48), &options, &())
            .await
            .unwrap();
        assert_eq!(sent.round, round);
    }
    f.clock.advance(chrono::Duration::hours(49));
    let outlook = f
        .engine
        .reminder_outlook(f.campaign, &policy(48))
        .await
        .unwrap();
    assert_eq!(outlook.rounds_done, 2);
    assert_eq!(
        outlook.blocked,
        Some(ReminderBlock::NoRoundsLeft { max_reminders: 2 })
    );
    let err = f
        .engine
        .remind(f.campaign, &policy(48), &options, &())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("has had its 2 reminder rounds"),
        "{err}"
    );
    f.store
        .set_campaign_state(f.campaign, &[CampaignState::Sent], CampaignState::Cancelled)
        .await
        .unwrap();
    let outlook = f
        .engine
        .reminder_outlook(f.campaign, &policy(48))
        .await
        .unwrap();
    assert_eq!(
        outlook.blocked,
        Some(ReminderBlock::NotSent {
            state: CampaignState::Cancelled
        })
    );
}

/// One campaign's report is that campaign's part of the weekly report.
#[tokio::test]
async fn a_campaigns_weekly_report_is_its_part_of_the_whole() {
    let f = Fixture::sent_campaign(40).await;
    answer_some(&f).await;
    let whole = weekly_report(&f.engine).await.unwrap();
    let one = super::campaign_weekly_report(&f.engine, f.campaign)
        .await
        .unwrap();
    assert_eq!(one.week, whole.week);
    assert_eq!(one.campaigns.len(), 1);
    assert_eq!(render_csv(&one), render_csv(&whole));
    assert_eq!(one.campaigns[0].series, whole.campaigns[0].series);
    let missing = super::campaign_weekly_report(&f.engine, crate::campaign::CampaignId(99)).await;
    assert!(
        matches!(missing, Err(crate::Error::NotFound { .. })),
        "{missing:?}"
    );
}
