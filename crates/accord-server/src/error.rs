//! API errors: an HTTP status plus a stable machine-readable code and a message that says
//! what was wrong. A refused request changes nothing.

use accord_agents::{AgentError, MoveError};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"error": {"code": "...", "message": "..."}}`
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: clients branch on it (`not_your_turn`, `out_of_domain`, …).
    pub code: String,
    pub message: String,
    /// Structured detail where there is more than one thing wrong (each business rule an
    /// invoice breaks, with its id and element).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub details: Option<serde_json::Value>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: serde_json::Value) -> ApiError {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404 `not_found`, e.g. "no invoice `…`".
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
        }
        (
            self.status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code: self.code.to_owned(),
                    message: self.message,
                    details: self.details,
                },
            }),
        )
            .into_response()
    }
}

impl From<MoveError> for ApiError {
    fn from(e: MoveError) -> ApiError {
        let status = match &e {
            MoveError::NotFound => StatusCode::NOT_FOUND,
            MoveError::Forbidden => StatusCode::FORBIDDEN,
            MoveError::NotYourTurn
            | MoveError::Closed(_)
            | MoveError::Conflict
            | MoveError::KeyReused(_) => StatusCode::CONFLICT,
            MoveError::Expired(_) => StatusCode::GONE,
            MoveError::OutOfDomain(_) | MoveError::NoSuchOption(_) | MoveError::NothingToAnswer => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            MoveError::Paused | MoveError::CampaignPaused => StatusCode::SERVICE_UNAVAILABLE,
            MoveError::Agent(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> ApiError {
        match e {
            AgentError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            AgentError::Invalid(why) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", why)
            }
            e @ AgentError::IllegalTransition { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "illegal_campaign_transition",
                e.to_string(),
            ),
            e @ AgentError::Contention(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            e @ AgentError::AgentsPaused => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "agents_paused",
                e.to_string(),
            ),
            e => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
        }
    }
}

impl From<accord_agents::p2p::FlowError> for ApiError {
    fn from(e: accord_agents::p2p::FlowError) -> ApiError {
        use accord_agents::p2p::FlowError as F;
        let status = match &e {
            F::NotFound(_) => StatusCode::NOT_FOUND,
            F::Invalid { .. } | F::Unresolved(_) => StatusCode::UNPROCESSABLE_ENTITY,
            F::Illegal(_) | F::Conflict(_) => StatusCode::CONFLICT,
            F::Refused(_) => StatusCode::FORBIDDEN,
            _ if e.code() == "refused" => StatusCode::FORBIDDEN,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<accord_policy::governance::GovernanceError> for ApiError {
    fn from(e: accord_policy::governance::GovernanceError) -> ApiError {
        use accord_policy::governance::GovernanceError as G;
        let (status, code) = match &e {
            G::UnknownApproval(_) => (StatusCode::NOT_FOUND, "not_found"),
            G::NotPending { .. } => (StatusCode::CONFLICT, "not_pending"),
            G::Contention { .. } => (StatusCode::CONFLICT, "conflict"),
            G::Approval(_) | G::Sod(_) | G::Refused { .. } => (StatusCode::FORBIDDEN, "refused"),
            G::KillSwitch(_) => (StatusCode::SERVICE_UNAVAILABLE, "agents_paused"),
            G::Corrupt { .. } | G::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<accord_store::StoreError> for ApiError {
    fn from(e: accord_store::StoreError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}
