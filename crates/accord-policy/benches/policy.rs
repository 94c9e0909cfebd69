//! Criterion benches: gate decisions per second with the default pack, and mandate
//! validation per offer. Figures and method are recorded in the crate's report.

use std::{
    collections::{BTreeMap, HashSet},
    hint::black_box,
    str::FromStr,
    sync::Arc,
};

use accord_core::{CategoryCode, Currency, Money, RegionCode, RiskTier, SizeClass};
use accord_policy::{
    Action, AgentKind, AutonomyLevel, AutonomyTable, Better, BuyerKind, CategoryAutonomy, Cmp,
    Condition, ForbiddenCombination, Gate, GateEnv, GateRequest, IssueBound, KillSwitch,
    LinearCost, Mandate, MandateGuard, MoveKind, Offer, PolicySet, Principal, RegionRules,
    Resource, Role, WalkAway,
};
use chrono::{TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn deal(eur: i64, risk: RiskTier) -> Resource {
    Resource::new("negotiation/0190a1b2")
        .with_amount(Money::new(eur * 100, Currency::EUR))
        .with_category(CategoryCode::parse("office").unwrap())
        .with_region(RegionCode::parse("FR").unwrap())
        .with_supplier(risk, SizeClass::Small, false)
}

fn gate(c: &mut Criterion) {
    let gate = Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap();
    let autonomy = AutonomyTable::new(CategoryAutonomy::new(AutonomyLevel::ActAlone, 10_000));
    let kill = KillSwitch::Running;
    let env = GateEnv {
        fx: None,
        autonomy: &autonomy,
        kill_switch: &kill,
    };
    let agent = Principal::agent(AgentKind::Negotiator, "1.0.0");
    let allow = GateRequest::new(
        agent.clone(),
        Action::NegotiationOffer,
        deal(20_000, RiskTier::Low),
    );
    let escalate = GateRequest::new(
        agent,
        Action::NegotiationAccept,
        deal(80_000, RiskTier::High),
    );
    let treasurer = GateRequest::new(
        Principal::user("tom", &[Role::Treasurer]),
        Action::PaymentRelease,
        deal(900, RiskTier::Low)
            .with_requester("rita")
            .with_approver("ann")
            .with_goods_receipt(true),
    );
    let mut g = c.benchmark_group("gate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("agent_allow", |b| {
        b.iter(|| gate.decide(black_box(&allow), &env))
    });
    g.bench_function("agent_needs_approval", |b| {
        b.iter(|| gate.decide(black_box(&escalate), &env))
    });
    g.bench_function("user_payment_release", |b| {
        b.iter(|| gate.decide(black_box(&treasurer), &env))
    });
    // A negotiation: every move asks about a different amount (under 50,000 EUR).
    let moves: Vec<GateRequest> = (0..997)
        .map(|i| {
            let mut r = allow.clone();
            r.resource.amount = Some(Money::new(1_000_000 + i * 3_517, Currency::EUR));
            r
        })
        .collect();
    let mut i = 0;
    g.bench_function("agent_allow_new_amount_each_move", |b| {
        b.iter(|| {
            i = (i + 1) % moves.len();
            gate.decide(black_box(&moves[i]), &env)
        })
    });
    let uncached = Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR)
        .unwrap()
        .uncached();
    g.bench_function("agent_allow_uncached", |b| {
        b.iter(|| uncached.decide(black_box(&allow), &env))
    });
    g.bench_function("agent_needs_approval_uncached", |b| {
        b.iter(|| uncached.decide(black_box(&escalate), &env))
    });
    let unsliced = Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR)
        .unwrap()
        .unsliced();
    g.bench_function("agent_allow_unsliced", |b| {
        b.iter(|| unsliced.decide(black_box(&allow), &env))
    });
    g.bench_function("bare_cedar_3_policies", bare_cedar());
    g.finish();
}

/// The yardstick: a bare Cedar authorizer with three small policies, entities built per
/// request as the gate does.
fn bare_cedar() -> impl FnMut(&mut criterion::Bencher) {
    use cedar_policy::{
        Authorizer, Context, Entities, Entity, EntityUid, PolicySet as Cedar, Request,
        RestrictedExpression,
    };
    let policies = Cedar::from_str(
        r#"permit(principal, action == Action::"view", resource) when { resource.amount < 100 };
           forbid(principal, action == Action::"view", resource) when { resource.risk == "high" };
           permit(principal in Group::"admins", action, resource);"#,
    )
    .unwrap();
    let auth = Authorizer::new();
    let p = EntityUid::from_str(r#"User::"alice""#).unwrap();
    let a = EntityUid::from_str(r#"Action::"view""#).unwrap();
    let r = EntityUid::from_str(r#"Doc::"d1""#).unwrap();
    let group = EntityUid::from_str(r#"Group::"users""#).unwrap();
    move |b| {
        b.iter(|| {
            let res = Entity::new_with_tags(
                r.clone(),
                [
                    ("amount".to_owned(), RestrictedExpression::new_long(50)),
                    (
                        "risk".to_owned(),
                        RestrictedExpression::new_string("low".to_owned()),
                    ),
                ],
                [],
                [],
            )
            .unwrap();
            let pe = Entity::new_no_attrs(p.clone(), HashSet::from([group.clone()]));
            let es = Entities::from_entities([res, pe], None).unwrap();
            let req =
                Request::new(p.clone(), a.clone(), r.clone(), Context::empty(), None).unwrap();
            auth.is_authorized(&req, &policies, &es).decision()
        })
    }
}

fn mandate(c: &mut Criterion) {
    let m = Mandate {
        issues: BTreeMap::from([
            (
                "price".to_owned(),
                IssueBound::Number {
                    min: 800,
                    max: 1_200,
                    better: Better::Lower,
                    max_step: Some(50),
                    max_total: Some(300),
                },
            ),
            (
                "payment_days".to_owned(),
                IssueBound::Number {
                    min: 0,
                    max: 120,
                    better: Better::Higher,
                    max_step: Some(15),
                    max_total: None,
                },
            ),
            (
                "lead_time".to_owned(),
                IssueBound::Number {
                    min: 1,
                    max: 30,
                    better: Better::Lower,
                    max_step: None,
                    max_total: None,
                },
            ),
            (
                "contract_months".to_owned(),
                IssueBound::Choice {
                    allowed: ["12", "24", "36"].map(String::from).into(),
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
            limit: Money::new(1_150_000, Currency::EUR),
            model: Arc::new(LinearCost {
                currency: Currency::EUR,
                fixed: 0,
                per_unit: BTreeMap::from([
                    ("price".to_owned(), 1_000),
                    ("payment_days".to_owned(), -200),
                    ("lead_time".to_owned(), 50),
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
                    value: 60,
                },
                Condition::Number {
                    issue: "price".into(),
                    cmp: Cmp::Gt,
                    value: 1_000,
                },
            ],
        }],
        valid_from: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        valid_until: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
        payment_days_issue: Some("payment_days".into()),
        payment_basis_issue: None,
    };
    let cap = RegionRules::builtin()
        .payment_cap(
            &RegionCode::parse("FR").unwrap(),
            SizeClass::Small,
            BuyerKind::Private,
        )
        .unwrap();
    let offer = |price: i64, days: i64| {
        Offer::new()
            .number("price", price)
            .number("payment_days", days)
            .number("lead_time", 10)
            .choice("contract_months", "24")
            .choice("incoterm", "DAP")
    };
    let mut guard = MandateGuard::new(Arc::new(m), cap);
    let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
    guard.check_offer(&offer(900, 45), now).unwrap();
    let ok = offer(940, 55);
    let blocked = offer(940, 75); // over the LME's 60 days
    let mut g = c.benchmark_group("mandate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("validate_offer_pass", |b| {
        b.iter(|| guard.check(MoveKind::Offer, black_box(&ok), now))
    });
    g.bench_function("validate_offer_blocked", |b| {
        b.iter(|| guard.check(MoveKind::Offer, black_box(&blocked), now))
    });
    g.finish();
}

criterion_group!(benches, gate, mandate);
criterion_main!(benches);
