//! Criterion benches: gate decisions per second with the default pack, and mandate
//! validation per offer. Figures and method are recorded in the crate's report.

use std::{hint::black_box, sync::Arc};

use accord_core::{CategoryCode, Currency, Money, RegionCode, RiskTier, SizeClass};
use accord_policy::{
    Action, AgentKind, AutonomyLevel, AutonomyTable, CategoryAutonomy, Gate, GateEnv, GateRequest,
    KillSwitch, PolicySet, Principal, Resource, Role,
};
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
    g.finish();
}

criterion_group!(benches, gate);
criterion_main!(benches);
