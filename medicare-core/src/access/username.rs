//! Operator usernames (the identifier people type) and display names (what is shown).
//!
//! A username is compared case-insensitively: it is stored and compared in its
//! normalised form (ASCII lowercase), so `Alice` and `alice` are the same operator. The
//! charset is deliberately narrow (letters, digits, `.`, `_`, `-`): no look-alike Unicode,
//! no control characters, nothing that needs escaping in a URI, a log line or a TOTP
//! label. A display name is free text for people to read; it is never used to find or
//! tell operators apart, so it has no ordering or hashing and its `Debug` is redacted.

use crate::error::{Error, Result};
use std::fmt;

/// Shortest username accepted.
pub const USERNAME_MIN: usize = 3;
/// Longest username accepted.
pub const USERNAME_MAX: usize = 32;
/// Longest display name accepted, in characters.
pub const DISPLAY_NAME_MAX: usize = 100;

/// A validated, normalised (lowercase) operator username.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates `input` and normalises it to lowercase. Errors name the rule broken
    /// and never repeat the input (it may be a mistyped password).
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |message: &str| Err(Error::invalid("username", message));
        if input.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        let len = input.chars().count();
        if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
            return Err(Error::invalid(
                "username",
                format!("must be {USERNAME_MIN} to {USERNAME_MAX} characters long"),
            ));
        }
        if !input
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return bad("may hold only letters a-z, digits, '.', '_' and '-'");
        }
        if !input.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return bad("must start with a letter or a digit");
        }
        Ok(Username(input.to_ascii_lowercase()))
    }

    /// The normalised username.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `other` names the same operator (case-insensitively); false for
    /// anything that is not a valid username.
    pub fn matches(&self, other: &str) -> bool {
        Username::parse(other).is_ok_and(|u| u == *self)
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Username {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Username::parse(s)
    }
}

/// A person's name as shown in the console: trimmed, 1 to 100 characters, no control
/// characters. Never an identifier (no `Eq`/`Hash`/`Ord`), and its `Debug` does not
/// print it (it is a person's name; logs carry operator ids).
#[derive(Clone, serde::Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    /// Validates and trims `input`.
    pub fn parse(input: &str) -> Result<Self> {
        let trimmed = input.trim();
        if trimmed.chars().any(char::is_control) {
            return Err(Error::invalid(
                "display name",
                "contains a control character",
            ));
        }
        let len = trimmed.chars().count();
        if len == 0 || len > DISPLAY_NAME_MAX {
            return Err(Error::invalid(
                "display name",
                format!("must be 1 to {DISPLAY_NAME_MAX} characters long"),
            ));
        }
        Ok(DisplayName(trimmed.to_string()))
    }

    /// The name, for display.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DisplayName(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_compared_case_insensitively() {
        let a = Username::parse("Alice.Smith").unwrap();
        assert_eq!(a.as_str(), "alice.smith");
        assert_eq!(a, Username::parse("ALICE.SMITH").unwrap());
        assert!(a.matches("aLiCe.smith"));
        assert!(!a.matches("alice_smith"));
        assert!(!a.matches("alice.smith\n"));
        assert_eq!("bob-2".parse::<Username>().unwrap().to_string(), "bob-2");
    }

    #[test]
    fn bad_usernames_get_a_clear_error_without_echoing_the_input() {
        let cases = [
            ("al\u{0}ice", "control character"),
            ("ali\tce", "control character"),
            ("alice\u{1b}[31m", "control character"),
            ("ab", "3 to 32"),
            (&"a".repeat(33), "3 to 32"),
            ("", "3 to 32"),
            ("alice smith", "only letters"),
            ("ålice", "only letters"),
            ("аlice", "only letters"), // Cyrillic а
            ("al:ice", "only letters"),
            ("alice@example.org", "only letters"),
            ("-alice", "start with"),
            (".alice", "start with"),
        ];
        for (input, why) in cases {
            let e = Username::parse(input).unwrap_err();
            assert!(e.is_invalid_input());
            let message = e.to_string();
            assert!(
                message.contains("username") && message.contains(why),
                "{input:?}: {message}"
            );
            if input.len() > 3 {
                assert!(!message.contains(input), "{message} echoes the input");
            }
        }
    }

    #[test]
    fn display_names_are_free_text_but_checked_and_never_printed_by_debug() {
        let n = DisplayName::parse("  Zoë O'Brien-Ng  ").unwrap();
        assert_eq!(n.as_str(), "Zoë O'Brien-Ng");
        assert_eq!(format!("{n:?}"), "DisplayName(..)");
        assert!(DisplayName::parse("  ").is_err());
        assert!(DisplayName::parse("a\u{7}b").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
    }
}
