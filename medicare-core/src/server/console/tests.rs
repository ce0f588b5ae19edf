//! The console over real HTTP on loopback, as a browser without JavaScript uses it:
//! the wizard to a confirmed send, the error summaries, and the refusals.

use crate::access::principal::Credential;
use crate::access::{OperatorId, Principal, Role, SessionId};
use crate::campaign::{CampaignState, Engine};
use crate::patient::{generate, GenerateOptions};
use crate::server::{router, serve, ServerOptions};
use crate::store::sqlite::SqliteStore;
use crate::store::Store;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;
use std::sync::Arc;

struct Console {
    engine: Engine,
    base: String,
    _dir: tempfile::TempDir,
}

/// How the test's operator is signed in.
#[derive(Clone, Copy)]
struct As {
    role: Role,
    fresh: bool,
}

const MANAGER: As = As {
    role: Role::CampaignManager,
    fresh: true,
};

impl Console {
    async fn start() -> Console {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("t.db")).await.unwrap());
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let engine = crate::test_support::engine(store, dir.path(), now);
        engine
            .import_patients(&generate(GenerateOptions {
                count: 120,
                seed: 5,
            }))
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app =
            router(engine.clone(), ServerOptions::default()).layer(axum::middleware::from_fn(
                |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                    let who = req
                        .headers()
                        .get("x-test-role")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.split_once(':'))
                        .and_then(|(role, fresh)| {
                            Some((role.parse::<Role>().ok()?, fresh == "fresh"))
                        });
                    if let Some((role, fresh)) = who {
                        let fresh_until =
                            fresh.then(|| Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap());
                        req.extensions_mut().insert(super::SignedIn {
                            principal: Principal::new(
                                OperatorId(1),
                                role,
                                Credential::Session { fresh_until },
                            ),
                            csrf: Arc::new(session().csrf_token()),
                        });
                    }
                    next.run(req).await
                },
            ));
        tokio::spawn(serve(listener, app, std::future::pending()));
        Console {
            engine,
            base,
            _dir: dir,
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    fn who(as_: As) -> String {
        format!("{}:{}", as_.role, if as_.fresh { "fresh" } else { "stale" })
    }

    async fn get(&self, as_: As, path: &str) -> (StatusCode, String) {
        let r = Self::client()
            .get(format!("{}{path}", self.base))
            .header("x-test-role", Self::who(as_))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts `pairs` (with the session's CSRF token unless `csrf` is false); returns the
    /// status, the redirect target and the body.
    async fn post(
        &self,
        as_: As,
        path: &str,
        pairs: &[(&str, &str)],
        csrf: bool,
    ) -> (StatusCode, String, String) {
        let token = session().csrf_token();
        let mut form: Vec<(&str, &str)> = pairs.to_vec();
        if csrf {
            form.push(("csrf", token.expose()));
        }
        let r = Self::client()
            .post(format!("{}{path}", self.base))
            .header("x-test-role", Self::who(as_))
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

/// One fixed session for the test's operator.
fn session() -> SessionId {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SessionId::parse(ID.get_or_init(|| SessionId::generate().expose().to_string())).unwrap()
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

    // Confirm and send: twice (a double click) sends once.
    let send = format!("/console/campaigns/{}/send", campaign.id);
    let (status, _, _) = c.post(MANAGER, &send, &[], false).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let stale = As {
        fresh: false,
        ..MANAGER
    };
    let (status, to, _) = c.post(stale, &send, &[], true).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.starts_with("/console/step-up"), "{to}");
    assert_eq!(
        c.engine.store().campaign(campaign.id).await.unwrap().state,
        CampaignState::Draft
    );
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
        if board["complete"] == true {
            break board;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the send did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(board["state"], "sent");
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
    let _ = Duration::zero();
}

#[tokio::test]
async fn roles_without_the_permission_are_refused_and_identity_needs_its_permission() {
    let c = Console::start().await;
    let analyst = As {
        role: Role::Analyst,
        fresh: true,
    };
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
