//! The operators' sign-in pages under `/console`: the password, the second factor (a
//! code from the authenticator app or a recovery code), the first enrolment (QR code,
//! first code, the recovery codes shown once), the step-up before sensitive actions,
//! and sign-out.
//!
//! The pages are thin: each reads its form, calls the [`Service`] and renders what
//! came back. A refused sign-in reads the same whatever the reason (unknown user, wrong
//! password, locked account, wrong or spent code), so the pages tell nobody which
//! usernames exist. Malformed input (a blank field, a code that is not 6 digits, a
//! username with control characters) is named by the field it is in, GOV.UK style: an
//! error summary linking to the field, and the message beside the field.
//!
//! After the password the browser holds an *unfinished* session (5 minutes); the
//! second factor or the enrolment replaces it with a new signed-in session id.
//! `GET /console` is the page signing in ends on (the console's dashboard replaces it).

use super::auth::{Access, RouteTable, SignedIn, SigningInSession, SIGN_IN_PATH, STEP_UP_PATH};
use super::views::{self, ErrorItem, Page};
use super::AppState;
use crate::access::service::{IssuedSession, SecondFactor};
use crate::access::{AccessError, Service, SessionId, Stage};
use crate::error::Error;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Form;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The page signing in ends on.
pub const HOME_PATH: &str = "/console";
/// The second-factor page.
pub const CODE_PATH: &str = "/console/sign-in/code";
/// The recovery-code page.
pub const RECOVERY_PATH: &str = "/console/sign-in/recovery";
/// The enrolment page.
pub const ENROL_PATH: &str = "/console/enrol";
/// Sign-out (`POST`).
pub const SIGN_OUT_PATH: &str = "/console/sign-out";

/// The sign-in pages' templates.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "signin/sign_in.html",
        include_str!("templates/sign_in.html"),
    ),
    ("signin/code.html", include_str!("templates/code.html")),
    ("signin/enrol.html", include_str!("templates/enrol.html")),
    (
        "signin/recovery_codes.html",
        include_str!("templates/recovery_codes.html"),
    ),
    ("signin/home.html", include_str!("templates/home.html")),
];

/// The sign-in routes.
pub fn routes() -> RouteTable {
    RouteTable::new()
        .get(SIGN_IN_PATH, Access::Public, get(sign_in_page))
        .post(SIGN_IN_PATH, Access::Public, post(sign_in))
        .get(CODE_PATH, Access::SigningIn, get(code_page))
        .post(CODE_PATH, Access::SigningIn, post(code))
        .get(RECOVERY_PATH, Access::SigningIn, get(recovery_page))
        .post(RECOVERY_PATH, Access::SigningIn, post(recovery))
        .get(ENROL_PATH, Access::SigningIn, get(enrol_page))
        .post(ENROL_PATH, Access::SigningIn, post(enrol))
        .get(STEP_UP_PATH, Access::SignedIn, get(step_up_page))
        .post(STEP_UP_PATH, Access::SignedIn, post(step_up))
        .post(SIGN_OUT_PATH, Access::SignedIn, post(sign_out))
        .get(HOME_PATH, Access::SignedIn, get(home))
}

/// What every refused sign-in step says (the same whatever the reason).
const REFUSED: &str =
    "The username, password or code is wrong, or the account is locked for a while after repeated failures";

#[allow(clippy::result_large_err)] // the error is the page itself, returned as is
fn service(state: &AppState) -> Result<&Arc<Service>, Response> {
    state.access().ok_or_else(|| {
        views::message(
            StatusCode::FORBIDDEN,
            "The operator console is off",
            "This server does not sign operators in.",
            None,
        )
    })
}

/// The response that starts `session` in the browser and goes to `to`.
fn with_session(state: &AppState, session: &IssuedSession, to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    set_cookie(state, &session.id, &mut r);
    r
}

fn set_cookie(state: &AppState, id: &SessionId, r: &mut Response) {
    let value = state.options().session_cookie.set(id);
    match HeaderValue::from_str(value.expose_secret()) {
        Ok(v) => {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        Err(_) => tracing::error!("a session cookie was not a valid header"),
    }
}

fn next_for(stage: Stage) -> &'static str {
    match stage {
        Stage::SecondFactor => CODE_PATH,
        Stage::Enrolment => ENROL_PATH,
        Stage::Active => HOME_PATH,
    }
}

/// A failure underneath (storage, sealing): logged, answered with the plain page.
fn failed(e: &AccessError) -> Response {
    tracing::error!(error = %e, "a sign-in step failed");
    views::failure()
}

// ----- the password ------------------------------------------------------------------

#[derive(Serialize)]
struct SignInView<'a> {
    username: &'a str,
    username_error: &'a str,
    password_error: &'a str,
    notice: &'a str,
}

/// The sign-in form as posted. Not `Debug`: it holds the password.
#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct SignInQuery {
    #[serde(default)]
    signed_out: Option<String>,
}

async fn sign_in_page(Query(q): Query<SignInQuery>) -> Response {
    let notice = if q.signed_out.is_some() {
        "You have signed out."
    } else {
        ""
    };
    views::page(
        StatusCode::OK,
        "signin/sign_in.html",
        &Page::new(
            "Sign in",
            SignInView {
                username: "",
                username_error: "",
                password_error: "",
                notice,
            },
        ),
    )
}

fn sign_in_again(status: StatusCode, username: &str, errors: Vec<ErrorItem>) -> Response {
    let error_of = |field: &str| {
        errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.text.clone())
            .unwrap_or_default()
    };
    let (username_error, password_error) = (error_of("username"), error_of("password"));
    views::page(
        status,
        "signin/sign_in.html",
        &Page::new(
            "Sign in",
            SignInView {
                username,
                username_error: &username_error,
                password_error: &password_error,
                notice: "",
            },
        )
        .with_errors(errors),
    )
}

/// The message for a malformed value (the error names the rule, never the value).
fn invalid_message(e: &Error) -> String {
    match e {
        Error::InvalidInput { message, .. } => {
            let mut m = message.clone();
            if let Some(first) = m.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            m
        }
        other => other.to_string(),
    }
}

async fn sign_in(State(state): State<AppState>, Form(form): Form<SignInForm>) -> Response {
    let service = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let password = SecretString::from(form.password);
    // What is shown back: never a username with control characters in it.
    let shown = if form.username.chars().any(char::is_control) {
        ""
    } else {
        form.username.as_str()
    };
    let mut errors = Vec::new();
    if form.username.trim().is_empty() {
        errors.push(ErrorItem::new("username", "Enter your username"));
    }
    if password.expose_secret().is_empty() {
        errors.push(ErrorItem::new("password", "Enter your password"));
    }
    if !errors.is_empty() {
        return sign_in_again(StatusCode::UNPROCESSABLE_ENTITY, shown, errors);
    }
    match service.sign_in(&form.username, &password).await {
        Ok(session) => with_session(&state, &session, next_for(session.stage)),
        Err(AccessError::SignInRefused { .. }) => sign_in_again(
            StatusCode::UNAUTHORIZED,
            shown,
            vec![ErrorItem::new("username", REFUSED)],
        ),
        Err(AccessError::Other(e @ Error::InvalidInput { .. })) => sign_in_again(
            StatusCode::UNPROCESSABLE_ENTITY,
            shown,
            vec![ErrorItem::new("username", invalid_message(&e))],
        ),
        Err(e) => failed(&e),
    }
}

// ----- the second factor --------------------------------------------------------------

/// Which code a code page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeKind {
    Totp,
    Recovery,
    StepUp,
}

#[derive(Serialize)]
struct CodeView<'a> {
    action: &'a str,
    csrf_token: &'a str,
    recovery: bool,
    step_up: bool,
    code_error: &'a str,
    next: &'a str,
}

fn code_form(
    kind: CodeKind,
    csrf_token: &str,
    error: Option<&str>,
    next: &str,
    header: Option<views::Header>,
    status: StatusCode,
) -> Response {
    let (title, action) = match kind {
        CodeKind::Totp => ("Enter the code from your authenticator app", CODE_PATH),
        CodeKind::Recovery => ("Enter a recovery code", RECOVERY_PATH),
        CodeKind::StepUp => ("Confirm it is you", STEP_UP_PATH),
    };
    let errors = error
        .map(|e| vec![ErrorItem::new("code", e)])
        .unwrap_or_default();
    let mut page = Page::new(
        title,
        CodeView {
            action,
            csrf_token,
            recovery: kind == CodeKind::Recovery,
            step_up: kind == CodeKind::StepUp,
            code_error: error.unwrap_or(""),
            next,
        },
    )
    .with_errors(errors);
    page.header = header;
    views::page(status, "signin/code.html", &page)
}

/// The form posted by the code pages. Not `Debug`: it holds a code.
#[derive(Deserialize)]
struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: String,
}

async fn code_page(session: SigningInSession) -> Response {
    code_form(
        CodeKind::Totp,
        session.csrf_token().expose(),
        None,
        "",
        None,
        StatusCode::OK,
    )
}

async fn recovery_page(session: SigningInSession) -> Response {
    code_form(
        CodeKind::Recovery,
        session.csrf_token().expose(),
        None,
        "",
        None,
        StatusCode::OK,
    )
}

/// The inline error for a refused or malformed code, and its status; `Err` for what
/// is not about the code (a session that ended: sign in again; a failure).
#[allow(clippy::result_large_err)] // the error is the page itself, returned as is
fn code_error(kind: CodeKind, e: &AccessError) -> Result<(String, StatusCode), Response> {
    match e {
        AccessError::SignInRefused { .. } => Ok((REFUSED.to_string(), StatusCode::UNAUTHORIZED)),
        AccessError::Other(Error::InvalidInput { .. }) => Ok((
            match kind {
                CodeKind::Recovery => {
                    "Enter a recovery code: 10 letters and digits, as printed".to_string()
                }
                _ => "Enter the 6-digit code from your authenticator app".to_string(),
            },
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        AccessError::Unauthenticated(_) => Err(Redirect::to(SIGN_IN_PATH).into_response()),
        other => Err(failed(other)),
    }
}

async fn second_factor(
    state: &AppState,
    session: &SigningInSession,
    kind: CodeKind,
    code: &str,
) -> Response {
    let service = match service(state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let factor = match kind {
        CodeKind::Recovery => SecondFactor::RecoveryCode(code),
        _ => SecondFactor::Totp(code),
    };
    match service.second_factor(session.id(), factor).await {
        Ok(signed_in) => with_session(state, &signed_in, HOME_PATH),
        Err(e) => match code_error(kind, &e) {
            Ok((message, status)) => code_form(
                kind,
                session.csrf_token().expose(),
                Some(&message),
                "",
                None,
                status,
            ),
            Err(r) => r,
        },
    }
}

async fn code(
    State(state): State<AppState>,
    session: SigningInSession,
    Form(form): Form<CodeForm>,
) -> Response {
    second_factor(&state, &session, CodeKind::Totp, &form.code).await
}

async fn recovery(
    State(state): State<AppState>,
    session: SigningInSession,
    Form(form): Form<CodeForm>,
) -> Response {
    second_factor(&state, &session, CodeKind::Recovery, &form.code).await
}

// ----- enrolment ------------------------------------------------------------------------

#[derive(Serialize)]
struct EnrolView<'a> {
    csrf_token: &'a str,
    qr_svg: minijinja::Value,
    otpauth_uri: &'a str,
    secret: &'a str,
    code_error: &'a str,
}

/// The QR code's SVG as markup to embed (without its XML declaration). It comes from
/// the `qrcode` crate, never from input.
fn inline_svg(svg: &str) -> minijinja::Value {
    let start = svg.find("<svg").unwrap_or(0);
    minijinja::Value::from_safe_string(svg[start..].to_string())
}

async fn enrolment_form(
    state: &AppState,
    session: &SigningInSession,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let service = match service(state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let enrolment = match service.enrolment(session.id()).await {
        Ok(e) => e,
        Err(AccessError::Unauthenticated(_)) => return Redirect::to(SIGN_IN_PATH).into_response(),
        Err(e) => return failed(&e),
    };
    let csrf = session.csrf_token();
    let errors = error
        .map(|e| vec![ErrorItem::new("code", e)])
        .unwrap_or_default();
    views::page(
        status,
        "signin/enrol.html",
        &Page::new(
            "Set up your authenticator app",
            EnrolView {
                csrf_token: csrf.expose(),
                qr_svg: inline_svg(enrolment.qr_svg.expose_secret()),
                otpauth_uri: enrolment.otpauth_uri.expose_secret(),
                secret: enrolment.secret_base32.expose_secret(),
                code_error: error.unwrap_or(""),
            },
        )
        .with_errors(errors),
    )
}

async fn enrol_page(State(state): State<AppState>, session: SigningInSession) -> Response {
    enrolment_form(&state, &session, None, StatusCode::OK).await
}

#[derive(Serialize)]
struct RecoveryCodesView<'a> {
    codes: Vec<&'a str>,
    home: &'a str,
}

async fn enrol(
    State(state): State<AppState>,
    session: SigningInSession,
    Form(form): Form<CodeForm>,
) -> Response {
    let service = match service(&state) {
        Ok(s) => s,
        Err(r) => return r,
    };
    match service.confirm_enrolment(session.id(), &form.code).await {
        Ok(enrolled) => {
            let grouped = enrolled.recovery_codes.grouped();
            let codes: Vec<&str> = grouped.iter().map(|c| c.expose_secret()).collect();
            let mut r = views::page(
                StatusCode::OK,
                "signin/recovery_codes.html",
                &Page::new(
                    "Save your recovery codes",
                    RecoveryCodesView {
                        codes,
                        home: HOME_PATH,
                    },
                ),
            );
            set_cookie(&state, &enrolled.session.id, &mut r);
            r
        }
        Err(e) => match code_error(CodeKind::Totp, &e) {
            Ok((message, status)) => enrolment_form(&state, &session, Some(&message), status).await,
            Err(r) => r,
        },
    }
}

// ----- step-up, sign-out, home ---------------------------------------------------------

/// Where to go after a step-up: a console path given by the page, else home. Anything
/// else (another site, a scheme-relative `//host`) is ignored.
fn safe_next(next: &str) -> &str {
    let console = next == HOME_PATH || next.starts_with("/console/");
    if console
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
    {
        next
    } else {
        HOME_PATH
    }
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn step_up_page(who: SignedIn, Query(q): Query<NextQuery>) -> Response {
    code_form(
        CodeKind::StepUp,
        who.csrf_token().unwrap_or_default(),
        None,
        safe_next(&q.next),
        Some(who.header()),
        StatusCode::OK,
    )
}

async fn step_up(
    State(state): State<AppState>,
    who: SignedIn,
    Form(form): Form<CodeForm>,
) -> Response {
    let (service, session) = match (service(&state), who.session()) {
        (Ok(s), Some(session)) => (s, session),
        (Err(r), _) => return r,
        (_, None) => return views::failure(),
    };
    match service.step_up(session, &form.code).await {
        Ok(()) => Redirect::to(safe_next(&form.next)).into_response(),
        Err(e) => match code_error(CodeKind::StepUp, &e) {
            Ok((message, status)) => code_form(
                CodeKind::StepUp,
                who.csrf_token().unwrap_or_default(),
                Some(&message),
                safe_next(&form.next),
                Some(who.header()),
                status,
            ),
            Err(r) => r,
        },
    }
}

async fn sign_out(State(state): State<AppState>, who: SignedIn) -> Response {
    if let (Ok(service), Some(session)) = (service(&state), who.session()) {
        if let Err(e) = service.sign_out(session).await {
            return failed(&e);
        }
    }
    let mut r = Redirect::to(&format!("{SIGN_IN_PATH}?signed_out=1")).into_response();
    if let Ok(v) = HeaderValue::from_str(&state.options().session_cookie.clear()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Serialize)]
struct HomeView<'a> {
    role: &'a str,
    permissions: Vec<&'static str>,
}

async fn home(who: SignedIn) -> Response {
    let role = who.principal().role();
    let permissions = crate::access::Permission::ALL
        .into_iter()
        .filter(|p| role.allows(*p))
        .map(|p| p.as_str())
        .collect();
    views::page(
        StatusCode::OK,
        "signin/home.html",
        &Page::new(
            "You are signed in",
            HomeView {
                role: role.as_str(),
                permissions,
            },
        )
        .with_header(who.header()),
    )
}

#[cfg(test)]
mod canary;
#[cfg(test)]
mod tests;
