//! Integration tests of `accord-negotiate`, one module per feature in one test binary.

mod conformance;
mod properties;
mod sessions;

/// The shared ANAC Genius domains, outside the repository.
pub const GENIUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/genius");
