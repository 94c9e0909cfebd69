//! Errors of the runtime: store and build failures, and refused supplier moves with a
//! stable machine-readable code each.

use accord_core::negotiation::CampaignState;
use accord_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot build the negotiation: {0}")]
    Build(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the log of negotiation {id} does not replay: {why}")]
    Corrupt { id: String, why: String },
    /// A campaign state change its life cycle does not allow. Nothing was written.
    #[error("campaign {campaign} is {}; {}", from.as_str(), allowed(*to))]
    IllegalTransition {
        campaign: String,
        from: CampaignState,
        to: CampaignState,
    },
    #[error("`{0}` kept changing under concurrent commands; try again")]
    Contention(String),
    #[error("agents are paused by the kill switch; start the campaign after they resume")]
    AgentsPaused,
}

/// What may move a campaign to `to`, for [`AgentError::IllegalTransition`].
fn allowed(to: CampaignState) -> &'static str {
    match to {
        CampaignState::Draft => "no campaign goes back to draft",
        CampaignState::Running => "only a paused campaign can be resumed",
        CampaignState::Paused => "only a running campaign can be paused",
        CampaignState::Completed => "only a running campaign can complete",
    }
}

/// Why a supplier's move was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("negotiation not found")]
    NotFound,
    #[error("this token does not give access to this negotiation")]
    Forbidden,
    #[error("it is not the supplier's turn")]
    NotYourTurn,
    #[error("the negotiation is closed ({0})")]
    Closed(String),
    #[error("the negotiation expired at {0}")]
    Expired(String),
    #[error("{0}")]
    OutOfDomain(String),
    #[error("there is no standing offer option {0}")]
    NoSuchOption(usize),
    #[error("there is no standing offer to accept or reject")]
    NothingToAnswer,
    #[error("idempotency key `{0}` was already used with a different request")]
    KeyReused(String),
    #[error("the negotiation changed concurrently; retry")]
    Conflict,
    #[error("agents are paused by the kill switch; the negotiation holds its state")]
    Paused,
    #[error("the buyer paused this negotiation's campaign; it holds its state and its deadline")]
    CampaignPaused,
    #[error(transparent)]
    Agent(#[from] AgentError),
}

impl MoveError {
    /// The stable code a client can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            MoveError::NotFound => "not_found",
            MoveError::Forbidden => "forbidden",
            MoveError::NotYourTurn => "not_your_turn",
            MoveError::Closed(_) => "negotiation_closed",
            MoveError::Expired(_) => "negotiation_expired",
            MoveError::OutOfDomain(_) => "out_of_domain",
            MoveError::NoSuchOption(_) => "no_such_option",
            MoveError::NothingToAnswer => "nothing_to_answer",
            MoveError::KeyReused(_) => "idempotency_key_reused",
            MoveError::Conflict => "conflict",
            MoveError::Paused => "agents_paused",
            MoveError::CampaignPaused => "campaign_paused",
            MoveError::Agent(_) => "internal",
        }
    }
}

impl From<StoreError> for MoveError {
    fn from(e: StoreError) -> MoveError {
        match e {
            StoreError::Conflict { .. } => MoveError::Conflict,
            e => MoveError::Agent(AgentError::Store(e)),
        }
    }
}
