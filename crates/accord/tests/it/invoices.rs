//! `accord invoices import`: good documents go in and are matched, a bad one is refused
//! with its rule and element and stores nothing, the same document again stores nothing;
//! the shared EN 16931 corpus reads, but its sellers are unknown here, so each is refused
//! with the reason; the match tolerances of accord.toml are the ones applied.

use accord_core::Currency;
use accord_p2p::{DraftInvoice, DraftLine};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::{Accord, stderr};

fn draft(number: &str) -> DraftInvoice {
    DraftInvoice {
        number: number.into(),
        issue_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        due_date: Some(NaiveDate::from_ymd_opt(2026, 12, 2).unwrap()),
        currency: Currency::EUR,
        order_ref: None,
        seller_id: "S1".into(),
        seller_name: "Acme".into(),
        vat_rate: Decimal::from(20),
        lines: vec![DraftLine {
            po_line: None,
            sku: "PAPER".into(),
            quantity: Decimal::from(4),
            unit_price: Decimal::new(250, 2),
        }],
    }
}

#[test]
fn import_stores_good_invoices_refuses_bad_ones_and_matches() {
    let a = Accord::new();
    a.ok(&["init"]);
    let suppliers = a.file(
        "suppliers.csv",
        "supplier_ref,name,region,size_class\nS1,Acme,FR,micro\n",
    );
    a.ok(&["import", "suppliers", &suppliers]);
    let inbox = a.data_dir().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("a.xml"), draft("INV-1").to_ubl()).unwrap();
    let broken = draft("INV-2").to_ubl().replace(
        "<cbc:PayableAmount currencyID=\"EUR\">12.00</cbc:PayableAmount>",
        "<cbc:PayableAmount currencyID=\"EUR\">11.00</cbc:PayableAmount>",
    );
    assert_ne!(
        broken,
        draft("INV-2").to_ubl(),
        "the payable amount was replaced"
    );
    std::fs::write(inbox.join("b.xml"), broken).unwrap();
    std::fs::write(inbox.join("notes.txt"), "not an invoice").unwrap();
    let before = a.entries();
    let out = a.run(&["invoices", "import", inbox.to_str().unwrap()]);
    let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{err}");
    assert!(
        stdout.contains("2 documents: 1 stored, 0 already received (nothing stored), 1 refused"),
        "{stdout}"
    );
    assert!(err.contains("b.xml: invoice_rule_violation"), "{err}");
    assert!(
        err.contains("BR-CO-16") || err.contains("PayableAmount"),
        "{err}"
    );
    // The invoice quotes no order: the matcher files it as an exception.
    assert!(stdout.contains("1 exception"), "{stdout}");
    let after = a.entries();
    assert!(after > before);

    // The same good document again stores nothing.
    let one = inbox.join("a.xml");
    let out = a.ok(&["invoices", "import", one.to_str().unwrap()]);
    assert!(out.contains("1 already received"), "{out}");
    assert_eq!(a.entries(), after);

    let metrics = a.ok(&["invoices", "metrics"]);
    assert!(metrics.contains("\"invoices\""), "{metrics}");
    a.ok(&["audit", "verify"]);
}

#[test]
fn the_shared_corpus_reads_but_unknown_sellers_are_refused_with_the_reason() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ubl");
    if !corpus.is_dir() {
        eprintln!("SKIPPED: {} not found", corpus.display());
        return;
    }
    let a = Accord::new();
    a.ok(&["init"]);
    let before = a.entries();
    let out = a.run(&["invoices", "import", corpus.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    // Every document parses and validates: the only refusals are unknown sellers.
    assert!(!err.contains("invoice_rule_violation"), "{err}");
    assert!(!err.contains("invoice_malformed"), "{err}");
    assert!(
        err.contains("unresolved: cannot tell which supplier sent invoice"),
        "{err}"
    );
    assert_eq!(a.entries(), before);
}

/// `accord init` writes the matcher's default tolerances into accord.toml, and a
/// tolerance that does not read stops every command with its key named, before anything
/// is opened or written.
#[test]
fn match_tolerances_live_in_accord_toml() {
    let a = Accord::new();
    a.ok(&["init"]);
    let config_file = a.data_dir().join("accord.toml");
    let written = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        written.contains("[matching.global]") && written.contains("price = \"2% or 1\""),
        "{written}"
    );
    let before = a.entries();
    std::fs::write(
        &config_file,
        format!("{written}\n[matching.categories.office]\nprice = \"5 percent\"\n"),
    )
    .unwrap();
    let out = a.run(&["status"]);
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("matching.categories.office.price: `5 percent` is not a tolerance"),
        "{err}"
    );
    std::fs::write(
        &config_file,
        format!("{written}\n[matching.categories.office]\nprice = \"5%\"\n"),
    )
    .unwrap();
    a.ok(&["status"]);
    assert_eq!(a.entries(), before);
}

/// The tolerances in accord.toml are the ones `accord serve`'s matcher applies: with the
/// category's price tolerance at 5%, an invoice 4% over the order's price (an exception
/// under the default 2% or 1.00) is released, and one 6% over is not. The released
/// invoice's payment is then listed, released and settled with `accord payments`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tolerances_from_accord_toml_then_payments_from_the_cli() {
    use crate::multinode::{KEY, free_port, serve, wait_healthy};
    use serde_json::Value;

    let a = Accord::new();
    a.ok(&["init"]);
    a.add_config("\n[users.cleo]\nroles = [\"admin\"]\n[users.tess]\nroles = [\"treasurer\"]\n");
    a.add_config("\n[matching.categories.office]\nprice = \"5%\"\n");
    let suppliers = a.file(
        "suppliers.csv",
        "supplier_ref,name,region,size_class\nS1,Acme,FR,micro\n",
    );
    a.ok(&["import", "suppliers", &suppliers]);
    let contracts = a.file(
        "contracts.csv",
        "contract_ref,supplier_ref,category,currency,sku,unit_price,payment_days,\
         lead_time_days,valid_from,valid_to\n\
         C1,S1,office,EUR,PAPER,100.00,60,5,2020-01-01,2099-12-31\n",
    );
    a.ok(&["import", "contracts", &contracts]);
    a.ok(&[
        "autonomy",
        "set",
        "office",
        "--level",
        "act_alone",
        "--as",
        "cleo",
        "--reason",
        "test",
    ]);

    let port = free_port();
    let mut server = serve(&a, port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let send = |path: String, key: &str, content_type: &'static str, body: String| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let key = key.to_owned();
        async move {
            let r = client
                .post(url)
                .bearer_auth(KEY)
                .header("content-type", content_type)
                .header("idempotency-key", key.clone())
                .body(body)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let requisition = r#"{"requester": "rita", "category": "office", "sku": "PAPER",
                          "description": "A4 paper", "quantity": "4"}"#;
    let (status, routed) = send(
        "/v1/requisitions".into(),
        "req-1",
        "application/json",
        requisition.into(),
    )
    .await;
    assert_eq!(
        (status, &routed["route"]),
        (201, &"ordered".into()),
        "{routed}"
    );
    let order = routed["order"]["id"].as_str().unwrap().to_owned();
    let number = routed["order"]["number"].as_str().unwrap().to_owned();
    let receipt = r#"{"received_on": "2026-11-20", "by": "dock",
                      "lines": [{"po_line": 1, "received": "4", "rejected": "0"}]}"#;
    let (status, body) = send(
        format!("/v1/orders/{order}/receipts"),
        "gr-1",
        "application/json",
        receipt.into(),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let invoice = |number_on_invoice: &str, price_cents: i64| {
        let mut d = draft(number_on_invoice);
        d.order_ref = Some(number.clone());
        d.lines[0].po_line = Some(1);
        d.lines[0].quantity = Decimal::from(2);
        d.lines[0].unit_price = Decimal::new(price_cents, 2);
        d.to_ubl()
    };
    let mut states = Vec::new();
    for (n, price_cents) in [("INV-4PCT", 10_400), ("INV-6PCT", 10_600)] {
        let (status, body) = send(
            "/v1/invoices".into(),
            n,
            "application/xml",
            invoice(n, price_cents),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().unwrap().to_owned();
        let mut state = Value::Null;
        for _ in 0..200 {
            let v: Value = client
                .get(format!("{base}/v1/invoices/{id}"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            state = v["invoice"]["state"].clone();
            if state != "received" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        states.push(state);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(states, ["approved", "exception"]);

    // The approved invoice's payment, from the command line: listed, released by a
    // treasurer (not by someone unknown, not twice), settled.
    let listed = a.ok(&["payments", "list", "--state", "scheduled"]);
    assert!(
        listed.contains("1 payment, total EUR 249.60") && listed.contains("scheduled"),
        "{listed}"
    );
    let json: Value = serde_json::from_str(&a.ok(&["payments", "list", "--json"])).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{json}");
    let id = json[0]["id"].as_str().unwrap().to_owned();
    let before = a.entries();
    let out = a.run(&["payments", "release", &id, "--as", "rita"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("unknown user `rita`"),
        "{}",
        stderr(&out)
    );
    assert_eq!(a.entries(), before, "a refused release writes nothing");
    let run = a.run(&[
        "payments",
        "release",
        "--due-by",
        "2099-12-31",
        "--as",
        "cleo",
    ]);
    assert_eq!(run.status.code(), Some(1), "an admin is not a treasurer");
    assert!(
        stderr(&run).contains(&format!("refused {id}")),
        "{}",
        stderr(&run)
    );
    let released = a.ok(&[
        "payments",
        "release",
        "--due-by",
        "2099-12-31",
        "--as",
        "tess",
    ]);
    assert!(
        released.contains("1 released (EUR 249.60), 0 refused"),
        "{released}"
    );
    let again = a.run(&["payments", "release", &id, "--as", "tess"]);
    assert_ne!(again.status.code(), Some(0), "released twice");
    a.ok(&["payments", "settle", &id, "--as", "tess"]);
    let settled = a.ok(&[
        "payments",
        "list",
        "--state",
        "settled",
        "--due-by",
        "2099-12-31",
    ]);
    assert!(settled.contains(&id), "{settled}");
    assert!(
        a.ok(&["payments", "list", "--state", "scheduled"])
            .contains("no payments"),
        "nothing left to pay"
    );
    a.ok(&["audit", "verify"]);
    // Orders, receipts, invoices, payments, decisions and tallies all match their replay.
    let checked = a.ok(&["audit", "projections"]);
    assert!(checked.contains("read models OK"), "{checked}");
    assert!(!checked.contains("tallies            0 rows"), "{checked}");
}
