//! After the demo, the outbox holds exactly one message per (eligible recipient,
//! channel, round), each with a distinct link that resolves to its own recipient; the
//! reminder round reached exactly the non-respondents; and the summary's counts agree
//! with the database.

use medicare_core::demo::{run_demo, DemoOptions};
use medicare_core::link::presented_token_hash;
use medicare_core::store::sqlite::SqliteStore;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

#[tokio::test]
async fn the_demo_outbox_matches_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let into = dir.path().join("demo");
    let summary = run_demo(
        &into,
        DemoOptions {
            count: 3_000,
            seed: 9,
        },
        &(),
    )
    .await
    .unwrap();
    let store = SqliteStore::open(&into.join("medicare.db")).await.unwrap();
    let pool = store.pool();
    let scalar = |sql: String| async move {
        sqlx::query_scalar::<_, i64>(&sql)
            .fetch_one(pool)
            .await
            .unwrap() as u64
    };

    let lines: Vec<Value> = std::fs::read_to_string(into.join("outbox.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sent = scalar(format!(
        "SELECT COUNT(*) FROM deliveries WHERE campaign_id = {} AND status = 'sent'",
        summary.campaign.0
    ))
    .await;
    assert_eq!(
        lines.len() as u64,
        sent,
        "one outbox line per delivery recorded sent"
    );
    let first_round = lines.iter().filter(|l| l["round"] == 0).count() as u64;
    assert_eq!(summary.outbox_lines, Some(first_round));

    // With the form service, the demo also sends one reminder round.
    #[cfg(feature = "server")]
    {
        // The reminder round went to non-respondents only: recipients who had not answered.
        let reminded: BTreeSet<i64> = lines
            .iter()
            .filter(|l| l["round"] == 1)
            .map(|l| l["recipient_id"].as_i64().unwrap())
            .collect();
        assert!(!reminded.is_empty(), "the demo sends one reminder round");
        for recipient in &reminded {
            let answered = scalar(format!(
                "SELECT COUNT(*) FROM recipients WHERE id = {recipient} AND submitted_at IS NOT NULL"
            ))
            .await;
            let listed = scalar(format!(
                "SELECT COUNT(*) FROM non_respondents WHERE round = 1 AND recipient_id = {recipient}"
            ))
            .await;
            assert_eq!(
                (answered, listed),
                (0, 1),
                "recipient {recipient} was reminded"
            );
        }
    }

    let mut seen = BTreeSet::new();
    let mut links: BTreeMap<i64, String> = BTreeMap::new();
    for line in &lines {
        let recipient = line["recipient_id"].as_i64().unwrap();
        let key = (
            recipient,
            line["channel"].as_str().unwrap().to_string(),
            line["round"].as_i64().unwrap(),
        );
        assert!(
            seen.insert(key),
            "one message per (recipient, channel, round)"
        );
        let text = line["text"].as_str().unwrap();
        let link = text
            .split_whitespace()
            .find(|w| w.starts_with("http://localhost:8080/f/"))
            .expect("a link")
            .to_string();
        assert_eq!(
            links.entry(recipient).or_insert_with(|| link.clone()),
            &link,
            "every message carries the recipient's one link"
        );
        let hash = presented_token_hash(link.rsplit('/').next().unwrap()).unwrap();
        let owner: i64 = sqlx::query_scalar("SELECT id FROM recipients WHERE token_hash = ?")
            .bind(hash.0.as_slice())
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(
            owner, recipient,
            "the link works: its hash finds its recipient"
        );
    }
    assert_eq!(
        links.values().collect::<BTreeSet<_>>().len(),
        links.len(),
        "links are distinct"
    );

    // The summary agrees with the database.
    let recipients = scalar(format!(
        "SELECT COUNT(*) FROM recipients WHERE campaign_id = {}",
        summary.campaign.0
    ))
    .await;
    assert_eq!(summary.preview.recipients, recipients);
    for c in &summary.send.channels {
        let ch = c.channel.unwrap().as_str();
        let count = |status: &'static str| {
            scalar(format!(
            "SELECT COUNT(*) FROM deliveries WHERE campaign_id = {} AND round = 0 AND channel = '{ch}' AND status = '{status}'",
            summary.campaign.0
        ))
        };
        assert_eq!(c.sent, count("sent").await);
        assert_eq!(c.suppressed, count("suppressed").await);
        assert_eq!(c.failed + c.pending + c.sending, 0);
        assert_eq!(c.suppressed_reasons.values().sum::<u64>(), c.suppressed);
    }
    let lung: u64 = scalar(
        "SELECT COUNT(DISTINCT patient_id) FROM patient_conditions WHERE code IN ('asthma', 'copd', 'bronchiectasis', 'cystic_fibrosis', 'ild')".into(),
    )
    .await;
    assert_eq!(
        recipients, lung,
        "the audience is exactly the patients with a lung condition"
    );
    assert_eq!(summary.patients, 3_000);
}
