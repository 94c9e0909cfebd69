//! The buyer API: create, start, pause, resume, inspect and report campaigns. Every call
//! needs an API key; reading needs the auditor role, changing needs the buyer role.

use accord_core::id::CampaignId;
use accord_core::negotiation::{CampaignTemplate, TailRule};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ErrorBody};

/// A new campaign. Omitted fields take the defaults shown in docs/protocol.md.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub rule: Option<TailRule>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub template: Option<CampaignTemplate>,
    /// Seeds the agents, so the campaign replays exactly.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// Why a campaign is paused or resumed; the body may also be empty.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct StateChange {
    /// Goes into the log with the caller's name.
    #[serde(default)]
    pub reason: Option<String>,
}

fn campaign_id(raw: &str) -> Result<CampaignId, ApiError> {
    CampaignId::parse(raw).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`{raw}` is not a campaign id"),
        )
    })
}

#[utoipa::path(
    post, path = "/v1/campaigns", request_body = CreateCampaign,
    responses((status = 201, description = "The campaign, in state draft", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn create_campaign(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = state.keys.check(&headers, Role::Buyer)?;
    let req: CreateCampaign = crate::body::json_body(body, "invalid_campaign")?;
    let campaign = state
        .campaigns
        .create(
            &req.name,
            req.rule.unwrap_or_default(),
            req.template.unwrap_or_default(),
            req.seed.unwrap_or(1),
            &who,
            chrono::Utc::now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(campaign)))
}

#[utoipa::path(
    post, path = "/v1/campaigns/{id}/start",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, description = "The invitations: negotiation URL and bearer token per supplier (shown once)", body = serde_json::Value),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn start_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Buyer)?;
    let id = campaign_id(&id)?;
    let invitations = state
        .campaigns
        .start(id, &state.base_url, chrono::Utc::now(), &|_, _| {})
        .await?;
    Ok(Json(invitations))
}

/// Reads a [`StateChange`] body: empty, or JSON.
fn state_change(body: Result<Bytes, BytesRejection>) -> Result<StateChange, ApiError> {
    let body = crate::body::bytes(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(StateChange::default());
    }
    crate::body::parse_json(
        &body,
        "invalid_request",
        Some("send {\"reason\": \"…\"} or nothing"),
    )
}

#[utoipa::path(
    post, path = "/v1/campaigns/{id}/pause",
    params(("id" = String, Path, description = "The campaign's id")),
    request_body(content = StateChange, description = "Optional: why (logged with the caller's name)"),
    responses((status = 200, description = "The campaign's live counts, in state paused. No move is made in its negotiations until it resumes (a supplier's gets 503 campaign_paused), and their deadlines stop running", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "illegal_campaign_transition: only a running campaign can be paused (a second pause gets this too); conflict: concurrent changes, retry", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn pause_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = state.keys.check(&headers, Role::Buyer)?;
    let id = campaign_id(&id)?;
    let req = state_change(body)?;
    state
        .campaigns
        .pause(id, &who, req.reason.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(state.campaigns.status(id).await?))
}

#[utoipa::path(
    post, path = "/v1/campaigns/{id}/resume",
    params(("id" = String, Path, description = "The campaign's id")),
    request_body(content = StateChange, description = "Optional: why (logged with the caller's name)"),
    responses((status = 200, description = "The campaign's live counts, in state running. Every open negotiation's deadline moved later by the time the campaign was paused", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "illegal_campaign_transition: only a paused campaign can be resumed; conflict: concurrent changes, retry", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn resume_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = state.keys.check(&headers, Role::Buyer)?;
    let id = campaign_id(&id)?;
    let req = state_change(body)?;
    state
        .campaigns
        .resume(id, &who, req.reason.as_deref().unwrap_or_default())
        .await?;
    Ok(Json(state.campaigns.status(id).await?))
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, description = "The campaign's state (draft, running, paused, completed) and live counts: invited, engaged, agreed, escalated, declined, no_agreement, expired", body = serde_json::Value),
              (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn campaign_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    Ok(Json(state.campaigns.status(campaign_id(&id)?).await?))
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}/report",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, description = "Close rate, savings in money and percent, payment-days change, time to close", body = serde_json::Value),
              (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn campaign_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    Ok(Json(state.campaigns.report(campaign_id(&id)?).await?))
}

#[utoipa::path(
    post, path = "/v1/campaigns/{id}/sweep",
    params(("id" = String, Path, description = "The campaign's id")),
    responses((status = 200, description = "How many negotiations expired; completes the campaign when none is open", body = serde_json::Value)),
    security(("api_key" = []))
)]
pub async fn sweep_campaign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Buyer)?;
    let expired = state
        .campaigns
        .sweep(campaign_id(&id)?, chrono::Utc::now())
        .await?;
    Ok(Json(serde_json::json!({ "expired": expired })))
}

#[utoipa::path(get, path = "/v1/health", responses((status = 200, description = "The server is up and its store answers")))]
pub async fn health(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    use accord_store::Store;
    let seq = state.host.store().last_seq().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    })?;
    Ok(Json(serde_json::json!({ "status": "ok", "last_seq": seq })))
}
