//! Accounts payable over HTTP: e-invoice intake (`POST /v1/invoices`, UBL 2.1 XML or the
//! JSON form), an invoice with its match outcome and payments (`GET /v1/invoices/{id}`),
//! and the contract-compliance and savings-realisation metrics (`GET /v1/metrics`).
//!
//! A document that cannot be read, breaks an EN 16931 rule, or cannot be tied to a known
//! order or supplier is refused with the reason (each rule by id and element) and nothing
//! is stored. A stored invoice is matched by the invoice matcher agent at once; its
//! outcome shows on `GET /v1/invoices/{id}`.

use accord_agents::p2p::Metrics;
use accord_core::id::InvoiceId;
use accord_p2p::{InvoiceError, read_json, read_ubl};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ErrorBody};

/// The largest invoice accepted: a UBL invoice of a few thousand lines.
pub const MAX_INVOICE_BYTES: usize = 8 * 1024 * 1024;

/// Why a document was refused, as an API error naming each broken rule.
pub fn invoice_error(e: &InvoiceError) -> ApiError {
    let status = match e {
        InvoiceError::Parse(_) => StatusCode::BAD_REQUEST,
        InvoiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let err = ApiError::new(status, e.code(), e.to_string());
    match e {
        InvoiceError::Invalid(v) => err.with_details(json!({ "violations": v.0 })),
        InvoiceError::Parse(_) => err,
    }
}

#[utoipa::path(
    post, path = "/v1/invoices",
    request_body(content = String, description = "A UBL 2.1 Invoice or CreditNote (`Content-Type: application/xml`), or the same as JSON (`application/json`)"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the first result; without it, the same document again is recognised by its content")),
    responses(
        (status = 201, description = "Stored; the matcher takes it from here", body = serde_json::Value),
        (status = 200, description = "The same document was received before: nothing stored, the first invoice returned", body = serde_json::Value),
        (status = 400, description = "Unreadable XML or JSON, or not a UBL invoice", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Neither XML nor JSON", body = ErrorBody),
        (status = 422, description = "Breaks EN 16931 rules (`details.violations`), or no known order or supplier", body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn post_invoice(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Buyer)?;
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("{e} (at most {MAX_INVOICE_BYTES} bytes)"),
        )
    })?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        ApiError::bad_request("invoice_not_utf8", format!("the body is not UTF-8: {e}"))
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let valid = match content_type.as_str() {
        "application/xml" | "text/xml" => read_ubl(text),
        "application/json" => read_json(text),
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "`Content-Type: {other}` is not accepted: send application/xml (UBL 2.1) or application/json"
                ),
            ));
        }
    }
    .map_err(|e| invoice_error(&e))?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let done = state.p2p.ingest_invoice(&valid, key.as_deref()).await?;
    let status = if done.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let i = &done.invoice;
    Ok((
        status,
        Json(json!({
            "id": i.id,
            "number": i.number,
            "kind": i.kind,
            "supplier": i.supplier,
            "order_ref": i.order_ref,
            "payable": i.payable,
            "state": i.state,
            "replayed": done.replayed,
            "warnings": done.warnings,
        })),
    ))
}

#[utoipa::path(
    get, path = "/v1/invoices/{id}",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The invoice, the matcher's latest outcome (exceptions, duplicates, the approval it was routed to) and its payments", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_invoice(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no invoice `{raw}`"),
        )
    };
    let id = InvoiceId::parse(&raw).map_err(|_| not_found())?;
    let invoice = state.p2p.invoice(id).await?.ok_or_else(not_found)?;
    let outcome = state.p2p.match_record(id).await?;
    let payments = state.p2p.payments_of(id).await?;
    Ok(Json(json!({
        "invoice": invoice,
        "match": outcome,
        "payments": payments,
    })))
}

#[utoipa::path(
    get, path = "/v1/metrics",
    responses((status = 200, description = "Contract compliance (compliant lines / all lines) and savings realisation (realised / negotiated), overall, per campaign and per supplier, per currency; invoices and payments per state", body = serde_json::Value),
              (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    Ok(Json(Metrics::read(state.p2p.store()).await?))
}
