//! Contract compliance and savings realisation on known scenarios with exact figures.

use std::collections::HashMap;

use accord_core::{
    CategoryCode, Currency, Money,
    document::{Contract, ContractPrice, ContractTerms, Invoice, InvoiceKind, InvoiceLine},
    id::{CampaignId, ContractId, InvoiceId, SupplierId},
    lifecycle::{ContractState, InvoiceState},
};
use accord_p2p::compliance::{
    LineVerdict, NegotiatedPrice, SavingsBook, TermsVerdict, check_compliance, savings_for_invoice,
};
use chrono::NaiveDate;
use rust_decimal::Decimal;

fn eur(cents: i64) -> Money {
    Money::new(cents, Currency::EUR)
}

fn day(m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, m, d).unwrap()
}

fn contract() -> Contract {
    Contract {
        id: ContractId::from_parts(0, 1),
        external_ref: "CT-1".into(),
        supplier: SupplierId::from_parts(0, 1),
        category: CategoryCode::parse("office").unwrap(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: [("A", 1000), ("B", 500), ("C", 200)]
                .iter()
                .map(|(s, p)| ContractPrice {
                    sku: s.to_string(),
                    unit_price: eur(*p),
                })
                .collect(),
            payment_days: 60,
            lead_time_days: 10,
            valid_from: day(1, 1),
            valid_to: day(12, 31),
        },
        state: ContractState::Active,
    }
}

/// Lines: (sku, quantity, net cents).
fn invoice(supplier: u128, lines: &[(&str, i64, i64)], due: Option<NaiveDate>) -> Invoice {
    let lines: Vec<InvoiceLine> = lines
        .iter()
        .enumerate()
        .map(|(i, (sku, q, net))| InvoiceLine {
            line_id: (i + 1).to_string(),
            po_line: None,
            sku: Some(sku.to_string()),
            description: String::new(),
            quantity: Decimal::from(*q),
            unit: "EA".into(),
            unit_price: eur(net / q),
            net_amount: eur(*net),
        })
        .collect();
    let total = Money::sum(Currency::EUR, lines.iter().map(|l| l.net_amount)).unwrap();
    Invoice {
        id: InvoiceId::from_parts(0, supplier),
        kind: InvoiceKind::Invoice,
        number: "I-1".into(),
        supplier: SupplierId::from_parts(0, supplier),
        issue_date: day(3, 1),
        due_date: due,
        currency: Currency::EUR,
        order_ref: None,
        contract_ref: Some("CT-1".into()),
        lines,
        referenced_invoice: None,
        tax_exclusive: total,
        tax: eur(0),
        payable: total,
        state: InvoiceState::Received,
    }
}

const LINES: &[(&str, i64, i64)] = &[
    ("A", 10, 10_000),
    ("B", 4, 2_100),
    ("C", 3, 600),
    ("D", 1, 999),
];

#[test]
fn line_prices_and_terms_against_the_contract() {
    let r = check_compliance(&invoice(1, LINES, Some(day(4, 30))), &contract());
    let verdicts: Vec<_> = r.lines.iter().map(|l| l.verdict.clone()).collect();
    assert_eq!(
        verdicts,
        vec![
            LineVerdict::Compliant,
            LineVerdict::AboveContractPrice {
                contract: eur(500),
                invoiced: "5.25".parse().unwrap()
            },
            LineVerdict::Compliant,
            LineVerdict::NotOnContract,
        ]
    );
    assert_eq!(r.tally.rate(), Some(Decimal::new(5, 1)));
    // Issued 1 March + 60 days = 30 April.
    assert_eq!(
        r.terms,
        TermsVerdict::Compliant {
            due: day(4, 30),
            agreed_due: day(4, 30)
        }
    );
    assert_eq!(r.tally.terms_rate(), Some(Decimal::ONE));

    let early = check_compliance(&invoice(1, LINES, Some(day(4, 15))), &contract());
    assert_eq!(
        early.terms,
        TermsVerdict::Early {
            due: day(4, 15),
            agreed_due: day(4, 30),
            days_early: 15
        }
    );
    assert_eq!(early.tally.terms_rate(), Some(Decimal::ZERO));
    let none = check_compliance(&invoice(1, LINES, None), &contract());
    assert_eq!(none.terms, TermsVerdict::NoDueDate);
    assert_eq!(none.tally.terms_rate(), None);

    // Tallies add up across invoices: 2 + 2 compliant lines of 4 + 4.
    let mut total = r.tally;
    total.merge(&early.tally);
    assert_eq!((total.compliant_lines, total.lines), (4, 8));
    assert_eq!(total.terms_rate(), Some(Decimal::new(5, 1)));

    let mut expired = contract();
    expired.terms.valid_to = day(2, 28);
    let r = check_compliance(&invoice(1, LINES, None), &expired);
    assert!(
        r.lines
            .iter()
            .all(|l| l.verdict == LineVerdict::ContractInactive)
    );
    assert_eq!(r.tally.rate(), Some(Decimal::ZERO));
}

fn negotiated() -> HashMap<String, NegotiatedPrice> {
    [("A", 1200, 1000), ("B", 600, 500), ("C", 200, 200)]
        .iter()
        .map(|(s, b, c)| {
            (
                s.to_string(),
                NegotiatedPrice {
                    sku: s.to_string(),
                    baseline: eur(*b),
                    contract: eur(*c),
                },
            )
        })
        .collect()
}

#[test]
fn savings_realisation_is_exact() {
    // A: negotiated (12 - 10) x 10 = 20, realised 120 - 100 = 20.
    // B: negotiated (6 - 5) x 4 = 4, realised 24 - 21 = 3.
    // C: nothing negotiated, nothing realised. D: no negotiated price, ignored.
    let t = savings_for_invoice(&invoice(1, LINES, None), &negotiated());
    assert_eq!(t.negotiated, Decimal::from(24));
    assert_eq!(t.realised, Decimal::from(23));
    assert_eq!(t.lines, 3);
    assert_eq!(t.rate(), Some(Decimal::from(23) / Decimal::from(24)));
    assert_eq!(t.realised_money().unwrap(), eur(2300));
    assert_eq!(t.negotiated_money().unwrap(), eur(2400));

    // A credit note for 2 units of B at the invoiced 5.25 reverses 2 of negotiated and
    // 2 x 6 - 10.50 = 1.50 of realised.
    let mut cn = invoice(1, &[("B", 2, 1_050)], None);
    cn.kind = InvoiceKind::CreditNote;
    let c = savings_for_invoice(&cn, &negotiated());
    assert_eq!(
        (c.negotiated, c.realised),
        (Decimal::from(-2), Decimal::new(-150, 2))
    );

    // Per campaign and per supplier.
    let campaign = CampaignId::from_parts(0, 9);
    let mut book = SavingsBook::default();
    book.record(Some(campaign), SupplierId::from_parts(0, 1), &t);
    book.record(Some(campaign), SupplierId::from_parts(0, 1), &c);
    let t2 = savings_for_invoice(&invoice(2, &[("A", 5, 5_500)], None), &negotiated());
    book.record(Some(campaign), SupplierId::from_parts(0, 2), &t2);
    book.record(None, SupplierId::from_parts(0, 2), &t2);
    let camp = book.by_campaign[&(campaign, Currency::EUR)];
    // 24 - 2 + 10 negotiated; 23 - 1.50 + 5 realised.
    assert_eq!(camp.negotiated, Decimal::from(32));
    assert_eq!(camp.realised, Decimal::new(2650, 2));
    assert_eq!(camp.rate(), Some(Decimal::new(2650, 2) / Decimal::from(32)));
    let s2 = book.by_supplier[&(SupplierId::from_parts(0, 2), Currency::EUR)];
    assert_eq!(
        (s2.negotiated, s2.realised),
        (Decimal::from(20), Decimal::from(10))
    );
}
