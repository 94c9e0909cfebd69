//! Three-way match: a clean generated order matches; each perturbation gives the typed
//! exception it should, with expected and actual values, the tolerance and the role.

use std::collections::HashMap;

use accord_core::{
    CategoryCode, Currency, Money,
    document::{GoodsReceipt, Invoice, InvoiceKind, PurchaseOrder},
    lifecycle::InvoiceState,
};
use accord_p2p::{
    duplicate::{DuplicateHit, DuplicateKind},
    generate_order,
    matching::{ExceptionKind, MatchInput, Matcher, PoIndex, three_way_match},
    tolerance::{Join, Scope, Tolerance, TolerancePolicy, ToleranceSet},
};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

struct Case {
    po: PurchaseOrder,
    receipt: GoodsReceipt,
    invoice: Invoice,
    policy: TolerancePolicy,
    prior: HashMap<u32, Decimal>,
    tax_rate: Option<Decimal>,
    duplicates: Vec<DuplicateHit>,
}

/// A three-line order (seed 7) received in full and invoiced exactly.
fn case() -> Case {
    let (po, receipt, invoice) = generate_order(7, 3);
    Case {
        po,
        receipt,
        invoice,
        policy: TolerancePolicy::default(),
        prior: HashMap::new(),
        tax_rate: None,
        duplicates: Vec::new(),
    }
}

/// Runs the match after `edit` and compares `(kind, po_line)` of the exceptions.
fn check(
    edit: impl FnOnce(&mut Case),
    expected: &[(ExceptionKind, Option<u32>)],
) -> accord_p2p::matching::MatchReport {
    let mut c = case();
    edit(&mut c);
    let category = CategoryCode::parse("office").unwrap();
    let input = MatchInput {
        invoice: &c.invoice,
        previously_invoiced: Some(&c.prior),
        expected_tax_rate: c.tax_rate,
        duplicates: &c.duplicates,
        category: Some(&category),
    };
    let report = three_way_match(&c.policy, &c.po, std::slice::from_ref(&c.receipt), &input);
    let got: Vec<_> = report
        .exceptions
        .iter()
        .map(|e| (e.kind, e.po_line))
        .collect();
    assert_eq!(got, expected, "{:#?}", report.exceptions);
    assert_eq!(report.is_matched(), expected.is_empty());
    report
}

fn bump_price(inv: &mut Invoice, i: usize, permille: i64) {
    let l = &mut inv.lines[i];
    l.unit_price = Money::new(
        l.unit_price.minor * (1000 + permille) / 1000,
        l.unit_price.currency,
    );
}

#[test]
fn a_clean_invoice_matches() {
    let r = check(|_| {}, &[]);
    assert_eq!(r.lines_checked, 3);
    assert_eq!(r.next_state(), InvoiceState::Matched);
    assert!(r.override_roles().is_empty());
}

#[test]
fn price_variance_within_and_beyond_tolerance() {
    // Default: 2 % OR 1.00 a unit. Line 1's price (seed 7) is large enough that +1.5 %
    // is within the percent, +5 % beyond both.
    check(|c| bump_price(&mut c.invoice, 0, 15), &[]);
    let r = check(
        |c| bump_price(&mut c.invoice, 0, 50),
        &[(ExceptionKind::PriceVariance, Some(1))],
    );
    let e = &r.exceptions[0];
    let c = case();
    assert_eq!(e.expected, Some(c.po.lines[0].unit_price.to_decimal()));
    assert!(e.actual > e.expected);
    assert_eq!(e.tolerance.as_ref().unwrap().scope, Scope::Global);
    assert_eq!(e.invoice_line.as_deref(), Some("1"));
    assert!(
        e.explanation.contains("tolerance 2% or 1"),
        "{}",
        e.explanation
    );
    assert_eq!(r.next_state(), InvoiceState::Exception);
    // Billing below the order is never an exception.
    check(|c| bump_price(&mut c.invoice, 0, -300), &[]);
}

#[test]
fn the_most_specific_tolerance_wins_per_kind() {
    let with_policy = |c: &mut Case| {
        let mut p = TolerancePolicy::exact();
        p.categories.insert(
            CategoryCode::parse("office").unwrap(),
            ToleranceSet {
                price: Some(Tolerance::percent(d("10")).overridable_by("category-manager")),
                ..Default::default()
            },
        );
        p.items.insert(
            "SKU-000001".into(),
            ToleranceSet {
                price: Some(Tolerance::exact().overridable_by("controller")),
                ..Default::default()
            },
        );
        c.policy = p;
        bump_price(&mut c.invoice, 0, 50);
        bump_price(&mut c.invoice, 1, 50);
    };
    let r = check(with_policy, &[(ExceptionKind::PriceVariance, Some(2))]);
    let e = &r.exceptions[0];
    assert_eq!(e.tolerance.as_ref().unwrap().scope, Scope::Item);
    assert_eq!(e.override_role.as_deref(), Some("controller"));
    assert_eq!(r.override_roles(), vec!["controller"]);
    // The item set no quantity tolerance: quantity falls back to the global exact one.
    let r = check(
        |c| {
            with_policy(c);
            c.invoice.lines[1].quantity += Decimal::ONE;
        },
        &[
            (ExceptionKind::PriceVariance, Some(2)),
            (ExceptionKind::QuantityVariance, Some(2)),
            (ExceptionKind::NotReceived, Some(2)),
        ],
    );
    assert_eq!(
        r.exceptions[1].tolerance.as_ref().unwrap().scope,
        Scope::Global
    );
}

#[test]
fn quantities_are_cumulative_and_checked_against_receipts() {
    let r = check(
        |c| c.invoice.lines[2].quantity += Decimal::ONE,
        &[
            (ExceptionKind::QuantityVariance, Some(3)),
            (ExceptionKind::NotReceived, Some(3)),
        ],
    );
    let ordered = case().po.lines[2].quantity;
    assert_eq!(r.exceptions[0].expected, Some(ordered));
    assert_eq!(r.exceptions[0].actual, Some(ordered + Decimal::ONE));
    // Earlier invoices on the same order count.
    check(
        |c| {
            c.prior.insert(1, Decimal::ONE);
        },
        &[
            (ExceptionKind::QuantityVariance, Some(1)),
            (ExceptionKind::NotReceived, Some(1)),
        ],
    );
    // Rejected at the dock is not received.
    let r = check(
        |c| c.receipt.lines[1].rejected = d("2"),
        &[(ExceptionKind::NotReceived, Some(2))],
    );
    assert_eq!(
        r.exceptions[0].expected,
        Some(case().po.lines[1].quantity - d("2"))
    );
    // Nothing received at all.
    check(
        |c| c.receipt.lines.clear(),
        &[
            (ExceptionKind::NotReceived, Some(1)),
            (ExceptionKind::NotReceived, Some(2)),
            (ExceptionKind::NotReceived, Some(3)),
        ],
    );
    // A received-quantity tolerance of 5 units OR 0 % lets a small excess through.
    check(
        |c| {
            c.policy.global.received = Some(Tolerance::both(d("0"), d("5"), Join::Or));
            c.receipt.lines[0].received -= d("3");
        },
        &[],
    );
    // Two invoice lines billing one order line add up.
    check(
        |c| {
            let mut extra = c.invoice.lines[0].clone();
            extra.line_id = "1b".into();
            extra.quantity = Decimal::ONE;
            c.invoice.lines.push(extra);
        },
        &[
            (ExceptionKind::QuantityVariance, Some(1)),
            (ExceptionKind::NotReceived, Some(1)),
        ],
    );
}

#[test]
fn lines_without_an_order_line_are_unmatched() {
    let r = check(
        |c| {
            c.invoice.lines[0].po_line = Some(99);
            c.invoice.lines[1].po_line = None;
            c.invoice.lines[1].sku = Some("NOT-ORDERED".into());
        },
        &[
            (ExceptionKind::UnmatchedLine, Some(99)),
            (ExceptionKind::UnmatchedLine, None),
        ],
    );
    assert!(r.exceptions[0].explanation.contains("has no line 99"));
    assert!(r.exceptions[1].explanation.contains("`NOT-ORDERED`"));
    // Without a line number, the SKU finds the order line.
    check(|c| c.invoice.lines[2].po_line = None, &[]);
}

#[test]
fn tax_duplicates_currency_and_order() {
    // The generated invoice charges 25 % VAT.
    check(|c| c.tax_rate = Some(d("25")), &[]);
    let r = check(
        |c| {
            c.tax_rate = Some(d("25"));
            c.invoice.tax = Money::new(c.invoice.tax.minor - 5, Currency::EUR);
        },
        &[(ExceptionKind::TaxVariance, None)],
    );
    assert_eq!(
        r.exceptions[0].actual.unwrap() + d("0.05"),
        r.exceptions[0].expected.unwrap()
    );
    let r = check(
        |c| {
            c.policy.duplicate_override_role = Some("ap-manager".into());
            c.duplicates.push(DuplicateHit {
                kind: DuplicateKind::Exact,
                existing: c.invoice.id,
                existing_number: "INV-7".into(),
                explanation: "seen before".into(),
            });
        },
        &[(ExceptionKind::Duplicate, None)],
    );
    assert_eq!(r.override_roles(), vec!["ap-manager"]);
    check(
        |c| {
            c.invoice.currency = Currency::USD;
            c.invoice.order_ref = Some("PO-OTHER".into());
        },
        &[
            (ExceptionKind::OrderMismatch, None),
            (ExceptionKind::CurrencyMismatch, None),
        ],
    );
}

#[test]
fn credit_notes_skip_quantity_and_price_checks() {
    check(
        |c| {
            c.invoice.kind = InvoiceKind::CreditNote;
            c.receipt.lines.clear();
            bump_price(&mut c.invoice, 0, 500);
            c.invoice.lines[2].po_line = Some(42);
        },
        &[(ExceptionKind::UnmatchedLine, Some(42))],
    );
}

#[test]
fn an_order_that_is_not_issued_is_an_exception() {
    let r = check(
        |c| c.po.state = accord_core::lifecycle::PurchaseOrderState::Cancelled,
        &[(ExceptionKind::OrderMismatch, None)],
    );
    assert_eq!(
        r.exceptions[0].explanation,
        "order `PO-00000007` is `Cancelled`, not issued"
    );
}

#[test]
fn tolerance_limits_join_as_documented() {
    // (limit, expected, over, allowed)
    let table = [
        (Tolerance::percent(d("5")), "100", "5", true),
        (Tolerance::percent(d("5")), "100", "5.01", false),
        (Tolerance::absolute(d("2")), "100", "2", true),
        (Tolerance::absolute(d("2")), "100", "2.5", false),
        (
            Tolerance::both(d("5"), d("2"), Join::And),
            "100",
            "3",
            false,
        ),
        (Tolerance::both(d("5"), d("2"), Join::Or), "100", "3", true),
        (Tolerance::both(d("1"), d("2"), Join::Or), "100", "3", false),
        (Tolerance::both(d("5"), d("4"), Join::And), "100", "3", true),
        (Tolerance::exact(), "100", "0", true),
        (Tolerance::exact(), "100", "-7", true),
        (Tolerance::exact(), "100", "0.0001", false),
    ];
    for (t, expected, over, allowed) in table {
        assert_eq!(
            t.allows_over(d(expected), d(over)),
            allowed,
            "{t} {expected} {over}"
        );
    }
}

#[test]
fn a_matcher_is_reusable_across_invoices() {
    let (po, receipt, invoice) = generate_order(11, 50);
    let policy = TolerancePolicy::default();
    let index = PoIndex::new(&po, std::slice::from_ref(&receipt));
    let mut m = Matcher::new(&policy);
    let mut bad = invoice.clone();
    bump_price(&mut bad, 10, 500);
    for _ in 0..3 {
        assert!(
            m.match_invoice(&index, &MatchInput::new(&invoice))
                .is_matched()
        );
        assert_eq!(
            m.match_invoice(&index, &MatchInput::new(&bad))
                .count(ExceptionKind::PriceVariance),
            1
        );
    }
}

mod properties {
    use accord_p2p::{
        generate_order,
        matching::{ExceptionKind, MatchInput, Matcher, PoIndex},
        tolerance::TolerancePolicy,
    };
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A generated order always matches; raising one line's price by more than the
        /// default tolerance (2 % or 1.00) gives exactly one price variance, on that line.
        #[test]
        fn one_overpriced_line_one_exception(seed in any::<u64>(), lines in 1usize..60, pick in any::<prop::sample::Index>()) {
            let (po, receipt, invoice) = generate_order(seed, lines);
            let policy = TolerancePolicy::default();
            let index = PoIndex::new(&po, std::slice::from_ref(&receipt));
            let mut m = Matcher::new(&policy);
            prop_assert!(m.match_invoice(&index, &MatchInput::new(&invoice)).is_matched());
            let i = pick.index(lines);
            let mut bad = invoice.clone();
            let p = &mut bad.lines[i].unit_price;
            // +3 % and at least +1.01: beyond both limits of the OR.
            p.minor += (p.minor * 3 / 100).max(101);
            let r = m.match_invoice(&index, &MatchInput::new(&bad));
            prop_assert_eq!(r.exceptions.len(), 1);
            prop_assert_eq!(r.exceptions[0].kind, ExceptionKind::PriceVariance);
            prop_assert_eq!(r.exceptions[0].po_line, Some(i as u32 + 1));
        }
    }
}

#[test]
fn a_policy_is_json_configuration() {
    let json = r#"{
        "global": {
            "price": {"limit": {"both": {"percent": "2", "absolute": "1.00", "join": "or"}}},
            "quantity": {"limit": {"absolute": "0"}, "override_role": "buyer"}
        },
        "categories": {"office": {"price": {"limit": {"percent": "5"}, "override_role": "category-manager"}}},
        "items": {"SKU-1": {"received": {"limit": {"percent": "10"}}}},
        "duplicate_override_role": "ap-manager"
    }"#;
    let p: TolerancePolicy = serde_json::from_str(json).unwrap();
    let office = CategoryCode::parse("office").unwrap();
    use accord_p2p::tolerance::ToleranceKind::*;
    let (t, scope) = p.resolve(Price, Some("SKU-1"), Some(&office));
    assert_eq!((t.to_string(), scope), ("5%".to_owned(), Scope::Category));
    assert_eq!(t.override_role.as_deref(), Some("category-manager"));
    let (t, scope) = p.resolve(Received, Some("SKU-1"), Some(&office));
    assert_eq!((t.to_string(), scope), ("10%".to_owned(), Scope::Item));
    let (t, scope) = p.resolve(Price, Some("SKU-2"), None);
    assert_eq!(
        (t.to_string(), scope),
        ("2% or 1.00".to_owned(), Scope::Global)
    );
    // Not set anywhere: exact.
    let (t, _) = p.resolve(Tax, None, None);
    assert_eq!(t, &Tolerance::exact());
    let back: TolerancePolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}
