//! One negotiation in memory: its specification, the protocol machine and the buyer's
//! agent. Built from a [`NegotiationSpec`] and rebuilt exactly from the log: the agent is
//! deterministic given its seed and what it saw, so replaying the recorded moves brings
//! it back to the same state.
//!
//! The agent only proposes. Every buyer move passes the negotiation's mandate
//! ([`crate::guard`]) and the policy gate before it is applied; what they withhold is
//! recorded with the move, and the log, not the strategy, is what a replay follows.

use std::collections::HashMap;
use std::sync::Arc;

use accord_core::Money;
use accord_core::deal::Terms;
use accord_core::document::{Contract, ContractPrice, ContractTerms};
use accord_core::id::ContractId;
use accord_core::lifecycle::ContractState;
use accord_core::negotiation::{
    MoveAction, MoveGuard, MoveRecord, NegotiationClosed, NegotiationOutcome, NegotiationSpec,
    Party, RefusedMove,
};
use accord_core::{PolicyVerdict, VerdictOutcome, round_minor};
use accord_negotiate::procurement::ProcurementSpace;
use accord_negotiate::protocol::{
    Deadline, EndReason, Move, OfferSet, Phase, Protocol, ProtocolKind, Side,
};
use accord_negotiate::session::{respond, side_rng};
use accord_negotiate::strategy::{AgentKind, Context, Rng, Strategy};
use accord_policy::{Action, MoveKind, Offer, RegionRules};
use chrono::{DateTime, Months, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{AgentError, MoveError};
use crate::guard::NegotiationMandate;

/// Asks the policy gate about one buyer move (`negotiation.offer` of one option, or
/// `negotiation.accept`) in a negotiation.
pub type GateFn<'a> = dyn Fn(&NegotiationSpec, Action, &Terms) -> PolicyVerdict + 'a;

/// A negotiation's clock as its campaign sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// The deadline, moved later by the time the campaign spent paused.
    pub expires_at: DateTime<Utc>,
    /// Moves wait: the campaign, or every agent, is paused.
    pub paused: bool,
}

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
    /// The buyer has paused the campaign (or every agent): moves get `503` until it
    /// resumes, and the deadline does not run meanwhile.
    pub paused: bool,
}

/// One negotiation with its buyer agent.
pub struct Live {
    pub spec: NegotiationSpec,
    space: Arc<ProcurementSpace>,
    protocol: Protocol,
    agent: Box<dyn Strategy>,
    rng: Rng,
    mandate: NegotiationMandate,
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
        let mandate = NegotiationMandate::new(&spec, RegionRules::builtin())?;
        Ok(Live {
            rng: side_rng(spec.seed, Side::A),
            mandate,
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
                    // The strategy moves again so that its state follows the log; what
                    // went out is the log's move, which differs where the guardrails
                    // withheld the strategy's (and said so in the record).
                    let mv = respond(&live.protocol, live.agent.as_mut(), &mut live.rng, 0);
                    let recomputed = live.action_of(mv);
                    let withheld = record.guard.as_ref().is_some_and(|g| !g.refused.is_empty());
                    if recomputed != record.action {
                        if !withheld {
                            tracing::warn!(
                                negotiation = %live.spec.id,
                                number = record.number,
                                "the agent's replayed move differs from the log; keeping the log's"
                            );
                        }
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
            guard: None,
        }
    }

    /// The buyer agent's move, through the guardrails, applied. Returns its record.
    ///
    /// The strategy proposes. Every option of an offer and every acceptance is checked
    /// against the mandate, then put to the gate (`deadline` is the negotiation's, after
    /// any campaign pause). An option either refuses is withheld, and a MESO offer goes
    /// out with the options left. When nothing is left, the buyer repeats its previous
    /// offer if that still passes, and otherwise ends the negotiation. An option the
    /// gate says needs approval goes out subject to it: a deal on it is escalated.
    pub fn buyer_moves(
        &mut self,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        gate: &GateFn<'_>,
    ) -> Result<MoveRecord, AgentError> {
        let proposed = respond(&self.protocol, self.agent.as_mut(), &mut self.rng, 0);
        let rationale = self.agent.rationale().map(|r| r.to_string());
        let (mv, guard, note) = self.guard(proposed, now, deadline, gate);
        let action = self.action_of(mv);
        let rationale = match (rationale, note) {
            (Some(r), Some(n)) => Some(format!("{r}; {n}")),
            (r, n) => r.or(n),
        };
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
        r.guard = Some(guard);
        self.moves.push(r.clone());
        Ok(r)
    }

    /// What of the strategy's `proposed` move may leave, what the guardrails said, and a
    /// note for the rationale when they withheld something.
    fn guard(
        &mut self,
        proposed: Move,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        gate: &GateFn<'_>,
    ) -> (Move, MoveGuard, Option<String>) {
        let (first, previous) = self.references();
        let refs = (first.as_ref(), previous.as_ref());
        let mut guard = MoveGuard::default();
        match proposed {
            Move::Offer(set) => {
                let kept = self.pass_all(set.as_slice(), now, deadline, refs, gate, &mut guard);
                if let Some(kept) = OfferSet::many(&kept) {
                    let note = (!guard.refused.is_empty()).then(|| {
                        format!(
                            "{} of {} options withheld by the guardrails ({})",
                            guard.refused.len(),
                            set.len(),
                            first_reason(&guard)
                        )
                    });
                    return (Move::Offer(kept), guard, note);
                }
            }
            Move::Accept { option } => {
                let Some(&k) = self.standing().get(usize::from(option)) else {
                    // Not a legal acceptance: the protocol refuses it when applied.
                    return (proposed, guard, None);
                };
                let terms = self.space.terms(k);
                match self.pass(MoveKind::Accept, &terms, now, deadline, refs, gate) {
                    Ok(verdict) => {
                        guard.verdicts.push(verdict);
                        return (proposed, guard, None);
                    }
                    Err(refused) => guard.refused.push(*refused),
                }
            }
            Move::Reject | Move::End => return (proposed, guard, None),
        }
        let why = first_reason(&guard);
        if let Some(again) = self.last_buyer_offer() {
            let kept = self.pass_all(&again, now, deadline, refs, gate, &mut guard);
            if let Some(kept) = OfferSet::many(&kept) {
                let note = format!(
                    "the strategy's move was withheld ({why}); the buyer repeats its previous offer"
                );
                return (Move::Offer(kept), guard, Some(note));
            }
        }
        let note = format!(
            "the strategy's move was withheld ({why}) and no earlier offer passes the \
             guardrails; the buyer ends the negotiation for a person to take over"
        );
        (Move::End, guard, Some(note))
    }

    /// The options of `set` that pass, with their verdicts recorded in `guard` (and the
    /// others in its `refused`).
    fn pass_all(
        &mut self,
        set: &[u32],
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        refs: (Option<&Offer>, Option<&Offer>),
        gate: &GateFn<'_>,
        guard: &mut MoveGuard,
    ) -> Vec<u32> {
        let mut kept = Vec::with_capacity(set.len());
        for &k in set {
            let terms = self.space.terms(k);
            match self.pass(MoveKind::Offer, &terms, now, deadline, refs, gate) {
                Ok(verdict) => {
                    guard.verdicts.push(verdict);
                    kept.push(k);
                }
                Err(refused) => guard.refused.push(*refused),
            }
        }
        kept
    }

    /// One offer option or acceptance through the mandate, then the gate. A gate verdict
    /// other than a denial lets it leave.
    fn pass(
        &mut self,
        kind: MoveKind,
        terms: &Terms,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        (first, previous): (Option<&Offer>, Option<&Offer>),
        gate: &GateFn<'_>,
    ) -> Result<PolicyVerdict, Box<RefusedMove>> {
        let (name, action) = match kind {
            MoveKind::Offer => ("offer", Action::NegotiationOffer),
            MoveKind::Accept => ("accept", Action::NegotiationAccept),
        };
        let refused = |by: &str, reason: String, verdict: Option<PolicyVerdict>| {
            Box::new(RefusedMove {
                kind: name.to_owned(),
                terms: *terms,
                by: by.to_owned(),
                reason,
                verdict,
            })
        };
        if let Err(v) = self
            .mandate
            .check(kind, terms, now, deadline, first, previous)
        {
            return Err(refused("mandate", v.to_string(), None));
        }
        let verdict = gate(&self.spec, action, terms);
        if verdict.outcome == VerdictOutcome::Deny {
            let reason = format!(
                "the policy gate denies it ({})",
                verdict.policy_ids.join(", ")
            );
            return Err(refused("gate", reason, Some(verdict)));
        }
        Ok(verdict)
    }

    /// The references of the buyer's opening and previous offers, for the mandate's
    /// concession limits.
    fn references(&self) -> (Option<Offer>, Option<Offer>) {
        let mut offers = self.buyer_offers();
        let first = offers.next();
        let last = offers.last().or(first);
        (
            first.and_then(|o| self.mandate.reference(o)),
            last.and_then(|o| self.mandate.reference(o)),
        )
    }

    /// The options of every offer the buyer made, oldest first.
    fn buyer_offers(&self) -> impl Iterator<Item = &[Terms]> {
        self.moves
            .iter()
            .filter_map(|m| match (&m.party, &m.action) {
                (Party::Buyer, MoveAction::Offer { options }) => Some(options.as_slice()),
                _ => None,
            })
    }

    /// The outcomes of the buyer's last offer.
    fn last_buyer_offer(&self) -> Option<Vec<u32>> {
        let options = self.buyer_offers().last()?;
        Some(
            options
                .iter()
                .filter_map(|t| self.space.outcome_of(t))
                .collect(),
        )
    }

    /// When the agreement rests on a buyer move the gate said needs approval (the
    /// buyer's acceptance, or the option of its offer the supplier accepted), that
    /// verdict: the deal is escalated whatever the award's verdict.
    pub fn agreement_needs_approval(&self) -> Option<&PolicyVerdict> {
        let Phase::Agreed { outcome, .. } = self.protocol.phase() else {
            return None;
        };
        let terms = self.space.terms(outcome);
        let buyer = self.moves.iter().rev().find(|m| m.party == Party::Buyer)?;
        let i = match &buyer.action {
            MoveAction::Accept { .. } => 0,
            MoveAction::Offer { options } => options.iter().position(|o| *o == terms)?,
            MoveAction::Reject | MoveAction::End => return None,
        };
        buyer
            .guard
            .as_ref()?
            .verdicts
            .get(i)
            .filter(|v| matches!(v.outcome, VerdictOutcome::NeedsApproval { .. }))
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

    /// The supplier's view, on the negotiation's `clock`.
    pub fn view(&self, clock: Clock) -> NegotiationView {
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
            expires_at: clock.expires_at,
            currency: self.spec.bounds.price_min.currency.to_string(),
            bounds: self.spec.bounds.clone(),
            current_terms: self.spec.buyer.batna,
            annual_volume: self.spec.buyer.annual_volume,
            offers,
            allowed_moves,
            // The agent's rationale and the guardrails' record stay in the log: they would
            // tell the supplier the buyer's concession curve, limits and policies.
            history: self
                .moves
                .iter()
                .map(|m| MoveRecord {
                    rationale: None,
                    guard: None,
                    ..m.clone()
                })
                .collect(),
            agreed,
            version: self.version,
            paused: clock.paused && self.closed.is_none(),
        }
    }
}

/// The first reason something was withheld, for a rationale.
fn first_reason(guard: &MoveGuard) -> String {
    guard
        .refused
        .first()
        .map_or_else(String::new, |r| format!("{}: {}", r.by, r.reason))
}

#[cfg(test)]
pub(crate) mod tests {
    use accord_core::deal::Buyer;
    use accord_core::id::{CampaignId, NegotiationId, SupplierId};
    use accord_core::negotiation::{CampaignTemplate, MandateLimits};
    use accord_core::{CategoryCode, Currency, RegionCode, RiskTier, SizeClass};
    use accord_negotiate::procurement::campaign_bounds;
    use chrono::{Duration, TimeZone};

    use super::*;

    pub(crate) fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    /// A small French supplier at 10.00 EUR a unit, 1,000 units a year, net 30, 14 days'
    /// lead time, under the default template and `limits`.
    pub(crate) fn spec(limits: MandateLimits) -> NegotiationSpec {
        let price = Money::new(1_000, Currency::EUR);
        let spend = Money::new(1_000_000, Currency::EUR);
        let template = CampaignTemplate::default();
        NegotiationSpec {
            id: NegotiationId::from_parts(1_700_000_000_000, 1),
            campaign: CampaignId::from_parts(1_700_000_000_000, 2),
            supplier: SupplierId::from_parts(1_700_000_000_000, 3),
            supplier_ref: "S-1".into(),
            supplier_name: "Supplier 1".into(),
            region: RegionCode::parse("FR").unwrap(),
            size: SizeClass::Small,
            risk: RiskTier::Low,
            category: CategoryCode::parse("tail").unwrap(),
            bounds: campaign_bounds(&template, price, 30, 60, 14),
            buyer: Buyer {
                batna: Terms {
                    price,
                    payment_days: 30,
                    lead_time_days: 14,
                    contract_months: 12,
                    early_payment: None,
                },
                annual_volume: 1_000,
                cost_of_capital: template.cost_of_capital,
                lead_time_cost_per_day: spend.scale(template.lead_time_cost_rate).unwrap(),
            },
            annual_spend: spend,
            rounds: template.rounds,
            meso: false,
            seed: 7,
            token_hash: String::new(),
            opened_at: t0(),
            expires_at: t0() + Duration::hours(24),
            mandate: limits,
        }
    }

    fn verdict(outcome: VerdictOutcome) -> PolicyVerdict {
        PolicyVerdict {
            outcome,
            policy_ids: vec!["test.policy".into()],
            policy_set_hash: "0".into(),
        }
    }

    fn allow(_: &NegotiationSpec, _: Action, _: &Terms) -> PolicyVerdict {
        verdict(VerdictOutcome::Allow)
    }

    /// The supplier's hardest line: the highest price, the shortest payment, the longest
    /// lead time.
    fn stubborn(live: &Live) -> SupplierMove {
        let b = live.spec.bounds.clone();
        SupplierMove::Counter {
            offer: Terms {
                price: b.price_max,
                payment_days: b.payment_days.0,
                lead_time_days: b.lead_time_days.1,
                contract_months: b.contract_months[0],
                early_payment: None,
            },
        }
    }

    /// Plays the buyer against `supplier` until the negotiation ends.
    fn play(live: &mut Live, gate: &GateFn<'_>, supplier: impl Fn(&Live) -> SupplierMove) {
        let deadline = live.spec.expires_at;
        live.buyer_moves(t0(), deadline, gate).unwrap();
        while live.turn() == Some(Party::Supplier) {
            let mv = supplier(live);
            live.supplier_moves(&mv, None, None, t0()).unwrap();
            if live.turn() == Some(Party::Buyer) {
                live.buyer_moves(t0(), deadline, gate).unwrap();
            }
        }
    }

    fn buyer_prices(live: &Live) -> Vec<Vec<i64>> {
        live.buyer_offers()
            .map(|o| o.iter().map(|t| t.price.minor).collect())
            .collect()
    }

    #[test]
    fn an_offer_outside_the_mandate_never_leaves() {
        for meso in [false, true] {
            // The strategy would concede up to today's price; the mandate allows 2% of
            // today's price (20) above the opening.
            let mut s = spec(MandateLimits {
                max_price_concession: Some(Decimal::new(2, 2)),
                ..MandateLimits::default()
            });
            s.meso = meso;
            let mut loose = Live::new(NegotiationSpec {
                mandate: MandateLimits::default(),
                ..s.clone()
            })
            .unwrap();
            let mut live = Live::new(s).unwrap();
            play(&mut loose, &allow, stubborn);
            play(&mut live, &allow, stubborn);

            let prices = buyer_prices(&live);
            let opening = *prices[0].iter().min().unwrap();
            let loose_max = buyer_prices(&loose).into_iter().flatten().max().unwrap();
            assert!(
                loose_max > opening + 20,
                "meso {meso}: without the limit the strategy goes to {loose_max}"
            );
            for offer in &prices {
                for p in offer {
                    assert!(
                        *p <= opening + 20,
                        "meso {meso}: {p} after {opening}: {prices:?}"
                    );
                }
            }
            let withheld: Vec<&RefusedMove> = live
                .moves
                .iter()
                .filter_map(|m| m.guard.as_ref())
                .flat_map(|g| &g.refused)
                .collect();
            assert!(!withheld.is_empty(), "meso {meso}: the mandate bit");
            assert!(withheld.iter().all(|r| r.by == "mandate"), "{withheld:?}");
            assert!(
                live.moves
                    .iter()
                    .filter(|m| m.party == Party::Buyer)
                    .all(|m| m
                        .guard
                        .as_ref()
                        .is_some_and(|g| !g.verdicts.is_empty()
                            || !matches!(m.action, MoveAction::Offer { .. }))),
                "every offer carries the gate's verdicts"
            );
            // The log replays to the same state, withheld moves and all.
            let replayed = Live::replay(
                live.spec.clone(),
                live.moves.clone(),
                None,
                live.moves.len() as u64 + 1,
            )
            .unwrap();
            assert_eq!(buyer_prices(&replayed), prices);
            assert_eq!(replayed.turn(), live.turn());
        }
    }

    #[test]
    fn a_denied_opening_ends_the_negotiation() {
        let deny = |_: &NegotiationSpec, _: Action, _: &Terms| verdict(VerdictOutcome::Deny);
        let mut live = Live::new(spec(MandateLimits::default())).unwrap();
        let r = live.buyer_moves(t0(), live.spec.expires_at, &deny).unwrap();
        assert_eq!(r.action, MoveAction::End);
        let guard = r.guard.unwrap();
        assert_eq!(guard.refused.len(), 1);
        assert_eq!(guard.refused[0].by, "gate");
        assert!(r.rationale.unwrap().contains("person to take over"));
        let (closed, contract) = live.closing(t0(), None).unwrap().unwrap();
        assert!(contract.is_none());
        assert_eq!(
            closed.outcome,
            NegotiationOutcome::Declined { by: Party::Buyer }
        );
    }

    #[test]
    fn a_deal_on_an_offer_that_needs_approval_is_escalated() {
        let approve = |_: &NegotiationSpec, _: Action, _: &Terms| {
            verdict(VerdictOutcome::NeedsApproval {
                role: "category_manager".into(),
            })
        };
        let mut live = Live::new(spec(MandateLimits::default())).unwrap();
        live.buyer_moves(t0(), live.spec.expires_at, &approve)
            .unwrap();
        assert_eq!(
            live.view(Clock {
                expires_at: t0(),
                paused: false
            })
            .offers
            .len(),
            1
        );
        live.supplier_moves(&SupplierMove::Accept { option: 0 }, None, None, t0())
            .unwrap();
        let v = live.agreement_needs_approval().expect("escalated");
        assert_eq!(v.policy_ids, ["test.policy"]);
    }
}
