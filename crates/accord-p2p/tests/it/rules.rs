//! EN 16931 rules on a small hand-written invoice: the clean fixture passes, and each
//! targeted edit breaks exactly the rule it should, at the element it should.

use accord_p2p::{
    InvoiceError, ParseError, Profile, Severity, ValidInvoice, parse_ubl, read_json, read_ubl,
};

pub const MINIMAL: &str = include_str!("../fixtures/minimal-invoice.xml");

/// Applies each `(from, to)` edit once (each `from` must occur) and returns the fatal
/// violations as `rule@path` strings, sorted.
fn check(edits: &[(&str, &str)], expected: &[&str]) {
    let mut xml = MINIMAL.to_owned();
    for (from, to) in edits {
        assert!(xml.contains(from), "fixture lacks `{from}`");
        xml = xml.replacen(from, to, 1);
    }
    let got: Vec<String> = match read_ubl(&xml) {
        Ok(_) => vec![],
        Err(InvoiceError::Invalid(v)) => {
            let mut g: Vec<String> =
                v.0.iter()
                    .filter(|v| v.severity == Severity::Fatal)
                    .map(|v| format!("{}@{}", v.rule, v.path))
                    .collect();
            g.sort();
            g
        }
        Err(e) => panic!("unexpected parse error: {e}"),
    };
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "edits {edits:?}");
}

#[test]
fn the_fixture_is_clean_under_both_profiles() {
    check(&[], &[]);
    let doc = parse_ubl(MINIMAL).unwrap();
    let v = ValidInvoice::new(doc, Profile::PeppolBis3).unwrap();
    assert!(v.warnings().is_empty());
    assert_eq!(v.payable().unwrap().minor, 5000);
}

#[test]
fn arithmetic_rules_name_rule_and_element() {
    const LMT: &str = "cac:LegalMonetaryTotal";
    check(
        &[(
            "<cbc:TaxExclusiveAmount currencyID=\"EUR\">48.00",
            "<cbc:TaxExclusiveAmount currencyID=\"EUR\">48.01",
        )],
        // 48.01 breaks the exclusive total and, through it, the inclusive one.
        &[
            "BR-CO-13@cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
            "BR-CO-15@cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
        ],
    );
    check(
        &[(
            "<cbc:LineExtensionAmount currencyID=\"EUR\">50.00",
            "<cbc:LineExtensionAmount currencyID=\"EUR\">51.00",
        )],
        &[
            &format!("BR-CO-10@{LMT}/cbc:LineExtensionAmount"),
            &format!("BR-CO-13@{LMT}/cbc:TaxExclusiveAmount"),
        ],
    );
    check(
        &[(
            "<cbc:AllowanceTotalAmount currencyID=\"EUR\">2.00</cbc:AllowanceTotalAmount>",
            "",
        )],
        &[
            &format!("BR-CO-11@{LMT}/cbc:AllowanceTotalAmount"),
            &format!("BR-CO-13@{LMT}/cbc:TaxExclusiveAmount"),
        ],
    );
    check(
        &[(
            "<cbc:TaxAmount currencyID=\"EUR\">7.00</cbc:TaxAmount>\n    <cac:TaxSubtotal>",
            "<cbc:TaxAmount currencyID=\"EUR\">7.50</cbc:TaxAmount>\n    <cac:TaxSubtotal>",
        )],
        &[
            "BR-CO-14@cac:TaxTotal/cbc:TaxAmount",
            &format!("BR-CO-15@{LMT}/cbc:TaxInclusiveAmount"),
        ],
    );
    check(
        &[(
            "<cbc:PayableAmount currencyID=\"EUR\">50.00",
            "<cbc:PayableAmount currencyID=\"EUR\">55.00",
        )],
        &[&format!("BR-CO-16@{LMT}/cbc:PayableAmount")],
    );
    // A VAT amount that is not 25 % of its taxable amount, with the totals kept consistent.
    check(
        &[
            (
                "<cbc:TaxAmount currencyID=\"EUR\">7.00</cbc:TaxAmount>\n    <cac:TaxSubtotal>",
                "<cbc:TaxAmount currencyID=\"EUR\">7.02</cbc:TaxAmount>\n    <cac:TaxSubtotal>",
            ),
            (
                "<cbc:TaxableAmount currencyID=\"EUR\">28.00</cbc:TaxableAmount>\n      <cbc:TaxAmount currencyID=\"EUR\">7.00",
                "<cbc:TaxableAmount currencyID=\"EUR\">28.00</cbc:TaxableAmount>\n      <cbc:TaxAmount currencyID=\"EUR\">7.02",
            ),
            ("\">55.00<", "\">55.02<"),
            (
                "<cbc:PayableAmount currencyID=\"EUR\">50.00",
                "<cbc:PayableAmount currencyID=\"EUR\">50.02",
            ),
        ],
        &["BR-CO-17@cac:TaxTotal/cac:TaxSubtotal[1]/cbc:TaxAmount"],
    );
    // Taxable amount per category must be lines - allowances + charges of that category.
    check(
        &[(
            "<cbc:TaxableAmount currencyID=\"EUR\">28.00",
            "<cbc:TaxableAmount currencyID=\"EUR\">30.00",
        )],
        &[
            "BR-CO-17@cac:TaxTotal/cac:TaxSubtotal[1]/cbc:TaxAmount",
            "BR-S-08@cac:TaxTotal/cac:TaxSubtotal[1]/cbc:TaxableAmount",
        ],
    );
    check(
        &[(
            "<cbc:Amount currencyID=\"EUR\">2.00</cbc:Amount>",
            "<cbc:Amount currencyID=\"EUR\">2.001</cbc:Amount>",
        )],
        &[
            "BR-CO-11@cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount",
            "BR-DEC-01@cac:AllowanceCharge[1]/cbc:Amount",
            "BR-S-08@cac:TaxTotal/cac:TaxSubtotal[1]/cbc:TaxableAmount",
        ],
    );
}

#[test]
fn line_arithmetic_is_fatal_only_under_peppol() {
    let xml = MINIMAL.replacen(
        "<cbc:PriceAmount currencyID=\"EUR\">10.00",
        "<cbc:PriceAmount currencyID=\"EUR\">10.01",
        1,
    );
    let ok = read_ubl(&xml).expect("a warning under EN 16931");
    assert_eq!(ok.warnings().len(), 1);
    let w = &ok.warnings()[0];
    assert_eq!(w.rule, "PEPPOL-EN16931-R120");
    assert_eq!(w.path, "cac:InvoiceLine[1]/cbc:LineExtensionAmount");
    assert!(w.message.contains("`30.03`"), "{}", w.message);
    let err = ValidInvoice::new(parse_ubl(&xml).unwrap(), Profile::PeppolBis3).unwrap_err();
    assert!(matches!(&err, InvoiceError::Invalid(v) if v.has("PEPPOL-EN16931-R120")));
    assert_eq!(err.code(), "invoice_rule_violation");
    // The base quantity counts: 25.00 for 2 units is 12.50 a unit, so 2 units less the
    // 5.00 allowance is 20.00 (the clean fixture); without it the line would be 45.00.
    let no_base = MINIMAL.replacen(
        "<cbc:BaseQuantity unitCode=\"EA\">2</cbc:BaseQuantity>",
        "",
        1,
    );
    let w = read_ubl(&no_base).unwrap();
    assert!(
        w.warnings()[0].message.contains("gives `45`"),
        "{}",
        w.warnings()[0].message
    );
}

#[test]
fn violations_carry_source_lines() {
    let line_of = |xml: &str, rule: &str| -> Option<u32> {
        let err = read_ubl(xml).unwrap_err();
        err.violations()
            .iter()
            .find(|v| v.rule == rule)
            .unwrap()
            .line
    };
    let xml = MINIMAL.replacen(
        ">50.00</cbc:PayableAmount>",
        ">55.00</cbc:PayableAmount>",
        1,
    );
    assert_eq!(line_of(&xml, "BR-CO-16"), Some(55));
    let err = read_ubl(&xml).unwrap_err();
    assert!(
        err.to_string().contains(
            "BR-CO-16 at `cac:LegalMonetaryTotal/cbc:PayableAmount` (line 55): declared `55.00`"
        ),
        "{err}"
    );
    let xml = MINIMAL.replacen("<cbc:Name>Paper, 2 reams</cbc:Name>", "", 1);
    assert_eq!(line_of(&xml, "BR-25"), Some(69));
    let xml = MINIMAL.replacen(">0.00</cbc:TaxAmount>", ">0.01</cbc:TaxAmount>", 1);
    assert_eq!(line_of(&xml, "BR-CO-17"), Some(43));
    let xml = MINIMAL.replacen(
        "<cbc:RegistrationName>Tulip Supplies B.V.</cbc:RegistrationName>",
        "",
        1,
    );
    assert_eq!(line_of(&xml, "BR-06"), Some(16));
    // JSON has no lines.
    let mut doc = parse_ubl(MINIMAL).unwrap();
    doc.number = None;
    let json = serde_json::to_string(&doc).unwrap();
    assert_eq!(read_json(&json).unwrap_err().violations()[0].line, None);
}

#[test]
fn mandatory_elements() {
    check(&[("<cbc:ID>INV-0042</cbc:ID>", "")], &["BR-02@cbc:ID"]);
    check(
        &[("<cbc:IssueDate>2025-03-01</cbc:IssueDate>", "")],
        &["BR-03@cbc:IssueDate"],
    );
    check(
        &[(
            "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
            "",
        )],
        &["BR-05@cbc:DocumentCurrencyCode"],
    );
    check(
        &[(
            "<cbc:RegistrationName>Tulip Supplies B.V.</cbc:RegistrationName>",
            "",
        )],
        &["BR-06@cac:AccountingSupplierParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"],
    );
    check(
        &[(
            "<cbc:RegistrationName>Accord Buyer GmbH</cbc:RegistrationName>",
            "",
        )],
        &["BR-07@cac:AccountingCustomerParty/cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"],
    );
    check(
        &[("<cbc:Name>Stapler</cbc:Name>", "")],
        &["BR-25@cac:InvoiceLine[1]/cac:Item/cbc:Name"],
    );
    check(
        &[("<cbc:DueDate>2025-04-30</cbc:DueDate>", "")],
        &["BR-CO-25@cbc:DueDate"],
    );
    check(
        &[(
            "<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>",
            "<cbc:DocumentCurrencyCode>XXQ</cbc:DocumentCurrencyCode>",
        )],
        &["BR-CL-04@cbc:DocumentCurrencyCode"],
    );
}

#[test]
fn every_line_missing_is_reported_with_all_totals() {
    let start = MINIMAL.find("  <cac:InvoiceLine>").unwrap();
    let end = MINIMAL.rfind("</Invoice>").unwrap();
    let xml = format!("{}{}", &MINIMAL[..start], &MINIMAL[end..]);
    let err = read_ubl(&xml).unwrap_err();
    let v = err.violations();
    for rule in ["BR-16", "BR-CO-10", "BR-S-08", "BR-Z-08"] {
        assert!(v.iter().any(|x| x.rule == rule), "{rule} missing in {err}");
    }
    assert!(err.to_string().starts_with("invoice breaks"), "{err}");
}

#[test]
fn foreign_currency_amounts_are_refused() {
    check(
        &[(
            "<cbc:Amount currencyID=\"EUR\">5.00</cbc:Amount>",
            "<cbc:Amount currencyID=\"USD\">5.00</cbc:Amount>",
        )],
        &["PEPPOL-EN16931-R051@cac:InvoiceLine[2]/cac:AllowanceCharge/cbc:Amount"],
    );
}

fn parse_err(xml: &str) -> ParseError {
    match read_ubl(xml) {
        Err(InvoiceError::Parse(e)) => e,
        other => panic!("expected a parse error, got {other:?}"),
    }
}

#[test]
fn unreadable_documents_get_typed_errors() {
    let e = parse_err(
        "<Invoice xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"><cbc:ID>1</Invoice>",
    );
    assert!(matches!(e, ParseError::Syntax { line: 1, .. }), "{e}");
    assert!(e.to_string().starts_with("malformed xml at line 1"), "{e}");

    let e = parse_err("<Order xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Order-2\"/>");
    assert_eq!(
        e.to_string(),
        "unexpected root element `Order` at line 1, column 1: expected `Invoice` or `CreditNote`"
    );
    let e = parse_err("<Invoice xmlns=\"urn:example:not-ubl\"/>");
    assert!(
        matches!(&e, ParseError::WrongNamespace { found, .. } if found == "urn:example:not-ubl"),
        "{e}"
    );
    let e =
        parse_err("<CreditNote xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2\"/>");
    assert!(matches!(e, ParseError::WrongNamespace { .. }), "{e}");
    assert!(matches!(parse_err(""), ParseError::Empty));
    let e = parse_err(&format!("{MINIMAL}<Invoice/>"));
    assert!(
        e.to_string()
            .contains("an element follows the root element"),
        "{e}"
    );
    // No DTDs: nothing can define entities or fetch external ones.
    let e = parse_err("<!DOCTYPE Invoice [<!ENTITY x \"y\">]><Invoice/>");
    assert!(
        e.to_string()
            .contains("document type declarations are not accepted"),
        "{e}"
    );
    let e = parse_err(&MINIMAL.replacen("Stapler", "&custom;", 1));
    assert!(e.to_string().contains("unknown entity `&custom;`"), "{e}");
    assert!(matches!(
        parse_err("<?xml version=\"1.0\"?>\n<!-- nothing -->"),
        ParseError::Empty
    ));

    let bad_date = MINIMAL.replacen("2025-03-01", "01/03/2025", 1);
    let e = parse_err(&bad_date);
    match &e {
        ParseError::Value {
            path, value, line, ..
        } => {
            assert_eq!(path, "cbc:IssueDate");
            assert_eq!(value, "01/03/2025");
            assert_eq!(*line, 10);
        }
        other => panic!("{other}"),
    }
    let bad_amount = MINIMAL.replacen(">30.00<", ">30,00<", 1);
    let e = parse_err(&bad_amount);
    assert!(
        matches!(&e, ParseError::Value { path, .. } if path == "cac:InvoiceLine[1]/cbc:LineExtensionAmount"),
        "{e}"
    );
    assert!(e.to_string().contains("expected a decimal number"), "{e}");
    // Absurd magnitudes are refused before any arithmetic can overflow.
    let huge = MINIMAL.replacen(">3<", ">79228162514264337593543950335<", 1);
    let e = parse_err(&huge);
    assert!(
        e.to_string().contains("at most 15 digits before the point"),
        "{e}"
    );
    // Two in-range numbers whose product overflows are a rule failure, not a panic.
    let big = MINIMAL.replacen(
        "<cbc:TaxableAmount currencyID=\"EUR\">28.00",
        "<cbc:TaxableAmount currencyID=\"EUR\">999999999999999",
        1,
    );
    let big = big.replacen("<cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent></cac:TaxCategory>\n    </cac:TaxSubtotal>", "<cbc:ID>S</cbc:ID><cbc:Percent>999999999999999</cbc:Percent></cac:TaxCategory>\n    </cac:TaxSubtotal>", 1);
    assert_ne!(big, MINIMAL);
    let err = read_ubl(&big).unwrap_err();
    assert!(
        err.violations()
            .iter()
            .any(|v| v.rule == "BR-CO-17" && v.message.contains("gives an overflow")),
        "{err}"
    );
    let fine = MINIMAL.replacen(">3<", ">0000000000000000003<", 1);
    assert!(read_ubl(&fine).is_ok());
}

#[test]
fn credit_notes_read_with_their_own_element_names() {
    let xml = MINIMAL
        .replace("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2")
        .replace("<Invoice ", "<CreditNote ")
        .replace("</Invoice>", "</CreditNote>")
        .replace("InvoiceTypeCode>380<", "CreditNoteTypeCode>381<")
        .replace("InvoiceTypeCode>", "CreditNoteTypeCode>")
        .replace("InvoiceLine>", "CreditNoteLine>")
        .replace("InvoicedQuantity", "CreditedQuantity")
        .replacen("<cac:OrderReference>", "<cac:BillingReference><cac:InvoiceDocumentReference><cbc:ID>INV-0041</cbc:ID></cac:InvoiceDocumentReference></cac:BillingReference>\n  <cac:OrderReference>", 1);
    let cn = read_ubl(&xml).unwrap();
    assert!(cn.is_credit_note());
    assert_eq!(cn.referenced_invoice(), Some("INV-0041"));
    assert_eq!(cn.document().lines.len(), 2);
    let broken = xml.replacen("<cbc:Name>Stapler</cbc:Name>", "", 1);
    let err = read_ubl(&broken).unwrap_err();
    assert_eq!(
        err.violations()[0].path,
        "cac:CreditNoteLine[1]/cac:Item/cbc:Name"
    );
}

#[test]
fn entities_and_cdata_are_decoded() {
    let xml = MINIMAL
        .replacen("Tulip Supplies B.V.", "Tulip &amp; Sons &#x42;.V.", 1)
        .replacen(
            "<cbc:Name>Stapler</cbc:Name>",
            "<cbc:Name><![CDATA[Stapler <heavy>]]></cbc:Name>",
            1,
        );
    let inv = read_ubl(&xml).unwrap();
    assert_eq!(
        inv.document().seller.registration_name.as_deref(),
        Some("Tulip & Sons B.V.")
    );
    assert_eq!(
        inv.document().lines[0].item.name.as_deref(),
        Some("Stapler <heavy>")
    );
}

#[test]
fn json_input_meets_the_same_rules() {
    let doc = parse_ubl(MINIMAL).unwrap();
    let json = serde_json::to_string(&doc).unwrap();
    let back = read_json(&json).unwrap();
    assert_eq!(back.document(), &doc);
    // Break a total in JSON: same rule, same path.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["totals"]["payable"] = serde_json::json!("49.00");
    let err = read_json(&v.to_string()).unwrap_err();
    assert_eq!(err.violations()[0].rule, "BR-CO-16");
    assert_eq!(
        err.violations()[0].path,
        "cac:LegalMonetaryTotal/cbc:PayableAmount"
    );
    // Amounts are JSON strings: a JSON number could have lost a decimal on the way.
    v["totals"]["payable"] = serde_json::json!(50.1);
    let err = read_json(&v.to_string()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the number `50.1` must be a string such as \"50.1\""),
        "{err}"
    );
    v["totals"]["payable"] = serde_json::json!("5e1");
    assert!(
        read_json(&v.to_string())
            .unwrap_err()
            .to_string()
            .contains("malformed decimal `5e1`")
    );
    // Unknown fields and bad JSON are parse errors, with a position.
    let err = read_json("{\"number\": \"1\", \"colour\": \"red\"}").unwrap_err();
    assert_eq!(err.code(), "invoice_malformed_json");
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}
