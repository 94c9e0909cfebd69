//! Governance records as the event log stores them: roles, approval requests and their
//! steps (with the approval life cycle as a transition table), and per-category autonomy
//! settings. The commands that produce them (segregation of duties, escalation, the
//! policy gate) live in `accord-policy`; this module only holds the data and the fold.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    id::{ApprovalId, DecisionId},
    lifecycle::IllegalTransition,
};

/// A name that is not one of a fixed list (a role, an agent kind, an action).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{name}`: expected one of {expected}")]
pub struct UnknownName {
    pub what: &'static str,
    pub name: String,
    pub expected: String,
}

/// A role a user holds. A user may hold several.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Role {
    Requester,
    Buyer,
    CategoryManager,
    Approver,
    ApClerk,
    Treasurer,
    Auditor,
    Admin,
}

impl Role {
    pub const ALL: &'static [Role] = &[
        Role::Requester,
        Role::Buyer,
        Role::CategoryManager,
        Role::Approver,
        Role::ApClerk,
        Role::Treasurer,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Buyer => "buyer",
            Role::CategoryManager => "category_manager",
            Role::Approver => "approver",
            Role::ApClerk => "ap_clerk",
            Role::Treasurer => "treasurer",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role, UnknownName> {
        let t = s.trim();
        Role::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == t)
            .ok_or_else(|| UnknownName {
                what: "role",
                name: t.to_owned(),
                expected: Role::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Seniority for choosing among several approver roles: when more than one policy
    /// names an approver, the most senior role is asked.
    pub fn seniority(self) -> u8 {
        match self {
            Role::Requester => 0,
            Role::Auditor => 1,
            Role::ApClerk => 2,
            Role::Buyer => 3,
            Role::Approver => 4,
            Role::CategoryManager => 5,
            Role::Treasurer => 6,
            Role::Admin => 7,
        }
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Role::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far agents may go alone in a category (stabilise before scale).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutonomyLevel {
    /// Agents only recommend: every action they would take goes to a person.
    RecommendOnly,
    /// Agents act, and every autonomous decision is reviewed by a person afterwards.
    ActWithReview,
    /// Agents act alone within the policies' bounds; a sample is reviewed afterwards.
    ActAlone,
}

impl AutonomyLevel {
    pub const ALL: &'static [AutonomyLevel] = &[
        AutonomyLevel::RecommendOnly,
        AutonomyLevel::ActWithReview,
        AutonomyLevel::ActAlone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AutonomyLevel::RecommendOnly => "recommend_only",
            AutonomyLevel::ActWithReview => "act_with_review",
            AutonomyLevel::ActAlone => "act_alone",
        }
    }

    pub fn parse(s: &str) -> Result<AutonomyLevel, UnknownName> {
        let t = s.trim();
        AutonomyLevel::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == t)
            .ok_or_else(|| UnknownName {
                what: "autonomy level",
                name: t.to_owned(),
                expected: "recommend_only, act_with_review, act_alone".to_owned(),
            })
    }
}

/// One category's setting: its level and the share of autonomous decisions sampled for
/// review under `ActAlone`, in parts per million (10_000 = 1%).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct CategoryAutonomy {
    pub level: AutonomyLevel,
    pub sample_ppm: u32,
}

impl CategoryAutonomy {
    pub const fn new(level: AutonomyLevel, sample_ppm: u32) -> CategoryAutonomy {
        CategoryAutonomy { level, sample_ppm }
    }
}

/// Where an approval request stands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    /// The escalation chain ran out before anyone decided: the action stays unauthorised.
    Expired,
    /// The requester took the request back.
    Withdrawn,
}

/// What can happen to a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAction {
    Approve,
    Deny,
    Delegate,
    Escalate,
    Expire,
    Withdraw,
}

/// The life cycle, complete: anything not listed is illegal.
pub const TRANSITIONS: &[(ApprovalState, ApprovalAction, ApprovalState)] = &[
    (
        ApprovalState::Pending,
        ApprovalAction::Approve,
        ApprovalState::Approved,
    ),
    (
        ApprovalState::Pending,
        ApprovalAction::Deny,
        ApprovalState::Denied,
    ),
    (
        ApprovalState::Pending,
        ApprovalAction::Delegate,
        ApprovalState::Pending,
    ),
    (
        ApprovalState::Pending,
        ApprovalAction::Escalate,
        ApprovalState::Pending,
    ),
    (
        ApprovalState::Pending,
        ApprovalAction::Expire,
        ApprovalState::Expired,
    ),
    (
        ApprovalState::Pending,
        ApprovalAction::Withdraw,
        ApprovalState::Withdrawn,
    ),
];

impl ApprovalState {
    pub const ALL: &'static [ApprovalState] = &[
        ApprovalState::Pending,
        ApprovalState::Approved,
        ApprovalState::Denied,
        ApprovalState::Expired,
        ApprovalState::Withdrawn,
    ];

    /// The state `action` leads to, or why it cannot happen.
    pub fn after(self, action: ApprovalAction) -> Result<ApprovalState, IllegalTransition> {
        TRANSITIONS
            .iter()
            .find(|(from, a, _)| *from == self && *a == action)
            .map(|(_, _, to)| *to)
            .ok_or_else(|| IllegalTransition {
                document: "approval request",
                from: format!("{self:?}"),
                to: format!("{action:?}"),
            })
    }

    pub fn is_terminal(self) -> bool {
        !TRANSITIONS.iter().any(|(from, _, _)| *from == self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Withdrawn => "withdrawn",
        }
    }
}

/// What an approval would authorise: a logged decision, or the decision itself as JSON
/// when it is not logged yet.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Authorises {
    Decision { id: DecisionId },
    Pending { decision: serde_json::Value },
}

/// One accepted step in a request's life, as stored in the event log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum ApprovalStep {
    Approved {
        by: String,
        comment: String,
        at: DateTime<Utc>,
    },
    Denied {
        by: String,
        comment: String,
        at: DateTime<Utc>,
    },
    Delegated {
        by: String,
        to: String,
        comment: String,
        at: DateTime<Utc>,
    },
    Escalated {
        from: Role,
        to: Role,
        deadline: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    Expired {
        at: DateTime<Utc>,
    },
    Withdrawn {
        by: String,
        comment: String,
        at: DateTime<Utc>,
    },
}

impl ApprovalStep {
    pub fn action(&self) -> ApprovalAction {
        match self {
            ApprovalStep::Approved { .. } => ApprovalAction::Approve,
            ApprovalStep::Denied { .. } => ApprovalAction::Deny,
            ApprovalStep::Delegated { .. } => ApprovalAction::Delegate,
            ApprovalStep::Escalated { .. } => ApprovalAction::Escalate,
            ApprovalStep::Expired { .. } => ApprovalAction::Expire,
            ApprovalStep::Withdrawn { .. } => ApprovalAction::Withdraw,
        }
    }
}

/// A request to authorise a decision.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: ApprovalId,
    pub authorises: Authorises,
    /// The role that must approve now (changes on escalation).
    pub role: Role,
    /// Who asked: a user id or an agent id. Never the one who approves.
    pub requester: String,
    pub created_at: DateTime<Utc>,
    /// When the request escalates if nobody has decided.
    pub deadline: DateTime<Utc>,
    pub state: ApprovalState,
    /// The person it was delegated to, who alone may then decide.
    pub delegated_to: Option<String>,
    /// Who approved, once approved (segregation of duties downstream).
    pub approved_by: Option<String>,
    pub history: Vec<ApprovalStep>,
    /// The business action it would authorise, such as `negotiation.accept`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// What it is about, such as `negotiation/0190…` or a campaign; the read model files
    /// the request under it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// A one-line summary for the approval queue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
}

impl ApprovalRequest {
    /// Opens a request for `role` to authorise `authorises`, due by `now + sla`.
    pub fn open(
        id: ApprovalId,
        authorises: Authorises,
        role: Role,
        requester: &str,
        now: DateTime<Utc>,
        sla: Duration,
    ) -> ApprovalRequest {
        ApprovalRequest {
            id,
            authorises,
            role,
            requester: requester.to_owned(),
            created_at: now,
            deadline: now + sla,
            state: ApprovalState::Pending,
            delegated_to: None,
            approved_by: None,
            history: Vec::new(),
            action: String::new(),
            subject: String::new(),
            summary: String::new(),
        }
    }

    /// Folds an accepted step into the request (also used to replay the log).
    pub fn apply(&mut self, step: &ApprovalStep) -> Result<(), IllegalTransition> {
        self.state = self.state.after(step.action())?;
        match step {
            ApprovalStep::Approved { by, .. } => self.approved_by = Some(by.clone()),
            ApprovalStep::Delegated { to, .. } => self.delegated_to = Some(to.clone()),
            ApprovalStep::Escalated { to, deadline, .. } => {
                self.role = *to;
                self.deadline = *deadline;
                // A delegation was to a holder of the old role; the new role decides.
                self.delegated_to = None;
            }
            ApprovalStep::Denied { .. }
            | ApprovalStep::Expired { .. }
            | ApprovalStep::Withdrawn { .. } => {}
        }
        self.history.push(step.clone());
        Ok(())
    }
}

/// The event stream of one approval request.
pub fn approval_stream(id: ApprovalId) -> String {
    crate::event::stream_name("approval", id.0)
}

/// The event stream of every autonomy change (one stream: changes are rare and ordered).
pub const AUTONOMY_STREAM: &str = "autonomy";
/// The event stream of the kill switch.
pub const KILL_SWITCH_STREAM: &str = "kill_switch";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), *r);
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(serde_json::from_str::<Role>(&json).unwrap(), *r);
        }
        for l in AutonomyLevel::ALL {
            assert_eq!(AutonomyLevel::parse(l.as_str()).unwrap(), *l);
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        for s in ApprovalState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!(Role::parse("boss").is_err());
    }
}
