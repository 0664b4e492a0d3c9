//! The splitter fed a part at a time: text goes in as blocks of complete lines, statements come
//! out one at a time, and only the statement being read is held. Lexing resumes at the last
//! statement boundary; a boundary counts only once some text follows it (or the script ended),
//! so nothing is decided on a token cut at the end of a block.

use super::blocks::Blocks;
use super::lexer::{Kind, LexState, Lexer};
use super::{Dialect, SplitError, Statement};

/// Splits a script given in blocks of complete lines.
pub struct Splitter {
    dialect: Dialect,
    buf: String,
    /// Where the unread part of `buf` starts (at a statement boundary).
    pos: usize,
    state: LexState,
    number: usize,
    /// How much unread text to wait for before lexing again, so that a long statement is
    /// lexed a number of times logarithmic in its length, not linear.
    need: usize,
}

impl Splitter {
    /// A splitter at the start of a script.
    pub fn new(dialect: Dialect) -> Self {
        Splitter {
            dialect,
            buf: String::new(),
            pos: 0,
            state: LexState::default(),
            number: 0,
            need: 0,
        }
    }

    /// Adds the next block of complete lines.
    pub fn push(&mut self, text: &str) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.push_str(text);
    }

    /// The next statement; `Ok(None)` when more text is needed (or, once `eof`, at the end).
    pub fn next_statement(&mut self, eof: bool) -> Result<Option<Statement>, SplitError> {
        loop {
            let unread = self.buf.len() - self.pos;
            if !eof && unread < self.need {
                return Ok(None);
            }
            match self.lex_one(eof) {
                Step::Statement(s) => {
                    self.need = 0;
                    return Ok(Some(s));
                }
                Step::Empty => continue,
                Step::NeedMore => {
                    self.need = unread * 2;
                    return Ok(None);
                }
                Step::End => return Ok(None),
                Step::Error(e) => return Err(e),
            }
        }
    }

    /// Lexes from the last boundary up to the next one.
    fn lex_one(&mut self, eof: bool) -> Step {
        let src = &self.buf[self.pos..];
        let mut lexer = Lexer::resume(src, self.dialect, self.state.clone());
        let mut blocks = Blocks::new(self.dialect);
        // Byte offset and line of the statement's first token, and where its last ends.
        let mut start: Option<(usize, usize)> = None;
        let mut end = 0;
        loop {
            let token = match lexer.next_token() {
                Ok(Some(token)) => token,
                Err(_) | Ok(None) if !eof => return Step::NeedMore,
                Err(e) => return Step::Error(e),
                Ok(None) => {
                    if let Some((what, line)) = start.and_then(|(_, l)| blocks.unclosed(l)) {
                        return Step::Error(SplitError::Unterminated { what, line });
                    }
                    if start.is_none() {
                        return Step::End;
                    }
                    let step = statement(&mut self.number, src, start, end);
                    self.pos = self.buf.len();
                    self.state = lexer.state();
                    return step;
                }
            };
            let boundary = match token.kind {
                Kind::DelimiterCommand => true,
                Kind::End => lexer.custom_delimiter() || !blocks.inside(),
                _ => false,
            };
            if boundary {
                if !eof && token.to >= src.len() {
                    return Step::NeedMore;
                }
                let step = statement(&mut self.number, src, start, end);
                self.pos += token.to;
                self.state = lexer.state();
                return step;
            }
            start.get_or_insert((token.from, token.line));
            end = token.to;
            match token.kind {
                Kind::Word => blocks.word(token.text(src).as_bytes()),
                Kind::ExecOpen | Kind::ExecClose => {} // see through `/*!50003 ... */`
                _ => blocks.other(src.as_bytes()[token.from], token.line),
            }
        }
    }
}

/// The statement between `start` and `end` of `src`, numbered next.
fn statement(number: &mut usize, src: &str, start: Option<(usize, usize)>, end: usize) -> Step {
    let Some((from, line)) = start else {
        return Step::Empty;
    };
    *number += 1;
    Step::Statement(Statement {
        number: *number,
        line,
        text: src[from..end].to_string(),
    })
}

enum Step {
    Statement(Statement),
    /// A delimiter with nothing before it: no statement, go on.
    Empty,
    NeedMore,
    End,
    Error(SplitError),
}
