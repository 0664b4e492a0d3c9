//! Reading a script file in chunks, so that memory stays bounded whatever its size: complete
//! lines come out as UTF-8 text (BOM dropped), and the checksum of the normalised text is taken
//! on the way. Lines are never cut, so a CRLF or a UTF-8 character never straddles two blocks.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// How much is read at a time; a small script is read whole with one `read`.
/// Under glibc's mmap threshold (128 KiB), so that the buffer of each of
/// thousands of files comes from the heap, not a fresh mapping.
pub(crate) const CHUNK: usize = 64 * 1024;

const BOM: &[u8] = b"\xef\xbb\xbf";

thread_local! {
    /// The read buffer, zeroed once per thread rather than once per file.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Why a file is not a script's text.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    /// Not UTF-8; the offset of the first bad byte in the file.
    NotUtf8(u64),
    /// Contains a NUL byte.
    Binary,
}

/// The file as blocks of complete lines, hashing as it goes.
pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    chunk: usize,
    eof: bool,
    /// Bytes of the file handed out so far.
    offset: u64,
    /// Lines handed out so far.
    lines: usize,
    hasher: Sha256,
}

impl<R: Read> Lines<R> {
    pub fn new(reader: R) -> Self {
        Self::with_chunk(reader, CHUNK)
    }

    /// Reads `chunk` bytes at a time (tests use tiny chunks to cut everywhere).
    pub fn with_chunk(reader: R, chunk: usize) -> Self {
        Lines {
            reader,
            buf: Vec::new(),
            chunk,
            eof: false,
            offset: 0,
            lines: 0,
            hasher: Sha256::new(),
        }
    }

    /// How many lines came before the next block.
    pub fn lines_before(&self) -> usize {
        self.lines
    }

    /// The next run of complete lines (at the end of the file, the last line may lack its
    /// newline); `None` after the end.
    pub fn next_block(&mut self) -> Result<Option<String>, ReadError> {
        let mut searched = 0;
        let cut = loop {
            if let Some(i) = self.buf[searched..].iter().rposition(|&b| b == b'\n') {
                break searched + i + 1;
            }
            searched = self.buf.len();
            if self.eof || self.fill()? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                break self.buf.len();
            }
        };
        let rest = self.buf.split_off(cut);
        let mut block = std::mem::replace(&mut self.buf, rest);
        match std::str::from_utf8(&block) {
            Err(e) => return Err(ReadError::NotUtf8(self.offset + e.valid_up_to() as u64)),
            Ok(text) if text.contains('\0') => return Err(ReadError::Binary),
            Ok(_) => {}
        }
        if self.offset == 0 && block.starts_with(BOM) {
            block.drain(..BOM.len());
            self.offset += BOM.len() as u64;
        }
        self.offset += block.len() as u64;
        self.lines += block.iter().filter(|&&b| b == b'\n').count();
        hash_normalised(&mut self.hasher, &block);
        Ok(Some(String::from_utf8(block).expect("checked above")))
    }

    /// Reads up to one chunk more; 0 at the end of the file. A short read is
    /// taken for the end, as it is on a regular file (a script is one), which
    /// saves a `read` per small file; a file still being written is caught
    /// by the checksum when it runs.
    fn fill(&mut self) -> Result<usize, ReadError> {
        let n = SCRATCH.with_borrow_mut(|scratch| {
            scratch.resize(self.chunk, 0);
            let n = loop {
                match self.reader.read(scratch) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            }
            .map_err(ReadError::Io)?;
            self.buf.extend_from_slice(&scratch[..n]);
            Ok(n)
        })?;
        self.eof |= n < self.chunk;
        Ok(n)
    }

    /// The checksum of everything read (call after the last block).
    pub fn checksum(self) -> String {
        super::checksum::hex(&self.hasher.finalize())
    }
}

/// Feeds the normalised form of complete lines: CRLF becomes LF.
fn hash_normalised(hasher: &mut Sha256, block: &[u8]) {
    let mut rest = block;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        hasher.update(&rest[..i]);
        rest = &rest[i + 1..];
    }
    hasher.update(rest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::checksum::{normalise, sha256_hex};

    fn streamed(bytes: &[u8], chunk: usize) -> (String, String) {
        let mut lines = Lines::with_chunk(bytes, chunk);
        let mut text = String::new();
        while let Some(block) = lines.next_block().unwrap() {
            text.push_str(&block);
        }
        (text, lines.checksum())
    }

    #[test]
    fn streamed_checksum_equals_the_whole_text_checksum_for_every_chunk_size() {
        let inputs = [
            "\u{feff}select 1;\r\nselect 2;\r\n",
            "select 1;\rselect 2;\r",
            "\u{feff}",
            "",
            "a\r\n\r\n\r\r\n\n'é\r\nü';\r",
            "no newline at the end",
            "\u{feff}-- header\r\n-- oneoff:no-transaction\r\nselect 'x\ry';",
        ];
        for input in inputs {
            let whole = sha256_hex(&normalise(input));
            for chunk in [1, 2, 3, 4, 5, 7, 64, CHUNK] {
                let (text, sum) = streamed(input.as_bytes(), chunk);
                assert_eq!(sum, whole, "{input:?} in chunks of {chunk}");
                assert_eq!(text, input.strip_prefix('\u{feff}').unwrap_or(input));
            }
        }
    }

    #[test]
    fn a_bad_byte_is_reported_at_its_offset_in_the_file() {
        let bytes = b"select 1;\nselect '\xff';\n";
        for chunk in [1, 3, CHUNK] {
            let mut lines = Lines::with_chunk(&bytes[..], chunk);
            let err = std::iter::from_fn(|| lines.next_block().transpose())
                .find_map(Result::err)
                .unwrap();
            assert!(matches!(err, ReadError::NotUtf8(18)), "{err:?}");
        }
    }
}
