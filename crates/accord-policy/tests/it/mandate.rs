//! The mandate validator: typed violations, regional caps by supplier region and size,
//! concession limits, forbidden combinations and the walk-away point.

use std::{collections::BTreeMap, sync::Arc};

use accord_core::{Currency, Money, RegionCode, SizeClass};
use accord_policy::{
    Better, BuyerKind, Cmp, Condition, ForbiddenCombination, IssueBound, LinearCost, Mandate,
    MandateGuard, MoveKind, Offer, PaymentCap, RegionRules, Violation, WalkAway,
};
use chrono::{DateTime, TimeZone, Utc};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// Price per unit in cents (lower is better), payment days (higher is better), Incoterm.
fn mandate() -> Mandate {
    Mandate {
        issues: BTreeMap::from([
            (
                "price".to_owned(),
                IssueBound::Number {
                    min: 800,
                    max: 1_200,
                    better: Better::Lower,
                    max_step: Some(50),
                    max_total: Some(150),
                },
            ),
            (
                "payment_days".to_owned(),
                IssueBound::Number {
                    min: 0,
                    max: 120,
                    better: Better::Higher,
                    max_step: None,
                    max_total: None,
                },
            ),
            (
                "basis".to_owned(),
                IssueBound::Choice {
                    allowed: ["invoice_date", "end_of_month"].map(String::from).into(),
                },
            ),
            (
                "incoterm".to_owned(),
                IssueBound::Choice {
                    allowed: ["DAP", "DDP"].map(String::from).into(),
                },
            ),
        ]),
        walk_away: Some(WalkAway::MaxTotalCost {
            // 1,000 units; each payment day is worth 2 EUR of financing to the buyer.
            limit: Money::new(1_100_000, Currency::EUR),
            model: Arc::new(LinearCost {
                currency: Currency::EUR,
                fixed: 0,
                per_unit: BTreeMap::from([
                    ("price".to_owned(), 1_000),
                    ("payment_days".to_owned(), -200),
                ]),
                choices: BTreeMap::new(),
            }),
        }),
        forbidden: vec![ForbiddenCombination {
            id: "long-terms-need-low-price".to_owned(),
            all_of: vec![
                Condition::Number {
                    issue: "payment_days".into(),
                    cmp: Cmp::Gt,
                    value: 90,
                },
                Condition::Number {
                    issue: "price".into(),
                    cmp: Cmp::Gt,
                    value: 1_000,
                },
            ],
        }],
        valid_from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        payment_days_issue: Some("payment_days".into()),
        payment_basis_issue: Some("basis".into()),
    }
}

fn offer(price: i64, days: i64) -> Offer {
    Offer::new()
        .number("price", price)
        .number("payment_days", days)
        .choice("basis", "invoice_date")
        .choice("incoterm", "DAP")
}

fn guard(region: &str, size: SizeClass) -> MandateGuard {
    MandateGuard::for_supplier(
        Arc::new(mandate()),
        RegionRules::builtin(),
        &RegionCode::parse(region).unwrap(),
        size,
        BuyerKind::Private,
    )
    .unwrap()
}

/// Checks one acceptance with no history against `expected` (`None` = passes).
fn check(o: Offer, expected: Option<Violation>) {
    let g = MandateGuard::new(Arc::new(mandate()), PaymentCap::none());
    assert_eq!(g.check_accept(&o, now()).err(), expected, "{o:?}");
}

#[test]
fn bounds_kinds_and_completeness() {
    check(offer(1_000, 60), None);
    check(
        offer(1_201, 60),
        Some(Violation::OutOfBounds {
            issue: "price".into(),
            value: 1_201,
            min: 800,
            max: 1_200,
        }),
    );
    check(
        offer(1_000, 60).choice("incoterm", "EXW"),
        Some(Violation::ChoiceNotAllowed {
            issue: "incoterm".into(),
            value: "EXW".into(),
        }),
    );
    check(
        offer(1_000, 60).choice("price", "cheap"),
        Some(Violation::WrongKind {
            issue: "price".into(),
            value: "cheap".into(),
        }),
    );
    let mut missing = offer(1_000, 60);
    missing.0.remove("incoterm");
    check(
        missing,
        Some(Violation::MissingIssue {
            issue: "incoterm".into(),
        }),
    );
    check(
        offer(1_000, 60).number("volume", 5),
        Some(Violation::UnknownIssue {
            issue: "volume".into(),
        }),
    );
}

#[test]
fn forbidden_combinations_and_walk_away() {
    check(offer(1_000, 100), None);
    check(
        offer(1_001, 100),
        Some(Violation::Forbidden {
            id: "long-terms-need-low-price".into(),
        }),
    );
    // 1,150 EUR/unit at 30 days costs 1,150,000 - 6,000 = 1,144,000 > 1,100,000.
    check(
        offer(1_150, 30),
        Some(Violation::BeyondWalkAway {
            cost: Money::new(1_144_000, Currency::EUR),
            limit: Money::new(1_100_000, Currency::EUR),
        }),
    );
}

#[test]
fn the_validity_window_is_enforced() {
    let g = MandateGuard::new(Arc::new(mandate()), PaymentCap::none());
    let late = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
    assert!(matches!(
        g.check_accept(&offer(1_000, 60), late),
        Err(Violation::OutsideWindow { .. })
    ));
}

#[test]
fn concessions_are_limited_per_round_and_in_total() {
    let mut g = MandateGuard::new(Arc::new(mandate()), PaymentCap::none());
    g.check_offer(&offer(850, 90), now()).unwrap();
    assert_eq!(
        g.check_offer(&offer(901, 90), now()),
        Err(Violation::ConcessionPerRound {
            issue: "price".into(),
            step: 51,
            max: 50
        })
    );
    g.check_offer(&offer(900, 90), now()).unwrap();
    g.check_offer(&offer(950, 90), now()).unwrap();
    assert_eq!(
        g.check_offer(&offer(1_001, 80), now()),
        Err(Violation::ConcessionPerRound {
            issue: "price".into(),
            step: 51,
            max: 50
        })
    );
    g.check_offer(&offer(1_000, 80), now()).unwrap();
    // 150 above the first offer is the most the mandate allows in total, even to accept.
    assert_eq!(
        g.check_accept(&offer(1_001, 80), now()),
        Err(Violation::ConcessionTotal {
            issue: "price".into(),
            total: 151,
            max: 150
        })
    );
    // Improving for the buyer is never a concession.
    g.check_offer(&offer(820, 120), now()).unwrap();
}

/// An agent that extends payment terms one week at a time until the validator stops it;
/// returns the last accepted term.
fn extend_until_blocked(g: &mut MandateGuard, basis: &str) -> (i64, Violation) {
    let mut last = 0;
    for days in 30..=121 {
        let o = offer(950, days).choice("basis", basis);
        match g.check_offer(&o, now()) {
            Ok(()) => last = days,
            Err(v) => return (last, v),
        }
    }
    panic!("never blocked");
}

#[test]
fn regional_caps_stop_payment_term_extensions() {
    // India, micro supplier: MSMED Act s.15 stops the agent at 45 days.
    let (days, v) = extend_until_blocked(&mut guard("IN", SizeClass::Micro), "invoice_date");
    assert_eq!(days, 45);
    assert_eq!(
        v,
        Violation::RegionalCap {
            days: 46,
            cap: 45,
            rules: vec!["in.msmed-s15".into()]
        }
    );
    assert!(
        v.to_string()
            .contains("legal cap of 45 days (in.msmed-s15)"),
        "{v}"
    );
    // France: LME, 60 days from the invoice...
    let (days, v) = extend_until_blocked(&mut guard("FR", SizeClass::Large), "invoice_date");
    assert_eq!(days, 60);
    assert!(
        matches!(v, Violation::RegionalCap { cap: 60, ref rules, .. } if rules.contains(&"fr.lme.b2b".to_owned()))
    );
    // ...or 45 days end of month.
    let (days, _) = extend_until_blocked(&mut guard("FR", SizeClass::Large), "end_of_month");
    assert_eq!(days, 45);
    // An Indian medium supplier is not protected by s.15: the mandate's own bound rules.
    let (days, v) = extend_until_blocked(&mut guard("IN", SizeClass::Medium), "invoice_date");
    assert_eq!(days, 120);
    assert!(
        matches!(v, Violation::OutOfBounds { value: 121, .. }),
        "{v:?}"
    );
    // United States: no statutory cap between businesses; the agent goes on to the
    // mandate's own bound of 120 days.
    let (days, v) = extend_until_blocked(&mut guard("US", SizeClass::Micro), "invoice_date");
    assert_eq!(days, 120);
    assert!(
        matches!(v, Violation::OutOfBounds { value: 121, .. }),
        "{v:?}"
    );
    // Still, the mandate's forbidden combination holds there too.
    let g = guard("US", SizeClass::Micro);
    assert!(matches!(
        g.check_accept(&offer(1_050, 100), now()),
        Err(Violation::Forbidden { .. })
    ));
}

#[test]
fn violations_serialise_for_the_decision_log() {
    let v = Violation::RegionalCap {
        days: 46,
        cap: 45,
        rules: vec!["in.msmed-s15".into()],
    };
    assert_eq!(
        serde_json::to_value(&v).unwrap(),
        serde_json::json!({"violation": "regional_cap", "days": 46, "cap": 45, "rules": ["in.msmed-s15"]})
    );
    let _ = MoveKind::Accept;
}
