//! Row-level parsing and validation of ERP CSV exports: suppliers, contracts and spend.
//!
//! Each parser turns one CSV record into a typed row or a list of field errors that name
//! the column. Nothing here touches the store; `import::run` decides what to write.

use std::collections::HashMap;

use accord_core::{
    CategoryCode, Currency, Money, RegionCode, RiskTier, SizeClass, SupplierStatus,
    lifecycle::ContractState,
};
use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;

/// One field-level problem in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub column: String,
    pub message: String,
}

impl FieldError {
    fn new(column: &str, message: impl Into<String>) -> FieldError {
        FieldError {
            column: column.into(),
            message: message.into(),
        }
    }
}

/// The columns of a file kind: required ones must be in the header, optional ones may be.
pub struct Columns {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

pub const SUPPLIER_COLUMNS: Columns = Columns {
    required: &["supplier_ref", "name", "region", "size_class"],
    optional: &["status", "risk_tier", "payment_days", "iban", "bic"],
};

pub const CONTRACT_COLUMNS: Columns = Columns {
    required: &[
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
    ],
    optional: &["state"],
};

pub const SPEND_COLUMNS: Columns = Columns {
    required: &[
        "line_ref",
        "supplier_ref",
        "date",
        "category",
        "description",
        "quantity",
        "amount",
        "currency",
    ],
    optional: &["sku"],
};

/// Maps column names to positions, checked once against the header row.
pub struct Header {
    index: HashMap<String, usize>,
}

impl Header {
    /// Checks the header: every required column present, no unknown or repeated column.
    pub fn parse(record: &StringRecord, columns: &Columns) -> Result<Header, Vec<FieldError>> {
        let mut index = HashMap::new();
        let mut errors = Vec::new();
        for (i, raw) in record.iter().enumerate() {
            let name = raw
                .trim()
                .trim_start_matches('\u{feff}')
                .to_ascii_lowercase();
            if !columns.required.contains(&name.as_str())
                && !columns.optional.contains(&name.as_str())
            {
                let mut known: Vec<&str> = columns.required.to_vec();
                known.extend(columns.optional);
                errors.push(FieldError::new(
                    &name,
                    format!("unknown column; expected some of {}", known.join(", ")),
                ));
            } else if index.insert(name.clone(), i).is_some() {
                errors.push(FieldError::new(&name, "column appears twice in the header"));
            }
        }
        for required in columns.required {
            if !index.contains_key(*required) {
                errors.push(FieldError::new(
                    required,
                    "required column is missing from the header",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Header { index })
        } else {
            Err(errors)
        }
    }
}

/// Reads typed fields out of one record, collecting every error instead of stopping at
/// the first, so that a user fixes a row in one go.
struct Fields<'a> {
    header: &'a Header,
    record: &'a StringRecord,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    fn new(header: &'a Header, record: &'a StringRecord) -> Self {
        Fields {
            header,
            record,
            errors: Vec::new(),
        }
    }

    /// The trimmed text of a column, or `None` when the column is absent or empty.
    fn opt(&self, column: &str) -> Option<&'a str> {
        let i = *self.header.index.get(column)?;
        let v = self.record.get(i)?.trim();
        (!v.is_empty()).then_some(v)
    }

    fn text(&mut self, column: &str) -> String {
        match self.opt(column) {
            Some(v) => v.to_owned(),
            None => {
                self.errors.push(FieldError::new(column, "is empty"));
                String::new()
            }
        }
    }

    fn parsed<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(raw) = self.opt(column) else {
            self.errors.push(FieldError::new(column, "is empty"));
            return None;
        };
        self.parse_value(column, raw, parse)
    }

    fn parsed_opt<T>(
        &mut self,
        column: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.opt(column)?;
        self.parse_value(column, raw, parse)
    }

    fn parse_value<T>(
        &mut self,
        column: &str,
        raw: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.errors.push(FieldError::new(column, message));
                None
            }
        }
    }

    fn finish<T>(self, row: Option<T>) -> Result<T, Vec<FieldError>> {
        match row {
            Some(row) if self.errors.is_empty() => Ok(row),
            _ => Err(self.errors),
        }
    }
}

fn parse_currency(s: &str) -> Result<Currency, String> {
    Currency::parse(s).map_err(|e| e.to_string())
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| format!("malformed date `{s}`: expected YYYY-MM-DD"))
}

fn parse_days(s: &str) -> Result<u32, String> {
    match s.parse::<i64>() {
        Ok(d) if (0..=3650).contains(&d) => Ok(d as u32),
        Ok(d) => Err(format!("`{d}` days is out of range 0..=3650")),
        Err(_) => Err(format!("malformed number of days `{s}`")),
    }
}

fn parse_positive_quantity(s: &str) -> Result<Decimal, String> {
    let q: Decimal = s.parse().map_err(|_| format!("malformed quantity `{s}`"))?;
    if q <= Decimal::ZERO {
        return Err(format!("quantity `{s}` must be positive"));
    }
    Ok(q)
}

fn parse_ref(s: &str) -> Result<String, String> {
    if s.len() > 128 {
        Err("is longer than 128 characters".into())
    } else {
        Ok(s.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplierRow {
    pub supplier_ref: String,
    pub name: String,
    pub region: RegionCode,
    pub size: SizeClass,
    pub status: SupplierStatus,
    pub risk: RiskTier,
    pub payment_days: Option<u32>,
    pub iban: Option<String>,
    pub bic: Option<String>,
}

pub fn supplier_row(
    header: &Header,
    record: &StringRecord,
) -> Result<SupplierRow, Vec<FieldError>> {
    let mut f = Fields::new(header, record);
    let supplier_ref = f.parsed("supplier_ref", parse_ref);
    let name = f.text("name");
    let region = f.parsed("region", RegionCode::parse);
    let size = f.parsed("size_class", SizeClass::parse);
    let status = f
        .parsed_opt("status", SupplierStatus::parse)
        .unwrap_or(SupplierStatus::Active);
    let risk = f
        .parsed_opt("risk_tier", RiskTier::parse)
        .unwrap_or(RiskTier::Low);
    let payment_days = f.parsed_opt("payment_days", parse_days);
    let iban = f.parsed_opt("iban", |s| {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let ok = (15..=34).contains(&compact.len())
            && compact[..2].bytes().all(|b| b.is_ascii_uppercase())
            && compact.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(compact)
        } else {
            Err(format!("malformed IBAN `{s}`"))
        }
    });
    let bic = f.parsed_opt("bic", |s| {
        if (s.len() == 8 || s.len() == 11) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(s.to_ascii_uppercase())
        } else {
            Err(format!(
                "malformed BIC `{s}`: expected 8 or 11 letters and digits"
            ))
        }
    });
    if bic.is_some() && iban.is_none() {
        f.errors.push(FieldError::new("bic", "a BIC needs an IBAN"));
    }
    let row = (|| {
        Some(SupplierRow {
            supplier_ref: supplier_ref?,
            name,
            region: region?,
            size: size?,
            status,
            risk,
            payment_days,
            iban,
            bic,
        })
    })();
    f.finish(row)
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContractRow {
    pub contract_ref: String,
    pub supplier_ref: String,
    pub category: CategoryCode,
    pub currency: Currency,
    pub sku: String,
    pub unit_price: Money,
    pub payment_days: u32,
    pub lead_time_days: u32,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub state: ContractState,
}

pub fn contract_row(
    header: &Header,
    record: &StringRecord,
) -> Result<ContractRow, Vec<FieldError>> {
    let mut f = Fields::new(header, record);
    let contract_ref = f.parsed("contract_ref", parse_ref);
    let supplier_ref = f.parsed("supplier_ref", parse_ref);
    let category = f.parsed("category", CategoryCode::parse);
    let currency = f.parsed("currency", parse_currency);
    let sku = f.parsed("sku", parse_ref);
    let unit_price = match currency {
        Some(c) => f.parsed("unit_price", |s| {
            let m = Money::parse(s, c).map_err(|e| e.to_string())?;
            if m.is_negative() {
                Err(format!("unit price `{s}` is negative"))
            } else {
                Ok(m)
            }
        }),
        None => None,
    };
    let payment_days = f.parsed("payment_days", parse_days);
    let lead_time_days = f.parsed("lead_time_days", parse_days);
    let valid_from = f.parsed("valid_from", parse_date);
    let valid_to = f.parsed("valid_to", parse_date);
    let state = f
        .parsed_opt("state", |s| match s.to_ascii_lowercase().as_str() {
            "draft" => Ok(ContractState::Draft),
            "active" => Ok(ContractState::Active),
            "expired" => Ok(ContractState::Expired),
            "terminated" => Ok(ContractState::Terminated),
            _ => Err(format!(
                "unknown contract state `{s}`: expected draft, active, expired or terminated"
            )),
        })
        .unwrap_or(ContractState::Active);
    if let (Some(from), Some(to)) = (valid_from, valid_to)
        && to < from
    {
        f.errors.push(FieldError::new(
            "valid_to",
            format!("`{to}` is before valid_from `{from}`"),
        ));
    }
    let row = (|| {
        Some(ContractRow {
            contract_ref: contract_ref?,
            supplier_ref: supplier_ref?,
            category: category?,
            currency: currency?,
            sku: sku?,
            unit_price: unit_price?,
            payment_days: payment_days?,
            lead_time_days: lead_time_days?,
            valid_from: valid_from?,
            valid_to: valid_to?,
            state,
        })
    })();
    f.finish(row)
}

#[derive(Debug, Clone, PartialEq)]
pub struct SpendRow {
    pub line_ref: String,
    pub supplier_ref: String,
    pub date: NaiveDate,
    pub category: CategoryCode,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub amount: Money,
}

pub fn spend_row(header: &Header, record: &StringRecord) -> Result<SpendRow, Vec<FieldError>> {
    let mut f = Fields::new(header, record);
    let line_ref = f.parsed("line_ref", parse_ref);
    let supplier_ref = f.parsed("supplier_ref", parse_ref);
    let date = f.parsed("date", parse_date);
    let category = f.parsed("category", CategoryCode::parse);
    let sku = f.parsed_opt("sku", parse_ref);
    let description = f.text("description");
    let quantity = f.parsed("quantity", parse_positive_quantity);
    let currency = f.parsed("currency", parse_currency);
    let amount = match currency {
        Some(c) => f.parsed("amount", |s| Money::parse(s, c).map_err(|e| e.to_string())),
        None => None,
    };
    let row = (|| {
        Some(SpendRow {
            line_ref: line_ref?,
            supplier_ref: supplier_ref?,
            date: date?,
            category: category?,
            sku,
            description,
            quantity: quantity?,
            amount: amount?,
        })
    })();
    f.finish(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `csv` (header plus one row) with `parse` and renders the outcome as
    /// `ok` or `column: message` lines, so tests read as input and expected output.
    fn check<T>(
        columns: &Columns,
        parse: fn(&Header, &StringRecord) -> Result<T, Vec<FieldError>>,
        csv: &str,
        expected: &str,
    ) {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv.as_bytes());
        let mut records = reader.records().map(|r| r.unwrap());
        let header = match Header::parse(&records.next().unwrap(), columns) {
            Ok(h) => h,
            Err(errors) => {
                let got: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.column, e.message))
                    .collect();
                assert_eq!(got.join("\n"), expected);
                return;
            }
        };
        let got = match parse(&header, &records.next().unwrap()) {
            Ok(_) => "ok".to_owned(),
            Err(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.column, e.message))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        assert_eq!(got, expected);
    }

    const SUP: &str = "supplier_ref,name,region,size_class,payment_days,iban\n";

    #[test]
    fn suppliers() {
        check(
            &SUPPLIER_COLUMNS,
            supplier_row,
            &format!("{SUP}S1,Acme,FR,micro,30,FR7630006000011234567890189"),
            "ok",
        );
        check(
            &SUPPLIER_COLUMNS,
            supplier_row,
            &format!("{SUP}S1,Acme,F1,tiny,-3,"),
            "region: malformed region code `F1`: expected 2 to 8 letters\nsize_class: unknown SizeClass `tiny`: expected one of micro, small, medium, large\npayment_days: `-3` days is out of range 0..=3650",
        );
        check(
            &SUPPLIER_COLUMNS,
            supplier_row,
            &format!("{SUP},,FR,small,,XX"),
            "supplier_ref: is empty\nname: is empty\niban: malformed IBAN `XX`",
        );
        check(
            &SUPPLIER_COLUMNS,
            supplier_row,
            "supplier_ref,name,colour\nS1,a,b",
            "colour: unknown column; expected some of supplier_ref, name, region, size_class, status, risk_tier, payment_days, iban, bic\nregion: required column is missing from the header\nsize_class: required column is missing from the header",
        );
    }

    const CON: &str = "contract_ref,supplier_ref,category,currency,sku,unit_price,payment_days,lead_time_days,valid_from,valid_to\n";

    #[test]
    fn contracts() {
        check(
            &CONTRACT_COLUMNS,
            contract_row,
            &format!("{CON}C1,S1,office,EUR,SKU-1,12.50,30,5,2026-01-01,2026-12-31"),
            "ok",
        );
        check(
            &CONTRACT_COLUMNS,
            contract_row,
            &format!("{CON}C1,S1,office,EUX,SKU-1,12.50,30,5,2026-01-01,2026-12-31"),
            "currency: unknown currency `EUX`",
        );
        check(
            &CONTRACT_COLUMNS,
            contract_row,
            &format!("{CON}C1,S1,office,EUR,SKU-1,12.505,30,5,2026-13-01,2026-12-31"),
            "unit_price: amount `12.505` has more decimals than `EUR` allows (2)\nvalid_from: malformed date `2026-13-01`: expected YYYY-MM-DD",
        );
        check(
            &CONTRACT_COLUMNS,
            contract_row,
            &format!("{CON}C1,S1,office,EUR,SKU-1,-1,30,5,2026-02-01,2026-01-31"),
            "unit_price: unit price `-1` is negative\nvalid_to: `2026-01-31` is before valid_from `2026-02-01`",
        );
    }

    const SPEND: &str =
        "line_ref,supplier_ref,date,category,sku,description,quantity,amount,currency\n";

    #[test]
    fn spend() {
        check(
            &SPEND_COLUMNS,
            spend_row,
            &format!("{SPEND}L1,S1,2026-03-01,office,,Paper,10,120.00,EUR"),
            "ok",
        );
        check(
            &SPEND_COLUMNS,
            spend_row,
            &format!("{SPEND}L1,S1,2026-03-01,office,,Paper,-2,120.00,EUR"),
            "quantity: quantity `-2` must be positive",
        );
        check(
            &SPEND_COLUMNS,
            spend_row,
            &format!("{SPEND}L1,S1,01/03/2026,office,,Paper,2,1e5,USD"),
            "date: malformed date `01/03/2026`: expected YYYY-MM-DD\namount: malformed amount `1e5`",
        );
    }
}
