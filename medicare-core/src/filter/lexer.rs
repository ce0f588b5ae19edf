//! The lexer: splits filter source into tokens, on demand, one at a time.
//!
//! Lexing lazily means the first error in the source (by position) is the one reported,
//! whether the lexer or the parser finds it.

use super::ast::CmpOp;
use super::error::FilterError;

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A field name or keyword, as written (`[A-Za-z_][A-Za-z0-9_]*`).
    Word(String),
    /// An integer literal, possibly negative.
    Int(i64),
    /// A string literal, escapes resolved.
    Str(String),
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// `,`.
    Comma,
    /// A comparison operator.
    Cmp(CmpOp),
    /// The end of the source.
    End,
}

/// A token and the byte range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// What the token is.
    pub(crate) kind: TokenKind,
    /// Byte offset of its first character.
    pub(crate) start: usize,
}

impl Token {
    /// True when this is the word `keyword` (compared case-insensitively).
    pub(crate) fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
    }
}

/// A cursor over filter source that yields [`Token`]s.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `src`.
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn error(&self, at: usize, message: impl Into<String>) -> FilterError {
        FilterError::at(self.src, at, message)
    }

    /// The next token, or an error pointing at the character that cannot start one.
    pub(crate) fn next_token(&mut self) -> Result<Token, FilterError> {
        // The end of the source is reported just after the last token, where something
        // is missing, rather than after trailing whitespace.
        let after_previous = self.pos;
        while self.peek_char().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let Some(c) = self.bump() else {
            return Ok(Token {
                kind: TokenKind::End,
                start: after_previous,
            });
        };
        let kind = match c {
            '(' => TokenKind::LParen,
            ')' => TokenKind::RParen,
            ',' => TokenKind::Comma,
            '=' => TokenKind::Cmp(CmpOp::Eq),
            '!' if self.peek_char() == Some('=') => {
                self.bump();
                TokenKind::Cmp(CmpOp::Ne)
            }
            '!' => {
                return Err(self.error(
                    start,
                    "unexpected character \"!\"; write \"!=\" to compare or \"not\" to negate",
                ))
            }
            '<' | '>' => {
                let or_equal = self.peek_char() == Some('=');
                if or_equal {
                    self.bump();
                }
                TokenKind::Cmp(match (c, or_equal) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    _ => CmpOp::Ge,
                })
            }
            '"' => TokenKind::Str(self.string(start)?),
            '-' if self.peek_char().is_some_and(|d| d.is_ascii_digit()) => self.integer(start)?,
            '0'..='9' => self.integer(start)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                TokenKind::Word(self.src[start..self.pos].to_string())
            }
            c => {
                let shown = if c.is_ascii_graphic() {
                    format!("\"{c}\"")
                } else {
                    format!("U+{:04X}", u32::from(c))
                };
                return Err(self.error(start, format!("unexpected character {shown}")));
            }
        };
        Ok(Token { kind, start })
    }

    /// The rest of a string literal whose opening quote (at `start`) was just consumed.
    fn string(&mut self, start: usize) -> Result<String, FilterError> {
        let mut value = String::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err(self.error(start, "unterminated string: missing closing '\"'")),
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some(c @ ('"' | '\\')) => value.push(c),
                    _ => {
                        return Err(self.error(
                            at,
                            "unsupported escape in a string: only \\\" and \\\\ are allowed",
                        ))
                    }
                },
                Some(c) => value.push(c),
            }
        }
    }

    /// The rest of an integer literal starting at `start` (its sign or first digit was
    /// just consumed).
    fn integer(&mut self, start: usize) -> Result<TokenKind, FilterError> {
        while self.peek_char().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self
            .peek_char()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            return Err(self.error(start, "invalid number: a number must be digits only"));
        }
        self.src[start..self.pos]
            .parse::<i64>()
            .map(TokenKind::Int)
            .map_err(|_| self.error(start, "number out of range"))
    }
}

#[cfg(test)]
impl Lexer<'_> {
    /// Every token up to the end (for tests).
    pub(crate) fn all(src: &str) -> Result<Vec<TokenKind>, FilterError> {
        let mut lexer = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            if t.kind == TokenKind::End {
                return Ok(out);
            }
            out.push(t.kind);
        }
    }
}
