//! `accord invoices import`: good documents go in and are matched, a bad one is refused
//! with its rule and element and stores nothing, the same document again stores nothing;
//! the shared EN 16931 corpus reads, but its sellers are unknown here, so each is refused
//! with the reason.

use accord_core::Currency;
use accord_p2p::{DraftInvoice, DraftLine};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::{Accord, stderr};

fn draft(number: &str) -> DraftInvoice {
    DraftInvoice {
        number: number.into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
        currency: Currency::EUR,
        order_ref: None,
        seller_id: "S1".into(),
        seller_name: "Acme".into(),
        vat_rate: Decimal::from(20),
        lines: vec![DraftLine {
            po_line: None,
            sku: "PAPER".into(),
            quantity: Decimal::from(4),
            unit_price: Decimal::new(250, 2),
        }],
    }
}

#[test]
fn import_stores_good_invoices_refuses_bad_ones_and_matches() {
    let a = Accord::new();
    a.ok(&["init"]);
    let suppliers = a.file(
        "suppliers.csv",
        "supplier_ref,name,region,size_class\nS1,Acme,FR,micro\n",
    );
    a.ok(&["import", "suppliers", &suppliers]);
    let inbox = a.data_dir().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.xml"), draft("INV-1").to_ubl()).unwrap();
    let broken = draft("INV-2").to_ubl().replace(
        "<cbc:PayableAmount currencyID=\"EUR\">12.00</cbc:PayableAmount>",
        "<cbc:PayableAmount currencyID=\"EUR\">11.00</cbc:PayableAmount>",
    );
    assert_ne!(
        broken,
        draft("INV-2").to_ubl(),
        "the payable amount was replaced"
    );
    std::fs::write(inbox.join("b.xml"), broken).unwrap();
    std::fs::write(inbox.join("notes.txt"), "not an invoice").unwrap();
    let before = a.entries();
    let out = a.run(&["invoices", "import", inbox.to_str().unwrap()]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(
        stdout.contains("2 documents: 1 stored, 0 already received (nothing stored), 1 refused"),
        "{stdout}"
    );
    assert!(err.contains("b.xml: invoice_rule_violation"), "{err}");
    assert!(
        err.contains("BR-CO-16") || err.contains("PayableAmount"),
        "{err}"
    );
    // The invoice quotes no order: the matcher files it as an exception.
    assert!(stdout.contains("1 exception"), "{stdout}");
    let after = a.entries();
    assert!(after > before);

    // The same good document again stores nothing.
    let one = inbox.join("a.xml");
    let out = a.ok(&["invoices", "import", one.to_str().unwrap()]);
    assert!(out.contains("1 already received"), "{out}");
    assert_eq!(a.entries(), after);

    let metrics = a.ok(&["invoices", "metrics"]);
    assert!(metrics.contains("\"invoices\""), "{metrics}");
    a.ok(&["audit", "verify"]);
}

#[test]
fn the_shared_corpus_reads_but_unknown_sellers_are_refused_with_the_reason() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ubl");
    if !corpus.is_dir() {
        eprintln!("SKIPPED: {} not found", corpus.display());
        return;
    }
    let a = Accord::new();
    a.ok(&["init"]);
    let before = a.entries();
    let out = a.run(&["invoices", "import", corpus.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    // Every document parses and validates: the only refusals are unknown sellers.
    assert!(!err.contains("invoice_rule_violation"), "{err}");
    assert!(!err.contains("invoice_malformed"), "{err}");
    assert!(
        err.contains("unresolved: cannot tell which supplier sent invoice"),
        "{err}"
    );
    assert_eq!(a.entries(), before);
}

/// `accord init` writes the matcher's default tolerances into accord.toml, and a
/// tolerance that does not read stops every command with its key named, before anything
/// is opened or written.
#[test]
fn match_tolerances_live_in_accord_toml() {
    let a = Accord::new();
    a.ok(&["init"]);
    let config_file = a.data_dir().join("accord.toml");
    let written = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        written.contains("[matching.global]") && written.contains("price = \"2% or 1\""),
        "{written}"
    );
    let before = a.entries();
    std::fs::write(
        &config_file,
        format!("{written}\n[matching.categories.office]\nprice = \"5 percent\"\n"),
    )
    .unwrap();
    let out = a.run(&["status"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("matching.categories.office.price: `5 percent` is not a tolerance"),
        "{err}"
    );
    std::fs::write(
        &config_file,
        format!("{written}\n[matching.categories.office]\nprice = \"5%\"\n"),
    )
    .unwrap();
    a.ok(&["status"]);
    assert_eq!(a.entries(), before);
}
