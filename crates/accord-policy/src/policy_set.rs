//! Loading a policy set: `.cedar` files and one `.cedarschema`, parsed, checked against
//! Accord's conventions, validated against the schema, and hashed. A set with any error is
//! refused whole, with every diagnostic; there is no half-loaded state.
//!
//! The only I/O in this crate is [`PolicySet::load_dir`] and [`check`], which read a
//! directory and hand the texts to the pure [`PolicySet::from_sources`].

use std::{collections::HashMap, fmt, path::Path, str::FromStr, sync::Arc};

use cedar_policy::{
    ActionConstraint, Effect, Entity, EntityUid, PolicyId, Schema, ValidationMode, Validator,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::vocab::{Action, Role};

/// The Cedar namespace every Accord type lives in.
pub const NAMESPACE: &str = "Accord";

/// Annotation holding a policy's readable id (required, unique).
pub const ID_ANNOTATION: &str = "id";
/// Annotation holding a plain-language reason, shown by `explain`.
pub const REASON_ANNOTATION: &str = "reason";
/// Annotation naming the role that approves when a `propose` permit matches.
pub const APPROVER_ANNOTATION: &str = "approver_role";

/// How serious a diagnostic is. Any error refuses the whole set.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a policy set, as `accord policy check` prints it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file it is about, when known.
    pub file: Option<String>,
    /// The policy it is about (its `@id`), when known.
    pub policy: Option<String>,
    pub message: String,
}

impl Diagnostic {
    fn error(file: Option<&str>, policy: Option<&str>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.map(str::to_owned),
            policy: policy.map(str::to_owned),
            message: message.into(),
        }
    }

    fn warning(file: Option<&str>, policy: Option<&str>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, policy, message)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}")?;
        if let Some(file) = &self.file {
            write!(f, " in `{file}`")?;
        }
        if let Some(policy) = &self.policy {
            write!(f, " (policy `{policy}`)")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A refused policy set, with everything that is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read policy directory `{path}`: {message}")]
    Io { path: String, message: String },
    #[error("policy set is invalid ({} errors): {}", .0.iter().filter(|d| d.severity == Severity::Error).count(), first_error(.0))]
    Invalid(Vec<Diagnostic>),
}

fn first_error(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .find(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .unwrap_or_default()
}

impl LoadError {
    /// Every diagnostic (empty for an I/O error).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LoadError::Io { .. } => &[],
            LoadError::Invalid(d) => d,
        }
    }
}

/// What a policy says about itself, read once at load from its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    pub id: String,
    pub file: String,
    pub effect: Effect,
    pub reason: Option<String>,
    pub approver_role: Option<Role>,
}

/// The two concrete Cedar actions of a business action, with their entities (carrying
/// every ancestor group, so that a request needs no other action entity).
#[derive(Clone, Debug)]
pub(crate) struct ActionPair {
    pub act_uid: EntityUid,
    pub act_entity: Entity,
    /// Every group the `act` action is in, transitively.
    pub act_groups: Vec<EntityUid>,
    pub propose_uid: EntityUid,
    pub propose_entity: Entity,
    /// Every group the `propose` action is in, transitively.
    pub propose_groups: Vec<EntityUid>,
}

/// A validated policy set with its schema and version hash. Cheap to share behind an
/// `Arc`; the gate reuses it for every decision.
#[derive(Clone, Debug)]
pub struct PolicySet {
    pub(crate) cedar: cedar_policy::PolicySet,
    pub(crate) schema: Schema,
    pub(crate) info: HashMap<String, PolicyInfo>,
    pub(crate) actions: Vec<ActionPair>,
    /// The policies that can apply, per concrete action and principal type: see [`Slices`].
    pub(crate) slices: Slices,
    hash: Arc<str>,
    files: Vec<String>,
}

/// The result of checking a policy set without keeping it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// True when the set would load.
    pub ok: bool,
    /// SHA-256 of the set, when it loads.
    pub hash: Option<String>,
    /// Number of policies found.
    pub policies: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Validates the policy set in `dir` and reports every diagnostic; for `accord policy
/// check`. Reads the directory (I/O), then checks purely.
pub fn check(dir: &Path) -> CheckReport {
    match read_dir_sources(dir) {
        Ok((schema, files)) => check_sources(&schema, &files),
        Err(e) => CheckReport {
            ok: false,
            hash: None,
            policies: 0,
            diagnostics: vec![Diagnostic::error(None, None, e.to_string())],
        },
    }
}

/// Like [`check`], on texts already in memory: `schema` is `(file name, text)` and
/// `files` the `.cedar` files as `(file name, text)`.
pub fn check_sources(schema: &(String, String), files: &[(String, String)]) -> CheckReport {
    match PolicySet::build(schema, files) {
        Ok((set, warnings)) => CheckReport {
            ok: true,
            hash: Some(set.hash().to_owned()),
            policies: set.info.len(),
            diagnostics: warnings,
        },
        Err((count, diagnostics)) => CheckReport {
            ok: false,
            hash: None,
            policies: count,
            diagnostics,
        },
    }
}

type Sources = ((String, String), Vec<(String, String)>);

/// Reads one `.cedarschema` and every `.cedar` file of `dir` (not recursive), sorted by name.
fn read_dir_sources(dir: &Path) -> Result<Sources, LoadError> {
    let io = |e: std::io::Error| LoadError::Io {
        path: dir.display().to_string(),
        message: e.to_string().to_lowercase(),
    };
    let mut schemas = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match path.extension().and_then(|e| e.to_str()) {
            Some("cedar") => files.push((name, std::fs::read_to_string(&path).map_err(io)?)),
            Some("cedarschema") => {
                schemas.push((name, std::fs::read_to_string(&path).map_err(io)?))
            }
            _ => {}
        }
    }
    files.sort();
    schemas.sort();
    let mut schemas = schemas.into_iter();
    match (schemas.next(), schemas.next()) {
        (Some(schema), None) => Ok((schema, files)),
        (None, _) => Err(LoadError::Invalid(vec![Diagnostic::error(
            None,
            None,
            format!("no `.cedarschema` file in `{}`", dir.display()),
        )])),
        (Some(a), Some(b)) => Err(LoadError::Invalid(vec![Diagnostic::error(
            None,
            None,
            format!(
                "more than one schema in `{}`: `{}` and `{}`",
                dir.display(),
                a.0,
                b.0
            ),
        )])),
    }
}

/// SHA-256 over the canonical concatenation of the set: each `.cedar` file sorted by name,
/// then the schema, each as `name \n byte-length \n text \n`, with CRLF turned into LF.
pub fn hash_sources(schema: &(String, String), files: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for (name, text) in sorted.into_iter().chain(std::iter::once(schema)) {
        let text = text.replace("\r\n", "\n");
        h.update(name.as_bytes());
        h.update(b"\n");
        h.update(text.len().to_string().as_bytes());
        h.update(b"\n");
        h.update(text.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

fn cedar_uid(ty: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(
        cedar_policy::EntityTypeName::from_str(&format!("{NAMESPACE}::{ty}"))
            .expect("static type names parse"),
        cedar_policy::EntityId::new(id),
    )
}

pub(crate) fn action_uid(id: &str) -> EntityUid {
    cedar_uid("Action", id)
}

pub(crate) fn entity_uid(ty: &str, id: &str) -> EntityUid {
    cedar_uid(ty, id)
}

impl PolicySet {
    /// Loads the policy set in `dir`: every `.cedar` file and exactly one `.cedarschema`.
    /// The only function of this crate that reads files.
    pub fn load_dir(dir: &Path) -> Result<PolicySet, LoadError> {
        let (schema, files) = read_dir_sources(dir)?;
        PolicySet::from_sources(&schema, &files)
    }

    /// Builds a policy set from texts: `schema` is `(file name, text)`, `files` the
    /// `.cedar` files as `(file name, text)`. Pure.
    pub fn from_sources(
        schema: &(String, String),
        files: &[(String, String)],
    ) -> Result<PolicySet, LoadError> {
        PolicySet::build(schema, files)
            .map(|(set, _warnings)| set)
            .map_err(|(_, diags)| LoadError::Invalid(diags))
    }

    /// The default pack shipped in `policies/default/`, embedded at compile time.
    pub fn default_pack() -> PolicySet {
        let (schema, files) = default_pack_sources();
        // INVARIANT: a test loads the default pack, so this cannot fail in a release.
        PolicySet::from_sources(&schema, &files).expect("the default policy pack is valid")
    }

    /// SHA-256 of this version of the set (see [`hash_sources`]).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    pub(crate) fn hash_arc(&self) -> &Arc<str> {
        &self.hash
    }

    /// The readable ids of every policy, sorted.
    pub fn policy_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.info.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// What a policy says about itself, by its `@id`.
    pub fn policy(&self, id: &str) -> Option<&PolicyInfo> {
        self.info.get(id)
    }

    /// The `.cedar` files the set was built from, sorted.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Builds the set, or returns the number of policies seen and every diagnostic.
    #[allow(clippy::type_complexity)]
    fn build(
        schema_src: &(String, String),
        files: &[(String, String)],
    ) -> Result<(PolicySet, Vec<Diagnostic>), (usize, Vec<Diagnostic>)> {
        let mut diags = Vec::new();
        let schema_file = Some(schema_src.0.as_str());

        let schema = match Schema::from_cedarschema_str(&schema_src.1) {
            Ok((schema, warnings)) => {
                for w in warnings {
                    diags.push(Diagnostic::warning(schema_file, None, w.to_string()));
                }
                Some(schema)
            }
            Err(e) => {
                diags.push(Diagnostic::error(schema_file, None, render_error(&e)));
                None
            }
        };

        let mut set = cedar_policy::PolicySet::new();
        let mut info: HashMap<String, PolicyInfo> = HashMap::new();
        let mut unnamed_permits = Vec::new();
        let mut sorted: Vec<&(String, String)> = files.iter().collect();
        sorted.sort();
        for (file, text) in sorted {
            let file_ref = Some(file.as_str());
            let parsed = match cedar_policy::PolicySet::from_str(text) {
                Ok(p) => p,
                Err(e) => {
                    diags.push(Diagnostic::error(file_ref, None, render_error(&e)));
                    continue;
                }
            };
            if parsed.templates().next().is_some() {
                diags.push(Diagnostic::error(
                    file_ref,
                    None,
                    "templates are not supported: write plain policies",
                ));
            }
            for policy in parsed.policies() {
                let Some(id) = policy.annotation(ID_ANNOTATION).map(str::to_owned) else {
                    diags.push(Diagnostic::error(
                        file_ref,
                        None,
                        format!(
                            "a policy has no `@id(\"...\")` annotation: `{}`",
                            first_line(&policy.to_string())
                        ),
                    ));
                    continue;
                };
                let pid = Some(id.as_str());
                if id.trim().is_empty() || id.starts_with("accord:") {
                    diags.push(Diagnostic::error(
                        file_ref,
                        pid,
                        format!("policy id `{id}` is empty or uses the reserved prefix `accord:`"),
                    ));
                    continue;
                }
                if let Some(other) = info.get(&id) {
                    diags.push(Diagnostic::error(
                        file_ref,
                        pid,
                        format!("duplicate policy id `{id}` (also in `{}`)", other.file),
                    ));
                    continue;
                }
                let approver_role = match policy.annotation(APPROVER_ANNOTATION) {
                    None => None,
                    Some(r) => match Role::parse(r) {
                        Ok(role) => Some(role),
                        Err(e) => {
                            diags.push(Diagnostic::error(file_ref, pid, e.to_string()));
                            None
                        }
                    },
                };
                let effect = policy.effect();
                if effect == Effect::Forbid && approver_role.is_some() {
                    diags.push(Diagnostic::error(
                        file_ref,
                        pid,
                        "`@approver_role` only makes sense on a `permit`",
                    ));
                }
                if effect == Effect::Permit && approver_role.is_none() {
                    unnamed_permits.push((id.clone(), file.clone(), policy.action_constraint()));
                }
                let reason = policy.annotation(REASON_ANNOTATION).map(str::to_owned);
                if reason.is_none() {
                    diags.push(Diagnostic::warning(
                        file_ref,
                        pid,
                        "no `@reason(\"...\")`: `explain` will show the id only",
                    ));
                }
                if let Err(e) = set.add(policy.new_id(PolicyId::new(&id))) {
                    diags.push(Diagnostic::error(file_ref, pid, e.to_string()));
                    continue;
                }
                info.insert(
                    id.clone(),
                    PolicyInfo {
                        id,
                        file: file.clone(),
                        effect,
                        reason,
                        approver_role,
                    },
                );
            }
        }

        let mut actions = Vec::new();
        if let Some(schema) = &schema {
            let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
            for e in result.validation_errors() {
                let id = e.policy_id().to_string();
                let file = info.get(&id).map(|i| i.file.as_str());
                diags.push(Diagnostic::error(file, Some(&id), render_error(e)));
            }
            for w in result.validation_warnings() {
                let id = w.policy_id().to_string();
                let file = info.get(&id).map(|i| i.file.as_str());
                diags.push(Diagnostic::warning(file, Some(&id), w.to_string()));
            }
            match action_pairs(schema) {
                Ok(a) => actions = a,
                Err(msg) => diags.push(Diagnostic::error(schema_file, None, msg)),
            }
            for (id, file, constraint) in &unnamed_permits {
                if may_match_propose(constraint, &actions) {
                    diags.push(Diagnostic::error(
                        Some(file),
                        Some(id),
                        "a `permit` that can match a `propose` action must name who approves with `@approver_role(\"...\")`",
                    ));
                }
            }
        }

        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err((info.len(), diags));
        }
        let schema = schema.expect("no error means the schema parsed");
        let slices = Slices::build(&set, &actions);
        let mut file_names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        file_names.sort();
        Ok((
            PolicySet {
                cedar: set,
                schema,
                info,
                actions,
                slices,
                hash: hash_sources(schema_src, files).into(),
                files: file_names,
            },
            diags,
        ))
    }
}

/// Whether a permit's action scope can include a `propose` action: the scope names one,
/// or a group one belongs to, or any action.
fn may_match_propose(c: &ActionConstraint, actions: &[ActionPair]) -> bool {
    let covers = |uid: &EntityUid| {
        actions
            .iter()
            .any(|pair| pair.propose_uid == *uid || pair.propose_groups.contains(uid))
    };
    match c {
        ActionConstraint::Any => true,
        ActionConstraint::In(uids) => uids.iter().any(covers),
        ActionConstraint::Eq(uid) => covers(uid),
    }
}

/// The policy set sliced by scope: for each concrete action and each principal type, the
/// policies whose action and principal scope can match it. Cedar evaluates every policy
/// of a set on every request, so evaluating a slice is several times faster.
///
/// INVARIANT: a policy left out of a slice has a scope that cannot match the requests the
/// slice serves, so Cedar would not apply it (and, the scope being checked before the
/// condition, would not report an error for it either). A slice's decision, reasons and
/// errors are therefore those of the whole set; a test compares both on many requests.
#[derive(Clone, Debug)]
pub(crate) struct Slices {
    /// Indexed by `Slices::index(action, propose, agent)`.
    sets: Vec<cedar_policy::PolicySet>,
    /// Per `action * 2 + agent`: which attributes (bits over [`SUBJECT_ATTRS`] then
    /// [`PRINCIPAL_ATTRS`]) any policy of the two slices mentions. The gate builds only
    /// those: an attribute whose name appears nowhere in a policy's text cannot be read by
    /// it (Cedar has no computed attribute names, and `has` names the attribute too).
    masks: Vec<u32>,
    /// Per `action * 2 + agent`: when every read of `resource.amount` in the two slices is
    /// a comparison with an integer literal, those literals, sorted and deduplicated.
    /// Two amounts on the same side of (or equal to) each of them compare alike in every
    /// policy, so Cedar decides them alike: the gate's verdict cache keys on the amount's
    /// class ([`Slices::amount_class`]) instead of the amount. `None`: key on the amount.
    amount_points: Vec<Option<Vec<i64>>>,
}

/// The attributes of `Accord::Subject`, in the gate's order.
pub(crate) const SUBJECT_ATTRS: [&str; 12] = [
    "amount",
    "currency",
    "deal_currency",
    "category",
    "region",
    "supplier_risk",
    "supplier_size",
    "supplier_new",
    "autonomy",
    "requester",
    "approver",
    "has_goods_receipt",
];

/// The attributes of `Accord::User` and `Accord::Agent`, in the gate's order.
pub(crate) const PRINCIPAL_ATTRS: [&str; 2] = ["id", "version"];

/// A mask with every attribute.
pub(crate) const ALL_ATTRS: u32 = (1 << (SUBJECT_ATTRS.len() + PRINCIPAL_ATTRS.len())) - 1;

/// Mask bit: some policy's condition reads `action`, so the request needs the action
/// entity with its groups.
pub(crate) const NEEDS_ACTION: u32 = 1 << 31;

/// Rewrites a policy of a slice with its action scope removed, and returns it with the
/// JSON text of its conditions (annotations left out, so that a reason mentioning
/// "amount" does not count as reading the attribute).
///
/// INVARIANT: only called for a policy whose action scope matches every request the
/// slice serves (`action_may_match`), so the scope is `true` there and dropping it
/// changes nothing; without it, Cedar needs no action entity to evaluate the scope.
fn drop_action_scope(p: &cedar_policy::Policy) -> (cedar_policy::Policy, String) {
    let Ok(mut json) = p.to_json() else {
        // Keep the policy as it is; mentioning `action` keeps the action entity.
        return (p.clone(), format!("\"action\" {p}"));
    };
    let conditions = json
        .get("conditions")
        .map(ToString::to_string)
        .unwrap_or_default();
    json["action"] = serde_json::json!({ "op": "All" });
    match cedar_policy::Policy::from_json(Some(p.id().clone()), json) {
        Ok(rewritten) => (rewritten, conditions),
        Err(_) => (p.clone(), format!("\"action\" {conditions}")),
    }
}

impl Slices {
    pub(crate) fn index(action: usize, propose: bool, agent: bool) -> usize {
        action * 4 + usize::from(propose) * 2 + usize::from(agent)
    }

    pub(crate) fn get(
        &self,
        action: usize,
        propose: bool,
        agent: bool,
    ) -> &cedar_policy::PolicySet {
        &self.sets[Slices::index(action, propose, agent)]
    }

    pub(crate) fn attrs(&self, action: usize, agent: bool) -> u32 {
        self.masks[action * 2 + usize::from(agent)]
    }

    /// The class of `amount` for the verdict cache: equal for two amounts exactly when
    /// every amount comparison in the slices gives the same answer for both.
    pub(crate) fn amount_class(&self, action: usize, agent: bool, amount: i64) -> AmountKey {
        match &self.amount_points[action * 2 + usize::from(agent)] {
            None => AmountKey::Exact(amount),
            Some(points) => {
                let below = points.partition_point(|p| *p < amount);
                let equal = points.get(below) == Some(&amount);
                AmountKey::Class(below * 2 + usize::from(equal))
            }
        }
    }

    fn build(set: &cedar_policy::PolicySet, actions: &[ActionPair]) -> Slices {
        let user_ty = cedar_policy::EntityTypeName::from_str(&format!("{NAMESPACE}::User"))
            .expect("static type names parse");
        let agent_ty = cedar_policy::EntityTypeName::from_str(&format!("{NAMESPACE}::Agent"))
            .expect("static type names parse");
        let mut sets = Vec::with_capacity(actions.len() * 4);
        let mut masks = vec![0u32; actions.len() * 2];
        let mut amount_points: Vec<Option<Vec<i64>>> = vec![Some(Vec::new()); actions.len() * 2];
        for (i, pair) in actions.iter().enumerate() {
            for (uid, groups) in [
                (&pair.act_uid, &pair.act_groups),
                (&pair.propose_uid, &pair.propose_groups),
            ] {
                for (agent, ty) in [(false, &user_ty), (true, &agent_ty)] {
                    let policies: Vec<&cedar_policy::Policy> = set
                        .policies()
                        .filter(|p| {
                            action_may_match(&p.action_constraint(), uid, groups)
                                && principal_may_match(&p.principal_constraint(), ty)
                        })
                        .collect();
                    let mut sliced = Vec::with_capacity(policies.len());
                    for p in policies {
                        let (policy, conditions) = drop_action_scope(p);
                        for (bit, name) in SUBJECT_ATTRS.iter().chain(&PRINCIPAL_ATTRS).enumerate()
                        {
                            if conditions.contains(name) {
                                masks[i * 2 + usize::from(agent)] |= 1 << bit;
                            }
                        }
                        if conditions.contains("\"action\"") {
                            masks[i * 2 + usize::from(agent)] |= NEEDS_ACTION;
                        }
                        let points = &mut amount_points[i * 2 + usize::from(agent)];
                        if let Some(list) = points {
                            match serde_json::from_str(&conditions)
                                .ok()
                                .and_then(|c| amount_literals(&c))
                            {
                                Some(found) => list.extend(found),
                                None => *points = None,
                            }
                        }
                        sliced.push(policy);
                    }
                    sets.push(
                        cedar_policy::PolicySet::from_policies(sliced)
                            .expect("a subset of a valid set is valid"),
                    );
                }
            }
        }
        for list in amount_points.iter_mut().flatten() {
            list.sort_unstable();
            list.dedup();
        }
        Slices {
            sets,
            masks,
            amount_points,
        }
    }
}

/// How the verdict cache keys an amount: exactly, or by its class (see `amount_points`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum AmountKey {
    Exact(i64),
    Class(usize),
}

/// The integer literals `resource.amount` is compared with in a policy's conditions (as
/// Cedar's JSON policy format), or `None` when it is read in any other way (arithmetic,
/// a set, a comparison with anything but a literal), so its value matters beyond them.
fn amount_literals(conditions: &serde_json::Value) -> Option<Vec<i64>> {
    fn is_amount(v: &serde_json::Value) -> bool {
        v.get(".").is_some_and(|dot| {
            dot.get("left") == Some(&serde_json::json!({ "Var": "resource" }))
                && dot.get("attr") == Some(&serde_json::json!("amount"))
        })
    }
    fn walk(v: &serde_json::Value, reads: &mut usize, found: &mut Vec<i64>) {
        match v {
            serde_json::Value::Object(map) => {
                if is_amount(v) {
                    *reads += 1;
                    return;
                }
                if let [(op, operands)] = map.iter().collect::<Vec<_>>().as_slice()
                    && matches!(op.as_str(), "<" | "<=" | ">" | ">=" | "==" | "!=")
                    && let (Some(l), Some(r)) = (operands.get("left"), operands.get("right"))
                {
                    let literal = |x: &serde_json::Value| x.get("Value").and_then(|n| n.as_i64());
                    if is_amount(l)
                        && let Some(n) = literal(r)
                    {
                        found.push(n);
                        return;
                    }
                    if is_amount(r)
                        && let Some(n) = literal(l)
                    {
                        found.push(n);
                        return;
                    }
                }
                for child in map.values() {
                    walk(child, reads, found);
                }
            }
            serde_json::Value::Array(items) => {
                for child in items {
                    walk(child, reads, found);
                }
            }
            _ => {}
        }
    }
    let (mut reads, mut found) = (0, Vec::new());
    walk(conditions, &mut reads, &mut found);
    (reads == 0).then_some(found)
}

fn action_may_match(c: &ActionConstraint, uid: &EntityUid, groups: &[EntityUid]) -> bool {
    let covers = |u: &EntityUid| u == uid || groups.contains(u);
    match c {
        ActionConstraint::Any => true,
        ActionConstraint::In(uids) => uids.iter().any(covers),
        ActionConstraint::Eq(u) => u == uid,
    }
}

fn principal_may_match(
    c: &cedar_policy::PrincipalConstraint,
    ty: &cedar_policy::EntityTypeName,
) -> bool {
    use cedar_policy::PrincipalConstraint as P;
    match c {
        P::Any | P::In(_) => true,
        P::Is(t) | P::IsIn(t, _) => t == ty,
        P::Eq(uid) => uid.type_name() == ty,
    }
}

/// Looks up both concrete actions of every [`Action`] in the schema, with every ancestor
/// group attached, or says which is missing.
fn action_pairs(schema: &Schema) -> Result<Vec<ActionPair>, String> {
    let entities = schema
        .action_entities()
        .map_err(|e| format!("cannot build action entities: {e}"))?;
    let mut missing = Vec::new();
    let mut pairs = Vec::new();
    let mut get = |id: String| -> Option<(EntityUid, Entity, Vec<EntityUid>)> {
        let uid = action_uid(&id);
        match entities.get(&uid) {
            Some(_) => {
                // INVARIANT: the entity carries all transitive ancestors as parents, so a
                // request's entity store needs no group entities.
                let ancestors: Vec<EntityUid> = entities
                    .ancestors(&uid)
                    .map(|a| a.cloned().collect())
                    .unwrap_or_default();
                let entity = Entity::new_no_attrs(uid.clone(), ancestors.iter().cloned().collect());
                Some((uid, entity, ancestors))
            }
            None => {
                missing.push(id);
                None
            }
        }
    };
    for a in Action::ALL {
        let act = get(format!("{}:act", a.as_str()));
        let propose = get(format!("{}:propose", a.as_str()));
        if let (
            Some((act_uid, act_entity, act_groups)),
            Some((propose_uid, propose_entity, propose_groups)),
        ) = (act, propose)
        {
            pairs.push(ActionPair {
                act_uid,
                act_entity,
                act_groups,
                propose_uid,
                propose_entity,
                propose_groups,
            });
        }
    }
    if missing.is_empty() {
        Ok(pairs)
    } else {
        Err(format!(
            "the schema does not declare the actions {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim().starts_with('@'))
        .unwrap_or("");
    line.trim().chars().take(80).collect()
}

/// Renders a Cedar error with its chain of causes, on one line.
fn render_error<E: std::error::Error + ?Sized>(e: &E) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        source = s.source();
    }
    out
}

/// The default pack's texts, embedded from `policies/default/` at compile time.
pub fn default_pack_sources() -> Sources {
    macro_rules! file {
        ($name:literal) => {
            (
                $name.to_owned(),
                include_str!(concat!("../../../policies/default/", $name)).to_owned(),
            )
        };
    }
    (
        file!("accord.cedarschema"),
        vec![
            file!("administration.cedar"),
            file!("documents.cedar"),
            file!("escalation.cedar"),
            file!("negotiation.cedar"),
            file!("supplier_master.cedar"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(text: &str) -> serde_json::Value {
        let p = cedar_policy::Policy::from_str(text).unwrap();
        p.to_json().unwrap()["conditions"].clone()
    }

    #[test]
    fn amount_is_classed_only_when_compared_with_literals() {
        let c = conditions(
            "permit(principal, action, resource) when { resource.amount > 5000000 && 100 >= resource.amount };",
        );
        assert_eq!(amount_literals(&c), Some(vec![5_000_000, 100]));
        let c = conditions(
            "permit(principal, action, resource) when { resource.amount + 1 > 5000000 };",
        );
        assert_eq!(amount_literals(&c), None);
        let c = conditions(
            "permit(principal, action, resource) when { resource.amount > resource.limit };",
        );
        assert_eq!(amount_literals(&c), None);
        let c =
            conditions("permit(principal, action, resource) when { resource.risk == \"low\" };");
        assert_eq!(amount_literals(&c), Some(vec![]));
    }

    #[test]
    fn amounts_in_one_class_compare_alike_with_every_point() {
        let set = PolicySet::default_pack();
        let offer = Action::NegotiationOffer.index();
        let class = |a| set.slices.amount_class(offer, true, a);
        assert_eq!(class(1_000_000), class(1_000_000));
        assert_eq!(class(2_000_000), class(4_999_999));
        assert_ne!(class(4_999_999), class(5_000_000));
        assert_ne!(class(5_000_000), class(5_000_001));
        assert_eq!(class(5_000_001), class(90_000_000));
    }
}
