//! Accord's HTTP surface, on axum: the supplier negotiation protocol (`/v1/negotiations`),
//! the buyer API (`/v1/campaigns`, authenticated with role-scoped API keys: create,
//! start, pause, resume, status, report, sweep), requisitions and purchase orders with
//! their goods receipts (`/v1/requisitions`, `/v1/orders`), the approval queue
//! (`/v1/approvals`), payments (`/v1/payments`), ERP CSV import (`/v1/import/{kind}`), decisions and a campaign's negotiations (`/v1/decisions`,
//! `/v1/campaigns/{id}/negotiations`), accounts payable
//! (`/v1/invoices`, `/v1/metrics`) and the OpenAPI document generated from the handlers (`/openapi.json`).

pub mod approvals;
pub mod auth;
mod body;
pub mod buyer;
pub mod error;
pub mod import;
pub mod invoices;
pub mod orders;
pub mod payments;
pub mod protocol;
pub mod records;

use std::sync::Arc;

use accord_agents::p2p::Procurement;
use accord_agents::{Campaigns, Host};
use accord_store::AnyStore;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use utoipa::OpenApi;

pub use auth::{ApiKeys, Role};

/// The largest request body accepted (moves and campaign definitions are small).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub host: Arc<Host<AnyStore>>,
    pub campaigns: Arc<Campaigns<AnyStore>>,
    /// Procure-to-pay: invoice intake and the documents it reads.
    pub p2p: Arc<Procurement<AnyStore>>,
    pub keys: Arc<ApiKeys>,
    /// The people who decide approvals, with their decision roles (`[users.NAME]` in
    /// accord.toml).
    pub users: Arc<std::collections::BTreeMap<String, Vec<accord_core::governance::Role>>>,
    /// Imports ERP CSV files (`POST /v1/import/{kind}`); `None` answers 501.
    pub importer: Option<import::Importer>,
    /// The public base URL put into invitations.
    pub base_url: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord",
        description = "The open supplier negotiation protocol and the buyer API. See docs/protocol.md for worked examples."
    ),
    paths(
        protocol::get_negotiation,
        protocol::post_move,
        protocol::negotiation_events,
        buyer::create_campaign,
        buyer::start_campaign,
        buyer::pause_campaign,
        buyer::resume_campaign,
        buyer::campaign_status,
        buyer::campaign_report,
        buyer::sweep_campaign,
        buyer::health,
        invoices::post_invoice,
        invoices::get_invoice,
        orders::post_requisition,
        orders::get_requisition,
        orders::get_order,
        orders::post_receipt,
        approvals::list_approvals,
        approvals::get_approval,
        approvals::approve,
        approvals::deny,
        records::campaign_negotiations,
        records::list_decisions,
        records::get_decision,
        import::post_import,
        payments::get_payment,
        payments::release,
        payments::settle,
        invoices::metrics,
    ),
    components(schemas(
        protocol::MoveBody,
        error::ErrorBody,
        error::ErrorDetail,
        buyer::CreateCampaign,
        buyer::StateChange,
        approvals::Decide,
        payments::PaymentAct
    )),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

/// Declares the two bearer schemes the paths refer to.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "supplier_token",
                "the supplier's token from its invitation, scoped to one negotiation",
            ),
            (
                "api_key",
                "a buyer-side API key; its role (auditor, buyer, admin) limits what it may do",
            ),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/negotiations/{id}", get(protocol::get_negotiation))
        .route("/v1/negotiations/{id}/moves", post(protocol::post_move))
        .route(
            "/v1/negotiations/{id}/events",
            get(protocol::negotiation_events),
        )
        .route("/v1/campaigns", post(buyer::create_campaign))
        .route("/v1/campaigns/{id}", get(buyer::campaign_status))
        .route("/v1/campaigns/{id}/start", post(buyer::start_campaign))
        .route("/v1/campaigns/{id}/pause", post(buyer::pause_campaign))
        .route("/v1/campaigns/{id}/resume", post(buyer::resume_campaign))
        .route("/v1/campaigns/{id}/report", get(buyer::campaign_report))
        .route("/v1/campaigns/{id}/sweep", post(buyer::sweep_campaign))
        .route("/v1/health", get(buyer::health))
        .route(
            "/v1/invoices",
            post(invoices::post_invoice).layer(DefaultBodyLimit::max(invoices::MAX_INVOICE_BYTES)),
        )
        .route("/v1/invoices/{id}", get(invoices::get_invoice))
        .route("/v1/metrics", get(invoices::metrics))
        .route("/v1/requisitions", post(orders::post_requisition))
        .route("/v1/requisitions/{id}", get(orders::get_requisition))
        .route("/v1/orders/{id}", get(orders::get_order))
        .route("/v1/orders/{id}/receipts", post(orders::post_receipt))
        .route("/v1/approvals", get(approvals::list_approvals))
        .route(
            "/v1/campaigns/{id}/negotiations",
            get(records::campaign_negotiations),
        )
        .route("/v1/decisions", get(records::list_decisions))
        .route("/v1/payments/{id}", get(payments::get_payment))
        .route("/v1/payments/{id}/release", post(payments::release))
        .route("/v1/payments/{id}/settle", post(payments::settle))
        .route("/v1/decisions/{id}", get(records::get_decision))
        .route(
            "/v1/import/{kind}",
            post(import::post_import).layer(DefaultBodyLimit::max(import::MAX_IMPORT_BYTES)),
        )
        .route("/v1/approvals/{id}", get(approvals::get_approval))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    #[test]
    fn openapi_declares_the_security_schemes() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["supplier_token"]["scheme"], "bearer", "{schemes}");
        assert_eq!(schemes["api_key"]["scheme"], "bearer", "{schemes}");
    }

    #[test]
    fn openapi_lists_pause_and_resume() {
        let doc = serde_json::to_value(super::ApiDoc::openapi()).unwrap();
        for path in ["/v1/campaigns/{id}/pause", "/v1/campaigns/{id}/resume"] {
            let post = &doc["paths"][path]["post"];
            assert!(post.is_object(), "{path}");
            assert!(post["responses"]["409"].is_object(), "{path}: {post}");
        }
    }
}
