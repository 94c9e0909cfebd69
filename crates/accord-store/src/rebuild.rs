//! Checks the read models against the log: every event is replayed, in order, into a
//! scratch SQLite store, and each read-model row the replay produced is compared with the
//! live store's row of the same key (and each live row with no counterpart reported).
//! The read models are derived data and not chained, so this is how an auditor checks
//! them (`accord audit projections`, docs/audit.md).
//!
//! Rows are read a page at a time from both stores in the same key order (byte order of
//! the key's text: `COLLATE "C"` on PostgreSQL, SQLite's default), so memory stays
//! bounded whatever the log's length. Every column is compared as text, except the JSON
//! `data` columns, which are compared as JSON values: PostgreSQL rewrites a document's
//! JSON when it updates its state, with the same content in another layout.

use std::cmp::Ordering;
use std::path::Path;

use crate::error::{Result, StoreError};
use crate::model::{Append, Durability};
use crate::sqlite::{SqliteOptions, SqliteStore};
use crate::store::{AnyStore, Store};

/// Events replayed per scratch transaction, and rows compared per page.
const PAGE: u32 = 2_000;

/// Differences listed per table at most (all are counted).
const LISTED: usize = 5;

/// A read-model table: its name, its key columns and its other columns.
struct Table {
    name: &'static str,
    key: &'static [&'static str],
    columns: &'static [&'static str],
}

const TABLES: &[Table] = &[
    Table {
        name: "suppliers",
        key: &["id"],
        columns: &[
            "external_ref",
            "name",
            "region",
            "size",
            "status",
            "risk",
            "payment_days",
            "data",
            "last_seq",
        ],
    },
    Table {
        name: "contracts",
        key: &["id"],
        columns: &[
            "external_ref",
            "supplier",
            "category",
            "currency",
            "state",
            "valid_from",
            "valid_to",
            "data",
            "last_seq",
        ],
    },
    Table {
        name: "spend",
        key: &["id"],
        columns: &[
            "external_ref",
            "supplier",
            "category",
            "sku",
            "description",
            "quantity",
            "currency",
            "amount_minor",
            "date",
            "last_seq",
        ],
    },
    Table {
        name: "documents",
        key: &["kind", "id"],
        columns: &["parent", "reference", "state", "data", "last_seq"],
    },
    Table {
        name: "tallies",
        key: &["scope", "currency"],
        columns: &[
            "invoices",
            "lines",
            "compliant_lines",
            "terms_checked",
            "compliant_terms",
            "savings_lines",
            "negotiated_micros",
            "realised_micros",
            "last_seq",
        ],
    },
];

/// One row: its key's values and its other columns', as text (`None` for NULL).
#[derive(Clone, PartialEq, Eq, Debug)]
struct Row {
    key: Vec<String>,
    values: Vec<Option<String>>,
}

/// One row that differs between the live store and the replay.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct Difference {
    /// The row's key, its columns joined with `/` (`invoice/019a…` for a document).
    pub key: String,
    /// The first column that differs, or `(row)` when one side has no such row.
    pub column: String,
    pub live: Option<String>,
    pub rebuilt: Option<String>,
}

/// What the check found in one table.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct TableReport {
    pub table: &'static str,
    /// Rows in the live store.
    pub live_rows: u64,
    /// Rows the replay produced.
    pub rebuilt_rows: u64,
    /// Rows that differ, are missing or are extra.
    pub differences: u64,
    /// The first few of them, in key order.
    pub first: Vec<Difference>,
}

/// What the check found.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct ReadModelReport {
    /// Events replayed.
    pub events: u64,
    pub tables: Vec<TableReport>,
}

impl ReadModelReport {
    /// Whether every row matched.
    pub fn is_ok(&self) -> bool {
        self.tables.iter().all(|t| t.differences == 0)
    }
}

/// Replays `live`'s log into a new SQLite file in the directory `scratch` (left there;
/// the caller removes the directory) and compares the read models. `progress` is told the
/// number of events replayed after each page.
pub async fn check_read_models(
    live: &AnyStore,
    scratch: &Path,
    mut progress: impl FnMut(u64),
) -> Result<ReadModelReport> {
    std::fs::create_dir_all(scratch)?;
    // A new file for every check: a store dropped a moment ago may still be closing its
    // own, and a SQLite file must never be deleted under an open connection.
    static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let path = scratch.join(format!(
        "rebuilt-{}-{}.db",
        std::process::id(),
        CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    if path.exists() {
        return Err(StoreError::Invalid(format!(
            "`{}` already exists: give the check an empty scratch directory",
            path.display()
        )));
    }
    let started = std::time::Instant::now();
    // A throwaway file: nothing in it needs to survive a power cut.
    let options = SqliteOptions {
        durability: Durability::Normal,
        ..SqliteOptions::default()
    };
    let rebuilt = AnyStore::Sqlite(SqliteStore::open(&path, options).await?);
    let mut after = 0;
    let mut events = 0;
    // The next page is read while the scratch store appends this one.
    let mut page = read_log(live, after).await?;
    while let Some(&(last, _)) = page.last() {
        after = last;
        events += page.len() as u64;
        // One command per event, so that each keeps the seq it has in the live log.
        let commands = page.into_iter().map(|(_, e)| Append::new(e)).collect();
        let (appended, next) =
            futures_util::future::join(rebuilt.append_batch(commands), read_log(live, after)).await;
        let reached = appended?.last().map_or(0, |a| a.last_seq);
        if reached != after {
            return Err(StoreError::Invalid(format!(
                "the replay reached seq {reached} where the log is at {after}: the log has gaps"
            )));
        }
        page = next?;
        progress(events);
    }
    tracing::debug!(
        events,
        secs = started.elapsed().as_secs_f64(),
        "read models: log replayed"
    );
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let started = std::time::Instant::now();
        tables.push(compare(table, live, &rebuilt).await?);
        tracing::debug!(
            table = table.name,
            secs = started.elapsed().as_secs_f64(),
            "read models: compared"
        );
    }
    Ok(ReadModelReport { events, tables })
}

/// Up to [`PAGE`] events after `after`, decoded, with their seqs, read as one JSON array
/// per page, as [`read_page`] reads rows and for the same reason.
async fn read_log(store: &AnyStore, after: u64) -> Result<Vec<(u64, accord_core::Event)>> {
    let page = format!(
        "SELECT seq, schema_version, payload FROM events WHERE seq > {after} \
         ORDER BY seq LIMIT {PAGE}"
    );
    let sql = as_one_array(store, &page, &["seq", "v", "payload"], "seq");
    let rows: Vec<(u64, u16, String)> = fetch_array(store, &sql, &[], "the log").await?;
    rows.into_iter()
        .map(|(seq, version, payload)| {
            accord_core::Event::from_stored(version, &payload)
                .map(|e| (seq, e))
                .map_err(|source| StoreError::Decode { seq, source })
        })
        .collect()
}

/// `page`, a query of the columns `names`, wrapped so that the database returns its
/// rows, ordered by `order`, as one JSON array of arrays: `json_agg` on PostgreSQL,
/// `json_group_array` on SQLite (whose aggregate `ORDER BY` needs SQLite 3.44).
fn as_one_array(store: &AnyStore, page: &str, names: &[&str], order: &str) -> String {
    let names = names.join(", ");
    match store {
        AnyStore::Pg(_) => format!(
            "SELECT CAST(json_agg(json_build_array({names}) ORDER BY {order}) AS TEXT) \
             FROM ({page}) AS p({names})"
        ),
        AnyStore::Sqlite(_) => format!(
            "WITH p({names}) AS ({page}) \
             SELECT json_group_array(json_array({names}) ORDER BY {order}) FROM p"
        ),
    }
}

/// Runs `sql` (from [`as_one_array`]) with `binds` and decodes its array; an empty page
/// is an empty array (PostgreSQL's `json_agg` of no rows is NULL). `what` names the
/// page in errors.
async fn fetch_array<T: serde::de::DeserializeOwned>(
    store: &AnyStore,
    sql: &str,
    binds: &[String],
    what: &str,
) -> Result<Vec<T>> {
    let json: Option<String> = match store {
        AnyStore::Sqlite(s) => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(b);
            }
            q.fetch_one(s.pool()).await?
        }
        AnyStore::Pg(s) => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for b in binds {
                q = q.bind(b);
            }
            q.fetch_one(s.pool()).await?
        }
    };
    match json {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Invalid(format!("a page of {what} did not read: {e}"))),
    }
}

/// Walks both stores' rows of `table` in key order, side by side.
async fn compare(
    table: &'static Table,
    live: &AnyStore,
    rebuilt: &AnyStore,
) -> Result<TableReport> {
    let mut report = TableReport {
        table: table.name,
        live_rows: 0,
        rebuilt_rows: 0,
        differences: 0,
        first: Vec::new(),
    };
    let mut a = Pages::new(table, live);
    let mut b = Pages::new(table, rebuilt);
    loop {
        futures_util::future::try_join(a.fill(), b.fill()).await?;
        let order = match (a.page.front(), b.page.front()) {
            (None, None) => return Ok(report),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.key.cmp(&y.key),
        };
        // Both fronts the order looked at are there to take.
        let (x, y) = match order {
            Ordering::Less => (a.page.pop_front(), None),
            Ordering::Greater => (None, b.page.pop_front()),
            Ordering::Equal => (a.page.pop_front(), b.page.pop_front()),
        };
        report.live_rows += u64::from(x.is_some());
        report.rebuilt_rows += u64::from(y.is_some());
        let found = match (x, y) {
            (Some(x), Some(y)) => differs(table, &x, &y),
            (Some(x), None) => Some(missing(&x, true)),
            (None, Some(y)) => Some(missing(&y, false)),
            (None, None) => None,
        };
        if let Some(d) = found {
            report.differences += 1;
            if report.first.len() < LISTED {
                report.first.push(d);
            }
        }
    }
}

fn missing(row: &Row, live_only: bool) -> Difference {
    let text = Some(format!("{:?}", row.values));
    Difference {
        key: row.key.join("/"),
        column: "(row)".into(),
        live: if live_only { text.clone() } else { None },
        rebuilt: if live_only { None } else { text },
    }
}

/// The first column in which two rows of the same key differ.
fn differs(table: &Table, live: &Row, rebuilt: &Row) -> Option<Difference> {
    table
        .columns
        .iter()
        .zip(live.values.iter().zip(&rebuilt.values))
        .find(|(column, (l, r))| !same(column, l.as_deref(), r.as_deref()))
        .map(|(column, (l, r))| Difference {
            key: live.key.join("/"),
            column: (*column).to_owned(),
            live: l.clone(),
            rebuilt: r.clone(),
        })
}

fn same(column: &str, live: Option<&str>, rebuilt: Option<&str>) -> bool {
    match (live, rebuilt) {
        (Some(l), Some(r)) if column == "data" && l != r => {
            let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
            parse(l).is_some_and(|l| Some(l) == parse(r))
        }
        (l, r) => l == r,
    }
}

/// A table's rows from one store, a page at a time, in key order.
struct Pages<'a> {
    table: &'static Table,
    store: &'a AnyStore,
    page: std::collections::VecDeque<Row>,
    after: Option<Vec<String>>,
    done: bool,
}

impl<'a> Pages<'a> {
    fn new(table: &'static Table, store: &'a AnyStore) -> Pages<'a> {
        Pages {
            table,
            store,
            page: Default::default(),
            after: None,
            done: false,
        }
    }

    /// Reads the next page if this one is used up (and there is more).
    async fn fill(&mut self) -> Result<()> {
        if self.page.is_empty() && !self.done {
            let rows = read_page(self.store, self.table, self.after.as_deref()).await?;
            self.done = rows.len() < PAGE as usize;
            self.after = rows.last().map(|r| r.key.clone());
            self.page.extend(rows);
        }
        Ok(())
    }
}

/// Up to [`PAGE`] rows of `table` with keys after `after`, in byte order of the key.
/// The database sends the page as one JSON array of rows ([`as_one_array`]): one value to
/// decode instead of thousands of rows, each of which costs sqlx's SQLite driver a
/// hand-off between threads.
async fn read_page(store: &AnyStore, table: &Table, after: Option<&[String]>) -> Result<Vec<Row>> {
    let pg = matches!(store, AnyStore::Pg(_));
    let collate = if pg { " COLLATE \"C\"" } else { "" };
    let placeholder = |i: usize| if pg { format!("${i}") } else { format!("?{i}") };
    let columns: Vec<String> = table
        .key
        .iter()
        .chain(table.columns)
        .map(|c| format!("CAST({c} AS TEXT)"))
        .collect();
    // (k1 > a1) OR (k1 = a1 AND k2 > a2): keyset paging that agrees with the ORDER BY.
    let filter = match after {
        None => String::new(),
        Some(_) => {
            let mut alternatives = Vec::new();
            for i in 0..table.key.len() {
                let mut terms: Vec<String> = (0..i)
                    .map(|j| format!("{} = {}", table.key[j], placeholder(j + 1)))
                    .collect();
                terms.push(format!(
                    "{}{collate} > {}",
                    table.key[i],
                    placeholder(i + 1)
                ));
                alternatives.push(format!("({})", terms.join(" AND ")));
            }
            format!("WHERE {}", alternatives.join(" OR "))
        }
    };
    let order: Vec<String> = table.key.iter().map(|k| format!("{k}{collate}")).collect();
    let order = order.join(", ");
    let page = format!(
        "SELECT {} FROM {} {filter} ORDER BY {order} LIMIT {PAGE}",
        columns.join(", "),
        table.name,
    );
    let names: Vec<String> = (0..columns.len()).map(|i| format!("c{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let key_order: Vec<String> = (0..table.key.len())
        .map(|i| format!("c{i}{collate}"))
        .collect();
    let sql = as_one_array(store, &page, &names, &key_order.join(", "));
    let what = format!("`{}`", table.name);
    let rows: Vec<Vec<Option<String>>> =
        fetch_array(store, &sql, after.unwrap_or_default(), &what).await?;
    let width = table.key.len();
    Ok(rows
        .into_iter()
        .map(|mut values| {
            let rest = values.split_off(width.min(values.len()));
            Row {
                key: values.into_iter().map(Option::unwrap_or_default).collect(),
                values: rest,
            }
        })
        .collect())
}
