//! The error a filter fails to parse with: where it went wrong and why.
//!
//! Messages never repeat a string literal from the filter (it may be personal data such as
//! a name or a date of birth); they name the field and point at the literal instead. A
//! field name or keyword may be echoed, truncated to [`MAX_ECHO_CHARS`] characters.

use std::fmt::Write as _;

/// The most characters of a word (an unknown field name, a keyword) an error message
/// repeats.
pub(crate) const MAX_ECHO_CHARS: usize = 32;

/// The widest source excerpt [`FilterError::render`] shows, in characters.
const RENDER_WIDTH: usize = 72;

/// Why a filter could not be parsed, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter error at column {column}: {message}")]
pub struct FilterError {
    /// Byte offset of the offending token in the source.
    pub position: usize,
    /// 1-based character column of the offending token, counted from the start of the
    /// source (a line break counts as one character).
    pub column: usize,
    /// What is wrong; never contains a string literal from the source.
    pub message: String,
}

impl FilterError {
    /// An error at byte `position` of `source` (clamped to a character boundary).
    pub(crate) fn at(source: &str, position: usize, message: impl Into<String>) -> Self {
        let position = floor_char_boundary(source, position);
        FilterError {
            position,
            column: source[..position].chars().count() + 1,
            message: message.into(),
        }
    }

    /// A snippet for the filter's author: the source line the error is on (an excerpt of
    /// it when it is long), a caret under the offending column, then the message.
    ///
    /// The snippet contains the source text itself, so show it to the person who wrote
    /// the filter; do not log it.
    pub fn render(&self, source: &str) -> String {
        let position = floor_char_boundary(source, self.position);
        let line_start = source[..position].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[position..]
            .find('\n')
            .map_or(source.len(), |i| position + i);
        let line: Vec<char> = source[line_start..line_end]
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let caret = source[line_start..position].chars().count();

        // Show a window of the line around the caret when the line is long.
        let (from, to) = if line.len() <= RENDER_WIDTH {
            (0, line.len())
        } else {
            let from = caret.saturating_sub(RENDER_WIDTH / 2);
            let to = (from + RENDER_WIDTH).min(line.len());
            (to.saturating_sub(RENDER_WIDTH), to)
        };
        let mut out = String::new();
        let mut pad = caret - from;
        if from > 0 {
            out.push('…');
            pad += 1;
        }
        out.extend(&line[from..to]);
        if to < line.len() {
            out.push('…');
        }
        let line_no = source[..line_start].matches('\n').count() + 1;
        let _ = write!(out, "\n{}^\n", " ".repeat(pad));
        if line_no > 1 {
            let _ = write!(
                out,
                "filter error on line {line_no} at column {}: ",
                caret + 1
            );
            out.push_str(&self.message);
        } else {
            let _ = write!(out, "{self}");
        }
        out
    }
}

/// The largest character boundary of `s` at or before `i` (`s.len()` when `i` is past
/// the end).
fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0)
}

/// `word` as an error message may show it: quoted, at most [`MAX_ECHO_CHARS`] characters.
pub(crate) fn echo(word: &str) -> String {
    let mut shown: String = word.chars().take(MAX_ECHO_CHARS).collect();
    if word.chars().count() > MAX_ECHO_CHARS {
        shown.push('…');
    }
    format!("\"{shown}\"")
}
