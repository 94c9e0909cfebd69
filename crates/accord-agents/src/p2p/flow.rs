//! The procure-to-pay commands: requisition intake that routes itself, purchase-order
//! change and cancellation, goods receipts, e-invoice intake, payment release and
//! settlement.
//!
//! Every command reads the documents it needs from the read model, checks the life cycle
//! (`accord_core::lifecycle`), asks the policy gate, and commits its events together with
//! a `DecisionRecorded` (and an `ApprovalRequested` when the gate wants one) in one
//! append, with optimistic concurrency on the document's stream and an idempotency key,
//! so a retried command writes nothing twice and a refused one writes nothing at all.

use std::sync::Arc;

use accord_core::{
    Actor, CategoryCode, Decision, Event, FxTable, IllegalTransition, Lifecycle, Money,
    ScoredOption, Supplier,
    document::{
        Contract, GoodsReceipt, Invoice, MatchRecord, OrderLine, Payment, PurchaseOrder,
        ReceiptLine, Requisition,
    },
    event::DocumentRef,
    governance::{ApprovalRequest, Authorises, approval_stream},
    id::{ApprovalId, DecisionId, InvoiceId, PaymentId, PurchaseOrderId, ReceiptId, RequisitionId},
    lifecycle::{InvoiceState, PaymentState, PurchaseOrderState, ReceiptState, RequisitionState},
};
use accord_p2p::{ValidInvoice, compliance::ANY_ITEM};
use accord_policy::{
    Action, AgentKind, Approver, GateRequest, Governance, GovernanceError, Outcome, Principal,
    Resource, Role, Verdict,
};
use accord_store::{
    Append, DocumentQuery, DocumentRecord, ExpectedVersion, Store, StoreError, StoredEvent,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PAGE: u32 = 500;

/// Why a procure-to-pay command was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{0} not found")]
    NotFound(String),
    /// A field of the command is missing or wrong.
    #[error("`{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The policy gate or segregation of duties does not let this actor do this.
    #[error("{0}")]
    Refused(String),
    /// An invoice that cannot be tied to a known order or supplier.
    #[error("{0}")]
    Unresolved(String),
    #[error("{0} changed concurrently; retry")]
    Conflict(String),
    #[error(transparent)]
    Governance(#[from] GovernanceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the read model holds an unreadable {0}")]
    Corrupt(String),
}

impl FlowError {
    /// The stable code an API client can branch on.
    pub fn code(&self) -> &'static str {
        match self {
            FlowError::NotFound(_) => "not_found",
            FlowError::Invalid { .. } => "invalid_input",
            FlowError::Illegal(_) => "illegal_transition",
            FlowError::Refused(_) => "refused",
            FlowError::Unresolved(_) => "unresolved",
            FlowError::Conflict(_) => "conflict",
            FlowError::Governance(GovernanceError::Approval(_) | GovernanceError::Sod(_)) => {
                "refused"
            }
            FlowError::Governance(_) | FlowError::Store(_) | FlowError::Corrupt(_) => "internal",
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> FlowError {
    FlowError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

pub type Result<T, E = FlowError> = std::result::Result<T, E>;

/// A request to buy, as a requester submits it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RequisitionInput {
    pub requester: String,
    pub category: CategoryCode,
    #[serde(default)]
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    /// Unit of measure (UN/ECE rec. 20 code such as `EA`); `EA` when omitted.
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub estimated_unit_price: Option<Money>,
    #[serde(default)]
    pub needed_by: Option<NaiveDate>,
}

/// Where a requisition went.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum Routed {
    /// An active contract covers it: a purchase order at contract terms, issued, or
    /// pending the approval the gate asked for.
    Ordered {
        requisition: Requisition,
        order: PurchaseOrder,
        decision: DecisionId,
        approval: Option<ApprovalId>,
    },
    /// No contract covers it: it waits in the sourcing queue (requisitions in state
    /// `sourcing`) for a negotiation or a campaign; the matcher agent orders it as soon
    /// as a contract that prices it is recorded ([`Procurement::order_waiting`]).
    Sourcing {
        requisition: Requisition,
        decision: DecisionId,
    },
    /// The gate refused to order it.
    Rejected {
        requisition: Requisition,
        decision: DecisionId,
        reason: String,
    },
}

/// A contract order as the gate allows it: the order (none if refused), the decision
/// saying why, and the approval request when the gate wants one.
struct ContractOrder {
    order: Option<PurchaseOrder>,
    decision: Decision,
    approval: Option<ApprovalRequest>,
}

/// A goods receipt as the dock posts it.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ReceiptInput {
    pub received_on: NaiveDate,
    pub lines: Vec<ReceiptLine>,
    /// Who posted it.
    pub by: String,
}

/// The result of storing an e-invoice.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Ingested {
    pub invoice: Invoice,
    /// The same document had been received before: nothing was written and this is the
    /// invoice it created then.
    pub replayed: bool,
    /// Non-fatal rule findings, each naming its rule.
    pub warnings: Vec<String>,
}

/// The subject approvals and decisions about an invoice are filed under.
pub fn invoice_subject(id: InvoiceId) -> String {
    format!("invoice/{id}")
}

pub(crate) fn order_subject(id: PurchaseOrderId) -> String {
    format!("purchase_order/{id}")
}

/// A document state change, checked against the life-cycle table.
pub(crate) fn transition<L: Lifecycle>(
    document: DocumentRef,
    from: L,
    to: L,
    reason: impl Into<String>,
) -> Result<Event, IllegalTransition> {
    from.transition(to)?;
    Ok(Event::DocumentStateChanged {
        document,
        from: format!("{from:?}"),
        to: format!("{to:?}"),
        reason: reason.into(),
    })
}

/// The procure-to-pay command service. Cheap to clone.
pub struct Procurement<S: Store> {
    store: S,
    governance: Arc<Governance<S>>,
    fx: Arc<FxTable>,
}

impl<S: Store + Clone> Clone for Procurement<S> {
    fn clone(&self) -> Self {
        Procurement {
            store: self.store.clone(),
            governance: Arc::clone(&self.governance),
            fx: Arc::clone(&self.fx),
        }
    }
}

impl<S: Store + Clone + 'static> Procurement<S> {
    /// `fx` converts amounts into the gate's reporting currency.
    pub fn new(store: S, governance: Arc<Governance<S>>, fx: Arc<FxTable>) -> Procurement<S> {
        Procurement {
            store,
            governance,
            fx,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn governance(&self) -> &Arc<Governance<S>> {
        &self.governance
    }

    pub(crate) fn decide(&self, request: &GateRequest) -> Verdict {
        self.governance.decide_with_fx(request, &self.fx)
    }

    // --- Reads ---

    pub async fn requisition(&self, id: RequisitionId) -> Result<Option<Requisition>> {
        self.doc("requisition", &id.to_string()).await
    }

    pub async fn order(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>> {
        self.doc("purchase_order", &id.to_string()).await
    }

    /// The purchase order with this number, as invoices quote it.
    pub async fn order_by_number(&self, number: &str) -> Result<Option<PurchaseOrder>> {
        let page = self
            .store
            .documents(&DocumentQuery::kind("purchase_order", 1).reference(number))
            .await?;
        page.into_iter().next().map(parse).transpose()
    }

    /// Every receipt posted against an order, oldest first.
    pub async fn receipts(&self, order: PurchaseOrderId) -> Result<Vec<GoodsReceipt>> {
        self.all(DocumentQuery::kind("receipt", PAGE).parent(order.to_string()))
            .await
    }

    pub async fn invoice(&self, id: InvoiceId) -> Result<Option<Invoice>> {
        self.doc("invoice", &id.to_string()).await
    }

    pub async fn payment(&self, id: PaymentId) -> Result<Option<Payment>> {
        self.doc("payment", &id.to_string()).await
    }

    /// Every payment, or those in `state` (`scheduled`, `released`, `settled`, `failed`,
    /// `cancelled`), in the order they were scheduled.
    pub async fn payments(&self, state: Option<&str>) -> Result<Vec<Payment>> {
        let mut query = DocumentQuery::kind("payment", PAGE);
        if let Some(state) = state {
            query = query.state(state);
        }
        self.all(query).await
    }

    /// The payments scheduled for an invoice.
    pub async fn payments_of(&self, invoice: InvoiceId) -> Result<Vec<Payment>> {
        self.all(DocumentQuery::kind("payment", PAGE).parent(invoice.to_string()))
            .await
    }

    /// The matcher's latest outcome for an invoice, from the invoice's own stream.
    pub async fn match_record(&self, invoice: InvoiceId) -> Result<Option<MatchRecord>> {
        let mut latest = None;
        let mut after = 0;
        loop {
            let page = self
                .store
                .read_stream(&format!("invoice-{invoice}"), after, PAGE)
                .await?;
            let full = page.len() == PAGE as usize;
            for e in &page {
                after = e.stream_version;
                if let Event::InvoiceMatched { record } = e.event()? {
                    latest = Some(record);
                }
            }
            if !full {
                return Ok(latest);
            }
        }
    }

    pub(crate) async fn doc<T: DeserializeOwned>(&self, kind: &str, id: &str) -> Result<Option<T>> {
        self.store.document(kind, id).await?.map(parse).transpose()
    }

    pub(crate) async fn all<T: DeserializeOwned>(
        &self,
        mut query: DocumentQuery,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        loop {
            let page = self.store.documents(&query).await?;
            let full = page.len() == query.limit as usize;
            let last = page.last().map(|d| d.id.clone());
            for d in page {
                out.push(parse(d)?);
            }
            match (full, last) {
                (true, Some(id)) => query = query.after(id),
                _ => return Ok(out),
            }
        }
    }

    /// The current version of a stream (0 when it does not exist).
    pub(crate) async fn version(&self, stream: &str) -> Result<u64> {
        Ok(self.store.stream_version(stream).await?)
    }

    /// The events a replayed command wrote the first time.
    async fn first_result(&self, first_seq: u64, last_seq: u64) -> Result<Vec<Event>> {
        let n = u32::try_from(last_seq - first_seq + 1).unwrap_or(u32::MAX);
        let stored = self.store.read_events(first_seq - 1, n).await?;
        stored
            .iter()
            .map(StoredEvent::event)
            .collect::<Result<Vec<_>, _>>()
            .map_err(FlowError::from)
    }

    /// Appends; a conflict on a document stream becomes [`FlowError::Conflict`].
    pub(crate) async fn commit(&self, append: Append) -> Result<accord_store::Appended> {
        match self.store.append(append).await {
            Ok(done) => Ok(done),
            Err(StoreError::Conflict { stream, .. }) => Err(FlowError::Conflict(stream)),
            Err(e) => Err(e.into()),
        }
    }

    // --- Requisitions ---

    /// Takes a requisition and routes it: to a purchase order at contract terms when an
    /// active contract of its category prices the item, otherwise to sourcing. `key`
    /// makes the submission idempotent.
    pub async fn submit_requisition(
        &self,
        input: RequisitionInput,
        key: &str,
        now: DateTime<Utc>,
    ) -> Result<Routed> {
        if key.trim().is_empty() {
            return Err(invalid("key", "an idempotency key is required"));
        }
        if input.requester.trim().is_empty() {
            return Err(invalid("requester", "who asks must be named"));
        }
        if input.description.trim().is_empty() {
            return Err(invalid("description", "say what is needed"));
        }
        if input.quantity <= Decimal::ZERO {
            return Err(invalid(
                "quantity",
                format!("must be positive, got {}", input.quantity),
            ));
        }
        let today = now.date_naive();
        let requisition = Requisition {
            id: RequisitionId::new(),
            requester: input.requester.trim().to_owned(),
            category: input.category.clone(),
            sku: input.sku.clone(),
            description: input.description.trim().to_owned(),
            quantity: input.quantity,
            estimated_unit_price: input.estimated_unit_price,
            needed_by: input.needed_by,
            state: RequisitionState::initial(),
        };
        let req_ref = DocumentRef::Requisition(requisition.id);
        let sku = input.sku.as_deref().unwrap_or(ANY_ITEM);
        let covering = self
            .store
            .contracts_in_category(&input.category)
            .await?
            .into_iter()
            .filter(|c| c.is_active_on(today))
            .find_map(|c| contract_price(&c, sku).map(|p| (p, c)));
        let decision_id = DecisionId::new();
        let mut events = vec![
            Event::RequisitionSubmitted {
                requisition: requisition.clone(),
            },
            transition(
                req_ref,
                RequisitionState::Submitted,
                RequisitionState::Approved,
                "within the requester's rights",
            )?,
        ];
        let Some((price, contract)) = covering else {
            events.push(transition(
                req_ref,
                RequisitionState::Approved,
                RequisitionState::Sourcing,
                "no active contract prices this item",
            )?);
            events.push(Event::DecisionRecorded {
                decision: Decision {
                    id: decision_id,
                    at: now,
                    actor: Actor::agent(AgentKind::Sourcing.as_str(), VERSION),
                    action: "requisition.route".into(),
                    subject: format!("requisition/{}", requisition.id),
                    inputs: serde_json::json!({
                        "category": input.category, "sku": input.sku, "quantity": input.quantity,
                    }),
                    options: vec![ScoredOption {
                        label: "source".into(),
                        score: 1.0,
                        detail: serde_json::Value::Null,
                    }],
                    choice: "source".into(),
                    verdict: None,
                    rationale: format!(
                        "No contract of category `{}` is active on {today} with a price for `{sku}`, \
                         so the requisition waits for sourcing.",
                        input.category
                    ),
                },
            });
            let done = self
                .commit(
                    Append::many(events)
                        .key(format!("requisition/{key}"))
                        .expect(
                            format!("requisition-{}", requisition.id),
                            ExpectedVersion::NoStream,
                        ),
                )
                .await?;
            if done.replayed {
                return self.replayed_route(done.first_seq, done.last_seq).await;
            }
            let mut requisition = requisition;
            requisition.state = RequisitionState::Sourcing;
            return Ok(Routed::Sourcing {
                requisition,
                decision: decision_id,
            });
        };

        let requisition_stream = format!("requisition-{}", requisition.id);
        let unit = input.unit.clone().unwrap_or_else(|| "EA".into());
        let plan = self
            .plan_contract_order(&requisition, &unit, price, &contract, now, decision_id)
            .await?;
        let Some(order) = plan.order else {
            events.truncate(1);
            events.push(transition(
                req_ref,
                RequisitionState::Submitted,
                RequisitionState::Rejected,
                "the policy gate refused the order",
            )?);
            let reason = plan.decision.rationale.clone();
            events.push(Event::DecisionRecorded {
                decision: plan.decision,
            });
            let done = self
                .commit(
                    Append::many(events)
                        .key(format!("requisition/{key}"))
                        .expect(requisition_stream, ExpectedVersion::NoStream),
                )
                .await?;
            if done.replayed {
                return self.replayed_route(done.first_seq, done.last_seq).await;
            }
            let mut requisition = requisition;
            requisition.state = RequisitionState::Rejected;
            return Ok(Routed::Rejected {
                requisition,
                decision: decision_id,
                reason,
            });
        };
        let approval = plan.approval;
        events.push(Event::PurchaseOrderIssued {
            order: order.clone(),
        });
        events.push(transition(
            req_ref,
            RequisitionState::Approved,
            RequisitionState::Ordered,
            format!("purchase order {}", order.number),
        )?);
        events.push(Event::DecisionRecorded {
            decision: plan.decision,
        });
        if let Some(r) = &approval {
            events.push(Event::ApprovalRequested { request: r.clone() });
        }
        let mut append = Append::many(events)
            .key(format!("requisition/{key}"))
            .expect(requisition_stream, ExpectedVersion::NoStream)
            .expect(
                format!("purchase_order-{}", order.id),
                ExpectedVersion::NoStream,
            );
        if let Some(r) = &approval {
            append = append.expect(approval_stream(r.id), ExpectedVersion::NoStream);
        }
        let done = self.commit(append).await?;
        if done.replayed {
            return self.replayed_route(done.first_seq, done.last_seq).await;
        }
        let mut requisition = requisition;
        requisition.state = RequisitionState::Ordered;
        Ok(Routed::Ordered {
            requisition,
            order,
            decision: decision_id,
            approval: approval.map(|r| r.id),
        })
    }

    /// Asks the gate whether the sourcing agent may order `requisition` under `contract`
    /// at `price`, and builds the order (issued, or pending the approval the gate wants)
    /// with its decision; a refusal gives no order and a decision saying why.
    async fn plan_contract_order(
        &self,
        requisition: &Requisition,
        unit: &str,
        price: Money,
        contract: &Contract,
        now: DateTime<Utc>,
        decision_id: DecisionId,
    ) -> Result<ContractOrder> {
        let sku = requisition.sku.as_deref().unwrap_or(ANY_ITEM);
        let supplier = self
            .store
            .supplier(contract.supplier)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("supplier {}", contract.supplier)))?;
        let total = price
            .scale(requisition.quantity)
            .map_err(|e| invalid("quantity", e.to_string()))?;
        let order_id = PurchaseOrderId::new();
        let request = GateRequest::new(
            Principal::agent(AgentKind::Sourcing, VERSION),
            Action::PurchaseOrderIssue,
            supplier_resource(
                order_subject(order_id),
                total,
                &contract.category,
                &supplier,
            )
            .with_requester(&requisition.requester),
        )
        .with_decision_id(decision_id);
        let verdict = self.decide(&request);
        let mut decision = Decision {
            id: decision_id,
            at: now,
            actor: Actor::agent(AgentKind::Sourcing.as_str(), VERSION),
            action: Action::PurchaseOrderIssue.as_str().into(),
            subject: order_subject(order_id),
            inputs: serde_json::json!({
                "requisition": requisition.id, "category": requisition.category, "sku": sku,
                "quantity": requisition.quantity,
            }),
            options: vec![ScoredOption {
                label: format!("contract {}", contract.external_ref),
                score: 1.0,
                detail: serde_json::json!({
                    "contract": contract.id, "unit_price": price, "total": total,
                    "payment_days": contract.terms.payment_days,
                }),
            }],
            choice: String::new(),
            verdict: Some(verdict.to_core()),
            rationale: String::new(),
        };
        if let Outcome::Deny = verdict.outcome {
            decision.choice = "reject".into();
            decision.rationale = format!(
                "The gate refused to issue a {total} order to {} ({}).",
                supplier.name,
                verdict.policy_ids.join(", ")
            );
            return Ok(ContractOrder {
                order: None,
                decision,
                approval: None,
            });
        }
        let approval_role = match &verdict.outcome {
            Outcome::NeedsApproval { role } => Some(*role),
            _ => None,
        };
        let state = if approval_role.is_some() {
            PurchaseOrderState::PendingApproval
        } else {
            PurchaseOrderState::Issued
        };
        PurchaseOrderState::initial().transition(state)?;
        let order = PurchaseOrder {
            id: order_id,
            number: order_number(order_id),
            supplier: supplier.id,
            contract: Some(contract.id),
            requisition: Some(requisition.id),
            currency: price.currency,
            lines: vec![OrderLine {
                line_no: 1,
                sku: sku.to_owned(),
                description: requisition.description.clone(),
                quantity: requisition.quantity,
                unit: unit.to_owned(),
                unit_price: price,
            }],
            payment_days: contract.terms.payment_days,
            state,
        };
        decision.choice = if approval_role.is_some() {
            "propose".into()
        } else {
            "issue".into()
        };
        decision.rationale = format!(
            "Contract {} prices `{sku}` at {price}; {} x {price} = {total} from {}, paid in {} days. {}",
            contract.external_ref,
            requisition.quantity,
            supplier.name,
            contract.terms.payment_days,
            match approval_role {
                Some(role) => format!(
                    "The gate wants a `{role}` to approve it first ({}).",
                    verdict.policy_ids.join(", ")
                ),
                None => format!("Issued within policy ({}).", verdict.policy_ids.join(", ")),
            }
        );
        let approval = approval_role.map(|role| {
            let mut r = ApprovalRequest::open(
                ApprovalId::new(),
                Authorises::Decision { id: decision_id },
                role,
                Principal::agent(AgentKind::Sourcing, VERSION).id(),
                now,
                self.governance.config().escalation.sla,
            );
            r.action = Action::PurchaseOrderIssue.as_str().into();
            r.subject = order_subject(order_id);
            r.summary = format!(
                "issue {} for {total} to {} ({})",
                order.number, supplier.name, requisition.description
            );
            r
        });
        Ok(ContractOrder {
            order: Some(order),
            decision,
            approval,
        })
    }

    /// Orders the requisitions waiting in sourcing that one of `contracts` (new or just
    /// activated) now prices: each becomes a purchase order at that contract's terms
    /// through the gate, exactly as a new requisition would (issued, or pending
    /// approval). One the gate refuses keeps waiting, with the refusal recorded. Safe to
    /// call again and from several nodes: each requisition's order commits expecting the
    /// requisition's stream version, under a key naming the requisition and the contract.
    pub async fn order_waiting(
        &self,
        contracts: &[Contract],
        now: DateTime<Utc>,
    ) -> Result<Vec<Routed>> {
        let today = now.date_naive();
        let active: Vec<&Contract> = contracts.iter().filter(|c| c.is_active_on(today)).collect();
        if active.is_empty() {
            return Ok(Vec::new());
        }
        let waiting: Vec<Requisition> = self
            .all(DocumentQuery::kind("requisition", PAGE).state("sourcing"))
            .await?;
        let mut routed = Vec::new();
        for requisition in waiting {
            let sku = requisition.sku.as_deref().unwrap_or(ANY_ITEM);
            let Some((price, contract)) = active
                .iter()
                .filter(|c| c.category == requisition.category)
                .find_map(|c| contract_price(c, sku).map(|p| (p, *c)))
            else {
                continue;
            };
            let stream = format!("requisition-{}", requisition.id);
            let version = self.version(&stream).await?;
            let decision_id = DecisionId::new();
            let plan = self
                .plan_contract_order(&requisition, "EA", price, contract, now, decision_id)
                .await?;
            let key = format!("requisition/{}/order/{}", requisition.id, contract.id);
            let req_ref = DocumentRef::Requisition(requisition.id);
            let Some(order) = plan.order else {
                let done = self
                    .commit(
                        Append::new(Event::DecisionRecorded {
                            decision: plan.decision,
                        })
                        .key(key)
                        .expect(stream, ExpectedVersion::Exact(version)),
                    )
                    .await;
                match done {
                    Ok(_) | Err(FlowError::Conflict(_)) => continue,
                    Err(e) => return Err(e),
                }
            };
            let mut events = vec![
                Event::PurchaseOrderIssued {
                    order: order.clone(),
                },
                transition(
                    req_ref,
                    RequisitionState::Sourcing,
                    RequisitionState::Ordered,
                    format!(
                        "purchase order {} under contract {}",
                        order.number, contract.external_ref
                    ),
                )?,
                Event::DecisionRecorded {
                    decision: plan.decision,
                },
            ];
            if let Some(r) = &plan.approval {
                events.push(Event::ApprovalRequested { request: r.clone() });
            }
            let mut append = Append::many(events)
                .key(key)
                .expect(stream, ExpectedVersion::Exact(version))
                .expect(
                    format!("purchase_order-{}", order.id),
                    ExpectedVersion::NoStream,
                );
            if let Some(r) = &plan.approval {
                append = append.expect(approval_stream(r.id), ExpectedVersion::NoStream);
            }
            match self.commit(append).await {
                Ok(done) if !done.replayed => {
                    let mut requisition = requisition;
                    requisition.state = RequisitionState::Ordered;
                    routed.push(Routed::Ordered {
                        requisition,
                        order,
                        decision: decision_id,
                        approval: plan.approval.map(|r| r.id),
                    });
                }
                // Another node (or an earlier run) took it: nothing to do.
                Ok(_) | Err(FlowError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(routed)
    }

    /// Rebuilds a requisition's routing from the events its first submission wrote.
    async fn replayed_route(&self, first: u64, last: u64) -> Result<Routed> {
        let events = self.first_result(first, last).await?;
        let mut requisition = None;
        let mut order = None;
        let mut decision = None;
        let mut approval = None;
        for e in events {
            match e {
                Event::RequisitionSubmitted { requisition: r } => requisition = Some(r),
                Event::PurchaseOrderIssued { order: o } => order = Some(o),
                Event::DecisionRecorded { decision: d } => decision = Some(d),
                Event::ApprovalRequested { request } => approval = Some(request.id),
                _ => {}
            }
        }
        let (Some(r), Some(d)) = (requisition, decision) else {
            return Err(FlowError::Corrupt("requisition submission".into()));
        };
        let current: Requisition = self
            .requisition(r.id)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("requisition {}", r.id)))?;
        Ok(match (order, current.state) {
            (Some(order), _) => {
                let order = self.order(order.id).await?.unwrap_or(order);
                Routed::Ordered {
                    requisition: current,
                    order,
                    decision: d.id,
                    approval,
                }
            }
            (None, RequisitionState::Rejected) => Routed::Rejected {
                requisition: current,
                decision: d.id,
                reason: d.rationale,
            },
            (None, _) => Routed::Sourcing {
                requisition: current,
                decision: d.id,
            },
        })
    }

    // --- Purchase orders ---

    /// Replaces an order's lines (quantities, prices) before anything was received. The
    /// person changing it must be allowed to issue the new order.
    pub async fn change_order(
        &self,
        id: PurchaseOrderId,
        lines: Vec<OrderLine>,
        by: &Approver,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PurchaseOrder> {
        let (mut order, version) = self.order_at_version(id).await?;
        if !matches!(
            order.state,
            PurchaseOrderState::Issued | PurchaseOrderState::PendingApproval
        ) {
            return Err(FlowError::Illegal(IllegalTransition {
                document: PurchaseOrderState::DOCUMENT,
                from: format!("{:?}", order.state),
                to: "changed".into(),
            }));
        }
        if lines.is_empty() {
            return Err(invalid("lines", "an order needs at least one line"));
        }
        for (i, l) in lines.iter().enumerate() {
            if l.quantity <= Decimal::ZERO {
                return Err(invalid(
                    &format!("lines[{i}].quantity"),
                    format!("must be positive, got {}", l.quantity),
                ));
            }
            if l.unit_price.currency != order.currency || l.unit_price.is_negative() {
                return Err(invalid(
                    &format!("lines[{i}].unit_price"),
                    format!("must be a non-negative amount in {}", order.currency),
                ));
            }
        }
        order.lines = lines;
        let total = order_total(&order)?;
        let decision = self
            .user_decision(
                by,
                Action::PurchaseOrderIssue,
                &order,
                total,
                "change",
                reason,
                now,
            )
            .await?;
        let events = vec![
            Event::PurchaseOrderChanged {
                order: order.clone(),
                reason: reason.to_owned(),
            },
            Event::DecisionRecorded { decision },
        ];
        self.commit(Append::many(events).expect(
            format!("purchase_order-{id}"),
            ExpectedVersion::Exact(version),
        ))
        .await?;
        Ok(order)
    }

    /// Cancels an order nothing was received on.
    pub async fn cancel_order(
        &self,
        id: PurchaseOrderId,
        by: &Approver,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<PurchaseOrder> {
        let (mut order, version) = self.order_at_version(id).await?;
        let change = transition(
            DocumentRef::PurchaseOrder(id),
            order.state,
            PurchaseOrderState::Cancelled,
            reason,
        )?;
        let total = order_total(&order)?;
        let decision = self
            .user_decision(
                by,
                Action::PurchaseOrderIssue,
                &order,
                total,
                "cancel",
                reason,
                now,
            )
            .await?;
        self.commit(
            Append::many(vec![change, Event::DecisionRecorded { decision }]).expect(
                format!("purchase_order-{id}"),
                ExpectedVersion::Exact(version),
            ),
        )
        .await?;
        order.state = PurchaseOrderState::Cancelled;
        Ok(order)
    }

    async fn order_at_version(&self, id: PurchaseOrderId) -> Result<(PurchaseOrder, u64)> {
        let version = self.version(&format!("purchase_order-{id}")).await?;
        let order = self
            .order(id)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("purchase order {id}")))?;
        Ok((order, version))
    }

    /// Asks the gate whether a person may act alone on an order, and records it.
    #[allow(clippy::too_many_arguments)]
    async fn user_decision(
        &self,
        by: &Approver,
        action: Action,
        order: &PurchaseOrder,
        total: Money,
        choice: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Decision> {
        let supplier = self
            .store
            .supplier(order.supplier)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("supplier {}", order.supplier)))?;
        let requester = match order.requisition {
            Some(r) => self.requisition(r).await?.map(|r| r.requester),
            None => None,
        };
        let category = match order.contract {
            Some(c) => self.store.contract(c).await?.map(|c| c.category),
            None => None,
        };
        let mut resource = Resource::new(order_subject(order.id))
            .with_amount(total)
            .with_region(supplier.region.clone())
            .with_supplier(supplier.risk, supplier.size, false);
        if let Some(c) = category {
            resource = resource.with_category(c);
        }
        if let Some(r) = &requester {
            resource = resource.with_requester(r);
        }
        let decision_id = DecisionId::new();
        let request = GateRequest::new(Principal::user(&by.id, &by.roles), action, resource)
            .with_decision_id(decision_id);
        let verdict = self.decide(&request);
        if !verdict.is_allow() {
            return Err(FlowError::Refused(format!(
                "{} may not {choice} purchase order {} ({}): {}",
                by.id,
                order.number,
                total,
                verdict.policy_ids.join(", ")
            )));
        }
        Ok(Decision {
            id: decision_id,
            at: now,
            actor: Actor::user(&by.id, by.roles.first().map_or("", |r| r.as_str())),
            action: format!("purchase_order.{choice}"),
            subject: order_subject(order.id),
            inputs: serde_json::json!({ "order": order.number, "total": total }),
            options: Vec::new(),
            choice: choice.to_owned(),
            verdict: Some(verdict.to_core()),
            rationale: reason.to_owned(),
        })
    }

    // --- Goods receipts ---

    /// Posts a goods receipt: partial, complete, over-delivered or with rejected
    /// quantities. The order moves to partially received or received.
    pub async fn receive(
        &self,
        order_id: PurchaseOrderId,
        input: ReceiptInput,
        key: &str,
    ) -> Result<GoodsReceipt> {
        if key.trim().is_empty() {
            return Err(invalid("key", "an idempotency key is required"));
        }
        if input.by.trim().is_empty() {
            return Err(invalid("by", "who posts the receipt must be named"));
        }
        if input.lines.is_empty() {
            return Err(invalid("lines", "a receipt needs at least one line"));
        }
        let key = format!("receipt/{key}");
        let (order, version) = self.order_at_version(order_id).await?;
        if !matches!(
            order.state,
            PurchaseOrderState::Issued | PurchaseOrderState::PartiallyReceived
        ) {
            // A retry of a receipt that completed the order gets that receipt back.
            if let Some(done) = self.store.appended_with_key(&key).await? {
                return self.first_receipt(done).await;
            }
            return Err(FlowError::Illegal(IllegalTransition {
                document: PurchaseOrderState::DOCUMENT,
                from: format!("{:?}", order.state),
                to: "received".into(),
            }));
        }
        for (i, l) in input.lines.iter().enumerate() {
            if !order.lines.iter().any(|o| o.line_no == l.po_line) {
                return Err(invalid(
                    &format!("lines[{i}].po_line"),
                    format!("order {} has no line {}", order.number, l.po_line),
                ));
            }
            if l.received < Decimal::ZERO || l.rejected < Decimal::ZERO {
                return Err(invalid(
                    &format!("lines[{i}]"),
                    "received and rejected quantities cannot be negative",
                ));
            }
            if l.rejected > l.received {
                return Err(invalid(
                    &format!("lines[{i}].rejected"),
                    format!("{} rejected of {} delivered", l.rejected, l.received),
                ));
            }
        }
        let receipt = GoodsReceipt {
            id: ReceiptId::new(),
            purchase_order: order_id,
            received_on: input.received_on,
            lines: input.lines,
            state: ReceiptState::initial(),
        };
        let mut all = self.receipts(order_id).await?;
        all.push(receipt.clone());
        let index = accord_p2p::matching::PoIndex::new(&order, &all);
        let complete = order
            .lines
            .iter()
            .enumerate()
            .all(|(i, l)| index.received(i) >= l.quantity);
        let next = if complete {
            PurchaseOrderState::Received
        } else {
            PurchaseOrderState::PartiallyReceived
        };
        let mut events = vec![Event::GoodsReceived {
            receipt: receipt.clone(),
        }];
        if next != order.state {
            events.push(transition(
                DocumentRef::PurchaseOrder(order_id),
                order.state,
                next,
                format!("receipt {} posted by {}", receipt.id, input.by),
            )?);
        }
        let done = self
            .commit(Append::many(events).key(key).expect(
                format!("purchase_order-{order_id}"),
                ExpectedVersion::Exact(version),
            ))
            .await?;
        if done.replayed {
            return self.first_receipt(done).await;
        }
        Ok(receipt)
    }

    /// The receipt a replayed receipt command posted the first time.
    async fn first_receipt(&self, done: accord_store::Appended) -> Result<GoodsReceipt> {
        for e in self.first_result(done.first_seq, done.last_seq).await? {
            if let Event::GoodsReceived { receipt } = e {
                return Ok(receipt);
            }
        }
        Err(FlowError::Corrupt("receipt".into()))
    }

    // --- Invoices ---

    /// Stores a validated e-invoice, tied to its supplier through the order it quotes
    /// (or, without one, the seller's identifiers). The match agent takes it from there.
    /// Receiving the same document again writes nothing and returns the first invoice.
    pub async fn ingest_invoice(
        &self,
        valid: &ValidInvoice,
        key: Option<&str>,
    ) -> Result<Ingested> {
        let doc = valid.document();
        let supplier = self.resolve_supplier(valid).await?;
        let id = InvoiceId::new();
        let invoice = valid
            .to_core(id, supplier.id)
            .map_err(|e| invalid("LegalMonetaryTotal", e.to_string()))?;
        let key = match key {
            Some(k) if !k.trim().is_empty() => format!("invoice/key/{k}"),
            _ => {
                // The same document, byte for byte in meaning, from the same supplier.
                let canonical = serde_json::to_vec(doc).map_err(StoreError::from)?;
                let digest = Sha256::new()
                    .chain_update(supplier.id.to_string())
                    .chain_update(&canonical)
                    .finalize();
                format!("invoice/doc/{}", hex::encode(digest))
            }
        };
        let done = self
            .commit(
                Append::new(Event::InvoiceReceived {
                    invoice: invoice.clone(),
                })
                .key(key)
                .expect(format!("invoice-{id}"), ExpectedVersion::NoStream),
            )
            .await?;
        let warnings = valid
            .warnings()
            .iter()
            .map(|w| format!("{} at {}: {}", w.rule, w.path, w.message))
            .collect();
        if done.replayed {
            for e in self.first_result(done.first_seq, done.last_seq).await? {
                if let Event::InvoiceReceived { invoice: first } = e {
                    let current = self.invoice(first.id).await?.unwrap_or(first);
                    return Ok(Ingested {
                        invoice: current,
                        replayed: true,
                        warnings,
                    });
                }
            }
            return Err(FlowError::Corrupt("invoice".into()));
        }
        Ok(Ingested {
            invoice,
            replayed: false,
            warnings,
        })
    }

    async fn resolve_supplier(&self, valid: &ValidInvoice) -> Result<Supplier> {
        let doc = valid.document();
        if let Some(number) = doc.references.order.as_deref()
            && let Some(order) = self.order_by_number(number).await?
        {
            return self
                .store
                .supplier(order.supplier)
                .await?
                .ok_or_else(|| FlowError::NotFound(format!("supplier {}", order.supplier)));
        }
        let ids: Vec<&str> = doc.seller.identifiers().collect();
        for id in &ids {
            if let Some(s) = self.store.supplier_by_ref(id).await? {
                return Ok(s);
            }
        }
        Err(FlowError::Unresolved(format!(
            "cannot tell which supplier sent invoice `{}`: {} and no supplier has the seller's \
             identifiers ({})",
            valid.number(),
            match doc.references.order.as_deref() {
                Some(n) => format!("no purchase order is numbered `{n}` (BT-13)"),
                None => "it quotes no purchase order (BT-13)".to_owned(),
            },
            if ids.is_empty() {
                "none given".to_owned()
            } else {
                ids.join(", ")
            }
        )))
    }

    // --- Payments ---

    /// Releases a scheduled payment to the bank. The releaser must hold the right the
    /// gate names (a treasurer), and must be neither the requester of the order nor
    /// anyone who approved an exception on the invoice.
    pub async fn release_payment(
        &self,
        id: PaymentId,
        by: &Approver,
        now: DateTime<Utc>,
    ) -> Result<Payment> {
        let version = self.version(&format!("payment-{id}")).await?;
        let mut payment: Payment = self
            .payment(id)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("payment {id}")))?;
        let invoice = self
            .invoice(payment.invoice)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("invoice {}", payment.invoice)))?;
        let release = transition(
            DocumentRef::Payment(id),
            payment.state,
            PaymentState::Released,
            format!("released by {}", by.id),
        )?;
        let paid = transition(
            DocumentRef::Invoice(invoice.id),
            invoice.state,
            InvoiceState::Paid,
            format!("payment {id} released"),
        )?;
        let order = match invoice.order_ref.as_deref() {
            Some(n) => self.order_by_number(n).await?,
            None => None,
        };
        let requester = match order.as_ref().and_then(|o| o.requisition) {
            Some(r) => self.requisition(r).await?.map(|r| r.requester),
            None => None,
        };
        let has_receipt = match &order {
            Some(o) => !self.receipts(o.id).await?.is_empty(),
            None => false,
        };
        let subject = invoice_subject(invoice.id);
        self.governance
            .check_payment_release(&by.id, requester.as_deref().unwrap_or(""), &subject)
            .await?;
        // Approval requests are filed under their subject in the read model.
        let approvers: Vec<String> = self
            .all::<ApprovalRequest>(DocumentQuery::kind("approval", PAGE).parent(subject))
            .await?
            .into_iter()
            .filter_map(|r| r.approved_by)
            .collect();
        let supplier = self
            .store
            .supplier(invoice.supplier)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("supplier {}", invoice.supplier)))?;
        let mut resource = Resource::new(format!("payment/{id}"))
            .with_amount(payment.amount)
            .with_region(supplier.region.clone())
            .with_supplier(supplier.risk, supplier.size, false)
            .with_goods_receipt(has_receipt);
        if let Some(r) = &requester {
            resource = resource.with_requester(r);
        }
        if let Some(a) = approvers.first() {
            resource = resource.with_approver(a);
        }
        let decision_id = DecisionId::new();
        let request = GateRequest::new(
            Principal::user(&by.id, &by.roles),
            Action::PaymentRelease,
            resource,
        )
        .with_decision_id(decision_id);
        let verdict = self.decide(&request);
        if !verdict.is_allow() {
            return Err(FlowError::Refused(format!(
                "{} may not release payment {id} of {}: {}",
                by.id,
                payment.amount,
                verdict.policy_ids.join(", ")
            )));
        }
        let decision = Decision {
            id: decision_id,
            at: now,
            actor: Actor::user(&by.id, Role::Treasurer.as_str()),
            action: Action::PaymentRelease.as_str().into(),
            subject: format!("payment/{id}"),
            inputs: serde_json::json!({
                "invoice": invoice.id, "amount": payment.amount, "due_on": payment.due_on,
                "goods_receipt": has_receipt,
            }),
            options: Vec::new(),
            choice: "release".into(),
            verdict: Some(verdict.to_core()),
            rationale: format!(
                "Invoice {} is approved for payment; {} releases {} due {}.",
                invoice.number, by.id, payment.amount, payment.due_on
            ),
        };
        self.commit(
            Append::many(vec![release, paid, Event::DecisionRecorded { decision }])
                .expect(format!("payment-{id}"), ExpectedVersion::Exact(version)),
        )
        .await?;
        payment.state = PaymentState::Released;
        Ok(payment)
    }

    /// Records the bank's confirmation that a released payment settled.
    pub async fn settle_payment(&self, id: PaymentId, by: &str) -> Result<Payment> {
        let version = self.version(&format!("payment-{id}")).await?;
        let mut payment: Payment = self
            .payment(id)
            .await?
            .ok_or_else(|| FlowError::NotFound(format!("payment {id}")))?;
        let settle = transition(
            DocumentRef::Payment(id),
            payment.state,
            PaymentState::Settled,
            format!("settled, confirmed by {by}"),
        )?;
        self.commit(
            Append::new(settle).expect(format!("payment-{id}"), ExpectedVersion::Exact(version)),
        )
        .await?;
        payment.state = PaymentState::Settled;
        Ok(payment)
    }
}

/// The contract's price for `sku`, or its price for any item.
fn contract_price(contract: &Contract, sku: &str) -> Option<Money> {
    let price = |wanted: &str| {
        contract
            .terms
            .prices
            .iter()
            .find(|p| p.sku == wanted)
            .map(|p| p.unit_price)
    };
    price(sku).or_else(|| price(ANY_ITEM))
}

pub(crate) fn supplier_resource(
    id: String,
    amount: Money,
    category: &CategoryCode,
    supplier: &Supplier,
) -> Resource {
    Resource::new(id)
        .with_amount(amount)
        .with_category(category.clone())
        .with_region(supplier.region.clone())
        .with_supplier(supplier.risk, supplier.size, false)
}

/// A human-readable order number that invoices quote: `PO-` and the id's random tail.
fn order_number(id: PurchaseOrderId) -> String {
    let hex = id.0.simple().to_string();
    format!("PO-{}", hex[hex.len() - 12..].to_ascii_uppercase())
}

fn order_total(order: &PurchaseOrder) -> Result<Money> {
    let mut total = Money::zero(order.currency);
    for l in &order.lines {
        let line = l
            .unit_price
            .scale(l.quantity)
            .and_then(|m| total.checked_add(m));
        total = line.map_err(|e| invalid("lines", e.to_string()))?;
    }
    Ok(total)
}

pub(crate) fn parse<T: DeserializeOwned>(d: DocumentRecord) -> Result<T> {
    serde_json::from_value(d.data)
        .map_err(|e| FlowError::Corrupt(format!("{} document `{}`: {e}", d.kind, d.id)))
}
