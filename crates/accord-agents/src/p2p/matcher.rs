//! The invoice matcher agent: a durable consumer of the log that matches each invoice the
//! moment it is stored, and keeps invoices, orders and payments moving on what follows.
//!
//! - `InvoiceReceived`: three-way match against the order the invoice quotes and its
//!   receipts, with the tolerance policy and the duplicate index; compliance and savings
//!   against the contract. Matched: released to pay (approved, payment scheduled at the
//!   negotiated terms). Otherwise an exception, routed through the gate to the role it
//!   names as an approval request.
//! - `GoodsReceived` / `PurchaseOrderChanged`: invoices of that order waiting in
//!   exception are matched again; one that now matches is released and its approval
//!   request withdrawn.
//! - `ContractRecorded`, or a contract turning `active`: requisitions waiting in
//!   sourcing that the contract prices become purchase orders at its terms
//!   ([`Procurement::order_waiting`]).
//! - `ApprovalStepRecorded` that ends a request about an invoice exception or a purchase
//!   order: applies the outcome (approved: pay / issue; denied or expired: reject /
//!   cancel).
//!
//! Each outcome commits in one append with the invoice's (or order's) stream version and
//! an idempotency key, so several nodes may run the agent over one database: exactly one
//! commit wins, the others find the work done. The checkpoint moves after a page is
//! handled, so a crash replays at most a page, harmlessly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use accord_core::{
    Actor, Decision, Event, Lifecycle, Money, ScoredOption, Supplier,
    document::{
        Contract, DuplicateNote, GoodsReceipt, Invoice, InvoiceKind, InvoiceTally, MatchIssue,
        MatchRecord, Payment, PurchaseOrder,
    },
    event::DocumentRef,
    event::negotiation_stream,
    governance::{ApprovalRequest, ApprovalState, Authorises},
    id::{
        ApprovalId, CampaignId, ContractId, DecisionId, InvoiceId, NegotiationId, PaymentId,
        PurchaseOrderId, SupplierId,
    },
    lifecycle::{InvoiceState, PaymentState, PurchaseOrderState},
};
use accord_p2p::{
    compliance::{NegotiatedPrice, check_compliance, savings_for_invoice},
    duplicate::{DuplicateHit, DuplicateIndex, DuplicateKind, Fingerprint},
    matching::{ExceptionKind, MatchException, MatchInput, MatchReport, Matcher, PoIndex},
    tolerance::TolerancePolicy,
};
use accord_policy::{Action, AgentKind, GateRequest, Outcome, Principal};
use accord_store::{Append, DocumentQuery, ExpectedVersion, Store, StoreError};
use chrono::{DateTime, Days, Utc};
use rust_decimal::Decimal;

use super::flow::{FlowError, Procurement, Result, invoice_subject, supplier_resource, transition};

/// The event kinds the matcher acts on.
const RELEVANT: &[&str] = &[
    "invoice_received",
    "goods_received",
    "purchase_order_changed",
    "approval_step_recorded",
];

/// The consumer name of the matcher's checkpoint.
pub const MATCHER_CONSUMER: &str = "invoice-matcher";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const PAGE: u32 = 500;

/// What the matcher knows about a negotiated contract: the campaign and the price paid
/// before (the baseline savings are measured against).
#[derive(Clone, Copy, Debug)]
struct Origin {
    campaign: CampaignId,
    baseline: Money,
}

/// The invoice matcher agent. Run [`InvoiceMatcher::run`] on a task, or call
/// [`InvoiceMatcher::run_once`] to process the log up to its end.
pub struct InvoiceMatcher<S: Store> {
    flow: Procurement<S>,
    policy: Arc<TolerancePolicy>,
    consumer: String,
    duplicates: Option<DuplicateIndex>,
    /// Negotiated contracts' origins, read once each.
    origins: std::sync::Mutex<HashMap<ContractId, Option<Origin>>>,
    /// Contracts, read once each; emptied when a contract event passes.
    contracts: std::sync::Mutex<HashMap<ContractId, Contract>>,
}

impl<S: Store + Clone + 'static> InvoiceMatcher<S> {
    pub fn new(flow: Procurement<S>, policy: TolerancePolicy) -> InvoiceMatcher<S> {
        InvoiceMatcher {
            flow,
            policy: Arc::new(policy),
            consumer: MATCHER_CONSUMER.to_owned(),
            duplicates: None,
            origins: std::sync::Mutex::default(),
            contracts: std::sync::Mutex::default(),
        }
    }

    fn principal() -> Principal {
        Principal::agent(AgentKind::Matcher, VERSION)
    }

    /// Handles every event past the checkpoint, then returns how many it handled. Does
    /// nothing while the kill switch is on.
    pub async fn run_once(&mut self, now: DateTime<Utc>) -> Result<usize> {
        if self.duplicates.is_none() {
            self.duplicates = Some(self.load_index().await?);
        }
        let store = self.flow.store().clone();
        let mut handled = 0;
        loop {
            if self.flow.governance().is_paused() {
                return Ok(handled);
            }
            let after = store.consumer_checkpoint(&self.consumer).await?;
            let page = store.read_events(after, PAGE).await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                return Ok(handled);
            };
            let mut batch: Vec<Invoice> = Vec::new();
            let mut new_contracts: Vec<Contract> = Vec::new();
            for stored in &page {
                // Most of the log (spend, negotiations) is not the matcher's business:
                // only what it acts on is decoded.
                if stored.stream.starts_with("contract-") {
                    self.contracts.lock().expect("contracts lock").clear();
                    match stored.kind.as_str() {
                        "contract_recorded" => {
                            if let Event::ContractRecorded { contract } = stored.event()? {
                                new_contracts.push(contract);
                            }
                        }
                        "document_state_changed" => {
                            if let Event::DocumentStateChanged {
                                document: DocumentRef::Contract(id),
                                to,
                                ..
                            } = stored.event()?
                                && to == "active"
                                && let Some(c) = store.contract(id).await?
                            {
                                new_contracts.push(c);
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                if !RELEVANT.contains(&stored.kind.as_str()) {
                    continue;
                }
                let event = stored.event()?;
                match event {
                    Event::InvoiceReceived { invoice } => batch.push(invoice),
                    other => {
                        self.match_batch(std::mem::take(&mut batch), now).await?;
                        self.other(other, now).await?;
                    }
                }
            }
            handled += page.len();
            self.match_batch(batch, now).await?;
            if !new_contracts.is_empty() {
                // Requisitions waiting in sourcing that a new contract prices become
                // orders: this is how sourcing (a negotiation's contract) ends in a PO.
                self.flow.order_waiting(&new_contracts, now).await?;
            }
            store.set_consumer_checkpoint(&self.consumer, last).await?;
        }
    }

    /// Runs until `stop` turns true: handles the log, then waits for a change (or a
    /// second) and goes again. Errors are logged and retried after a pause.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let store = self.flow.store().clone();
        let mut feed = store.subscribe().await.ok();
        loop {
            // Told to stop, or the sender is gone.
            if *stop.borrow() || stop.has_changed().is_err() {
                return;
            }
            self.flow.governance().wait_until_running().await;
            if let Err(e) = self.run_once(Utc::now()).await {
                tracing::warn!(error = %e, "invoice matcher: retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            let wait = async {
                match feed.as_mut() {
                    Some(f) => {
                        // A burst of commits within a few milliseconds wakes it once.
                        let _ = tokio::time::timeout(
                            Duration::from_secs(1),
                            f.recv_coalesced(Duration::from_millis(5)),
                        )
                        .await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            tokio::select! {
                _ = wait => {}
                // Stop when told to, or when the sender is gone.
                r = stop.changed() => if r.is_err() { return },
            }
        }
    }

    /// The duplicate index over every invoice already stored.
    async fn load_index(&self) -> Result<DuplicateIndex> {
        let mut index = DuplicateIndex::new();
        let invoices: Vec<Invoice> = self.flow.all(DocumentQuery::kind("invoice", PAGE)).await?;
        for i in &invoices {
            index.insert(Fingerprint::of(i, i.referenced_invoice.as_deref()));
        }
        Ok(index)
    }

    /// Matches a run of new invoices. Duplicates are found in log order first; then what
    /// the whole run needs (orders, receipts, earlier invoices) is read in three queries,
    /// every invoice is decided in memory, and all outcomes go to the store in one batch.
    /// If another node decided one of them meanwhile (a version conflict), each invoice
    /// is taken again on its own.
    async fn match_batch(&mut self, batch: Vec<Invoice>, now: DateTime<Utc>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let index = self.duplicates.get_or_insert_with(DuplicateIndex::new);
        for invoice in &batch {
            index.insert(Fingerprint::of(
                invoice,
                invoice.referenced_invoice.as_deref(),
            ));
        }
        let work: Vec<(Invoice, Vec<DuplicateHit>)> = batch
            .into_iter()
            .map(|invoice| {
                let hits = self.duplicates_of(&invoice);
                (invoice, hits)
            })
            .collect();
        let mut ctx = self.context(work.iter().map(|(i, _)| i)).await?;
        let mut appends = Vec::with_capacity(work.len());
        for (invoice, hits) in &work {
            let a = self.assess(invoice, hits, &ctx).await?;
            let mut events = Vec::new();
            let released = self
                .conclude(
                    invoice,
                    &a,
                    hits,
                    a.tally.clone(),
                    now,
                    &mut events,
                    &mut ctx,
                )
                .await?;
            if released {
                ctx.billed(invoice);
            }
            appends.push(
                Append::many(events)
                    .key(format!("invoice-{}/match/1", invoice.id))
                    .expect(format!("invoice-{}", invoice.id), ExpectedVersion::Exact(1)),
            );
        }
        match self.flow.store().append_batch(appends).await {
            Ok(_) => Ok(()),
            Err(StoreError::Conflict { .. }) => {
                for (invoice, hits) in work {
                    self.match_invoice(invoice.id, &hits, now).await?;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads, in three queries, the orders the invoices quote, those orders' receipts
    /// and every invoice already billed against them.
    async fn context<'i>(&self, invoices: impl Iterator<Item = &'i Invoice>) -> Result<Context> {
        let numbers: Vec<String> = invoices
            .filter_map(|i| i.order_ref.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut ctx = Context::default();
        if numbers.is_empty() {
            return Ok(ctx);
        }
        let orders: Vec<PurchaseOrder> = self
            .flow
            .all(DocumentQuery::kind("purchase_order", PAGE).reference_in(numbers.clone()))
            .await?;
        let receipts: Vec<GoodsReceipt> = self
            .flow
            .all(
                DocumentQuery::kind("receipt", PAGE)
                    .parent_in(orders.iter().map(|o| o.id.to_string())),
            )
            .await?;
        for r in receipts {
            ctx.receipts.entry(r.purchase_order).or_default().push(r);
        }
        let earlier: Vec<Invoice> = self
            .flow
            .all(DocumentQuery::kind("invoice", PAGE).parent_in(numbers))
            .await?;
        for i in earlier {
            if let Some(n) = i.order_ref.clone() {
                ctx.invoices.entry(n).or_default().push(i);
            }
        }
        for o in orders {
            ctx.orders.insert(o.number.clone(), o);
        }
        Ok(ctx)
    }

    async fn other(&mut self, event: Event, now: DateTime<Utc>) -> Result<()> {
        match event {
            Event::GoodsReceived { receipt } => {
                self.rematch_order(receipt.purchase_order, now).await
            }
            Event::PurchaseOrderChanged { order, .. } => self.rematch_order(order.id, now).await,
            Event::ApprovalStepRecorded { request, .. }
                if request.state != ApprovalState::Pending =>
            {
                self.apply_approval(&request).await
            }
            _ => Ok(()),
        }
    }

    /// Matches one invoice still in `received`; does nothing if another node did.
    async fn match_invoice(
        &self,
        id: InvoiceId,
        duplicates: &[DuplicateHit],
        now: DateTime<Utc>,
    ) -> Result<()> {
        // One read gives the invoice and its version: an invoice still to match has
        // exactly one event, its arrival.
        let stream = format!("invoice-{id}");
        let events = self.flow.store().read_stream(&stream, 0, 2).await?;
        let invoice = match events.as_slice() {
            [only] => match only.event()? {
                Event::InvoiceReceived { invoice } => invoice,
                _ => return Ok(()),
            },
            _ => return Ok(()),
        };
        let version = 1;
        let mut ctx = self.context(std::iter::once(&invoice)).await?;
        let outcome = self.assess(&invoice, duplicates, &ctx).await?;
        let tally = outcome.tally.clone();
        let mut events = Vec::new();
        self.conclude(
            &invoice,
            &outcome,
            duplicates,
            tally,
            now,
            &mut events,
            &mut ctx,
        )
        .await?;
        self.commit(
            Append::many(events)
                .key(format!("invoice-{id}/match/{version}"))
                .expect(stream, ExpectedVersion::Exact(version)),
        )
        .await
    }

    /// Everything the match looks at, and its report.
    async fn assess(
        &self,
        invoice: &Invoice,
        hits: &[DuplicateHit],
        ctx: &Context,
    ) -> Result<Assessment> {
        let order = invoice
            .order_ref
            .as_deref()
            .and_then(|n| ctx.orders.get(n))
            .cloned();
        let contract = match order.as_ref().and_then(|o| o.contract) {
            Some(c) => self.contract(c).await?,
            None => None,
        };
        let report = match (&order, invoice.kind) {
            // A credit note corrects an invoice: it is checked for replays, not matched
            // against receipts.
            (_, InvoiceKind::CreditNote) => MatchReport {
                lines_checked: invoice.lines.len(),
                exceptions: hits.iter().map(duplicate_exception).collect(),
            },
            (Some(po), InvoiceKind::Invoice) => {
                let receipts = ctx.receipts.get(&po.id).map_or(&[][..], Vec::as_slice);
                let earlier = previously_invoiced(ctx, po, invoice.id);
                let input = MatchInput {
                    previously_invoiced: Some(&earlier),
                    duplicates: hits,
                    category: contract.as_ref().map(|c| &c.category),
                    ..MatchInput::new(invoice)
                };
                Matcher::new(&self.policy).match_invoice(&PoIndex::new(po, receipts), &input)
            }
            (None, InvoiceKind::Invoice) => {
                let mut exceptions: Vec<MatchException> =
                    hits.iter().map(duplicate_exception).collect();
                exceptions.push(MatchException {
                    kind: ExceptionKind::OrderMismatch,
                    invoice_line: None,
                    po_line: None,
                    expected: None,
                    actual: None,
                    measure: accord_p2p::matching::Measure::None,
                    tolerance: None,
                    override_role: None,
                    explanation: match invoice.order_ref.as_deref() {
                        Some(n) => format!("no purchase order is numbered `{n}`"),
                        None => "the invoice quotes no purchase order".to_owned(),
                    },
                });
                MatchReport {
                    lines_checked: invoice.lines.len(),
                    exceptions,
                }
            }
        };
        let tally = match &contract {
            Some(c) => Some(self.tally(invoice, c).await?),
            None => None,
        };
        Ok(Assessment {
            order,
            contract,
            report,
            tally,
        })
    }

    /// A contract, read once and kept until a contract event passes in the log.
    async fn contract(&self, id: ContractId) -> Result<Option<Contract>> {
        if let Some(c) = self.contracts.lock().expect("contracts lock").get(&id) {
            return Ok(Some(c.clone()));
        }
        let c = self.flow.store().contract(id).await?;
        if let Some(c) = &c {
            self.contracts
                .lock()
                .expect("contracts lock")
                .insert(id, c.clone());
        }
        Ok(c)
    }

    /// The invoice's contribution to compliance and savings realisation.
    async fn tally(&self, invoice: &Invoice, contract: &Contract) -> Result<InvoiceTally> {
        let origin = self.origin(contract).await?;
        let compliance = match invoice.kind {
            InvoiceKind::Invoice => Some(check_compliance(invoice, contract).tally),
            InvoiceKind::CreditNote => None,
        };
        let prices: HashMap<String, NegotiatedPrice> = match origin {
            Some(o) => contract
                .terms
                .prices
                .iter()
                .map(|p| {
                    (
                        p.sku.clone(),
                        NegotiatedPrice {
                            sku: p.sku.clone(),
                            baseline: o.baseline,
                            contract: p.unit_price,
                        },
                    )
                })
                .collect(),
            None => HashMap::new(),
        };
        let savings = savings_for_invoice(invoice, &prices);
        let c = compliance.unwrap_or_default();
        Ok(InvoiceTally {
            contract: Some(contract.id),
            campaign: origin.map(|o| o.campaign),
            currency: invoice.currency,
            lines: c.lines,
            compliant_lines: c.compliant_lines,
            terms_checked: c.terms_checked,
            compliant_terms: c.compliant_terms,
            savings_lines: savings.lines,
            negotiated: savings.negotiated,
            realised: savings.realised,
        })
    }

    /// Where a contract came from: a negotiation's campaign and the price before it. A
    /// negotiated contract's external ref is `NEG-{negotiation}`.
    async fn origin(&self, contract: &Contract) -> Result<Option<Origin>> {
        if let Some(o) = self.origins.lock().expect("origins lock").get(&contract.id) {
            return Ok(*o);
        }
        let origin = match contract
            .external_ref
            .strip_prefix("NEG-")
            .and_then(|s| NegotiationId::parse(s).ok())
        {
            None => None,
            Some(id) => {
                let first = self
                    .flow
                    .store()
                    .read_stream(&negotiation_stream(id), 0, 1)
                    .await?;
                match first.first().map(|e| e.event()).transpose()? {
                    Some(Event::NegotiationOpened { negotiation }) => Some(Origin {
                        campaign: negotiation.campaign,
                        baseline: negotiation.buyer.batna.price,
                    }),
                    _ => None,
                }
            }
        };
        self.origins
            .lock()
            .expect("origins lock")
            .insert(contract.id, origin);
        Ok(origin)
    }

    /// Builds the events of a match outcome into `events` and returns the record.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        invoice: &Invoice,
        a: &Assessment,
        duplicates: &[DuplicateHit],
        tally: Option<InvoiceTally>,
        now: DateTime<Utc>,
        events: &mut Vec<Event>,
        ctx: &mut Context,
    ) -> Result<bool> {
        let id = invoice.id;
        let decision_id = DecisionId::new();
        let matched = a.report.is_matched();
        let exceptions: Vec<MatchIssue> = a
            .report
            .exceptions
            .iter()
            .map(|e| MatchIssue {
                kind: kind_str(e.kind).to_owned(),
                line: e.invoice_line.clone(),
                detail: e.explanation.clone(),
                override_role: e.override_role.clone(),
            })
            .collect();
        let from = invoice.state;
        let mut approval = None;
        let mut verdict_core = None;
        let mut rationale;
        if matched {
            rationale = format!(
                "Invoice {} matches order {} within tolerances on all {} lines: released to pay.",
                invoice.number,
                a.order.as_ref().map_or("-", |o| o.number.as_str()),
                a.report.lines_checked
            );
        } else {
            let supplier = match ctx.suppliers.get(&invoice.supplier) {
                Some(s) => s.clone(),
                None => {
                    let s = self
                        .flow
                        .store()
                        .supplier(invoice.supplier)
                        .await?
                        .ok_or_else(|| {
                            FlowError::NotFound(format!("supplier {}", invoice.supplier))
                        })?;
                    ctx.suppliers.insert(s.id, s.clone());
                    s
                }
            };
            let category = a
                .contract
                .as_ref()
                .map(|c| c.category.clone())
                .unwrap_or_else(|| {
                    accord_core::CategoryCode::parse("uncategorised").expect("valid")
                });
            let request = GateRequest::new(
                Self::principal(),
                Action::InvoiceApproveException,
                supplier_resource(invoice_subject(id), invoice.payable, &category, &supplier),
            )
            .with_decision_id(decision_id);
            let verdict = self.flow.decide(&request);
            let list = exceptions
                .iter()
                .map(|e| format!("{}: {}", e.kind, e.detail))
                .collect::<Vec<_>>()
                .join("; ");
            rationale = format!(
                "Invoice {} cannot be released as is. {list}.",
                invoice.number
            );
            match &verdict.outcome {
                Outcome::NeedsApproval { role } => {
                    let mut r = ApprovalRequest::open(
                        ApprovalId::new(),
                        Authorises::Decision { id: decision_id },
                        *role,
                        Self::principal().id(),
                        now,
                        self.flow.governance().config().escalation.sla,
                    );
                    r.action = Action::InvoiceApproveException.as_str().into();
                    r.subject = invoice_subject(id);
                    r.summary = format!(
                        "invoice {} of {} from {}: {}",
                        invoice.number,
                        invoice.payable,
                        supplier.name,
                        exceptions
                            .iter()
                            .map(|e| e.kind.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    rationale.push_str(&format!(
                        " Routed to a `{role}` ({}).",
                        verdict.policy_ids.join(", ")
                    ));
                    approval = Some(r);
                }
                Outcome::Allow => rationale.push_str(" The agent may accept it alone."),
                Outcome::Deny => rationale.push_str(&format!(
                    " Nobody was asked: the gate denies approving it ({}); a person must reject \
                     or correct it.",
                    verdict.policy_ids.join(", ")
                )),
            }
            verdict_core = Some((verdict.outcome, verdict.to_core()));
        }
        let auto_accept = matches!(verdict_core.as_ref(), Some((Outcome::Allow, _)));
        let next = if matched {
            InvoiceState::Matched
        } else {
            InvoiceState::Exception
        };
        let record = MatchRecord {
            invoice: id,
            supplier: invoice.supplier,
            purchase_order: a.order.as_ref().map(|o| o.id),
            state: next,
            exceptions: exceptions.clone(),
            duplicates: duplicates.iter().map(note).collect(),
            tally,
            decision: decision_id,
            approval: approval.as_ref().map(|r| r.id),
        };
        events.push(Event::DecisionRecorded {
            decision: Decision {
                id: decision_id,
                at: now,
                actor: Actor::agent(AgentKind::Matcher.as_str(), VERSION),
                action: "invoice.match".into(),
                subject: invoice_subject(id),
                inputs: serde_json::json!({
                    "order": a.order.as_ref().map(|o| &o.number),
                    "contract": a.contract.as_ref().map(|c| &c.external_ref),
                    "lines": a.report.lines_checked,
                    "payable": invoice.payable,
                }),
                options: vec![
                    ScoredOption {
                        label: "release".into(),
                        score: if matched { 1.0 } else { 0.0 },
                        detail: serde_json::Value::Null,
                    },
                    ScoredOption {
                        label: "exception".into(),
                        score: if matched { 0.0 } else { 1.0 },
                        detail: serde_json::json!(exceptions),
                    },
                ],
                choice: if matched { "release" } else { "exception" }.into(),
                verdict: verdict_core.map(|(_, v)| v),
                rationale,
            },
        });
        events.push(transition(
            DocumentRef::Invoice(id),
            from,
            next,
            if matched {
                "three-way match within tolerances"
            } else {
                "match exception"
            },
        )?);
        events.push(Event::InvoiceMatched {
            record: record.clone(),
        });
        let released = matched || auto_accept;
        if released {
            self.release_to_pay(invoice, next, a.order.as_ref(), events)?;
        }
        if let Some(r) = approval {
            events.push(Event::ApprovalRequested { request: r });
        }
        Ok(released)
    }

    /// Approves the invoice for payment and schedules the payment at the negotiated
    /// terms: issue date + the order's payment days (never before the invoice's own due
    /// date). A credit note is approved without a payment: it is offset.
    fn release_to_pay(
        &self,
        invoice: &Invoice,
        from: InvoiceState,
        order: Option<&PurchaseOrder>,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        events.push(transition(
            DocumentRef::Invoice(invoice.id),
            from,
            InvoiceState::Approved,
            "released to pay",
        )?);
        if invoice.kind == InvoiceKind::CreditNote {
            return Ok(());
        }
        let agreed = order.map_or(0, |o| o.payment_days);
        let due = invoice
            .issue_date
            .checked_add_days(Days::new(u64::from(agreed)))
            .unwrap_or(invoice.issue_date);
        let due = invoice.due_date.map_or(due, |d| d.max(due));
        events.push(Event::PaymentScheduled {
            payment: Payment {
                id: PaymentId::new(),
                invoice: invoice.id,
                amount: invoice.payable,
                due_on: due,
                state: PaymentState::initial(),
            },
        });
        Ok(())
    }

    /// Matches again the invoices of an order that wait in exception.
    async fn rematch_order(&self, order: PurchaseOrderId, now: DateTime<Utc>) -> Result<()> {
        let Some(po) = self.flow.order(order).await? else {
            return Ok(());
        };
        let waiting: Vec<Invoice> = self
            .flow
            .all(
                DocumentQuery::kind("invoice", PAGE)
                    .parent(po.number.clone())
                    .state("exception"),
            )
            .await?;
        for invoice in waiting {
            let stream = format!("invoice-{}", invoice.id);
            let version = self.flow.version(&stream).await?;
            let duplicates = self.duplicates_of(&invoice);
            let mut ctx = self.context(std::iter::once(&invoice)).await?;
            let a = self.assess(&invoice, &duplicates, &ctx).await?;
            if !a.report.is_matched() {
                continue;
            }
            let mut events = Vec::new();
            self.conclude(&invoice, &a, &duplicates, None, now, &mut events, &mut ctx)
                .await?;
            self.commit(
                Append::many(events)
                    .key(format!("invoice-{}/match/{version}", invoice.id))
                    .expect(stream, ExpectedVersion::Exact(version)),
            )
            .await?;
            self.withdraw_pending(invoice.id, now).await?;
        }
        Ok(())
    }

    /// The invoices `invoice` repeats. Only an earlier invoice makes a later one a
    /// duplicate (ids grow with time), so every node gives the same verdict.
    fn duplicates_of(&self, invoice: &Invoice) -> Vec<DuplicateHit> {
        let Some(index) = &self.duplicates else {
            return Vec::new();
        };
        index
            .check(&Fingerprint::of(
                invoice,
                invoice.referenced_invoice.as_deref(),
            ))
            .into_iter()
            .filter(|h| h.existing < invoice.id)
            .collect()
    }

    /// Withdraws the pending exception approvals of an invoice that has since matched.
    async fn withdraw_pending(&self, id: InvoiceId, now: DateTime<Utc>) -> Result<()> {
        let g = self.flow.governance();
        // Approval requests are filed under their subject in the read model.
        let pending: Vec<ApprovalRequest> = self
            .flow
            .all(
                DocumentQuery::kind("approval", PAGE)
                    .parent(invoice_subject(id))
                    .state(ApprovalState::Pending.as_str()),
            )
            .await?;
        for r in pending {
            let reason = "matched after a goods receipt";
            match g.withdraw(r.id, Self::principal().id(), reason, now).await {
                Ok(_) | Err(accord_policy::GovernanceError::NotPending { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Applies a decided approval request to the invoice or order it is about.
    async fn apply_approval(&self, request: &ApprovalRequest) -> Result<()> {
        let approved = request.state == ApprovalState::Approved;
        if request.action == Action::InvoiceApproveException.as_str() {
            let Some(id) = request
                .subject
                .strip_prefix("invoice/")
                .and_then(|s| InvoiceId::parse(s).ok())
            else {
                return Ok(());
            };
            let stream = format!("invoice-{id}");
            let version = self.flow.version(&stream).await?;
            let Some(invoice) = self.flow.invoice(id).await? else {
                return Ok(());
            };
            if invoice.state != InvoiceState::Exception {
                return Ok(());
            }
            let mut events = Vec::new();
            if approved {
                let order = match invoice.order_ref.as_deref() {
                    Some(n) => self.flow.order_by_number(n).await?,
                    None => None,
                };
                self.release_to_pay(&invoice, invoice.state, order.as_ref(), &mut events)?;
            } else {
                events.push(transition(
                    DocumentRef::Invoice(id),
                    invoice.state,
                    InvoiceState::Rejected,
                    format!("approval {} {}", request.id, request.state.as_str()),
                )?);
            }
            return self
                .commit(
                    Append::many(events)
                        .key(format!("approval-{}/apply", request.id))
                        .expect(stream, ExpectedVersion::Exact(version)),
                )
                .await;
        }
        if request.action == Action::PurchaseOrderIssue.as_str() {
            let Some(id) = request
                .subject
                .strip_prefix("purchase_order/")
                .and_then(|s| PurchaseOrderId::parse(s).ok())
            else {
                return Ok(());
            };
            let stream = format!("purchase_order-{id}");
            let version = self.flow.version(&stream).await?;
            let Some(order) = self.flow.order(id).await? else {
                return Ok(());
            };
            if order.state != PurchaseOrderState::PendingApproval {
                return Ok(());
            }
            let to = if approved {
                PurchaseOrderState::Issued
            } else {
                PurchaseOrderState::Cancelled
            };
            let change = transition(
                DocumentRef::PurchaseOrder(id),
                order.state,
                to,
                format!("approval {} {}", request.id, request.state.as_str()),
            )?;
            return self
                .commit(
                    Append::new(change)
                        .key(format!("approval-{}/apply", request.id))
                        .expect(stream, ExpectedVersion::Exact(version)),
                )
                .await;
        }
        Ok(())
    }

    /// Commits; losing a race to another node (a conflict) means the work is done.
    async fn commit(&self, append: Append) -> Result<()> {
        match self.flow.store().append(append).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What a run of invoices needs from the read model, read once for the run and kept
/// current as the run's invoices are decided.
#[derive(Default)]
struct Context {
    /// Orders by number.
    orders: HashMap<String, PurchaseOrder>,
    receipts: HashMap<PurchaseOrderId, Vec<GoodsReceipt>>,
    /// Invoices by the order number they quote.
    invoices: HashMap<String, Vec<Invoice>>,
    suppliers: HashMap<SupplierId, Supplier>,
}

impl Context {
    /// Records that `invoice` was released, for the quantity checks of later invoices of
    /// the same order in the run.
    fn billed(&mut self, invoice: &Invoice) {
        let Some(n) = &invoice.order_ref else {
            return;
        };
        let list = self.invoices.entry(n.clone()).or_default();
        match list.iter_mut().find(|i| i.id == invoice.id) {
            Some(i) => i.state = InvoiceState::Approved,
            None => {
                let mut i = invoice.clone();
                i.state = InvoiceState::Approved;
                list.push(i);
            }
        }
    }
}

/// Quantities billed on `order` by earlier invoices that were released.
fn previously_invoiced(
    ctx: &Context,
    order: &PurchaseOrder,
    before: InvoiceId,
) -> HashMap<u32, Decimal> {
    let mut out: HashMap<u32, Decimal> = HashMap::new();
    let invoices = ctx
        .invoices
        .get(&order.number)
        .map_or(&[][..], Vec::as_slice);
    for i in invoices.iter().filter(|i| {
        i.id < before
            && i.kind == InvoiceKind::Invoice
            && matches!(
                i.state,
                InvoiceState::Matched | InvoiceState::Approved | InvoiceState::Paid
            )
    }) {
        for l in &i.lines {
            let line = l.po_line.or_else(|| {
                let sku = l.sku.as_deref()?;
                order.lines.iter().find(|o| o.sku == sku).map(|o| o.line_no)
            });
            if let Some(n) = line {
                *out.entry(n).or_default() += l.quantity;
            }
        }
    }
    out
}

/// What [`InvoiceMatcher::assess`] found.
struct Assessment {
    order: Option<PurchaseOrder>,
    contract: Option<Contract>,
    report: MatchReport,
    tally: Option<InvoiceTally>,
}

fn duplicate_exception(h: &DuplicateHit) -> MatchException {
    MatchException {
        kind: ExceptionKind::Duplicate,
        invoice_line: None,
        po_line: None,
        expected: None,
        actual: None,
        measure: accord_p2p::matching::Measure::None,
        tolerance: None,
        override_role: None,
        explanation: format!("duplicate of invoice {}: {}", h.existing, h.explanation),
    }
}

fn note(h: &DuplicateHit) -> DuplicateNote {
    DuplicateNote {
        of: h.existing,
        kind: match h.kind {
            DuplicateKind::Exact => "exact",
            DuplicateKind::SameAmountAndDate => "same_amount_and_date",
            DuplicateKind::CreditNoteReplay => "replayed_credit_note",
        }
        .to_owned(),
        explanation: h.explanation.clone(),
    }
}

fn kind_str(k: ExceptionKind) -> &'static str {
    match k {
        ExceptionKind::PriceVariance => "price_variance",
        ExceptionKind::QuantityVariance => "quantity_variance",
        ExceptionKind::NotReceived => "not_received",
        ExceptionKind::UnmatchedLine => "unmatched_line",
        ExceptionKind::Duplicate => "duplicate",
        ExceptionKind::TaxVariance => "tax_variance",
        ExceptionKind::CurrencyMismatch => "currency_mismatch",
        ExceptionKind::OrderMismatch => "order_mismatch",
    }
}
