//! CSV import: all-or-nothing, idempotent, every bad row named as `file:line: column: …`.

use crate::{Accord, examples, stderr};

const SUPPLIERS: &str = "supplier_ref,name,region,size_class\nS1,Acme,FR,micro\nS2,Bolt,IN,small\n";

fn initialised() -> Accord {
    let a = Accord::new();
    a.ok(&["init"]);
    let f = a.file("suppliers.csv", SUPPLIERS);
    a.ok(&["import", "suppliers", &f]);
    a
}

#[test]
fn quickstart_imports_the_examples_and_reimport_changes_nothing() {
    let a = Accord::new();
    let out = a.ok(&["quickstart", examples().to_str().unwrap()]);
    assert!(out.contains("audit log OK"), "{out}");
    assert!(out.contains("suppliers       5"), "{out}");
    assert!(out.contains("contracts       2"), "{out}");
    assert!(out.contains("spend lines     6"), "{out}");
    let before = a.entries();
    assert_eq!(
        before,
        1 + 5 + 2 + 6,
        "genesis, suppliers, contracts, spend"
    );
    let again = a.ok(&["quickstart", examples().to_str().unwrap()]);
    assert!(again.contains("0 new, 0 updated, 5 unchanged"), "{again}");
    assert_eq!(a.entries(), before);
}

#[test]
fn every_bad_row_is_reported_and_nothing_is_written() {
    let a = initialised();
    let before = a.entries();
    let spend = a.file(
        "spend.csv",
        "line_ref,supplier_ref,date,category,sku,description,quantity,amount,currency\n\
         L1,S1,2026-01-02,office,,Paper,10,100.00,EUR\n\
         L2,S1,2026-01-02,office,,Paper,10,100.00,EUX\n\
         L3,S1,2026-01-02,office,,Paper,-1,100.00,EUR\n\
         L4,S1,2026-02-30,office,,Paper,1,100.00,EUR\n\
         L5,S9,2026-01-02,office,,Paper,1,100.00,EUR\n\
         L1,S2,2026-01-03,office,,Toner,1,5.00,EUR\n",
    );
    let out = a.run(&["import", "spend", &spend]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for expected in [
        format!("{spend}:3: currency: unknown currency `EUX`"),
        format!("{spend}:4: quantity: quantity `-1` must be positive"),
        format!("{spend}:5: date: malformed date `2026-02-30`: expected YYYY-MM-DD"),
        format!("{spend}:6: supplier_ref: unknown supplier `S9` (import suppliers first)"),
        format!("{spend}:7: line_ref: duplicate key `L1`, first seen on line 2"),
        "5 bad field(s); nothing was imported".to_owned(),
    ] {
        assert!(err.contains(&expected), "missing `{expected}` in:\n{err}");
    }
    assert_eq!(a.entries(), before, "a bad file writes nothing");
}

#[test]
fn malformed_headers_and_csv_are_refused() {
    let a = initialised();
    let f = a.file(
        "s.csv",
        "supplier_ref,name,regoin,size_class\nS3,X,FR,micro\n",
    );
    let err = stderr(&a.run(&["import", "suppliers", &f]));
    assert!(
        err.contains(&format!("{f}:1: regoin: unknown column")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{f}:1: region: required column is missing")),
        "{err}"
    );
    let f = a.file("e.csv", "");
    let err = stderr(&a.run(&["import", "suppliers", &f]));
    assert!(err.contains("is empty: expected a header row"), "{err}");
}

#[test]
fn changed_master_data_is_an_update_and_changed_history_a_conflict() {
    let a = initialised();
    let f = a.file(
        "s2.csv",
        "supplier_ref,name,region,size_class\nS1,Acme SAS,FR,small\nS2,Bolt,IN,small\n",
    );
    let out = a.ok(&["import", "suppliers", &f]);
    assert!(out.contains("0 new, 1 updated, 1 unchanged"), "{out}");

    let spend = "line_ref,supplier_ref,date,category,description,quantity,amount,currency\n";
    let f = a.file(
        "sp.csv",
        &format!("{spend}L1,S1,2026-01-02,office,Paper,10,100.00,EUR\n"),
    );
    a.ok(&["import", "spend", &f]);
    let before = a.entries();
    let g = a.file("sp2.csv", &format!("{spend}L2,S1,2026-01-02,office,Pens,1,3.00,EUR\nL1,S1,2026-01-02,office,Paper,10,90.00,EUR\n"));
    let out = a.run(&["import", "spend", &g]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!(
        "{g}:3: line_ref: line `L1` already exists with other data"
    )));
    assert_eq!(
        a.entries(),
        before,
        "the good row L2 was not written either"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let a = initialised();
    let before = a.entries();
    let f = a.file(
        "s3.csv",
        "supplier_ref,name,region,size_class\nS7,New,DE,large\n",
    );
    let out = a.ok(&["import", "suppliers", "--dry-run", &f]);
    assert!(out.contains("dry run"), "{out}");
    assert_eq!(a.entries(), before);
}

#[test]
fn uninitialised_data_dir_is_a_clear_error() {
    let a = Accord::new();
    let out = a.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not an accord data dir; run `accord --data-dir"),
        "{}",
        stderr(&out)
    );
    a.ok(&["init"]);
    let again = a.run(&["init"]);
    assert!(stderr(&again).contains("already initialised"));
}

/// The same importer over HTTP on a running `accord serve`: the example suppliers import,
/// a second post changes nothing, a file with bad rows is refused with each bad field by
/// line and column and writes nothing, and only the admin key may import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_over_http_is_all_or_nothing() {
    use crate::multinode::{KEY, free_port, serve, wait_healthy};
    let a = Accord::new();
    a.ok(&["init"]);
    let port = free_port();
    let mut server = serve(&a, port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let post = |kind: &str, key: &str, body: String| {
        client
            .post(format!("{base}/v1/import/{kind}"))
            .bearer_auth(key.to_owned())
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let suppliers = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/erp/suppliers.csv"),
    )
    .unwrap();
    let r = post("suppliers", KEY, suppliers.clone()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let done: serde_json::Value = r.json().await.unwrap();
    assert!(done["created"].as_u64().unwrap() > 0, "{done}");
    let again: serde_json::Value = post("suppliers", KEY, suppliers)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );

    let seq = |v: serde_json::Value| v["last_seq"].as_u64().unwrap();
    let health = || async {
        client
            .get(format!("{base}/v1/health"))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = seq(health().await);
    let bad = "line_ref,supplier_ref,date,category,sku,description,quantity,amount,currency\n\
               L1,S-1001,2026-01-02,office,,Paper,10,100.00,EUR\n\
               L2,S-1001,2026-01-02,office,,Paper,10,100.00,EUX\n\
               L3,S-9999,2026-01-02,office,,Paper,1,100.00,EUR\n";
    let r = post("spend", KEY, bad.to_owned()).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "invalid_rows", "{e}");
    let errors = e["error"]["details"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{e}");
    assert_eq!(
        (errors[0]["line"].as_u64(), errors[0]["column"].as_str()),
        (Some(3), Some("currency"))
    );
    assert_eq!(
        (errors[1]["line"].as_u64(), errors[1]["column"].as_str()),
        (Some(4), Some("supplier_ref"))
    );
    assert_eq!(seq(health().await), before, "a refused file writes nothing");

    let r = post("spend", "not-a-key", bad.to_owned()).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = post("invoices", KEY, bad.to_owned()).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    server.kill().unwrap();
    server.wait().unwrap();
}
