//! Whole negotiations: the flagship against the baselines on real domains, MESO offers,
//! rationales, and the tournament's shape.

use std::path::Path;

use accord_negotiate::Scenario;
use accord_negotiate::load::{load_domain_dir, load_domains_dir};
use accord_negotiate::protocol::{Deadline, Move, Phase, ProtocolKind};
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::{AgentKind, Binding, Context};
use accord_negotiate::tournament::{self, TournamentConfig};

use crate::GENIUS;

fn scenario(name: &str) -> Scenario {
    load_domain_dir(&Path::new(GENIUS).join(name)).unwrap()
}

/// Plays `a` against `b` on `domain` and checks whether they agree and the flagship's
/// advantage when it plays.
fn check(domain: &str, a: AgentKind, b: AgentKind, agree: bool, min_advantage: [f64; 2]) {
    let s = scenario(domain);
    let mut sa = a.build(&Context::of(&s, 0));
    let mut sb = b.build(&Context::of(&s, 1));
    let t = session::run(
        &s,
        sa.as_mut(),
        sb.as_mut(),
        &SessionConfig::rounds(100, 1),
        &mut || 0,
    );
    let m = t.metrics(&s);
    assert_eq!(m.agreement, agree, "{domain} {a} vs {b}: {:?}", t.phase);
    for (adv, min) in m.advantage.iter().zip(min_advantage) {
        assert!(
            *adv >= min,
            "{domain} {a} vs {b}: advantage {:?}",
            m.advantage
        );
    }
}

#[test]
fn flagship_deals() {
    check(
        "Camera",
        AgentKind::Accord,
        AgentKind::Accord,
        true,
        [0.7, 0.7],
    );
    check(
        "Camera",
        AgentKind::Accord,
        AgentKind::Conceder,
        true,
        [0.9, 0.0],
    );
    check(
        "Grocery",
        AgentKind::Boulware,
        AgentKind::Accord,
        true,
        [0.0, 0.7],
    );
    check(
        "Laptop",
        AgentKind::Micro,
        AgentKind::Accord,
        true,
        [0.0, 0.0],
    );
    check(
        "Barter",
        AgentKind::Accord,
        AgentKind::Linear,
        true,
        [0.0, 0.0],
    );
}

#[test]
fn meso_offers_are_equivalent_for_the_buyer_and_explained() {
    let s = scenario("Camera");
    let mut buyer = AgentKind::Accord.build(&Context::of(&s, 0));
    let mut supplier = AgentKind::Boulware.build(&Context::of(&s, 1));
    let config = SessionConfig {
        kind: ProtocolKind::Meso { k: 3 },
        deadline: Deadline {
            rounds: 100,
            micros: None,
        },
        seed: 3,
        explain: true,
    };
    let t = session::run(&s, buyer.as_mut(), supplier.as_mut(), &config, &mut || 0);
    assert!(matches!(t.phase, Phase::Agreed { .. }), "{:?}", t.phase);
    let mut sets = 0;
    for r in t.history.iter().filter(|r| r.side.index() == 0) {
        if let Move::Offer(set) = r.mv {
            let u: Vec<f64> = set.as_slice().iter().map(|&k| s.tables[0].get(k)).collect();
            assert!(
                u.iter().all(|x| (x - u[0]).abs() <= 0.02 + 1e-9),
                "options {u:?} differ for the buyer"
            );
            sets += usize::from(set.len() > 1);
        }
    }
    assert!(sets > 10, "only {sets} multi-option offers");
    let buyer_moves = t.history.iter().filter(|r| r.side.index() == 0).count();
    let explained: Vec<_> = t
        .rationales
        .iter()
        .filter(|(i, _)| t.history[*i as usize].side.index() == 0)
        .collect();
    assert_eq!(
        explained.len(),
        buyer_moves,
        "every flagship move has a rationale"
    );
    assert!(
        explained
            .iter()
            .all(|(_, r)| (0.0..=1.0).contains(&r.opponent_estimate))
    );
    assert!(
        explained
            .iter()
            .any(|(_, r)| r.binding == Binding::Aspiration)
    );
}

#[test]
fn tournament_report_shape() {
    let scenarios: Vec<Scenario> = load_domains_dir(Path::new(GENIUS))
        .unwrap()
        .into_iter()
        .filter(|s| s.outcomes() < 200)
        .collect();
    assert_eq!(scenarios.len(), 4);
    let config = TournamentConfig {
        agents: vec![AgentKind::Accord, AgentKind::Boulware],
        rounds: 20,
        ..TournamentConfig::new(scenarios)
    };
    let calls = std::sync::atomic::AtomicU64::new(0);
    let report = tournament::run(&config, &|n| {
        calls.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(calls.into_inner(), config.negotiations());
    assert_eq!(report.negotiations.len(), 4 * 2 * 4);
    let json = serde_json::to_value(&report).unwrap();
    // Key order depends on whether some crate in the build enables serde_json's
    // `preserve_order`; the contract is the set of names, so compare sorted.
    let mut row: Vec<&str> = json["agents"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    row.sort_unstable();
    assert_eq!(
        row,
        [
            "agent",
            "agreement_rate",
            "mean_advantage",
            "mean_nash_optimality",
            "mean_pareto_optimality",
            "mean_welfare",
            "negotiations",
            "negotiations_per_second"
        ]
    );
    let mut rec: Vec<&str> = json["negotiations"][0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    rec.sort_unstable();
    assert_eq!(
        rec,
        [
            "advantage_a",
            "advantage_b",
            "agent_a",
            "agent_b",
            "agreement",
            "domain",
            "micros",
            "nash_optimality",
            "outcomes",
            "pareto_optimality",
            "rounds",
            "utility_a",
            "utility_b",
            "welfare"
        ]
    );
    // Deterministic apart from timing.
    let again = tournament::run(&config, &|_| {});
    for (x, y) in report.negotiations.iter().zip(&again.negotiations) {
        assert_eq!(
            (x.agreement, x.rounds, x.utility_a, x.utility_b),
            (y.agreement, y.rounds, y.utility_a, y.utility_b)
        );
    }
}

#[test]
fn procurement_deal_creates_and_splits_value() {
    use accord_core::{Currency, Money};
    use accord_negotiate::procurement::{
        Bounds, Buyer, BuyerValuation, EarlyPayment, ProcurementSpace, Supplier, Terms, percent,
    };

    let eur = |s: &str| Money::parse(s, Currency::parse("EUR").unwrap()).unwrap();
    let ps = ProcurementSpace::new(Bounds {
        price_min: eur("8.80"),
        price_max: eur("10.40"),
        price_tick: eur("0.05"),
        payment_days: (15, 90, 15),
        lead_time_days: (7, 28, 7),
        contract_months: vec![12, 24, 36],
        early_payment: vec![EarlyPayment {
            discount: percent(2),
            within_days: 10,
        }],
    })
    .unwrap();
    let buyer = Buyer {
        batna: Terms {
            price: eur("10.00"),
            payment_days: 30,
            lead_time_days: 14,
            contract_months: 12,
            early_payment: None,
        },
        annual_volume: 20_000,
        cost_of_capital: percent(7),
        lead_time_cost_per_day: eur("120.00"),
    };
    let supplier = Supplier {
        unit_cost: eur("8.40"),
        margin_floor: percent(4),
        cost_of_capital: percent(18),
        annual_volume: 20_000,
        usual_lead_time_days: 21,
        rush_cost_per_day: eur("300.00"),
        value_per_contract_month: eur("250.00"),
    };
    let s = ps.scenario("tail-supplier", &buyer, &supplier).unwrap();
    assert_eq!(s.outcomes(), 33 * 6 * 4 * 3 * 2);
    for opponent in [AgentKind::Boulware, AgentKind::Linear, AgentKind::Accord] {
        let mut a = AgentKind::Accord.build(&Context::of(&s, 0));
        let mut b = opponent.build(&Context::of(&s, 1));
        let t = session::run(
            &s,
            a.as_mut(),
            b.as_mut(),
            &SessionConfig::rounds(100, 5),
            &mut || 0,
        );
        let k = t
            .agreement()
            .unwrap_or_else(|| panic!("no deal with {opponent}"));
        let terms = ps.terms(k);
        let saving = buyer.saving(&terms).unwrap();
        let surplus = supplier.surplus(&terms).unwrap();
        assert!(
            saving.minor > 0 && surplus.minor > 0,
            "{opponent}: {terms:?} saves {saving}, leaves {surplus}"
        );
    }
}

#[test]
fn clock_deadline_ends_the_negotiation() {
    use accord_negotiate::protocol::EndReason;

    let s = scenario("Wholesaler");
    let mut a = AgentKind::Boulware.build(&Context::of(&s, 0));
    let mut b = AgentKind::Boulware.build(&Context::of(&s, 1));
    // 10 µs pass per move on the caller's clock; the limit is 300 µs, well before the
    // 100-round deadline, so time drives the concession and ends the negotiation.
    let config = SessionConfig {
        kind: ProtocolKind::Alternating,
        deadline: Deadline {
            rounds: 100,
            micros: Some(300),
        },
        seed: 0,
        explain: false,
    };
    let mut now = 0;
    let t = session::run(&s, a.as_mut(), b.as_mut(), &config, &mut || {
        now += 10;
        now
    });
    match t.phase {
        Phase::Ended {
            reason: EndReason::TimeLimit,
        } => assert!(t.history.len() < 30),
        Phase::Agreed { .. } => assert!(
            t.history.len() < 30,
            "agreed after {} moves",
            t.history.len()
        ),
        other => panic!("{other:?}"),
    }
}
