//! Work-queue helpers shared by the backends: times are stored as unix microseconds so
//! both databases compare them the same way.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or_default()
}

pub(crate) fn lease_end(now: DateTime<Utc>, lease: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::days(365))
}
