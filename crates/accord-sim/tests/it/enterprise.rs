//! The generator: determinism, CSV files the importer accepts, and the shape of spend.

use std::collections::{HashMap, HashSet};

use accord_core::{CategoryCode, Currency, Money, RegionCode, RiskTier, SizeClass, SupplierStatus};
use accord_sim::enterprise::tail_coverage;
use accord_sim::export::{CONTRACT_COLUMNS, SPEND_COLUMNS, SUPPLIER_COLUMNS};
use accord_sim::{Enterprise, EnterpriseConfig};
use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use crate::{csv_bytes, small};

type Row = HashMap<String, String>;

fn rows(bytes: &[u8], columns: &[&str]) -> Vec<Row> {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, columns, "columns");
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            assert_eq!(rec.len(), columns.len());
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

fn date(s: &str) -> NaiveDate {
    assert_eq!(s.len(), 10, "date `{s}`");
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|_| panic!("date `{s}`"))
}

/// An amount with exactly the currency's minor digits.
fn amount(s: &str, currency: &str) -> Money {
    let c = Currency::parse(currency).expect("currency");
    let digits = s.split_once('.').map_or(0, |(_, d)| d.len());
    assert_eq!(
        digits as u32,
        c.minor_digits(),
        "amount `{s}` in {currency}"
    );
    Money::parse(s, c).expect("amount")
}

/// Checks the three files as the importer's rules state them (docs/import.md).
fn check_csv(e: &Enterprise) {
    let [s, c, l] = csv_bytes(e);
    let suppliers = rows(&s, &SUPPLIER_COLUMNS);
    let mut refs = HashSet::new();
    for r in &suppliers {
        assert!(refs.insert(r["supplier_ref"].clone()), "duplicate supplier");
        assert!(!r["name"].is_empty());
        RegionCode::parse(&r["region"]).expect("region");
        SizeClass::parse(&r["size_class"]).expect("size");
        SupplierStatus::parse(&r["status"]).expect("status");
        RiskTier::parse(&r["risk_tier"]).expect("risk");
        let days: u32 = r["payment_days"].parse().expect("days");
        assert!(days <= 3650);
        let iban = &r["iban"];
        if !iban.is_empty() {
            assert!((15..=34).contains(&iban.len()), "iban `{iban}`");
            assert!(iban[..2].bytes().all(|b| b.is_ascii_uppercase()));
            assert!(iban.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        assert!(r["bic"].is_empty() || !iban.is_empty());
    }
    let contracts = rows(&c, &CONTRACT_COLUMNS);
    let mut keys = HashSet::new();
    let mut heads: HashMap<String, Vec<String>> = HashMap::new();
    for r in &contracts {
        assert!(refs.contains(&r["supplier_ref"]), "unknown supplier");
        assert!(
            keys.insert((r["contract_ref"].clone(), r["sku"].clone())),
            "duplicate key"
        );
        CategoryCode::parse(&r["category"]).expect("category");
        assert!(!amount(&r["unit_price"], &r["currency"]).is_negative());
        r["payment_days"].parse::<u32>().expect("days");
        r["lead_time_days"].parse::<u32>().expect("lead");
        let (from, to) = (date(&r["valid_from"]), date(&r["valid_to"]));
        assert!(from <= e.as_of && e.as_of <= to, "active on as_of");
        assert_eq!(r["state"], "active");
        // Rows of one contract agree on every column but sku and unit_price.
        let head: Vec<String> = CONTRACT_COLUMNS
            .iter()
            .filter(|c| !["sku", "unit_price"].contains(c))
            .map(|c| r[*c].clone())
            .collect();
        let first = heads
            .entry(r["contract_ref"].clone())
            .or_insert_with(|| head.clone());
        assert_eq!(*first, head);
    }
    let spend = rows(&l, &SPEND_COLUMNS);
    assert_eq!(spend.len(), e.spend.len());
    let mut lines = HashSet::new();
    for r in &spend {
        assert!(lines.insert(r["line_ref"].clone()), "duplicate line");
        assert!(refs.contains(&r["supplier_ref"]), "unknown supplier");
        let d = date(&r["date"]);
        assert!(d < e.as_of && d >= e.as_of - chrono::Days::new(365));
        CategoryCode::parse(&r["category"]).expect("category");
        assert!(!r["description"].is_empty());
        let q: Decimal = r["quantity"].parse().expect("quantity");
        assert!(q > Decimal::ZERO);
        assert!(amount(&r["amount"], &r["currency"]).minor > 0);
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = csv_bytes(&small(120, 3_000, 42));
    assert_eq!(a, csv_bytes(&small(120, 3_000, 42)));
    assert_ne!(a, csv_bytes(&small(120, 3_000, 43)));
}

#[test]
fn default_enterprise_is_valid_and_heavy_tailed() {
    let e = Enterprise::generate(&EnterpriseConfig::default(), 1).expect("generate");
    assert_eq!((e.suppliers.len(), e.spend.len()), (2_000, 100_000));
    check_csv(&e);
    let coverage = tail_coverage(&e, 0.2);
    assert!(
        coverage > 0.5,
        "bottom 20% of spend covers {coverage:.2} of suppliers"
    );
    let micro_small = e
        .suppliers
        .iter()
        .filter(|s| matches!(s.supplier.size, SizeClass::Micro | SizeClass::Small))
        .count();
    assert!(
        micro_small > 1_400,
        "{micro_small} micro and small suppliers"
    );
    let regions: HashSet<&str> = e
        .suppliers
        .iter()
        .map(|s| s.supplier.region.as_str())
        .collect();
    assert_eq!(regions.len(), 3);
    let expiring = e
        .contracts
        .iter()
        .filter(|c| c.contract.terms.valid_to <= e.as_of + chrono::Days::new(90))
        .count();
    assert!(
        expiring > 0 && expiring < e.contracts.len(),
        "{expiring} expiring soon"
    );
    // Each supplier's annual spend is the sum of its lines.
    let mut sums = vec![0i64; e.suppliers.len()];
    for l in &e.spend {
        sums[l.supplier] += l.line.amount.minor;
    }
    for (s, sum) in e.suppliers.iter().zip(sums) {
        assert_eq!(s.annual_spend.minor, sum);
    }
}

#[test]
fn bad_configuration_is_refused() {
    let config = EnterpriseConfig {
        suppliers: 10,
        spend_lines: 5,
        ..EnterpriseConfig::default()
    };
    let err = Enterprise::generate(&config, 1).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid configuration: spend_lines must be at least the number of suppliers"
    );
}

#[test]
fn write_dir_writes_three_files() {
    let e = small(20, 100, 3);
    let dir = std::env::temp_dir().join(format!("accord-sim-{}", std::process::id()));
    accord_sim::export::write_dir(&e, &dir).expect("write");
    let [s, c, l] = csv_bytes(&e);
    assert_eq!(std::fs::read(dir.join("suppliers.csv")).unwrap(), s);
    assert_eq!(std::fs::read(dir.join("contracts.csv")).unwrap(), c);
    assert_eq!(std::fs::read(dir.join("spend.csv")).unwrap(), l);
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    #[test]
    fn any_seed_gives_importable_csv(seed in any::<u64>(), suppliers in 1usize..60) {
        let e = small(suppliers, suppliers * 5, seed);
        check_csv(&e);
    }
}
