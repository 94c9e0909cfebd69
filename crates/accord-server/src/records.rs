//! What the buyer reads back: a campaign's negotiations with their states
//! (`GET /v1/campaigns/{id}/negotiations`, paged), and the agents' and people's logged
//! decisions, by id or by what they were about (`GET /v1/decisions/{id}`,
//! `GET /v1/decisions?subject=invoice/0190…`): actor, inputs seen, options weighed,
//! choice, the gate's verdict with its policy ids, and the rationale.

use accord_store::{DocumentQuery, DocumentRecord, Store};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::auth::Role;
use crate::error::{ApiError, ErrorBody};

/// The most rows one page gives.
const MAX_PAGE: u32 = 500;

/// Paging: rows after the id `after`, at most `limit` (default 100, at most 500).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// The last id of the previous page.
    pub after: Option<String>,
    pub limit: Option<u32>,
    /// For decisions: what they were about, such as `invoice/0190…` or
    /// `requisition/0190…`.
    pub subject: Option<String>,
}

impl Page {
    fn query(&self, kind: &str) -> DocumentQuery {
        let mut q = DocumentQuery::kind(kind, self.limit.unwrap_or(100).clamp(1, MAX_PAGE));
        if let Some(a) = &self.after {
            q = q.after(a.clone());
        }
        q
    }
}

/// One page of documents, and the `after` of the next page when this one is full.
async fn page_of(
    state: &AppState,
    query: &DocumentQuery,
) -> Result<(Vec<DocumentRecord>, Option<String>), ApiError> {
    let rows = state.host.store().documents(query).await?;
    let next = (rows.len() == query.limit as usize)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    Ok((rows, next))
}

#[utoipa::path(
    get, path = "/v1/campaigns/{id}/negotiations",
    params(("id" = String, Path, description = "The campaign's id"), Page),
    responses((status = 200, description = "The campaign's negotiations in id order: id, supplier, state (invited, engaged, agreed, escalated, declined, no_agreement, expired) and the negotiation's record; `next` is the `after` of the next page", body = serde_json::Value),
              (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn campaign_negotiations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let query = page.query("negotiation").parent(id);
    let (rows, next) = page_of(&state, &query).await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|mut r| {
            // The hash of the supplier's token is nobody's business over the API.
            if let Some(o) = r.data.as_object_mut() {
                o.remove("token_hash");
            }
            json!({
                "id": r.id,
                "supplier_ref": r.data.get("supplier_ref"),
                "state": r.state,
                "negotiation": r.data,
            })
        })
        .collect();
    Ok(Json(json!({ "negotiations": items, "next": next })))
}

#[utoipa::path(
    get, path = "/v1/decisions",
    params(Page),
    responses((status = 200, description = "Logged decisions, in id (time) order, optionally only those about `subject`; `next` is the `after` of the next page", body = serde_json::Value),
              (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<Page>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let mut query = page.query("decision");
    if let Some(s) = &page.subject {
        query = query.parent(s.clone());
    }
    let (rows, next) = page_of(&state, &query).await?;
    let items: Vec<_> = rows.into_iter().map(|r| r.data).collect();
    Ok(Json(json!({ "decisions": items, "next": next })))
}

#[utoipa::path(
    get, path = "/v1/decisions/{id}",
    params(("id" = String, Path, description = "Decision id")),
    responses((status = 200, description = "The decision: actor, inputs, options with scores, choice, verdict with policy ids, rationale", body = serde_json::Value),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    state.keys.check(&headers, Role::Auditor)?;
    let record = state
        .host
        .store()
        .document("decision", &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no decision `{id}`")))?;
    Ok(Json(record.data))
}
