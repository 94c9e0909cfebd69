//! The `Event` enum: every state change in Accord, as it is stored in the log.
//!
//! Events are stored as JSON with a `type` tag and a schema version. Compatibility rules:
//! a variant is never renamed or removed, a new field is added with `#[serde(default)]`,
//! and a change that cannot be expressed so bumps [`EVENT_SCHEMA_VERSION`] and gets an
//! upcaster in [`Event::from_stored`]. So an old log always reads.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    decision::Decision,
    document::{
        Contract, GoodsReceipt, Invoice, MatchRecord, Payment, PurchaseOrder, Requisition,
        SpendLine,
    },
    governance::{
        AUTONOMY_STREAM, ApprovalRequest, ApprovalStep, CategoryAutonomy, KILL_SWITCH_STREAM,
        approval_stream,
    },
    id::{
        ApprovalId, CampaignId, ContractId, DecisionId, InvoiceId, NegotiationId, PaymentId,
        PurchaseOrderId, ReceiptId, RequisitionId, SupplierId,
    },
    negotiation::{Campaign, MoveRecord, NegotiationClosed, NegotiationSpec},
    party::{CategoryCode, Supplier},
};

/// The schema version new events are written with.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

/// A reference to a document, for state-change events.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum DocumentRef {
    Contract(ContractId),
    Requisition(RequisitionId),
    PurchaseOrder(PurchaseOrderId),
    Receipt(ReceiptId),
    Invoice(InvoiceId),
    Payment(PaymentId),
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The first entry of every log: who this node is and how it was configured.
    Genesis {
        node_key_fingerprint: String,
        config: serde_json::Value,
        created_at: DateTime<Utc>,
    },
    SupplierRegistered {
        supplier: Supplier,
    },
    /// Master data changed (the whole new record; the projection replaces the old one).
    SupplierUpdated {
        supplier: Supplier,
    },
    ContractRecorded {
        contract: Contract,
    },
    SpendRecorded {
        line: SpendLine,
    },
    RequisitionSubmitted {
        requisition: Requisition,
    },
    PurchaseOrderIssued {
        order: PurchaseOrder,
    },
    /// An issued order changed (quantities, prices, lines): the whole new record.
    PurchaseOrderChanged {
        order: PurchaseOrder,
        #[serde(default)]
        reason: String,
    },
    GoodsReceived {
        receipt: GoodsReceipt,
    },
    InvoiceReceived {
        invoice: Invoice,
    },
    PaymentScheduled {
        payment: Payment,
    },
    /// The match agent's outcome for an invoice (committed with the state change and the
    /// decision that explains it).
    InvoiceMatched {
        record: MatchRecord,
    },
    /// A document moved along its life cycle (see `lifecycle`).
    DocumentStateChanged {
        document: DocumentRef,
        from: String,
        to: String,
        #[serde(default)]
        reason: String,
    },
    DecisionRecorded {
        decision: Decision,
    },
    CampaignCreated {
        campaign: Campaign,
    },
    /// A campaign started, paused, resumed or completed (`running`, `paused`, `completed`).
    CampaignStateChanged {
        campaign: CampaignId,
        state: String,
        #[serde(default)]
        reason: String,
    },
    /// A supplier was invited to negotiate.
    NegotiationOpened {
        negotiation: NegotiationSpec,
    },
    /// A move by either side.
    NegotiationMoved {
        record: MoveRecord,
    },
    NegotiationClosed {
        closed: NegotiationClosed,
    },
    /// Someone asked for an approval: the whole request, pending.
    ApprovalRequested {
        request: ApprovalRequest,
    },
    /// A step on an approval request (approve, deny, delegate, escalate, expire,
    /// withdraw), with the request as it stands after the step.
    ApprovalStepRecorded {
        approval: ApprovalId,
        step: ApprovalStep,
        request: ApprovalRequest,
    },
    /// A category's autonomy level or sampling rate changed. `decision` is the
    /// `DecisionRecorded` committed with it, which carries the gate's verdict.
    AutonomyChanged {
        category: CategoryCode,
        setting: CategoryAutonomy,
        #[serde(default)]
        previous: Option<CategoryAutonomy>,
        by: String,
        reason: String,
        at: DateTime<Utc>,
        decision: DecisionId,
    },
    /// The kill switch: every autonomous action stops until `AgentsResumed`.
    AgentsPaused {
        by: String,
        reason: String,
        at: DateTime<Utc>,
        decision: DecisionId,
    },
    AgentsResumed {
        by: String,
        #[serde(default)]
        reason: String,
        at: DateTime<Utc>,
        decision: DecisionId,
    },
}

impl Event {
    /// The stable name of the variant, as stored in the `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Genesis { .. } => "genesis",
            Event::SupplierRegistered { .. } => "supplier_registered",
            Event::SupplierUpdated { .. } => "supplier_updated",
            Event::ContractRecorded { .. } => "contract_recorded",
            Event::SpendRecorded { .. } => "spend_recorded",
            Event::RequisitionSubmitted { .. } => "requisition_submitted",
            Event::PurchaseOrderIssued { .. } => "purchase_order_issued",
            Event::PurchaseOrderChanged { .. } => "purchase_order_changed",
            Event::InvoiceMatched { .. } => "invoice_matched",
            Event::GoodsReceived { .. } => "goods_received",
            Event::InvoiceReceived { .. } => "invoice_received",
            Event::PaymentScheduled { .. } => "payment_scheduled",
            Event::DocumentStateChanged { .. } => "document_state_changed",
            Event::DecisionRecorded { .. } => "decision_recorded",
            Event::CampaignCreated { .. } => "campaign_created",
            Event::CampaignStateChanged { .. } => "campaign_state_changed",
            Event::NegotiationOpened { .. } => "negotiation_opened",
            Event::NegotiationMoved { .. } => "negotiation_moved",
            Event::NegotiationClosed { .. } => "negotiation_closed",
            Event::ApprovalRequested { .. } => "approval_requested",
            Event::ApprovalStepRecorded { .. } => "approval_step_recorded",
            Event::AutonomyChanged { .. } => "autonomy_changed",
            Event::AgentsPaused { .. } => "agents_paused",
            Event::AgentsResumed { .. } => "agents_resumed",
        }
    }

    /// The stream this event belongs to; optimistic concurrency is per stream.
    pub fn stream(&self) -> String {
        match self {
            Event::Genesis { .. } => "node".into(),
            Event::SupplierRegistered { supplier } | Event::SupplierUpdated { supplier } => {
                supplier_stream(supplier.id)
            }
            Event::ContractRecorded { contract } => stream_name("contract", contract.id.0),
            Event::SpendRecorded { line } => stream_name("spend", line.supplier.0),
            Event::RequisitionSubmitted { requisition } => {
                stream_name("requisition", requisition.id.0)
            }
            Event::PurchaseOrderIssued { order } | Event::PurchaseOrderChanged { order, .. } => {
                stream_name("purchase_order", order.id.0)
            }
            Event::InvoiceMatched { record } => stream_name("invoice", record.invoice.0),
            Event::GoodsReceived { receipt } => {
                stream_name("purchase_order", receipt.purchase_order.0)
            }
            Event::InvoiceReceived { invoice } => stream_name("invoice", invoice.id.0),
            Event::PaymentScheduled { payment } => stream_name("payment", payment.id.0),
            Event::DocumentStateChanged { document, .. } => match document {
                DocumentRef::Contract(id) => stream_name("contract", id.0),
                DocumentRef::Requisition(id) => stream_name("requisition", id.0),
                DocumentRef::PurchaseOrder(id) => stream_name("purchase_order", id.0),
                DocumentRef::Receipt(id) => stream_name("receipt", id.0),
                DocumentRef::Invoice(id) => stream_name("invoice", id.0),
                DocumentRef::Payment(id) => stream_name("payment", id.0),
            },
            Event::DecisionRecorded { decision } => stream_name("decision", decision.id.0),
            Event::CampaignCreated { campaign } => campaign_stream(campaign.id),
            Event::CampaignStateChanged { campaign, .. } => campaign_stream(*campaign),
            Event::NegotiationOpened { negotiation } => negotiation_stream(negotiation.id),
            Event::NegotiationMoved { record } => negotiation_stream(record.negotiation),
            Event::NegotiationClosed { closed } => negotiation_stream(closed.negotiation),
            Event::ApprovalRequested { request } => approval_stream(request.id),
            Event::ApprovalStepRecorded { approval, .. } => approval_stream(*approval),
            Event::AutonomyChanged { .. } => AUTONOMY_STREAM.into(),
            Event::AgentsPaused { .. } | Event::AgentsResumed { .. } => KILL_SWITCH_STREAM.into(),
        }
    }

    /// Reads an event stored with `schema_version`, upcasting older shapes.
    pub fn from_stored(schema_version: u16, payload: &str) -> Result<Event, EventDecodeError> {
        match schema_version {
            1 => serde_json::from_str(payload)
                .map_err(|e| EventDecodeError::Malformed(e.to_string())),
            v => Err(EventDecodeError::UnknownVersion(v)),
        }
    }
}

pub fn supplier_stream(id: SupplierId) -> String {
    stream_name("supplier", id.0)
}

pub fn campaign_stream(id: CampaignId) -> String {
    stream_name("campaign", id.0)
}

/// A negotiation's stream: its opening, every move and its close, in order.
pub fn negotiation_stream(id: NegotiationId) -> String {
    stream_name("negotiation", id.0)
}

/// `{prefix}-{id}`, the name of a document's stream, written straight into a string of
/// the right size: every appended event names its stream, and `format!` with a UUID's
/// `Display` cost a tenth of canonicalising the event.
pub fn stream_name(prefix: &str, id: uuid::Uuid) -> String {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buf);
    let mut name = String::with_capacity(prefix.len() + 1 + id.len());
    name.push_str(prefix);
    name.push('-');
    name.push_str(id);
    name
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventDecodeError {
    #[error("event schema version `{0}` is newer than this build of accord understands")]
    UnknownVersion(u16),
    #[error("malformed event: {0}")]
    Malformed(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stream names are stored in every event row: the fast builder must write exactly
    /// what `format!` with the id's `Display` wrote before it.
    #[test]
    fn stream_names_match_the_displayed_ids() {
        for n in [0u128, 1, 0xdead_beef, u128::MAX >> 3] {
            let id = crate::id::NegotiationId::from_parts(1_790_000_000_000, n);
            assert_eq!(negotiation_stream(id), format!("negotiation-{id}"));
            let id = crate::id::SupplierId::from_parts(1_700_000_000_000, n);
            assert_eq!(supplier_stream(id), format!("supplier-{id}"));
        }
    }

    /// An event exactly as version 1 wrote it. If this stops decoding, an old log no
    /// longer reads: add an upcaster instead of changing the fixture.
    const V1_SUPPLIER: &str = r#"{"type":"supplier_registered","supplier":{"id":"0190a0b2-7c00-7000-8000-000000000001","external_ref":"S-1","name":"Acme","region":"FR","size":"micro","status":"active","risk":"low","bank":null,"payment_days":30}}"#;

    #[test]
    fn old_events_still_read() {
        let e = Event::from_stored(1, V1_SUPPLIER).unwrap();
        assert_eq!(e.kind(), "supplier_registered");
        assert!(e.stream().starts_with("supplier-0190a0b2"));
        let again = serde_json::to_string(&e).unwrap();
        assert_eq!(Event::from_stored(1, &again).unwrap(), e);
        assert_eq!(
            Event::from_stored(9, V1_SUPPLIER),
            Err(EventDecodeError::UnknownVersion(9))
        );
    }

    #[test]
    fn governance_events_tag_and_stream() {
        use crate::governance::{
            ApprovalRequest, ApprovalStep, Authorises, AutonomyLevel, CategoryAutonomy, Role,
        };
        let at = DateTime::from_timestamp(1_770_000_000, 0).unwrap();
        let decision = DecisionId::from_parts(1_770_000_000_000, 7);
        let mut request = ApprovalRequest::open(
            ApprovalId::from_parts(1_770_000_000_000, 1),
            Authorises::Decision { id: decision },
            Role::Approver,
            "negotiator",
            at,
            chrono::Duration::hours(4),
        );
        let step = ApprovalStep::Approved {
            by: "ann".into(),
            comment: "ok".into(),
            at,
        };
        let opened = Event::ApprovalRequested {
            request: request.clone(),
        };
        request.apply(&step).unwrap();
        let events = [
            opened,
            Event::ApprovalStepRecorded {
                approval: request.id,
                step,
                request: request.clone(),
            },
            Event::AutonomyChanged {
                category: CategoryCode::parse("office").unwrap(),
                setting: CategoryAutonomy::new(AutonomyLevel::ActAlone, 10_000),
                previous: None,
                by: "ann".into(),
                reason: "pilot".into(),
                at,
                decision,
            },
            Event::AgentsPaused {
                by: "ann".into(),
                reason: "fraud alert".into(),
                at,
                decision,
            },
            Event::AgentsResumed {
                by: "bob".into(),
                reason: String::new(),
                at,
                decision,
            },
        ];
        let streams = [
            format!("approval-{}", request.id),
            format!("approval-{}", request.id),
            "autonomy".to_owned(),
            "kill_switch".to_owned(),
            "kill_switch".to_owned(),
        ];
        for (e, stream) in events.iter().zip(streams) {
            let v = serde_json::to_value(e).unwrap();
            assert_eq!(v["type"], e.kind());
            assert_eq!(e.stream(), stream);
            assert_eq!(&Event::from_stored(1, &v.to_string()).unwrap(), e);
        }
    }

    #[test]
    fn kind_matches_serde_tag() {
        let e = Event::DocumentStateChanged {
            document: DocumentRef::Invoice(InvoiceId::from_parts(0, 1)),
            from: "received".into(),
            to: "matched".into(),
            reason: String::new(),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], e.kind());
        // A field added later with a default: old JSON without it still reads.
        let mut old = v.clone();
        old.as_object_mut().unwrap().remove("reason");
        assert_eq!(Event::from_stored(1, &old.to_string()).unwrap(), e);
    }
}
