//! The route table: each route with the method, path and [`Access`] it declares.

use crate::access::Permission;
use crate::server::AppState;
use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;
use std::collections::BTreeMap;

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: patients' links, the OpenAPI document, the stylesheet, the sign-in page.
    Public,
    /// A browser session part-way through signing in (the second factor or enrolment
    /// step). The handler checks the stage with the sign-in service; the guard checks
    /// the CSRF token of its forms.
    SigningIn,
    /// Any signed-in operator, whatever their role.
    SignedIn,
    /// A signed-in operator whose role grants the permission (and, for the actions that
    /// need one, with a fresh second factor).
    Requires(Permission),
}

impl Access {
    /// The permission declared, if any.
    pub fn permission(self) -> Option<Permission> {
        match self {
            Access::Requires(p) => Some(p),
            _ => None,
        }
    }
}

/// Which kind of client a route serves, from its path: `/api/...` is the JSON API
/// (bearer tokens, JSON errors), everything else browser pages (session cookies,
/// HTML pages and redirects).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The JSON API.
    Api,
    /// Browser pages.
    Page,
}

impl Surface {
    /// The surface of a path.
    pub fn of(path: &str) -> Self {
        if path == "/api" || path.starts_with("/api/") {
            Surface::Api
        } else {
            Surface::Page
        }
    }
}

/// One declared route (without its handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDeclaration {
    /// The method (`GET` also answers `HEAD`).
    pub method: Method,
    /// The axum path template, e.g. `/api/forms/{id}`.
    pub path: &'static str,
    /// What the route needs.
    pub access: Access,
}

/// Routes with their declared access; the only way routes enter the server's router.
#[derive(Default)]
pub struct RouteTable {
    routes: Vec<(RouteDeclaration, MethodRouter<AppState>)>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|(d, _)| d))
            .finish()
    }
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route: `handler` must answer `method` only (e.g. `get(h)` for `GET`).
    ///
    /// # Panics
    ///
    /// When the same method and path are declared twice (a programming error).
    pub fn route(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        handler: MethodRouter<AppState>,
    ) -> Self {
        assert!(
            !self
                .routes
                .iter()
                .any(|(d, _)| d.method == method && d.path == path),
            "{method} {path} is declared twice"
        );
        self.routes.push((
            RouteDeclaration {
                method,
                path,
                access,
            },
            handler,
        ));
        self
    }

    /// Adds a `GET` route.
    pub fn get(self, path: &'static str, access: Access, handler: MethodRouter<AppState>) -> Self {
        self.route(Method::GET, path, access, handler)
    }

    /// Adds a `POST` route.
    pub fn post(self, path: &'static str, access: Access, handler: MethodRouter<AppState>) -> Self {
        self.route(Method::POST, path, access, handler)
    }

    /// This table followed by `other`'s routes.
    pub fn merge(mut self, other: RouteTable) -> Self {
        for (d, handler) in other.routes {
            self = self.route(d.method, d.path, d.access, handler);
        }
        self
    }

    /// Every declared route, in the order added.
    pub fn declarations(&self) -> Vec<RouteDeclaration> {
        self.routes.iter().map(|(d, _)| d.clone()).collect()
    }

    /// The declarations by path, then method (what the guard looks requests up in).
    pub(crate) fn rules(&self) -> BTreeMap<&'static str, BTreeMap<String, Access>> {
        let mut rules: BTreeMap<&'static str, BTreeMap<String, Access>> = BTreeMap::new();
        for (d, _) in &self.routes {
            rules
                .entry(d.path)
                .or_default()
                .insert(d.method.as_str().to_string(), d.access);
        }
        rules
    }

    /// The router of every route (the guard is added by the server around it).
    pub fn into_router(self) -> Router<AppState> {
        self.routes
            .into_iter()
            .fold(Router::new(), |router, (d, handler)| {
                router.route(d.path, handler)
            })
    }
}
