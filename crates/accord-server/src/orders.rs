//! Requisitions and purchase orders over HTTP: submit a requisition and see where it was
//! routed (`POST /v1/requisitions`: an order at contract terms, sourcing, or refused),
//! read a requisition or an order with its receipts, and post a goods receipt against an
//! order (`POST /v1/orders/{id}/receipts`). Every write needs an `Idempotency-Key`: a
//! retry returns the first result and stores nothing twice.

use accord_agents::p2p::{ReceiptInput, RequisitionInput};
use accord_core::id::{PurchaseOrderId, RequisitionId};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;
use crate::auth::Role;
use crate::body::json_body;
use crate::error::{ApiError, ErrorBody};

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 200;

/// The request's `Idempotency-Key`, required on every write.
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request(
            "idempotency_key_required",
            format!(
                "send an `Idempotency-Key` header (1 to {MAX_KEY_LEN} characters), unique per \
                 request; a retry with the same key returns the first result"
            ),
        ));
    }
    Ok(key.to_owned())
}

fn not_found(what: &str, raw: &str) -> ApiError {
    ApiError::not_found(format!("no {what} `{raw}`"))
}

#[utoipa::path(
    post, path = "/v1/requisitions",
    request_body(content = serde_json::Value, description = "`{requester, category, sku?, description, quantity, unit?, estimated_unit_price?, needed_by?}`"),
    params(("Idempotency-Key" = String, Header, description = "Unique per requisition; a retry returns the first routing")),
    responses(
        (status = 201, description = "Routed: `route` is `ordered` (with the order, issued or pending approval), `sourcing` (no active contract prices the item; it is ordered as soon as one does) or `rejected` (the gate refused)", body = serde_json::Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "A field is missing or wrong, named in the message", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn post_requisition(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Buyer)?;
    let key = idempotency_key(&headers)?;
    let input: RequisitionInput = json_body(body, "invalid_requisition")?;
    let routed = state
        .p2p
        .submit_requisition(input, &key, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(routed)))
}

#[utoipa::path(
    get, path = "/v1/requisitions/{id}",
    params(("id" = String, Path, description = "Requisition id")),
    responses((status = 200, description = "The requisition and its state", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_requisition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let id = RequisitionId::parse(&raw).map_err(|_| not_found("requisition", &raw))?;
    let requisition = state
        .p2p
        .requisition(id)
        .await?
        .ok_or_else(|| not_found("requisition", &raw))?;
    Ok(Json(requisition))
}

#[utoipa::path(
    get, path = "/v1/orders/{id}",
    params(("id" = String, Path, description = "Purchase order id")),
    responses((status = 200, description = "The purchase order and its goods receipts", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let id = PurchaseOrderId::parse(&raw).map_err(|_| not_found("purchase order", &raw))?;
    let order = state
        .p2p
        .order(id)
        .await?
        .ok_or_else(|| not_found("purchase order", &raw))?;
    let receipts = state.p2p.receipts(id).await?;
    Ok(Json(json!({ "order": order, "receipts": receipts })))
}

#[utoipa::path(
    post, path = "/v1/orders/{id}/receipts",
    params(("id" = String, Path, description = "Purchase order id"),
           ("Idempotency-Key" = String, Header, description = "Unique per receipt; a retry returns the first receipt")),
    request_body(content = serde_json::Value, description = "`{received_on, by, lines: [{line_no, received, rejected}]}`"),
    responses(
        (status = 201, description = "The receipt; the order is now partially received or received, and invoices waiting on it are matched again", body = serde_json::Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The order cannot take a receipt in its state", body = ErrorBody),
        (status = 422, description = "A line or quantity is wrong, named in the message", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn post_receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Buyer)?;
    let key = idempotency_key(&headers)?;
    let id = PurchaseOrderId::parse(&raw).map_err(|_| not_found("purchase order", &raw))?;
    let input: ReceiptInput = json_body(body, "invalid_receipt")?;
    let receipt = state.p2p.receive(id, input, &key).await?;
    Ok((StatusCode::CREATED, Json(receipt)))
}
