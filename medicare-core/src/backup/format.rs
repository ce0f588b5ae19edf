//! The plaintext stream inside a backup object, and the per-table checksum.
//!
//! Inside the age encryption and the zstd compression, a backup is JSON lines:
//!
//! ```text
//! {"format":"medicare-backup","version":1}
//! {"table":{"name":"patients","columns":["id","external_id",...]}}
//! [1,"P000001",...]                      one line per row
//! {"end":{"rows":112500,"sha256":"..."}}
//! ...                                    the next table
//! {"done":{"tables":7}}
//! ```
//!
//! Every table closes with its row count and [`TableDigest`], and the stream closes with
//! a `done` line, so a stream cut anywhere (even between whole age chunks) is refused.
//! The same digest is computed from a live database, so a restored copy can be compared
//! with the manifest without trusting the stream.

use super::snapshot::{Row, TableInfo, Value};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The stream format's version (in the header line and the manifest).
pub const FORMAT_VERSION: u32 = 1;

const FORMAT_NAME: &str = "medicare-backup";

/// A control line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// A table starts.
    Table(TableInfo),
    /// The current table ends.
    End(TableSummary),
    /// The stream ends.
    Done {
        /// How many tables it held.
        tables: u64,
    },
}

/// A table's row count and checksum, as the stream and the manifest record them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSummary {
    /// How many rows.
    pub rows: u64,
    /// The [`TableDigest`], hex.
    pub sha256: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u32,
}

/// A checksum of a table's columns and rows, in scan order, independent of the engine:
/// SHA-256 over a length-prefixed, type-tagged encoding of every value.
#[derive(Debug, Clone)]
pub struct TableDigest {
    hash: Sha256,
    rows: u64,
}

impl TableDigest {
    /// Starts the digest of `table`.
    pub fn new(table: &TableInfo) -> Self {
        let mut hash = Sha256::new();
        feed(&mut hash, b't', table.name.as_bytes());
        for c in &table.columns {
            feed(&mut hash, b'c', c.as_bytes());
        }
        TableDigest { hash, rows: 0 }
    }

    /// Adds one row.
    pub fn row(&mut self, row: &[Value]) {
        self.hash.update(b"r");
        for v in row {
            match v {
                Value::Null => self.hash.update(b"n"),
                Value::Int(i) => feed(&mut self.hash, b'i', &i.to_be_bytes()),
                Value::Real(f) => feed(&mut self.hash, b'f', &f.to_bits().to_be_bytes()),
                Value::Text(s) => feed(&mut self.hash, b's', s.as_bytes()),
                Value::Blob(b) => feed(&mut self.hash, b'b', &b.bytes),
            }
        }
        self.rows += 1;
    }

    /// The row count and checksum.
    pub fn finish(self) -> TableSummary {
        TableSummary {
            rows: self.rows,
            sha256: hex::encode(self.hash.finalize()),
        }
    }
}

fn feed(hash: &mut Sha256, tag: u8, bytes: &[u8]) {
    hash.update([tag]);
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

/// Writes the stream's lines into `out` (the compressor).
pub(crate) struct FrameWriter<W: std::io::Write> {
    out: W,
    tables: u64,
}

impl<W: std::io::Write> FrameWriter<W> {
    /// Writes the header line.
    pub(crate) fn new(mut out: W) -> std::io::Result<Self> {
        let header = Header {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
        };
        line(&mut out, &header)?;
        Ok(FrameWriter { out, tables: 0 })
    }

    /// Opens a table.
    pub(crate) fn table(&mut self, table: &TableInfo) -> std::io::Result<()> {
        self.tables += 1;
        line(&mut self.out, &Control::Table(table.clone()))
    }

    /// Writes rows of the open table.
    pub(crate) fn rows(&mut self, rows: &[Row]) -> std::io::Result<()> {
        rows.iter().try_for_each(|r| line(&mut self.out, r))
    }

    /// Closes the open table.
    pub(crate) fn end(&mut self, summary: &TableSummary) -> std::io::Result<()> {
        line(&mut self.out, &Control::End(summary.clone()))
    }

    /// Closes the stream and returns the writer.
    pub(crate) fn done(mut self) -> std::io::Result<W> {
        line(
            &mut self.out,
            &Control::Done {
                tables: self.tables,
            },
        )?;
        Ok(self.out)
    }
}

fn line(out: &mut impl std::io::Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
}

/// What a stream holds, event by event.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A table starts.
    Table(TableInfo),
    /// Rows of the current table.
    Rows(Vec<Row>),
    /// The current table ended; its summary was recomputed and matched the stream's.
    End(TableSummary),
}

/// Reads a stream, checking its structure and every table's count and checksum.
/// `what` names the object in errors (never its content).
pub(crate) struct FrameReader<R: std::io::BufRead> {
    input: R,
    what: String,
    line: String,
    line_no: u64,
    table: Option<(TableInfo, TableDigest)>,
    tables: u64,
    done: bool,
    pending: bool,
}

impl<R: std::io::BufRead> FrameReader<R> {
    /// Reads and checks the header line.
    pub(crate) fn new(input: R, what: String) -> Result<Self> {
        let mut reader = FrameReader {
            input,
            what,
            line: String::new(),
            line_no: 0,
            table: None,
            tables: 0,
            done: false,
            pending: false,
        };
        if !reader.next_line()? {
            return Err(reader.bad("the stream is empty"));
        }
        match serde_json::from_str::<Header>(&reader.line) {
            Ok(h) if h.format == FORMAT_NAME && h.version == FORMAT_VERSION => Ok(reader),
            Ok(h) => Err(reader.bad(&format!(
                "format {} version {} is not supported (this build reads version {FORMAT_VERSION})",
                h.format, h.version
            ))),
            Err(_) => Err(reader.bad("this is not a medicare backup stream")),
        }
    }

    fn bad(&self, message: &str) -> Error {
        Error::invalid(
            format!("{} (plaintext line {})", self.what, self.line_no),
            message.to_string(),
        )
    }

    fn next_line(&mut self) -> Result<bool> {
        self.line.clear();
        let n = self.input.read_line(&mut self.line).map_err(|e| {
            Error::invalid(
                format!("{} (after plaintext line {})", self.what, self.line_no),
                format!("cannot be decrypted or decompressed: {e}"),
            )
        })?;
        self.line_no += 1;
        Ok(n > 0)
    }

    /// The next event, up to `batch` rows at a time; `None` after the `done` line (and
    /// only once the input is checked to end there).
    pub(crate) fn next_event(&mut self, batch: usize) -> Result<Option<Event>> {
        if self.done {
            return Ok(None);
        }
        let mut rows = Vec::new();
        loop {
            if !self.pending && !self.next_line()? {
                return Err(self.bad("the stream ends early (truncated backup)"));
            }
            self.pending = false;
            if self.line.starts_with('[') {
                let row = self.parse_row()?;
                rows.push(row);
                if rows.len() >= batch {
                    return Ok(Some(Event::Rows(rows)));
                }
                continue;
            }
            if !rows.is_empty() {
                // Hand over the rows first; the control line is handled next time.
                self.pending = true;
                return Ok(Some(Event::Rows(rows)));
            }
            return self.control();
        }
    }

    fn parse_row(&mut self) -> Result<Row> {
        let row: Row =
            serde_json::from_str(&self.line).map_err(|_| self.bad("a row does not parse"))?;
        let Some((info, digest)) = self.table.as_mut() else {
            return Err(self.bad("a row outside any table"));
        };
        if row.len() != info.columns.len() {
            return Err(self.bad("a row has the wrong number of columns"));
        }
        digest.row(&row);
        Ok(row)
    }

    fn control(&mut self) -> Result<Option<Event>> {
        let control: Control = serde_json::from_str(&self.line)
            .map_err(|_| self.bad("a line is neither a row nor a control line"))?;
        match control {
            Control::Table(info) => {
                if self.table.is_some() {
                    return Err(self.bad("a table starts before the previous one ended"));
                }
                self.table = Some((info.clone(), TableDigest::new(&info)));
                self.tables += 1;
                Ok(Some(Event::Table(info)))
            }
            Control::End(summary) => {
                let Some((info, digest)) = self.table.take() else {
                    return Err(self.bad("a table ends that never started"));
                };
                if digest.finish() != summary {
                    return Err(self.bad(&format!(
                        "table {} does not match its recorded row count and checksum",
                        info.name
                    )));
                }
                Ok(Some(Event::End(summary)))
            }
            Control::Done { tables } => {
                if self.table.is_some() || tables != self.tables {
                    return Err(self.bad("the stream ends in the middle of a table"));
                }
                let mut rest = Vec::new();
                std::io::Read::read_to_end(&mut self.input, &mut rest).map_err(|e| {
                    Error::invalid(self.what.clone(), format!("cannot be decrypted: {e}"))
                })?;
                if !rest.is_empty() {
                    return Err(self.bad("data follows the end of the stream"));
                }
                self.done = true;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::snapshot::Blob;

    fn stream() -> Vec<u8> {
        let table = TableInfo {
            name: "t".into(),
            columns: vec!["a".into(), "b".into()],
        };
        let rows = vec![
            vec![Value::Int(1), Value::Text("x".into())],
            vec![
                Value::Real(1.5),
                Value::Blob(Blob {
                    bytes: vec![0, 255],
                }),
            ],
            vec![Value::Null, Value::Text("2".into())],
        ];
        let mut digest = TableDigest::new(&table);
        rows.iter().for_each(|r| digest.row(r));
        let mut w = FrameWriter::new(Vec::new()).unwrap();
        w.table(&table).unwrap();
        w.rows(&rows).unwrap();
        w.end(&digest.finish()).unwrap();
        w.done().unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Event>> {
        let mut r = FrameReader::new(bytes, "test stream".into())?;
        let mut events = Vec::new();
        while let Some(e) = r.next_event(2)? {
            events.push(e);
        }
        Ok(events)
    }

    #[test]
    fn values_round_trip_with_their_types_in_batches() {
        let events = read_all(&stream()).unwrap();
        assert_eq!(events.len(), 4, "{events:?}"); // table, 2 rows, 1 row, end
        let Event::Rows(rows) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(rows[1][0], Value::Real(1.5));
        assert_eq!(
            rows[1][1],
            Value::Blob(Blob {
                bytes: vec![0, 255]
            })
        );
        let Event::Rows(rows) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!(rows[0], vec![Value::Null, Value::Text("2".into())]);
    }

    #[test]
    fn each_json_value_reads_as_the_storage_class_it_was_written_as() {
        let row: Row = serde_json::from_str(
            r#"[null, -7, 9223372036854775807, 18446744073709551615, 2.5, 1e3, "x", "", {"b": "AP8="}]"#,
        )
        .unwrap();
        assert_eq!(
            row,
            vec![
                Value::Null,
                Value::Int(-7),
                Value::Int(i64::MAX),
                Value::Real(18446744073709551615.0),
                Value::Real(2.5),
                Value::Real(1000.0),
                Value::Text("x".into()),
                Value::Text(String::new()),
                Value::Blob(Blob {
                    bytes: vec![0, 255]
                }),
            ]
        );
        for bad in [
            "[true]",
            "[[1]]",
            r#"[{"b": "not base64!"}]"#,
            r#"[{"c": 1}]"#,
        ] {
            assert!(serde_json::from_str::<Row>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cut_edited_or_extended_streams_are_refused() {
        let good = String::from_utf8(stream()).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cut = lines[..lines.len() - 1].join("\n") + "\n";
        let edited = good.replace("\"x\"", "\"y\"");
        let extended = format!("{good}[1]\n");
        for (case, text, needle) in [
            ("cut", cut, "truncated"),
            ("edited", edited, "checksum"),
            ("extended", extended, "follows the end"),
            (
                "foreign",
                "{\"hello\":1}\n".to_string(),
                "not a medicare backup",
            ),
        ] {
            let err = read_all(text.as_bytes()).unwrap_err().to_string();
            assert!(
                err.contains(needle) && err.contains("test stream"),
                "{case}: {err}"
            );
        }
    }
}
