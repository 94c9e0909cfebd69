//! The store's one integration-test crate. Every test runs against SQLite and, when
//! `ACCORD_TEST_DATABASE_URL` is set, PostgreSQL (each test in a fresh schema).

mod audit;
mod log;
mod nodes;
mod projections;
mod queue;
mod support;
mod tls;
