//! Property tests: no strategy offers or accepts below its reservation value, the protocol
//! machine refuses every illegal move, and a seed replays the same transcript.

use proptest::prelude::*;

use accord_negotiate::protocol::{
    Deadline, Move, OfferSet, Phase, Protocol, ProtocolError, ProtocolKind, Side,
};
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::{AgentKind, Context};
use accord_negotiate::{
    Issue, IssueKind, LinearAdditive, OutcomeSpace, Scenario, UtilityTable, ValueFn,
};

/// A random linear-additive scenario: 1–4 issues of 2–5 values, integer evaluations,
/// random weights and reservation values.
fn scenarios() -> impl Strategy<Value = Scenario> {
    prop::collection::vec(2u32..=5, 1..=4).prop_flat_map(|radix| {
        let total: usize = radix.iter().map(|&r| r as usize).sum();
        let n = radix.len();
        (
            Just(radix),
            prop::collection::vec(0u32..=10, total * 2),
            prop::collection::vec(1u32..=10, n * 2),
            0.0f64..0.9,
            0.0f64..0.9,
        )
            .prop_map(|(radix, evals, weights, ra, rb)| {
                let issues: Vec<Issue> = radix
                    .iter()
                    .enumerate()
                    .map(|(i, &r)| Issue {
                        name: format!("i{i}"),
                        kind: IssueKind::Integer {
                            lo: 0,
                            hi: i64::from(r) - 1,
                            step: 1,
                        },
                    })
                    .collect();
                let space = OutcomeSpace::new(issues).unwrap();
                let table = |side: usize, reservation: f64| {
                    let n = radix.len();
                    let w: Vec<f64> = weights[side * n..][..n]
                        .iter()
                        .map(|&x| f64::from(x))
                        .collect();
                    let sum: f64 = w.iter().sum();
                    let w: Vec<f64> = w.iter().map(|x| x / sum).collect();
                    let mut at = side * evals.len() / 2;
                    let fns: Vec<ValueFn> = radix
                        .iter()
                        .map(|&r| {
                            let row: Vec<f64> = evals[at..at + r as usize]
                                .iter()
                                .map(|&e| f64::from(e) / 10.0)
                                .collect();
                            at += r as usize;
                            ValueFn::Table(row)
                        })
                        .collect();
                    let u = LinearAdditive::new(&space, &w, &fns, reservation, None).unwrap();
                    UtilityTable::new(format!("p{side}"), &space, &u)
                };
                let (a, b) = (table(0, ra), table(1, rb));
                Scenario::new("random", space, a, b)
            })
    })
}

fn agents() -> impl Strategy<Value = AgentKind> {
    prop::sample::select(AgentKind::ALL.to_vec())
}

fn kinds() -> impl Strategy<Value = ProtocolKind> {
    prop_oneof![
        Just(ProtocolKind::Alternating),
        (2u8..=4).prop_map(|k| ProtocolKind::Meso { k })
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn never_below_reservation(s in scenarios(), a in agents(), b in agents(), kind in kinds(), rounds in 1u32..40, seed: u64) {
        let mut sa = a.build(&Context::of(&s, 0));
        let mut sb = b.build(&Context::of(&s, 1));
        let config = SessionConfig { kind, deadline: Deadline { rounds, micros: None }, seed, explain: false };
        let t = session::run(&s, sa.as_mut(), sb.as_mut(), &config, &mut || 0);
        prop_assert!(t.fault.is_none(), "{:?}", t.fault);
        let mut standing: Option<OfferSet> = None;
        for r in &t.history {
            let table = &s.tables[r.side.index()];
            match r.mv {
                Move::Offer(set) => {
                    for &k in set.as_slice() {
                        prop_assert!(table.get(k) >= table.reservation(), "{} offered {} < {}", r.side.index(), table.get(k), table.reservation());
                    }
                    standing = Some(set);
                }
                Move::Accept { option } => {
                    let k = standing.unwrap().as_slice()[option as usize];
                    prop_assert!(table.get(k) >= table.reservation(), "accepted {} < {}", table.get(k), table.reservation());
                }
                Move::Reject | Move::End => standing = None,
            }
        }
    }

    #[test]
    fn same_seed_same_transcript(s in scenarios(), a in agents(), b in agents(), kind in kinds(), seed: u64) {
        let play = || {
            let mut sa = a.build(&Context::of(&s, 0));
            let mut sb = b.build(&Context::of(&s, 1));
            let config = SessionConfig { kind, deadline: Deadline { rounds: 30, micros: None }, seed, explain: true };
            session::run(&s, sa.as_mut(), sb.as_mut(), &config, &mut || 0)
        };
        prop_assert_eq!(play(), play());
    }

    #[test]
    fn protocol_refuses_illegal_moves(
        k in 1u8..=3,
        rounds in 1u32..6,
        script in prop::collection::vec((any::<bool>(), 0u8..4, prop::collection::vec(0u32..12, 1..4), 0u8..4), 1..30),
    ) {
        let outcomes = 10;
        let kind = if k == 1 { ProtocolKind::Alternating } else { ProtocolKind::Meso { k } };
        let mut p = Protocol::new(kind, Deadline { rounds, micros: None }, outcomes, 0);
        for (is_a, which, items, option) in script {
            let side = if is_a { Side::A } else { Side::B };
            let mv = match which {
                0 => Move::Offer(OfferSet::many(&items).unwrap()),
                1 => Move::Accept { option },
                2 => Move::Reject,
                _ => Move::End,
            };
            let (phase, len) = (p.phase(), p.history().len());
            // The legality rules, stated independently of the machine.
            let legal = match phase {
                Phase::Open { turn, standing } => {
                    turn == side
                        && match mv {
                            Move::Offer(set) => {
                                set.len() <= p.max_options(side) && set.as_slice().iter().all(|&o| u64::from(o) < outcomes)
                            }
                            Move::Accept { option } => standing.is_some_and(|s| (option as usize) < s.len()),
                            Move::Reject => standing.is_some(),
                            Move::End => true,
                        }
                }
                _ => false,
            };
            match p.apply(side, mv, 0) {
                Ok(_) => {
                    prop_assert!(legal, "accepted illegal {mv:?} by {side:?} in {phase:?}");
                    prop_assert_eq!(p.history().len(), len + 1);
                    prop_assert_eq!(p.history().last().unwrap().mv, mv);
                }
                Err(e) => {
                    prop_assert!(!legal, "refused legal {mv:?} by {side:?} in {phase:?}: {e}");
                    prop_assert_ne!(e, ProtocolError::DeadlinePassed);
                    prop_assert_eq!(p.phase(), phase);
                    prop_assert_eq!(p.history().len(), len);
                }
            }
            prop_assert!(p.moves() <= 2 * rounds);
        }
    }
}
