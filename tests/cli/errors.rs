//! Placeholder; filled in by the tests of `oneoff errors`.
