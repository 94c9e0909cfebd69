//! Serving negotiations: the supplier's move and the buyer agent's answer commit in one
//! append, guarded by the negotiation stream's version, so nodes sharing a database never
//! both apply a move, and a node that loses the race reloads and retries.
//!
//! Negotiations live in a bounded cache; one that is not cached (evicted, or handled by
//! another node last) is rebuilt from its stream. So the number of open negotiations is
//! bounded by the database, not by memory.
//!
//! A campaign's pause reaches every node through the campaign's stream: each node caches
//! the campaign's state and stream version for a short while, and every move it commits
//! expects that version too. A pause moves the version, so a move racing it on any node
//! loses, reloads, and is refused; no move commits in a campaign after its pause did.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use accord_core::deal::Terms;
use accord_core::event::{campaign_stream, negotiation_stream};
use accord_core::id::{CampaignId, NegotiationId};
use accord_core::negotiation::{
    CampaignState, MoveRecord, NegotiationClosed, NegotiationOutcome, NegotiationSpec,
};
use accord_core::{CategoryCode, Event, FxTable, PolicyVerdict, VerdictOutcome};
use accord_policy::{
    Action, AgentKind, AutonomyTable, CategoryAutonomy, Gate, GateEnv, GateRequest, KillSwitch,
    Principal, Resource, Verdict,
};
use accord_store::{Append, ExpectedVersion, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::error::{AgentError, MoveError};
pub use crate::live::SupplierMove;
use crate::live::{Clock, Live, NegotiationView};

/// The agent's version, recorded with every gate decision.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Negotiations kept in memory; others are rebuilt from the log on demand.
    pub cache_capacity: usize,
    /// How long a campaign's state read from the log is trusted before it is read again.
    /// Moves never rely on it alone (they commit expecting the campaign's stream version),
    /// so this only bounds how late a reader on another node sees a pause.
    pub campaign_ttl: StdDuration,
}

impl Default for HostOptions {
    fn default() -> HostOptions {
        // A negotiation in memory costs about 0.2 MiB (its utility table, value table and
        // the agent's state for ~4,500 outcomes): 2,048 of them stay under half a GiB.
        // A miss costs one stream read and a replay of a few milliseconds.
        HostOptions {
            cache_capacity: 2_048,
            campaign_ttl: StdDuration::from_secs(1),
        }
    }
}

/// A campaign as the host last read it from the campaign's stream.
#[derive(Clone, Debug)]
pub struct CampaignClock {
    pub state: CampaignState,
    /// The campaign stream's version (0: no such stream).
    pub version: u64,
    /// Every pause, oldest first: when it began and, once resumed, when it ended.
    pub pauses: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    read_at: Instant,
}

impl CampaignClock {
    /// A negotiation's clock at `now`, for one due at `expires_at`: each pause that began
    /// before the deadline (as moved by the pauses before it) moves the deadline by its
    /// length; while paused, the deadline moves with the clock.
    pub fn clock(&self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Clock {
        let mut deadline = expires_at;
        for (from, to) in &self.pauses {
            if *from > deadline {
                break;
            }
            deadline += to.unwrap_or(now).max(*from) - *from;
        }
        Clock {
            expires_at: deadline,
            paused: self.state == CampaignState::Paused,
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

/// Reads a category's autonomy as it stands (kept current from the log by the
/// governance service).
pub type AutonomyProbe = Arc<dyn Fn(&CategoryCode) -> CategoryAutonomy + Send + Sync>;

/// What the gate consults besides the request (the kill switch is the host's pause
/// probe: while it is on, no move reaches the gate).
pub struct Governance {
    pub gate: Gate,
    pub fx: FxTable,
    /// Autonomy per category when no probe is set; its seed seeds review sampling.
    pub autonomy: AutonomyTable,
    autonomy_probe: Option<AutonomyProbe>,
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
            autonomy_probe: None,
        })
    }

    /// Asks `probe` for a category's autonomy on every decision instead of the fixed
    /// table, so that `accord autonomy set` takes effect while the host runs.
    pub fn with_autonomy_probe(mut self, probe: AutonomyProbe) -> Governance {
        self.autonomy_probe = Some(probe);
        self
    }

    /// A category's autonomy now, as the one-row table the gate reads.
    pub fn autonomy_of(&self, category: &CategoryCode) -> AutonomyTable {
        let setting = match &self.autonomy_probe {
            Some(probe) => probe(category),
            None => self.autonomy.get(Some(category)),
        };
        AutonomyTable {
            default: setting,
            categories: BTreeMap::new(),
            seed: self.autonomy.seed,
        }
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
    /// Campaigns as last read from their streams.
    campaigns: Mutex<HashMap<CampaignId, Arc<CampaignClock>>>,
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
            campaigns: Mutex::new(HashMap::new()),
        }
    }

    /// Consults `probe` on every move: while it says paused, moves are refused with
    /// `agents_paused` and every negotiation holds its state.
    pub fn with_pause_probe(mut self, probe: PauseProbe) -> Host<S> {
        self.pause_probe = Some(probe);
        self
    }

    /// Whether the kill switch is on.
    pub fn is_paused(&self) -> bool {
        self.pause_probe.as_ref().is_some_and(|p| p())
    }

    /// The campaign's state, version and pauses: from the cache while younger than
    /// `campaign_ttl` and running, else read from its stream (a paused campaign is read
    /// every time, so a resume on another node is seen at once). `fresh` forces a read.
    pub async fn campaign(
        &self,
        id: CampaignId,
        fresh: bool,
    ) -> Result<Arc<CampaignClock>, AgentError> {
        if !fresh {
            let cached = self
                .campaigns
                .lock()
                .expect("campaign cache poisoned")
                .get(&id)
                .cloned();
            if let Some(c) = cached
                && c.state != CampaignState::Paused
                && c.read_at.elapsed() < self.options.campaign_ttl
            {
                return Ok(c);
            }
        }
        let stream = campaign_stream(id);
        let mut clock = CampaignClock {
            // Negotiations opened outside a recorded campaign (tests) run freely.
            state: CampaignState::Running,
            version: 0,
            pauses: Vec::new(),
            read_at: Instant::now(),
        };
        loop {
            let page = self.store.read_stream(&stream, clock.version, 1000).await?;
            if page.is_empty() {
                break;
            }
            for stored in page {
                clock.version = stored.stream_version;
                let state = match stored.event()? {
                    Event::CampaignCreated { .. } => CampaignState::Draft,
                    Event::CampaignStateChanged { state, .. } => CampaignState::parse(&state)
                        .ok_or_else(|| {
                            AgentError::Invalid(format!("campaign {id}: unknown state `{state}`"))
                        })?,
                    other => {
                        return Err(AgentError::Invalid(format!(
                            "campaign {id}: unexpected `{}` event",
                            other.kind()
                        )));
                    }
                };
                let at = DateTime::parse_from_rfc3339(&stored.recorded_at)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| AgentError::Invalid(format!("campaign {id}: {e}")))?;
                match (clock.state, state) {
                    (CampaignState::Paused, CampaignState::Paused) => {}
                    (_, CampaignState::Paused) => clock.pauses.push((at, None)),
                    (CampaignState::Paused, _) => {
                        if let Some(last) = clock.pauses.last_mut() {
                            last.1 = Some(at);
                        }
                    }
                    _ => {}
                }
                clock.state = state;
            }
        }
        let clock = Arc::new(clock);
        self.campaigns
            .lock()
            .expect("campaign cache poisoned")
            .insert(id, clock.clone());
        Ok(clock)
    }

    /// Drops the cached state of a campaign this node just changed.
    pub fn forget_campaign(&self, id: CampaignId) {
        self.campaigns
            .lock()
            .expect("campaign cache poisoned")
            .remove(&id);
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

    /// Negotiations in the cache now (at most about `cache_capacity`).
    pub fn cached(&self) -> usize {
        self.slots.lock().expect("slot map poisoned").len()
    }

    /// The options the host runs with.
    pub fn options(&self) -> &HostOptions {
        &self.options
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
            let (campaign, expires_at) = {
                let live = slot.as_ref().ok_or(MoveError::NotFound)?;
                Self::authorise(live, token)?;
                (live.spec.campaign, live.spec.expires_at)
            };
            // `Live` is not `Sync`: no reference to it is held across this await.
            let campaign = self.campaign(campaign, false).await?;
            let mut clock = campaign.clock(expires_at, now);
            let live = slot.as_ref().ok_or(MoveError::NotFound)?;
            if live.closed.is_some() || clock.paused || now <= clock.expires_at {
                clock.paused |= self.is_paused();
                return Ok(live.view(clock));
            }
            drop(slot);
            self.expire(id, now).await?;
        }
        Err(MoveError::Conflict)
    }

    /// The gate's verdict on `action` by the negotiating agent, about `terms` with the
    /// negotiation's supplier. The amount is the deal's value over the contract at
    /// today's spend, as for the award, so an offer and the deal on it are judged alike.
    pub fn decide(&self, spec: &NegotiationSpec, action: Action, terms: &Terms) -> Verdict {
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
            action,
            resource,
        );
        let g = &self.governance;
        let autonomy = g.autonomy_of(&spec.category);
        // Moves are refused while the kill switch is on (`is_paused`), before any of them
        // reaches the gate, so the gate sees it off here.
        let kill = KillSwitch::default();
        g.gate
            .decide(&request, &GateEnv::new(&autonomy, &kill).with_fx(&g.fx))
    }

    /// The gate's verdict on one buyer move, as the log records it.
    fn move_verdict(&self, spec: &NegotiationSpec, action: Action, terms: &Terms) -> PolicyVerdict {
        self.decide(spec, action, terms).to_core()
    }

    /// The gate's verdict on awarding `terms` to the negotiation's supplier, and why the
    /// deal is escalated if it is not allowed.
    pub fn award_verdict(&self, live: &Live, terms: &Terms) -> (PolicyVerdict, Option<String>) {
        let verdict = self
            .decide(&live.spec, Action::ContractAward, terms)
            .to_core();
        let escalation = escalation(&verdict, "award this deal");
        (verdict, escalation)
    }

    /// The events that close `live` if it has ended, with the gate's verdict on a deal.
    /// A deal on a buyer move that went out subject to approval is escalated with that
    /// move's verdict, even if the award alone would be allowed.
    fn close_events(&self, live: &mut Live, now: DateTime<Utc>) -> Result<Vec<Event>, AgentError> {
        let (verdict, escalation) = match live.agreed_terms() {
            Some(terms) => match self.award_verdict(live, &terms) {
                (v, None) => match live.agreement_needs_approval() {
                    Some(offered) => (
                        Some(offered.clone()),
                        escalation(offered, "make the offer this deal rests on"),
                    ),
                    None => (Some(v), None),
                },
                (v, e) => (Some(v), e),
            },
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
        let gate = |spec: &NegotiationSpec, action: Action, terms: &Terms| {
            self.move_verdict(spec, action, terms)
        };
        for spec in specs {
            let key = format!("campaign/{}/open/{}", spec.campaign, spec.supplier);
            let stream = negotiation_stream(spec.id);
            let mut live = Live::new(spec.clone())?;
            let first = live.buyer_moves(now, spec.expires_at, &gate)?;
            let mut events = vec![
                Event::NegotiationOpened { negotiation: spec },
                Event::NegotiationMoved { record: first },
            ];
            // The guardrails may have ended it at once.
            events.extend(self.close_events(&mut live, now)?);
            commands.push(
                Append::many(events)
                    .key(key)
                    .expect(stream, ExpectedVersion::NoStream),
            );
        }
        let appended = self.store.append_batch(commands).await?;
        Ok(appended.iter().filter(|a| !a.replayed).count())
    }

    /// Closes an open negotiation whose deadline (moved by its campaign's pauses) has
    /// passed. `false` if it was not due, or its campaign is paused: a pause holds every
    /// deadline, and the expiry commits expecting the campaign's version, so it cannot
    /// slip past a pause made meanwhile on another node.
    pub async fn expire(&self, id: NegotiationId, now: DateTime<Utc>) -> Result<bool, AgentError> {
        for attempt in 0..3 {
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
            let campaign = self.campaign(live.spec.campaign, attempt > 0).await?;
            let clock = campaign.clock(live.spec.expires_at, now);
            if live.closed.is_some() || clock.paused || now <= clock.expires_at {
                return Ok(false);
            }
            let closed = live.closed_record(NegotiationOutcome::Expired, now);
            let append = Append::new(Event::NegotiationClosed {
                closed: closed.clone(),
            })
            .expect(negotiation_stream(id), ExpectedVersion::Exact(live.version))
            .expect(
                campaign_stream(live.spec.campaign),
                ExpectedVersion::Exact(campaign.version),
            );
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
        let gate = |spec: &NegotiationSpec, action: Action, terms: &Terms| {
            self.move_verdict(spec, action, terms)
        };
        for attempt in 0..4 {
            let cell = self.cell(id);
            let mut slot = cell.lock().await;
            // The cached negotiation is used as it is, without asking the log whether
            // another node moved meanwhile: the append below expects the stream version
            // the cache has, so a stale cache fails it with a conflict, is dropped, and
            // the next attempt rebuilds from the log. One read per move saved.
            if slot.is_none() {
                *slot = Some(self.load(id).await?.ok_or(MoveError::NotFound)?);
            }
            let live = slot.as_mut().ok_or(MoveError::NotFound)?;
            Self::authorise(live, token)?;
            // A retry follows a conflict, perhaps with a pause: read the campaign again.
            let campaign = self.campaign(live.spec.campaign, attempt > 0).await?;
            let mut clock = campaign.clock(live.spec.expires_at, now);
            if let Some(k) = key
                && live.seen_key(k, request_hash)?
            {
                clock.paused |= self.is_paused();
                return Ok((live.view(clock), true));
            }
            if let Some(c) = &live.closed {
                return Err(MoveError::Closed(c.outcome.state().into()));
            }
            if clock.paused {
                return Err(MoveError::CampaignPaused);
            }
            if now > clock.expires_at {
                let expired_at = clock.expires_at.to_rfc3339();
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
                        record: live.buyer_moves(now, clock.expires_at, &gate)?,
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
            let mut append = Append::many(events)
                .expect(stream.clone(), ExpectedVersion::Exact(before))
                .expect(
                    campaign_stream(live.spec.campaign),
                    ExpectedVersion::Exact(campaign.version),
                );
            if let Some(k) = key {
                append = append.key(format!("{stream}/move/{k}"));
            }
            match self.store.append(append).await {
                Ok(a) if !a.replayed => {
                    live.version = before + in_stream;
                    self.notify(live);
                    return Ok((live.view(clock), false));
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

/// Why a deal is escalated under `verdict`, when it is not allowed; `what` is what the
/// agent could not do alone.
fn escalation(verdict: &PolicyVerdict, what: &str) -> Option<String> {
    let ids = verdict.policy_ids.join(", ");
    match &verdict.outcome {
        VerdictOutcome::Allow => None,
        VerdictOutcome::NeedsApproval { role } => {
            Some(format!("needs approval by a {role} ({ids})"))
        }
        VerdictOutcome::Deny => Some(format!(
            "the agent may not {what} ({ids}); a person must decide"
        )),
    }
}
