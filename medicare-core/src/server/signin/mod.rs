//! The operators' sign-in pages under `/console`.

use super::auth::RouteTable;

/// The sign-in pages' templates.
pub const TEMPLATES: &[(&str, &str)] = &[];

/// The sign-in routes.
pub fn routes() -> RouteTable {
    RouteTable::new()
}
