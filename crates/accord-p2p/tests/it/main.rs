//! Integration tests of accord-p2p, one module per feature (one test binary, one link).

mod conformance;
mod rules;
