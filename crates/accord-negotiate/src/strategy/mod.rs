//! Strategies behind one trait, the names the tournament and CLI know them by, and the
//! shared context they are built from.

mod accord;
mod baseline;
mod opponent;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

use crate::protocol::Move;
use crate::scenario::Scenario;
use crate::space::{OutcomeSpace, ValueTable};
use crate::utility::UtilityTable;

pub use accord::{Accord, AccordParams};
pub use baseline::{Micro, RandomAgent, TimeDependent, TitForTat};
pub use opponent::FrequencyModel;

/// The random source strategies draw from, seeded per negotiation and side.
pub type Rng = rand_chacha::ChaCha8Rng;

/// What a strategy sees when it must move.
#[derive(Clone, Copy, Debug)]
pub struct View<'a> {
    /// Relative time in `[0, 1)`.
    pub t: f64,
    /// True when this is the side's last move: an offer now would not be answered.
    pub last_move: bool,
    /// Moves this side has left, this one included.
    pub moves_left: u32,
    /// The opponent's standing offer (one outcome, or several MESO options); empty when
    /// there is none to answer.
    pub offers: &'a [u32],
    /// Most options this side may offer at once (more than 1 only for the MESO buyer).
    pub max_options: usize,
}

/// What bound a strategy's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Binding {
    /// The time-dependent aspiration curve.
    Aspiration,
    /// The reservation value (the strategy will not go lower).
    Reservation,
    /// The best offer already received (no reason to ask for less).
    BestReceived,
    /// A new offer at least as good as the target for this agent, because the opponent
    /// stalls and moves only when it sees new offers.
    NewOffer,
    /// The end of the deadline: re-offer the opponent's own best offer, which it is
    /// known to find acceptable.
    Endgame,
    /// Accepted: the offer is at least what the strategy would propose next.
    AcceptNext,
    /// Accepted: late in the deadline, the offer is at least the best expected.
    AcceptLate,
}

/// A short account of one choice.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rationale {
    /// Own utility the strategy aimed at.
    pub target: f64,
    pub binding: Binding,
    /// Own utility of the outcome offered or accepted.
    pub own_utility: f64,
    /// Estimated opponent utility of that outcome, in `[0, 1]`.
    pub opponent_estimate: f64,
}

/// A negotiation strategy. Implementations allocate nothing per move.
pub trait Strategy: Send {
    /// The agent name (`boulware`, `accord`, …).
    fn name(&self) -> &'static str;
    /// The move to make now. Must be legal for the view (accept only a standing offer,
    /// offer at most `max_options` outcomes).
    fn respond(&mut self, view: &View<'_>, rng: &mut Rng) -> Move;
    /// Why the last move was chosen, for strategies that explain themselves.
    fn rationale(&self) -> Option<Rationale> {
        None
    }
    /// The opponent model, for strategies that keep one (to measure its accuracy).
    fn model(&self) -> Option<&FrequencyModel> {
        None
    }
}

/// What a strategy is built from: the space and its own side's utilities, never the
/// opponent's.
#[derive(Clone, Debug)]
pub struct Context {
    pub space: Arc<OutcomeSpace>,
    pub values: Arc<ValueTable>,
    pub table: Arc<UtilityTable>,
}

impl Context {
    /// The context of side `side` (0 or 1) of a scenario.
    pub fn of(scenario: &Scenario, side: usize) -> Context {
        Context {
            space: scenario.space.clone(),
            values: scenario.values.clone(),
            table: scenario.tables[side].clone(),
        }
    }
}

impl fmt::Display for Rationale {
    /// A plain-language line for the decision log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.binding {
            Binding::Aspiration => "the concession curve",
            Binding::Reservation => "the reservation value",
            Binding::BestReceived => "the best offer already received",
            Binding::Endgame => "the deadline: re-offering the opponent's best offer",
            Binding::NewOffer => "a stalled opponent: a new offer, no concession",
            Binding::AcceptNext => "accepting: the offer beats the next own offer",
            Binding::AcceptLate => "accepting late: the offer is the best expected",
        };
        write!(
            f,
            "target {:.3} set by {why}; own utility {:.3}, opponent's estimated {:.3}",
            self.target, self.own_utility, self.opponent_estimate
        )
    }
}

/// The agents the tournament and the CLI know by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum AgentKind {
    Boulware,
    Linear,
    Conceder,
    TitForTat,
    Micro,
    Random,
    Accord,
}

impl AgentKind {
    /// Every agent, in table order.
    pub const ALL: [AgentKind; 7] = [
        AgentKind::Boulware,
        AgentKind::Linear,
        AgentKind::Conceder,
        AgentKind::TitForTat,
        AgentKind::Micro,
        AgentKind::Random,
        AgentKind::Accord,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Boulware => "boulware",
            AgentKind::Linear => "linear",
            AgentKind::Conceder => "conceder",
            AgentKind::TitForTat => "tit-for-tat",
            AgentKind::Micro => "micro",
            AgentKind::Random => "random",
            AgentKind::Accord => "accord",
        }
    }

    /// A fresh strategy for one negotiation.
    pub fn build(self, ctx: &Context) -> Box<dyn Strategy> {
        self.build_with(ctx, AccordParams::default())
    }

    /// A fresh strategy, with the flagship tuned by `params`.
    pub fn build_with(self, ctx: &Context, params: AccordParams) -> Box<dyn Strategy> {
        match self {
            AgentKind::Boulware => Box::new(TimeDependent::new("boulware", 0.2, ctx)),
            AgentKind::Linear => Box::new(TimeDependent::new("linear", 1.0, ctx)),
            AgentKind::Conceder => Box::new(TimeDependent::new("conceder", 2.0, ctx)),
            AgentKind::TitForTat => Box::new(TitForTat::new(ctx)),
            AgentKind::Micro => Box::new(Micro::new(ctx)),
            AgentKind::Random => Box::new(RandomAgent::new(ctx)),
            AgentKind::Accord => Box::new(Accord::new(ctx, params)),
        }
    }
}

impl fmt::Display for AgentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// An unknown agent name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown agent `{0}`; known agents are boulware, linear, conceder, tit-for-tat, micro, random, accord"
)]
pub struct UnknownAgent(pub String);

impl FromStr for AgentKind {
    type Err = UnknownAgent;
    fn from_str(s: &str) -> Result<AgentKind, UnknownAgent> {
        let s = s.trim();
        AgentKind::ALL
            .into_iter()
            .find(|a| {
                a.name().eq_ignore_ascii_case(s)
                    || (s.eq_ignore_ascii_case("tft") && *a == AgentKind::TitForTat)
            })
            .ok_or_else(|| UnknownAgent(s.to_owned()))
    }
}

/// Index and own utility of the best option in `offers`, if any.
#[inline]
pub(crate) fn best_offer(table: &UtilityTable, offers: &[u32]) -> Option<(u8, f64)> {
    let mut best: Option<(u8, f64)> = None;
    for (i, &k) in offers.iter().enumerate() {
        let u = table.get(k);
        if best.is_none_or(|(_, b)| u > b) {
            best = Some((i as u8, u));
        }
    }
    best
}

/// The lowest utility a strategy will ever offer or accept: the reservation value, or the
/// worst outcome when the reservation is below it.
#[inline]
pub(crate) fn floor(table: &UtilityTable) -> f64 {
    table.reservation().max(table.min())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rationale_reads() {
        let r = Rationale {
            target: 0.8,
            binding: Binding::Aspiration,
            own_utility: 0.81,
            opponent_estimate: 0.5,
        };
        assert_eq!(
            r.to_string(),
            "target 0.800 set by the concession curve; own utility 0.810, opponent's estimated 0.500"
        );
    }

    #[test]
    fn names_round_trip() {
        for a in AgentKind::ALL {
            assert_eq!(a.name().parse::<AgentKind>().unwrap(), a);
        }
        assert!("hardheaded".parse::<AgentKind>().is_err());
    }
}
