//! The policy gate: may this principal take this action on this resource alone, only with
//! someone's approval, or not at all?
//!
//! The answer comes from Cedar in two steps. First the `<action>:act` flavour is asked; if
//! Cedar allows it, the principal may act alone. Otherwise the `<action>:propose` flavour
//! is asked; if Cedar allows that, the action needs the approval of the role named by the
//! matching permit's `@approver_role`. Otherwise it is denied. The second call is skipped
//! when the first allows.
//!
//! Around Cedar, the gate enforces what no policy pack can switch off: the kill switch
//! (every agent action is denied while paused), the `recommend_only` autonomy level
//! (an agent never acts alone there), and failing closed (an incomplete request, a missing
//! FX rate or a Cedar evaluation error is a denial, never an allow).

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    str::FromStr,
    sync::{Arc, RwLock},
};

use accord_core::{Currency, FxTable, Money, PolicyVerdict, VerdictOutcome};
use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request,
    Response, RestrictedExpression,
};
use serde::{Deserialize, Serialize};

use crate::{
    autonomy::{AutonomyLevel, AutonomyTable, KillSwitch, Review},
    policy_set::{ALL_ATTRS, NAMESPACE, NEEDS_ACTION, PolicySet, SUBJECT_ATTRS, entity_uid},
    vocab::{AgentKind, GateRequest, Principal, Resource, Role},
};

/// Synthetic policy id: the kill switch denied the action.
pub const KILL_SWITCH_ID: &str = "accord:kill-switch";
/// Synthetic policy id: the category's autonomy level kept the agent from acting alone.
pub const AUTONOMY_ID: &str = "accord:autonomy";
/// Synthetic policy id: the request lacked facts the action needs.
pub const INVALID_REQUEST_ID: &str = "accord:invalid-request";
/// Synthetic policy id: Cedar could not evaluate a policy, so the gate failed closed.
pub const EVALUATION_ERROR_ID: &str = "accord:evaluation-error";
/// Synthetic policy id: no policy permits the action at all.
pub const DEFAULT_DENY_ID: &str = "accord:default-deny";

/// The gate's answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The principal may act alone.
    Allow,
    /// Someone holding `role` must approve first.
    NeedsApproval { role: Role },
    /// The action may not be taken.
    Deny,
}

/// A verdict with everything the decision log needs: the outcome, the ids of the deciding
/// policies (readable `@id`s, or `accord:*` for the gate's own rules), the hash of the
/// policy-set version, and whether a person should review the decision afterwards.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: Outcome,
    pub policy_ids: Vec<String>,
    pub policy_set_hash: Arc<str>,
    /// The category's autonomy level at the time.
    pub autonomy: AutonomyLevel,
    /// Review asked for an autonomous action (always `None` unless an agent was allowed).
    pub review: Review,
    /// The gate's own reasons (kill switch, invalid request, evaluation errors); the
    /// policies' reasons are in their `@reason` annotations (see `explain`).
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn is_allow(&self) -> bool {
        self.outcome == Outcome::Allow
    }

    /// The verdict as `accord-core` records it in a `Decision`.
    pub fn to_core(&self) -> PolicyVerdict {
        PolicyVerdict {
            outcome: match self.outcome {
                Outcome::Allow => VerdictOutcome::Allow,
                Outcome::NeedsApproval { role } => VerdictOutcome::NeedsApproval {
                    role: role.as_str().to_owned(),
                },
                Outcome::Deny => VerdictOutcome::Deny,
            },
            policy_ids: self.policy_ids.clone(),
            policy_set_hash: self.policy_set_hash.to_string(),
        }
    }
}

impl From<Verdict> for PolicyVerdict {
    fn from(v: Verdict) -> PolicyVerdict {
        v.to_core()
    }
}

/// What the gate consults besides the request, which changes over time: FX rates, the
/// autonomy table and the kill switch. Borrowed for one call; the caller owns them.
#[derive(Clone, Copy, Debug)]
pub struct GateEnv<'a> {
    /// Rates to convert amounts into the reporting currency. Not needed when every request
    /// carries `reporting_amount` or is already in the reporting currency.
    pub fx: Option<&'a FxTable>,
    pub autonomy: &'a AutonomyTable,
    pub kill_switch: &'a KillSwitch,
}

impl<'a> GateEnv<'a> {
    /// An environment without FX rates: amounts must be in the reporting currency or
    /// carry `reporting_amount`.
    pub fn new(autonomy: &'a AutonomyTable, kill_switch: &'a KillSwitch) -> GateEnv<'a> {
        GateEnv {
            fx: None,
            autonomy,
            kill_switch,
        }
    }

    pub fn with_fx(mut self, fx: &'a FxTable) -> GateEnv<'a> {
        self.fx = Some(fx);
        self
    }
}

/// The gate could not be built for this policy set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GateError {
    #[error("the policy schema does not fit the gate's entities: {0}")]
    SchemaMismatch(String),
}

/// The policy gate. Build once per policy-set version and share; `decide` takes `&self`.
#[derive(Debug)]
pub struct Gate {
    policies: Arc<PolicySet>,
    reporting: Currency,
    authorizer: Authorizer,
    roles: Vec<EntityUid>,
    agent_kinds: Vec<EntityUid>,
    /// Parsed once: parsing a type name per request would cost more than a policy.
    types: [EntityTypeName; 3],
    /// Evaluate only the policies whose scope can match (see `policy_set::Slices`).
    sliced: bool,
    /// Cedar's answers by everything Cedar sees (see [`Gate::cache_key`]); `None` when
    /// unsliced. Bounded: emptied when it reaches [`CACHE_LIMIT`] entries.
    cache: Option<RwLock<HashMap<String, Arc<Asked>>>>,
}

/// The most answers the verdict cache keeps before it starts over.
const CACHE_LIMIT: usize = 100_000;

/// What Cedar answered for one flavour of one request: all the gate uses of a `Response`.
#[derive(Debug)]
struct Asked {
    allow: bool,
    /// Ids of the policies that decided, sorted.
    reasons: Vec<String>,
    /// `(policy id, message)` of every evaluation error.
    errors: Vec<(String, String)>,
}

impl Asked {
    fn from_response(response: &Response) -> Asked {
        let mut reasons: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| AsRef::<str>::as_ref(id).to_owned())
            .collect();
        // Cedar returns the reasons as a set; sort for a stable log.
        reasons.sort_unstable();
        let errors = response
            .diagnostics()
            .errors()
            .map(|e| {
                let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
                (e.policy_id().to_string(), e.to_string())
            })
            .collect();
        Asked {
            allow: response.decision() == Decision::Allow,
            reasons,
            errors,
        }
    }
}

/// One attribute value of the resource, before it becomes a Cedar expression.
enum AttrValue<'a> {
    Long(i64),
    Str(&'a str),
    Bool(bool),
}

impl Gate {
    /// Builds a gate over `policies`, converting amounts to `reporting` currency. Checks
    /// once that the entities the gate builds conform to the set's schema.
    pub fn new(policies: Arc<PolicySet>, reporting: Currency) -> Result<Gate, GateError> {
        let gate = Gate {
            policies,
            reporting,
            authorizer: Authorizer::new(),
            roles: Role::ALL
                .iter()
                .map(|r| entity_uid("Role", r.as_str()))
                .collect(),
            agent_kinds: AgentKind::ALL
                .iter()
                .map(|k| entity_uid("AgentKind", k.as_str()))
                .collect(),
            types: ["User", "Agent", "Subject"].map(|t| {
                EntityTypeName::from_str(&format!("{NAMESPACE}::{t}"))
                    .expect("static type names parse")
            }),
            sliced: true,
            cache: Some(RwLock::new(HashMap::new())),
        };
        gate.check_schema_fit()?;
        Ok(gate)
    }

    /// The same gate evaluating the whole policy set on every request instead of the
    /// slice that can apply. Slower; for tests and benchmarks that check slicing.
    #[doc(hidden)]
    pub fn unsliced(mut self) -> Gate {
        self.sliced = false;
        self.cache = None;
        self
    }

    /// The same gate asking Cedar on every request, without the verdict cache. For
    /// benchmarks and tests that check the cache.
    #[doc(hidden)]
    pub fn uncached(mut self) -> Gate {
        self.cache = None;
        self
    }

    pub fn policies(&self) -> &Arc<PolicySet> {
        &self.policies
    }

    pub fn reporting_currency(&self) -> Currency {
        self.reporting
    }

    /// Decides `request`. Never fails: anything that keeps the gate from deciding is a
    /// `Deny` with a note saying why.
    pub fn decide(&self, request: &GateRequest, env: &GateEnv<'_>) -> Verdict {
        let autonomy = env.autonomy.get(request.resource.category.as_ref());
        let deny = |id: &str, note: String| {
            self.verdict(
                Outcome::Deny,
                vec![id.to_owned()],
                autonomy.level,
                vec![note],
            )
        };

        if let (true, KillSwitch::Paused { since, by, reason }) =
            (request.principal.is_agent(), env.kill_switch)
        {
            return deny(
                KILL_SWITCH_ID,
                format!("agents are paused since {since} by `{by}`: {reason}"),
            );
        }
        let amount = match self.reporting_amount(request, env.fx) {
            Ok(a) => a,
            Err(note) => return deny(INVALID_REQUEST_ID, note),
        };
        if request.action.needs_supplier() && request.resource.supplier.is_none() {
            return deny(
                INVALID_REQUEST_ID,
                format!(
                    "`{}` needs the supplier's risk tier, size class and whether it is new",
                    request.action
                ),
            );
        }
        let mut built: Option<Built> = None;
        let act = match self.ask(request, amount, autonomy.level, false, &mut built) {
            Ok(a) => a,
            Err(note) => return deny(EVALUATION_ERROR_ID, note),
        };
        if let Some(v) = self.evaluation_errors(&act, autonomy.level) {
            return v;
        }
        let act_allowed = act.allow;
        let mut ids: Vec<String> = act.reasons.clone();
        let agent_kept_back =
            request.principal.is_agent() && autonomy.level == AutonomyLevel::RecommendOnly;
        if act_allowed && !agent_kept_back {
            let review = if request.principal.is_agent() {
                env.autonomy.review(
                    request.resource.category.as_ref(),
                    request.decision_id.as_ref(),
                )
            } else {
                Review::None
            };
            let mut v = self.verdict(Outcome::Allow, ids, autonomy.level, Vec::new());
            v.review = review;
            return v;
        }
        if act_allowed {
            // INVARIANT: no pack can let an agent act alone in a `recommend_only` category.
            ids = vec![AUTONOMY_ID.to_owned()];
        }

        // Step 2: may the principal propose it for approval?
        let propose = match self.ask(request, amount, autonomy.level, true, &mut built) {
            Ok(a) => a,
            Err(note) => return deny(EVALUATION_ERROR_ID, note),
        };
        if let Some(v) = self.evaluation_errors(&propose, autonomy.level) {
            return v;
        }
        let propose_ids = propose.reasons.clone();
        if propose.allow {
            let role = propose_ids
                .iter()
                .filter_map(|id| self.policies.info.get(id).and_then(|i| i.approver_role))
                .max_by_key(|r| r.seniority())
                // INVARIANT: load refuses a permit that can match `propose` without an
                // `@approver_role`, so this fallback is unreachable with a loaded set.
                .unwrap_or(Role::Admin);
            push_unique(&mut ids, propose_ids);
            return self.verdict(
                Outcome::NeedsApproval { role },
                ids,
                autonomy.level,
                Vec::new(),
            );
        }
        // Denied in both flavours: the forbids that blocked the proposal, else those that
        // blocked acting alone, else the default deny.
        let deny_ids = if !propose_ids.is_empty() {
            propose_ids
        } else if !ids.is_empty() {
            ids
        } else {
            vec![DEFAULT_DENY_ID.to_owned()]
        };
        self.verdict(Outcome::Deny, deny_ids, autonomy.level, Vec::new())
    }

    /// Renders a verdict in plain language (for `accord policy explain`).
    pub fn explain(&self, request: &GateRequest, verdict: &Verdict) -> String {
        crate::explain::explain(&self.policies, request, verdict)
    }

    fn verdict(
        &self,
        outcome: Outcome,
        policy_ids: Vec<String>,
        autonomy: AutonomyLevel,
        notes: Vec<String>,
    ) -> Verdict {
        Verdict {
            outcome,
            policy_ids,
            policy_set_hash: Arc::clone(self.policies.hash_arc()),
            autonomy,
            review: Review::None,
            notes,
        }
    }

    /// Cedar's answer for one flavour (`act`, or `propose` when `propose`), from the
    /// cache when the same inputs were asked before. `built` holds the request's entities
    /// once built, so that the second flavour reuses them.
    fn ask(
        &self,
        request: &GateRequest,
        amount: Option<Money>,
        autonomy: AutonomyLevel,
        propose: bool,
        built: &mut Option<Built>,
    ) -> Result<Arc<Asked>, String> {
        let key = self
            .cache
            .as_ref()
            .map(|_| self.cache_key(request, amount, autonomy, propose));
        if let (Some(cache), Some(key)) = (&self.cache, &key)
            && let Some(hit) = read(cache).get(key)
        {
            return Ok(Arc::clone(hit));
        }
        if built.is_none() {
            *built = Some(self.entities(request, amount, autonomy)?);
        }
        let Some(b) = built.as_mut() else {
            unreachable!("built just above")
        };
        let pair = &self.policies.actions[request.action.index()];
        if propose && !b.has_propose && self.needs_action(request) {
            // The propose flavour's action entity joins only now: most requests stop at
            // step 1.
            let entities = std::mem::replace(&mut b.entities, Entities::empty());
            b.entities = entities
                .add_entities([pair.propose_entity.clone()], None)
                .map_err(|e| e.to_string())?;
            b.has_propose = true;
        }
        let action = if propose {
            &pair.propose_uid
        } else {
            &pair.act_uid
        };
        // INVARIANT: `action` is one of the schema's actions (checked at load), and the
        // entities conform to the schema (checked in `Gate::new`), so this cannot fail.
        let cedar_request = Request::new(
            b.principal.clone(),
            action.clone(),
            b.resource.clone(),
            Context::empty(),
            None,
        )
        .expect("a request without schema validation always builds");
        let agent = request.principal.is_agent();
        let set = if self.sliced {
            self.policies
                .slices
                .get(request.action.index(), propose, agent)
        } else {
            &self.policies.cedar
        };
        let asked = Arc::new(Asked::from_response(&self.authorizer.is_authorized(
            &cedar_request,
            set,
            &b.entities,
        )));
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            let mut cache = write(cache);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(key, Arc::clone(&asked));
        }
        Ok(asked)
    }

    /// Everything Cedar sees for one flavour of `request`, as text: the slice (action,
    /// flavour, principal type), the principal with its groups and the attributes the
    /// slice reads, the resource id and the attributes the slice reads, the amount as its
    /// class when the slice only compares it with literals. Two requests with one key get
    /// the same entities up to amounts that compare alike, so Cedar answers them alike.
    fn cache_key(
        &self,
        request: &GateRequest,
        amount: Option<Money>,
        autonomy: AutonomyLevel,
        propose: bool,
    ) -> String {
        let agent = request.principal.is_agent();
        let action = request.action.index();
        let mask = self.policies.slices.attrs(action, agent);
        let mut key = String::with_capacity(128);
        let sep = '\u{1f}';
        let _ = write!(key, "{action}{sep}{}{sep}", u8::from(propose));
        match &request.principal {
            Principal::User { id, roles } => {
                let mut roles: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                roles.sort_unstable();
                roles.dedup();
                let _ = write!(key, "U{sep}{id}{sep}{}", roles.join(","));
            }
            Principal::Agent { id, agent, version } => {
                let _ = write!(key, "A{sep}{id}{sep}{agent}");
                if mask & (1 << (SUBJECT_ATTRS.len() + 1)) != 0 {
                    let _ = write!(key, "{sep}{version}");
                }
            }
        }
        let _ = write!(key, "{sep}R{sep}{}", request.resource.id);
        for bit in 0..SUBJECT_ATTRS.len() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let _ = match self.subject_attr(bit, &request.resource, amount, autonomy) {
                AttrValue::Long(n) if bit == 0 => write!(
                    key,
                    "{sep}{:?}",
                    self.policies.slices.amount_class(action, agent, n)
                ),
                AttrValue::Long(n) => write!(key, "{sep}{n}"),
                AttrValue::Str(v) => write!(key, "{sep}{v}"),
                AttrValue::Bool(b) => write!(key, "{sep}{b}"),
            };
        }
        key
    }

    /// Fails closed on any Cedar evaluation error: a policy that errors is skipped by
    /// Cedar, and a skipped `forbid` must never turn into an allow.
    fn evaluation_errors(&self, asked: &Asked, autonomy: AutonomyLevel) -> Option<Verdict> {
        if asked.errors.is_empty() {
            return None;
        }
        let mut ids = vec![EVALUATION_ERROR_ID.to_owned()];
        let mut notes = Vec::new();
        for (id, message) in &asked.errors {
            ids.push(id.clone());
            notes.push(message.clone());
        }
        Some(self.verdict(Outcome::Deny, ids, autonomy, notes))
    }

    fn reporting_amount(
        &self,
        request: &GateRequest,
        fx: Option<&FxTable>,
    ) -> Result<Option<Money>, String> {
        let r = &request.resource;
        let money_action = matches!(request.action.domain(), "negotiation" | "documents");
        if let Some(m) = r.reporting_amount {
            return if m.currency == self.reporting {
                Ok(Some(m))
            } else {
                Err(format!(
                    "`reporting_amount` is in `{}`, but the reporting currency is `{}`",
                    m.currency, self.reporting
                ))
            };
        }
        match r.amount {
            None if money_action => Err(format!("`{}` needs an amount", request.action)),
            None => Ok(None),
            Some(m) if m.currency == self.reporting => Ok(Some(m)),
            Some(m) => match fx {
                None => Err(format!(
                    "cannot convert `{m}` to `{}`: no FX table given",
                    self.reporting
                )),
                Some(fx) => fx
                    .convert(m, self.reporting)
                    .map(Some)
                    .map_err(|e| format!("cannot convert `{m}` to `{}`: {e}", self.reporting)),
            },
        }
    }

    /// Builds the request's entities: principal, resource and the `act` flavour's action.
    fn entities(
        &self,
        request: &GateRequest,
        amount: Option<Money>,
        autonomy: AutonomyLevel,
    ) -> Result<Built, String> {
        let mask = if self.sliced {
            self.policies
                .slices
                .attrs(request.action.index(), request.principal.is_agent())
        } else {
            ALL_ATTRS | NEEDS_ACTION
        };
        let principal = self.principal_entity(&request.principal, mask)?;
        let resource = self.resource_entity(&request.resource, amount, autonomy, mask)?;
        let (p, r) = (principal.uid(), resource.uid());
        let pair = &self.policies.actions[request.action.index()];
        let entities = if mask & NEEDS_ACTION != 0 {
            Entities::from_entities([principal, resource, pair.act_entity.clone()], None)
        } else {
            Entities::from_entities([principal, resource], None)
        }
        .map_err(|e| e.to_string())?;
        Ok(Built {
            principal: p,
            resource: r,
            entities,
            has_propose: false,
        })
    }

    /// Whether the request's entities need the action entity (see `NEEDS_ACTION`).
    fn needs_action(&self, request: &GateRequest) -> bool {
        !self.sliced
            || self
                .policies
                .slices
                .attrs(request.action.index(), request.principal.is_agent())
                & NEEDS_ACTION
                != 0
    }

    fn principal_entity(&self, principal: &Principal, mask: u32) -> Result<Entity, String> {
        if principal.id().is_empty() {
            return Err("the principal has an empty id".to_owned());
        }
        let want = |i: usize| mask & (1 << (SUBJECT_ATTRS.len() + i)) != 0;
        let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
        let mut attrs = Vec::with_capacity(2);
        if want(0) {
            attrs.push(("id".to_owned(), s(principal.id())));
        }
        let (uid, parents) = match principal {
            Principal::User { id, roles } => (
                self.uid(0, id),
                roles
                    .iter()
                    .map(|r| self.roles[*r as usize].clone())
                    .collect::<HashSet<_>>(),
            ),
            Principal::Agent { id, agent, version } => {
                if want(1) {
                    attrs.push(("version".to_owned(), s(version)));
                }
                (
                    self.uid(1, id),
                    HashSet::from([self.agent_kinds[*agent as usize].clone()]),
                )
            }
        };
        Entity::new_with_tags(uid, attrs, parents, []).map_err(|e| e.to_string())
    }

    fn uid(&self, ty: usize, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(self.types[ty].clone(), EntityId::new(id))
    }

    fn resource_entity(
        &self,
        r: &Resource,
        amount: Option<Money>,
        autonomy: AutonomyLevel,
        mask: u32,
    ) -> Result<Entity, String> {
        let mut attrs = Vec::with_capacity(SUBJECT_ATTRS.len());
        for (bit, name) in SUBJECT_ATTRS.iter().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let value = match self.subject_attr(bit, r, amount, autonomy) {
                AttrValue::Long(n) => RestrictedExpression::new_long(n),
                AttrValue::Str(v) => RestrictedExpression::new_string(v.to_owned()),
                AttrValue::Bool(b) => RestrictedExpression::new_bool(b),
            };
            attrs.push(((*name).to_owned(), value));
        }
        Entity::new_with_tags(self.uid(2, &r.id), attrs, [], []).map_err(|e| e.to_string())
    }

    /// The value of the resource attribute `SUBJECT_ATTRS[bit]`.
    fn subject_attr<'a>(
        &'a self,
        bit: usize,
        r: &'a Resource,
        amount: Option<Money>,
        autonomy: AutonomyLevel,
    ) -> AttrValue<'a> {
        let supplier = r.supplier.as_ref();
        // INVARIANT: the order matches `SUBJECT_ATTRS`.
        match bit {
            0 => AttrValue::Long(amount.map_or(0, |m| m.minor)),
            1 => AttrValue::Str(self.reporting.code()),
            2 => AttrValue::Str(r.amount.as_ref().map_or("", |m| m.currency.code())),
            3 => AttrValue::Str(r.category.as_ref().map_or("", |c| c.as_str())),
            4 => AttrValue::Str(r.region.as_ref().map_or("", |c| c.as_str())),
            5 => AttrValue::Str(supplier.map_or("", |f| f.risk.as_str())),
            6 => AttrValue::Str(supplier.map_or("", |f| f.size.as_str())),
            7 => AttrValue::Bool(supplier.is_some_and(|f| f.new)),
            8 => AttrValue::Str(autonomy.as_str()),
            9 => AttrValue::Str(r.requester.as_deref().unwrap_or("")),
            10 => AttrValue::Str(r.approver.as_deref().unwrap_or("")),
            _ => AttrValue::Bool(r.has_goods_receipt),
        }
    }

    /// Builds probe entities for every principal kind and validates them against the
    /// schema, so that a pack whose schema disagrees with the gate is refused up front.
    fn check_schema_fit(&self) -> Result<(), GateError> {
        let probe = Resource::new("probe");
        let mut entities = vec![
            self.resource_entity(&probe, None, AutonomyLevel::ActAlone, ALL_ATTRS)
                .map_err(GateError::SchemaMismatch)?,
        ];
        for p in [
            Principal::user("probe-user", &[Role::Buyer]),
            Principal::agent(AgentKind::Negotiator, "0"),
        ] {
            entities.push(
                self.principal_entity(&p, ALL_ATTRS)
                    .map_err(GateError::SchemaMismatch)?,
            );
        }
        Entities::from_entities(entities, Some(&self.policies.schema))
            .map(|_| ())
            .map_err(|e| GateError::SchemaMismatch(e.to_string()))
    }
}

/// A request's entities, built once for both flavours.
struct Built {
    principal: EntityUid,
    resource: EntityUid,
    entities: Entities,
    /// Whether the propose flavour's action entity was added.
    has_propose: bool,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    // Writers only insert whole entries or clear, so a poisoned lock is still consistent.
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

fn push_unique(into: &mut Vec<String>, from: Vec<String>) {
    for id in from {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}
