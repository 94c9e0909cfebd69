//! The tournament harness: every ordered pair of agents (self-play included) on every
//! scenario with both profile assignments, in parallel on all cores (rayon), summarised
//! per agent. The CLI's `accord bench negotiate` drives [`run`].
//!
//! Negotiations are seeded from the tournament seed and their position in the schedule,
//! so results do not depend on thread scheduling. Only `micros` (wall-clock time per
//! negotiation, measured here) varies between runs.

use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::Disagreement;
use crate::scenario::Scenario;
use crate::session::{self, SessionConfig};
use crate::strategy::{AccordParams, AgentKind, Context};

/// What to play.
#[derive(Clone, Debug)]
pub struct TournamentConfig {
    pub scenarios: Vec<Scenario>,
    /// Deadline in rounds (one move by each side).
    pub rounds: u32,
    pub agents: Vec<AgentKind>,
    pub seed: u64,
    /// Tuning of the flagship (the default is the measured one).
    pub accord: AccordParams,
    /// Disagreement point of the Nash and Kalai points the metrics measure against:
    /// `Reservation` (default) or NegMAS's `ReservationOrWorst`.
    pub disagreement: Disagreement,
}

impl TournamentConfig {
    /// All agents, 100 rounds, seed 0.
    pub fn new(scenarios: Vec<Scenario>) -> TournamentConfig {
        TournamentConfig {
            scenarios,
            rounds: 100,
            agents: AgentKind::ALL.to_vec(),
            seed: 0,
            accord: AccordParams::default(),
            disagreement: Disagreement::Reservation,
        }
    }

    /// Number of negotiations [`run`] will play (for a progress bar's length).
    pub fn negotiations(&self) -> u64 {
        (self.scenarios.len() * 2 * self.agents.len() * self.agents.len()) as u64
    }
}

/// One agent's summary. Each negotiation counts once per side the agent played, so a
/// self-play negotiation counts twice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRow {
    pub agent: String,
    pub negotiations: u64,
    pub agreement_rate: f64,
    pub mean_advantage: f64,
    pub mean_nash_optimality: f64,
    pub mean_pareto_optimality: f64,
    pub mean_welfare: f64,
    pub negotiations_per_second: f64,
}

/// One negotiation. `utility_*` are undiscounted; without agreement they are the
/// reservation values.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NegotiationRecord {
    pub domain: String,
    pub outcomes: u64,
    pub agent_a: String,
    pub agent_b: String,
    pub agreement: bool,
    pub rounds: u32,
    pub utility_a: f64,
    pub utility_b: f64,
    pub advantage_a: f64,
    pub advantage_b: f64,
    pub nash_optimality: f64,
    pub pareto_optimality: f64,
    pub welfare: f64,
    pub micros: f64,
}

/// The tournament result, serialised as `{"agents": [...], "negotiations": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TournamentReport {
    pub agents: Vec<AgentRow>,
    pub negotiations: Vec<NegotiationRecord>,
}

/// Plays the tournament. `progress` is called with the number of negotiations finished
/// since its previous call (1 each time), from worker threads.
pub fn run(config: &TournamentConfig, progress: &(dyn Fn(u64) + Sync)) -> TournamentReport {
    let scenarios: Vec<Scenario> = config
        .scenarios
        .iter()
        .map(|s| match config.disagreement {
            Disagreement::Reservation => s.clone(),
            d => s.with_disagreement(d),
        })
        .flat_map(|s| {
            let swapped = s.swapped();
            [s, swapped]
        })
        .collect();
    let mut jobs = Vec::with_capacity(config.negotiations() as usize);
    for (si, _) in scenarios.iter().enumerate() {
        for &a in &config.agents {
            for &b in &config.agents {
                jobs.push((si, a, b));
            }
        }
    }
    let negotiations: Vec<NegotiationRecord> = jobs
        .par_iter()
        .enumerate()
        .map(|(j, &(si, a, b))| {
            let record = play(
                &scenarios[si],
                a,
                b,
                config.rounds,
                mix(config.seed, j as u64),
                config.accord,
            );
            progress(1);
            record
        })
        .collect();
    TournamentReport {
        agents: summarise(&config.agents, &negotiations),
        negotiations,
    }
}

fn mix(seed: u64, j: u64) -> u64 {
    let mut z = seed ^ j.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Plays one negotiation of the tournament and measures it.
pub fn play(
    scenario: &Scenario,
    a: AgentKind,
    b: AgentKind,
    rounds: u32,
    seed: u64,
    accord: AccordParams,
) -> NegotiationRecord {
    let start = Instant::now();
    let mut sa = a.build_with(&Context::of(scenario, 0), accord);
    let mut sb = b.build_with(&Context::of(scenario, 1), accord);
    let t = session::run(
        scenario,
        sa.as_mut(),
        sb.as_mut(),
        &SessionConfig::rounds(rounds, seed),
        &mut || 0,
    );
    let micros = start.elapsed().as_secs_f64() * 1e6;
    let m = t.metrics(scenario);
    NegotiationRecord {
        domain: scenario.name.clone(),
        outcomes: scenario.outcomes(),
        agent_a: a.name().to_owned(),
        agent_b: b.name().to_owned(),
        agreement: m.agreement,
        rounds: t.rounds,
        utility_a: m.utility[0],
        utility_b: m.utility[1],
        advantage_a: m.advantage[0],
        advantage_b: m.advantage[1],
        nash_optimality: m.nash_optimality,
        pareto_optimality: m.pareto_optimality,
        welfare: m.welfare,
        micros,
    }
}

/// Per-agent means over every side each agent played.
pub fn summarise(agents: &[AgentKind], records: &[NegotiationRecord]) -> Vec<AgentRow> {
    agents
        .iter()
        .map(|agent| {
            let name = agent.name();
            let (mut n, mut agreed, mut adv, mut nash, mut pareto, mut welfare, mut micros) =
                (0u64, 0u64, 0.0, 0.0, 0.0, 0.0, 0.0);
            for r in records {
                for (side_agent, advantage) in
                    [(&r.agent_a, r.advantage_a), (&r.agent_b, r.advantage_b)]
                {
                    if side_agent == name {
                        n += 1;
                        agreed += u64::from(r.agreement);
                        adv += advantage;
                        nash += r.nash_optimality;
                        pareto += r.pareto_optimality;
                        welfare += r.welfare;
                        micros += r.micros;
                    }
                }
            }
            let d = n.max(1) as f64;
            AgentRow {
                agent: name.to_owned(),
                negotiations: n,
                agreement_rate: agreed as f64 / d,
                mean_advantage: adv / d,
                mean_nash_optimality: nash / d,
                mean_pareto_optimality: pareto / d,
                mean_welfare: welfare / d,
                negotiations_per_second: if micros > 0.0 {
                    n as f64 / (micros / 1e6)
                } else {
                    0.0
                },
            }
        })
        .collect()
}

/// The per-agent table as aligned text.
pub fn format_table(rows: &[AgentRow]) -> String {
    let mut out = format!(
        "{:<12} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8} {:>12}\n",
        "agent", "negs", "agree", "adv", "nash", "pareto", "welfare", "negs/s"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<12} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8.3} {:>12.0}\n",
            r.agent,
            r.negotiations,
            r.agreement_rate,
            r.mean_advantage,
            r.mean_nash_optimality,
            r.mean_pareto_optimality,
            r.mean_welfare,
            r.negotiations_per_second
        ));
    }
    out
}
