//! The governance service: approvals, autonomy settings and the kill switch, kept in the
//! event store. The one module of this crate that does I/O (through [`Store`]); the rules
//! it applies are the pure ones of [`crate::approval`], [`crate::autonomy`] and the
//! [`Gate`].
//!
//! Every command reads its stream, decides with the pure logic, and appends the result
//! with an expected stream version, so two concurrent commands on one approval (or on the
//! kill switch) cannot both win: the loser re-reads and is refused by the life cycle. A
//! refused command writes nothing.
//!
//! The kill switch is read on every negotiation move, so [`Governance::is_paused`] is one
//! atomic load. The flag is set by this handle's own writes, re-read from the store by
//! [`Governance::refresh`] (on open, and by the task [`Governance::watch`] starts on every
//! change notification and at a polling interval, so a pause made by another process is
//! seen within that interval).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration as StdDuration,
};

use accord_core::{
    CategoryCode, Decision, Event,
    governance::{
        AUTONOMY_STREAM, ApprovalRequest, ApprovalState, ApprovalStep, Authorises,
        CategoryAutonomy, KILL_SWITCH_STREAM, Role, approval_stream,
    },
    id::{ApprovalId, DecisionId},
};
use accord_store::{Append, DocumentQuery, ExpectedVersion, Store, StoreError, StoredEvent};
use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

use crate::{
    approval::{ApprovalCommands, ApprovalError, Approver, EscalationChain, SodViolation},
    autonomy::{AutonomyTable, KillSwitch, KillSwitchError, KillSwitchEvent},
    gate::{Gate, GateEnv, Outcome, Verdict},
    vocab::{Action, GateRequest, Principal, Resource},
};

/// How many times a command re-reads and retries after losing a race on its stream.
const RETRIES: usize = 8;
/// Page size when listing approvals from the read model.
const PAGE: u32 = 500;

/// What the service needs besides the store and the gate.
#[derive(Clone, Debug)]
pub struct GovernanceConfig {
    /// Who takes over an approval on timeout, and the SLA each holder gets.
    pub escalation: EscalationChain,
    /// Autonomy of a category nobody has set (recommend only unless configured).
    pub default_autonomy: CategoryAutonomy,
    /// Autonomy of named categories until the log sets them: a logged `autonomy_changed`
    /// overrides the entry here, and a category in neither gets `default_autonomy`.
    pub configured_autonomy: BTreeMap<CategoryCode, CategoryAutonomy>,
    /// How often [`Governance::watch`] re-reads the kill switch and autonomy settings when
    /// no change notification arrives (changes made by another process on SQLite).
    pub poll: StdDuration,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            escalation: EscalationChain::new(
                &[Role::Approver, Role::CategoryManager, Role::Admin],
                Duration::hours(24),
            ),
            default_autonomy: AutonomyTable::default().default,
            configured_autonomy: BTreeMap::new(),
            poll: StdDuration::from_secs(1),
        }
    }
}

/// A new approval request, for [`Governance::request_approval`].
#[derive(Clone, Debug)]
pub struct NewApproval {
    /// Idempotency key: asking twice with the same key returns the first request.
    pub key: String,
    pub authorises: Authorises,
    /// The role that must approve (usually the gate's `NeedsApproval { role }`).
    pub role: Role,
    /// Who asks (a user id or an agent id); SoD keeps them from approving it.
    pub requester: String,
    /// The business action it would authorise, such as `negotiation.accept`.
    pub action: Action,
    /// What it is about, such as `negotiation/0190…`; approvals are listed under it.
    pub subject: String,
    /// One line for the approval queue.
    pub summary: String,
    /// Time the role has before the request escalates; the configured SLA when `None`.
    pub sla: Option<Duration>,
}

/// Why a governance command was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    #[error("approval `{0}` does not exist")]
    UnknownApproval(ApprovalId),
    #[error("approval `{id}` is {state}, not pending")]
    NotPending { id: ApprovalId, state: &'static str },
    /// Segregation of duties, a missing role, a missing comment, a delegation elsewhere.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    #[error(transparent)]
    Sod(#[from] SodViolation),
    #[error(transparent)]
    KillSwitch(#[from] KillSwitchError),
    /// The policy gate did not let the principal act alone.
    #[error("{principal} may not `{action}`: {} by {}", outcome_text(&verdict.outcome), verdict.policy_ids.join(", "))]
    Refused {
        principal: String,
        action: Action,
        verdict: Box<Verdict>,
    },
    #[error("`{stream}` kept changing under concurrent commands; try again")]
    Contention { stream: String },
    #[error("the log holds an unexpected event in `{stream}`: {message}")]
    Corrupt { stream: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Allow => "allowed".to_owned(),
        Outcome::NeedsApproval { role } => {
            format!("only with the approval of a `{role}`, as decided")
        }
        Outcome::Deny => "denied".to_owned(),
    }
}

pub type Result<T, E = GovernanceError> = std::result::Result<T, E>;

/// State shared by every clone of a [`Governance`] and its watcher task.
struct Shared {
    paused: AtomicBool,
    kill: RwLock<KillSwitch>,
    kill_version: AtomicU64,
    autonomy: RwLock<AutonomyTable>,
    autonomy_version: AtomicU64,
    /// `true` while paused; for [`Governance::wait_until_running`].
    running_tx: watch::Sender<bool>,
    /// Serialises refreshes so that versions and folded state move together.
    refresh: tokio::sync::Mutex<()>,
}

/// Approvals, autonomy and the kill switch over a [`Store`]. Cheap to clone; clones share
/// the in-memory kill switch and autonomy table.
pub struct Governance<S: Store> {
    store: S,
    gate: Arc<Gate>,
    config: GovernanceConfig,
    shared: Arc<Shared>,
}

impl<S: Store + Clone> Clone for Governance<S> {
    fn clone(&self) -> Self {
        Governance {
            store: self.store.clone(),
            gate: Arc::clone(&self.gate),
            config: self.config.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: Store> Governance<S> {
    /// Opens the service and reads the kill switch and autonomy settings from the store.
    pub async fn open(store: S, gate: Arc<Gate>, config: GovernanceConfig) -> Result<Self> {
        let (running_tx, _) = watch::channel(true);
        let mut autonomy = AutonomyTable::new(config.default_autonomy);
        for (category, setting) in &config.configured_autonomy {
            autonomy.set(category.clone(), *setting);
        }
        let g = Governance {
            store,
            gate,
            shared: Arc::new(Shared {
                paused: AtomicBool::new(false),
                kill: RwLock::new(KillSwitch::Running),
                kill_version: AtomicU64::new(0),
                autonomy: RwLock::new(autonomy),
                autonomy_version: AtomicU64::new(0),
                running_tx,
                refresh: tokio::sync::Mutex::new(()),
            }),
            config,
        };
        g.refresh().await?;
        Ok(g)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The escalation chain, SLA and defaults the service was opened with.
    pub fn config(&self) -> &GovernanceConfig {
        &self.config
    }

    // --- Kill switch and autonomy: the runtime's hot path ---

    /// Whether agents are paused. One atomic load: call it before every autonomous move.
    pub fn is_paused(&self) -> bool {
        self.shared.paused.load(Ordering::Acquire)
    }

    /// The kill switch as last read (who paused, since when, why).
    pub fn kill_switch(&self) -> KillSwitch {
        read(&self.shared.kill).clone()
    }

    /// Waits until agents are running (returns at once when they are). A paused
    /// negotiation keeps its state and awaits this before its next move.
    pub async fn wait_until_running(&self) {
        let mut rx = self.shared.running_tx.subscribe();
        // The sender lives in `shared`, which `self` keeps alive, so this cannot fail.
        let _ = rx.wait_for(|running| *running).await;
    }

    /// The autonomy of `category` (the default for a category nobody set).
    pub fn autonomy(&self, category: &CategoryCode) -> CategoryAutonomy {
        read(&self.shared.autonomy).get(Some(category))
    }

    /// The whole autonomy table as last read.
    pub fn autonomy_table(&self) -> AutonomyTable {
        read(&self.shared.autonomy).clone()
    }

    /// Asks the gate with the current kill switch and autonomy table.
    pub fn decide(&self, request: &GateRequest) -> Verdict {
        let autonomy = read(&self.shared.autonomy);
        let kill = read(&self.shared.kill);
        self.gate.decide(request, &GateEnv::new(&autonomy, &kill))
    }

    /// [`Self::decide`] with FX rates, for amounts outside the reporting currency.
    pub fn decide_with_fx(&self, request: &GateRequest, fx: &accord_core::FxTable) -> Verdict {
        let autonomy = read(&self.shared.autonomy);
        let kill = read(&self.shared.kill);
        self.gate
            .decide(request, &GateEnv::new(&autonomy, &kill).with_fx(fx))
    }

    /// Re-reads the kill switch and autonomy streams past what this handle has seen.
    pub async fn refresh(&self) -> Result<()> {
        let _guard = self.shared.refresh.lock().await;
        let after = self.shared.kill_version.load(Ordering::Acquire);
        let events = self.read_all(KILL_SWITCH_STREAM, after).await?;
        if let Some(last) = events.last() {
            let mut kill = read(&self.shared.kill).clone();
            for e in &events {
                match e.event()? {
                    Event::AgentsPaused { by, reason, at, .. } => {
                        kill.apply(&KillSwitchEvent::Paused { at, by, reason })
                    }
                    Event::AgentsResumed { by, at, .. } => {
                        kill.apply(&KillSwitchEvent::Resumed { at, by })
                    }
                    other => return Err(corrupt(KILL_SWITCH_STREAM, &other)),
                }
            }
            self.publish_kill(kill, last.stream_version);
        }
        let after = self.shared.autonomy_version.load(Ordering::Acquire);
        let events = self.read_all(AUTONOMY_STREAM, after).await?;
        if let Some(last) = events.last() {
            let mut table = read(&self.shared.autonomy).clone();
            for e in &events {
                match e.event()? {
                    Event::AutonomyChanged {
                        category, setting, ..
                    } => table.set(category, setting),
                    other => return Err(corrupt(AUTONOMY_STREAM, &other)),
                }
            }
            *write(&self.shared.autonomy) = table;
            self.shared
                .autonomy_version
                .store(last.stream_version, Ordering::Release);
        }
        Ok(())
    }

    fn publish_kill(&self, kill: KillSwitch, version: u64) {
        let paused = kill.is_paused();
        *write(&self.shared.kill) = kill;
        self.shared.kill_version.store(version, Ordering::Release);
        self.shared.paused.store(paused, Ordering::Release);
        self.shared.running_tx.send_replace(!paused);
    }

    /// Pauses every agent: the gate denies every agent action until [`Self::resume_agents`].
    /// The action `agents.pause` goes through the gate; the pause is logged as a decision.
    pub async fn pause_agents(
        &self,
        by: &Principal,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<DecisionId> {
        self.switch(by, reason, now, true).await
    }

    /// Lets agents act again; in-flight negotiations continue from their held state.
    pub async fn resume_agents(
        &self,
        by: &Principal,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<DecisionId> {
        self.switch(by, reason, now, false).await
    }

    async fn switch(
        &self,
        by: &Principal,
        reason: &str,
        now: DateTime<Utc>,
        pause: bool,
    ) -> Result<DecisionId> {
        let verdict = self.admit(by, Action::AgentsPause, "kill_switch/agents")?;
        for _ in 0..RETRIES {
            self.refresh().await?;
            let version = self.shared.kill_version.load(Ordering::Acquire);
            let current = self.kill_switch();
            let change = if pause {
                current.pause(by.id(), reason, now)?
            } else {
                current.resume(by.id(), now)?
            };
            let (choice, rationale) = if pause {
                (
                    "pause",
                    format!("`{}` paused every agent: {reason}", by.id()),
                )
            } else if reason.trim().is_empty() {
                ("resume", format!("`{}` resumed the agents", by.id()))
            } else {
                (
                    "resume",
                    format!("`{}` resumed the agents: {reason}", by.id()),
                )
            };
            let decision = self.decision(
                by,
                Action::AgentsPause,
                "kill_switch/agents",
                serde_json::json!({ "paused_before": current.is_paused(), "reason": reason }),
                choice,
                &verdict,
                rationale,
                now,
            );
            let id = decision.id;
            let event = match &change {
                KillSwitchEvent::Paused { at, by, reason } => Event::AgentsPaused {
                    by: by.clone(),
                    reason: reason.clone(),
                    at: *at,
                    decision: id,
                },
                KillSwitchEvent::Resumed { at, by } => Event::AgentsResumed {
                    by: by.clone(),
                    reason: reason.to_owned(),
                    at: *at,
                    decision: id,
                },
            };
            let cmd = Append::many(vec![Event::DecisionRecorded { decision }, event])
                .expect(KILL_SWITCH_STREAM, ExpectedVersion::Exact(version));
            match self.store.append(cmd).await {
                Ok(done) => {
                    let mut kill = current;
                    kill.apply(&change);
                    let _guard = self.shared.refresh.lock().await;
                    if self.shared.kill_version.load(Ordering::Acquire) < done.stream_version {
                        self.publish_kill(kill, done.stream_version);
                    }
                    return Ok(id);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GovernanceError::Contention {
            stream: KILL_SWITCH_STREAM.to_owned(),
        })
    }

    /// Sets a category's autonomy level and sampling rate. The action `autonomy.change`
    /// goes through the gate; the change is logged as a decision naming its policies.
    pub async fn set_autonomy(
        &self,
        category: &CategoryCode,
        setting: CategoryAutonomy,
        by: &Principal,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<DecisionId> {
        if reason.trim().is_empty() {
            return Err(ApprovalError::NoComment.into());
        }
        let subject = format!("autonomy/{category}");
        let verdict = self.admit(by, Action::AutonomyChange, &subject)?;
        for _ in 0..RETRIES {
            self.refresh().await?;
            let version = self.shared.autonomy_version.load(Ordering::Acquire);
            let previous = read(&self.shared.autonomy)
                .categories
                .get(category)
                .copied();
            let decision = self.decision(
                by,
                Action::AutonomyChange,
                &subject,
                serde_json::json!({ "previous": previous, "reason": reason }),
                setting.level.as_str(),
                &verdict,
                format!(
                    "`{}` set `{category}` to {} with {} ppm sampled for review: {reason}",
                    by.id(),
                    setting.level.as_str(),
                    setting.sample_ppm
                ),
                now,
            );
            let id = decision.id;
            let cmd = Append::many(vec![
                Event::DecisionRecorded { decision },
                Event::AutonomyChanged {
                    category: category.clone(),
                    setting,
                    previous,
                    by: by.id().to_owned(),
                    reason: reason.to_owned(),
                    at: now,
                    decision: id,
                },
            ])
            .expect(AUTONOMY_STREAM, ExpectedVersion::Exact(version));
            match self.store.append(cmd).await {
                Ok(_) => {
                    self.refresh().await?;
                    return Ok(id);
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GovernanceError::Contention {
            stream: AUTONOMY_STREAM.to_owned(),
        })
    }

    /// Asks the gate whether `by` may take the administrative `action` alone.
    fn admit(&self, by: &Principal, action: Action, subject: &str) -> Result<Verdict> {
        let request = GateRequest::new(by.clone(), action, Resource::new(subject));
        let verdict = self.decide(&request);
        if verdict.is_allow() {
            Ok(verdict)
        } else {
            Err(GovernanceError::Refused {
                principal: by.to_string(),
                action,
                verdict: Box::new(verdict),
            })
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decision(
        &self,
        by: &Principal,
        action: Action,
        subject: &str,
        inputs: serde_json::Value,
        choice: &str,
        verdict: &Verdict,
        rationale: String,
        now: DateTime<Utc>,
    ) -> Decision {
        Decision {
            id: DecisionId::new(),
            at: now,
            actor: by.actor(),
            action: action.as_str().to_owned(),
            subject: subject.to_owned(),
            inputs,
            options: Vec::new(),
            choice: choice.to_owned(),
            verdict: Some(verdict.to_core()),
            rationale,
        }
    }

    // --- Approvals ---

    /// Opens an approval request, or returns the one already opened with `new.key`.
    pub async fn request_approval(
        &self,
        new: NewApproval,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest> {
        if new.key.trim().is_empty() {
            return Err(StoreError::Invalid("an approval request needs a key".into()).into());
        }
        let mut request = ApprovalRequest::open(
            ApprovalId::new(),
            new.authorises,
            new.role,
            &new.requester,
            now,
            new.sla.unwrap_or(self.config.escalation.sla),
        );
        request.action = new.action.as_str().to_owned();
        request.subject = new.subject;
        request.summary = new.summary;
        let stream = approval_stream(request.id);
        let cmd = Append::new(Event::ApprovalRequested {
            request: request.clone(),
        })
        .key(format!("approval/{}", new.key))
        .expect(stream, ExpectedVersion::NoStream);
        let done = self.store.append(cmd).await?;
        if !done.replayed {
            return Ok(request);
        }
        // The key was seen: return the request it opened.
        let first = self.store.read_events(done.first_seq - 1, 1).await?;
        match first.first().map(StoredEvent::event).transpose()? {
            Some(Event::ApprovalRequested { request }) => self.approval(request.id).await,
            other => Err(GovernanceError::Corrupt {
                stream: format!("key approval/{}", new.key),
                message: format!("expected `approval_requested`, found {other:?}"),
            }),
        }
    }

    /// An approval request as it stands, from its own stream.
    pub async fn approval(&self, id: ApprovalId) -> Result<ApprovalRequest> {
        self.load(id).await.map(|(r, _)| r)
    }

    /// Approves a pending request. The requester cannot approve (SoD), and only a holder
    /// of the request's role (or the person it was delegated to) can.
    pub async fn approve(
        &self,
        id: ApprovalId,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest> {
        self.step(id, |r| r.approve(by, comment, now)).await
    }

    /// Denies a pending request; same rights as [`Self::approve`].
    pub async fn deny(
        &self,
        id: ApprovalId,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest> {
        self.step(id, |r| r.deny(by, comment, now)).await
    }

    /// Hands a pending request to one named person, who alone may then decide.
    pub async fn delegate(
        &self,
        id: ApprovalId,
        by: &Approver,
        to: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest> {
        self.step(id, |r| r.delegate(by, to, comment, now)).await
    }

    /// The requester takes a pending request back.
    pub async fn withdraw(
        &self,
        id: ApprovalId,
        by: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalRequest> {
        self.step(id, |r| r.withdraw(by, comment, now)).await
    }

    /// Escalates (or, at the end of the chain, expires) every pending request whose
    /// deadline is at or before `now`. Returns the requests it changed. Run it on a timer.
    pub async fn escalate_overdue(&self, now: DateTime<Utc>) -> Result<Vec<ApprovalRequest>> {
        let mut changed = Vec::new();
        for r in self.approvals(Some(ApprovalState::Pending), None).await? {
            if r.deadline > now {
                continue;
            }
            let chain = &self.config.escalation;
            let result = self
                .step(r.id, |r| match r.escalate_if_due(now, chain)? {
                    Some(step) => Ok(step),
                    None => Err(ApprovalError::NotDue(r.deadline)),
                })
                .await;
            match result {
                Ok(r) => changed.push(r),
                // Someone decided or escalated it meanwhile: nothing to do.
                Err(GovernanceError::NotPending { .. })
                | Err(GovernanceError::Approval(ApprovalError::NotDue(_))) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Approval requests from the read model, optionally in one state and waiting for
    /// one role, oldest first.
    pub async fn approvals(
        &self,
        state: Option<ApprovalState>,
        role: Option<Role>,
    ) -> Result<Vec<ApprovalRequest>> {
        let mut out = Vec::new();
        let mut query = DocumentQuery::kind("approval", PAGE);
        if let Some(s) = state {
            query = query.state(s.as_str());
        }
        loop {
            let page = self.store.documents(&query).await?;
            let full = page.len() == PAGE as usize;
            let last = page.last().map(|d| d.id.clone());
            for d in page {
                let r: ApprovalRequest =
                    serde_json::from_value(d.data).map_err(|e| GovernanceError::Corrupt {
                        stream: format!("approval document `{}`", d.id),
                        message: e.to_string(),
                    })?;
                if role.is_none_or(|role| r.role == role) {
                    out.push(r);
                }
            }
            match (full, last) {
                (true, Some(id)) => query = query.after(id),
                _ => return Ok(out),
            }
        }
    }

    /// Pending requests, for one role or all.
    pub async fn pending(&self, role: Option<Role>) -> Result<Vec<ApprovalRequest>> {
        self.approvals(Some(ApprovalState::Pending), role).await
    }

    /// Segregation of duties for releasing the payment of `subject`: the releaser must be
    /// neither the requester nor anyone who approved a request filed under `subject`.
    pub async fn check_payment_release(
        &self,
        releaser: &str,
        requester: &str,
        subject: &str,
    ) -> Result<()> {
        let mut approvals = Vec::new();
        let mut query = DocumentQuery::kind("approval", PAGE).parent(subject);
        loop {
            let page = self.store.documents(&query).await?;
            let full = page.len() == PAGE as usize;
            let last = page.last().map(|d| d.id.clone());
            for d in page {
                if let Ok(r) = serde_json::from_value::<ApprovalRequest>(d.data) {
                    approvals.push(r);
                }
            }
            match (full, last) {
                (true, Some(id)) => query = query.after(id),
                _ => break,
            }
        }
        let refs: Vec<&ApprovalRequest> = approvals.iter().collect();
        crate::approval::check_payment_release(releaser, requester, &refs)?;
        Ok(())
    }

    /// Reads a request and its stream version: the last event carries the whole request.
    async fn load(&self, id: ApprovalId) -> Result<(ApprovalRequest, u64)> {
        let stream = approval_stream(id);
        let events = self.read_all(&stream, 0).await?;
        let Some(last) = events.last() else {
            return Err(GovernanceError::UnknownApproval(id));
        };
        match last.event()? {
            Event::ApprovalRequested { request } | Event::ApprovalStepRecorded { request, .. } => {
                Ok((request, last.stream_version))
            }
            other => Err(corrupt(&stream, &other)),
        }
    }

    /// Applies one command to a pending request under optimistic concurrency.
    async fn step(
        &self,
        id: ApprovalId,
        command: impl Fn(&ApprovalRequest) -> Result<ApprovalStep, ApprovalError>,
    ) -> Result<ApprovalRequest> {
        let stream = approval_stream(id);
        for _ in 0..RETRIES {
            let (mut request, version) = self.load(id).await?;
            if request.state != ApprovalState::Pending {
                return Err(GovernanceError::NotPending {
                    id,
                    state: request.state.as_str(),
                });
            }
            let step = command(&request)?;
            request.fold(&step)?;
            let cmd = Append::new(Event::ApprovalStepRecorded {
                approval: id,
                step,
                request: request.clone(),
            })
            .expect(stream.clone(), ExpectedVersion::Exact(version));
            match self.store.append(cmd).await {
                Ok(_) => return Ok(request),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(GovernanceError::Contention { stream })
    }

    async fn read_all(&self, stream: &str, mut after: u64) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        loop {
            let page = self.store.read_stream(stream, after, PAGE).await?;
            let full = page.len() == PAGE as usize;
            if let Some(last) = page.last() {
                after = last.stream_version;
            }
            out.extend(page);
            if !full {
                return Ok(out);
            }
        }
    }
}

/// How long the watch gathers change notifications before it re-reads the kill switch
/// and autonomy: under load every group commit notifies, and without this each one cost
/// two reads. A pause made on another node is seen within this much more time; one made
/// through this handle is published at once.
pub const WATCH_COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

impl<S: Store + Clone + 'static> Governance<S> {
    /// Starts a task that keeps the kill switch and autonomy table current: it re-reads
    /// them after change notifications (a burst of commits within [`WATCH_COALESCE`]
    /// gives one read) and every `config.poll`. Abort the handle to stop it.
    pub fn watch(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut feed = this.store.subscribe().await.ok();
            loop {
                match &mut feed {
                    Some(f) => {
                        tokio::select! {
                            r = f.recv_coalesced(WATCH_COALESCE) => if let Err(StoreError::Closed) = r {
                                feed = None;
                            },
                            () = tokio::time::sleep(this.config.poll) => {}
                        }
                    }
                    None => tokio::time::sleep(this.config.poll).await,
                }
                if let Err(e) = this.refresh().await {
                    tracing::warn!(error = %e, "cannot refresh the kill switch and autonomy");
                }
            }
        })
    }
}

fn corrupt(stream: &str, event: &Event) -> GovernanceError {
    GovernanceError::Corrupt {
        stream: stream.to_owned(),
        message: format!("unexpected `{}` event", event.kind()),
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // A panic while holding the lock leaves consistent data (writers replace whole
    // values), so a poisoned lock is still readable.
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}
