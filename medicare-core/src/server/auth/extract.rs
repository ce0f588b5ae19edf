//! What the guard hands the handlers: the signed-in operator ([`SignedIn`]) or, during
//! sign-in, the unfinished session ([`SigningInSession`]).

use crate::access::{CsrfToken, Principal, SessionId, Username};
use crate::server::views;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use std::sync::Arc;

struct Inner {
    principal: Principal,
    username: Option<Username>,
    session: Option<SessionId>,
    csrf: Option<CsrfToken>,
}

/// The operator the guard authenticated for this request (a route declared
/// [`Access::SignedIn`](super::Access::SignedIn) or
/// [`Access::Requires`](super::Access::Requires)): take it as a handler argument.
#[derive(Clone)]
pub struct SignedIn(Arc<Inner>);

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("principal", &self.0.principal)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    pub(super) fn page(principal: Principal, username: Username, session: SessionId) -> Self {
        SignedIn(Arc::new(Inner {
            principal,
            username: Some(username),
            csrf: Some(session.csrf_token()),
            session: Some(session),
        }))
    }

    pub(super) fn api(principal: Principal) -> Self {
        SignedIn(Arc::new(Inner {
            principal,
            username: None,
            session: None,
            csrf: None,
        }))
    }

    /// Who is acting, with their role.
    pub fn principal(&self) -> &Principal {
        &self.0.principal
    }

    /// Their username (browser pages; `None` for an API token).
    pub fn username(&self) -> Option<&Username> {
        self.0.username.as_ref()
    }

    /// The session's CSRF token, for the hidden [`CSRF_FIELD`](super::CSRF_FIELD) of
    /// every form on the page (browser pages; `None` for an API token).
    pub fn csrf_token(&self) -> Option<&str> {
        self.0.csrf.as_ref().map(CsrfToken::expose)
    }

    /// The browser session (`None` for an API token).
    pub fn session(&self) -> Option<&SessionId> {
        self.0.session.as_ref()
    }

    /// What the layout's header shows: the username, the sign-out form's token and the
    /// console pages their role may open.
    pub fn header(&self) -> views::Header {
        views::Header {
            username: self
                .0
                .username
                .as_ref()
                .map(|u| u.as_str().to_string())
                .unwrap_or_default(),
            csrf_token: self.csrf_token().unwrap_or_default().to_string(),
            nav: crate::server::console::nav(self.0.principal.role()),
        }
    }
}

/// The guard put nothing there: the route was not declared as needing a signed-in
/// operator (a programming error, answered as a failure).
fn missing(what: &str) -> Response {
    tracing::error!("a handler asked for {what}, but its route is not declared to need one");
    views::failure()
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or_else(|| missing("the signed-in operator"))
    }
}

/// The session cookie of a request to an [`Access::SigningIn`](super::Access::SigningIn)
/// route (the handler checks its stage with the sign-in service; the guard sends a
/// request without a session cookie to the sign-in page).
#[derive(Clone)]
pub struct SigningInSession(Arc<SessionId>);

impl std::fmt::Debug for SigningInSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningInSession(..)")
    }
}

impl SigningInSession {
    pub(super) fn new(session: SessionId) -> Self {
        SigningInSession(Arc::new(session))
    }

    /// The session.
    pub fn id(&self) -> &SessionId {
        &self.0
    }

    /// Its CSRF token, for the page's forms.
    pub fn csrf_token(&self) -> CsrfToken {
        self.0.csrf_token()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SigningInSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<SigningInSession>()
            .cloned()
            .ok_or_else(|| missing("the session being signed in"))
    }
}
