//! A tight loop of gate decisions, to profile the gate with `perf` outside criterion:
//! `cargo run --release -p accord-policy --example gate_loop -- 100000`.

use std::{sync::Arc, time::Instant};

use accord_core::{CategoryCode, Currency, Money, RegionCode, RiskTier, SizeClass};
use accord_policy::{
    Action, AgentKind, AutonomyLevel, AutonomyTable, CategoryAutonomy, Gate, GateEnv, GateRequest,
    KillSwitch, PolicySet, Principal, Resource,
};

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let gate = Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap();
    let autonomy = AutonomyTable::new(CategoryAutonomy::new(AutonomyLevel::ActAlone, 10_000));
    let kill = KillSwitch::Running;
    let env = GateEnv {
        fx: None,
        autonomy: &autonomy,
        kill_switch: &kill,
    };
    let req = GateRequest::new(
        Principal::agent(AgentKind::Negotiator, "1.0.0"),
        Action::NegotiationOffer,
        Resource::new("negotiation/1")
            .with_amount(Money::new(2_000_000, Currency::EUR))
            .with_category(CategoryCode::parse("office").unwrap())
            .with_region(RegionCode::parse("FR").unwrap())
            .with_supplier(RiskTier::Low, SizeClass::Small, false),
    );
    let t = Instant::now();
    let mut allowed = 0;
    for _ in 0..n {
        allowed += usize::from(gate.decide(&req, &env).is_allow());
    }
    let el = t.elapsed();
    println!(
        "{n} decisions, {allowed} allowed, {:?} each, {:.0}/s",
        el / n,
        f64::from(n) / el.as_secs_f64()
    );
}
