//! A whole campaign through the SNS and SES notifiers while their (mocked) services
//! throttle about 30% of calls at random and fail some more with 5xx: the engine's own
//! retry must deliver every message exactly once, and a permanently rejected address
//! must be recorded failed after one attempt.

mod support;

use aws_sdk_sesv2::operation::send_email::{SendEmailError, SendEmailOutput};
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_smithy_mocks::{mock, MockResponse, RuleMode};
use medicare_aws::{SesEmailNotifier, SmsOptions, SnsSmsNotifier};
use medicare_core::campaign::{CampaignRequest, Engine, SendOptions};
use medicare_core::clock::SystemClock;
use medicare_core::filter::Filter;
use medicare_core::form::FormSpec;
use medicare_core::link::{presented_token_hash, HmacLinkSigner};
use medicare_core::notify::Channel;
use medicare_core::patient::{generate, GenerateOptions};
use medicare_core::publish::LocalFolderPublisher;
use medicare_core::store::sqlite::SqliteStore;
use medicare_core::store::ResponseStore;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secrecy::SecretBox;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{ses_error, ses_mock, sns_error, sns_mock};

const BASE_URL: &str = "https://forms.example.org";

/// A flaky provider: what it accepted, how often each address was tried, and how it
/// answered.
#[derive(Default)]
struct Provider {
    accepted: Mutex<Vec<(String, String)>>,
    attempts: Mutex<HashMap<String, u32>>,
    answers: Mutex<BTreeMap<&'static str, u32>>,
}

enum Answer {
    Accept,
    Throttle,
    Fail,
    Reject,
}

impl Provider {
    /// Decides the answer to one call to `to` carrying `text`.
    fn answer(&self, rng: &Mutex<StdRng>, to: &str, text: &str, rejected: &str) -> Answer {
        *self
            .attempts
            .lock()
            .unwrap()
            .entry(to.to_string())
            .or_default() += 1;
        let roll: f64 = rng.lock().unwrap().gen();
        let (answer, name) = if to == rejected {
            (Answer::Reject, "rejected")
        } else if roll < 0.30 {
            (Answer::Throttle, "throttled")
        } else if roll < 0.38 {
            (Answer::Fail, "5xx")
        } else {
            self.accepted
                .lock()
                .unwrap()
                .push((to.to_string(), text.to_string()));
            (Answer::Accept, "accepted")
        };
        *self.answers.lock().unwrap().entry(name).or_default() += 1;
        answer
    }
}

/// The token of the one form link in `text`.
fn token_in(text: &str) -> String {
    let prefix = format!("{BASE_URL}/f/");
    let at = text.find(&prefix).expect("the message carries a link") + prefix.len();
    text[at..at + 22].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_completes_exactly_once_under_random_throttling_and_5xx() {
    let patients = generate(GenerateOptions {
        count: 600,
        seed: 11,
    });
    // The permanently rejected number and address: used by exactly one patient each.
    let unique = |field: fn(&medicare_core::patient::Patient) -> Option<String>| {
        let mut seen: HashMap<String, u32> = HashMap::new();
        for p in &patients {
            if let Some(v) = field(p) {
                *seen.entry(v).or_default() += 1;
            }
        }
        patients
            .iter()
            .filter(|p| !p.sms_opt_out && !p.email_opt_out)
            .find_map(|p| field(p).filter(|v| seen[v] == 1))
            .unwrap()
    };
    let rejected_number = unique(|p| p.phone.as_ref().map(|v| v.as_str().to_string()));
    let rejected_address = unique(|p| p.email.as_ref().map(|v| v.as_str().to_string()));

    let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(2026)));
    let sms_provider = Arc::new(Provider::default());
    let publish = {
        let (p, rng, rejected) = (sms_provider.clone(), rng.clone(), rejected_number.clone());
        mock!(aws_sdk_sns::Client::publish).then_compute_response(move |req| {
            let to = req.phone_number().unwrap();
            match p.answer(&rng, to, req.message().unwrap(), &rejected) {
                Answer::Accept => MockResponse::Output(
                    PublishOutput::builder()
                        .message_id(format!("sns-{}", rng.lock().unwrap().gen::<u64>()))
                        .build(),
                ),
                Answer::Throttle => {
                    MockResponse::<_, PublishError>::Http(sns_error(400, "Throttling", None, to))
                }
                Answer::Fail => MockResponse::Http(sns_error(500, "InternalError", None, to)),
                Answer::Reject => MockResponse::Http(sns_error(400, "InvalidParameter", None, to)),
            }
        })
    };
    let email_provider = Arc::new(Provider::default());
    let send_email = {
        let (p, rng, rejected) = (
            email_provider.clone(),
            rng.clone(),
            rejected_address.clone(),
        );
        mock!(aws_sdk_sesv2::Client::send_email).then_compute_response(move |req| {
            let to = &req.destination().unwrap().to_addresses()[0];
            let text = req
                .content()
                .unwrap()
                .simple()
                .unwrap()
                .body()
                .unwrap()
                .text()
                .unwrap()
                .data();
            match p.answer(&rng, to, text, &rejected) {
                Answer::Accept => MockResponse::Output(
                    SendEmailOutput::builder()
                        .message_id(format!("ses-{}", rng.lock().unwrap().gen::<u64>()))
                        .build(),
                ),
                Answer::Throttle => MockResponse::<_, SendEmailError>::Http(ses_error(
                    429,
                    "TooManyRequestsException",
                    to,
                )),
                Answer::Fail => MockResponse::Http(ses_error(503, "ServiceUnavailable", to)),
                Answer::Reject => MockResponse::Http(ses_error(400, "MessageRejected", to)),
            }
        })
    };
    let sms = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&publish]),
        SmsOptions::default(),
    )
    .unwrap();
    let email = SesEmailNotifier::from_client(
        ses_mock(RuleMode::MatchAny, &[&send_email]),
        support::email_options(),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::memory().await.unwrap();
    let signer = HmacLinkSigner::new(SecretBox::new(Box::new([5u8; 32])), BASE_URL).unwrap();
    let engine = Engine::new(
        Arc::new(store.clone()),
        Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
        Arc::new(signer),
        Arc::new(SystemClock),
    )
    .with_notifier(Channel::Sms, Arc::new(sms))
    .with_notifier(Channel::Email, Arc::new(email));
    engine.import_patients(&patients).await.unwrap();
    let form = engine
        .create_form(&FormSpec::from_toml_str(medicare_core::demo::DEMO_FORM).unwrap())
        .await
        .unwrap();
    let filter = Arc::new(Filter::parse("has_phone or has_email").unwrap());
    let campaign = engine
        .create_campaign(&CampaignRequest::new("chaos", form.id, filter))
        .await
        .unwrap();
    let options = SendOptions {
        concurrency: 32,
        max_attempts: 40,
        base_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(20),
        ..SendOptions::default()
    };
    let report = engine.send(campaign, &options, &()).await.unwrap();
    assert!(
        report.channels.iter().all(|c| c.is_complete()),
        "the campaign completed: {:?}",
        report.channels
    );

    let rows = support::delivery_rows(&store, campaign).await;
    assert!(rows
        .iter()
        .all(|r| r.status != "pending" && r.status != "sending"));

    for (channel, provider, rejected) in [
        ("sms", &sms_provider, &rejected_number),
        ("email", &email_provider, &rejected_address),
    ] {
        let answers = provider.answers.lock().unwrap().clone();
        assert!(
            answers.get("throttled").copied().unwrap_or(0) > 50,
            "{channel}: {answers:?}"
        );
        assert!(
            answers.get("5xx").copied().unwrap_or(0) > 10,
            "{channel}: {answers:?}"
        );

        // Each accepted message carries the link of the recipient it was addressed to,
        // and each recipient was accepted exactly once.
        let mut per_recipient: HashMap<i64, u32> = HashMap::new();
        let accepted = provider.accepted.lock().unwrap().clone();
        for (to, text) in &accepted {
            let hash = presented_token_hash(&token_in(text)).unwrap();
            let link = store
                .link(&hash)
                .await
                .unwrap()
                .expect("a link the store issued");
            let row = rows
                .iter()
                .find(|r| r.recipient == link.recipient_id && r.channel == channel)
                .unwrap();
            assert_eq!(
                row.address(),
                Some(to.as_str()),
                "the link is the addressee's own"
            );
            *per_recipient.entry(link.recipient_id).or_default() += 1;
        }
        assert!(
            per_recipient.values().all(|&n| n == 1),
            "{channel}: a recipient got two messages"
        );
        let sent: Vec<i64> = rows
            .iter()
            .filter(|r| r.channel == channel && r.status == "sent")
            .map(|r| r.recipient)
            .collect();
        assert_eq!(
            sent.len(),
            per_recipient.len(),
            "{channel}: sent records = accepted messages"
        );
        assert!(sent.iter().all(|id| per_recipient.contains_key(id)));
        assert!(sent.len() > 300, "{channel}: {} sent", sent.len());

        // The rejected address: failed, after exactly one attempt, with a reason that
        // names the error and not the address.
        let failed: Vec<_> = rows
            .iter()
            .filter(|r| r.channel == channel && r.status == "failed")
            .collect();
        assert_eq!(failed.len(), 1, "{channel}: {failed:?}");
        assert_eq!(failed[0].address(), Some(rejected.as_str()));
        assert_eq!(
            failed[0].attempts, 1,
            "{channel}: a permanent error is not retried"
        );
        assert_eq!(provider.attempts.lock().unwrap()[rejected.as_str()], 1);
        let reason = failed[0].reason.as_deref().unwrap();
        assert!(
            reason.contains("InvalidParameter") || reason.contains("MessageRejected"),
            "{reason}"
        );
        assert!(!reason.contains(rejected.as_str()), "{reason}");
    }
    assert!(report.retries > 100, "retries: {}", report.retries);
}
