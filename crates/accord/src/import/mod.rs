//! CSV import of suppliers, contracts and spend lines.
//!
//! An import reads the file twice. The check pass streams every row through the row
//! parsers and the cross-row checks (duplicate keys, unknown suppliers, conflicts with what
//! the store already holds) and collects every error. Only when the whole file is clean
//! does the write pass stream it again and append the events. Memory stays bounded by the
//! number of distinct keys, never by the file.
//!
//! Idempotency: every row's command carries the key `import/<kind>/<natural key>`, so a
//! re-import (or a re-run after a crash) writes nothing twice.

mod rows;

use std::{
    collections::{HashMap, hash_map::Entry},
    fmt,
    fs::File,
    io::BufReader,
    path::{Path, PathBuf},
};

use accord_core::{
    Event, Supplier,
    document::{Contract, ContractPrice, ContractTerms, SpendLine},
    id::{ContractId, SpendLineId, SupplierId},
};
use accord_store::{Append, Store};
use anyhow::Context;
use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

pub use rows::{CONTRACT_COLUMNS, FieldError, Header, SPEND_COLUMNS, SUPPLIER_COLUMNS};
use rows::{ContractRow, SpendRow, SupplierRow};

/// Rows per write transaction for spend files.
const WRITE_CHUNK: usize = 10_000;
/// Errors reported in full; past this, only counted.
const MAX_REPORTED: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Suppliers,
    Contracts,
    Spend,
}

impl Kind {
    /// The subcommand's name: `suppliers`, `contracts` or `spend`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Suppliers => "suppliers",
            Kind::Contracts => "contracts",
            Kind::Spend => "spend",
        }
    }
}

/// One bad row: `file:line: column: what is wrong`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportFailure {
    /// The file has bad rows: the first `MAX_REPORTED` of them, and how many in all.
    Rows { errors: Vec<RowError>, total: usize },
    /// Reading the file or talking to the store failed.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for ImportFailure {
    fn from(e: anyhow::Error) -> Self {
        ImportFailure::Other(e)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Collects row errors, keeping the first `MAX_REPORTED`.
struct Errors {
    file: String,
    kept: Vec<RowError>,
    total: usize,
}

impl Errors {
    fn new(path: &Path) -> Self {
        Errors {
            file: path.display().to_string(),
            kept: Vec::new(),
            total: 0,
        }
    }

    fn push(&mut self, line: u64, column: &str, message: impl Into<String>) {
        self.total += 1;
        if self.kept.len() < MAX_REPORTED {
            self.kept.push(RowError {
                file: self.file.clone(),
                line,
                column: column.into(),
                message: message.into(),
            });
        }
    }

    fn extend(&mut self, line: u64, errors: Vec<FieldError>) {
        for e in errors {
            self.push(line, &e.column, e.message);
        }
    }

    fn into_result(self) -> Result<(), ImportFailure> {
        if self.total == 0 {
            Ok(())
        } else {
            Err(ImportFailure::Rows {
                errors: self.kept,
                total: self.total,
            })
        }
    }
}

/// A streaming CSV reader that yields `(line, record)` and drives the progress bar by bytes.
struct Records {
    reader: csv::Reader<BufReader<File>>,
    record: csv::StringRecord,
}

impl Records {
    fn open(path: &Path) -> anyhow::Result<(Records, csv::StringRecord, u64)> {
        let file = File::open(path).with_context(|| format!("cannot open `{}`", path.display()))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::with_capacity(1 << 20, file));
        let mut header = csv::StringRecord::new();
        let has_header = reader
            .read_record(&mut header)
            .with_context(|| format!("{}:1: cannot read the header row", path.display()))?;
        anyhow::ensure!(
            has_header,
            "`{}` is empty: expected a header row",
            path.display()
        );
        Ok((
            Records {
                reader,
                record: csv::StringRecord::new(),
            },
            header,
            len,
        ))
    }

    /// The next record and its line number, or `None` at the end.
    fn next(&mut self, path: &Path) -> anyhow::Result<Option<(u64, &csv::StringRecord)>> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => {
                let line = self.record.position().map_or(0, |p| p.line());
                Ok(Some((line, &self.record)))
            }
            Ok(false) => Ok(None),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                Err(anyhow::anyhow!(
                    "{}:{line}: malformed CSV: {e}",
                    path.display()
                ))
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        self.reader.position().byte()
    }
}

fn parse_header(
    path: &Path,
    header: &csv::StringRecord,
    columns: &rows::Columns,
) -> Result<Header, ImportFailure> {
    Header::parse(header, columns).map_err(|errs| {
        let mut errors = Errors::new(path);
        errors.extend(1, errs);
        errors.into_result().unwrap_err()
    })
}

/// A 128-bit digest of a natural key: collision-safe, and a fixed 16 bytes per key however
/// long the key is.
fn key_digest(key: &str) -> u128 {
    let d = Sha256::digest(key.as_bytes());
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// Remembers the first line of every natural key in a file.
#[derive(Default)]
struct SeenKeys(HashMap<u128, u64>);

impl SeenKeys {
    /// `Err(first_line)` when `key` was already seen.
    fn insert(&mut self, key: &str, line: u64) -> Result<(), u64> {
        match self.0.entry(key_digest(key)) {
            Entry::Occupied(e) => Err(*e.get()),
            Entry::Vacant(v) => {
                v.insert(line);
                Ok(())
            }
        }
    }
}

/// Resolves supplier refs against the store, asking once per distinct ref.
#[derive(Default)]
struct SupplierRefs(HashMap<String, Option<SupplierId>>);

impl SupplierRefs {
    async fn resolve<S: Store>(
        &mut self,
        store: &S,
        supplier_ref: &str,
    ) -> anyhow::Result<Option<SupplierId>> {
        if let Some(found) = self.0.get(supplier_ref) {
            return Ok(*found);
        }
        let found = store.supplier_by_ref(supplier_ref).await?.map(|s| s.id);
        self.0.insert(supplier_ref.to_owned(), found);
        Ok(found)
    }
}

/// Imports `path` as `kind`. With `dry_run`, checks everything and writes nothing.
pub async fn run<S: Store + Clone + 'static>(
    store: &S,
    kind: Kind,
    path: &Path,
    dry_run: bool,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportFailure> {
    match kind {
        Kind::Suppliers => import_suppliers(store, path, dry_run, progress).await,
        Kind::Contracts => import_contracts(store, path, dry_run, progress).await,
        Kind::Spend => import_spend(store, path, dry_run, progress).await,
    }
}

fn idempotency_key(kind: Kind, natural_key: &str) -> String {
    format!("import/{}/{natural_key}", kind.name())
}

// --- suppliers -------------------------------------------------------------------------

/// Suppliers are master data: files are thousands of rows, so the plan is built in memory
/// and written in one transaction.
async fn import_suppliers<S: Store>(
    store: &S,
    path: &Path,
    dry_run: bool,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportFailure> {
    let (mut records, header, len) = Records::open(path)?;
    let header = parse_header(path, &header, &SUPPLIER_COLUMNS)?;
    progress.set_length(len);
    let mut errors = Errors::new(path);
    let mut seen = SeenKeys::default();
    let mut plan: Vec<(u64, SupplierRow)> = Vec::new();
    while let Some((line, record)) = records.next(path)? {
        match rows::supplier_row(&header, record) {
            Ok(row) => match seen.insert(&row.supplier_ref, line) {
                Ok(()) => plan.push((line, row)),
                Err(first) => errors.push(
                    line,
                    "supplier_ref",
                    format!(
                        "duplicate key `{}`, first seen on line {first}",
                        row.supplier_ref
                    ),
                ),
            },
            Err(errs) => errors.extend(line, errs),
        }
        progress.set_position(records.bytes_read());
    }
    errors.into_result()?;

    let mut report = ImportReport::default();
    let mut commands = Vec::new();
    for (_, row) in plan {
        report.rows += 1;
        let existing = store
            .supplier_by_ref(&row.supplier_ref)
            .await
            .map_err(anyhow::Error::from)?;
        let supplier = Supplier {
            id: existing.as_ref().map_or_else(SupplierId::new, |s| s.id),
            external_ref: row.supplier_ref.clone(),
            name: row.name,
            region: row.region,
            size: row.size,
            status: row.status,
            risk: row.risk,
            bank: row
                .iban
                .map(|iban| accord_core::party::BankDetails { iban, bic: row.bic }),
            payment_days: row.payment_days,
        };
        match existing {
            Some(old) if old == supplier => report.unchanged += 1,
            Some(_) => {
                report.updated += 1;
                commands.push(Append::new(Event::SupplierUpdated { supplier }));
            }
            None => {
                report.created += 1;
                let key = idempotency_key(Kind::Suppliers, &row.supplier_ref);
                commands.push(Append::new(Event::SupplierRegistered { supplier }).key(key));
            }
        }
    }
    if !dry_run && !commands.is_empty() {
        store
            .append_batch(commands)
            .await
            .map_err(anyhow::Error::from)?;
    }
    Ok(report)
}

// --- contracts -------------------------------------------------------------------------

/// One contract assembled from its rows.
struct ContractPlan {
    first_line: u64,
    head: ContractRow,
    prices: Vec<ContractPrice>,
}

/// Contracts, like suppliers, are few enough to plan in memory and write in one transaction.
async fn import_contracts<S: Store>(
    store: &S,
    path: &Path,
    dry_run: bool,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportFailure> {
    let (mut records, header, len) = Records::open(path)?;
    let header = parse_header(path, &header, &CONTRACT_COLUMNS)?;
    progress.set_length(len);
    let mut errors = Errors::new(path);
    let mut seen = SeenKeys::default();
    let mut plans: Vec<ContractPlan> = Vec::new();
    let mut by_ref: HashMap<String, usize> = HashMap::new();
    let mut suppliers = SupplierRefs::default();
    while let Some((line, record)) = records.next(path)? {
        let row = match rows::contract_row(&header, record) {
            Ok(row) => row,
            Err(errs) => {
                errors.extend(line, errs);
                continue;
            }
        };
        if suppliers.resolve(store, &row.supplier_ref).await?.is_none() {
            errors.push(
                line,
                "supplier_ref",
                format!(
                    "unknown supplier `{}` (import suppliers first)",
                    row.supplier_ref
                ),
            );
        }
        if let Err(first) = seen.insert(&format!("{}\u{0}{}", row.contract_ref, row.sku), line) {
            errors.push(
                line,
                "sku",
                format!(
                    "duplicate key `{}` / `{}`, first seen on line {first}",
                    row.contract_ref, row.sku
                ),
            );
            continue;
        }
        let price = ContractPrice {
            sku: row.sku.clone(),
            unit_price: row.unit_price,
        };
        match by_ref.get(&row.contract_ref) {
            Some(&i) => {
                let plan = &mut plans[i];
                for (column, differs) in contract_head_differences(&plan.head, &row) {
                    if differs {
                        errors.push(
                            line,
                            column,
                            format!(
                                "differs from line {} of contract `{}`; every row of a contract must agree",
                                plan.first_line, row.contract_ref
                            ),
                        );
                    }
                }
                plan.prices.push(price);
            }
            None => {
                by_ref.insert(row.contract_ref.clone(), plans.len());
                plans.push(ContractPlan {
                    first_line: line,
                    head: row,
                    prices: vec![price],
                });
            }
        }
        progress.set_position(records.bytes_read());
    }
    errors.into_result()?;

    let mut errors = Errors::new(path);
    let mut report = ImportReport::default();
    let mut commands = Vec::new();
    for plan in plans {
        report.rows += plan.prices.len() as u64;
        let supplier = suppliers
            .resolve(store, &plan.head.supplier_ref)
            .await?
            .context("supplier vanished during import")?;
        let head = plan.head;
        let mut contract = Contract {
            id: ContractId::new(),
            external_ref: head.contract_ref.clone(),
            supplier,
            category: head.category,
            currency: head.currency,
            terms: ContractTerms {
                prices: plan.prices,
                payment_days: head.payment_days,
                lead_time_days: head.lead_time_days,
                valid_from: head.valid_from,
                valid_to: head.valid_to,
            },
            state: head.state,
        };
        match store
            .contract_by_ref(&head.contract_ref)
            .await
            .map_err(anyhow::Error::from)?
        {
            Some(old) => {
                contract.id = old.id;
                if old == contract {
                    report.unchanged += 1;
                } else {
                    errors.push(
                        plan.first_line,
                        "contract_ref",
                        format!(
                            "contract `{}` already exists with other terms; contracts are not rewritten by import",
                            head.contract_ref
                        ),
                    );
                }
            }
            None => {
                report.created += 1;
                let key = idempotency_key(Kind::Contracts, &head.contract_ref);
                commands.push(Append::new(Event::ContractRecorded { contract }).key(key));
            }
        }
    }
    errors.into_result()?;
    if !dry_run && !commands.is_empty() {
        store
            .append_batch(commands)
            .await
            .map_err(anyhow::Error::from)?;
    }
    Ok(report)
}

/// Which head columns of `row` disagree with the contract's first row.
fn contract_head_differences(first: &ContractRow, row: &ContractRow) -> [(&'static str, bool); 7] {
    [
        ("supplier_ref", first.supplier_ref != row.supplier_ref),
        ("category", first.category != row.category),
        ("currency", first.currency != row.currency),
        ("payment_days", first.payment_days != row.payment_days),
        ("lead_time_days", first.lead_time_days != row.lead_time_days),
        (
            "valid_from",
            first.valid_from != row.valid_from || first.valid_to != row.valid_to,
        ),
        ("state", first.state != row.state),
    ]
}

// --- spend -----------------------------------------------------------------------------

fn spend_line(row: SpendRow, supplier: SupplierId) -> SpendLine {
    SpendLine {
        id: SpendLineId::new(),
        external_ref: row.line_ref,
        supplier,
        category: row.category,
        sku: row.sku,
        description: row.description,
        quantity: row.quantity,
        amount: row.amount,
        date: row.date,
    }
}

/// Whether an existing line holds the same data as a row (ids aside).
fn same_spend(old: &SpendLine, row: &SpendRow) -> bool {
    old.category == row.category
        && old.sku == row.sku
        && old.description == row.description
        && old.quantity == row.quantity
        && old.amount == row.amount
        && old.date == row.date
}

/// Spend files can hold millions of lines: both passes stream, and the write pass commits
/// in chunks of `WRITE_CHUNK` rows, each row idempotent.
async fn import_spend<S: Store + Clone + 'static>(
    store: &S,
    path: &Path,
    dry_run: bool,
    progress: &ProgressBar,
) -> Result<ImportReport, ImportFailure> {
    // Lines already in the store are looked up one by one; an empty read model (the
    // first, large import) needs no lookups at all.
    let store_has_spend = store
        .counts()
        .await
        .map_err(anyhow::Error::from)?
        .spend_lines
        > 0;
    let (mut records, header, len) = Records::open(path)?;
    let header = parse_header(path, &header, &SPEND_COLUMNS)?;
    progress.set_length(len * 2);
    let mut errors = Errors::new(path);
    let mut seen = SeenKeys::default();
    let mut suppliers = SupplierRefs::default();
    let mut report = ImportReport::default();
    while let Some((line, record)) = records.next(path)? {
        report.rows += 1;
        let row = match rows::spend_row(&header, record) {
            Ok(row) => row,
            Err(errs) => {
                errors.extend(line, errs);
                continue;
            }
        };
        if let Err(first) = seen.insert(&row.line_ref, line) {
            errors.push(
                line,
                "line_ref",
                format!(
                    "duplicate key `{}`, first seen on line {first}",
                    row.line_ref
                ),
            );
        }
        let supplier = suppliers.resolve(store, &row.supplier_ref).await?;
        if supplier.is_none() {
            errors.push(
                line,
                "supplier_ref",
                format!(
                    "unknown supplier `{}` (import suppliers first)",
                    row.supplier_ref
                ),
            );
        }
        if store_has_spend
            && let Some(old) = store
                .spend_by_ref(&row.line_ref)
                .await
                .map_err(anyhow::Error::from)?
        {
            if same_spend(&old, &row) && Some(old.supplier) == supplier {
                report.unchanged += 1;
            } else {
                errors.push(
                    line,
                    "line_ref",
                    format!(
                        "line `{}` already exists with other data; history is not rewritten",
                        row.line_ref
                    ),
                );
            }
        }
        if report.rows % 4096 == 0 {
            progress.set_position(records.bytes_read());
        }
    }
    errors.into_result()?;
    report.created = report.rows - report.unchanged;
    if dry_run {
        return Ok(report);
    }

    let (mut records, _, _) = Records::open(path)?;
    let mut chunk = Vec::with_capacity(WRITE_CHUNK);
    let mut in_flight: Option<InFlight> = None;
    while let Some((_, record)) = records.next(path)? {
        // INVARIANT: the check pass accepted every row and resolved every supplier.
        let row = rows::spend_row(&header, record)
            .map_err(|_| anyhow::anyhow!("file changed during import"))?;
        let supplier = suppliers
            .resolve(store, &row.supplier_ref)
            .await?
            .context("file changed during import")?;
        let key = idempotency_key(Kind::Spend, &row.line_ref);
        chunk.push(
            Append::new(Event::SpendRecorded {
                line: spend_line(row, supplier),
            })
            .key(key),
        );
        if chunk.len() == WRITE_CHUNK {
            // One batch is written while the next is parsed; batches still commit in file
            // order, because the next starts only after the previous has committed.
            let batch = std::mem::take(&mut chunk);
            if let Some(previous) = in_flight.take() {
                finish_batch(previous).await?;
            }
            let writer = store.clone();
            in_flight = Some(tokio::spawn(
                async move { writer.append_batch(batch).await },
            ));
            progress.set_position(len + records.bytes_read());
        }
    }
    if let Some(previous) = in_flight.take() {
        finish_batch(previous).await?;
    }
    if !chunk.is_empty() {
        store
            .append_batch(chunk)
            .await
            .map_err(anyhow::Error::from)?;
    }
    progress.set_position(len * 2);
    Ok(report)
}

type InFlight =
    tokio::task::JoinHandle<Result<Vec<accord_store::Appended>, accord_store::StoreError>>;

async fn finish_batch(batch: InFlight) -> Result<(), ImportFailure> {
    batch
        .await
        .map_err(|e| anyhow::anyhow!("the write task failed: {e}"))?
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Finds `suppliers.csv`, `contracts.csv` and `spend.csv` in a directory, in import order.
pub fn files_in(dir: &Path) -> anyhow::Result<Vec<(Kind, PathBuf)>> {
    let mut found = Vec::new();
    for (kind, name) in [
        (Kind::Suppliers, "suppliers.csv"),
        (Kind::Contracts, "contracts.csv"),
        (Kind::Spend, "spend.csv"),
    ] {
        let path = dir.join(name);
        if path.exists() {
            found.push((kind, path));
        }
    }
    anyhow::ensure!(
        !found.is_empty(),
        "`{}` holds none of suppliers.csv, contracts.csv, spend.csv",
        dir.display()
    );
    Ok(found)
}
