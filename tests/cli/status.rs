//! Placeholder; filled in by the tests of `oneoff status`.
