//! Adversarial property test of the mandate validator: random, malicious and buggy
//! strategies make at least 1,000,000 moves (1,000 cases × 1,000 moves by default) against
//! random mandates, and an independent checker written here, plainly, confirms that every
//! move the validator lets through is inside the mandate, and that every move it blocks is
//! outside: zero escapes, zero false blocks.
//!
//! Scale with `PROPTEST_CASES` (cases) and `ACCORD_MANDATE_MOVES` (moves per case).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use accord_core::{Currency, Money};
use accord_policy::{
    Better, Cmp, Condition, ForbiddenCombination, IssueBound, IssueValue, LinearCost, Mandate,
    MandateGuard, MoveKind, Offer, PaymentCap, UtilityModel, WalkAway,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::test_runner::{Config, TestRunner};
use rand::{Rng, SeedableRng, rngs::StdRng};

const CHOICES: &[&str] = &["a", "b", "c", "d", "end_of_month", "zz"];

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// A utility that is a plain normalised function of the numeric issues, to exercise the
/// utility floor (the checker calls the same model: it is the caller's valuation).
#[derive(Debug)]
struct SumUtility {
    issues: Vec<(String, i64, i64, Better)>,
}

impl UtilityModel for SumUtility {
    fn utility(&self, offer: &Offer) -> Option<f64> {
        let mut u = 0.0;
        for (issue, min, max, better) in &self.issues {
            let v = offer.get_number(issue)? as f64;
            let span = (*max - *min).max(1) as f64;
            let x = (v - *min as f64) / span;
            u += match better {
                Better::Lower => 1.0 - x,
                Better::Higher => x,
            };
        }
        Some(u / self.issues.len().max(1) as f64)
    }
}

fn random_mandate(rng: &mut StdRng) -> (Mandate, PaymentCap) {
    let mut issues = BTreeMap::new();
    let mut numeric = Vec::new();
    for i in 0..rng.random_range(1..=4) {
        let a = rng.random_range(-1_000..=1_000);
        let b = rng.random_range(-1_000..=1_000);
        let (min, max) = (a.min(b), a.max(b));
        let better = if rng.random_bool(0.5) {
            Better::Lower
        } else {
            Better::Higher
        };
        let name = format!("n{i}");
        issues.insert(
            name.clone(),
            IssueBound::Number {
                min,
                max,
                better,
                max_step: rng.random_bool(0.6).then(|| rng.random_range(0..=200)),
                max_total: rng.random_bool(0.6).then(|| rng.random_range(0..=600)),
            },
        );
        numeric.push((name, min, max, better));
    }
    let mut choice = Vec::new();
    for i in 0..rng.random_range(0..=2) {
        let allowed: BTreeSet<String> = CHOICES[..5]
            .iter()
            .filter(|_| rng.random_bool(0.6))
            .map(|c| (*c).to_owned())
            .collect();
        let name = format!("c{i}");
        issues.insert(name.clone(), IssueBound::Choice { allowed });
        choice.push(name);
    }
    let mut forbidden = Vec::new();
    for f in 0..rng.random_range(0..=2) {
        let mut all_of = Vec::new();
        for _ in 0..rng.random_range(1..=2) {
            if !choice.is_empty() && rng.random_bool(0.3) {
                let issue = choice[rng.random_range(0..choice.len())].clone();
                let one_of = CHOICES
                    .iter()
                    .filter(|_| rng.random_bool(0.5))
                    .map(|c| (*c).to_owned())
                    .collect();
                all_of.push(Condition::Choice { issue, one_of });
            } else {
                let (issue, min, max, _) = &numeric[rng.random_range(0..numeric.len())];
                let cmp =
                    [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne][rng.random_range(0..6)];
                all_of.push(Condition::Number {
                    issue: issue.clone(),
                    cmp,
                    value: rng.random_range(*min - 5..=*max + 5),
                });
            }
        }
        forbidden.push(ForbiddenCombination {
            id: format!("f{f}"),
            all_of,
        });
    }
    let walk_away = match rng.random_range(0..3) {
        0 => None,
        1 => {
            let per_unit = numeric
                .iter()
                .map(|(n, ..)| (n.clone(), rng.random_range(-5..=5)))
                .collect();
            let choices = choice
                .iter()
                .map(|c| {
                    let mut costs = BTreeMap::new();
                    for o in &CHOICES[..5] {
                        if rng.random_bool(0.8) {
                            costs.insert((*o).to_owned(), rng.random_range(-100..=100));
                        }
                    }
                    (c.clone(), costs)
                })
                .collect();
            Some(WalkAway::MaxTotalCost {
                limit: Money::new(rng.random_range(-3_000..=3_000), Currency::EUR),
                model: Arc::new(LinearCost {
                    currency: Currency::EUR,
                    fixed: rng.random_range(-500..=500),
                    per_unit,
                    choices,
                }),
            })
        }
        _ => Some(WalkAway::MinUtility {
            floor: rng.random_range(0.0..0.8),
            model: Arc::new(SumUtility {
                issues: numeric.clone(),
            }),
        }),
    };
    let mandate = Mandate {
        issues,
        walk_away,
        forbidden,
        valid_from: t0(),
        valid_until: t0() + Duration::hours(rng.random_range(1..=1_000)),
        payment_days_issue: rng.random_bool(0.7).then(|| "n0".to_owned()),
        payment_basis_issue: (!choice.is_empty() && rng.random_bool(0.7)).then(|| "c0".to_owned()),
    };
    let cap = PaymentCap {
        invoice_date: rng.random_bool(0.6).then(|| rng.random_range(0..=1_000)),
        end_of_month: rng.random_bool(0.6).then(|| rng.random_range(0..=1_000)),
        rule_ids: vec!["test.cap".into()],
    };
    (mandate, cap)
}

/// The independent checker: is `offer` inside the mandate? Written from the rules, not
/// from the validator's code.
fn inside(
    m: &Mandate,
    cap: &PaymentCap,
    kind: MoveKind,
    offer: &Offer,
    now: DateTime<Utc>,
    previous: Option<&Offer>,
    first: Option<&Offer>,
) -> bool {
    if !(m.valid_from <= now && now < m.valid_until) {
        return false;
    }
    let keys: BTreeSet<&String> = offer.0.keys().collect();
    let bounded: BTreeSet<&String> = m.issues.keys().collect();
    if keys != bounded {
        return false;
    }
    let end_of_month = m
        .payment_basis_issue
        .as_ref()
        .is_some_and(|i| offer.0.get(i) == Some(&IssueValue::Choice("end_of_month".into())));
    for (name, bound) in &m.issues {
        let value = &offer.0[name];
        match (bound, value) {
            (
                IssueBound::Number {
                    min,
                    max,
                    better,
                    max_step,
                    max_total,
                },
                IssueValue::Number(v),
            ) => {
                if v < min || v > max {
                    return false;
                }
                if m.payment_days_issue.as_ref() == Some(name) {
                    let legal = if end_of_month {
                        cap.end_of_month
                    } else {
                        cap.invoice_date
                    };
                    if legal.is_some_and(|c| *v > i64::from(c)) {
                        return false;
                    }
                }
                let worse_by = |reference: &Offer| -> i128 {
                    let r = match reference.0.get(name) {
                        Some(IssueValue::Number(r)) => i128::from(*r),
                        _ => return 0,
                    };
                    match better {
                        Better::Lower => i128::from(*v) - r,
                        Better::Higher => r - i128::from(*v),
                    }
                };
                if kind == MoveKind::Offer
                    && let (Some(step), Some(p)) = (max_step, previous)
                    && worse_by(p) > i128::from(*step)
                {
                    return false;
                }
                if let (Some(total), Some(f)) = (max_total, first)
                    && worse_by(f) > i128::from(*total)
                {
                    return false;
                }
            }
            (IssueBound::Choice { allowed }, IssueValue::Choice(c)) => {
                if !allowed.contains(c) {
                    return false;
                }
            }
            _ => return false,
        }
    }
    for f in &m.forbidden {
        let all = f.all_of.iter().all(|c| match c {
            Condition::Number { issue, cmp, value } => match offer.0.get(issue) {
                Some(IssueValue::Number(v)) => match cmp {
                    Cmp::Lt => v < value,
                    Cmp::Le => v <= value,
                    Cmp::Gt => v > value,
                    Cmp::Ge => v >= value,
                    Cmp::Eq => v == value,
                    Cmp::Ne => v != value,
                },
                _ => false,
            },
            Condition::Choice { issue, one_of } => match offer.0.get(issue) {
                Some(IssueValue::Choice(c)) => one_of.contains(c),
                _ => false,
            },
        });
        if all {
            return false;
        }
    }
    match &m.walk_away {
        None => true,
        Some(WalkAway::MaxTotalCost { limit, model }) => model
            .total_cost(offer)
            .is_some_and(|c| c.currency == limit.currency && c.minor <= limit.minor),
        Some(WalkAway::MinUtility { floor, model }) => model
            .utility(offer)
            .is_some_and(|u| u.is_finite() && u >= *floor),
    }
}

#[derive(Clone, Copy, Debug)]
enum Strategy {
    Random,
    Malicious,
    Buggy,
}

/// A move from one of the adversaries, built from the last offer that passed.
fn next_offer(rng: &mut StdRng, m: &Mandate, strategy: Strategy, last: Option<&Offer>) -> Offer {
    let mut o = Offer::new();
    for (name, bound) in &m.issues {
        let prev = last.and_then(|l| l.0.get(name));
        let value = match (bound, strategy) {
            (IssueBound::Number { min, max, .. }, Strategy::Random) => {
                IssueValue::Number(rng.random_range(*min - 60..=*max + 60))
            }
            (
                IssueBound::Number {
                    min, max, max_step, ..
                },
                Strategy::Malicious,
            ) => {
                let p = match prev {
                    Some(IssueValue::Number(p)) => *p,
                    _ => (*min + *max) / 2,
                };
                let s = max_step.unwrap_or(10);
                let candidates = [
                    *min - 1,
                    *min,
                    *max,
                    *max + 1,
                    p + s,
                    p + s + 1,
                    p - s,
                    p - s - 1,
                    i64::MIN,
                    i64::MAX,
                    0,
                    30,
                    45,
                    60,
                ];
                IssueValue::Number(candidates[rng.random_range(0..candidates.len())])
            }
            (
                IssueBound::Number {
                    min,
                    max,
                    better,
                    max_step,
                    ..
                },
                Strategy::Buggy,
            ) => {
                // Concedes steadily, sometimes overshooting the step; drifts past bounds.
                let p = match prev {
                    Some(IssueValue::Number(p)) => *p,
                    _ => match better {
                        Better::Lower => *min,
                        Better::Higher => *max,
                    },
                };
                let s = rng.random_range(0..=2 * max_step.unwrap_or(40) + 1);
                IssueValue::Number(match better {
                    Better::Lower => p.saturating_add(s),
                    Better::Higher => p.saturating_sub(s),
                })
            }
            (IssueBound::Choice { allowed }, _) => {
                if rng.random_bool(0.8) && !allowed.is_empty() {
                    let all: Vec<&String> = allowed.iter().collect();
                    IssueValue::Choice(all[rng.random_range(0..all.len())].clone())
                } else {
                    IssueValue::Choice(CHOICES[rng.random_range(0..CHOICES.len())].to_owned())
                }
            }
        };
        o.0.insert(name.clone(), value);
    }
    // Malformed offers: a missing issue, an extra one, a wrong kind.
    if matches!(strategy, Strategy::Malicious | Strategy::Buggy) && rng.random_bool(0.03) {
        match rng.random_range(0..3) {
            0 => {
                let k = o.0.keys().next().cloned().expect("at least one issue");
                o.0.remove(&k);
            }
            1 => {
                o.0.insert("smuggled".into(), IssueValue::Number(1));
            }
            _ => {
                let k = o.0.keys().next().cloned().expect("at least one issue");
                let wrong = match &o.0[&k] {
                    IssueValue::Number(_) => IssueValue::Choice("a".into()),
                    IssueValue::Choice(_) => IssueValue::Number(1),
                };
                o.0.insert(k, wrong);
            }
        }
    }
    o
}

#[test]
fn no_move_outside_the_mandate_escapes() {
    let cases = env_or("PROPTEST_CASES", 1_000);
    let moves = env_or("ACCORD_MANDATE_MOVES", 1_000);
    let total = AtomicU64::new(0);
    let passed = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::num::u64::ANY, |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let (mandate, cap) = random_mandate(&mut rng);
            let mut guard = MandateGuard::new(Arc::new(mandate.clone()), cap.clone());
            let (mut first, mut previous): (Option<Offer>, Option<Offer>) = (None, None);
            let window = (mandate.valid_until - mandate.valid_from).num_seconds();
            for i in 0..moves {
                let strategy = [Strategy::Random, Strategy::Malicious, Strategy::Buggy]
                    [rng.random_range(0..3)];
                let o = next_offer(&mut rng, &mandate, strategy, previous.as_ref());
                let now = mandate.valid_from
                    + Duration::seconds(rng.random_range(-window / 20..=window + window / 20));
                let kind = if rng.random_bool(0.8) {
                    MoveKind::Offer
                } else {
                    MoveKind::Accept
                };
                let verdict = match kind {
                    MoveKind::Offer => guard.check_offer(&o, now),
                    MoveKind::Accept => guard.check_accept(&o, now),
                };
                let expected = inside(
                    &mandate,
                    &cap,
                    kind,
                    &o,
                    now,
                    previous.as_ref(),
                    first.as_ref(),
                );
                proptest::prop_assert_eq!(
                    verdict.is_ok(),
                    expected,
                    "seed {} move {} {:?} {:?}: {:?} on {:?}",
                    seed,
                    i,
                    strategy,
                    kind,
                    verdict,
                    o
                );
                if verdict.is_ok() {
                    passed.fetch_add(1, Ordering::Relaxed);
                    if kind == MoveKind::Offer {
                        first.get_or_insert_with(|| o.clone());
                        previous = Some(o);
                    }
                }
            }
            total.fetch_add(u64::from(moves), Ordering::Relaxed);
            Ok(())
        })
        .unwrap();
    let (total, passed) = (total.into_inner(), passed.into_inner());
    assert_eq!(total, u64::from(cases) * u64::from(moves));
    // Not vacuous: the adversaries both get moves through and get moves blocked.
    assert!(
        passed * 100 >= total,
        "only {passed} of {total} moves passed"
    );
    assert!(
        passed * 100 <= total * 95,
        "{passed} of {total} moves passed"
    );
    eprintln!("mandate validator: {total} moves, {passed} passed, 0 escapes");
}
