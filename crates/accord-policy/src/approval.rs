//! Approvals as pure logic: a request to authorise a decision, its life cycle as an
//! explicit transition table, segregation of duties, delegation and escalation on
//! timeout. Each accepted command yields an [`ApprovalStep`], which the store keeps as an
//! event; [`ApprovalRequest::apply`] folds steps back into the request on replay.

pub use accord_core::governance::{
    ApprovalAction, ApprovalRequest, ApprovalState, ApprovalStep, Authorises, TRANSITIONS,
};
use accord_core::lifecycle::IllegalTransition;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::vocab::Role;

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

/// The commands on an [`ApprovalRequest`]: each checks the life cycle and segregation of
/// duties and returns the step to store, without changing the request. Fold the step in
/// with [`ApprovalRequest::apply`] (or [`ApprovalCommands::fold`], which maps the error).
pub trait ApprovalCommands {
    fn approve(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError>;
    fn deny(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError>;
    fn delegate(
        &self,
        by: &Approver,
        to: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError>;
    fn withdraw(
        &self,
        by: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError>;
    fn escalate_if_due(
        &self,
        now: DateTime<Utc>,
        chain: &EscalationChain,
    ) -> Result<Option<ApprovalStep>, ApprovalError>;
    /// [`ApprovalRequest::apply`] with the error as an [`ApprovalError`].
    fn fold(&mut self, step: &ApprovalStep) -> Result<(), ApprovalError>;
}

/// Checks that `by` may decide `r` now: not the requester, holding the role (or being the
/// person it was delegated to).
fn may_decide(r: &ApprovalRequest, by: &Approver) -> Result<(), ApprovalError> {
    if by.id == r.requester {
        return Err(ApprovalError::RequesterCannotDecide(by.id.clone()));
    }
    match &r.delegated_to {
        Some(to) if *to != by.id => Err(ApprovalError::DelegatedElsewhere {
            who: by.id.clone(),
            to: to.clone(),
        }),
        Some(_) => Ok(()),
        None if by.roles.contains(&r.role) => Ok(()),
        None => Err(ApprovalError::MissingRole {
            who: by.id.clone(),
            role: r.role,
        }),
    }
}

fn required_comment(comment: &str) -> Result<String, ApprovalError> {
    if comment.trim().is_empty() {
        Err(ApprovalError::NoComment)
    } else {
        Ok(comment.to_owned())
    }
}

impl ApprovalCommands for ApprovalRequest {
    fn approve(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Approve)?;
        may_decide(self, by)?;
        Ok(ApprovalStep::Approved {
            by: by.id.clone(),
            comment: required_comment(comment)?,
            at: now,
        })
    }

    fn deny(
        &self,
        by: &Approver,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Deny)?;
        may_decide(self, by)?;
        Ok(ApprovalStep::Denied {
            by: by.id.clone(),
            comment: required_comment(comment)?,
            at: now,
        })
    }

    fn delegate(
        &self,
        by: &Approver,
        to: &str,
        comment: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovalStep, ApprovalError> {
        self.state.after(ApprovalAction::Delegate)?;
        may_decide(self, by)?;
        if to == self.requester {
            return Err(ApprovalError::RequesterCannotDecide(to.to_owned()));
        }
        Ok(ApprovalStep::Delegated {
            by: by.id.clone(),
            to: to.to_owned(),
            comment: required_comment(comment)?,
            at: now,
        })
    }

    fn withdraw(
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
            comment: required_comment(comment)?,
            at: now,
        })
    }

    fn escalate_if_due(
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

    fn fold(&mut self, step: &ApprovalStep) -> Result<(), ApprovalError> {
        Ok(self.apply(step)?)
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
