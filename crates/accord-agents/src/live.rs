//! One negotiation in memory: its specification, the protocol machine and the buyer's
//! agent. Built from a [`NegotiationSpec`] and rebuilt exactly from the log: the agent is
//! deterministic given its seed and what it saw, so replaying the recorded moves brings
//! it back to the same state.

use std::collections::HashMap;
use std::sync::Arc;

use accord_core::Money;
use accord_core::deal::Terms;
use accord_core::document::{Contract, ContractPrice, ContractTerms};
use accord_core::id::ContractId;
use accord_core::lifecycle::ContractState;
use accord_core::negotiation::{
    MoveAction, MoveRecord, NegotiationClosed, NegotiationOutcome, NegotiationSpec, Party,
};
use accord_core::round_minor;
use accord_negotiate::procurement::ProcurementSpace;
use accord_negotiate::protocol::{
    Deadline, EndReason, Move, OfferSet, Phase, Protocol, ProtocolKind, Side,
};
use accord_negotiate::session::{respond, side_rng};
use accord_negotiate::strategy::{AgentKind, Context, Rng, Strategy};
use chrono::{DateTime, Months, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{AgentError, MoveError};

/// What a supplier may do on its turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SupplierMove {
    /// Accept option `option` (0-based) of the buyer's standing offer.
    Accept { option: usize },
    /// Counter with full terms.
    Counter { offer: Terms },
    /// Decline the standing offer without countering; the buyer offers again.
    Reject,
    /// Walk away.
    End,
}

/// The negotiation as a supplier sees it.
#[derive(Clone, Debug, Serialize)]
pub struct NegotiationView {
    pub id: String,
    pub campaign: String,
    pub supplier_ref: String,
    /// `open`, or how it closed (`agreed`, `escalated`, `declined`, `no_agreement`,
    /// `expired`).
    pub status: String,
    /// `supplier` or `buyer` while open.
    pub turn: Option<Party>,
    /// Rounds played (a round is one move by each side) and the limit.
    pub round: u32,
    pub max_rounds: u32,
    pub expires_at: DateTime<Utc>,
    pub currency: String,
    pub bounds: accord_core::deal::Bounds,
    /// Today's terms, the reference for every offer.
    pub current_terms: Terms,
    /// Yearly volume, in units of the average unit price.
    pub annual_volume: i64,
    /// The buyer's standing options (equivalent for the buyer; pick one).
    pub offers: Vec<Terms>,
    pub allowed_moves: Vec<&'static str>,
    pub history: Vec<MoveRecord>,
    /// The agreed terms, once agreed.
    pub agreed: Option<Terms>,
    /// The number of events in the negotiation's log stream.
    pub version: u64,
}

/// One negotiation with its buyer agent.
pub struct Live {
    pub spec: NegotiationSpec,
    space: Arc<ProcurementSpace>,
    protocol: Protocol,
    agent: Box<dyn Strategy>,
    rng: Rng,
    pub moves: Vec<MoveRecord>,
    /// Idempotency keys of supplier moves, with the request hash and the move number.
    keys: HashMap<String, (String, u32)>,
    /// Events in the stream so far.
    pub version: u64,
    pub closed: Option<NegotiationClosed>,
    engaged_at: Option<DateTime<Utc>>,
}

fn side(p: Party) -> Side {
    match p {
        Party::Buyer => Side::A,
        Party::Supplier => Side::B,
    }
}

impl Live {
    /// A fresh negotiation: nobody has moved.
    pub fn new(spec: NegotiationSpec) -> Result<Live, AgentError> {
        let space = ProcurementSpace::new(spec.bounds.clone())
            .map_err(|e| AgentError::Build(format!("{}: {e}", spec.supplier_ref)))?;
        let table = space.buyer_utility(&spec.buyer);
        let ctx = Context {
            space: Arc::new(space.space().clone()),
            values: Arc::new(space.space().value_table()),
            table: Arc::new(table),
        };
        let agent = AgentKind::Accord.build(&ctx);
        let kind = ProtocolKind::of(spec.meso);
        let deadline = Deadline {
            rounds: spec.rounds,
            micros: None,
        };
        let protocol = Protocol::new(kind, deadline, space.space().cardinality(), 0);
        Ok(Live {
            rng: side_rng(spec.seed, Side::A),
            space: Arc::new(space),
            protocol,
            agent,
            moves: Vec::new(),
            keys: HashMap::new(),
            version: 0,
            closed: None,
            engaged_at: None,
            spec,
        })
    }

    /// Rebuilds a negotiation from its stream: the opening, then every move, then the
    /// close if any. The agent's moves are recomputed and must match the log.
    pub fn replay(
        spec: NegotiationSpec,
        moves: Vec<MoveRecord>,
        closed: Option<NegotiationClosed>,
        version: u64,
    ) -> Result<Live, AgentError> {
        let mut live = Live::new(spec)?;
        for record in moves {
            let mv = match record.party {
                Party::Buyer => {
                    let mv = respond(&live.protocol, live.agent.as_mut(), &mut live.rng, 0);
                    let recomputed = live.action_of(mv);
                    if recomputed != record.action {
                        tracing::warn!(
                            negotiation = %live.spec.id,
                            number = record.number,
                            "the agent's replayed move differs from the log; keeping the log's"
                        );
                        live.move_of(&record.action)
                            .map_err(|e| AgentError::Corrupt {
                                id: live.spec.id.to_string(),
                                why: e.to_string(),
                            })?
                    } else {
                        mv
                    }
                }
                Party::Supplier => {
                    if let Some(key) = &record.idempotency_key {
                        live.keys.insert(
                            key.clone(),
                            (
                                record.request_hash.clone().unwrap_or_default(),
                                record.number,
                            ),
                        );
                    }
                    live.engaged_at.get_or_insert(record.at);
                    live.move_of(&record.action)
                        .map_err(|e| AgentError::Corrupt {
                            id: live.spec.id.to_string(),
                            why: e.to_string(),
                        })?
                }
            };
            live.protocol
                .apply(side(record.party), mv, 0)
                .map_err(|e| AgentError::Corrupt {
                    id: live.spec.id.to_string(),
                    why: format!("move {}: {e}", record.number),
                })?;
            live.moves.push(record);
        }
        live.closed = closed;
        live.version = version;
        Ok(live)
    }

    pub fn space(&self) -> &ProcurementSpace {
        &self.space
    }

    /// The protocol move a recorded action stands for.
    fn move_of(&self, action: &MoveAction) -> Result<Move, MoveError> {
        Ok(match action {
            MoveAction::Offer { options } => {
                let ks = options
                    .iter()
                    .map(|t| self.outcome(t))
                    .collect::<Result<Vec<u32>, _>>()?;
                Move::Offer(OfferSet::many(&ks).ok_or_else(|| {
                    MoveError::OutOfDomain(format!("{} options offered", ks.len()))
                })?)
            }
            MoveAction::Accept { option } => {
                let k = self.outcome(option)?;
                let i = self
                    .standing()
                    .iter()
                    .position(|&s| s == k)
                    .ok_or(MoveError::NothingToAnswer)?;
                Move::Accept { option: i as u8 }
            }
            MoveAction::Reject => Move::Reject,
            MoveAction::End => Move::End,
        })
    }

    /// The recorded form of a protocol move.
    fn action_of(&self, mv: Move) -> MoveAction {
        match mv {
            Move::Offer(set) => MoveAction::Offer {
                options: set
                    .as_slice()
                    .iter()
                    .map(|&k| self.space.terms(k))
                    .collect(),
            },
            Move::Accept { option } => MoveAction::Accept {
                option: self.space.terms(
                    self.standing()
                        .get(option as usize)
                        .copied()
                        .unwrap_or_default(),
                ),
            },
            Move::Reject => MoveAction::Reject,
            Move::End => MoveAction::End,
        }
    }

    fn outcome(&self, t: &Terms) -> Result<u32, MoveError> {
        self.space.outcome_of(t).ok_or_else(|| {
            let b = self.space.bounds();
            MoveError::OutOfDomain(format!(
                "terms are outside the negotiation's domain: price {} must be within {}..={} \
                 in steps of {}, payment days within {}..={} in steps of {}, lead time within \
                 {}..={} in steps of {}, contract months one of {:?}, early payment none or \
                 one offered",
                t.price,
                b.price_min,
                b.price_max,
                b.price_tick,
                b.payment_days.0,
                b.payment_days.1,
                b.payment_days.2,
                b.lead_time_days.0,
                b.lead_time_days.1,
                b.lead_time_days.2,
                b.contract_months
            ))
        })
    }

    fn standing(&self) -> Vec<u32> {
        match self.protocol.phase() {
            Phase::Open {
                standing: Some(s), ..
            } => s.as_slice().to_vec(),
            _ => Vec::new(),
        }
    }

    /// Whose turn it is, while open.
    pub fn turn(&self) -> Option<Party> {
        match (self.closed.is_some(), self.protocol.phase()) {
            (false, Phase::Open { turn: Side::A, .. }) => Some(Party::Buyer),
            (false, Phase::Open { turn: Side::B, .. }) => Some(Party::Supplier),
            _ => None,
        }
    }

    /// A previous supplier move with this idempotency key: `Ok(true)` if the request is
    /// the same, an error if the key was used for a different request.
    pub fn seen_key(&self, key: &str, request_hash: &str) -> Result<bool, MoveError> {
        match self.keys.get(key) {
            None => Ok(false),
            Some((h, _)) if h == request_hash => Ok(true),
            Some(_) => Err(MoveError::KeyReused(key.to_owned())),
        }
    }

    fn record(&mut self, party: Party, action: MoveAction, now: DateTime<Utc>) -> MoveRecord {
        MoveRecord {
            negotiation: self.spec.id,
            number: self.moves.len() as u32 + 1,
            party,
            action,
            at: now,
            idempotency_key: None,
            request_hash: None,
            rationale: None,
        }
    }

    /// The buyer agent's move, applied. Returns its record.
    pub fn buyer_moves(&mut self, now: DateTime<Utc>) -> Result<MoveRecord, AgentError> {
        let mv = respond(&self.protocol, self.agent.as_mut(), &mut self.rng, 0);
        let action = self.action_of(mv);
        let rationale = self.agent.rationale().map(|r| r.to_string());
        if let Err(e) = self.protocol.apply(Side::A, mv, 0) {
            // A strategy bug must not stall the negotiation: the buyer walks away.
            tracing::error!(negotiation = %self.spec.id, "agent made an illegal move: {e}");
            self.protocol
                .apply(Side::A, Move::End, 0)
                .map_err(|e| AgentError::Invalid(e.to_string()))?;
            let mut r = self.record(Party::Buyer, MoveAction::End, now);
            r.rationale = Some(format!("walked away after an illegal move: {e}"));
            self.moves.push(r.clone());
            return Ok(r);
        }
        let mut r = self.record(Party::Buyer, action, now);
        r.rationale = rationale;
        self.moves.push(r.clone());
        Ok(r)
    }

    /// Applies a supplier's move, or refuses it and changes nothing.
    pub fn supplier_moves(
        &mut self,
        mv: &SupplierMove,
        key: Option<&str>,
        request_hash: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<MoveRecord, MoveError> {
        if let Some(c) = &self.closed {
            return Err(MoveError::Closed(c.outcome.state().into()));
        }
        if self.turn() != Some(Party::Supplier) {
            return Err(MoveError::NotYourTurn);
        }
        let standing = self.standing();
        let (pmv, action) = match mv {
            SupplierMove::Accept { option } => {
                let k = *standing.get(*option).ok_or(if standing.is_empty() {
                    MoveError::NothingToAnswer
                } else {
                    MoveError::NoSuchOption(*option)
                })?;
                (
                    Move::Accept {
                        option: *option as u8,
                    },
                    MoveAction::Accept {
                        option: self.space.terms(k),
                    },
                )
            }
            SupplierMove::Counter { offer } => {
                let k = self.outcome(offer)?;
                (
                    Move::Offer(OfferSet::one(k)),
                    MoveAction::Offer {
                        options: vec![*offer],
                    },
                )
            }
            SupplierMove::Reject if standing.is_empty() => return Err(MoveError::NothingToAnswer),
            SupplierMove::Reject => (Move::Reject, MoveAction::Reject),
            SupplierMove::End => (Move::End, MoveAction::End),
        };
        self.protocol
            .apply(Side::B, pmv, 0)
            .map_err(|e| MoveError::OutOfDomain(e.to_string()))?;
        let mut r = self.record(Party::Supplier, action, now);
        r.idempotency_key = key.map(str::to_owned);
        r.request_hash = request_hash.map(str::to_owned);
        if let Some(k) = key {
            self.keys.insert(
                k.to_owned(),
                (request_hash.unwrap_or_default().to_owned(), r.number),
            );
        }
        self.engaged_at.get_or_insert(now);
        self.moves.push(r.clone());
        Ok(r)
    }

    /// The agreed terms, once both sides agreed and before the negotiation is closed.
    pub fn agreed_terms(&self) -> Option<Terms> {
        match (self.closed.is_some(), self.protocol.phase()) {
            (false, Phase::Agreed { outcome, .. }) => Some(self.space.terms(outcome)),
            _ => None,
        }
    }

    /// If the protocol has ended and the negotiation is not closed yet, how it closed:
    /// the closing record and, for a deal, its contract.
    pub fn closing(
        &self,
        now: DateTime<Utc>,
        needs_approval: Option<String>,
    ) -> Result<Option<(NegotiationClosed, Option<Contract>)>, AgentError> {
        if self.closed.is_some() {
            return Ok(None);
        }
        let mut contract = None;
        let outcome = match self.protocol.phase() {
            Phase::Open { .. } => return Ok(None),
            Phase::Agreed { outcome, .. } => {
                let terms = self.space.terms(outcome);
                let id = ContractId::new();
                let state = if needs_approval.is_some() {
                    ContractState::PendingApproval
                } else {
                    ContractState::Active
                };
                contract = Some(self.contract(id, &terms, state, now)?);
                match needs_approval {
                    Some(reason) => NegotiationOutcome::Escalated { terms, reason },
                    None => NegotiationOutcome::Agreed {
                        terms,
                        contract: id,
                        annual_saving: self.annual_saving(&terms)?,
                        payment_days_change: terms.payment().0 - self.spec.buyer.batna.payment_days,
                    },
                }
            }
            Phase::Ended {
                reason: EndReason::Walkaway(s),
            } => NegotiationOutcome::Declined {
                by: if s == Side::A {
                    Party::Buyer
                } else {
                    Party::Supplier
                },
            },
            Phase::Ended { .. } => NegotiationOutcome::NoAgreement,
        };
        Ok(Some((self.closed_record(outcome, now), contract)))
    }

    /// The closing record for `outcome`.
    pub fn closed_record(
        &self,
        outcome: NegotiationOutcome,
        now: DateTime<Utc>,
    ) -> NegotiationClosed {
        NegotiationClosed {
            negotiation: self.spec.id,
            campaign: self.spec.campaign,
            supplier: self.spec.supplier,
            supplier_ref: self.spec.supplier_ref.clone(),
            size: self.spec.size,
            annual_spend: self.spec.annual_spend,
            batna: self.spec.buyer.batna,
            outcome,
            moves: self.moves.len() as u32,
            opened_at: self.spec.opened_at,
            engaged_at: self.engaged_at,
            closed_at: now,
            verdict: None,
        }
    }

    /// Yearly saving on spend at `terms` against today's price, after any early-payment
    /// discount. Rounded once.
    pub fn annual_saving(&self, terms: &Terms) -> Result<Money, AgentError> {
        let (_, paid) = terms.payment();
        let batna = Decimal::from(self.spec.buyer.batna.price.minor);
        let ratio = Decimal::from(terms.price.minor) * paid / batna;
        let saving = Decimal::from(self.spec.annual_spend.minor) * (Decimal::ONE - ratio);
        Ok(Money::new(
            round_minor(saving).map_err(|e| AgentError::Invalid(e.to_string()))?,
            terms.price.currency,
        ))
    }

    fn contract(
        &self,
        id: ContractId,
        terms: &Terms,
        state: ContractState,
        now: DateTime<Utc>,
    ) -> Result<Contract, AgentError> {
        let from = now.date_naive();
        let to = from
            .checked_add_months(Months::new(terms.contract_months))
            .ok_or_else(|| AgentError::Invalid("contract end out of range".into()))?;
        Ok(Contract {
            id,
            external_ref: format!("NEG-{}", self.spec.id),
            supplier: self.spec.supplier,
            category: self.spec.category.clone(),
            currency: terms.price.currency,
            terms: ContractTerms {
                // One price for the average unit; items keep their ratio to it.
                prices: vec![ContractPrice {
                    sku: "*".into(),
                    unit_price: terms.price,
                }],
                payment_days: terms.payment().0.max(0) as u32,
                lead_time_days: terms.lead_time_days.max(0) as u32,
                valid_from: from,
                valid_to: to,
            },
            state,
        })
    }

    /// The supplier's view.
    pub fn view(&self) -> NegotiationView {
        let turn = self.turn();
        let standing = self.standing();
        let offers = if turn == Some(Party::Supplier) {
            standing.iter().map(|&k| self.space.terms(k)).collect()
        } else {
            Vec::new()
        };
        let allowed_moves = match turn {
            Some(Party::Supplier) if standing.is_empty() => vec!["counter", "end"],
            Some(Party::Supplier) => vec!["accept", "counter", "reject", "end"],
            _ => Vec::new(),
        };
        let agreed = match &self.closed {
            Some(NegotiationClosed {
                outcome:
                    NegotiationOutcome::Agreed { terms, .. }
                    | NegotiationOutcome::Escalated { terms, .. },
                ..
            }) => Some(*terms),
            _ => None,
        };
        NegotiationView {
            id: self.spec.id.to_string(),
            campaign: self.spec.campaign.to_string(),
            supplier_ref: self.spec.supplier_ref.clone(),
            status: self
                .closed
                .as_ref()
                .map_or("open".to_owned(), |c| c.outcome.state().to_owned()),
            turn,
            round: self.protocol.rounds(),
            max_rounds: self.spec.rounds,
            expires_at: self.spec.expires_at,
            currency: self.spec.bounds.price_min.currency.to_string(),
            bounds: self.spec.bounds.clone(),
            current_terms: self.spec.buyer.batna,
            annual_volume: self.spec.buyer.annual_volume,
            offers,
            allowed_moves,
            // The agent's rationale stays in the log: it would tell the supplier the
            // buyer's concession curve.
            history: self
                .moves
                .iter()
                .map(|m| MoveRecord {
                    rationale: None,
                    ..m.clone()
                })
                .collect(),
            agreed,
            version: self.version,
        }
    }
}
