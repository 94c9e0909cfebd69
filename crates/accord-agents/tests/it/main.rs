//! Integration tests of the runtime over a real store, on SQLite and (with
//! `ACCORD_TEST_DATABASE_URL`) PostgreSQL.

// The same fresh-store harness as the governance suite.
#[path = "../../../accord-policy/tests/it/support.rs"]
#[allow(dead_code)] // Not every helper of the shared harness is used here.
mod support;

mod p2p;
