//! Plays one negotiation: two strategies on a scenario through the protocol machine,
//! with the caller's clock and a seed, and returns the transcript.

use rand::SeedableRng;
use serde::Serialize;

use crate::analysis::Metrics;
use crate::protocol::{Deadline, EndReason, Move, Phase, Protocol, ProtocolKind, Record, Side};
use crate::scenario::Scenario;
use crate::strategy::{Rationale, Rng, Strategy, View};

/// How a negotiation is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SessionConfig {
    pub kind: ProtocolKind,
    pub deadline: Deadline,
    /// Seed of both sides' random sources; the same seed replays the same transcript.
    pub seed: u64,
    /// Keep every rationale in the transcript (costs one allocation per move).
    pub explain: bool,
}

impl SessionConfig {
    /// Alternating offers over `rounds` rounds, no clock limit.
    pub fn rounds(rounds: u32, seed: u64) -> SessionConfig {
        SessionConfig {
            kind: ProtocolKind::Alternating,
            deadline: Deadline {
                rounds,
                micros: None,
            },
            seed,
            explain: false,
        }
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transcript {
    pub history: Vec<Record>,
    pub phase: Phase,
    /// Rounds begun (a round is one move by each side).
    pub rounds: u32,
    /// `(move number, rationale)` for strategies that explain themselves, when asked.
    pub rationales: Vec<(u32, Rationale)>,
    /// Set when a strategy made an illegal move; the session then ends it as a walk-away.
    pub fault: Option<(Side, String)>,
}

impl Transcript {
    /// The agreed outcome, if any.
    pub fn agreement(&self) -> Option<u32> {
        match self.phase {
            Phase::Agreed { outcome, .. } => Some(outcome),
            _ => None,
        }
    }

    /// NegMAS metrics of this negotiation on `scenario`.
    pub fn metrics(&self, scenario: &Scenario) -> Metrics {
        let utils = self
            .agreement()
            .map(|k| [scenario.tables[0].get(k), scenario.tables[1].get(k)]);
        scenario.stats.metrics(utils)
    }
}

/// Seeds one side's random source from the session seed.
pub fn side_rng(seed: u64, side: Side) -> Rng {
    Rng::seed_from_u64(seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(side.index() as u64 + 1)))
}

/// Asks `strategy`, whose turn it is, for its move in `protocol` at `now_micros`, showing
/// it exactly what a session shows it. Returns `Move::End` if the negotiation is over.
pub fn respond(protocol: &Protocol, strategy: &mut dyn Strategy, rng: &mut Rng, now: u64) -> Move {
    let Phase::Open { turn, standing } = protocol.phase() else {
        return Move::End;
    };
    let offers = standing.as_ref().map_or(&[][..], |s| s.as_slice());
    let total = 2 * protocol.deadline().rounds;
    let view = View {
        t: protocol.relative_time(now),
        last_move: protocol.is_last_move(),
        moves_left: total.saturating_sub(protocol.moves()).div_ceil(2),
        offers,
        max_options: protocol.max_options(turn),
    };
    strategy.respond(&view, rng)
}

/// Plays a negotiation. `a` moves first. `clock` gives the caller's time in microseconds
/// (return a constant for round-only deadlines).
pub fn run(
    scenario: &Scenario,
    a: &mut dyn Strategy,
    b: &mut dyn Strategy,
    config: &SessionConfig,
    clock: &mut dyn FnMut() -> u64,
) -> Transcript {
    let mut protocol = Protocol::new(config.kind, config.deadline, scenario.outcomes(), clock());
    let mut rngs = [
        side_rng(config.seed, Side::A),
        side_rng(config.seed, Side::B),
    ];
    let mut rationales = Vec::new();
    let mut fault = None;
    while let Phase::Open { turn, .. } = protocol.phase() {
        let now = clock();
        let strategy: &mut dyn Strategy = if turn == Side::A { a } else { b };
        let mv = respond(&protocol, strategy, &mut rngs[turn.index()], now);
        if config.explain
            && let Some(r) = strategy.rationale()
        {
            rationales.push((protocol.moves(), r));
        }
        if let Err(e) = protocol.apply(turn, mv, now)
            && protocol.phase()
                != (Phase::Ended {
                    reason: EndReason::TimeLimit,
                })
        {
            fault = Some((turn, e.to_string()));
            // A strategy bug must not stall the session: treat it as walking away.
            let _ = protocol.apply(turn, Move::End, now);
        }
    }
    Transcript {
        rounds: protocol.rounds(),
        phase: protocol.phase(),
        history: protocol.into_history(),
        rationales,
        fault,
    }
}
