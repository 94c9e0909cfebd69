//! The approval queue over HTTP: list pending requests (`GET /v1/approvals`), read one
//! (`GET /v1/approvals/{id}`), and approve or deny one (`POST /v1/approvals/{id}/approve`,
//! `…/deny`). A decision is taken by a person configured in `accord.toml` under
//! `[users.NAME]` with their decision roles; the caller names them in `as` and must hold
//! an admin API key, as `accord approvals approve --as NAME` needs access to the data dir.
//! Segregation of duties, the role check, the required comment and the race between
//! concurrent approvers are all the governance's, exactly as on the command line; a
//! decided approval is applied by the agents that asked for it (an invoice released, an
//! order issued, a deal recorded).

use accord_core::governance::Role as PolicyRole;
use accord_core::id::ApprovalId;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Role, person};
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};

/// `GET /v1/approvals` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ApprovalFilter {
    /// Only requests waiting for this role (`approver`, `category_manager`, `treasurer`, …).
    pub role: Option<String>,
}

/// An approval decision.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Decide {
    /// The person deciding: a user configured in `accord.toml` under `[users.NAME]`.
    #[serde(rename = "as")]
    pub as_user: String,
    /// Why; required.
    pub comment: String,
}

fn approval_id(raw: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(raw).map_err(|_| ApiError::not_found(format!("no approval `{raw}`")))
}

#[utoipa::path(
    get, path = "/v1/approvals",
    params(ApprovalFilter),
    responses((status = 200, description = "Pending approval requests, oldest first: what is asked, by whom, for which role, and when it escalates", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_approvals(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<ApprovalFilter>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let role = match filter.role.as_deref() {
        Some(r) => Some(
            PolicyRole::parse(r)
                .map_err(|e| ApiError::bad_request("unknown_role", e.to_string()))?,
        ),
        None => None,
    };
    let pending = state.p2p.governance().pending(role).await?;
    Ok(Json(pending))
}

#[utoipa::path(
    get, path = "/v1/approvals/{id}",
    params(("id" = String, Path, description = "Approval id")),
    responses((status = 200, description = "The request with every step taken on it", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_approval(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let id = approval_id(&raw)?;
    Ok(Json(state.p2p.governance().approval(id).await?))
}

#[utoipa::path(
    post, path = "/v1/approvals/{id}/approve", request_body = Decide,
    params(("id" = String, Path, description = "Approval id")),
    responses((status = 200, description = "The request, approved; the agent that asked applies it", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "refused: `as` is the requester, lacks the request's role, or the request was delegated to someone else", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "not_pending (decided already, perhaps by a concurrent approver) or conflict", body = ErrorBody),
              (status = 422, description = "unknown_user, or a field missing", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    decide(state, headers, raw, body, true).await
}

#[utoipa::path(
    post, path = "/v1/approvals/{id}/deny", request_body = Decide,
    params(("id" = String, Path, description = "Approval id")),
    responses((status = 200, description = "The request, denied; the agent that asked applies it (the invoice rejected, the order cancelled)", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn deny(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    decide(state, headers, raw, body, false).await
}

async fn decide(
    state: AppState,
    headers: HeaderMap,
    raw: String,
    body: Result<Bytes, BytesRejection>,
    approve: bool,
) -> Result<Json<accord_core::governance::ApprovalRequest>, ApiError> {
    state.keys.check(&headers, Role::Admin)?;
    let id = approval_id(&raw)?;
    let d: Decide = json_body(body, "invalid_request")?;
    let by = person(&state.users, &d.as_user)?;
    let governance = state.p2p.governance();
    let now = chrono::Utc::now();
    let request = if approve {
        governance.approve(id, &by, &d.comment, now).await?
    } else {
        governance.deny(id, &by, &d.comment, now).await?
    };
    Ok(Json(request))
}
