//! The negotiation protocol as a state machine: alternating offers with deadlines in rounds
//! and in time, and the MESO variant in which side `A` (the buyer) offers up to `k` options
//! and side `B` picks one or counters. Illegal moves are refused with a typed error and
//! change nothing; every legal move is recorded.

use serde::{Serialize, Serializer};

/// Most options one MESO offer may carry.
pub const MAX_OPTIONS: usize = 8;

/// A party. `A` moves first unless the protocol says otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Side {
    A,
    B,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    /// 0 for `A`, 1 for `B`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One to [`MAX_OPTIONS`] outcome numbers offered at once, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OfferSet {
    len: u8,
    items: [u32; MAX_OPTIONS],
}

impl OfferSet {
    /// A single offer.
    pub fn one(outcome: u32) -> OfferSet {
        let mut items = [0; MAX_OPTIONS];
        items[0] = outcome;
        OfferSet { len: 1, items }
    }

    /// Several options; `None` when there are none or more than [`MAX_OPTIONS`].
    pub fn many(outcomes: &[u32]) -> Option<OfferSet> {
        if outcomes.is_empty() || outcomes.len() > MAX_OPTIONS {
            return None;
        }
        let mut items = [0; MAX_OPTIONS];
        items[..outcomes.len()].copy_from_slice(outcomes);
        Some(OfferSet {
            len: outcomes.len() as u8,
            items,
        })
    }

    pub fn as_slice(&self) -> &[u32] {
        &self.items[..self.len as usize]
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: an offer set holds at least one outcome.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for OfferSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl Serialize for OfferSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

/// A move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    /// Propose one outcome (or, for the MESO buyer, several equivalent ones).
    Offer(OfferSet),
    /// Accept option `option` of the standing offer (0 for a single offer).
    Accept { option: u8 },
    /// Decline the standing offer without countering; the other side must offer next.
    Reject,
    /// Walk away.
    End,
}

/// Which protocol is played.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtocolKind {
    /// Stacked alternating offers: one outcome per offer.
    Alternating,
    /// Side `A` offers up to `k` options of equal value to itself; side `B` offers one.
    Meso { k: u8 },
}

/// Options the MESO side offers at once.
pub const MESO_OPTIONS: u8 = 3;

impl ProtocolKind {
    /// MESO with [`MESO_OPTIONS`] options, or plain alternating offers.
    pub fn of(meso: bool) -> ProtocolKind {
        if meso {
            ProtocolKind::Meso { k: MESO_OPTIONS }
        } else {
            ProtocolKind::Alternating
        }
    }
}

/// When the negotiation stops without agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// A round is one move by each side, as in a NegMAS step.
    pub rounds: u32,
    /// Wall-clock limit from the start, in microseconds of the caller's clock.
    pub micros: Option<u64>,
}

/// Why a negotiation ended without agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Walkaway(Side),
    RoundLimit,
    TimeLimit,
}

/// Where the negotiation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for `turn`; `standing` is the other side's offer that may be accepted.
    Open {
        turn: Side,
        standing: Option<OfferSet>,
    },
    Agreed {
        outcome: u32,
        by: Side,
    },
    Ended {
        reason: EndReason,
    },
}

/// A recorded move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    pub side: Side,
    #[serde(rename = "move")]
    pub mv: Move,
    pub round: u32,
    pub at_micros: u64,
}

/// Why a move was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("it is not `{0:?}`'s turn")]
    NotYourTurn(Side),
    #[error("the negotiation is over")]
    Finished,
    #[error("the deadline has passed")]
    DeadlinePassed,
    #[error("outcome `{0}` is outside the outcome space")]
    OutsideSpace(u32),
    #[error("there is no standing offer to answer")]
    NothingToAnswer,
    #[error("the standing offer has no option `{0}`")]
    NoSuchOption(u8),
    #[error("`{len}` options offered, at most `{max}` allowed")]
    TooManyOptions { len: usize, max: usize },
}

/// The protocol state machine.
// INVARIANT: `history` holds exactly the accepted moves, in order; `moves == history.len()`.
#[derive(Clone, Debug)]
pub struct Protocol {
    kind: ProtocolKind,
    deadline: Deadline,
    outcomes: u64,
    phase: Phase,
    started_micros: u64,
    history: Vec<Record>,
}

impl Protocol {
    /// A new negotiation over `outcomes` outcomes, side `A` to move, started at
    /// `now_micros` of the caller's clock.
    pub fn new(kind: ProtocolKind, deadline: Deadline, outcomes: u64, now_micros: u64) -> Protocol {
        let phase = if deadline.rounds == 0 {
            Phase::Ended {
                reason: EndReason::RoundLimit,
            }
        } else {
            Phase::Open {
                turn: Side::A,
                standing: None,
            }
        };
        Protocol {
            kind,
            deadline,
            outcomes,
            phase,
            started_micros: now_micros,
            history: Vec::with_capacity(2 * deadline.rounds.min(1_000) as usize),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn history(&self) -> &[Record] {
        &self.history
    }

    /// The recorded moves, consuming the machine.
    pub fn into_history(self) -> Vec<Record> {
        self.history
    }

    pub fn kind(&self) -> ProtocolKind {
        self.kind
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Moves made so far.
    pub fn moves(&self) -> u32 {
        self.history.len() as u32
    }

    /// Rounds begun so far (a round is one move by each side).
    pub fn rounds(&self) -> u32 {
        self.moves().div_ceil(2)
    }

    /// Relative time in `[0, 1]`: the larger of the round and clock fractions used.
    pub fn relative_time(&self, now_micros: u64) -> f64 {
        let by_moves = f64::from(self.moves()) / f64::from(2 * self.deadline.rounds.max(1));
        let by_clock = self.deadline.micros.map_or(0.0, |limit| {
            now_micros.saturating_sub(self.started_micros) as f64 / limit.max(1) as f64
        });
        by_moves.max(by_clock).min(1.0)
    }

    /// Whether the next move is the last one that side may make (its offer would not be
    /// answered).
    pub fn is_last_move(&self) -> bool {
        self.moves() + 1 >= 2 * self.deadline.rounds
    }

    /// Most options `side` may put in one offer.
    pub fn max_options(&self, side: Side) -> usize {
        match (self.kind, side) {
            (ProtocolKind::Meso { k }, Side::A) => (k as usize).clamp(1, MAX_OPTIONS),
            _ => 1,
        }
    }

    /// Applies `mv` by `side` at `now_micros`. On error nothing changes, except that a
    /// passed time limit ends the negotiation.
    pub fn apply(&mut self, side: Side, mv: Move, now_micros: u64) -> Result<Phase, ProtocolError> {
        let Phase::Open { turn, standing } = self.phase else {
            return Err(ProtocolError::Finished);
        };
        if self
            .deadline
            .micros
            .is_some_and(|limit| now_micros.saturating_sub(self.started_micros) >= limit)
        {
            self.phase = Phase::Ended {
                reason: EndReason::TimeLimit,
            };
            return Err(ProtocolError::DeadlinePassed);
        }
        if side != turn {
            return Err(ProtocolError::NotYourTurn(side));
        }
        let next = match mv {
            Move::Offer(set) => {
                let max = self.max_options(side);
                if set.len() > max {
                    return Err(ProtocolError::TooManyOptions {
                        len: set.len(),
                        max,
                    });
                }
                if let Some(&bad) = set
                    .as_slice()
                    .iter()
                    .find(|&&k| u64::from(k) >= self.outcomes)
                {
                    return Err(ProtocolError::OutsideSpace(bad));
                }
                Phase::Open {
                    turn: side.other(),
                    standing: Some(set),
                }
            }
            Move::Accept { option } => {
                let set = standing.ok_or(ProtocolError::NothingToAnswer)?;
                let outcome = *set
                    .as_slice()
                    .get(option as usize)
                    .ok_or(ProtocolError::NoSuchOption(option))?;
                Phase::Agreed { outcome, by: side }
            }
            Move::Reject => {
                standing.ok_or(ProtocolError::NothingToAnswer)?;
                Phase::Open {
                    turn: side.other(),
                    standing: None,
                }
            }
            Move::End => Phase::Ended {
                reason: EndReason::Walkaway(side),
            },
        };
        let round = self.moves() / 2;
        self.history.push(Record {
            side,
            mv,
            round,
            at_micros: now_micros,
        });
        self.phase = match next {
            Phase::Open { .. } if self.moves() >= 2 * self.deadline.rounds => Phase::Ended {
                reason: EndReason::RoundLimit,
            },
            other => other,
        };
        Ok(self.phase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        kind: ProtocolKind,
        rounds: u32,
        script: &[(Side, Move, Result<(), ProtocolError>)],
        end: Phase,
    ) {
        let mut p = Protocol::new(
            kind,
            Deadline {
                rounds,
                micros: Some(1_000),
            },
            10,
            0,
        );
        let mut recorded = 0;
        for (i, (side, mv, expected)) in script.iter().enumerate() {
            let got = p.apply(*side, *mv, i as u64).map(|_| ());
            assert_eq!(&got, expected, "move {i}");
            if got.is_ok() {
                recorded += 1;
            }
        }
        assert_eq!(p.history().len(), recorded);
        assert_eq!(p.phase(), end);
    }

    fn offer(k: u32) -> Move {
        Move::Offer(OfferSet::one(k))
    }

    #[test]
    fn alternating() {
        use Side::*;
        check(
            ProtocolKind::Alternating,
            10,
            &[
                (B, offer(1), Err(ProtocolError::NotYourTurn(B))),
                (
                    A,
                    Move::Accept { option: 0 },
                    Err(ProtocolError::NothingToAnswer),
                ),
                (A, offer(10), Err(ProtocolError::OutsideSpace(10))),
                (
                    A,
                    Move::Offer(OfferSet::many(&[1, 2]).unwrap()),
                    Err(ProtocolError::TooManyOptions { len: 2, max: 1 }),
                ),
                (A, offer(3), Ok(())),
                (
                    B,
                    Move::Accept { option: 1 },
                    Err(ProtocolError::NoSuchOption(1)),
                ),
                (B, Move::Reject, Ok(())),
                (A, offer(4), Ok(())),
                (B, Move::Accept { option: 0 }, Ok(())),
                (A, offer(4), Err(ProtocolError::Finished)),
            ],
            Phase::Agreed {
                outcome: 4,
                by: Side::B,
            },
        );
    }

    #[test]
    fn deadlines() {
        use Side::*;
        check(
            ProtocolKind::Alternating,
            1,
            &[
                (A, offer(1), Ok(())),
                (B, offer(2), Ok(())),
                (A, Move::Accept { option: 0 }, Err(ProtocolError::Finished)),
            ],
            Phase::Ended {
                reason: EndReason::RoundLimit,
            },
        );
        let mut p = Protocol::new(
            ProtocolKind::Alternating,
            Deadline {
                rounds: 5,
                micros: Some(100),
            },
            3,
            50,
        );
        assert_eq!(
            p.apply(A, offer(0), 150),
            Err(ProtocolError::DeadlinePassed)
        );
        assert_eq!(
            p.phase(),
            Phase::Ended {
                reason: EndReason::TimeLimit
            }
        );
        check(
            ProtocolKind::Alternating,
            3,
            &[(A, Move::End, Ok(()))],
            Phase::Ended {
                reason: EndReason::Walkaway(A),
            },
        );
    }

    #[test]
    fn meso() {
        use Side::*;
        let three = Move::Offer(OfferSet::many(&[1, 2, 3]).unwrap());
        check(
            ProtocolKind::Meso { k: 3 },
            10,
            &[
                (A, three, Ok(())),
                (
                    B,
                    three,
                    Err(ProtocolError::TooManyOptions { len: 3, max: 1 }),
                ),
                (B, offer(5), Ok(())),
                (A, three, Ok(())),
                (B, Move::Accept { option: 2 }, Ok(())),
            ],
            Phase::Agreed { outcome: 3, by: B },
        );
    }
}
