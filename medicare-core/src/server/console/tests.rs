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
    /// One operator per role.
    ops: Operators,
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
        for role in [
            Role::CampaignManager,
            Role::Analyst,
            Role::DataSteward,
            Role::Admin,
            Role::Auditor,
        ] {
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
            ops,
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
async fn email_first_and_a_spend_cap_are_chosen_on_the_wizard_and_priced_on_the_preview() {
    let c = Console::start().await;
    let mut fields = two_fields("attending", "age >= 18");
    fields.extend([("strategy", "email_first"), ("budget", "25")]);
    let (status, to, _) = c
        .post(MANAGER, "/console/forms/new/fields", &fields, true)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let campaign = c.engine.store().campaigns().await.unwrap()[0].clone();
    assert_eq!(campaign.strategy, crate::campaign::Strategy::EmailFirst);
    assert_eq!(campaign.budget, Some(crate::notify::Money(25_000_000)));

    let (status, body) = c.get(MANAGER, &to).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("Estimated cost of each sending order"),
        "{body}"
    );
    assert!(body.contains("Email first (chosen)") && body.contains("Both at once</th>"));
    assert!(body.contains("id=\"budget\">£25.00"), "{body}");
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

impl Console {
    /// A campaign named `name` to every adult, created through the engine as the CLI
    /// would; when `send`, created and sent three days ago (the reminder gap).
    async fn campaign(&self, name: &str, send: bool) -> crate::campaign::CampaignId {
        let ago = if send {
            Duration::days(3)
        } else {
            Duration::zero()
        };
        self.clock.advance(-ago);
        let spec = crate::form::FormSpec::from_toml_str(crate::demo::DEMO_FORM).unwrap();
        let form = match self.engine.store().form_by_name(&spec.name).await {
            Ok(f) => f,
            Err(_) => self.engine.create_form(&spec).await.unwrap(),
        };
        let filter = Arc::new(crate::filter::Filter::parse("age >= 18").unwrap());
        let id = self
            .engine
            .create_campaign(&crate::campaign::CampaignRequest::new(
                name, form.id, filter,
            ))
            .await
            .unwrap();
        if send {
            self.engine
                .send(id, &crate::campaign::SendOptions::default(), &())
                .await
                .unwrap();
        }
        self.clock.advance(ago);
        id
    }

    /// The reminder rounds of campaign `id` so far.
    async fn reminder_rounds(
        &self,
        id: crate::campaign::CampaignId,
    ) -> Vec<crate::store::RoundInfo> {
        let mut rounds = self.engine.store().rounds(id).await.unwrap();
        rounds.retain(|r| r.round >= 1);
        rounds
    }
}

#[tokio::test]
async fn console_reminders_follow_the_rules_and_a_double_submit_sends_once() {
    let c = Console::start().await;
    let id = c.campaign("Flu reminders", true).await;
    let board = format!("/console/campaigns/{id}");
    let remind = format!("/console/campaigns/{id}/reminders");

    // The dashboard: funnel, chart with its table, non-respondents, reminder rules.
    let (status, body) = c.get(MANAGER, &board).await;
    assert_eq!(status, StatusCode::OK);
    for part in [
        "Response rate by day",
        "<svg",
        "role=\"img\"",
        "Response rate by day, as a table",
        "By reason",
        "By condition",
        "By age band",
        "By postcode district",
        "Reminder rounds sent",
        "0 of 5",
        "72 hours",
        ">Send reminder</button>",
        "name=\"round\" value=\"1\"",
    ] {
        assert!(body.contains(part), "{part}: {body}");
    }
    assert!(
        !body.contains("Weekly report"),
        "a manager cannot read reports"
    );

    // An analyst sees no button, and a forged POST is refused.
    let (_, body) = c.get(Role::Analyst, &board).await;
    assert!(!body.contains("Send reminder</button>"));
    assert!(body.contains("Your role cannot send reminders"));
    let (status, _, _) = c
        .post(Role::Analyst, &remind, &[("round", "1")], true)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Without the CSRF token, with a tampered or missing round: refused, nothing sent.
    let (status, _, _) = c.post(MANAGER, &remind, &[("round", "1")], false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        &[("round", "7")][..],
        &[("round", "one")],
        &[("round", "-1")],
        &[],
    ] {
        let (status, _, body) = c.post(MANAGER, &remind, bad, true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(body.contains("could not be read"), "{body}");
    }
    let (status, _, _) = c
        .post(
            MANAGER,
            "/console/campaigns/nine/reminders",
            &[("round", "1")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(c.reminder_rounds(id).await.is_empty());

    // Twice (a double click): one round.
    let (s1, to1, _) = c.post(MANAGER, &remind, &[("round", "1")], true).await;
    let (s2, to2, _) = c.post(MANAGER, &remind, &[("round", "1")], true).await;
    assert_eq!((s1, s2), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    assert_eq!(to1, format!("/console/campaigns/{id}?reminded=1#reminders"));
    assert_eq!(to1, to2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, body) = c.get(MANAGER, &board).await;
        let rounds = c.reminder_rounds(id).await;
        if rounds.len() == 1 && rounds[0].unfinished == 0 && !body.contains("being sent now") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the reminder did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // And again after it finished: still one round.
    let (status, _, _) = c.post(MANAGER, &remind, &[("round", "1")], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(c.reminder_rounds(id).await.len(), 1);
    let entries = crate::audit::all_entries(c.engine.store().as_ref())
        .await
        .unwrap();
    let manager = c.ops.of(MANAGER).id.0;
    assert!(
        entries
            .iter()
            .any(|e| e.action == "reminder_round" && e.actor == format!("operator:{manager}")),
        "the round is recorded as the operator's"
    );

    // The banner, the round counted, and too soon for the next one.
    let (_, body) = c.get(MANAGER, &to1).await;
    assert!(body.contains("Reminder round 1 is on its way"), "{body}");
    assert!(body.contains("1 of 5"));
    assert!(
        body.contains("Too soon: the next reminder can go from 3 December 2026"),
        "{body}"
    );
    assert!(!body.contains("Send reminder</button>"));
    c.clock.advance(Duration::minutes(10));
    let (status, _, body) = c.post(MANAGER, &remind, &[("round", "2")], true).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("There is a problem") && body.contains("href=\"#reminder-unavailable\""));
    assert!(body.contains("Too soon"));
    assert_eq!(c.reminder_rounds(id).await.len(), 1);

    // A campaign not sent yet: why, and refused.
    let draft = c.campaign("Not sent yet", false).await;
    let (_, body) = c.get(MANAGER, &format!("/console/campaigns/{draft}")).await;
    assert!(body.contains("Reminders can go once the campaign has been sent: it is draft"));
    assert!(!body.contains("Send reminder</button>"));
    let (status, _, _) = c
        .post(
            MANAGER,
            &format!("/console/campaigns/{draft}/reminders"),
            &[("round", "1")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(c.reminder_rounds(draft).await.is_empty());
}

#[tokio::test]
async fn console_report_csv_is_formula_safe_and_for_report_readers_only() {
    let c = Console::start().await;
    let id = c
        .campaign("=HYPERLINK(\"http://evil.example\")", true)
        .await;
    let csv = format!("/console/campaigns/{id}/report.csv");
    let (_, body) = c
        .get(Role::Analyst, &format!("/console/campaigns/{id}"))
        .await;
    assert!(body.contains("Weekly report: week 2026-W49"), "{body}");
    assert!(body.contains(&format!("href=\"{csv}\"")));
    let r = Console::client()
        .get(format!("{}{csv}", c.base))
        .header("cookie", c.cookie(Role::Analyst))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let body = r.text().await.unwrap();
    let mut lines = body.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("week,campaign_id,campaign,"));
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty());
    for row in rows {
        assert!(
            row.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
            "{row}"
        );
        assert!(!row.split(',').any(|cell| cell.starts_with('=')), "{row}");
    }
    // Not for a role without reports: no link, and the download is refused.
    let (_, body) = c.get(MANAGER, &format!("/console/campaigns/{id}")).await;
    assert!(!body.contains("report.csv"));
    assert_eq!(c.get(MANAGER, &csv).await.0, StatusCode::FORBIDDEN);
    // Ids that name nothing.
    for path in [
        "/console/campaigns/999/report.csv",
        "/console/campaigns/abc/report.csv",
        "/console/campaigns/999",
        "/console/campaigns/1x",
    ] {
        let (status, body) = c.get(Role::Analyst, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(body.contains("Page not found"), "{path}");
    }
}

#[tokio::test]
async fn console_operators_are_changed_by_an_admin_only() {
    let c = Console::start().await;
    let admin = Role::Admin;
    let analyst = c.ops.of(Role::Analyst).id.0;
    let (status, body) = c.get(admin, "/console/operators").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&c.ops.of(Role::Analyst).username));
    assert!(body.contains("Reset second factor") && body.contains("Set role"));
    assert!(
        body.contains("href=\"/console/operators\"") && !body.contains("href=\"/console/audit\""),
        "{body}"
    );
    // Others: no link, and refused, forged POSTs included.
    for role in [MANAGER, Role::Auditor, Role::Analyst] {
        let (status, _) = c.get(role, "/console/operators").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
        let (_, body) = c.get(role, "/console").await;
        assert!(!body.contains("/console/operators"), "{role}");
        let (status, _, _) = c
            .post(
                role,
                &format!("/console/operators/{analyst}"),
                &[("action", "disable")],
                true,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }
    let service = &c.ops.service;
    let op = crate::access::OperatorId(analyst);
    assert_eq!(service.operator(op).await.unwrap().status, "active");

    let c = &c;
    let path = format!("/console/operators/{analyst}");
    let change = |pairs: Vec<(&'static str, &'static str)>| {
        let path = path.clone();
        async move { c.post(admin, &path, &pairs, true).await }
    };
    let (status, to, _) = change(vec![("action", "disable")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        to,
        format!("/console/operators?changed={analyst}&action=disable")
    );
    assert_eq!(service.operator(op).await.unwrap().status, "disabled");
    let (_, body) = c.get(admin, &to).await;
    assert!(
        body.contains("disabled: their sessions have ended"),
        "{body}"
    );
    // The disabled analyst's session has ended.
    let (status, _) = c.get(Role::Analyst, "/console/campaigns").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    change(vec![("action", "enable")]).await;
    assert_eq!(service.operator(op).await.unwrap().status, "active");
    let (status, _, _) = change(vec![("action", "unlock")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    change(vec![("action", "set-role"), ("role", "auditor")]).await;
    assert_eq!(service.operator(op).await.unwrap().role, Role::Auditor);
    change(vec![("action", "reset-mfa")]).await;
    assert_eq!(service.operator(op).await.unwrap().status, "pending");

    // Bad input: refused with a page, nothing changed.
    for bad in [
        vec![("action", "explode")],
        vec![],
        vec![("action", "set-role"), ("role", "god")],
        vec![("action", "set-role")],
    ] {
        let (status, _, body) = change(bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(body.contains("could not be read"));
    }
    assert_eq!(service.operator(op).await.unwrap().role, Role::Auditor);
    for path in ["/console/operators/9999", "/console/operators/abc"] {
        let (status, _, _) = c.post(admin, path, &[("action", "enable")], true).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    // The last admin cannot disable themselves: the reason, on the page.
    let me = c.ops.of(admin).id.0;
    let (status, _, body) = c
        .post(
            admin,
            &format!("/console/operators/{me}"),
            &[("action", "disable")],
            true,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("last enabled admin") && body.contains("href=\"#operator-error\""));
    // Managing operators needs a fresh second factor.
    c.clock.advance(Duration::minutes(6));
    let r = Console::client()
        .get(format!("{}/console/operators", c.base))
        .header("cookie", c.cookie(admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], crate::server::auth::STEP_UP_PATH);
}

#[tokio::test]
async fn console_audit_page_filters_and_verifies_for_auditors_and_forms_list_for_designers() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let c = Console::start().await;
    let id = c.campaign("Audited", false).await;
    let auditor = Role::Auditor;
    let (status, body) = c.get(auditor, "/console/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Intact"), "{body}");
    assert!(body.contains("campaign_create") && body.contains(&format!("campaign:{id}")));
    assert!(
        body.contains("href=\"/console/audit\"") && !body.contains("href=\"/console/campaigns\"")
    );
    let (_, body) = c
        .get(auditor, &format!("/console/audit?action=campaign_create&target=campaign%3A{id}&since=2026-11-30&actor="))
        .await;
    assert!(body.contains("1 events match"), "{body}");
    // Reading is recorded as the auditor's.
    let me = c.ops.of(auditor).id.0;
    let (_, body) = c
        .get(
            auditor,
            &format!("/console/audit?action=audit_read&actor=operator%3A{me}"),
        )
        .await;
    assert!(
        body.contains("audit_read") && !body.contains("0 events match"),
        "{body}"
    );
    // Bad filters: each at its field, nothing listed.
    let (status, body) = c
        .get(
            auditor,
            "/console/audit?since=yesterday&actor=root&action=%3Cscript%3E&target=nope",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["since", "actor", "action", "target"] {
        assert!(body.contains(&format!("href=\"#{field}\"")), "{field}");
    }
    assert!(!body.contains("<script>") && !body.contains("id=\"events\""));
    // Others are refused.
    for role in [MANAGER, Role::Admin, Role::Analyst] {
        assert_eq!(
            c.get(role, "/console/audit").await.0,
            StatusCode::FORBIDDEN,
            "{role}"
        );
    }

    // The forms list: for those who make forms.
    let (status, body) = c.get(MANAGER, "/console/forms").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Every form, newest first") && body.contains("Audited"));
    assert!(body.contains("href=\"/console/forms\"") && !body.contains("href=\"/console/audit\""));
    assert_eq!(
        c.get(Role::Analyst, "/console/forms").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.get(auditor, "/console/forms").await.0,
        StatusCode::FORBIDDEN
    );
}
