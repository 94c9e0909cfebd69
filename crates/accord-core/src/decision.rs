//! The `Decision` record: what an actor decided, on what inputs, among which options, under
//! which policy verdict, and why, in plain language.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::DecisionId;

/// Who took a decision.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// An autonomous agent (`negotiator`, `sourcing`, `sentinel`, `matcher`) at a version.
    Agent { name: String, version: String },
    /// A person, with the role they acted in.
    User { id: String, role: String },
    /// Accord itself (initialisation, the kill switch's automatic effects).
    System { component: String },
}

impl Actor {
    pub fn agent(name: &str, version: &str) -> Actor {
        Actor::Agent {
            name: name.into(),
            version: version.into(),
        }
    }

    pub fn user(id: &str, role: &str) -> Actor {
        Actor::User {
            id: id.into(),
            role: role.into(),
        }
    }
}

/// One option the actor weighed, with its score (higher is better for the actor).
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ScoredOption {
    pub label: String,
    pub score: f64,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// What the policy gate said about an action.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VerdictOutcome {
    /// The actor may act alone.
    Allow,
    /// The action must be approved by someone holding `role`.
    NeedsApproval { role: String },
    /// The action may not be taken.
    Deny,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PolicyVerdict {
    #[serde(flatten)]
    pub outcome: VerdictOutcome,
    /// Ids of the policies that decided.
    pub policy_ids: Vec<String>,
    /// Hash of the policy-set version that was in force.
    pub policy_set_hash: String,
}

/// A decision as it enters the audit log.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub id: DecisionId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The action decided on, such as `negotiation.offer` or `payment.release`.
    pub action: String,
    /// What it was about, such as `negotiation/0190…`.
    pub subject: String,
    /// What the actor saw when it chose.
    #[serde(default)]
    pub inputs: serde_json::Value,
    /// The options it weighed, with their scores.
    #[serde(default)]
    pub options: Vec<ScoredOption>,
    /// What it chose (an option's label, or a short description).
    pub choice: String,
    /// The policy gate's verdict, when the action went through the gate.
    #[serde(default)]
    pub verdict: Option<PolicyVerdict>,
    /// A plain-language explanation.
    pub rationale: String,
}
