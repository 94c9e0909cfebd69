//! Procure-to-pay end to end through the store, on both backends: requisition, order,
//! receipt, UBL invoice, match, exception, approval, payment; duplicates; orders that need
//! approval; requisitions without a contract; the compliance projection. Each scenario
//! ends by verifying the audit chain.

use std::sync::Arc;

use accord_agents::p2p::{
    FlowError, InvoiceMatcher, Metrics, Procurement, ReceiptInput, RequisitionInput, Routed,
};
use accord_core::{
    CategoryCode, Currency, Event, FxTable, Money, RegionCode, RiskTier, SizeClass, Supplier,
    SupplierStatus,
    document::{Contract, ContractPrice, ContractTerms, PurchaseOrder, ReceiptLine},
    governance::{AutonomyLevel, CategoryAutonomy},
    id::{ContractId, SupplierId},
    lifecycle::{ContractState, InvoiceState, PaymentState, PurchaseOrderState},
};
use accord_p2p::{DraftInvoice, DraftLine, read_ubl, tolerance::TolerancePolicy};
use accord_policy::{Approver, Gate, Governance, GovernanceConfig, PolicySet, Principal, Role};
use accord_store::{AnyStore, Append, Store, VerifyOptions};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;

use crate::support::{Backend, Harness, both_backends};

both_backends!(
    requisition_to_payment,
    exceptions_duplicates_and_approvals,
    orders_needing_approval_and_sourcing,
    savings_realisation_per_campaign,
);

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

fn today() -> NaiveDate {
    now().date_naive()
}

fn office() -> CategoryCode {
    CategoryCode::parse("office").unwrap()
}

struct World {
    flow: Procurement<AnyStore>,
    matcher: InvoiceMatcher<AnyStore>,
    supplier: Supplier,
}

/// A store with one supplier and one active contract (`PAPER` at 12.00 EUR, 60 days), and
/// the category's autonomy set to `autonomy`.
async fn world(h: &Harness, autonomy: AutonomyLevel) -> World {
    let store = h.store.clone();
    let gate = Arc::new(Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap());
    let governance = Arc::new(
        Governance::open(store.clone(), gate, GovernanceConfig::default())
            .await
            .unwrap(),
    );
    governance
        .set_autonomy(
            &office(),
            CategoryAutonomy::new(autonomy, 0),
            &Principal::user("ada", &[Role::Admin]),
            "test set-up",
            now(),
        )
        .await
        .unwrap();
    let supplier = Supplier {
        id: SupplierId::new(),
        external_ref: "SUP-1".into(),
        name: "Papeterie Dupont".into(),
        region: RegionCode::parse("FR").unwrap(),
        size: SizeClass::Small,
        status: SupplierStatus::Active,
        risk: RiskTier::Low,
        bank: None,
        payment_days: Some(30),
    };
    let contract = Contract {
        id: ContractId::new(),
        external_ref: "CT-1".into(),
        supplier: supplier.id,
        category: office(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: vec![ContractPrice {
                sku: "PAPER".into(),
                unit_price: Money::new(1200, Currency::EUR),
            }],
            payment_days: 60,
            lead_time_days: 5,
            valid_from: today() - Days::new(30),
            valid_to: today() + Days::new(335),
        },
        state: ContractState::Active,
    };
    store
        .append(Append::many(vec![
            Event::SupplierRegistered {
                supplier: supplier.clone(),
            },
            Event::ContractRecorded { contract },
        ]))
        .await
        .unwrap();
    let flow = Procurement::new(store, governance, Arc::new(FxTable::new(Currency::EUR)));
    let matcher = InvoiceMatcher::new(flow.clone(), TolerancePolicy::default());
    World {
        flow,
        matcher,
        supplier,
    }
}

fn paper(quantity: i64) -> RequisitionInput {
    RequisitionInput {
        requester: "rita".into(),
        category: office(),
        sku: Some("PAPER".into()),
        description: "A4 paper, boxes".into(),
        quantity: Decimal::from(quantity),
        unit: None,
        estimated_unit_price: None,
        needed_by: None,
    }
}

async fn order(w: &World, key: &str, quantity: i64) -> PurchaseOrder {
    match w
        .flow
        .submit_requisition(paper(quantity), key, now())
        .await
        .unwrap()
    {
        Routed::Ordered { order, .. } => order,
        other => panic!("expected an order, got {other:?}"),
    }
}

/// Validated UBL from the supplier for `quantity` x `price` cents on `order`.
fn invoice_xml(number: &str, order: &PurchaseOrder, quantity: i64, price_cents: i64) -> String {
    DraftInvoice {
        number: number.into(),
        issue_date: today(),
        due_date: Some(today() + Days::new(30)),
        currency: Currency::EUR,
        order_ref: Some(order.number.clone()),
        seller_id: "SUP-1".into(),
        seller_name: "Papeterie Dupont".into(),
        vat_rate: Decimal::from(20),
        lines: vec![DraftLine {
            po_line: Some(1),
            sku: "PAPER".into(),
            quantity: Decimal::from(quantity),
            unit_price: Decimal::new(price_cents, 2),
        }],
    }
    .to_ubl()
}

async fn ingest(w: &World, xml: &str) -> accord_agents::p2p::Ingested {
    w.flow
        .ingest_invoice(&read_ubl(xml).unwrap(), None)
        .await
        .unwrap()
}

async fn receive(w: &World, order: &PurchaseOrder, key: &str, received: i64) {
    w.flow
        .receive(
            order.id,
            ReceiptInput {
                received_on: today(),
                lines: vec![ReceiptLine {
                    po_line: 1,
                    received: Decimal::from(received),
                    rejected: Decimal::ZERO,
                }],
                by: "dock".into(),
            },
            key,
        )
        .await
        .unwrap();
}

async fn chain_verifies(h: &Harness) {
    let report = h
        .store
        .verify(&VerifyOptions {
            trusted_key: Some(h.public_key()),
        })
        .await
        .unwrap();
    assert!(report.broken.is_none(), "{:?}", report.broken);
}

async fn requisition_to_payment(backend: Backend) {
    let h = backend.open().await;
    let mut w = world(&h, AutonomyLevel::ActAlone).await;

    // Intake routes to the contract: an issued order at contract terms.
    let po = order(&w, "req-1", 10).await;
    assert_eq!(po.state, PurchaseOrderState::Issued);
    assert_eq!(po.lines[0].unit_price, Money::new(1200, Currency::EUR));
    assert_eq!(po.payment_days, 60);
    assert_eq!(po.supplier, w.supplier.id);
    // The same submission again writes nothing and answers the same.
    let before = h.store.last_seq().await.unwrap();
    assert_eq!(order(&w, "req-1", 10).await.id, po.id);
    assert_eq!(h.store.last_seq().await.unwrap(), before);

    // The invoice arrives before the goods: an exception, routed through the gate.
    let inv = ingest(&w, &invoice_xml("INV-1", &po, 10, 1200)).await;
    assert!(!inv.replayed);
    w.matcher.run_once(now()).await.unwrap();
    let stored = w.flow.invoice(inv.invoice.id).await.unwrap().unwrap();
    assert_eq!(stored.state, InvoiceState::Exception);
    let pending = w.flow.governance().pending(None).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].role, Role::Approver);
    assert_eq!(pending[0].subject, format!("invoice/{}", inv.invoice.id));
    assert!(
        pending[0].summary.contains("not_received"),
        "{}",
        pending[0].summary
    );

    // The goods arrive: the matcher re-matches, releases it and withdraws the request.
    receive(&w, &po, "gr-1", 10).await;
    assert_eq!(
        w.flow.order(po.id).await.unwrap().unwrap().state,
        PurchaseOrderState::Received
    );
    w.matcher.run_once(now()).await.unwrap();
    let stored = w.flow.invoice(inv.invoice.id).await.unwrap().unwrap();
    assert_eq!(stored.state, InvoiceState::Approved);
    assert!(w.flow.governance().pending(None).await.unwrap().is_empty());
    let payments = w.flow.payments_of(inv.invoice.id).await.unwrap();
    assert_eq!(payments.len(), 1);
    let payment = &payments[0];
    assert_eq!(payment.amount, Money::new(14400, Currency::EUR));
    // Paid at the negotiated terms: issue date + 60 days, not the invoice's 30.
    assert_eq!(payment.due_on, today() + Days::new(60));

    // Segregation of duties: the requester may not release the payment.
    let rita = Approver::new("rita", &[Role::Treasurer]);
    let refused = w.flow.release_payment(payment.id, &rita, now()).await;
    assert!(
        matches!(
            refused,
            Err(FlowError::Governance(_) | FlowError::Refused(_))
        ),
        "{refused:?}"
    );
    // Nor may someone without the treasurer's right.
    let clerk = Approver::new("carl", &[Role::ApClerk]);
    assert!(matches!(
        w.flow.release_payment(payment.id, &clerk, now()).await,
        Err(FlowError::Refused(_))
    ));
    let tom = Approver::new("tom", &[Role::Treasurer]);
    let released = w
        .flow
        .release_payment(payment.id, &tom, now())
        .await
        .unwrap();
    assert_eq!(released.state, PaymentState::Released);
    assert_eq!(
        w.flow.invoice(inv.invoice.id).await.unwrap().unwrap().state,
        InvoiceState::Paid
    );
    // Releasing twice is an illegal transition and writes nothing.
    let before = h.store.last_seq().await.unwrap();
    assert!(matches!(
        w.flow.release_payment(payment.id, &tom, now()).await,
        Err(FlowError::Illegal(_))
    ));
    assert_eq!(h.store.last_seq().await.unwrap(), before);
    let settled = w.flow.settle_payment(payment.id, "bank").await.unwrap();
    assert_eq!(settled.state, PaymentState::Settled);

    // The compliance projection counted the invoice once, although it was matched twice.
    let m = Metrics::read(&h.store).await.unwrap();
    assert_eq!(m.overall.len(), 1);
    assert_eq!(m.overall[0].invoices, 1);
    assert_eq!(m.overall[0].lines, 1);
    assert_eq!(m.overall[0].compliant_lines, 1);
    assert_eq!(m.overall[0].compliance_rate, Some(1.0));
    // The invoice asked for 30 days, the contract gives 60: its terms are not compliant.
    assert_eq!(m.overall[0].terms_compliance_rate, Some(0.0));
    assert_eq!(
        m.by_supplier[0].scope,
        format!("supplier/{}", w.supplier.id)
    );
    chain_verifies(&h).await;
}

async fn exceptions_duplicates_and_approvals(backend: Backend) {
    let h = backend.open().await;
    let mut w = world(&h, AutonomyLevel::ActAlone).await;
    let po = order(&w, "req-1", 10).await;
    receive(&w, &po, "gr-1", 10).await;

    // Billed at 14.00 against 12.00: beyond 2 % or 1.00, a price variance.
    let a = ingest(&w, &invoice_xml("INV-100", &po, 10, 1400)).await;
    // The very same document again is a replay: nothing written, the first invoice back.
    let again = ingest(&w, &invoice_xml("INV-100", &po, 10, 1400)).await;
    assert!(again.replayed);
    assert_eq!(again.invoice.id, a.invoice.id);
    w.matcher.run_once(now()).await.unwrap();
    let pending = w.flow.governance().pending(None).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(
        pending[0].summary.contains("price_variance"),
        "{}",
        pending[0].summary
    );
    // The matcher asked; the approver decides; the matcher applies it.
    let ann = Approver::new("ann", &[Role::Approver]);
    w.flow
        .governance()
        .approve(pending[0].id, &ann, "price rise agreed by phone", now())
        .await
        .unwrap();
    w.matcher.run_once(now()).await.unwrap();
    assert_eq!(
        w.flow.invoice(a.invoice.id).await.unwrap().unwrap().state,
        InvoiceState::Approved
    );
    let payment = &w.flow.payments_of(a.invoice.id).await.unwrap()[0];
    // The one who approved the exception may not release its payment.
    let ann_treasurer = Approver::new("ann", &[Role::Treasurer]);
    assert!(
        w.flow
            .release_payment(payment.id, &ann_treasurer, now())
            .await
            .is_err()
    );

    // The same number with other content: an exact duplicate, explained, then denied.
    let b = ingest(&w, &invoice_xml("inv-0100", &po, 10, 1200)).await;
    assert!(!b.replayed);
    // Another number, same amount and date: a likely duplicate.
    let c = ingest(&w, &invoice_xml("INV-101", &po, 10, 1400)).await;
    w.matcher.run_once(now()).await.unwrap();
    for (id, kind) in [
        (b.invoice.id, "exact"),
        (c.invoice.id, "same_amount_and_date"),
    ] {
        assert_eq!(
            w.flow.invoice(id).await.unwrap().unwrap().state,
            InvoiceState::Exception
        );
        let record = match_record(&h.store, id).await;
        assert!(
            record
                .duplicates
                .iter()
                .any(|d| d.kind == kind && d.of == a.invoice.id),
            "{kind}: {:?}",
            record.duplicates
        );
        assert!(record.exceptions.iter().any(|e| e.kind == "duplicate"));
    }
    let pending = w.flow.governance().pending(None).await.unwrap();
    assert_eq!(pending.len(), 2);
    for p in &pending {
        w.flow
            .governance()
            .deny(p.id, &ann, "duplicate billing", now())
            .await
            .unwrap();
    }
    w.matcher.run_once(now()).await.unwrap();
    for id in [b.invoice.id, c.invoice.id] {
        assert_eq!(
            w.flow.invoice(id).await.unwrap().unwrap().state,
            InvoiceState::Rejected
        );
        assert!(w.flow.payments_of(id).await.unwrap().is_empty());
    }

    // Compliance: three invoices tallied (each once), one line each; only `b` billed at
    // or below the contract price.
    let m = Metrics::read(&h.store).await.unwrap();
    assert_eq!(m.overall[0].invoices, 3);
    assert_eq!(m.overall[0].lines, 3);
    assert_eq!(m.overall[0].compliant_lines, 1);
    chain_verifies(&h).await;
}

async fn match_record(
    store: &AnyStore,
    id: accord_core::id::InvoiceId,
) -> accord_core::document::MatchRecord {
    let events = store
        .read_stream(&format!("invoice-{id}"), 0, 100)
        .await
        .unwrap();
    events
        .iter()
        .rev()
        .find_map(|e| match e.event().unwrap() {
            Event::InvoiceMatched { record } => Some(record),
            _ => None,
        })
        .expect("a match record")
}

async fn orders_needing_approval_and_sourcing(backend: Backend) {
    let h = backend.open().await;
    // Recommend-only: the sourcing agent proposes, a buyer approves.
    let mut w = world(&h, AutonomyLevel::RecommendOnly).await;
    let routed = w
        .flow
        .submit_requisition(paper(10), "req-1", now())
        .await
        .unwrap();
    let Routed::Ordered {
        order, approval, ..
    } = routed
    else {
        panic!("expected an order: {routed:?}");
    };
    assert_eq!(order.state, PurchaseOrderState::PendingApproval);
    let approval = approval.expect("an approval request");
    let request = w.flow.governance().approval(approval).await.unwrap();
    assert_eq!(request.subject, format!("purchase_order/{}", order.id));
    // A receipt against an order not yet issued is refused and writes nothing.
    let before = h.store.last_seq().await.unwrap();
    let early = w
        .flow
        .receive(
            order.id,
            ReceiptInput {
                received_on: today(),
                lines: vec![ReceiptLine {
                    po_line: 1,
                    received: Decimal::ONE,
                    rejected: Decimal::ZERO,
                }],
                by: "dock".into(),
            },
            "gr-early",
        )
        .await;
    assert!(matches!(early, Err(FlowError::Illegal(_))), "{early:?}");
    assert_eq!(h.store.last_seq().await.unwrap(), before);
    let bob = Approver::new("bob", &[request.role]);
    w.flow
        .governance()
        .approve(approval, &bob, "needed for the quarter", now())
        .await
        .unwrap();
    w.matcher.run_once(now()).await.unwrap();
    assert_eq!(
        w.flow.order(order.id).await.unwrap().unwrap().state,
        PurchaseOrderState::Issued
    );

    // A receipt naming a line the order does not have names the field.
    let bad = w
        .flow
        .receive(
            order.id,
            ReceiptInput {
                received_on: today(),
                lines: vec![ReceiptLine {
                    po_line: 7,
                    received: Decimal::ONE,
                    rejected: Decimal::ZERO,
                }],
                by: "dock".into(),
            },
            "gr-bad",
        )
        .await;
    match bad {
        Err(FlowError::Invalid { field, .. }) => assert_eq!(field, "lines[0].po_line"),
        other => panic!("{other:?}"),
    }
    // Partial, then over-delivery with a rejected part.
    receive(&w, &order, "gr-1", 4).await;
    assert_eq!(
        w.flow.order(order.id).await.unwrap().unwrap().state,
        PurchaseOrderState::PartiallyReceived
    );
    w.flow
        .receive(
            order.id,
            ReceiptInput {
                received_on: today(),
                lines: vec![ReceiptLine {
                    po_line: 1,
                    received: Decimal::from(8),
                    rejected: Decimal::from(2),
                }],
                by: "dock".into(),
            },
            "gr-2",
        )
        .await
        .unwrap();
    assert_eq!(
        w.flow.order(order.id).await.unwrap().unwrap().state,
        PurchaseOrderState::Received
    );

    // No contract prices toner: the requisition waits for sourcing.
    let toner = RequisitionInput {
        sku: Some("TONER".into()),
        category: CategoryCode::parse("printing").unwrap(),
        ..paper(3)
    };
    let toner_id = match w
        .flow
        .submit_requisition(toner, "req-2", now())
        .await
        .unwrap()
    {
        Routed::Sourcing { requisition, .. } => {
            let stored = w.flow.requisition(requisition.id).await.unwrap().unwrap();
            assert_eq!(
                stored.state,
                accord_core::lifecycle::RequisitionState::Sourcing
            );
            requisition.id
        }
        other => panic!("expected sourcing, got {other:?}"),
    };

    // Sourcing ends in a contract (as a campaign's deal records one): the matcher agent
    // turns the waiting requisition into an order at the new contract's terms, once,
    // however often it runs.
    let printing = Contract {
        id: ContractId::new(),
        external_ref: "NEG-toner".into(),
        supplier: w.supplier.id,
        category: CategoryCode::parse("printing").unwrap(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: vec![ContractPrice {
                sku: "*".into(),
                unit_price: Money::new(4_500, Currency::EUR),
            }],
            payment_days: 75,
            lead_time_days: 3,
            valid_from: today(),
            valid_to: today() + Days::new(365),
        },
        state: ContractState::Active,
    };
    w.flow
        .store()
        .append(Append::new(Event::ContractRecorded {
            contract: printing.clone(),
        }))
        .await
        .unwrap();
    w.matcher.run_once(now()).await.unwrap();
    w.matcher.run_once(now()).await.unwrap();
    assert!(
        w.flow
            .order_waiting(std::slice::from_ref(&printing), now())
            .await
            .unwrap()
            .is_empty(),
        "nothing is left waiting"
    );
    let stored = w.flow.requisition(toner_id).await.unwrap().unwrap();
    assert_eq!(
        stored.state,
        accord_core::lifecycle::RequisitionState::Ordered
    );
    let orders: Vec<PurchaseOrder> = w
        .flow
        .store()
        .documents(&accord_store::DocumentQuery::kind("purchase_order", 100))
        .await
        .unwrap()
        .into_iter()
        .map(|d| serde_json::from_value(d.data).unwrap())
        .filter(|o: &PurchaseOrder| o.requisition == Some(toner_id))
        .collect();
    assert_eq!(orders.len(), 1, "exactly one order for the requisition");
    let toner_order = &orders[0];
    assert_eq!(toner_order.contract, Some(printing.id));
    assert_eq!(toner_order.payment_days, 75);
    assert_eq!(
        toner_order.lines[0].unit_price,
        Money::new(4_500, Currency::EUR)
    );
    assert_eq!(toner_order.lines[0].quantity, Decimal::from(3));

    // An invoice from nobody the buyer knows is refused, naming why.
    let stranger = DraftInvoice {
        seller_id: "NOBODY".into(),
        order_ref: Some("PO-MISSING".into()),
        ..draft_for(&order)
    };
    match w
        .flow
        .ingest_invoice(&read_ubl(&stranger.to_ubl()).unwrap(), None)
        .await
    {
        Err(FlowError::Unresolved(m)) => {
            assert!(m.contains("PO-MISSING") && m.contains("NOBODY"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    chain_verifies(&h).await;
}

fn draft_for(order: &PurchaseOrder) -> DraftInvoice {
    DraftInvoice {
        number: "X-1".into(),
        issue_date: today(),
        due_date: Some(today() + Days::new(60)),
        currency: Currency::EUR,
        order_ref: Some(order.number.clone()),
        seller_id: "SUP-1".into(),
        seller_name: "Papeterie Dupont".into(),
        vat_rate: Decimal::from(20),
        lines: vec![DraftLine {
            po_line: Some(1),
            sku: "PAPER".into(),
            quantity: Decimal::ONE,
            unit_price: Decimal::from(12),
        }],
    }
}

/// A contract negotiated in a campaign (baseline 12.00, contract 11.40 for any item):
/// one invoice at the contract price realises all the negotiated saving, one at 11.70
/// (inside the price tolerance, so released) realises half of it and is not compliant.
/// The campaign's realisation is then (60 + 30) / (60 + 60) = 75 %, compliance 50 %.
async fn savings_realisation_per_campaign(backend: Backend) {
    use accord_agents::{build, tail::TailPick};
    use accord_core::id::CampaignId;
    use accord_core::negotiation::{Campaign, CampaignTemplate, TailRule};
    use rand::SeedableRng;

    let h = backend.open().await;
    let mut w = world(&h, AutonomyLevel::ActAlone).await;
    let campaign = Campaign {
        id: CampaignId::new(),
        name: "tail".into(),
        rule: TailRule::default(),
        template: CampaignTemplate::default(),
        seed: 7,
        created_at: now(),
        created_by: "ada".into(),
    };
    // The supplier's spend before: 12,000.00 EUR for 1,000 units, 12.00 each.
    let pick = TailPick {
        supplier: w.supplier.clone(),
        spend: accord_store::SupplierSpend {
            supplier: w.supplier.id,
            currency: "EUR".into(),
            total_minor: 1_200_000,
            lines: 12,
            quantity: 1000.0,
        },
        contract: None,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let (spec, _token) = build::spec(
        &campaign,
        &pick,
        accord_policy::RegionRules::builtin(),
        now(),
        &mut rng,
    )
    .unwrap();
    assert_eq!(spec.buyer.batna.price, Money::new(1200, Currency::EUR));
    let stationery = CategoryCode::parse("stationery").unwrap();
    let negotiated = Contract {
        id: ContractId::new(),
        external_ref: format!("NEG-{}", spec.id),
        supplier: w.supplier.id,
        category: stationery.clone(),
        currency: Currency::EUR,
        terms: ContractTerms {
            prices: vec![ContractPrice {
                sku: "*".into(),
                unit_price: Money::new(1140, Currency::EUR),
            }],
            payment_days: 60,
            lead_time_days: 5,
            valid_from: today() - Days::new(1),
            valid_to: today() + Days::new(365),
        },
        state: ContractState::Active,
    };
    h.store
        .append(Append::many(vec![
            Event::NegotiationOpened { negotiation: spec },
            Event::ContractRecorded {
                contract: negotiated,
            },
        ]))
        .await
        .unwrap();
    w.flow
        .governance()
        .set_autonomy(
            &stationery,
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
            &Principal::user("ada", &[Role::Admin]),
            "test set-up",
            now(),
        )
        .await
        .unwrap();
    let pens = |key: &str| RequisitionInput {
        category: stationery.clone(),
        sku: Some(format!("PENS-{key}")),
        ..paper(100)
    };
    for (key, price_cents) in [("a", 1140), ("b", 1170)] {
        let Routed::Ordered { order, .. } = w
            .flow
            .submit_requisition(pens(key), key, now())
            .await
            .unwrap()
        else {
            panic!("no order")
        };
        assert_eq!(order.lines[0].unit_price, Money::new(1140, Currency::EUR));
        receive(&w, &order, &format!("gr-{key}"), 100).await;
        let draft = DraftInvoice {
            number: format!("N-{key}"),
            lines: vec![DraftLine {
                po_line: Some(1),
                sku: order.lines[0].sku.clone(),
                quantity: Decimal::from(100),
                unit_price: Decimal::new(price_cents, 2),
            }],
            ..draft_for(&order)
        };
        ingest(&w, &draft.to_ubl()).await;
    }
    w.matcher.run_once(now()).await.unwrap();
    let m = Metrics::read(&h.store).await.unwrap();
    assert_eq!(m.by_campaign.len(), 1, "{m:?}");
    let c = &m.by_campaign[0];
    assert_eq!(c.scope, format!("campaign/{}", campaign.id));
    assert_eq!(c.invoices, 2);
    assert_eq!(c.negotiated_savings, Some(Money::new(12000, Currency::EUR)));
    assert_eq!(c.realised_savings, Some(Money::new(9000, Currency::EUR)));
    assert_eq!(c.realisation_rate, Some(0.75));
    assert_eq!(c.compliance_rate, Some(0.5));
    // Both were released: 11.70 is within 2 % or 1.00 of 11.40.
    let approved = h.store.document_counts("invoice", None).await.unwrap();
    assert_eq!(approved, vec![("approved".to_owned(), 2)]);
    chain_verifies(&h).await;
}
