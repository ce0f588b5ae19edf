//! The console over real HTTP on loopback, as a browser without JavaScript uses it:
//! the wizard to a confirmed send, the error summaries, and the refusals.

use super::testing::sign_in;
use crate::access::{AccessStore, Role, SessionCookie, SessionId};
use crate::campaign::{CampaignState, Engine};
use crate::clock::{Clock, FixedClock};
use crate::link::HmacLinkSigner;
use crate::notify::{Channel, RecordingNotifier};
use crate::patient::{generate, GenerateOptions};
use crate::publish::LocalFolderPublisher;
use crate::server::testing::Operators;
use crate::server::{router, serve, ServerOptions};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use secrecy::SecretBox;
use std::collections::BTreeMap;
use std::sync::Arc;

struct Console {
    engine: Engine,
    clock: Arc<FixedClock>,
    base: String,
    /// A signed-in session per role.
    sessions: BTreeMap<&'static str, SessionId>,
    _dir: tempfile::TempDir,
}

const MANAGER: Role = Role::CampaignManager;

impl Console {
    async fn start() -> Console {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let access: Arc<dyn AccessStore> = sqlite;
        let clock = Arc::new(FixedClock::new(
            Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
        ));
        let signer = HmacLinkSigner::new(
            SecretBox::new(Box::new([3u8; 32])),
            "https://forms.example.org",
        )
        .unwrap();
        let recorder = Arc::new(RecordingNotifier::new());
        let engine = Engine::new(
            store,
            Arc::new(LocalFolderPublisher::new(dir.path().join("forms"))),
            Arc::new(signer),
            clock.clone(),
        )
        .with_notifier(Channel::Sms, recorder.clone())
        .with_notifier(Channel::Email, recorder);
        engine
            .import_patients(&generate(GenerateOptions {
                count: 120,
                seed: 5,
            }))
            .await
            .unwrap();
        let ops = Operators::enrol_every_role(access, clock.clone() as Arc<dyn Clock>)
            .await
            .unwrap();
        let mut sessions = BTreeMap::new();
        for role in [Role::CampaignManager, Role::Analyst, Role::DataSteward] {
            sessions.insert(role.as_str(), sign_in(&ops, role, 1).await.unwrap());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let options = ServerOptions {
            access: Some(ops.service.clone()),
            session_cookie: SessionCookie::for_bind(addr, false).unwrap(),
            ..ServerOptions::default()
        };
        tokio::spawn(serve(
            listener,
            router(engine.clone(), options),
            std::future::pending(),
        ));
        Console {
            engine,
            clock,
            base: format!("http://{addr}"),
            sessions,
            _dir: dir,
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn cookie(&self, role: Role) -> String {
        format!("medicare-session={}", self.sessions[role.as_str()].expose())
    }

    async fn get(&self, role: Role, path: &str) -> (StatusCode, String) {
        let r = Self::client()
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie(role))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts `pairs` (with the session's CSRF token unless `csrf` is false); returns the
    /// status, the redirect target and the body.
    async fn post(
        &self,
        role: Role,
        path: &str,
        pairs: &[(&str, &str)],
        csrf: bool,
    ) -> (StatusCode, String, String) {
        let token = self.sessions[role.as_str()].csrf_token();
        let mut form: Vec<(&str, &str)> = pairs.to_vec();
        if csrf {
            form.push(("csrf_token", token.expose()));
        }
        let r = Self::client()
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie(role))
            .form(&form)
            .send()
            .await
            .unwrap();
        let location = r
            .headers()
            .get("location")
            .map_or(String::new(), |v| v.to_str().unwrap().to_string());
        (r.status(), location, r.text().await.unwrap())
    }
}

fn two_fields<'a>(name_1: &'a str, filter: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("count", "2"),
        ("form_name", "flu_2026"),
        ("title", "Register for your flu vaccination"),
        ("intro", ""),
        ("field-1-name", name_1),
        (
            "field-1-label",
            "<script>alert(1)</script> Will you attend?",
        ),
        ("field-1-type", "yes_no"),
        ("field-1-required", "yes"),
        ("field-2-name", "site"),
        ("field-2-label", "Where?"),
        ("field-2-type", "single_choice"),
        ("field-2-options", "Surgery\n<b>Pharmacy</b>"),
        ("filter", filter),
        ("channel", "sms"),
        ("channel", "email"),
        ("link_days", "30"),
        ("sms", "{org}: please answer {link}"),
    ]
}

#[tokio::test]
async fn the_wizard_goes_to_a_confirmed_send_without_javascript() {
    let c = Console::start().await;
    let (status, body) = c.get(MANAGER, "/console/forms/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Please enter the number of data fields you require"));

    // Screen 1: a bad count gets the error summary linking to the input.
    for bad in ["0", "51", "lots"] {
        let (status, _, body) = c
            .post(MANAGER, "/console/forms/new", &[("count", bad)], true)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(body.contains("There is a problem") && body.contains("href=\"#count\""));
        assert!(body.contains("<title>Error: "), "{body}");
    }
    let (status, to, _) = c
        .post(MANAGER, "/console/forms/new", &[("count", "2")], true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/console/forms/new/fields?count=2");
    let (status, body) = c.get(MANAGER, &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"field-2-name\"") && !body.contains("field-3-name"));

    // Screen 2: a hostile name and a bad filter, each at its input; nothing stored.
    let (status, _, body) = c
        .post(
            MANAGER,
            "/console/forms/new/fields",
            &two_fields("x; drop table patients", "age >= 65 and\nagee < 3"),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("href=\"#field-1-name\""), "{body}");
    assert!(body.contains("href=\"#filter\""));
    assert!(body.contains("line 2, column 1"), "{body}");
    assert!(!body.contains("<script>alert"), "the label is escaped");
    assert!(
        body.contains("x; drop table patients"),
        "the typed name is kept"
    );
    assert!(c.engine.store().forms().await.unwrap().is_empty());

    // A filter that selects nobody is refused before anything is stored.
    let (status, _, body) = c
        .post(
            MANAGER,
            "/console/forms/new/fields",
            &two_fields("attending", "age > 200"),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("selects no patient"));
    assert!(c.engine.store().forms().await.unwrap().is_empty());

    // Without the CSRF token: refused.
    let (status, _, _) = c
        .post(
            MANAGER,
            "/console/forms/new/fields",
            &two_fields("attending", "age >= 18"),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, to, _) = c
        .post(
            MANAGER,
            "/console/forms/new/fields",
            &two_fields("attending", "age >= 18"),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let campaign = c.engine.store().campaigns().await.unwrap()[0].clone();
    assert_eq!(to, format!("/console/campaigns/{}/preview", campaign.id));

    // Screen 3.
    let (status, body) = c.get(MANAGER, &to).await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "You are sending this form:",
        "To these patients:",
        "Confirm and send",
        "Subset of patients",
        "<iframe",
        "sandbox",
    ] {
        assert!(body.contains(part), "{part}");
    }
    assert!(
        !body.contains("<script>alert")
            && !body.contains("&lt;script&gt;alert(1)&lt;/script&gt; Will"),
        "the form page is escaped once for the page and once for srcdoc"
    );

    // Subset: masked for a campaign manager.
    let (status, body) = c
        .get(
            MANAGER,
            &format!("/console/campaigns/{}/subset", campaign.id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Initials") && !body.contains("NHS number"));
    // A data steward may see who they are.
    let (status, body) = c
        .get(
            Role::DataSteward,
            &format!("/console/campaigns/{}/subset", campaign.id),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("NHS number") && !body.contains("Initials"));

    // Confirm and send: twice (a double click) sends once.
    let send = format!("/console/campaigns/{}/send", campaign.id);
    let (status, _, _) = c.post(MANAGER, &send, &[], false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    // Past the fresh-second-factor window: refused until the code is entered again.
    c.clock.advance(Duration::minutes(6));
    let (status, _, body) = c.post(MANAGER, &send, &[], true).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("Confirm it is you"), "{body}");
    assert_eq!(
        c.engine.store().campaign(campaign.id).await.unwrap().state,
        CampaignState::Draft
    );
    c.clock.advance(Duration::minutes(-6));
    let (s1, to1, _) = c.post(MANAGER, &send, &[], true).await;
    let (s2, to2, _) = c.post(MANAGER, &send, &[], true).await;
    assert_eq!((s1, s2), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(to1, format!("/console/campaigns/{}", campaign.id));
    assert_eq!(to1, to2);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let board = loop {
        let (status, body) = c
            .get(
                MANAGER,
                &format!("/console/campaigns/{}/status", campaign.id),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let board: serde_json::Value = serde_json::from_str(&body).unwrap();
        // Every delivery done, and the send's last step (its ledger event, then the
        // state) taken.
        if board["complete"] == true && board["state"] == "sent" {
            break board;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the send did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    // The send ran after the request was answered, as the operator who confirmed it.
    let ledger = crate::audit::all_entries(c.engine.store().as_ref())
        .await
        .unwrap();
    let recorded = ledger
        .iter()
        .find(|e| e.action == "send")
        .expect("recorded");
    assert!(recorded.actor.starts_with("operator:"), "{recorded:?}");
    let status = c.engine.status(campaign.id).await.unwrap();
    let sent: u64 = status.channels.iter().map(|s| s.sent).sum();
    assert_eq!(board["funnel"]["recipients"], status.recipients);
    assert!(sent > 0);
    for s in &status.channels {
        assert_eq!(
            s.sent + s.suppressed + s.failed,
            s.total,
            "each delivery once"
        );
    }
    let (status, body) = c
        .get(MANAGER, &format!("/console/campaigns/{}", campaign.id))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("data-status-url") && body.contains("Answered"));
    let (_, body) = c.get(MANAGER, "/console/campaigns").await;
    assert!(body.contains("Register for your flu vaccination"));
}

#[tokio::test]
async fn roles_without_the_permission_are_refused_and_identity_needs_its_permission() {
    let c = Console::start().await;
    let analyst = Role::Analyst;
    for path in [
        "/console/forms/new",
        "/console/forms/new/fields?count=2",
        "/console/forms/check-name?name=a",
        "/console/campaigns/1/preview",
    ] {
        assert_eq!(
            c.get(analyst, path).await.0,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let (status, _, _) = c
        .post(analyst, "/console/forms/new", &[("count", "2")], true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = c
        .post(analyst, "/console/campaigns/1/send", &[], true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Counting is an analyst's; the JSON names the column of a bad filter.
    let (status, body) = c
        .get(analyst, "/console/audience/count?filter=age%20%3E%3D%2065")
        .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["count"].as_u64().unwrap() > 0);
    let (_, body) = c.get(analyst, "/console/audience/count?filter=agee").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["column"], 1);
    // An unauthenticated request is sent to sign in.
    let r = Console::client()
        .get(format!("{}/console/campaigns", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}
