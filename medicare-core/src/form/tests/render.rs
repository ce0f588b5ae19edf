use std::collections::HashSet;

use super::spec::checkup;
use super::{pairs, spec};
use crate::form::{render_form_page, render_message_page, style_sha256_base64, FormPage, SKELETON};

const XSS: &str = "<script>alert(1)</script>";

fn blank(spec: &crate::form::FormSpec) -> String {
    render_form_page(&FormPage::new(spec)).expect("renders")
}

/// The value of every `attr="..."` in the page.
fn attr_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Checks that elements nest and close properly (a small well-formedness check; void
/// elements need no end tag) and returns the start-tag names seen.
fn check_nesting(html: &str) -> Vec<String> {
    const VOID: [&str; 3] = ["meta", "input", "br"];
    let mut stack: Vec<String> = Vec::new();
    let mut seen = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let end = rest.find('>').expect("tag closes");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(!name.is_empty(), "odd tag <{tag}>");
        if closing {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "</{name}> misplaced"
            );
        } else if !VOID.contains(&name.as_str()) {
            stack.push(name.clone());
        }
        // Skip raw text content.
        if !closing && (name == "style" || name == "textarea" || name == "title") {
            let close = format!("</{name}>");
            let at = rest.find(&close).expect("raw text closes");
            rest = &rest[at..];
        }
        if !closing {
            seen.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    seen
}

/// Every id is unique, and every `for`, `aria-describedby` and `#` link points at one.
fn check_references(html: &str) {
    let ids: Vec<&str> = attr_values(html, "id");
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids");
    for target in attr_values(html, "for") {
        assert!(unique.contains(target), "label for {target}");
    }
    for list in attr_values(html, "aria-describedby") {
        for target in list.split(' ') {
            assert!(unique.contains(target), "aria-describedby {target}");
        }
    }
    for href in attr_values(html, "href") {
        let target = href.strip_prefix('#').expect("only in-page links");
        assert!(unique.contains(target), "link to {target}");
    }
}

/// The names of the attributes of every tag (quoted values skipped).
fn attribute_names(html: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        let mut chars = rest
            .char_indices()
            .skip_while(|(_, c)| !c.is_whitespace() && *c != '>');
        let mut name = String::new();
        let mut end = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '>' => {
                    end = i;
                    break;
                }
                '"' => {
                    for (_, q) in chars.by_ref() {
                        if q == '"' {
                            break;
                        }
                    }
                }
                '=' | ' ' | '\n' => {
                    if !name.is_empty() {
                        names.push(std::mem::take(&mut name));
                    }
                }
                c => name.push(c),
            }
        }
        if !name.is_empty() {
            names.push(name);
        }
        rest = &rest[end..];
    }
    names
}

fn check_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for forbidden in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        "@import",
        "url(",
        "http:",
        "https:",
        "javascript:",
    ] {
        assert!(!lower.contains(forbidden), "{forbidden} in page");
    }
    assert_eq!(lower.matches("<style>").count(), 1);
    for name in attribute_names(html) {
        assert!(
            !name.starts_with("on") && name != "src" && name != "style" && name != "srcset",
            "attribute {name}"
        );
    }
}

#[test]
fn form_page_structure() {
    let html = blank(&checkup());
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(html.contains("<title>Annual check-up</title>"));
    assert!(html.contains("<h1>Annual check-up</h1>"));
    assert!(html.contains("<p>A few questions before your visit.</p>"));
    assert!(html.contains("<p>It takes two minutes.</p>"));
    assert!(html.contains("<form method=\"post\" accept-charset=\"utf-8\">"));
    assert!(html.contains("<button type=\"submit\">Send my answers</button>"));
    assert!(!html.contains("There is a problem"));
    assert!(!html.contains(" aria-invalid="));
    let tags = check_nesting(&html);
    assert_eq!(tags.iter().filter(|t| *t == "form").count(), 1);
    check_references(&html);
    check_self_contained(&html);
}

#[test]
fn inputs_follow_the_field_types_and_rules() {
    let html = blank(&checkup());
    for expected in [
        "<label for=\"field-full_name\">Your name</label>",
        "<input type=\"text\" id=\"field-full_name\" name=\"full_name\" value=\"\" maxlength=\"80\" required>",
        "<input type=\"number\" id=\"field-age\" name=\"age\" value=\"\" step=\"1\" inputmode=\"numeric\" min=\"0\" max=\"130\">",
        "<input type=\"number\" id=\"field-weight_kg\" name=\"weight_kg\" value=\"\" step=\"any\" inputmode=\"decimal\" min=\"0.5\" max=\"400\">",
        "<input type=\"date\" id=\"field-last_visit\" name=\"last_visit\" value=\"\" min=\"2000-01-01\" max=\"2030-12-31\">",
        "<legend>Do you smoke?</legend>",
        "<input type=\"radio\" id=\"field-smoker-0\" name=\"smoker\" value=\"yes\" required><label for=\"field-smoker-0\">Yes</label>",
        "<input type=\"radio\" id=\"field-smoker-1\" name=\"smoker\" value=\"no\" required><label for=\"field-smoker-1\">No</label>",
        "<input type=\"radio\" id=\"field-clinic-1\" name=\"clinic\" value=\"South\"><label for=\"field-clinic-1\">South</label>",
        "<fieldset aria-describedby=\"field-symptoms-help\">",
        "<p class=\"help\" id=\"field-symptoms-help\">Tick all that apply.</p>",
        "<input type=\"checkbox\" id=\"field-symptoms-2\" name=\"symptoms\" value=\"Headache\"><label for=\"field-symptoms-2\">Headache</label>",
        "<input type=\"email\" id=\"field-email\" name=\"email\" value=\"\" maxlength=\"254\">",
        "<input type=\"tel\" id=\"field-phone\" name=\"phone\" value=\"\" maxlength=\"10000\" pattern=\"\\+?[0-9 ]+\">",
        "<textarea id=\"field-notes\" name=\"notes\" rows=\"6\" maxlength=\"10000\">\n</textarea>",
        "Anything else? <span class=\"optional\">(optional)</span></label>",
    ] {
        assert!(html.contains(expected), "missing {expected}\n{html}");
    }
    // Checkboxes never carry `required` (it would demand every box).
    assert!(!html.contains(
        "type=\"checkbox\" id=\"field-symptoms-0\" name=\"symptoms\" value=\"Cough\" required"
    ));
}

#[test]
fn errors_and_values_are_shown_again() {
    let spec = checkup();
    let raw = pairs(&[
        ("full_name", "\"><script>alert(1)</script>"),
        ("age", "200"),
        ("smoker", "YES"),
        ("symptoms", "Cough"),
        ("symptoms", "Fever"),
        ("symptoms", "Headache"),
        ("notes", "</textarea><script>alert(1)</script>"),
        ("sneaky", "x"),
    ]);
    let errors = spec.check_submission(&raw).expect_err("invalid");
    let html = render_form_page(&FormPage {
        spec: &spec,
        action: Some("/r/abc?x=1&y=\"2\""),
        values: Some(&raw),
        errors: Some(&errors),
    })
    .expect("renders");
    assert!(html.contains("<title>Error: Annual check-up</title>"));
    assert!(html.contains("<h2 id=\"error-summary-title\">There is a problem</h2>"));
    assert!(html.contains(
        "<li>This page seems to be out of date. Please reload it and answer again.</li>"
    ));
    assert!(html.contains(
        "<a href=\"#field-age\">Age: Please enter a whole number between 0 and 130.</a>"
    ));
    assert!(html
        .contains("<a href=\"#field-symptoms-0\">Symptoms: Please choose at most 2 options.</a>"));
    assert!(html.contains(
        "<p class=\"error\" id=\"field-age-error\"><span class=\"visually-hidden\">Error:</span> Please enter a whole number between 0 and 130.</p>"
    ));
    assert!(html.contains("value=\"200\" step=\"1\" inputmode=\"numeric\" min=\"0\" max=\"130\" aria-describedby=\"field-age-error\" aria-invalid=\"true\">"));
    assert!(
        html.contains("<fieldset aria-describedby=\"field-symptoms-help field-symptoms-error\">")
    );
    assert!(html.contains("value=\"Cough\" checked aria-invalid=\"true\">"));
    assert!(html.contains("name=\"smoker\" value=\"yes\" checked required>"));
    assert!(html.contains("name=\"smoker\" value=\"no\" required>"));
    assert!(html.contains("<form method=\"post\" accept-charset=\"utf-8\" action=\"&#x2f;r&#x2f;abc?x=1&amp;y=&quot;2&quot;\">"));
    // The hostile values come back escaped, in the attribute and in the textarea.
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;\""));
    assert!(html.contains(
        ">\n&lt;&#x2f;textarea&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</textarea>"
    ));
    check_nesting(&html);
    check_references(&html);
    check_self_contained(&html);
}

#[test]
fn spec_text_is_always_escaped() {
    let hostile = spec(&format!(
        r#"
name = "xss"
title = "{XSS}"
description = "{XSS}"
submit_label = "{XSS}"

[[fields]]
name = "a"
label = "{XSS}"
help = "{XSS}"
type = "single_choice"
options = ["{XSS}", "\"' onmouseover=alert(1) x='"]

[[fields]]
name = "b"
label = "{XSS}"
type = "text"
pattern = '"><script>alert\(1\)</script>'
"#
    ));
    let raw = pairs(&[("a", XSS), ("b", XSS)]);
    let errors = hostile.check_submission(&raw).expect_err("invalid");
    let html = render_form_page(&FormPage {
        spec: &hostile,
        action: None,
        values: Some(&raw),
        errors: Some(&errors),
    })
    .expect("renders");
    check_self_contained(&html);
    check_nesting(&html);
    check_references(&html);
    assert!(html.contains("<title>Error: &lt;script&gt;alert(1)&lt;&#x2f;script&gt;</title>"));
    assert!(html.contains("<h1>&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</h1>"));
    assert!(html.contains("value=\"&quot;&#x27; onmouseover=alert(1) x=&#x27;\""));
    assert!(html.contains("pattern=\"&quot;&gt;&lt;script&gt;alert\\(1\\)&lt;&#x2f;script&gt;\""));
    assert!(
        html.matches("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            .count()
            >= 9
    );
}

#[test]
fn message_pages_share_the_layout() {
    let html = render_message_page(
        "Thank you",
        "We have your answers.\n\nYou can close this page.",
    )
    .expect("renders");
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.contains("<title>Thank you</title>"));
    assert!(html.contains("<p>We have your answers.</p>"));
    assert!(html.contains("<p>You can close this page.</p>"));
    assert!(!html.contains("<form"));
    check_nesting(&html);
    check_self_contained(&html);
    let hostile = render_message_page(XSS, XSS).expect("renders");
    assert!(!hostile.contains("<script"));
    assert_eq!(hostile.matches("&lt;script&gt;").count(), 3);
}

#[test]
fn csp_hash_matches_the_served_style() {
    let hash = style_sha256_base64();
    assert_eq!(hash.len(), 44);
    assert!(hash.ends_with('='));
    for html in [
        blank(&checkup()),
        render_message_page("Link expired", "Please ask for a new link.").expect("renders"),
    ] {
        let style = html
            .split_once("<style>")
            .and_then(|(_, rest)| rest.split_once("</style>"))
            .map(|(style, _)| style)
            .expect("inline style");
        assert!(!style.is_empty());
        assert_eq!(crate::form::render::csp_hash(style), hash);
    }
}

#[test]
fn skeleton_style_holds_no_template_syntax() {
    let style = SKELETON
        .split_once("<style>")
        .and_then(|(_, rest)| rest.split_once("</style>"))
        .map(|(style, _)| style)
        .expect("style");
    for syntax in ["{{", "{%", "{#"] {
        assert!(!style.contains(syntax));
    }
}

#[test]
fn summary_names_each_question() {
    let spec = checkup();
    let errors = spec
        .check_submission(&pairs(&[("full_name", "Ada")]))
        .expect_err("smoker is required");
    let html = render_form_page(&FormPage {
        errors: Some(&errors),
        ..FormPage::new(&spec)
    })
    .expect("renders");
    // A label's own question mark stands in for the colon.
    assert!(html.contains(
        "<li><a href=\"#field-smoker-0\">Do you smoke? Please choose yes or no.</a></li>"
    ));
    assert!(html.contains("<fieldset aria-describedby=\"field-smoker-error\">"));
    assert!(html.contains("<title>Error: Annual check-up</title>"));
}
