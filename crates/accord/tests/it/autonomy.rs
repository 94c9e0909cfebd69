//! `accord autonomy set`, run while `accord serve` is up, changes what the agents may do
//! in that category from the next decision on: a deal the agent closed alone under
//! `act_alone` is escalated for approval under `recommend_only`, and closed alone again
//! once the category is set back. Categories the log never set keep the built-in
//! default (`tail` acts alone).

use std::time::Duration;

use accord_store::{AnyStore, OpenOptions, Store};

use crate::Accord;
use crate::multinode::{free_port, serve, start_campaign, wait_healthy};

/// Three small, low-risk French suppliers without contracts: every negotiation is in the
/// `tail` category, and each deal is small enough for the agent to award alone.
pub const SUPPLIERS: &str = "\
supplier_ref,name,region,size_class,status,risk_tier,payment_days,iban,bic
S-1,Papeterie Un,FR,small,active,low,30,,
S-2,Papeterie Deux,FR,small,active,low,30,,
S-3,Papeterie Trois,FR,small,active,low,30,,
";

pub const SPEND: &str = "\
line_ref,supplier_ref,date,category,sku,description,quantity,amount,currency
L-1,S-1,2026-03-02,office-supplies,PAPER,A4 paper (box),100,420.00,EUR
L-2,S-2,2026-03-02,office-supplies,PAPER,A4 paper (box),110,462.00,EUR
L-3,S-3,2026-03-02,office-supplies,PAPER,A4 paper (box),120,504.00,EUR
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logged_autonomy_decides_awards() {
    let a = Accord::new();
    a.ok(&["init"]);
    a.add_config("\n[users.cleo]\nroles = [\"category_manager\"]\n");
    a.ok(&["import", "suppliers", &a.file("suppliers.csv", SUPPLIERS)]);
    a.ok(&["import", "spend", &a.file("spend.csv", SPEND)]);

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve(&a, port);
    wait_healthy(&client, &base).await;
    let invitations = start_campaign(&client, &base, "autonomy", 3).await;
    assert_eq!(invitations.len(), 3);
    let accept = |i: usize| {
        let inv = &invitations[i];
        let client = client.clone();
        async move {
            let r = client
                .post(format!("{}/moves", inv.url))
                .bearer_auth(&inv.token)
                .header("Idempotency-Key", format!("accept-{i}"))
                .json(&serde_json::json!({"move": "accept", "option": 0}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let view: serde_json::Value = r.json().await.unwrap();
            view["status"].as_str().unwrap().to_owned()
        }
    };
    let set = |level: &str| {
        a.ok(&[
            "autonomy",
            "set",
            "tail",
            "--level",
            level,
            "--as",
            "cleo",
            "--reason",
            "autonomy test",
        ])
    };

    // Never set in the log: the built-in default lets the agent close alone.
    assert_eq!(accept(0).await, "agreed");
    // Set by another process while the server runs; it polls the log every second.
    set("recommend_only");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(accept(1).await, "escalated");
    set("act_alone");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(accept(2).await, "agreed");
    server.kill().unwrap();
    server.wait().unwrap();

    // The escalation names the autonomy policy that kept the agent from acting alone.
    let store = AnyStore::open(
        &a.data_dir().join("accord.db").display().to_string(),
        OpenOptions::default(),
    )
    .await
    .unwrap();
    let id = invitations[1].url.rsplit('/').next().unwrap();
    let doc = store.document("negotiation", id).await.unwrap().unwrap();
    assert_eq!(doc.state, "escalated");
    let reason = doc.data["reason"].as_str().unwrap();
    assert!(
        reason.contains("category_manager") && reason.contains("autonomy.recommend-only"),
        "{reason}"
    );
    let ids = &doc.data["verdict"]["policy_ids"];
    assert!(
        ids.as_array()
            .unwrap()
            .iter()
            .any(|p| p == "autonomy.recommend-only"),
        "{ids}"
    );
}
