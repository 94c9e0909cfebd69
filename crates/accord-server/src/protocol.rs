//! The supplier negotiation protocol: read a negotiation, make a move (with an
//! `Idempotency-Key`), and follow turn changes as server-sent events. The contract for
//! supplier bots is `docs/protocol.md`.

use std::convert::Infallible;
use std::time::Duration;

use accord_agents::SupplierMove;
use accord_core::deal::Terms;
use accord_core::id::NegotiationId;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::bearer;
use crate::error::{ApiError, ErrorBody};

/// Longest accepted `Idempotency-Key`.
pub const MAX_KEY_LEN: usize = 200;

/// A supplier's move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum MoveBody {
    /// Accept option `option` (0-based) of the buyer's standing offers.
    Accept { option: usize },
    /// Counter with full terms, inside the negotiation's bounds.
    Counter {
        #[schema(value_type = Object)]
        offer: Terms,
    },
    /// Decline the standing offers without countering; the buyer offers again.
    Reject,
    /// Walk away.
    End,
}

impl From<MoveBody> for SupplierMove {
    fn from(b: MoveBody) -> SupplierMove {
        match b {
            MoveBody::Accept { option } => SupplierMove::Accept { option },
            MoveBody::Counter { offer } => SupplierMove::Counter { offer },
            MoveBody::Reject => SupplierMove::Reject,
            MoveBody::End => SupplierMove::End,
        }
    }
}

fn negotiation_id(raw: &str) -> Result<NegotiationId, ApiError> {
    NegotiationId::parse(raw).map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("`{raw}` is not a negotiation id"),
        )
    })
}

/// Parses a move, naming what is wrong with it.
pub fn parse_move(body: &[u8]) -> Result<MoveBody, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request("malformed_json", format!("the body is not valid JSON: {e}"))
        } else {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_move",
                format!(
                    "the body is not a move ({e}); send {{\"move\": \"accept\", \"option\": 0}}, \
                     {{\"move\": \"counter\", \"offer\": {{…terms…}}}}, {{\"move\": \"reject\"}} \
                     or {{\"move\": \"end\"}}"
                ),
            )
        }
    })
}

#[utoipa::path(
    get,
    path = "/v1/negotiations/{id}",
    params(("id" = String, Path, description = "The negotiation's id")),
    responses(
        (status = 200, description = "The negotiation: bounds, turn, deadline, history, the buyer's standing offers, the allowed moves, and `paused` while the buyer has paused it", body = serde_json::Value),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)
    ),
    security(("supplier_token" = []))
)]
pub async fn get_negotiation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let id = negotiation_id(&id)?;
    let token = bearer(&headers)?;
    Ok(Json(state.host.view(id, token).await?))
}

#[utoipa::path(
    post,
    path = "/v1/negotiations/{id}/moves",
    params(
        ("id" = String, Path, description = "The negotiation's id"),
        ("Idempotency-Key" = String, Header, description = "Unique per logical move; a retry with the same key and body returns the state and applies nothing twice")
    ),
    request_body = MoveBody,
    responses(
        (status = 200, description = "The new state, with the buyer's answer", body = serde_json::Value),
        (status = 400, description = "malformed_json, missing_idempotency_key", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "not_your_turn, negotiation_closed, idempotency_key_reused, conflict", body = ErrorBody),
        (status = 410, description = "negotiation_expired", body = ErrorBody),
        (status = 413, description = "body_too_large", body = ErrorBody),
        (status = 422, description = "invalid_move, out_of_domain, no_such_option, nothing_to_answer", body = ErrorBody),
        (status = 503, description = "agents_paused (the kill switch) or campaign_paused (the buyer paused this campaign): nothing changed; retry later with the same key and body", body = ErrorBody)
    ),
    security(("supplier_token" = []))
)]
pub async fn post_move(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("{e} (at most {} bytes)", crate::MAX_BODY_BYTES),
        )
    })?;
    let id = negotiation_id(&id)?;
    let token = bearer(&headers)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "missing_idempotency_key",
                format!("send an `Idempotency-Key` header (1 to {MAX_KEY_LEN} characters), unique per move"),
            )
        })?;
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!(
                "the `Idempotency-Key` is {} characters; at most {MAX_KEY_LEN}",
                key.len()
            ),
        ));
    }
    let mv = parse_move(&body)?;
    // The hash is of the move as parsed, so whitespace and key order do not matter.
    let canonical = serde_json::to_vec(&mv)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let hash = hex::encode(Sha256::digest(&canonical));
    let (view, replayed) = state
        .host
        .submit(id, token, Some(key), &hash, &mv.into(), chrono::Utc::now())
        .await?;
    let mut headers = HeaderMap::new();
    if replayed {
        headers.insert(
            "idempotent-replayed",
            "true".parse().expect("static header"),
        );
    }
    Ok((headers, Json(view)))
}

#[utoipa::path(
    get,
    path = "/v1/negotiations/{id}/events",
    params(("id" = String, Path, description = "The negotiation's id")),
    responses((status = 200, description = "Server-sent events: `turn` with {version, status, turn} whenever the negotiation changes", content_type = "text/event-stream")),
    security(("supplier_token" = []))
)]
pub async fn negotiation_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = negotiation_id(&id)?;
    let token = bearer(&headers)?;
    // Subscribe before reading, so no change between the two is missed.
    let rx = state.host.subscribe();
    let view = state.host.view(id, token).await?;
    let first =
        serde_json::json!({"version": view.version, "status": view.status, "turn": view.turn});
    let initial = tokio_stream::once(Ok(Event::default().event("turn").data(first.to_string())));
    let changes = BroadcastStream::new(rx).filter_map(move |c| match c {
        Ok(c) if c.negotiation == id => Some(Ok(Event::default().event("turn").data(
            serde_json::json!({"version": c.version, "status": c.status, "turn": c.turn})
                .to_string(),
        ))),
        _ => None,
    });
    Ok(Sse::new(initial.chain(changes))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
