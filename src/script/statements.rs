//! A script's statements as they are read: from the text kept in memory, or from the file
//! again, a block of lines at a time, with the checksum of what was read for the caller to
//! compare with the one the plan holds (the file may have changed since).

use std::io::Read;

use super::read::{Lines, ReadError};
use super::split::Splitter;
use super::{psql_meta, read_error, Dialect, Script, Statement};
use crate::error::{Error, Result};

/// The statements of a script, one at a time; see [`Statements::checksum`].
pub struct Statements<'a> {
    script: &'a Script,
    dialect: Dialect,
    lines: Lines<Box<dyn Read + 'a>>,
    splitter: Splitter,
    eof: bool,
    failed: bool,
}

impl<'a> Statements<'a> {
    pub(super) fn new(script: &'a Script, dialect: Dialect) -> Result<Self> {
        let reader: Box<dyn Read + 'a> = match &script.text {
            Some(text) => Box::new(text.as_bytes()),
            None => Box::new(
                std::fs::File::open(&script.path)
                    .map_err(|e| read_error(&script.path, ReadError::Io(e)))?,
            ),
        };
        Ok(Statements {
            script,
            dialect,
            lines: Lines::new(reader),
            splitter: Splitter::new(dialect),
            eof: false,
            failed: false,
        })
    }

    /// The checksum of the text read so far; after the last statement, of
    /// the whole text the statements came from.
    pub fn checksum(self) -> String {
        self.lines.checksum()
    }

    /// Reads the next block into the splitter.
    fn read_block(&mut self) -> Result<()> {
        let path = &self.script.path;
        let first_line = self.lines.lines_before();
        let Some(block) = self.lines.next_block().map_err(|e| read_error(path, e))? else {
            self.eof = true;
            return Ok(());
        };
        match self.dialect {
            Dialect::Postgres => {
                let block = psql_meta::strip(&block)
                    .map_err(|(line, msg)| Error::script(path, Some(first_line + line), msg))?;
                self.splitter.push(&block);
            }
            _ => self.splitter.push(&block),
        }
        Ok(())
    }
}

impl Iterator for Statements<'_> {
    type Item = Result<Statement>;

    fn next(&mut self) -> Option<Result<Statement>> {
        while !self.failed {
            let step = match self.splitter.next_statement(self.eof) {
                Ok(Some(statement)) => return Some(Ok(statement)),
                Ok(None) if self.eof => return None,
                Ok(None) => self.read_block(),
                Err(e) => Err(Error::script(
                    &self.script.path,
                    Some(e.line()),
                    e.to_string(),
                )),
            };
            if let Err(e) = step {
                self.failed = true;
                return Some(Err(e));
            }
        }
        None
    }
}
