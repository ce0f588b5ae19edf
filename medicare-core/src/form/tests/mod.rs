//! Tests of the form module, one file per step of the flow, plus property tests.

mod props;
mod render;
mod schema;
mod spec;
#[cfg(feature = "sqlite")]
mod sqlite;
mod submission;

use super::FormSpec;

/// A spec from TOML that must be valid.
pub(super) fn spec(toml: &str) -> FormSpec {
    match FormSpec::from_toml_str(toml) {
        Ok(spec) => spec,
        Err(e) => panic!("spec should be valid: {e}"),
    }
}

/// Owned name/value pairs, as a POST body decodes to.
pub(super) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A spec with one field, given as the body of a `[[fields]]` table.
pub(super) fn one_field(body: &str) -> FormSpec {
    spec(&format!(
        "name = \"f\"\ntitle = \"T\"\n[[fields]]\nname = \"x\"\nlabel = \"X\"\n{body}\n"
    ))
}

/// The error message of a spec that must be invalid, as `what: message`.
pub(super) fn spec_error(toml: &str) -> String {
    match FormSpec::from_toml_str(toml) {
        Ok(_) => panic!("spec should be invalid:\n{toml}"),
        Err(crate::error::Error::InvalidInput { what, message }) => format!("{what}: {message}"),
        Err(other) => panic!("unexpected error kind: {other}"),
    }
}
