//! Writers for the importer's CSV formats (`docs/import.md`): `suppliers.csv`,
//! `contracts.csv` and `spend.csv`. They write into any `Write`; [`write_dir`] is the one
//! place in the crate that touches the file system.

use std::io::Write;
use std::path::Path;

use accord_core::Money;

use crate::SimError;
use crate::enterprise::Enterprise;

/// Column order of `suppliers.csv`.
pub const SUPPLIER_COLUMNS: [&str; 9] = [
    "supplier_ref",
    "name",
    "region",
    "size_class",
    "status",
    "risk_tier",
    "payment_days",
    "iban",
    "bic",
];

/// Column order of `contracts.csv`.
pub const CONTRACT_COLUMNS: [&str; 11] = [
    "contract_ref",
    "supplier_ref",
    "category",
    "currency",
    "sku",
    "unit_price",
    "payment_days",
    "lead_time_days",
    "valid_from",
    "valid_to",
    "state",
];

/// Column order of `spend.csv`.
pub const SPEND_COLUMNS: [&str; 9] = [
    "line_ref",
    "supplier_ref",
    "date",
    "category",
    "sku",
    "description",
    "quantity",
    "amount",
    "currency",
];

/// An amount in major units with exactly the currency's minor digits (`12.50`).
fn amount(m: Money) -> String {
    m.to_decimal().to_string()
}

/// Writes `suppliers.csv`.
pub fn write_suppliers(enterprise: &Enterprise, out: &mut impl Write) -> Result<(), SimError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(SUPPLIER_COLUMNS)?;
    for s in &enterprise.suppliers {
        let p = &s.supplier;
        let (iban, bic) = p.bank.as_ref().map_or(("", ""), |b| {
            (b.iban.as_str(), b.bic.as_deref().unwrap_or(""))
        });
        let days = p.payment_days.map(|d| d.to_string()).unwrap_or_default();
        w.write_record([
            p.external_ref.as_str(),
            p.name.as_str(),
            p.region.as_str(),
            p.size.as_str(),
            p.status.as_str(),
            p.risk.as_str(),
            days.as_str(),
            iban,
            bic,
        ])?;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Writes `contracts.csv`: one row per priced SKU.
pub fn write_contracts(enterprise: &Enterprise, out: &mut impl Write) -> Result<(), SimError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CONTRACT_COLUMNS)?;
    for c in &enterprise.contracts {
        let supplier = &enterprise.suppliers[c.supplier].supplier;
        let k = &c.contract;
        let (payment, lead) = (
            k.terms.payment_days.to_string(),
            k.terms.lead_time_days.to_string(),
        );
        let (from, to) = (k.terms.valid_from.to_string(), k.terms.valid_to.to_string());
        let state = format!("{:?}", k.state).to_ascii_lowercase();
        for p in &k.terms.prices {
            w.write_record([
                k.external_ref.as_str(),
                supplier.external_ref.as_str(),
                k.category.as_str(),
                k.currency.code(),
                p.sku.as_str(),
                amount(p.unit_price).as_str(),
                payment.as_str(),
                lead.as_str(),
                from.as_str(),
                to.as_str(),
                state.as_str(),
            ])?;
        }
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Writes `spend.csv`.
pub fn write_spend(enterprise: &Enterprise, out: &mut impl Write) -> Result<(), SimError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(SPEND_COLUMNS)?;
    let mut date = String::new();
    for l in &enterprise.spend {
        let supplier = &enterprise.suppliers[l.supplier].supplier;
        let s = &l.line;
        date.clear();
        use std::fmt::Write as _;
        let _ = write!(date, "{}", s.date);
        w.write_record([
            s.external_ref.as_str(),
            supplier.external_ref.as_str(),
            date.as_str(),
            s.category.as_str(),
            s.sku.as_deref().unwrap_or(""),
            s.description.as_str(),
            s.quantity.to_string().as_str(),
            amount(s.amount).as_str(),
            s.amount.currency.code(),
        ])?;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

/// Writes `suppliers.csv`, `contracts.csv` and `spend.csv` into `dir` (created if
/// missing), ready for `accord quickstart DIR` or `accord import`.
pub fn write_dir(enterprise: &Enterprise, dir: &Path) -> Result<(), SimError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SimError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    type Writer = fn(&Enterprise, &mut std::io::BufWriter<std::fs::File>) -> Result<(), SimError>;
    let files: [(&str, Writer); 3] = [
        ("suppliers.csv", |e, w| write_suppliers(e, w)),
        ("contracts.csv", |e, w| write_contracts(e, w)),
        ("spend.csv", |e, w| write_spend(e, w)),
    ];
    for (name, write) in files {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        let mut out = std::io::BufWriter::new(file);
        write(enterprise, &mut out)?;
        out.flush().map_err(io(&path))?;
    }
    Ok(())
}
