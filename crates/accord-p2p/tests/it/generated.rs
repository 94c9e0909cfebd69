//! The generator's invoices always validate, and perturbing any total by one cent always
//! fails with the rule that guards it.

use accord_p2p::{InvoiceError, Profile, ValidInvoice, generate_invoice, parse_ubl};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Adds one cent to the first `<cbc:{tag}>` after `anchor`.
fn bump(xml: &str, anchor: &str, tag: &str) -> String {
    let from = xml.find(anchor).expect("anchor present");
    let open = format!("<cbc:{tag} currencyID=\"EUR\">");
    let start = from + xml[from..].find(&open).expect("tag present") + open.len();
    let end = start + xml[start..].find('<').unwrap();
    let v: Decimal = xml[start..end].parse().unwrap();
    format!("{}{}{}", &xml[..start], v + Decimal::new(1, 2), &xml[end..])
}

const PERTURBATIONS: &[(&str, &str, &str)] = &[
    (
        "<cac:LegalMonetaryTotal>",
        "LineExtensionAmount",
        "BR-CO-10",
    ),
    ("<cac:LegalMonetaryTotal>", "TaxExclusiveAmount", "BR-CO-13"),
    ("<cac:LegalMonetaryTotal>", "TaxInclusiveAmount", "BR-CO-15"),
    (
        "<cac:LegalMonetaryTotal>",
        "AllowanceTotalAmount",
        "BR-CO-11",
    ),
    ("<cac:LegalMonetaryTotal>", "ChargeTotalAmount", "BR-CO-12"),
    ("<cac:LegalMonetaryTotal>", "PrepaidAmount", "BR-CO-16"),
    ("<cac:LegalMonetaryTotal>", "PayableAmount", "BR-CO-16"),
    ("<cac:TaxTotal>", "TaxAmount", "BR-CO-14"),
    ("<cac:TaxSubtotal>", "TaxableAmount", "BR-S-08"),
    ("<cac:InvoiceLine>", "LineExtensionAmount", "BR-CO-10"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_invoices_validate_under_peppol(seed in any::<u64>(), lines in 1usize..40) {
        let xml = generate_invoice(seed, lines);
        let doc = parse_ubl(&xml).unwrap();
        prop_assert_eq!(doc.lines.len(), lines);
        let v = ValidInvoice::new(doc, Profile::PeppolBis3);
        prop_assert!(v.is_ok(), "{}", v.unwrap_err());
        prop_assert!(v.unwrap().warnings().is_empty());
    }

    #[test]
    fn perturbing_a_total_fails_with_its_rule(seed in any::<u64>(), lines in 1usize..12, which in 0..PERTURBATIONS.len()) {
        let (anchor, tag, rule) = PERTURBATIONS[which];
        let xml = bump(&generate_invoice(seed, lines), anchor, tag);
        match accord_p2p::read_ubl(&xml) {
            Err(InvoiceError::Invalid(v)) => prop_assert!(v.has(rule), "{} not in {}", rule, v),
            other => prop_assert!(false, "{anchor} {tag}: expected {rule}, got {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Damaged input never panics: a truncated or byte-flipped invoice is either refused
    /// with a typed error or, if the damage hit only text, read and judged by the rules.
    #[test]
    fn damaged_documents_never_panic(seed in 0u64..50, cut in any::<prop::sample::Index>(), flip in any::<u8>()) {
        let xml = generate_invoice(seed, 3);
        let mut i = cut.index(xml.len());
        while !xml.is_char_boundary(i) {
            i -= 1;
        }
        let _ = accord_p2p::read_ubl(&xml[..i]);
        let mut bytes = xml.clone().into_bytes();
        bytes[i] = flip;
        if let Ok(s) = String::from_utf8(bytes) {
            let _ = accord_p2p::read_ubl(&s);
        }
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(generate_invoice(3, 5), generate_invoice(3, 5));
    assert_ne!(generate_invoice(3, 5), generate_invoice(4, 5));
}

/// A draft invoice writes valid UBL whose totals are what the lines say.
#[test]
fn draft_invoices_are_valid_and_carry_what_they_say() {
    use accord_core::Currency;
    use accord_p2p::{DraftInvoice, DraftLine, read_ubl};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    let draft = DraftInvoice {
        number: "INV-7 & co".into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
        currency: Currency::EUR,
        order_ref: Some("PO-ABC".into()),
        seller_id: "SUP-0001".into(),
        seller_name: "Acme <Paper>".into(),
        vat_rate: Decimal::from(21),
        lines: vec![
            DraftLine {
                po_line: Some(1),
                sku: "PAPER".into(),
                quantity: Decimal::from(10),
                unit_price: Decimal::new(1234, 2),
            },
            DraftLine {
                po_line: None,
                sku: "PENS".into(),
                quantity: Decimal::new(25, 1),
                unit_price: Decimal::new(333, 2),
            },
        ],
    };
    let valid = read_ubl(&draft.to_ubl()).expect("a valid invoice");
    let doc = valid.document();
    assert_eq!(valid.number(), "INV-7 & co");
    assert_eq!(doc.references.order.as_deref(), Some("PO-ABC"));
    assert!(doc.seller.identifiers().any(|i| i == "SUP-0001"));
    // 123.40 + 8.32 (8.325, rounded half to even by `round_minor`) = 131.72; VAT 21 % =
    // 27.66.
    assert_eq!(valid.payable().unwrap().minor, 13172 + 2766);
}
