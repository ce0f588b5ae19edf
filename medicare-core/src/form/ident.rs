//! Strict identifiers for form, field and table names.
//!
//! Field names become SQL column names and HTML `name`/`id` attributes, so they are held
//! to a rule strict enough to be safe everywhere: lower-case ASCII letters, digits and
//! underscores, starting with a letter, at most 63 characters (PostgreSQL's limit), and
//! not a reserved word of SQLite, PostgreSQL or MySQL. Quoting with
//! [`Dialect::quote_ident`](crate::sql::Dialect::quote_ident) is a second line of defence.

/// The longest identifier accepted (PostgreSQL truncates longer ones).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// The longest response table name accepted, leaving room for the index name suffix.
pub const MAX_TABLE_NAME_LEN: usize = 48;

/// Columns every response table has; no field may take their names.
pub const ENGINE_COLUMNS: [&str; 3] = ["id", "recipient_id", "submitted_at"];

/// Prefixes the engines keep for their own objects.
const RESERVED_PREFIXES: [&str; 3] = ["sqlite_", "pg_", "mysql_"];

/// Reserved (or dangerously special) words of SQLite, PostgreSQL and MySQL, sorted so
/// they can be binary-searched (a test checks the order).
const RESERVED_WORDS: &[&str] = &[
    "abort",
    "accessible",
    "add",
    "all",
    "alter",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "attach",
    "authorization",
    "autoincrement",
    "before",
    "begin",
    "between",
    "bigint",
    "binary",
    "blob",
    "both",
    "by",
    "call",
    "cascade",
    "case",
    "cast",
    "change",
    "char",
    "character",
    "check",
    "collate",
    "collation",
    "column",
    "commit",
    "concurrently",
    "condition",
    "conflict",
    "constraint",
    "continue",
    "convert",
    "create",
    "cross",
    "cube",
    "current",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "cursor",
    "database",
    "databases",
    "dec",
    "decimal",
    "declare",
    "default",
    "deferrable",
    "deferred",
    "delayed",
    "delete",
    "desc",
    "describe",
    "detach",
    "distinct",
    "div",
    "do",
    "double",
    "drop",
    "each",
    "else",
    "elseif",
    "end",
    "escape",
    "except",
    "exclusive",
    "exists",
    "exit",
    "explain",
    "false",
    "fetch",
    "filter",
    "float",
    "for",
    "force",
    "foreign",
    "freeze",
    "from",
    "full",
    "fulltext",
    "function",
    "glob",
    "grant",
    "group",
    "groups",
    "having",
    "if",
    "ignore",
    "ilike",
    "immediate",
    "in",
    "index",
    "indexed",
    "infile",
    "initially",
    "inner",
    "inout",
    "insert",
    "instead",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "key",
    "keys",
    "kill",
    "lateral",
    "leading",
    "leave",
    "left",
    "like",
    "limit",
    "lines",
    "load",
    "localtime",
    "localtimestamp",
    "lock",
    "loop",
    "match",
    "merge",
    "mod",
    "natural",
    "no",
    "not",
    "nothing",
    "notnull",
    "null",
    "numeric",
    "of",
    "offset",
    "on",
    "only",
    "option",
    "or",
    "order",
    "out",
    "outer",
    "outfile",
    "over",
    "overlaps",
    "partition",
    "placing",
    "plan",
    "pragma",
    "precision",
    "primary",
    "procedure",
    "purge",
    "query",
    "raise",
    "range",
    "rank",
    "read",
    "real",
    "recursive",
    "references",
    "regexp",
    "reindex",
    "release",
    "rename",
    "repeat",
    "replace",
    "require",
    "restrict",
    "return",
    "returning",
    "revoke",
    "right",
    "rlike",
    "rollback",
    "row",
    "rowid",
    "rows",
    "savepoint",
    "schema",
    "schemas",
    "select",
    "session_user",
    "set",
    "show",
    "similar",
    "smallint",
    "some",
    "sql",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "temp",
    "temporary",
    "then",
    "ties",
    "tinyint",
    "to",
    "trailing",
    "transaction",
    "trigger",
    "true",
    "truncate",
    "union",
    "unique",
    "unlock",
    "unsigned",
    "update",
    "usage",
    "use",
    "user",
    "using",
    "vacuum",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "view",
    "virtual",
    "when",
    "where",
    "while",
    "window",
    "with",
    "without",
    "write",
    "xor",
];

/// Checks a form or field name: `^[a-z][a-z0-9_]{0,62}$`, not an SQL reserved word, not
/// starting with an engine's prefix (`sqlite_`, `pg_`, `mysql_`), and not one of the
/// response table's own columns ([`ENGINE_COLUMNS`]).
///
/// The error says what is wrong without repeating the name (the caller knows which name
/// it passed, and names it safely in messages).
pub fn validate_identifier(s: &str) -> Result<(), String> {
    validate_shape(s, MAX_IDENTIFIER_LEN)?;
    if ENGINE_COLUMNS.contains(&s) {
        return Err(format!(
            "is reserved for the response table's own columns ({})",
            ENGINE_COLUMNS.join(", ")
        ));
    }
    Ok(())
}

/// Checks a response table name, e.g. `resp_12`: the same rule as
/// [`validate_identifier`] (the engine's column names aside), but at most
/// [`MAX_TABLE_NAME_LEN`] characters so that index names derived from it stay short.
pub fn validate_table_name(s: &str) -> Result<(), String> {
    validate_shape(s, MAX_TABLE_NAME_LEN)
}

/// The rule shared by names of fields, forms and tables.
fn validate_shape(s: &str, max_len: usize) -> Result<(), String> {
    let mut chars = s.chars();
    match chars.next() {
        None => return Err("must not be empty".to_string()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err("must start with a lower-case letter a-z".to_string())
        }
        Some(_) => {}
    }
    if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(
            "may contain only lower-case letters a-z, digits 0-9 and underscores".to_string(),
        );
    }
    // Only ASCII from here on, so bytes are characters.
    if s.len() > max_len {
        return Err(format!("must be at most {max_len} characters long"));
    }
    if RESERVED_WORDS.binary_search(&s).is_ok() {
        return Err("is a reserved SQL word; pick another name".to_string());
    }
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| s.starts_with(*p)) {
        return Err(format!("must not start with {prefix:?}"));
    }
    Ok(())
}

/// A name made safe to put in a message: cut to 40 characters and escaped with `{:?}`,
/// so a hostile name cannot forge lines, quotes or control sequences in logs.
pub(crate) fn describe_name(name: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut cut: String = name.chars().take(MAX_CHARS).collect();
    if name.chars().count() > MAX_CHARS {
        cut.push('…');
    }
    format!("{cut:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_and_lower_case() {
        assert!(RESERVED_WORDS.windows(2).all(|w| w[0] < w[1]));
        for w in RESERVED_WORDS {
            assert!(validate_shape_only(w), "{w}");
        }
    }

    fn validate_shape_only(w: &str) -> bool {
        w.chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())
    }

    #[test]
    fn accepts_good_names() {
        for ok in [
            "a",
            "age",
            "blood_pressure_2",
            "order_total",
            "selected",
            "user_name",
            "date",
            "from_clinic",
            "idx",
            "ids",
            "resp_12",
            &"a".repeat(63),
        ] {
            assert_eq!(validate_identifier(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for bad in [
            "",
            "x; drop table patients",
            "\"quoted\"",
            "Name",
            "ümlaut",
            "select",
            "drop",
            "table",
            "from",
            "where",
            "order",
            "group",
            "user",
            "index",
            "key",
            "primary",
            "references",
            "default",
            "check",
            "id",
            "recipient_id",
            "submitted_at",
            "sqlite_master",
            "pg_class",
            "_private",
            "1st",
            "a-b",
            "a b",
            "a\u{0}",
            "tab\tle",
            &"a".repeat(64),
        ] {
            assert!(validate_identifier(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn table_names() {
        assert_eq!(validate_table_name("resp_12"), Ok(()));
        assert!(validate_table_name(&"r".repeat(49)).is_err());
        assert!(validate_table_name("resp-12").is_err());
        assert!(validate_table_name("select").is_err());
    }

    #[test]
    fn describes_hostile_names_safely() {
        assert_eq!(
            describe_name("x; drop table patients"),
            r#""x; drop table patients""#
        );
        assert_eq!(describe_name("a\"b\nc"), r#""a\"b\nc""#);
        let long = describe_name(&"z".repeat(500));
        assert!(long.chars().count() < 50, "{long}");
        assert!(long.contains('…'));
    }
}
