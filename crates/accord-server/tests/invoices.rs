//! Accounts payable over real HTTP against a real SQLite store, with the invoice matcher
//! running: a UBL invoice posted against a received order is matched and released to pay
//! at once; the same document again stores nothing; every bad-input case is refused
//! with its code (and the broken rules by id) and changes nothing; metrics add up.

use std::sync::Arc;
use std::time::Duration;

use accord_agents::host::Governance as HostGovernance;
use accord_agents::p2p::{InvoiceMatcher, Procurement, ReceiptInput, RequisitionInput, Routed};
use accord_agents::{Campaigns, Host, HostOptions};
use accord_core::{
    CategoryCode, Currency, Event, FxTable, Money, RegionCode, RiskTier, SizeClass, Supplier,
    SupplierStatus,
    document::{Contract, ContractPrice, ContractTerms, PurchaseOrder, ReceiptLine},
    governance::{AutonomyLevel, CategoryAutonomy},
    id::{ContractId, SupplierId},
    lifecycle::ContractState,
};
use accord_p2p::{DraftInvoice, DraftLine, tolerance::TolerancePolicy};
use accord_policy::{AutonomyTable, Gate, Governance, GovernanceConfig, PolicySet, Principal};
use accord_server::{ApiKeys, AppState, Role};
use accord_store::{AnyStore, Append, SqliteOptions, SqliteStore, Store};
use chrono::{Days, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

const KEY: &str = "ap-key";
const ADMIN_KEY: &str = "admin-key";

struct World {
    base: String,
    store: AnyStore,
    order: PurchaseOrder,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = AnyStore::Sqlite(
        SqliteStore::open(&dir.path().join("accord.db"), SqliteOptions::default())
            .await
            .unwrap(),
    );
    let policies = Arc::new(PolicySet::default_pack());
    let gate = Arc::new(Gate::new(policies.clone(), Currency::EUR).unwrap());
    let governance = Arc::new(
        Governance::open(store.clone(), gate, GovernanceConfig::default())
            .await
            .unwrap(),
    );
    let office = CategoryCode::parse("office").unwrap();
    let now = Utc::now();
    governance
        .set_autonomy(
            &office,
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
            &Principal::user("ada", &[accord_policy::Role::Admin]),
            "test",
            now,
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
    let today = now.date_naive();
    store
        .append(Append::many(vec![
            Event::SupplierRegistered {
                supplier: supplier.clone(),
            },
            Event::ContractRecorded {
                contract: Contract {
                    id: ContractId::new(),
                    external_ref: "CT-1".into(),
                    supplier: supplier.id,
                    category: office.clone(),
                    currency: Currency::EUR,
                    terms: ContractTerms {
                        prices: vec![ContractPrice {
                            sku: "PAPER".into(),
                            unit_price: Money::new(1200, Currency::EUR),
                        }],
                        payment_days: 60,
                        lead_time_days: 5,
                        valid_from: today - Days::new(1),
                        valid_to: today + Days::new(300),
                    },
                    state: ContractState::Active,
                },
            },
        ]))
        .await
        .unwrap();
    let flow = Arc::new(Procurement::new(
        store.clone(),
        governance,
        Arc::new(FxTable::new(Currency::EUR)),
    ));
    let Routed::Ordered { order, .. } = flow
        .submit_requisition(
            RequisitionInput {
                requester: "rita".into(),
                category: office,
                sku: Some("PAPER".into()),
                description: "paper".into(),
                quantity: Decimal::from(10),
                unit: None,
                estimated_unit_price: None,
                needed_by: None,
            },
            "req-1",
            now,
        )
        .await
        .unwrap()
    else {
        panic!("no order")
    };
    flow.receive(
        order.id,
        ReceiptInput {
            received_on: today,
            lines: vec![ReceiptLine {
                po_line: 1,
                received: Decimal::from(10),
                rejected: Decimal::ZERO,
            }],
            by: "dock".into(),
        },
        "gr-1",
    )
    .await
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(InvoiceMatcher::new((*flow).clone(), TolerancePolicy::default()).run(stopped));

    let host_governance = Arc::new(
        HostGovernance::new(
            policies,
            FxTable::new(Currency::EUR),
            AutonomyTable::default(),
        )
        .unwrap(),
    );
    let host = Arc::new(Host::new(
        store.clone(),
        host_governance.clone(),
        HostOptions::default(),
    ));
    let campaigns = Arc::new(Campaigns::new(host.clone(), host_governance.fx.clone()));
    let mut keys = ApiKeys::default();
    keys.insert("ap", KEY, Role::Buyer);
    keys.insert("admin", ADMIN_KEY, Role::Admin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        host,
        campaigns,
        p2p: flow,
        keys: Arc::new(keys),
        users: Arc::new(std::collections::BTreeMap::from([
            (
                "ada".to_owned(),
                vec![accord_core::governance::Role::Approver],
            ),
            (
                "tess".to_owned(),
                vec![accord_core::governance::Role::Treasurer],
            ),
        ])),
        importer: None,
        base_url: base.clone(),
    };
    tokio::spawn(async move {
        axum::serve(listener, accord_server::router(state))
            .await
            .unwrap();
    });
    World {
        base,
        store,
        order,
        _dir: dir,
        _stop: stop,
    }
}

fn draft(order: &PurchaseOrder, number: &str, price_cents: i64) -> DraftInvoice {
    let today = Utc::now().date_naive();
    DraftInvoice {
        number: number.into(),
        issue_date: today,
        due_date: Some(today + Days::new(60)),
        currency: Currency::EUR,
        order_ref: Some(order.number.clone()),
        seller_id: "SUP-1".into(),
        seller_name: "Papeterie Dupont".into(),
        vat_rate: Decimal::from(20),
        lines: vec![DraftLine {
            po_line: Some(1),
            sku: "PAPER".into(),
            quantity: Decimal::from(10),
            unit_price: Decimal::new(price_cents, 2),
        }],
    }
}

async fn post(w: &World, content_type: &str, body: String) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/v1/invoices", w.base))
        .bearer_auth(KEY)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(w: &World, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", w.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls an invoice until the matcher has moved it out of `received`.
async fn decided(w: &World, id: &str) -> Value {
    for _ in 0..200 {
        let v = get(w, &format!("/v1/invoices/{id}")).await;
        if v["invoice"]["state"] != "received" {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("invoice {id} was never matched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posted_invoice_is_matched_and_released_at_once() {
    let w = world().await;
    let (status, body) = post(
        &w,
        "application/xml",
        draft(&w.order, "INV-1", 1200).to_ubl(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["state"], "received");
    let id = body["id"].as_str().unwrap().to_owned();
    let v = decided(&w, &id).await;
    assert_eq!(v["invoice"]["state"], "approved", "{v}");
    assert_eq!(v["match"]["state"], "matched");
    assert_eq!(v["payments"].as_array().unwrap().len(), 1);

    // The same document again: 200, the first invoice, nothing stored.
    let seq = w.store.last_seq().await.unwrap();
    let (status, again) = post(
        &w,
        "application/xml",
        draft(&w.order, "INV-1", 1200).to_ubl(),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["id"], id.as_str());
    assert_eq!(w.store.last_seq().await.unwrap(), seq);

    // A price variance: an exception, with the approval it was routed to.
    let (status, body) = post(
        &w,
        "application/xml",
        draft(&w.order, "INV-2", 1500).to_ubl(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v = decided(&w, body["id"].as_str().unwrap()).await;
    assert_eq!(v["invoice"]["state"], "exception", "{v}");
    let kinds: Vec<&str> = v["match"]["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"price_variance"), "{kinds:?}");
    assert!(v["match"]["approval"].is_string(), "{v}");

    // Metrics: two invoices tallied, one compliant line of two.
    let m = get(&w, "/v1/metrics").await;
    assert_eq!(m["overall"][0]["invoices"], 2, "{m}");
    assert_eq!(m["overall"][0]["compliant_lines"], 1, "{m}");
    assert_eq!(m["overall"][0]["compliance_rate"], 0.5, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_invoices_are_refused_with_the_reason_and_store_nothing() {
    let w = world().await;
    let good = draft(&w.order, "INV-9", 1200).to_ubl();
    let seq = w.store.last_seq().await.unwrap();
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "malformed xml",
            "application/xml",
            good.replace("</cbc:IssueDate>", ""),
            400,
            "invoice_malformed_xml",
        ),
        (
            "wrong root",
            "application/xml",
            good.replace("<Invoice xmlns", "<Order xmlns")
                .replace("</Invoice>", "</Order>"),
            400,
            "invoice_not_ubl",
        ),
        (
            "wrong namespace",
            "application/xml",
            good.replace(
                "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
                "urn:example:invoice",
            ),
            400,
            "invoice_not_ubl",
        ),
        (
            "missing mandatory element",
            "application/xml",
            good.replace("<cbc:IssueDate>", "<cbc:Note>")
                .replace("</cbc:IssueDate>", "</cbc:Note>"),
            422,
            "invoice_rule_violation",
        ),
        (
            "inconsistent totals",
            "application/xml",
            good.replace(
                "<cbc:PayableAmount currencyID=\"EUR\">144.00</cbc:PayableAmount>",
                "<cbc:PayableAmount currencyID=\"EUR\">143.00</cbc:PayableAmount>",
            ),
            422,
            "invoice_rule_violation",
        ),
        (
            "unknown order and supplier",
            "application/xml",
            DraftInvoice {
                seller_id: "NOBODY".into(),
                order_ref: Some("PO-NONE".into()),
                ..draft(&w.order, "INV-10", 1200)
            }
            .to_ubl(),
            422,
            "unresolved",
        ),
        (
            "malformed json",
            "application/json",
            "{\"number\": ".into(),
            400,
            "invoice_malformed_json",
        ),
        (
            "unsupported type",
            "text/plain",
            good.clone(),
            415,
            "unsupported_media_type",
        ),
        (
            "oversize",
            "application/xml",
            "x".repeat(accord_server::invoices::MAX_INVOICE_BYTES + 1),
            413,
            "",
        ),
    ];
    for (what, ct, body, status, code) in cases {
        let (got, err) = post(&w, ct, body).await;
        assert_eq!(got, status, "{what}: {err}");
        if !code.is_empty() {
            assert_eq!(err["error"]["code"], code, "{what}: {err}");
        }
        assert_eq!(
            w.store.last_seq().await.unwrap(),
            seq,
            "{what} wrote something"
        );
    }
    // Rule violations name the rule and the element.
    let (_, err) = post(
        &w,
        "application/xml",
        good.replace(
            "<cbc:PayableAmount currencyID=\"EUR\">144.00</cbc:PayableAmount>",
            "<cbc:PayableAmount currencyID=\"EUR\">143.00</cbc:PayableAmount>",
        ),
    )
    .await;
    let v = &err["error"]["details"]["violations"][0];
    assert!(v["rule"].as_str().unwrap().starts_with("BR-"), "{err}");
    assert!(
        v["path"].as_str().unwrap().contains("PayableAmount"),
        "{err}"
    );
    // Without a key: 401.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/invoices", w.base))
        .header("content-type", "application/xml")
        .body(good)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(w.store.last_seq().await.unwrap(), seq);
}

async fn send(w: &World, path: &str, key: Option<&str>, body: &str) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", w.base))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(k) = key {
        req = req.header("idempotency-key", k);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The whole flow over HTTP: a requisition is routed to an order at contract terms, the
/// dock posts a receipt, the supplier's invoice is matched and released. Retries with the
/// same key return the first result; bad requests are refused by name and store nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requisition_order_receipt_and_invoice_over_http() {
    let w = world().await;
    let req = r#"{"requester": "rita", "category": "office", "sku": "PAPER",
                  "description": "A4 paper", "quantity": "4"}"#;
    let (status, routed) = send(&w, "/v1/requisitions", Some("req-http-1"), req).await;
    assert_eq!(status, 201, "{routed}");
    assert_eq!(routed["route"], "ordered", "{routed}");
    assert_eq!(routed["order"]["state"], "issued");
    assert_eq!(routed["order"]["payment_days"], 60);
    let order_id = routed["order"]["id"].as_str().unwrap().to_owned();
    let number = routed["order"]["number"].as_str().unwrap().to_owned();
    let (_, again) = send(&w, "/v1/requisitions", Some("req-http-1"), req).await;
    assert_eq!(
        again["order"]["id"], routed["order"]["id"],
        "a retry is the first result"
    );
    let req_id = routed["requisition"]["id"].as_str().unwrap();
    assert_eq!(
        get(&w, &format!("/v1/requisitions/{req_id}")).await["state"],
        "ordered"
    );

    let before = w.store.last_seq().await.unwrap();
    for (key, body, status, code) in [
        (None, req, 400, "idempotency_key_required"),
        (Some("r-bad-1"), "{not json", 400, "malformed_json"),
        (
            Some("r-bad-2"),
            r#"{"requester": "rita", "category": "office", "description": "x"}"#,
            422,
            "invalid_requisition",
        ),
        (
            Some("r-bad-3"),
            r#"{"requester": "rita", "category": "office", "description": "x", "quantity": "-2"}"#,
            422,
            "invalid_input",
        ),
    ] {
        let (s, e) = send(&w, "/v1/requisitions", key, body).await;
        assert_eq!(s, status, "{e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    assert_eq!(
        w.store.last_seq().await.unwrap(),
        before,
        "refusals store nothing"
    );

    let receipt = r#"{"received_on": "2026-11-20", "by": "dock",
                      "lines": [{"po_line": 1, "received": "4", "rejected": "0"}]}"#;
    let path = format!("/v1/orders/{order_id}/receipts");
    let (status, gr) = send(&w, &path, Some("gr-http-1"), receipt).await;
    assert_eq!(status, 201, "{gr}");
    let (_, gr_again) = send(&w, &path, Some("gr-http-1"), receipt).await;
    assert_eq!(gr_again["id"], gr["id"]);
    let order = get(&w, &format!("/v1/orders/{order_id}")).await;
    assert_eq!(order["order"]["state"], "received", "{order}");
    assert_eq!(order["receipts"].as_array().unwrap().len(), 1);
    let (s, e) = send(
        &w,
        "/v1/orders/0190f5d2-0000-7000-8000-000000000000/receipts",
        Some("gr-x"),
        receipt,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{e}"
    );

    let mut invoice = draft(&w.order, "INV-HTTP-1", 1200);
    invoice.order_ref = Some(number);
    invoice.lines[0].quantity = Decimal::from(4);
    let (status, body) = post(&w, "application/xml", invoice.to_ubl()).await;
    assert_eq!(status, 201, "{body}");
    let v = decided(&w, body["id"].as_str().unwrap()).await;
    assert_eq!(v["invoice"]["state"], "approved", "{v}");
}

async fn send_as(w: &World, key: &str, path: &str, body: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", w.base))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An invoice billed above the contract price waits in exception with an approval
/// request; over HTTP the request is listed, refused to a buyer key and to an unknown or
/// unqualified person, approved by a configured approver, and the matcher then releases
/// the invoice to pay. A second decision finds it decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exception_is_approved_over_http() {
    let w = world().await;
    let (status, body) = post(
        &w,
        "application/xml",
        draft(&w.order, "INV-X", 1400).to_ubl(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let v = decided(&w, &id).await;
    assert_eq!(v["invoice"]["state"], "exception", "{v}");

    let pending = get(&w, "/v1/approvals?role=approver").await;
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let approval = pending[0]["id"].as_str().unwrap().to_owned();
    assert!(
        pending[0]["summary"]
            .as_str()
            .unwrap()
            .contains("price_variance")
    );
    assert!(
        get(&w, "/v1/approvals?role=treasurer")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );

    let path = format!("/v1/approvals/{approval}/approve");
    let ok = r#"{"as": "ada", "comment": "price rise agreed by phone"}"#;
    let (s, e) = send_as(&w, KEY, &path, ok).await;
    assert_eq!(s, 403, "a buyer key cannot decide: {e}");
    let (s, e) = send_as(&w, ADMIN_KEY, &path, r#"{"as": "zed", "comment": "x"}"#).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (422, Some("unknown_user")),
        "{e}"
    );
    let (s, e) = send_as(&w, ADMIN_KEY, &path, r#"{"as": "ada", "comment": ""}"#).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (403, Some("refused")),
        "a comment is required: {e}"
    );
    let (s, e) = send_as(&w, ADMIN_KEY, &path, ok).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["state"], "approved");

    // The matcher's decision about the invoice, with the gate's verdict and its reasons.
    let about = get(&w, &format!("/v1/decisions?subject=invoice/{id}")).await;
    let decisions = about["decisions"].as_array().unwrap();
    assert!(!decisions.is_empty(), "{about}");
    let first = &decisions[0];
    assert_eq!(first["subject"], format!("invoice/{id}"));
    assert!(
        first["rationale"].as_str().unwrap().contains("price"),
        "{first}"
    );
    let one = get(
        &w,
        &format!("/v1/decisions/{}", first["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(one, *first);
    let r = reqwest::Client::new()
        .get(format!("{}/v1/decisions/nope", w.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (s, e) = send_as(&w, ADMIN_KEY, &path, ok).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("not_pending")),
        "{e}"
    );

    for _ in 0..200 {
        let v = get(&w, &format!("/v1/invoices/{id}")).await;
        if v["invoice"]["state"] == "approved" {
            assert_eq!(v["payments"].as_array().unwrap().len(), 1);
            let payment = v["payments"][0]["id"].as_str().unwrap().to_owned();
            let release = format!("/v1/payments/{payment}/release");
            // The approver of the exception may not release its payment, nor anyone
            // without the treasurer's right; the treasurer may.
            let (s, e) = send_as(&w, ADMIN_KEY, &release, r#"{"as": "ada"}"#).await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (403, Some("refused")),
                "{e}"
            );
            let (s, e) = send_as(&w, KEY, &release, r#"{"as": "tess"}"#).await;
            assert_eq!(s, 403, "a buyer key cannot release: {e}");
            let (s, e) = send_as(&w, ADMIN_KEY, &release, r#"{"as": "tess"}"#).await;
            assert_eq!(s, 200, "{e}");
            assert_eq!(e["state"], "released");
            let (s, e) = send_as(
                &w,
                ADMIN_KEY,
                &format!("/v1/payments/{payment}/settle"),
                r#"{"as": "tess"}"#,
            )
            .await;
            assert_eq!((s, e["state"].as_str()), (200, Some("settled")), "{e}");
            assert_eq!(
                get(&w, &format!("/v1/payments/{payment}")).await["state"],
                "settled"
            );
            assert_eq!(
                get(&w, &format!("/v1/invoices/{id}")).await["invoice"]["state"],
                "paid"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the approved exception was never released");
}
