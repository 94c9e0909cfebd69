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

use std::{collections::HashSet, str::FromStr, sync::Arc};

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
        };
        gate.check_schema_fit()?;
        Ok(gate)
    }

    /// The same gate evaluating the whole policy set on every request instead of the
    /// slice that can apply. Slower; for tests and benchmarks that check slicing.
    #[doc(hidden)]
    pub fn unsliced(mut self) -> Gate {
        self.sliced = false;
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
        let (principal, resource, entities) = match self.entities(request, amount, autonomy.level) {
            Ok(x) => x,
            Err(note) => return deny(EVALUATION_ERROR_ID, note),
        };
        let pair = &self.policies.actions[request.action.index()];
        let agent = request.principal.is_agent();
        let act = self.ask(
            &principal,
            (request.action, false, agent),
            &pair.act_uid,
            &resource,
            &entities,
        );
        if let Some(v) = self.evaluation_errors(&act, autonomy.level) {
            return v;
        }
        let act_allowed = act.decision() == Decision::Allow;
        let mut ids: Vec<String> = reason_ids(&act);
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
        // The propose flavour's action entity joins only now: most requests stop at step 1.
        let entities = if self.needs_action(request) {
            match entities.add_entities([pair.propose_entity.clone()], None) {
                Ok(e) => e,
                Err(e) => return deny(EVALUATION_ERROR_ID, e.to_string()),
            }
        } else {
            entities
        };
        if act_allowed {
            // INVARIANT: no pack can let an agent act alone in a `recommend_only` category.
            ids = vec![AUTONOMY_ID.to_owned()];
        }

        // Step 2: may the principal propose it for approval?
        let propose = self.ask(
            &principal,
            (request.action, true, agent),
            &pair.propose_uid,
            &resource,
            &entities,
        );
        if let Some(v) = self.evaluation_errors(&propose, autonomy.level) {
            return v;
        }
        let propose_ids = reason_ids(&propose);
        if propose.decision() == Decision::Allow {
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

    fn ask(
        &self,
        principal: &EntityUid,
        (business, propose, agent): (crate::vocab::Action, bool, bool),
        action: &EntityUid,
        resource: &EntityUid,
        entities: &Entities,
    ) -> Response {
        // INVARIANT: `action` is one of the schema's actions (checked at load), and the
        // entities conform to the schema (checked in `Gate::new`), so this cannot fail.
        let request = Request::new(
            principal.clone(),
            action.clone(),
            resource.clone(),
            Context::empty(),
            None,
        )
        .expect("a request without schema validation always builds");
        let set = if self.sliced {
            self.policies.slices.get(business.index(), propose, agent)
        } else {
            &self.policies.cedar
        };
        self.authorizer.is_authorized(&request, set, entities)
    }

    /// Fails closed on any Cedar evaluation error: a policy that errors is skipped by
    /// Cedar, and a skipped `forbid` must never turn into an allow.
    fn evaluation_errors(&self, response: &Response, autonomy: AutonomyLevel) -> Option<Verdict> {
        let errors: Vec<_> = response.diagnostics().errors().collect();
        if errors.is_empty() {
            return None;
        }
        let mut ids = vec![EVALUATION_ERROR_ID.to_owned()];
        let mut notes = Vec::new();
        for e in errors {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(e) = e;
            ids.push(e.policy_id().to_string());
            notes.push(e.to_string());
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
    ) -> Result<(EntityUid, EntityUid, Entities), String> {
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
        Ok((p, r, entities))
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
        let supplier = r.supplier.as_ref();
        let mut attrs = Vec::with_capacity(SUBJECT_ATTRS.len());
        for (bit, name) in SUBJECT_ATTRS.iter().enumerate() {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let s = |v: &str| RestrictedExpression::new_string(v.to_owned());
            // INVARIANT: the order matches `SUBJECT_ATTRS`.
            let value = match bit {
                0 => RestrictedExpression::new_long(amount.map_or(0, |m| m.minor)),
                1 => s(self.reporting.code()),
                2 => s(r.amount.as_ref().map_or("", |m| m.currency.code())),
                3 => s(r.category.as_ref().map_or("", |c| c.as_str())),
                4 => s(r.region.as_ref().map_or("", |c| c.as_str())),
                5 => s(supplier.map_or("", |f| f.risk.as_str())),
                6 => s(supplier.map_or("", |f| f.size.as_str())),
                7 => RestrictedExpression::new_bool(supplier.is_some_and(|f| f.new)),
                8 => s(autonomy.as_str()),
                9 => s(r.requester.as_deref().unwrap_or("")),
                10 => s(r.approver.as_deref().unwrap_or("")),
                _ => RestrictedExpression::new_bool(r.has_goods_receipt),
            };
            attrs.push(((*name).to_owned(), value));
        }
        Entity::new_with_tags(self.uid(2, &r.id), attrs, [], []).map_err(|e| e.to_string())
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

fn reason_ids(response: &Response) -> Vec<String> {
    let mut ids: Vec<String> = response
        .diagnostics()
        .reason()
        .map(|id| id.to_string())
        .collect();
    // Cedar returns the reasons as a set; sort for a stable log.
    ids.sort_unstable();
    ids
}

fn push_unique(into: &mut Vec<String>, from: Vec<String>) {
    for id in from {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}
