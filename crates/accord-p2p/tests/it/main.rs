//! Integration tests of accord-p2p, one module per feature (one test binary, one link).

mod compliance;
mod conformance;
mod duplicates;
mod generated;
mod matching;
mod rules;
