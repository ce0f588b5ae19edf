//! The parser: filter source to an [`Expr`], by recursive descent with one token of
//! lookahead.
//!
//! Nesting (parentheses and `not`) is counted and capped at [`MAX_DEPTH`] before the
//! parser recurses, so hostile input returns an error rather than overflowing the stack.
//! Chains of `and`/`or` are collected into flat lists, so a long chain does not nest.
//!
//! The size of a filter is capped too ([`MAX_CONDITIONS`]): a database compiles `a or b
//! or ...` into an expression tree as deep as the chain is long, and SQLite refuses one
//! deeper than 1,000. The cap is checked here, with the position of the condition that
//! exceeds it, so an oversized filter is bad input on every backend instead of a
//! database error on some.

use super::ast::{CmpOp, Expr, Field, Flag, Op, Predicate, Test, KNOWN_FIELDS};
use super::error::{echo, FilterError};
use super::lexer::{Lexer, Token, TokenKind};
use crate::patient::{ConditionCode, Postcode, Sex};
use chrono::NaiveDate;

/// The longest filter accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 10_000;
/// The deepest nesting of parentheses and `not` accepted.
pub const MAX_DEPTH: usize = 64;
/// The most values an `in` list may hold.
pub const MAX_LIST_ITEMS: usize = 1000;
/// The most conditions a filter may hold: each comparison and `all` counts one, and an
/// `age in (...)` list counts one per value (it becomes one date range per age).
pub const MAX_CONDITIONS: usize = 500;
/// The longest `starts_with` postcode prefix, in characters.
pub const MAX_PREFIX_CHARS: usize = 8;

/// Keywords: never field names.
const KEYWORDS: [&str; 8] = [
    "and",
    "or",
    "not",
    "in",
    "starts_with",
    "true",
    "false",
    "all",
];

/// Parses `source` into an expression.
pub(crate) fn parse(source: &str) -> Result<Expr, FilterError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(FilterError::at(
            source,
            MAX_SOURCE_BYTES,
            format!(
                "filter too long: {} bytes, at most {MAX_SOURCE_BYTES} are allowed",
                source.len()
            ),
        ));
    }
    if source.trim().is_empty() {
        return Err(FilterError::at(
            source,
            0,
            "empty filter; write `all` to match every patient",
        ));
    }
    let mut parser = Parser::new(source)?;
    let expr = parser.or_expr(0)?;
    match parser.tok.kind {
        TokenKind::End => Ok(expr),
        TokenKind::RParen => Err(parser.error_here("unmatched \")\"")),
        _ => Err(parser.error_here(format!(
            "unexpected {} after a complete condition; expected \"and\", \"or\" or the end of \
             the filter",
            parser.describe()
        ))),
    }
}

struct Parser<'a> {
    src: &'a str,
    lexer: Lexer<'a>,
    /// The current (not yet consumed) token.
    tok: Token,
    /// Conditions parsed so far (see [`MAX_CONDITIONS`]).
    conditions: usize,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self, FilterError> {
        let mut lexer = Lexer::new(src);
        let tok = lexer.next_token()?;
        Ok(Parser {
            src,
            lexer,
            tok,
            conditions: 0,
        })
    }

    /// Consumes the current token and returns it.
    fn advance(&mut self) -> Result<Token, FilterError> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.tok, next))
    }

    fn error_at(&self, at: usize, message: impl Into<String>) -> FilterError {
        FilterError::at(self.src, at, message)
    }

    fn error_here(&self, message: impl Into<String>) -> FilterError {
        self.error_at(self.tok.start, message)
    }

    /// The current token, described for an error message. String literals, numbers and
    /// unknown bare words are not echoed: they may be personal data.
    fn describe(&self) -> String {
        match &self.tok.kind {
            TokenKind::Word(w) if is_keyword(w) => format!("keyword {}", echo(w)),
            TokenKind::Word(w) if Field::lookup(w).is_some() => format!("field {}", echo(w)),
            TokenKind::Word(_) => "a bare word (string values go in double quotes)".into(),
            TokenKind::Int(_) => "a number".into(),
            TokenKind::Str(_) => "a string".into(),
            TokenKind::LParen => "\"(\"".into(),
            TokenKind::RParen => "\")\"".into(),
            TokenKind::Comma => "\",\"".into(),
            TokenKind::Cmp(op) => format!("operator \"{}\"", op.symbol()),
            TokenKind::End => "the end of the filter".into(),
        }
    }

    /// An error for the current token when `wanted` was expected.
    fn expected(&self, wanted: &str) -> FilterError {
        if self.tok.kind == TokenKind::End {
            self.error_here(format!("unexpected end of filter; expected {wanted}"))
        } else {
            self.error_here(format!("expected {wanted}, found {}", self.describe()))
        }
    }

    /// `or_expr := and_expr ("or" and_expr)*`
    fn or_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.and_expr(depth)?];
        while self.tok.is_keyword("or") {
            self.advance()?;
            items.push(self.and_expr(depth)?);
        }
        Ok(flatten(items, Expr::Or))
    }

    /// `and_expr := unary ("and" unary)*`
    fn and_expr(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut items = vec![self.unary(depth)?];
        while self.tok.is_keyword("and") {
            self.advance()?;
            items.push(self.unary(depth)?);
        }
        Ok(flatten(items, Expr::And))
    }

    /// Fails when entering one more level would exceed [`MAX_DEPTH`].
    fn deeper(&self, depth: usize) -> Result<usize, FilterError> {
        if depth >= MAX_DEPTH {
            return Err(self.error_here(format!(
                "filter nested too deeply: at most {MAX_DEPTH} levels of parentheses and \
                 \"not\" are allowed"
            )));
        }
        Ok(depth + 1)
    }

    /// Adds `weight` conditions, starting at `at`, to the filter's size; fails when it
    /// exceeds [`MAX_CONDITIONS`].
    fn count(&mut self, at: usize, weight: usize) -> Result<(), FilterError> {
        self.conditions = self.conditions.saturating_add(weight);
        if self.conditions > MAX_CONDITIONS {
            return Err(self.error_at(
                at,
                format!(
                    "filter too large: at most {MAX_CONDITIONS} conditions are allowed (each \
                     comparison counts one, and each value of an \"age in\" list one); \
                     use \"in\" lists instead of chains of \"or\""
                ),
            ));
        }
        Ok(())
    }

    /// `unary := "not" unary | primary`
    fn unary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        if self.tok.is_keyword("not") {
            let depth = self.deeper(depth)?;
            self.advance()?;
            return Ok(Expr::Not(Box::new(self.unary(depth)?)));
        }
        self.primary(depth)
    }

    /// `primary := "(" or_expr ")" | "all" | predicate`
    fn primary(&mut self, depth: usize) -> Result<Expr, FilterError> {
        match &self.tok.kind {
            TokenKind::LParen => {
                let open = self.tok.start;
                let depth = self.deeper(depth)?;
                self.advance()?;
                let inner = self.or_expr(depth)?;
                if self.tok.kind != TokenKind::RParen {
                    let column = FilterError::at(self.src, open, "").column;
                    return Err(
                        self.expected(&format!("\")\" to close the \"(\" at column {column}"))
                    );
                }
                self.advance()?;
                Ok(inner)
            }
            TokenKind::Word(w) if w.eq_ignore_ascii_case("all") => {
                self.count(self.tok.start, 1)?;
                self.advance()?;
                Ok(Expr::All)
            }
            TokenKind::Word(w) if is_keyword(w) => {
                Err(self.error_here(format!("expected a condition, found keyword {}", echo(w))))
            }
            TokenKind::Word(w) => match Field::lookup(w) {
                Some(field) => {
                    let at = self.tok.start;
                    self.advance()?;
                    let predicate = self.predicate(field)?;
                    self.count(at, predicate.weight())?;
                    Ok(Expr::Pred(predicate))
                }
                None => Err(self.error_here(format!(
                    "unknown field {}; known fields: {KNOWN_FIELDS}",
                    echo(w)
                ))),
            },
            _ => Err(self.expected("a condition (a field name, \"not\", \"all\" or \"(\")")),
        }
    }

    /// The rest of a predicate, after its field name.
    fn predicate(&mut self, field: Field) -> Result<Predicate, FilterError> {
        if let Field::Flag(flag) = field {
            return self.flag(flag);
        }
        let (op, op_at) = self.operator(field)?;
        if !field.allows(op) {
            return Err(self.op_not_allowed(field, op, op_at));
        }
        Ok(match field {
            Field::Age => Predicate::Age(self.test(op, |p| p.integer(field))?),
            Field::Dob => Predicate::Dob(self.test(op, |p| p.date(field))?),
            Field::Sex => Predicate::Sex(self.test(op, |p| p.sex(field))?),
            Field::Postcode if op == Op::StartsWith => {
                Predicate::PostcodePrefix(self.postcode_prefix(field)?)
            }
            Field::Postcode => Predicate::Postcode(self.test(op, |p| p.postcode(field))?),
            Field::Condition => Predicate::Condition(self.test(op, |p| p.condition(field))?),
            Field::ExternalId => Predicate::ExternalId(self.test(op, |p| Ok(p.string(field)?.0))?),
            Field::Flag(flag) => self.flag(flag)?,
        })
    }

    fn op_not_allowed(&self, field: Field, op: Op, at: usize) -> FilterError {
        self.error_at(
            at,
            format!(
                "operator \"{}\" is not allowed for {} ({}); allowed: {}",
                op.text(),
                field.name(),
                field.value_kind(),
                field.allowed_ops()
            ),
        )
    }

    /// A boolean field: bare, or `= true|false`, or `!= true|false`.
    fn flag(&mut self, flag: Flag) -> Result<Predicate, FilterError> {
        let field = Field::Flag(flag);
        let op = match &self.tok.kind {
            TokenKind::Cmp(op) => Op::Cmp(*op),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("in") => Op::In,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("starts_with") => Op::StartsWith,
            // `has_phone not in (...)`; a `not` here cannot start anything valid.
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") => Op::NotIn,
            _ => return Ok(Predicate::Flag(flag, true)),
        };
        let op_at = self.tok.start;
        if !field.allows(op) {
            return Err(self.op_not_allowed(field, op, op_at));
        }
        self.advance()?;
        let value = match &self.tok.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => true,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => false,
            _ => return Err(self.mismatch(field)),
        };
        self.advance()?;
        Ok(Predicate::Flag(flag, value == (op == Op::Cmp(CmpOp::Eq))))
    }

    /// The operator after a (non-boolean) field, and its byte offset.
    fn operator(&mut self, field: Field) -> Result<(Op, usize), FilterError> {
        let at = self.tok.start;
        let op = match &self.tok.kind {
            TokenKind::Cmp(op) => Op::Cmp(*op),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("in") => Op::In,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("starts_with") => Op::StartsWith,
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") => {
                self.advance()?;
                if !self.tok.is_keyword("in") {
                    return Err(self.expected("\"in\" after \"not\""));
                }
                Op::NotIn
            }
            _ => {
                return Err(self.expected(&format!(
                    "an operator after {} ({})",
                    field.name(),
                    field.allowed_ops()
                )))
            }
        };
        self.advance()?;
        Ok((op, at))
    }

    /// The value or value list after `op`.
    fn test<T>(
        &mut self,
        op: Op,
        mut value: impl FnMut(&mut Self) -> Result<T, FilterError>,
    ) -> Result<Test<T>, FilterError> {
        match op {
            Op::Cmp(cmp) => Ok(Test::Cmp(cmp, value(self)?)),
            Op::In => Ok(Test::In(self.list(value)?)),
            Op::NotIn => Ok(Test::NotIn(self.list(value)?)),
            // `starts_with` is handled by its only field before this is reached.
            Op::StartsWith => Err(self.error_here("\"starts_with\" is not allowed here")),
        }
    }

    /// `"(" value ("," value)* ")"`, 1 to [`MAX_LIST_ITEMS`] values.
    fn list<T>(
        &mut self,
        mut value: impl FnMut(&mut Self) -> Result<T, FilterError>,
    ) -> Result<Vec<T>, FilterError> {
        if self.tok.kind != TokenKind::LParen {
            return Err(self.expected("\"(\" to start the list of values"));
        }
        self.advance()?;
        if self.tok.kind == TokenKind::RParen {
            return Err(self.error_here("an \"in\" list needs at least one value"));
        }
        let mut values = Vec::new();
        loop {
            if values.len() == MAX_LIST_ITEMS {
                return Err(self.error_here(format!(
                    "an \"in\" list may hold at most {MAX_LIST_ITEMS} values"
                )));
            }
            values.push(value(self)?);
            match self.tok.kind {
                TokenKind::Comma => {
                    self.advance()?;
                }
                TokenKind::RParen => {
                    self.advance()?;
                    return Ok(values);
                }
                _ => return Err(self.expected("\",\" or \")\" in the list of values")),
            }
        }
    }

    /// A type-mismatch (or missing value) error for `field` at the current token.
    fn mismatch(&self, field: Field) -> FilterError {
        if self.tok.kind == TokenKind::End {
            return self.error_here(format!(
                "unexpected end of filter; expected {} for {}",
                field.value_kind(),
                field.name()
            ));
        }
        self.error_here(format!(
            "type mismatch: {} expects {}, found {}",
            field.name(),
            field.value_kind(),
            self.describe()
        ))
    }

    /// An integer literal.
    fn integer(&mut self, field: Field) -> Result<i64, FilterError> {
        match self.tok.kind {
            TokenKind::Int(n) => {
                self.advance()?;
                Ok(n)
            }
            _ => Err(self.mismatch(field)),
        }
    }

    /// A string literal and its byte offset.
    fn string(&mut self, field: Field) -> Result<(String, usize), FilterError> {
        let at = self.tok.start;
        match &mut self.tok.kind {
            TokenKind::Str(s) => {
                let s = std::mem::take(s);
                self.advance()?;
                Ok((s, at))
            }
            _ => Err(self.mismatch(field)),
        }
    }

    /// An error about an invalid value of `field` at `at`, with `why` (which must not
    /// repeat the value).
    fn invalid(&self, field: Field, at: usize, why: &str) -> FilterError {
        self.error_at(at, format!("invalid value for {}: {why}", field.name()))
    }

    /// A `"YYYY-MM-DD"` date.
    fn date(&mut self, field: Field) -> Result<NaiveDate, FilterError> {
        let (s, at) = self.string(field)?;
        parse_date(&s).ok_or_else(|| {
            self.invalid(
                field,
                at,
                "expected a real calendar date written \"YYYY-MM-DD\"",
            )
        })
    }

    /// `"female"`, `"male"`, `"other"` or `"unknown"` (any case).
    fn sex(&mut self, field: Field) -> Result<Sex, FilterError> {
        let (s, at) = self.string(field)?;
        Sex::ALL
            .into_iter()
            .find(|sex| sex.as_str().eq_ignore_ascii_case(&s))
            .ok_or_else(|| {
                self.invalid(
                    field,
                    at,
                    "expected one of \"female\", \"male\", \"other\", \"unknown\"",
                )
            })
    }

    /// A full UK postcode, normalised.
    fn postcode(&mut self, field: Field) -> Result<Postcode, FilterError> {
        let (s, at) = self.string(field)?;
        Postcode::parse(&s).map_err(|why| self.invalid(field, at, &why))
    }

    /// A condition code.
    fn condition(&mut self, field: Field) -> Result<ConditionCode, FilterError> {
        let (s, at) = self.string(field)?;
        ConditionCode::parse(&s).map_err(|why| self.invalid(field, at, &why))
    }

    /// A `starts_with` prefix: upper-cased; `A-Z0-9` and at most one space; 1 to
    /// [`MAX_PREFIX_CHARS`] characters.
    fn postcode_prefix(&mut self, field: Field) -> Result<String, FilterError> {
        let (s, at) = self.string(field)?;
        let prefix = s.to_ascii_uppercase();
        let valid = (1..=MAX_PREFIX_CHARS).contains(&prefix.chars().count())
            && prefix
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == ' ')
            && prefix.matches(' ').count() <= 1;
        if !valid {
            return Err(self.error_at(
                at,
                format!(
                    "invalid postcode prefix: use 1 to {MAX_PREFIX_CHARS} letters and digits \
                     with at most one space, such as \"SW1\""
                ),
            ));
        }
        Ok(prefix)
    }
}

/// One operand as itself; several under `combine`.
fn flatten(mut items: Vec<Expr>, combine: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 {
        items.pop().unwrap_or(Expr::All)
    } else {
        combine(items)
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// A strict `YYYY-MM-DD` calendar date.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let year = s[0..4].parse().ok()?;
    let month = s[5..7].parse().ok()?;
    let day = s[8..10].parse().ok()?;
    NaiveDate::from_ymd_opt(year, month, day)
}
