//! Approvals as pure logic: a request to authorise a decision, its life cycle as an
//! explicit transition table, segregation of duties, delegation and escalation on
//! timeout. Each accepted command yields an [`ApprovalStep`], which the store keeps as an
//! event; [`ApprovalRequest::apply`] folds steps back into the request on replay.

use accord_core::{
    id::{ApprovalId, DecisionId},
    lifecycle::IllegalTransition,
};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::vocab::Role;

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
}

/// What an approval would authorise: a logged decision, or the decision itself as JSON
/// when it is not logged yet.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Authorises {
    Decision { id: DecisionId },
    Pending { decision: serde_json::Value },
}

/// The person acting on a request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Approver {
    pub id: String,
    pub roles: Vec<Role>,
}

impl Approver {
    pub fn new(id: &str, roles: &[Role]) -> Approver {
        Approver {
            id: id.to_owned(),
            roles: roles.to_vec(),
        }
    }
}

/// Who may act on a request and in which order roles take over on timeout.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct EscalationChain {
    /// Roles in order; a request escalates from its role to the next one.
    pub roles: Vec<Role>,
    /// Time each holder gets before the request escalates.
    pub sla: Duration,
}

impl EscalationChain {
    pub fn new(roles: &[Role], sla: Duration) -> EscalationChain {
        EscalationChain {
            roles: roles.to_vec(),
            sla,
        }
    }

    /// The role after `role`, or `None` at the end of the chain (or off it).
    pub fn next(&self, role: Role) -> Option<Role> {
        let i = self.roles.iter().position(|r| *r == role)?;
        self.roles.get(i + 1).copied()
    }
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

/// Why a command on a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("`{0}` requested this and cannot also approve, deny or take it over")]
    RequesterCannotDecide(String),
    #[error("`{who}` does not hold the role `{role}` this request needs")]
    MissingRole { who: String, role: Role },
    #[error("this request is delegated to `{to}`; `{who}` cannot act on it")]
    DelegatedElsewhere { who: String, to: String },
    #[error("only the requester `{0}` can withdraw this request")]
    NotRequester(String),
    #[error("a comment is required")]
    NoComment,
    #[error("the request is not overdue until {0}")]
    NotDue(DateTime<Utc>),
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
}

impl ApprovalRequest {
    /// Opens a request for `role` to authorise `authorises`, due by `now + chain.sla`.
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
        }
    }

    /// Checks that `by` may decide this request now: not the requester, holding the
    /// role (or being the person it was delegated to).
    fn may_decide(&self, by: &Approver) -> Result<(), ApprovalError> {
        if by.id == self.requester {
            return Err(ApprovalError::RequesterCannotDecide(by.id.clone()));
        }
        match &self.delegated_to {
            Some(to) if *to != by.id => Err(ApprovalError::DelegatedElsewhere {
                who: by.id.clone(),
                to: to.clone(),
            }),
            Some(_) => Ok(()),
            None if by.roles.contains(&self.role) => Ok(()),
            None => Err(ApprovalError::MissingRole {
                who: by.id.clone(),
                role: self.role,
            }),
        }
    }

    fn comment(comment: &str) -> Result<String, ApprovalError> {
        if comment.trim().is_empty() {
            Err(ApprovalError::NoComment)
        } else {
            Ok(comment.to_owned())
        }
    }

    pub fn approve(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Approve)?;
        self.may_decide(by)?;
        Ok(ApprovalStep::Approved {
            by: by.id.clone(),
            comment: ApprovalRequest::comment(comment)?,
            at: now,
        })
    }

    pub fn deny(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Deny)?;
        self.may_decide(by)?;
        Ok(ApprovalStep::Denied {
            by: by.id.clone(),
            comment: ApprovalRequest::comment(comment)?,
            at: now,
        })
    }

    /// Hands the decision to one named person. Whoever may decide may delegate; nobody
    /// can delegate to the requester.
    pub fn delegate(
        &self,
        by: &Approver,
        to: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Delegate)?;
        self.may_decide(by)?;
        if to == self.requester {
            return Err(ApprovalError::RequesterCannotDecide(to.to_owned()));
        }
        Ok(ApprovalStep::Delegated {
            by: by.id.clone(),
            to: to.to_owned(),
            comment: ApprovalRequest::comment(comment)?,
            at: now,
        })
    }

    pub fn withdraw(
        &self,
        by: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Withdraw)?;
        if by != self.requester {
            return Err(ApprovalError::NotRequester(self.requester.clone()));
        }
        Ok(ApprovalStep::Withdrawn {
            by: by.to_owned(),
            comment: ApprovalRequest::comment(comment)?,
            at: now,
        })
    }

    /// On timeout (`now` at or past the deadline), escalates to the next role of `chain`
    /// with a fresh deadline, or expires the request at the end of the chain. Returns
    /// `Ok(None)` when the request is not pending.
    pub fn escalate_if_due(
        &self,
        now: DateTime<Utc>,
        chain: &EscalationChain,
    ) -> Result<Option<ApprovalStep>, ApprovalError> {
        if self.state != ApprovalState::Pending {
            return Ok(None);
        }
        if now < self.deadline {
            return Err(ApprovalError::NotDue(self.deadline));
        }
        Ok(Some(match chain.next(self.role) {
            Some(to) => ApprovalStep::Escalated {
                from: self.role,
                to,
                deadline: now + chain.sla,
                at: now,
            },
            None => ApprovalStep::Expired { at: now },
        }))
    }

    /// Folds an accepted step into the request (also used to replay the log).
    pub fn apply(&mut self, step: &ApprovalStep) -> Result<(), ApprovalError> {
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

/// Segregation of duties for a payment: whoever requested the purchase or approved the
/// invoice may not release its payment. The gate enforces the same through the policies
/// `sod.*`; this check needs no policy set, for code paths that hold the approvals.
pub fn check_payment_release(
    releaser: &str,
    requester: &str,
    approvals: &[&ApprovalRequest],
) -> Result<(), SodViolation> {
    if releaser == requester {
        return Err(SodViolation::RequesterReleases(releaser.to_owned()));
    }
    if approvals
        .iter()
        .any(|a| a.approved_by.as_deref() == Some(releaser))
    {
        return Err(SodViolation::ApproverReleases(releaser.to_owned()));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SodViolation {
    #[error("`{0}` requested this purchase and cannot release its payment")]
    RequesterReleases(String),
    #[error("`{0}` approved this and cannot also release its payment")]
    ApproverReleases(String),
}
