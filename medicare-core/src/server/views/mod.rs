//! The operator pages' view layer: server-rendered HTML from templates embedded in the
//! binary, one layout, one stylesheet served by the service itself.
//!
//! A page is a template that extends `layout.html` and fills its `content` block,
//! rendered from a [`Page`]: the title, the [`Header`] of a signed-in operator (their
//! username and the sign-out form), the [`ErrorItem`]s of the GOV.UK error summary
//! (each linking to its field; the title then starts with "Error: ") and the page's own
//! values, flattened in beside them. Auto-escaping is always on and undefined values
//! are errors, so a typo fails a test instead of printing nothing.
//!
//! To add templates, list them in a `TEMPLATES` constant of your module and add that
//! constant to [`SOURCES`]. The layout has no script and no third-party asset; its one
//! stylesheet is [`STYLESHEET_PATH`], which [`stylesheet`] serves (declare it
//! [`Access::Public`](super::auth::Access::Public)). Pages under `/console` get the
//! Content-Security-Policy [`console_csp`].
//!
//! Form fields follow one convention the partials rely on: a field `name` has the
//! element id `name`, its error message the id `name-error`, and its summary link
//! `#name`.

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use std::sync::OnceLock;

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/console/assets/console.css";

/// The stylesheet.
pub const STYLESHEET: &str = include_str!("console.css");

/// The Content-Security-Policy of every `/console` response: nothing but this origin's
/// stylesheet, images and script files (no inline script) and requests to this origin,
/// forms only to this origin. The one inline style it allows is the patient page's, by
/// its hash: the preview shows that page in a sandboxed `srcdoc` frame, which inherits
/// this policy, and without it the patient page would show there unstyled.
pub fn console_csp() -> String {
    format!(
        "default-src 'none'; style-src 'self' 'sha256-{}'; img-src 'self'; \
         script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'",
        crate::form::style_sha256_base64()
    )
}

/// The base templates: the layout, the error summary and the message page.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    (
        "error_summary.html",
        include_str!("templates/error_summary.html"),
    ),
    ("fields.html", include_str!("templates/fields.html")),
    ("message.html", include_str!("templates/message.html")),
];

/// Every module's templates, by name (names must be unique across modules).
pub const SOURCES: &[&[(&str, &str)]] = &[
    TEMPLATES,
    super::signin::TEMPLATES,
    super::console::TEMPLATES,
];

/// What the layout shows of the signed-in operator.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Header {
    /// Their username.
    pub username: String,
    /// The session's CSRF token, for the sign-out form.
    pub csrf_token: String,
    /// The pages their role may open, for the navigation.
    pub nav: Vec<NavLink>,
}

/// One link of the navigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NavLink {
    /// Where it goes.
    pub href: &'static str,
    /// What it says.
    pub label: &'static str,
}

/// One line of the error summary: the message, and the id of the field it is about
/// (the link goes to `#field`).
#[derive(Debug, Clone, Serialize)]
pub struct ErrorItem {
    /// The field's element id.
    pub field: String,
    /// The message, the same as shown by the field.
    pub text: String,
}

impl ErrorItem {
    /// An error about `field`.
    pub fn new(field: &str, text: impl Into<String>) -> Self {
        ErrorItem {
            field: field.to_string(),
            text: text.into(),
        }
    }
}

/// A page's context: what the layout needs, and the page's own values (`body`, whose
/// fields are available to the template by their own names).
#[derive(Debug, Serialize)]
pub struct Page<'a, T: Serialize> {
    /// The `<title>` and `<h1>`.
    pub title: &'a str,
    /// The signed-in operator, if any.
    pub header: Option<Header>,
    /// The error summary (empty: none).
    pub errors: Vec<ErrorItem>,
    /// The page's own values.
    #[serde(flatten)]
    pub body: T,
}

impl<'a, T: Serialize> Page<'a, T> {
    /// A page without a signed-in header or errors.
    pub fn new(title: &'a str, body: T) -> Self {
        Page {
            title,
            header: None,
            errors: Vec::new(),
            body,
        }
    }

    /// With the signed-in operator's header.
    pub fn with_header(mut self, header: Header) -> Self {
        self.header = Some(header);
        self
    }

    /// With an error summary.
    pub fn with_errors(mut self, errors: Vec<ErrorItem>) -> Self {
        self.errors = errors;
        self
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in SOURCES.iter().flat_map(|s| s.iter()) {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("the embedded template {name} does not parse: {e}"));
        }
        env
    })
}

/// Renders `template` with `context`.
pub fn render(template: &str, context: &impl Serialize) -> crate::Result<String> {
    environment()
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| crate::Error::Config(format!("rendering the page {template}: {e}")))
}

/// Renders `template` with `context` as an HTML response with `status` (a plain failure
/// page if rendering fails, which is logged).
pub fn page(status: StatusCode, template: &str, context: &impl Serialize) -> Response {
    match render(template, context) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering an operator page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    paragraphs: Vec<&'a str>,
}

/// A page with a title and a message (paragraphs split on blank lines).
pub fn message(status: StatusCode, title: &str, text: &str, header: Option<Header>) -> Response {
    let mut p = Page::new(
        title,
        Message {
            paragraphs: text.split("\n\n").collect(),
        },
    );
    p.header = header;
    page(status, "message.html", &p)
}

/// The page for a failure the operator cannot fix (the detail is in the log).
pub fn failure() -> Response {
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The service could not do that just now. Try again in a few minutes.",
        None,
    )
}

/// `GET` [`STYLESHEET_PATH`].
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_the_layout_escapes() {
        for (name, _) in SOURCES.iter().flat_map(|s| s.iter()) {
            assert!(environment().get_template(name).is_ok(), "{name}");
        }
        let html = render(
            "message.html",
            &Page::new(
                "<b>title</b>",
                Message {
                    paragraphs: vec!["<script>alert(1)</script>"],
                },
            )
            .with_header(Header {
                username: "al<ice".into(),
                csrf_token: "tok\"en".into(),
                nav: vec![NavLink {
                    href: "/console/campaigns",
                    label: "Campaigns",
                }],
            }),
        )
        .unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("al&lt;ice"));
        assert!(html.contains("tok&quot;en"));
        assert!(
            html.contains("<a href=\"/console/campaigns\">Campaigns</a>"),
            "{html}"
        );
        assert!(html.contains(STYLESHEET_PATH));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn errors_make_a_summary_linking_to_the_fields_and_prefix_the_title() {
        let html = render(
            "message.html",
            &Page::new("Sign in", Message { paragraphs: vec![] })
                .with_errors(vec![ErrorItem::new("username", "Enter your username")]),
        )
        .unwrap();
        assert!(html.contains("<title>Error: Sign in"), "{html}");
        assert!(html.contains("href=\"#username\""), "{html}");
        assert!(html.contains("There is a problem"));
        let clean = render(
            "message.html",
            &Page::new("Sign in", Message { paragraphs: vec![] }),
        )
        .unwrap();
        assert!(!clean.contains("There is a problem") && !clean.contains("Error:"));
    }
}
