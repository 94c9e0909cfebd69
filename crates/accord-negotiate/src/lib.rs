//! Accord's negotiation engine: outcome spaces, utilities (linear-additive and money-valued
//! procurement), the alternating-offers and MESO protocol as a state machine, strategies
//! with the flagship `accord` agent, exact analysis, Genius import and a tournament harness.
//!
//! The crate is pure: no I/O (except [`load`], which reads Genius folders for tests and the
//! CLI), no async, no global state. Time and randomness are passed in, so a negotiation
//! replays exactly from its seed.
//!
//! # Code map
//!
//! - [`space`]: issues and the mixed-radix numbering of outcomes (`u32`), lazy or dense.
//! - [`utility`]: `LinearAdditive` value functions and the dense, sorted `UtilityTable`
//!   every strategy and the analysis read; [`procurement`] values outcomes in `Money`.
//! - [`genius`]: Genius XML and GeniusWeb JSON readers (from strings).
//! - [`analysis`]: sort-and-sweep Pareto frontier, Nash, Kalai–Smorodinsky and welfare
//!   points, and the NegMAS metrics.
//! - [`scenario`]: a space, both tables and the one-off analysis, shared by `Arc`.
//! - [`protocol`]: the state machine; [`session`] plays two strategies through it.
//! - [`strategy`]: the `Strategy` trait, the baselines and the flagship `Accord`.
//! - [`tournament`]: all pairs on all scenarios in parallel, summarised per agent.
//!
//! Architecture invariants: strategies see only their own side's utilities, never the
//! opponent's; no strategy offers or accepts below its reservation value; the protocol
//! machine changes nothing on an illegal move; one seed gives one transcript; money is
//! only ever computed in `Money` and rounded once per figure, utilities are `f64` scores.

pub mod analysis;
pub mod genius;
pub mod load;
pub mod procurement;
pub mod protocol;
pub mod scenario;
pub mod session;
pub mod space;
pub mod strategy;
pub mod tournament;
pub mod utility;

pub use analysis::{Disagreement, Metrics, Point, ScenarioStats};
pub use protocol::{Deadline, Move, OfferSet, Phase, Protocol, ProtocolError, ProtocolKind, Side};
pub use scenario::Scenario;
pub use session::{SessionConfig, Transcript};
pub use space::{Issue, IssueKind, Outcome, OutcomeSpace, Value};
pub use strategy::{AgentKind, Context, Rationale, Strategy};
pub use tournament::{TournamentConfig, TournamentReport};
pub use utility::{LinearAdditive, UtilityFunction, UtilityTable, ValueFn};

/// Errors of the negotiation engine.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NegotiateError {
    #[error("an outcome space needs at least one issue")]
    EmptySpace,
    #[error("issue `{issue}` is invalid: {why}")]
    InvalidIssue { issue: String, why: String },
    #[error("outcome space has {outcomes} outcomes, more than the {max} the engine tabulates")]
    SpaceTooLarge { outcomes: u64, max: u64 },
    #[error("outcome is outside the space: {why}")]
    OutsideSpace { why: String },
    #[error("invalid utility function: {why}")]
    InvalidUtility { why: String },
    #[error("cannot read genius data: {why}")]
    Genius { why: String },
    #[error("money: {why}")]
    Money { why: String },
    #[error("cannot read `{path}`: {why}")]
    Io { path: String, why: String },
}
