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
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
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
