//! Serving negotiations: the supplier's move and the buyer agent's answer commit in one
//! append, guarded by the negotiation stream's version, so nodes sharing a database never
//! both apply a move, and a node that loses the race reloads and retries.
//!
//! Negotiations live in a bounded cache; one that is not cached (evicted, or handled by
//! another node last) is rebuilt from its stream. So the number of open negotiations is
//! bounded by the database, not by memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use accord_core::deal::Terms;
use accord_core::event::negotiation_stream;
use accord_core::id::NegotiationId;
use accord_core::negotiation::{
    MoveRecord, NegotiationClosed, NegotiationOutcome, NegotiationSpec,
};
use accord_core::{Event, FxTable, PolicyVerdict};
use accord_policy::{
    Action, AgentKind, AutonomyTable, Gate, GateEnv, GateRequest, KillSwitch, Outcome, Principal,
    Resource,
};
use accord_store::{Append, ExpectedVersion, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::error::{AgentError, MoveError};
pub use crate::live::SupplierMove;
use crate::live::{Live, NegotiationView};

/// The agent's version, recorded with every gate decision.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Negotiations kept in memory; others are rebuilt from the log on demand.
    pub cache_capacity: usize,
}

impl Default for HostOptions {
    fn default() -> HostOptions {
        // A negotiation in memory costs about 0.2 MiB (its utility table, value table and
        // the agent's state for ~4,500 outcomes): 2,048 of them stay under half a GiB.
        // A miss costs one stream read and a replay of a few milliseconds.
        HostOptions {
            cache_capacity: 2_048,
        }
    }
}

/// A negotiation changed: whose turn it is now.
#[derive(Clone, Debug)]
pub struct TurnChange {
    pub negotiation: NegotiationId,
    pub version: u64,
    pub status: String,
    pub turn: Option<accord_core::negotiation::Party>,
}

type Cell = Arc<tokio::sync::Mutex<Option<Live>>>;

struct Slot {
    cell: Cell,
    used: u64,
}

/// What the gate consults besides the request (the kill switch is the host's pause
/// probe: while it is on, no move reaches the gate).
pub struct Governance {
    pub gate: Gate,
    pub fx: FxTable,
    pub autonomy: AutonomyTable,
}

impl Governance {
    /// The gate over `policies`, reporting in `fx`'s base currency.
    pub fn new(
        policies: Arc<accord_policy::PolicySet>,
        fx: FxTable,
        autonomy: AutonomyTable,
    ) -> Result<Governance, accord_policy::GateError> {
        Ok(Governance {
            gate: Gate::new(policies, fx.base)?,
            fx,
            autonomy,
        })
    }
}

pub struct Host<S> {
    store: S,
    governance: Arc<Governance>,
    options: HostOptions,
    slots: Mutex<HashMap<NegotiationId, Slot>>,
    clock: AtomicU64,
    turns: broadcast::Sender<TurnChange>,
    /// Asked on every move: the kill switch as the log has it.
    pause_probe: Option<PauseProbe>,
}

/// Reports whether the kill switch is on (kept current by the governance service).
pub type PauseProbe = Arc<dyn Fn() -> bool + Send + Sync>;

impl<S: Store + Clone + 'static> Host<S> {
    pub fn new(store: S, governance: Arc<Governance>, options: HostOptions) -> Host<S> {
        Host {
            store,
            governance,
            options,
            slots: Mutex::new(HashMap::new()),
            clock: AtomicU64::new(0),
            turns: broadcast::channel(4096).0,
            pause_probe: None,
        }
    }

    /// Consults `probe` on every move: while it says paused, moves are refused with
    /// `agents_paused` and every negotiation holds its state.
    pub fn with_pause_probe(mut self, probe: PauseProbe) -> Host<S> {
        self.pause_probe = Some(probe);
        self
    }

    fn is_paused(&self) -> bool {
        self.pause_probe.as_ref().is_some_and(|p| p())
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn governance(&self) -> &Governance {
        &self.governance
    }

    /// Turn changes committed by this node.
    pub fn subscribe(&self) -> broadcast::Receiver<TurnChange> {
        self.turns.subscribe()
    }

    fn cell(&self, id: NegotiationId) -> Cell {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().expect("slot map poisoned");
        if let Some(slot) = slots.get_mut(&id) {
            slot.used = tick;
            return slot.cell.clone();
        }
        if slots.len() >= self.options.cache_capacity {
            // Evict the least recently used tenth that nobody holds right now.
            let mut idle: Vec<(u64, NegotiationId)> = slots
                .iter()
                .filter(|(_, s)| Arc::strong_count(&s.cell) == 1)
                .map(|(k, s)| (s.used, *k))
                .collect();
            idle.sort_unstable();
            for (_, k) in idle.iter().take(self.options.cache_capacity / 10 + 1) {
                slots.remove(k);
            }
        }
        let cell: Cell = Arc::new(tokio::sync::Mutex::new(None));
        slots.insert(
            id,
            Slot {
                cell: cell.clone(),
                used: tick,
            },
        );
        cell
    }

    /// Rebuilds a negotiation from its stream; `None` if it does not exist.
    pub async fn load(&self, id: NegotiationId) -> Result<Option<Live>, AgentError> {
        let stream = negotiation_stream(id);
        let mut spec: Option<NegotiationSpec> = None;
        let mut moves: Vec<MoveRecord> = Vec::new();
        let mut closed: Option<NegotiationClosed> = None;
        let mut version = 0;
        loop {
            let page = self.store.read_stream(&stream, version, 1000).await?;
            if page.is_empty() {
                break;
            }
            for stored in page {
                version = stored.stream_version;
                match stored.event()? {
                    Event::NegotiationOpened { negotiation } => spec = Some(negotiation),
                    Event::NegotiationMoved { record } => moves.push(record),
                    Event::NegotiationClosed { closed: c } => closed = Some(c),
                    other => {
                        return Err(AgentError::Corrupt {
                            id: id.to_string(),
                            why: format!("unexpected `{}` event", other.kind()),
                        });
                    }
                }
            }
        }
        let Some(spec) = spec else {
            return Ok(None);
        };
        Live::replay(spec, moves, closed, version).map(Some)
    }

    /// Makes `slot` hold the negotiation as the log has it now.
    async fn current(&self, slot: &mut Option<Live>, id: NegotiationId) -> Result<(), MoveError> {
        if let Some(live) = slot.as_ref() {
            let newer = self
                .store
                .read_stream(&negotiation_stream(id), live.version, 1)
                .await?;
            if newer.is_empty() {
                return Ok(());
            }
        }
        *slot = Some(self.load(id).await?.ok_or(MoveError::NotFound)?);
        Ok(())
    }

    fn authorise(live: &Live, token: &str) -> Result<(), MoveError> {
        if crate::build::token_hash(token) == live.spec.token_hash {
            Ok(())
        } else {
            Err(MoveError::Forbidden)
        }
    }

    /// The negotiation as its supplier sees it. One past its deadline is closed as
    /// expired first, so a reader never sees an expired negotiation as open.
    pub async fn view(&self, id: NegotiationId, token: &str) -> Result<NegotiationView, MoveError> {
        let now = Utc::now();
        for _ in 0..2 {
            let cell = self.cell(id);
            let mut slot = cell.lock().await;
            self.current(&mut slot, id).await?;
            let live = slot.as_ref().ok_or(MoveError::NotFound)?;
            Self::authorise(live, token)?;
            if live.closed.is_some() || now <= live.spec.expires_at {
                return Ok(live.view());
            }
            drop(slot);
            self.expire(id, now).await?;
        }
        Err(MoveError::Conflict)
    }

    /// The gate's verdict on awarding `terms` to the negotiation's supplier.
    pub fn award_verdict(&self, live: &Live, terms: &Terms) -> (PolicyVerdict, Option<String>) {
        let spec = &live.spec;
        let years =
            rust_decimal::Decimal::from(terms.contract_months) / rust_decimal::Decimal::from(12);
        let value = spec.annual_spend.scale(years).unwrap_or(spec.annual_spend);
        let resource = Resource::new(format!("negotiation/{}", spec.id))
            .with_amount(value)
            .with_category(spec.category.clone())
            .with_region(spec.region.clone())
            .with_supplier(spec.risk, spec.size, false);
        let request = GateRequest::new(
            Principal::agent(AgentKind::Negotiator, AGENT_VERSION),
            Action::ContractAward,
            resource,
        );
        let g = &self.governance;
        // Moves are refused while the kill switch is on (`is_paused`), before any award
        // reaches the gate, so the gate sees it off here.
        let kill = KillSwitch::default();
        let verdict = g
            .gate
            .decide(&request, &GateEnv::new(&g.autonomy, &kill).with_fx(&g.fx));
        let escalation = match verdict.outcome {
            Outcome::Allow => None,
            Outcome::NeedsApproval { role } => Some(format!(
                "needs approval by a {} ({})",
                role.as_str(),
                verdict.policy_ids.join(", ")
            )),
            Outcome::Deny => Some(format!(
                "the agent may not award this deal ({}); a person must decide",
                verdict.policy_ids.join(", ")
            )),
        };
        (verdict.to_core(), escalation)
    }

    /// The events that close `live` if it has ended, with the gate's verdict on a deal.
    fn close_events(&self, live: &mut Live, now: DateTime<Utc>) -> Result<Vec<Event>, AgentError> {
        let (verdict, escalation) = match live.agreed_terms() {
            Some(terms) => {
                let (v, e) = self.award_verdict(live, &terms);
                (Some(v), e)
            }
            None => (None, None),
        };
        let Some((mut closed, contract)) = live.closing(now, escalation)? else {
            return Ok(Vec::new());
        };
        closed.verdict = verdict;
        let mut events = Vec::new();
        if let Some(contract) = contract {
            events.push(Event::ContractRecorded { contract });
        }
        events.push(Event::NegotiationClosed {
            closed: closed.clone(),
        });
        live.closed = Some(closed);
        Ok(events)
    }

    /// Opens negotiations: each opening and the buyer's first offer commit together,
    /// keyed so that opening the same supplier twice in a campaign writes nothing.
    pub async fn open(
        &self,
        specs: Vec<NegotiationSpec>,
        now: DateTime<Utc>,
    ) -> Result<usize, AgentError> {
        let mut commands = Vec::with_capacity(specs.len());
        for spec in specs {
            let key = format!("campaign/{}/open/{}", spec.campaign, spec.supplier);
            let stream = negotiation_stream(spec.id);
            let mut live = Live::new(spec.clone())?;
            let first = live.buyer_moves(now)?;
            commands.push(
                Append::many(vec![
                    Event::NegotiationOpened { negotiation: spec },
                    Event::NegotiationMoved { record: first },
                ])
                .key(key)
                .expect(stream, ExpectedVersion::NoStream),
            );
        }
        let appended = self.store.append_batch(commands).await?;
        Ok(appended.iter().filter(|a| !a.replayed).count())
    }

    /// Closes an open negotiation whose deadline has passed. `false` if it was not due.
    pub async fn expire(&self, id: NegotiationId, now: DateTime<Utc>) -> Result<bool, AgentError> {
        for _ in 0..3 {
            let cell = self.cell(id);
            let mut slot = cell.lock().await;
            match self.current(&mut slot, id).await {
                Ok(()) => {}
                Err(MoveError::NotFound) => return Ok(false),
                Err(MoveError::Agent(e)) => return Err(e),
                Err(e) => return Err(AgentError::Invalid(e.to_string())),
            }
            let live = slot
                .as_mut()
                .ok_or_else(|| AgentError::NotFound(id.to_string()))?;
            if live.closed.is_some() || now <= live.spec.expires_at {
                return Ok(false);
            }
            let closed = live.closed_record(NegotiationOutcome::Expired, now);
            let append = Append::new(Event::NegotiationClosed {
                closed: closed.clone(),
            })
            .expect(negotiation_stream(id), ExpectedVersion::Exact(live.version));
            match self.store.append(append).await {
                Ok(_) => {
                    live.closed = Some(closed);
                    live.version += 1;
                    self.notify(live);
                    return Ok(true);
                }
                Err(StoreError::Conflict { .. }) => *slot = None,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }

    fn notify(&self, live: &Live) {
        let view_status = live
            .closed
            .as_ref()
            .map_or("open".to_owned(), |c| c.outcome.state().to_owned());
        let _ = self.turns.send(TurnChange {
            negotiation: live.spec.id,
            version: live.version,
            status: view_status,
            turn: live.turn(),
        });
    }

    /// Applies a supplier's move and the agent's answer. Returns the new view and
    /// whether the request was a replay of an earlier one (same idempotency key and body).
    pub async fn submit(
        &self,
        id: NegotiationId,
        token: &str,
        key: Option<&str>,
        request_hash: &str,
        mv: &SupplierMove,
        now: DateTime<Utc>,
    ) -> Result<(NegotiationView, bool), MoveError> {
        let stream = negotiation_stream(id);
        for _ in 0..4 {
            let cell = self.cell(id);
            let mut slot = cell.lock().await;
            self.current(&mut slot, id).await?;
            let live = slot.as_mut().ok_or(MoveError::NotFound)?;
            Self::authorise(live, token)?;
            if let Some(k) = key
                && live.seen_key(k, request_hash)?
            {
                return Ok((live.view(), true));
            }
            if let Some(c) = &live.closed {
                return Err(MoveError::Closed(c.outcome.state().into()));
            }
            if now > live.spec.expires_at {
                let expired_at = live.spec.expires_at.to_rfc3339();
                drop(slot);
                self.expire(id, now).await?;
                return Err(MoveError::Expired(expired_at));
            }
            if self.is_paused() {
                return Err(MoveError::Paused);
            }
            let before = live.version;
            let supplier = live.supplier_moves(mv, key, Some(request_hash), now)?;
            // From here `live` is ahead of the log: any failure drops it, so the next
            // request rebuilds it from the log.
            let result: Result<Vec<Event>, AgentError> = (|| {
                let mut events = vec![Event::NegotiationMoved { record: supplier }];
                if live.turn() == Some(accord_core::negotiation::Party::Buyer) {
                    events.push(Event::NegotiationMoved {
                        record: live.buyer_moves(now)?,
                    });
                }
                events.extend(self.close_events(live, now)?);
                Ok(events)
            })();
            let events = match result {
                Ok(e) => e,
                Err(e) => {
                    *slot = None;
                    return Err(e.into());
                }
            };
            let in_stream = events.iter().filter(|e| e.stream() == stream).count() as u64;
            let mut append =
                Append::many(events).expect(stream.clone(), ExpectedVersion::Exact(before));
            if let Some(k) = key {
                append = append.key(format!("{stream}/move/{k}"));
            }
            match self.store.append(append).await {
                Ok(a) if !a.replayed => {
                    live.version = before + in_stream;
                    self.notify(live);
                    return Ok((live.view(), false));
                }
                // Another node committed this request, or another move, first.
                Ok(_) | Err(StoreError::Conflict { .. }) => *slot = None,
                Err(e) => {
                    *slot = None;
                    return Err(e.into());
                }
            }
        }
        Err(MoveError::Conflict)
    }
}
