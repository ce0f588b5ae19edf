//! `COPY ... FROM STDIN` in PostgreSQL's text format: the bulk path for imports, campaign
//! creation and restores.
//!
//! Rows are encoded into a buffer that is streamed to the server each time it passes
//! [`FLUSH_BYTES`], so a 112,500-row copy costs a few dozen network writes and no
//! statement parsing per row. Every value is escaped as the text format requires
//! (backslash, tab, newline, carriage return); `NULL` is `\N`; bytes are `\\x<hex>`.

use crate::error::Result;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sqlx::postgres::PgConnection;

/// Buffered bytes that trigger a write to the server.
const FLUSH_BYTES: usize = 1 << 20;

/// One row being written: each call appends a column.
#[derive(Debug, Default)]
pub(crate) struct CopyRows {
    buf: Vec<u8>,
    /// Columns written in the current row.
    columns: usize,
}

impl CopyRows {
    fn separate(&mut self) {
        if self.columns > 0 {
            self.buf.push(b'\t');
        }
        self.columns += 1;
    }

    /// Text, escaped.
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.separate();
        for &b in s.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    /// Text or `NULL`.
    pub(crate) fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// `NULL`.
    pub(crate) fn null(&mut self) -> &mut Self {
        self.separate();
        self.buf.extend_from_slice(b"\\N");
        self
    }

    /// A value whose text form needs no escaping (numbers, dates, timestamps, booleans).
    fn plain(&mut self, s: impl std::fmt::Display) -> &mut Self {
        use std::io::Write;
        self.separate();
        // Writing to a Vec cannot fail.
        let _ = write!(self.buf, "{s}");
        self
    }

    /// An integer.
    pub(crate) fn int(&mut self, i: i64) -> &mut Self {
        self.plain(i)
    }

    /// A float (`NaN` and infinities as PostgreSQL spells them).
    pub(crate) fn real(&mut self, f: f64) -> &mut Self {
        if f.is_nan() {
            self.plain("NaN")
        } else if f.is_infinite() {
            self.plain(if f > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            self.plain(f)
        }
    }

    /// A boolean.
    pub(crate) fn bool(&mut self, b: bool) -> &mut Self {
        self.plain(if b { "t" } else { "f" })
    }

    /// A calendar date.
    pub(crate) fn date(&mut self, d: NaiveDate) -> &mut Self {
        self.plain(d.format("%Y-%m-%d"))
    }

    /// A timestamp (microseconds, PostgreSQL's precision).
    pub(crate) fn timestamp(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.plain(t.to_rfc3339_opts(SecondsFormat::Micros, true))
    }

    /// Bytes, as `bytea` hex input (its backslash escaped for the text format).
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.separate();
        self.buf.extend_from_slice(b"\\\\x");
        self.buf.extend_from_slice(hex::encode(b).as_bytes());
        self
    }

    /// Ends the current row.
    pub(crate) fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.columns = 0;
    }
}

/// Runs `statement` (a `COPY ... FROM STDIN`) on `conn`, writing the rows `encode`
/// produces for each item (any number per item, each ended with
/// [`CopyRows::end_row`]). Returns how many rows the server stored. On any error the copy
/// is abandoned; the caller's transaction then rolls back.
pub(crate) async fn copy_in<T>(
    conn: &mut PgConnection,
    statement: &str,
    items: impl IntoIterator<Item = T>,
    mut encode: impl FnMut(&mut CopyRows, T) -> Result<()>,
) -> Result<u64> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut rows = CopyRows::default();
    for item in items {
        encode(&mut rows, item)?;
        if rows.buf.len() >= FLUSH_BYTES {
            copy.send(std::mem::take(&mut rows.buf)).await?;
        }
    }
    if !rows.buf.is_empty() {
        copy.send(rows.buf).await?;
    }
    Ok(copy.finish().await?)
}

#[cfg(test)]
mod tests {
    use super::CopyRows;

    #[test]
    fn values_are_escaped_for_the_text_format() {
        let mut rows = CopyRows::default();
        rows.text("a\tb\\c\nd\re")
            .null()
            .int(-7)
            .bool(true)
            .bytes(&[0, 255])
            .real(f64::NEG_INFINITY)
            .opt_text(None);
        rows.end_row();
        rows.text("x");
        rows.end_row();
        assert_eq!(
            String::from_utf8(rows.buf).unwrap(),
            "a\\tb\\\\c\\nd\\re\t\\N\t-7\tt\t\\\\x00ff\t-Infinity\t\\N\nx\n"
        );
    }
}
