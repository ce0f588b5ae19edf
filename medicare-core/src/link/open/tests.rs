//! The link rules without HTTP: [`judge`] on hand-made records, and the engine's calls
//! on a sent campaign.

use super::*;
use crate::campaign::{CampaignId, FormId};
use crate::link::link_path;
use crate::test_support::Fixture;
use chrono::TimeZone;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, hour, 0, 0).unwrap()
}

fn record(token: &str) -> LinkRecord {
    LinkRecord {
        recipient_id: 1,
        campaign_id: CampaignId(1),
        campaign_state: CampaignState::Sent,
        form_id: FormId(1),
        token_hash: TokenHash::of(token),
        expires_at: at(12),
        submitted_at: None,
    }
}

const TOKEN: &str = "abcdefghijklmnopqrstuv";

#[test]
fn a_live_link_of_a_sending_or_sent_campaign_may_be_used() {
    let presented = TokenHash::of(TOKEN);
    for state in [CampaignState::Sending, CampaignState::Sent] {
        let link = LinkRecord {
            campaign_state: state,
            ..record(TOKEN)
        };
        assert_eq!(judge(Some(&link), &presented, at(11)), Ok(()), "{state:?}");
    }
}

#[test]
fn unknown_and_tampered_links_look_alike() {
    let presented = TokenHash::of(TOKEN);
    assert_eq!(judge(None, &presented, at(9)), Err(LinkRefusal::NotValid));
    // A store that returned a record for another hash must not let it through.
    let other = record("bcdefghijklmnopqrstuvw");
    assert_eq!(
        judge(Some(&other), &presented, at(9)),
        Err(LinkRefusal::NotValid)
    );
}

#[test]
fn a_draft_or_cancelled_campaigns_links_are_not_valid_even_when_expired_or_spent() {
    let presented = TokenHash::of(TOKEN);
    for state in [CampaignState::Draft, CampaignState::Cancelled] {
        let link = LinkRecord {
            campaign_state: state,
            submitted_at: Some(at(10)),
            ..record(TOKEN)
        };
        assert_eq!(
            judge(Some(&link), &presented, at(13)),
            Err(LinkRefusal::NotValid),
            "{state:?}"
        );
    }
}

#[test]
fn a_link_expires_at_its_expiry_instant_and_expiry_comes_before_spent() {
    let presented = TokenHash::of(TOKEN);
    let link = record(TOKEN);
    let just_before = link.expires_at - chrono::Duration::seconds(1);
    assert_eq!(judge(Some(&link), &presented, just_before), Ok(()));
    assert_eq!(
        judge(Some(&link), &presented, link.expires_at),
        Err(LinkRefusal::Expired)
    );
    let spent = LinkRecord {
        submitted_at: Some(at(10)),
        ..record(TOKEN)
    };
    assert_eq!(
        judge(Some(&spent), &presented, at(11)),
        Err(LinkRefusal::Spent)
    );
    assert_eq!(
        judge(Some(&spent), &presented, at(12)),
        Err(LinkRefusal::Expired)
    );
}

/// The fixture's first recipient's token.
fn first_token(f: &Fixture) -> String {
    let sent = f.recorder.sent();
    let path = link_path(&sent[0].text).expect("a link in the message");
    path.trim_start_matches("/f/").to_string()
}

fn refusal(r: Result<OpenLink, LinkRefusal>) -> LinkRefusal {
    r.expect_err("refused")
}

#[tokio::test]
async fn malformed_and_unknown_tokens_are_not_valid() {
    let f = Fixture::sent_campaign(3).await;
    let token = first_token(&f);
    let mut wrong_char = token.clone();
    wrong_char.replace_range(0..1, "!");
    for bad in [
        "",
        &token[..21],
        &format!("{token}A"),
        &wrong_char,
        "AAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let checked = f.engine.check_link(bad).await.unwrap();
        assert_eq!(refusal(checked), LinkRefusal::NotValid, "{bad:?}");
    }
}

#[tokio::test]
async fn checking_records_nothing_and_opening_records_the_open() {
    let f = Fixture::sent_campaign(3).await;
    let token = first_token(&f);
    let checked = f.engine.check_link(&token).await.unwrap().unwrap();
    assert_eq!(checked.link.campaign_id, f.campaign);
    let counts = || f.engine.store().tracking_counts(f.campaign);
    assert_eq!(counts().await.unwrap().opened, 0);
    let opened = f.engine.open_link(&token).await.unwrap().unwrap();
    assert_eq!(opened.link.recipient_id, checked.link.recipient_id);
    assert_eq!(opened.form.id, checked.form.id);
    assert_eq!(counts().await.unwrap().opened, 1);
}

#[tokio::test]
async fn an_answer_is_checked_then_stored_once_and_the_link_is_spent() {
    let f = Fixture::sent_campaign(3).await;
    let token = first_token(&f);
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());

    let invalid = f
        .engine
        .submit_answer(&token, &[pair("wants_vaccination", "perhaps")])
        .await
        .unwrap();
    let Answered::Invalid { open, errors } = invalid else {
        panic!("{invalid:?}")
    };
    assert!(
        errors.for_field("wants_vaccination").is_some(),
        "{errors:?}"
    );
    assert_eq!(open.form.spec.name, "vaccination_registration");
    assert_eq!(responded(&f).await, 0);

    let stored = f
        .engine
        .submit_answer(&token, &[pair("wants_vaccination", "yes")])
        .await
        .unwrap();
    assert!(matches!(stored, Answered::Stored { .. }), "{stored:?}");
    assert_eq!(responded(&f).await, 1);

    let again = f
        .engine
        .submit_answer(&token, &[pair("wants_vaccination", "no")])
        .await
        .unwrap();
    assert!(
        matches!(again, Answered::Refused(LinkRefusal::Spent)),
        "{again:?}"
    );
    assert_eq!(responded(&f).await, 1);
    let opened = f.engine.open_link(&token).await.unwrap();
    assert_eq!(refusal(opened), LinkRefusal::Spent);
}

async fn responded(f: &Fixture) -> u64 {
    let counts = f.engine.store().tracking_counts(f.campaign).await.unwrap();
    counts.responded
}

#[tokio::test]
async fn a_link_past_its_expiry_neither_opens_nor_takes_an_answer() {
    let f = Fixture::sent_campaign(3).await;
    let token = first_token(&f);
    let expires = f
        .engine
        .check_link(&token)
        .await
        .unwrap()
        .unwrap()
        .link
        .expires_at;
    f.clock.set(expires);
    assert_eq!(
        refusal(f.engine.open_link(&token).await.unwrap()),
        LinkRefusal::Expired
    );
    let answered = f
        .engine
        .submit_answer(&token, &[("wants_vaccination".into(), "yes".into())])
        .await
        .unwrap();
    assert!(
        matches!(answered, Answered::Refused(LinkRefusal::Expired)),
        "{answered:?}"
    );
    assert_eq!(responded(&f).await, 0);
    assert_eq!(
        f.engine
            .store()
            .tracking_counts(f.campaign)
            .await
            .unwrap()
            .opened,
        0
    );
}
