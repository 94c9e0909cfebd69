//! Duplicate detection: exact, same amount and date, credit-note replay, each explained.

use accord_core::{
    Currency, Money,
    document::InvoiceKind,
    id::{InvoiceId, SupplierId},
};
use accord_p2p::duplicate::{DuplicateIndex, DuplicateKind, Fingerprint};
use chrono::NaiveDate;

fn fp(
    id: u128,
    supplier: u128,
    kind: InvoiceKind,
    number: &str,
    day: u32,
    cents: i64,
    reference: Option<&str>,
) -> Fingerprint {
    Fingerprint {
        invoice: InvoiceId::from_parts(0, id),
        supplier: SupplierId::from_parts(0, supplier),
        kind,
        number: number.into(),
        issue_date: NaiveDate::from_ymd_opt(2025, 3, day).unwrap(),
        amount: Money::new(cents, Currency::EUR),
        referenced_invoice: reference.map(str::to_owned),
    }
}

use InvoiceKind::{CreditNote as C, Invoice as I};

/// Inserts `seen`, checks `new`, compares the hit kinds and the existing numbers.
fn check(
    seen: &[Fingerprint],
    new: Fingerprint,
    expected: &[(DuplicateKind, &str)],
) -> Vec<String> {
    let mut index = DuplicateIndex::new();
    for f in seen {
        assert!(
            index.check_and_insert(f.clone()).is_empty(),
            "the seen set is duplicate-free"
        );
    }
    let hits = index.check(&new);
    let got: Vec<_> = hits
        .iter()
        .map(|h| (h.kind, h.existing_number.as_str()))
        .collect();
    assert_eq!(got, expected);
    hits.into_iter().map(|h| h.explanation).collect()
}

#[test]
fn exact_duplicates_match_normalised_numbers() {
    let seen = [fp(1, 1, I, "INV-0042", 1, 10_000, None)];
    let why = check(
        &seen,
        fp(2, 1, I, "inv 42", 9, 999, None),
        &[(DuplicateKind::Exact, "INV-0042")],
    );
    assert_eq!(
        why[0],
        "invoice number `inv 42` from this supplier was already received as `INV-0042`: the numbers are the same once case, spaces, punctuation and leading zeros are ignored"
    );
    let why = check(
        &seen,
        fp(2, 1, I, "INV-0042", 9, 999, None),
        &[(DuplicateKind::Exact, "INV-0042")],
    );
    assert_eq!(
        why[0],
        "invoice number `INV-0042` from this supplier was already received on an earlier document"
    );
    // Another supplier may use the same number.
    check(&seen, fp(2, 2, I, "INV-0042", 1, 10_000, None), &[]);
    // Checking an invoice already inserted does not find itself.
    check(&seen, seen[0].clone(), &[]);
}

#[test]
fn same_amount_and_date_under_another_number_is_likely() {
    let seen = [
        fp(1, 1, I, "A-1", 1, 10_000, None),
        fp(3, 1, I, "A-3", 2, 10_000, None),
    ];
    let why = check(
        &seen,
        fp(2, 1, I, "A-2", 1, 10_000, None),
        &[(DuplicateKind::SameAmountAndDate, "A-1")],
    );
    assert_eq!(
        why[0],
        "invoice `A-2` has the same amount (EUR 100.00) and issue date (2025-03-01) as `A-1` from this supplier, under a different number"
    );
    check(&seen, fp(2, 1, I, "A-2", 1, 10_001, None), &[]);
}

#[test]
fn a_replayed_credit_note_is_caught() {
    let seen = [
        fp(1, 1, I, "INV-9", 1, 50_000, None),
        fp(2, 1, C, "CN-1", 5, 5_000, Some("INV-9")),
    ];
    let why = check(
        &seen,
        fp(3, 1, C, "CN-2", 20, 5_000, Some("inv9")),
        &[(DuplicateKind::CreditNoteReplay, "CN-1")],
    );
    assert_eq!(
        why[0],
        "credit note `CN-2` repeats credit note `CN-1` from this supplier: same amount (EUR 50.00) against the same invoice `inv9`"
    );
    // A second, different partial credit against the same invoice is fine.
    check(&seen, fp(3, 1, C, "CN-2", 20, 2_500, Some("INV-9")), &[]);
    // The same credit-note number again is exact, reported once.
    check(
        &seen,
        fp(3, 1, C, "CN-0001", 5, 5_000, Some("INV-9")),
        &[(DuplicateKind::Exact, "CN-1")],
    );
}

#[test]
fn remove_and_reinsert() {
    let mut index = DuplicateIndex::new();
    let a = fp(1, 1, I, "X-1", 1, 100, None);
    index.insert(a.clone());
    index.insert(a.clone());
    assert_eq!(index.len(), 1);
    assert_eq!(index.check(&fp(2, 1, I, "X1", 1, 100, None)).len(), 1);
    assert_eq!(index.remove(a.invoice), Some(a));
    assert!(index.is_empty());
    assert!(index.check(&fp(2, 1, I, "X1", 1, 100, None)).is_empty());
}

#[test]
fn fingerprints_come_from_validated_invoices() {
    let xml = super::rules::MINIMAL;
    let v = accord_p2p::read_ubl(xml).unwrap();
    let f = Fingerprint::of_valid(
        &v,
        InvoiceId::from_parts(0, 1),
        SupplierId::from_parts(0, 1),
    )
    .unwrap();
    assert_eq!(f.number, "INV-0042");
    assert_eq!(f.amount, Money::new(5000, Currency::EUR));
    let mut index = DuplicateIndex::new();
    index.insert(f);
    let again = Fingerprint::of_valid(
        &v,
        InvoiceId::from_parts(0, 2),
        SupplierId::from_parts(0, 1),
    )
    .unwrap();
    let hits = index.check(&again);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].kind, DuplicateKind::Exact);
}
