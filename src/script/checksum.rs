//! The script checksum: SHA-256, lowercase hex, of the text with a UTF-8 BOM
//! removed and CRLF turned into LF, so that a file differing only in line
//! endings or BOM keeps its checksum.

use sha2::{Digest, Sha256};

/// The UTF-8 byte order mark.
const BOM: char = '\u{feff}';

/// The normalised text the checksum is taken of (and the statements are split from).
pub fn normalise(text: &str) -> String {
    text.strip_prefix(BOM).unwrap_or(text).replace("\r\n", "\n")
}

/// SHA-256 of already normalised text, as 64 lowercase hex digits.
#[allow(
    dead_code,
    reason = "internal API the unit tests (and the next commands) use; the library exports only a few types"
)]
pub fn sha256_hex(normalised: &str) -> String {
    hex(&Sha256::digest(normalised.as_bytes()))
}

/// Lowercase hex, by table: `format!("{:02x}")` per byte cost a no-op run
/// over 10,000 scripts 6% of its time.
pub fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for b in digest {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum(text: &str) -> String {
        sha256_hex(&normalise(text))
    }

    #[test]
    fn checksum_is_sha256_of_the_text() {
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn crlf_and_lf_files_have_the_same_checksum() {
        assert_eq!(
            checksum("select 1;\r\nselect 2;\r\n"),
            checksum("select 1;\nselect 2;\n")
        );
    }

    #[test]
    fn a_bom_does_not_change_the_checksum() {
        assert_eq!(checksum("\u{feff}select 1;\n"), checksum("select 1;\n"));
        assert_eq!(checksum("\u{feff}select 1;\r\n"), checksum("select 1;\n"));
    }

    #[test]
    fn a_lone_cr_or_a_content_change_does_change_the_checksum() {
        assert_ne!(
            checksum("select 1;\rselect 2;"),
            checksum("select 1;\nselect 2;")
        );
        assert_ne!(checksum("select 1;\n"), checksum("select 2;\n"));
        assert_ne!(checksum("select 1;\n"), checksum("select 1;\n\n"));
    }
}
