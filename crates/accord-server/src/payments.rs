//! Payments over HTTP: read one (`GET /v1/payments/{id}`), release it to the bank
//! (`POST /v1/payments/{id}/release`) and record the bank's confirmation
//! (`POST /v1/payments/{id}/settle`). Releasing is a person's act through the gate: the
//! caller holds the admin key and names, in `as`, a person configured under `[users]`
//! who holds the right the gate names (a treasurer) and is neither the order's requester
//! nor an approver of the invoice's exception (segregation of duties, enforced by
//! `Procurement::release_payment`).

use accord_core::id::PaymentId;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::AppState;
use crate::auth::{Role, person};
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};

/// Who acts on a payment.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PaymentAct {
    /// A person configured in `accord.toml` under `[users.NAME]`.
    #[serde(rename = "as")]
    pub as_user: String,
}

fn payment_id(raw: &str) -> Result<PaymentId, ApiError> {
    PaymentId::parse(raw).map_err(|_| ApiError::not_found(format!("no payment `{raw}`")))
}

#[utoipa::path(
    get, path = "/v1/payments/{id}",
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "The payment: invoice, amount, due date, state (scheduled, released, settled)", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_payment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let id = payment_id(&raw)?;
    let payment = state
        .p2p
        .payment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no payment `{raw}`")))?;
    Ok(Json(payment))
}

#[utoipa::path(
    post, path = "/v1/payments/{id}/release", request_body = PaymentAct,
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "Released to the bank; the invoice is paid", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, description = "refused: the gate (not a treasurer), segregation of duties (the requester, or an approver of the invoice's exception), or no goods receipt", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "not scheduled any more", body = ErrorBody),
              (status = 422, description = "unknown_user", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn release(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Admin)?;
    let id = payment_id(&raw)?;
    let act: PaymentAct = json_body(body, "invalid_request")?;
    let by = person(&state.users, &act.as_user)?;
    let payment = state
        .p2p
        .release_payment(id, &by, chrono::Utc::now())
        .await?;
    Ok(Json(payment))
}

#[utoipa::path(
    post, path = "/v1/payments/{id}/settle", request_body = PaymentAct,
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "Settled: the bank confirmed it", body = serde_json::Value),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "not released", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn settle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Admin)?;
    let id = payment_id(&raw)?;
    let act: PaymentAct = json_body(body, "invalid_request")?;
    let by = person(&state.users, &act.as_user)?;
    let payment = state.p2p.settle_payment(id, &by.id).await?;
    Ok(Json(payment))
}
