//! The results of a script's statements, in order, in memory bounded by a
//! constant: the first [`HELD`] are kept, the rest go to an unnamed
//! temporary file as they come (one JSON line each) and are read back when
//! the report is rendered. A dump of millions of statements then costs a
//! run no more memory than a script of a thousand (issue 8).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use serde::ser::SerializeSeq;

use super::outcome::StatementResult;

/// Results kept in memory before the rest are spooled.
const HELD: usize = 1_000;
/// Spooled lines are written in blocks of about this size.
const BLOCK: usize = 64 * 1024;

/// Per statement, up to the one that failed.
#[derive(Debug, Clone, Default)]
pub struct StatementResults {
    head: Vec<StatementResult>,
    /// Boxed: a failure carries these results, and most scripts never spool.
    spool: Option<Box<Spool>>,
    len: usize,
    rows: i64,
}

/// Results past [`HELD`]: written to `file` up to `written`, then `pending`.
/// Clones share the file; only the value that wrote it adds to it.
#[derive(Debug, Clone)]
struct Spool {
    file: Arc<File>,
    written: u64,
    pending: Vec<u8>,
    /// The last result spooled.
    last: Option<StatementResult>,
}

impl StatementResults {
    /// Adds the result of the next statement.
    pub fn push(&mut self, result: StatementResult) {
        self.len += 1;
        self.rows += result.rows_affected;
        if self.spool.is_none() && self.head.len() < HELD {
            self.head.push(result);
            return;
        }
        if self.spool.is_none() {
            match tempfile::tempfile() {
                Ok(file) => {
                    self.spool = Some(Box::new(Spool {
                        file: Arc::new(file),
                        written: 0,
                        pending: Vec::new(),
                        last: None,
                    }))
                }
                Err(e) => {
                    tracing::debug!("statement results stay in memory: no temporary file ({e})");
                    self.head.push(result);
                    return;
                }
            }
        }
        let spool = self.spool.as_mut().expect("made above");
        serde_json::to_writer(&mut spool.pending, &result).expect("a result serialises");
        spool.pending.push(b'\n');
        if spool.pending.len() >= BLOCK {
            match spool.file.write_all_at(&spool.pending, spool.written) {
                Ok(()) => {
                    spool.written += spool.pending.len() as u64;
                    spool.pending.clear();
                }
                // Kept in memory instead; tried again with the next block.
                Err(e) => tracing::debug!("cannot spool statement results: {e}"),
            }
        }
        spool.last = Some(result);
    }

    /// How many statements ran.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none did.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows they changed, together.
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// The first one.
    pub fn first(&self) -> Option<&StatementResult> {
        self.head.first()
    }

    /// The last one.
    pub fn last(&self) -> Option<&StatementResult> {
        match &self.spool {
            Some(spool) => spool.last.as_ref(),
            None => self.head.last(),
        }
    }

    /// Every result, in order (the spooled ones read back).
    pub fn iter(&self) -> impl Iterator<Item = StatementResult> + '_ {
        let spooled = self.spool.iter().flat_map(|spool| {
            let file = BufReader::with_capacity(
                BLOCK,
                At {
                    file: &spool.file,
                    offset: 0,
                    end: spool.written,
                },
            );
            file.split(b'\n')
                .chain(spool.pending.split(|b| *b == b'\n').map(|l| Ok(l.to_vec())))
                .map_while(|line| {
                    let line = line
                        .inspect_err(|e| tracing::warn!("cannot read statement results back: {e}"))
                        .ok()?;
                    Some(line)
                })
                .filter(|line| !line.is_empty())
                .filter_map(|line| serde_json::from_slice(&line).ok())
        });
        self.head.iter().cloned().chain(spooled)
    }
}

impl From<Vec<StatementResult>> for StatementResults {
    fn from(results: Vec<StatementResult>) -> Self {
        let mut all = StatementResults::default();
        results.into_iter().for_each(|r| all.push(r));
        all
    }
}

impl PartialEq for StatementResults {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl serde::Serialize for StatementResults {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len))?;
        for result in self.iter() {
            seq.serialize_element(&result)?;
        }
        seq.end()
    }
}

/// Reads a file from an offset up to `end`, without moving a shared cursor.
struct At<'a> {
    file: &'a File,
    offset: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.end.saturating_sub(self.offset) as usize;
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(n: usize) -> StatementResult {
        StatementResult {
            number: n,
            line: n * 2,
            rows_affected: (n % 3) as i64,
            notices: if n.is_multiple_of(500) {
                vec![format!("notice {n}\nwith a second line")]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn results_past_the_held_ones_come_back_in_order_from_the_spool() {
        let all: Vec<StatementResult> = (1..=HELD * 3 + 17).map(result).collect();
        let results = StatementResults::from(all.clone());
        assert!(results.spool.is_some(), "spooled");
        assert_eq!(results.head.len(), HELD, "only the first are in memory");
        assert_eq!(results.len(), all.len());
        assert_eq!(results.iter().collect::<Vec<_>>(), all);
        assert_eq!(results.first(), all.first());
        assert_eq!(results.last(), all.last());
        assert_eq!(
            results.rows(),
            all.iter().map(|r| r.rows_affected).sum::<i64>()
        );
        assert_eq!(
            serde_json::to_string(&results).unwrap(),
            serde_json::to_string(&all).unwrap(),
            "the JSON is that of the whole list"
        );
    }

    #[test]
    fn a_few_results_stay_in_memory() {
        let all: Vec<StatementResult> = (1..=3).map(result).collect();
        let results = StatementResults::from(all.clone());
        assert!(results.spool.is_none());
        assert_eq!(results.iter().collect::<Vec<_>>(), all);
        assert_eq!(results.last(), all.last());
        assert!(StatementResults::default().last().is_none());
    }

    #[test]
    fn a_clone_reads_what_was_written_before_it() {
        let mut results = StatementResults::from((1..=HELD + 5).map(result).collect::<Vec<_>>());
        let clone = results.clone();
        results.push(result(99_999));
        assert_eq!(clone.iter().count(), HELD + 5);
        assert_eq!(results.iter().count(), HELD + 6);
    }
}
