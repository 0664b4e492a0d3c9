//! The one lexer behind both splitting and the static rules: SQL text becomes tokens (words,
//! strings, quoted identifiers, dollar-quoted bodies, symbols), with whitespace and comments
//! skipped, per dialect. MySQL executable comments (`/*!50003 ... */`) are code, so their
//! contents come out as ordinary tokens between an opening and a closing marker.

use super::{Dialect, SplitError};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A keyword or unquoted identifier (numbers and `$1` parameters too).
    Word,
    /// A string literal (for MySQL, a double-quoted one too).
    Str,
    /// A quoted identifier: `"x"`, `` `x` ``, `[x]`.
    Ident,
    /// A PostgreSQL dollar-quoted body; `tag` is the length of its `$tag$` delimiter.
    Dollar { tag: usize },
    /// Any other single character, `;` included where it does not end statements.
    Symbol,
    /// The start of a MySQL executable comment: `/*!`, `/*M!`, and its version number.
    ExecOpen,
    /// The `*/` that closes an executable comment.
    ExecClose,
    /// The statement delimiter: `;`, or the one a MySQL `DELIMITER` line set.
    End,
    /// A MySQL client `DELIMITER xx` line (only when lexing a whole script).
    DelimiterCommand,
}

/// One token: its kind, byte range in the source and the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub from: usize,
    pub to: usize,
    pub line: usize,
}

impl Token {
    /// The token's text in `src`.
    pub fn text<'a>(&self, src: &'a str) -> &'a str {
        &src[self.from..self.to]
    }
}

/// The rules of one kind of quote.
#[derive(Clone, Copy)]
struct Quote {
    close: u8,
    doubled: bool,
    backslash: bool,
    kind: Kind,
    what: &'static str,
}

const fn quote(close: u8, doubled: bool, backslash: bool, kind: Kind, what: &'static str) -> Quote {
    Quote {
        close,
        doubled,
        backslash,
        kind,
        what,
    }
}

fn unterminated(what: &'static str, line: usize) -> SplitError {
    SplitError::Unterminated { what, line }
}

/// Bytes that continue a word.
pub(crate) fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Where a lexer stands between two statements, to go on over the next part of a script.
#[derive(Debug, Clone)]
pub(crate) struct LexState {
    line: usize,
    line_start: bool,
    delimiter: Option<Vec<u8>>,
    exec: Option<usize>,
}

impl Default for LexState {
    fn default() -> Self {
        LexState {
            line: 1,
            line_start: true,
            delimiter: None,
            exec: None,
        }
    }
}

/// A tokenizer over one text.
pub(crate) struct Lexer<'a> {
    b: &'a [u8],
    dialect: Dialect,
    i: usize,
    line: usize,
    /// Whether `DELIMITER` lines are client commands (a whole MySQL script).
    commands: bool,
    /// Only blanks since the last newline (where a client command may start).
    line_start: bool,
    /// The delimiter a `DELIMITER` line set, when it is not `;`.
    delimiter: Option<Vec<u8>>,
    /// The line of the executable comment we are inside, if any.
    exec: Option<usize>,
}

impl<'a> Lexer<'a> {
    /// Lexes a statement's text (or any fragment): no client commands.
    pub fn new(src: &'a str, dialect: Dialect) -> Self {
        Lexer {
            b: src.as_bytes(),
            dialect,
            i: 0,
            line: 1,
            commands: false,
            line_start: true,
            delimiter: None,
            exec: None,
        }
    }

    /// Lexes a whole script: MySQL `DELIMITER` lines are honoured.
    pub fn script(src: &'a str, dialect: Dialect) -> Self {
        let commands = dialect == Dialect::Mysql;
        Lexer {
            commands,
            ..Lexer::new(src, dialect)
        }
    }

    /// Lexes the rest of a script from where [`Lexer::state`] was taken.
    pub fn resume(src: &'a str, dialect: Dialect, state: LexState) -> Self {
        Lexer {
            line: state.line,
            line_start: state.line_start,
            delimiter: state.delimiter,
            exec: state.exec,
            ..Lexer::script(src, dialect)
        }
    }

    /// Where the lexer stands, to resume after the text it has read.
    pub fn state(&self) -> LexState {
        LexState {
            line: self.line,
            line_start: self.line_start,
            delimiter: self.delimiter.clone(),
            exec: self.exec,
        }
    }

    /// Whether a `DELIMITER` line replaced `;`: the delimiter then always ends a statement.
    pub fn custom_delimiter(&self) -> bool {
        self.delimiter.is_some()
    }

    /// The next token, `None` at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<Token>, SplitError> {
        loop {
            let Some(&c) = self.b.get(self.i) else {
                return match self.exec {
                    Some(line) => Err(unterminated("executable comment", line)),
                    None => Ok(None),
                };
            };
            match c {
                b'\n' => {
                    self.line += 1;
                    self.i += 1;
                    self.line_start = true;
                    continue;
                }
                b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                    self.i += 1;
                    continue;
                }
                _ => {}
            }
            let line_start = std::mem::replace(&mut self.line_start, false);
            if line_start && self.commands {
                if let Some(token) = self.delimiter_command()? {
                    return Ok(Some(token));
                }
            }
            if let Some(token) = self.code(c)? {
                return Ok(Some(token));
            }
        }
    }

    /// The token starting at `c`, or `None` after skipping a comment.
    fn code(&mut self, c: u8) -> Result<Option<Token>, SplitError> {
        let (b, i) = (self.b, self.i);
        let next = b.get(i + 1).copied();
        match &self.delimiter {
            Some(d) if b[i..].starts_with(d) => {
                return Ok(Some(self.token(Kind::End, i + d.len())))
            }
            None if c == b';' => return Ok(Some(self.token(Kind::End, i + 1))),
            _ => {}
        }
        match c {
            b'-' if next == Some(b'-') && self.dash_dash_is_comment() => self.skip_line(),
            b'#' if self.dialect == Dialect::Mysql => self.skip_line(),
            b'/' if next == Some(b'*') => return self.block_comment(),
            b'*' if next == Some(b'/') && self.exec.is_some() => {
                self.exec = None;
                return Ok(Some(self.token(Kind::ExecClose, i + 2)));
            }
            _ => {
                if let Some(q) = self.quote_for(c) {
                    return self.quoted(i, i, q).map(Some);
                }
                if c == b'$' && self.dialect == Dialect::Postgres {
                    if let Some(len) = self.dollar_delimiter_len() {
                        return self.dollar_quoted(len).map(Some);
                    }
                }
                if is_word_byte(c) {
                    return self.word().map(Some);
                }
                return Ok(Some(self.token(Kind::Symbol, i + 1)));
            }
        }
        Ok(None)
    }

    fn token(&mut self, kind: Kind, to: usize) -> Token {
        let token = Token {
            kind,
            from: self.i,
            to,
            line: self.line,
        };
        self.i = to;
        token
    }

    fn quote_for(&self, c: u8) -> Option<Quote> {
        use Kind::{Ident, Str};
        let mysql = self.dialect == Dialect::Mysql;
        Some(match (c, self.dialect) {
            (b'\'', _) => quote(b'\'', true, mysql, Str, "single-quoted string"),
            (b'"', Dialect::Mysql) => quote(b'"', true, true, Str, "double-quoted string"),
            (b'"', _) => quote(b'"', true, false, Ident, "double-quoted identifier"),
            (b'`', Dialect::Sqlite | Dialect::Mysql) => {
                quote(b'`', true, false, Ident, "backtick-quoted identifier")
            }
            (b'[', Dialect::Sqlite) => {
                quote(b']', false, false, Ident, "bracket-quoted identifier")
            }
            _ => return None,
        })
    }

    /// `--` always starts a comment, except that MySQL wants whitespace or a control char after it.
    fn dash_dash_is_comment(&self) -> bool {
        self.dialect != Dialect::Mysql || self.b.get(self.i + 2).is_none_or(|&c| c <= b' ')
    }

    /// Skips a line comment, leaving the `\n` for the main loop.
    fn skip_line(&mut self) {
        self.i = match self.b[self.i..].iter().position(|&c| c == b'\n') {
            Some(n) => self.i + n,
            None => self.b.len(),
        };
    }

    /// At `/*`: the opening of an executable comment (MySQL), or a skipped comment.
    fn block_comment(&mut self) -> Result<Option<Token>, SplitError> {
        let (b, from, line) = (self.b, self.i, self.line);
        if self.dialect == Dialect::Mysql && self.exec.is_none() {
            let bang = match &b[from + 2..] {
                [b'!', ..] => Some(from + 3),
                [b'M', b'!', ..] => Some(from + 4),
                _ => None,
            };
            if let Some(mut to) = bang {
                while b.get(to).is_some_and(u8::is_ascii_digit) {
                    to += 1;
                }
                self.exec = Some(line);
                return Ok(Some(self.token(Kind::ExecOpen, to)));
            }
        }
        let nests = self.dialect == Dialect::Postgres;
        let (mut depth, mut j) = (1usize, from + 2);
        while depth > 0 {
            match b.get(j) {
                None => return Err(unterminated("block comment", line)),
                Some(b'\n') => {
                    self.line += 1;
                    j += 1;
                }
                Some(b'*') if b.get(j + 1) == Some(&b'/') => {
                    depth -= 1;
                    j += 2;
                }
                Some(b'/') if nests && b.get(j + 1) == Some(&b'*') => {
                    depth += 1;
                    j += 2;
                }
                _ => j += 1,
            }
        }
        self.i = j;
        Ok(None)
    }

    /// Scans a quoted token whose opening quote is at `open`; the token itself starts at `from`
    /// (earlier than `open` for a PostgreSQL `E'...'` string).
    fn quoted(&mut self, from: usize, open: usize, q: Quote) -> Result<Token, SplitError> {
        let (b, line) = (self.b, self.line);
        let mut j = open + 1;
        loop {
            match b.get(j) {
                None => return Err(unterminated(q.what, line)),
                Some(&c) if c == q.close => {
                    if q.doubled && b.get(j + 1) == Some(&q.close) {
                        j += 2;
                    } else {
                        j += 1;
                        break;
                    }
                }
                Some(b'\\') if q.backslash => {
                    if b.get(j + 1) == Some(&b'\n') {
                        self.line += 1;
                    }
                    j += 2;
                }
                Some(b'\n') => {
                    self.line += 1;
                    j += 1;
                }
                Some(_) => j += 1,
            }
        }
        self.i = j;
        Ok(Token {
            kind: q.kind,
            from,
            to: j,
            line,
        })
    }

    /// At a `$` (PostgreSQL): the length of a `$$` / `$tag$` delimiter starting here, if any.
    fn dollar_delimiter_len(&self) -> Option<usize> {
        let b = self.b;
        let mut j = self.i + 1;
        if b.get(j).is_some_and(|c| c.is_ascii_digit()) {
            return None; // `$1` is a parameter
        }
        while j < b.len() && b[j] != b'$' && is_word_byte(b[j]) {
            j += 1;
        }
        (b.get(j) == Some(&b'$')).then_some(j + 1 - self.i)
    }

    fn dollar_quoted(&mut self, len: usize) -> Result<Token, SplitError> {
        let (b, from, line) = (self.b, self.i, self.line);
        let delimiter = &b[from..from + len];
        let mut j = from + len;
        loop {
            match b.get(j) {
                None => return Err(unterminated("dollar-quoted string", line)),
                Some(b'\n') => self.line += 1,
                Some(b'$') if b[j..].starts_with(delimiter) => break,
                Some(_) => {}
            }
            j += 1;
        }
        self.i = j + len;
        Ok(Token {
            kind: Kind::Dollar { tag: len },
            from,
            to: j + len,
            line,
        })
    }

    fn word(&mut self) -> Result<Token, SplitError> {
        let (b, from) = (self.b, self.i);
        let mut j = from + 1;
        while j < b.len() && is_word_byte(b[j]) {
            if self
                .delimiter
                .as_ref()
                .is_some_and(|d| b[j..].starts_with(d))
            {
                break; // `END$$` under `DELIMITER $$`
            }
            j += 1;
        }
        let e_string = self.dialect == Dialect::Postgres
            && j == from + 1
            && b[from].eq_ignore_ascii_case(&b'e')
            && b.get(j) == Some(&b'\'');
        if e_string {
            let q = quote(b'\'', true, true, Kind::Str, "single-quoted string");
            return self.quoted(from, j, q);
        }
        Ok(self.token(Kind::Word, j))
    }

    /// At the first non-blank of a line of a MySQL script: a `DELIMITER xx` client command.
    fn delimiter_command(&mut self) -> Result<Option<Token>, SplitError> {
        let (b, from) = (self.b, self.i);
        let word = b"delimiter";
        let is_command = b.len() >= from + word.len()
            && b[from..from + word.len()].eq_ignore_ascii_case(word)
            && b.get(from + word.len())
                .is_none_or(|&c| c.is_ascii_whitespace());
        if !is_command || self.exec.is_some() {
            return Ok(None);
        }
        let end = b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |n| from + n);
        let arg = delimiter_argument(&b[from + word.len()..end]);
        let problem = match arg {
            [] => Some("has no delimiter after it; write one, as in `DELIMITER ;;`"),
            _ if arg.contains(&b'\\') => Some("has a backslash in its delimiter, which the mysql client refuses; pick another delimiter"),
            _ => None,
        };
        if let Some(problem) = problem {
            let line = self.line;
            return Err(SplitError::Delimiter { problem, line });
        }
        self.delimiter = (arg != b";").then(|| arg.to_vec());
        Ok(Some(self.token(Kind::DelimiterCommand, end)))
    }
}

/// The delimiter a `DELIMITER` line sets: its first word, or a quoted string, as the mysql
/// client reads it (the rest of the line is ignored).
fn delimiter_argument(rest: &[u8]) -> &[u8] {
    let start = rest.iter().position(|c| !c.is_ascii_whitespace());
    let Some(start) = start else { return &[] };
    let rest = &rest[start..];
    if let [q @ (b'\'' | b'"' | b'`'), inner @ ..] = rest {
        if let Some(n) = inner.iter().position(|c| c == q) {
            return &inner[..n];
        }
    }
    let n = rest.iter().position(|c| c.is_ascii_whitespace());
    &rest[..n.unwrap_or(rest.len())]
}
