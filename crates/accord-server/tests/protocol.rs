//! The supplier protocol over real HTTP on loopback, against a real SQLite store: token
//! scoping, every bad-input case (each changes nothing), a negotiation to its close, an
//! idempotent replay, expiry, a restart that rebuilds negotiations from the log, campaign
//! pause and resume, and buyer offers held inside a campaign's mandate.

use std::sync::Arc;

use accord_agents::host::Governance;
use accord_agents::{Campaigns, Host, HostOptions};
use accord_core::document::SpendLine;
use accord_core::id::{SpendLineId, SupplierId};
use accord_core::{
    CategoryCode, Currency, Event, FxTable, Money, RegionCode, RiskTier, SizeClass, Supplier,
    SupplierStatus,
};
use accord_policy::{AutonomyLevel, AutonomyTable, CategoryAutonomy, PolicySet};
use accord_server::{ApiKeys, AppState, Role};
use accord_store::{AnyStore, Append, SqliteOptions, SqliteStore, Store, VerifyOptions};
use serde_json::{Value, json};

const KEY: &str = "test-buyer-key";
const AUDITOR_KEY: &str = "test-auditor-key";

struct Server {
    base: String,
    store: AnyStore,
    campaigns: Arc<Campaigns<AnyStore>>,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

fn governance() -> Arc<Governance> {
    let mut autonomy = AutonomyTable::default();
    autonomy.set(
        CategoryCode::parse("tail").unwrap(),
        CategoryAutonomy::new(AutonomyLevel::ActAlone, 0),
    );
    let mut fx = FxTable::new(Currency::EUR);
    fx.set(Currency::USD, "1.08".parse().unwrap()).unwrap();
    Arc::new(Governance::new(Arc::new(PolicySet::default_pack()), fx, autonomy).unwrap())
}

async fn serve(store: AnyStore, dir: tempfile::TempDir) -> Server {
    let gov = governance();
    let host = Arc::new(Host::new(
        store.clone(),
        gov.clone(),
        HostOptions::default(),
    ));
    let campaigns = Arc::new(Campaigns::new(host.clone(), gov.fx.clone()));
    let mut keys = ApiKeys::default();
    keys.insert("tester", KEY, Role::Buyer);
    keys.insert("reader", AUDITOR_KEY, Role::Auditor);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        host,
        campaigns: campaigns.clone(),
        p2p: procurement(&store).await,
        keys: Arc::new(keys),
        users: Arc::new(std::collections::BTreeMap::from([(
            "ada".to_owned(),
            vec![accord_core::governance::Role::Approver],
        )])),
        importer: None,
        base_url: base.clone(),
    };
    let task = tokio::spawn(async move {
        axum::serve(listener, accord_server::router(state))
            .await
            .unwrap();
    });
    Server {
        base,
        store,
        campaigns,
        _dir: dir,
        task,
    }
}

/// Procure-to-pay over the store (the protocol tests do not use it).
async fn procurement(store: &AnyStore) -> Arc<accord_agents::p2p::Procurement<AnyStore>> {
    let gate = Arc::new(
        accord_policy::Gate::new(Arc::new(PolicySet::default_pack()), Currency::EUR).unwrap(),
    );
    let governance = accord_policy::Governance::open(
        store.clone(),
        gate,
        accord_policy::GovernanceConfig::default(),
    )
    .await
    .unwrap();
    Arc::new(accord_agents::p2p::Procurement::new(
        store.clone(),
        Arc::new(governance),
        Arc::new(FxTable::new(Currency::EUR)),
    ))
}

/// A store with `n` small French suppliers, each with a year of spend.
async fn seeded(n: u64) -> (AnyStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = AnyStore::Sqlite(
        SqliteStore::open(&dir.path().join("accord.db"), SqliteOptions::default())
            .await
            .unwrap(),
    );
    let mut commands = Vec::new();
    for i in 1..=n {
        let supplier = Supplier {
            id: SupplierId::from_parts(1_700_000_000_000 + i, u128::from(i)),
            external_ref: format!("S-{i}"),
            name: format!("Supplier {i}"),
            region: RegionCode::parse("FR").unwrap(),
            size: SizeClass::Small,
            status: SupplierStatus::Active,
            risk: RiskTier::Low,
            bank: None,
            payment_days: Some(30),
        };
        commands.push(Append::new(Event::SupplierRegistered {
            supplier: supplier.clone(),
        }));
        for m in 1..=4u64 {
            commands.push(Append::new(Event::SpendRecorded {
                line: SpendLine {
                    id: SpendLineId::from_parts(
                        1_700_000_000_000 + i * 10 + m,
                        u128::from(i * 10 + m),
                    ),
                    external_ref: format!("L-{i}-{m}"),
                    supplier: supplier.id,
                    category: CategoryCode::parse("office").unwrap(),
                    sku: Some("PAPER".into()),
                    description: "paper".into(),
                    quantity: "100".parse().unwrap(),
                    amount: Money::new(100 * 1_250 * i as i64, Currency::EUR),
                    date: chrono::NaiveDate::from_ymd_opt(2026, m as u32 * 2, 1).unwrap(),
                },
            }));
        }
    }
    store.append_batch(commands).await.unwrap();
    (store, dir)
}

async fn start_campaign(c: &reqwest::Client, base: &str, template: Value) -> Vec<Value> {
    let created: Value = c
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(KEY)
        .json(&json!({"name": "tail", "rule": {"bottom_share": "1", "expiring_within_days": 90}, "template": template, "seed": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("campaign id").to_owned();
    let r = c
        .post(format!("{base}/v1/campaigns/{id}/start"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn template(open_hours: u32) -> Value {
    let mut t =
        serde_json::to_value(accord_core::negotiation::CampaignTemplate::default()).unwrap();
    t["open_hours"] = json!(open_hours);
    t
}

async fn error_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[tokio::test]
async fn protocol_end_to_end() {
    let (store, dir) = seeded(3).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let base = &server.base;
    let inv = start_campaign(&c, base, template(24)).await;
    assert_eq!(
        inv.len(),
        3,
        "every supplier is in the tail at share 1: {inv:?}"
    );
    let (a, b) = (&inv[0], &inv[1]);
    let url_a = a["url"].as_str().unwrap();
    let tok_a = a["token"].as_str().unwrap();
    let tok_b = b["token"].as_str().unwrap();

    // The opening: the buyer has offered; it is the supplier's turn.
    let view: Value = c
        .get(url_a)
        .bearer_auth(tok_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "open");
    assert_eq!(view["turn"], "supplier");
    assert_eq!(view["offers"].as_array().unwrap().len(), 1);
    let version = view["version"].as_u64().unwrap();
    assert_eq!(version, 2, "opened + the buyer's first offer");

    // Token scoping: another supplier's token, no token, an unknown id.
    let r = c.get(url_a).bearer_auth(tok_b).send().await.unwrap();
    assert_eq!(error_code(r).await, (403, "forbidden".into()));
    let r = c.get(url_a).send().await.unwrap();
    assert_eq!(error_code(r).await, (401, "unauthorized".into()));
    let r = c
        .get(format!("{base}/v1/negotiations/nope"))
        .bearer_auth(tok_a)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (404, "not_found".into()));

    let moves = format!("{url_a}/moves");
    let post = |key: &str, body: String| {
        c.post(&moves)
            .bearer_auth(tok_a)
            .header("Idempotency-Key", key)
            .header("content-type", "application/json")
            .body(body)
    };
    // Bad inputs, each refused with a stable code.
    let r = post("k1", "{\"move\": ".into()).send().await.unwrap();
    assert_eq!(error_code(r).await, (400, "malformed_json".into()));
    let r = post(
        "k1",
        json!({"move": "accept", "option": "first"}).to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_move".into()));
    let r = post("k1", json!({"move": "dance"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "invalid_move".into()));
    let r = post("k1", json!({"move": "accept", "option": 5}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "no_such_option".into()));
    let mut off_grid = view["offers"][0].clone();
    off_grid["price"]["minor"] = json!(off_grid["price"]["minor"].as_i64().unwrap() + 1);
    let r = post(
        "k1",
        json!({"move": "counter", "offer": off_grid}).to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(error_code(r).await, (422, "out_of_domain".into()));
    let mut far = view["offers"][0].clone();
    far["payment_days"] = json!(400);
    let r = post("k1", json!({"move": "counter", "offer": far}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (422, "out_of_domain".into()));
    let r = c
        .post(&moves)
        .bearer_auth(tok_a)
        .json(&json!({"move": "end"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (400, "missing_idempotency_key".into()));
    let r = post(
        "k1",
        format!("{{\"move\": \"end\", \"pad\": \"{}\"}}", "x".repeat(20_000)),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(error_code(r).await, (413, "body_too_large".into()));
    let r = c
        .post(&moves)
        .bearer_auth(tok_b)
        .header("Idempotency-Key", "k1")
        .json(&json!({"move": "end"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (403, "forbidden".into()));
    let unchanged: Value = c
        .get(url_a)
        .bearer_auth(tok_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        unchanged["version"], version,
        "refused moves change nothing"
    );

    // A counter inside the bounds: the buyer answers in the same response.
    let mut counter = view["offers"][0].clone();
    counter["price"] = view["bounds"]["price_max"].clone();
    let body = json!({"move": "counter", "offer": counter}).to_string();
    let r = post("k2", body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.unwrap();
    assert_eq!(after["history"].as_array().unwrap().len(), 3);
    assert!(
        after["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["rationale"].is_null()),
        "the agent's reasoning is not shown to the supplier"
    );
    assert!(after["version"].as_u64().unwrap() > version);
    // The same key and body again: the state, nothing applied twice.
    let r = post("k2", body.clone()).send().await.unwrap();
    assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
    let again: Value = r.json().await.unwrap();
    assert_eq!(again["version"], after["version"]);
    // The same key with another body is refused.
    let r = post("k2", json!({"move": "end"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (409, "idempotency_key_reused".into()));

    // Accept the buyer's standing offer: a deal, a contract, a verdict naming policies.
    let closed: Value = post("k3", json!({"move": "accept", "option": 0}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        closed["status"] == "agreed" || closed["status"] == "escalated",
        "{closed}"
    );
    assert!(closed["agreed"].is_object());
    let r = post("k4", json!({"move": "end"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (409, "negotiation_closed".into()));
    let neg_id = closed["id"].as_str().unwrap();
    let doc = server
        .store
        .document("negotiation", neg_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.state, closed["status"].as_str().unwrap());
    assert!(
        !doc.data["verdict"]["policy_ids"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        doc.data
    );

    // Supplier B walks away.
    let r = c
        .post(format!("{}/moves", b["url"].as_str().unwrap()))
        .bearer_auth(tok_b)
        .header("Idempotency-Key", "b1")
        .json(&json!({"move": "end"}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "declined");

    // Live counts.
    let campaign = v["campaign"].as_str().unwrap();
    let status: Value = c
        .get(format!("{base}/v1/campaigns/{campaign}"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["invited"], 1);
    assert_eq!(status["declined"], 1);
    assert_eq!(
        status["agreed"].as_u64().unwrap() + status["escalated"].as_u64().unwrap(),
        1
    );
    let r = c
        .get(format!("{base}/v1/campaigns/{campaign}"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (401, "unauthorized".into()));

    // The buyer lists the campaign's negotiations, page by page, with their states and
    // without the token hashes.
    let mut states = Vec::new();
    let mut after = String::new();
    loop {
        let page: Value = c
            .get(format!(
                "{base}/v1/campaigns/{campaign}/negotiations?limit=1&after={after}"
            ))
            .bearer_auth(AUDITOR_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for n in page["negotiations"].as_array().unwrap() {
            assert!(n["negotiation"].get("token_hash").is_none(), "{n}");
            assert!(n["supplier_ref"].is_string(), "{n}");
            states.push(n["state"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    states.sort();
    let total = status["invited"].as_u64().unwrap()
        + status["declined"].as_u64().unwrap()
        + status["agreed"].as_u64().unwrap()
        + status["escalated"].as_u64().unwrap()
        + status["engaged"].as_u64().unwrap();
    assert_eq!(states.len() as u64, total, "{states:?}");
    assert_eq!(states.iter().filter(|s| *s == "declined").count(), 1);

    // OpenAPI is served.
    let doc: Value = c
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/negotiations/{id}/moves"]["post"].is_object());
    for scheme in ["supplier_token", "api_key"] {
        assert_eq!(
            doc["components"]["securitySchemes"][scheme]["scheme"], "bearer",
            "{scheme}"
        );
    }

    // A restarted server rebuilds every negotiation from the log.
    server.task.abort();
    let store = server.store.clone();
    let restarted = serve(store.clone(), tempfile::tempdir().unwrap()).await;
    let url_a2 = url_a.replace(base.as_str(), &restarted.base);
    let view2: Value = c
        .get(&url_a2)
        .bearer_auth(tok_a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view2["status"], closed["status"]);
    assert_eq!(view2["version"], closed["version"]);
    assert_eq!(view2["history"], closed["history"]);
    let report = store.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test]
async fn expired_negotiations_refuse_moves_and_sweep_closes_them() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let inv = start_campaign(&c, &server.base, template(0)).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Reading it shows it expired: never "open" past its deadline.
    let view: Value = c
        .get(inv[1]["url"].as_str().unwrap())
        .bearer_auth(inv[1]["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "expired");
    assert!(view["allowed_moves"].as_array().unwrap().is_empty());
    let r = c
        .post(format!("{}/moves", inv[0]["url"].as_str().unwrap()))
        .bearer_auth(inv[0]["token"].as_str().unwrap())
        .header("Idempotency-Key", "e1")
        .json(&json!({"move": "accept", "option": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (410, "negotiation_expired".into()));
    let view: Value = c
        .get(inv[0]["url"].as_str().unwrap())
        .bearer_auth(inv[0]["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "expired");
    let campaign = view["campaign"].as_str().unwrap();
    let swept: Value = c
        .post(format!("{}/v1/campaigns/{campaign}/sweep", server.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(swept["expired"], 0, "both were closed when touched");
    let status: Value = c
        .get(format!("{}/v1/campaigns/{campaign}", server.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["expired"], 2);
    assert_eq!(status["state"], "completed");
}

async fn get_json(c: &reqwest::Client, url: &str, token: &str) -> Value {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.unwrap()
}

/// Creates a campaign over every supplier without starting it; returns its id.
async fn create_campaign(c: &reqwest::Client, base: &str, template: Value) -> String {
    let created: Value = c
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(KEY)
        .json(&json!({"name": "tail", "rule": {"bottom_share": "1", "expiring_within_days": 90}, "template": template, "seed": 7}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().expect("campaign id").to_owned()
}

/// `POST /v1/campaigns/{id}/{what}` (pause or resume) with `body`, as `key`.
async fn change(
    c: &reqwest::Client,
    base: &str,
    id: &str,
    what: &str,
    key: &str,
    body: &str,
) -> reqwest::Response {
    c.post(format!("{base}/v1/campaigns/{id}/{what}"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The states the campaign's stream records, in order, with their reasons.
async fn campaign_log(store: &AnyStore, id: &str) -> Vec<(String, String)> {
    let id = accord_core::id::CampaignId::parse(id).unwrap();
    store
        .read_stream(&accord_core::event::campaign_stream(id), 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| match e.event().unwrap() {
            Event::CampaignCreated { .. } => ("draft".to_owned(), String::new()),
            Event::CampaignStateChanged { state, reason, .. } => (state, reason),
            other => panic!("unexpected {}", other.kind()),
        })
        .collect()
}

#[tokio::test]
async fn a_paused_campaign_holds_every_move_until_it_resumes() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let base = &server.base;
    let inv = start_campaign(&c, base, template(24)).await;
    let (url, token) = (
        inv[0]["url"].as_str().unwrap(),
        inv[0]["token"].as_str().unwrap(),
    );
    let view = get_json(&c, url, token).await;
    assert_eq!(view["paused"], false);
    let campaign = view["campaign"].as_str().unwrap().to_owned();

    // Who may pause: a buyer-role key (or admin), not an auditor, not nobody.
    let r = change(&c, base, &campaign, "pause", AUDITOR_KEY, "").await;
    assert_eq!(error_code(r).await, (403, "forbidden".into()));
    let r = c
        .post(format!("{base}/v1/campaigns/{campaign}/pause"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, (401, "unauthorized".into()));
    // Bad bodies and unknown campaigns are refused too.
    let r = change(&c, base, &campaign, "pause", KEY, "{\"reason\": ").await;
    assert_eq!(error_code(r).await, (400, "malformed_json".into()));
    let r = change(&c, base, &campaign, "pause", KEY, "{\"why\": \"x\"}").await;
    assert_eq!(error_code(r).await, (422, "invalid_request".into()));
    let r = change(&c, base, "nope", "pause", KEY, "").await;
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    let unknown = accord_core::id::CampaignId::new().to_string();
    let r = change(&c, base, &unknown, "pause", KEY, "").await;
    assert_eq!(error_code(r).await, (404, "not_found".into()));
    assert_eq!(campaign_log(&server.store, &campaign).await.len(), 2);

    let r = change(
        &c,
        base,
        &campaign,
        "pause",
        KEY,
        r#"{"reason": "supplier data check"}"#,
    )
    .await;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["state"], "paused");

    // The supplier's move is held: 503, nothing written, and reading still works.
    let post = || {
        c.post(format!("{url}/moves"))
            .bearer_auth(token)
            .header("Idempotency-Key", "held-1")
            .json(&json!({"move": "accept", "option": 0}))
            .send()
    };
    let last_seq = server.store.last_seq().await.unwrap();
    let r = post().await.unwrap();
    assert_eq!(error_code(r).await, (503, "campaign_paused".into()));
    assert_eq!(server.store.last_seq().await.unwrap(), last_seq);
    let held = get_json(&c, url, token).await;
    assert_eq!(held["status"], "open");
    assert_eq!(held["paused"], true);
    assert_eq!(held["version"], view["version"], "nothing changed");
    for path in ["", "/report"] {
        let r: Value = get_json(&c, &format!("{base}/v1/campaigns/{campaign}{path}"), KEY).await;
        let state = if path.is_empty() {
            &r["state"]
        } else {
            &r["status"]["state"]
        };
        assert_eq!(state, "paused", "{path}: {r}");
    }
    // A sweep expires nothing while paused; a second pause is illegal and writes nothing.
    let swept: Value = c
        .post(format!("{base}/v1/campaigns/{campaign}/sweep"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(swept["expired"], 0);
    let r = change(&c, base, &campaign, "pause", KEY, "").await;
    assert_eq!(
        error_code(r).await,
        (409, "illegal_campaign_transition".into())
    );
    assert_eq!(server.store.last_seq().await.unwrap(), last_seq);

    // Resume (an empty body is fine); resuming twice is illegal.
    let r = change(&c, base, &campaign, "resume", KEY, "").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "running");
    let r = change(&c, base, &campaign, "resume", KEY, "{}").await;
    assert_eq!(
        error_code(r).await,
        (409, "illegal_campaign_transition".into())
    );

    // The same request now goes through.
    let r = post().await.unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert!(
        done["status"] == "agreed" || done["status"] == "escalated",
        "{done}"
    );
    assert_eq!(done["paused"], false);
    assert_eq!(
        campaign_log(&server.store, &campaign).await,
        [
            ("draft".to_owned(), String::new()),
            ("running".to_owned(), "2 suppliers invited".to_owned()),
            (
                "paused".to_owned(),
                "paused by `tester`: supplier data check".to_owned()
            ),
            ("running".to_owned(), "resumed by `tester`".to_owned()),
        ]
    );
    let report = server
        .store
        .verify(&VerifyOptions::default())
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[tokio::test]
async fn illegal_campaign_transitions_are_refused_and_write_nothing() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let base = &server.base;

    // A draft campaign can be neither paused nor resumed.
    let draft = create_campaign(&c, base, template(24)).await;
    let last_seq = server.store.last_seq().await.unwrap();
    for what in ["pause", "resume"] {
        let r = change(&c, base, &draft, what, KEY, "").await;
        let (status, code) = error_code(r).await;
        assert_eq!(
            (status, code.as_str()),
            (409, "illegal_campaign_transition"),
            "{what}"
        );
    }
    // Nor a completed one (every negotiation expired and was swept).
    let inv = start_campaign(&c, base, template(0)).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let view = get_json(
        &c,
        inv[0]["url"].as_str().unwrap(),
        inv[0]["token"].as_str().unwrap(),
    )
    .await;
    let done = view["campaign"].as_str().unwrap().to_owned();
    c.post(format!("{base}/v1/campaigns/{done}/sweep"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = get_json(&c, &format!("{base}/v1/campaigns/{done}"), KEY).await;
    assert_eq!(status["state"], "completed");
    let after = server.store.last_seq().await.unwrap();
    for what in ["pause", "resume"] {
        let r = change(&c, base, &done, what, KEY, "").await;
        let (status, code) = error_code(r).await;
        assert_eq!(
            (status, code.as_str()),
            (409, "illegal_campaign_transition"),
            "{what}"
        );
    }
    assert_eq!(server.store.last_seq().await.unwrap(), after);
    assert_eq!(campaign_log(&server.store, &draft).await.len(), 1);
    assert!(after > last_seq);
}

#[tokio::test]
async fn of_two_concurrent_pauses_exactly_one_writes() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let base = &server.base;
    let inv = start_campaign(&c, base, template(24)).await;
    let view = get_json(
        &c,
        inv[0]["url"].as_str().unwrap(),
        inv[0]["token"].as_str().unwrap(),
    )
    .await;
    let campaign = view["campaign"].as_str().unwrap();
    for round in 0..3 {
        let (a, b) = tokio::join!(
            change(&c, base, campaign, "pause", KEY, r#"{"reason": "a"}"#),
            change(&c, base, campaign, "pause", KEY, r#"{"reason": "b"}"#),
        );
        let mut codes = vec![error_code(a).await, error_code(b).await];
        codes.sort();
        assert_eq!(
            codes,
            [
                (200, String::new()),
                (409, "illegal_campaign_transition".into())
            ],
            "round {round}"
        );
        let r = change(&c, base, campaign, "resume", KEY, "").await;
        assert_eq!(r.status(), 200);
    }
    let log = campaign_log(&server.store, campaign).await;
    let states: Vec<&str> = log.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        states,
        [
            "draft", "running", "paused", "running", "paused", "running", "paused", "running"
        ]
    );
}

#[tokio::test]
async fn a_pause_moves_every_deadline_by_its_length() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let base = &server.base;
    let inv = start_campaign(&c, base, template(1)).await;
    let (url, token) = (
        inv[0]["url"].as_str().unwrap(),
        inv[0]["token"].as_str().unwrap(),
    );
    let view = get_json(&c, url, token).await;
    let campaign = view["campaign"].as_str().unwrap().to_owned();
    let id = accord_core::id::CampaignId::parse(&campaign).unwrap();
    let due: chrono::DateTime<chrono::Utc> = view["expires_at"].as_str().unwrap().parse().unwrap();

    let r = change(&c, base, &campaign, "pause", KEY, "").await;
    assert_eq!(r.status(), 200);
    // While paused nothing expires, even long past the deadline.
    let later = due + chrono::Duration::hours(5);
    assert_eq!(server.campaigns.sweep(id, later).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = change(&c, base, &campaign, "resume", KEY, "").await;
    assert_eq!(r.status(), 200);

    // The deadline moved by the pause's length, and the sweep follows it.
    let moved: chrono::DateTime<chrono::Utc> = get_json(&c, url, token).await["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let shift = moved - due;
    assert!(
        shift >= chrono::Duration::milliseconds(300) && shift < chrono::Duration::seconds(5),
        "{due} -> {moved}"
    );
    let just_after = due + chrono::Duration::milliseconds(100);
    assert_eq!(server.campaigns.sweep(id, just_after).await.unwrap(), 0);
    assert_eq!(server.campaigns.sweep(id, later).await.unwrap(), 2);
    let status = get_json(&c, &format!("{base}/v1/campaigns/{campaign}"), KEY).await;
    assert_eq!(status["state"], "completed");
}

#[tokio::test]
async fn buyer_offers_never_leave_the_campaign_mandate() {
    let (store, dir) = seeded(2).await;
    let server = serve(store, dir).await;
    let c = reqwest::Client::new();
    let mut t = template(24);
    t["meso"] = json!(true);
    // The strategy would concede up to today's price; this mandate allows the buyer's
    // price to rise at most 2% of today's price above its opening offer.
    t["mandate"] = json!({"max_price_concession": "0.02"});
    let inv = start_campaign(&c, &server.base, t).await;
    let (url, token) = (
        inv[0]["url"].as_str().unwrap(),
        inv[0]["token"].as_str().unwrap(),
    );
    let mut view = get_json(&c, url, token).await;
    let today = view["current_terms"]["price"]["minor"].as_i64().unwrap();
    // The supplier holds its hardest line until the negotiation ends.
    let b = view["bounds"].clone();
    let hard = json!({
        "price": b["price_max"],
        "payment_days": b["payment_days"][0],
        "lead_time_days": b["lead_time_days"][1],
        "contract_months": b["contract_months"][0],
        "early_payment": null,
    });
    let mut n = 0;
    while view["status"] == "open" {
        n += 1;
        let r = c
            .post(format!("{url}/moves"))
            .bearer_auth(token)
            .header("Idempotency-Key", format!("hard-{n}"))
            .json(&json!({"move": "counter", "offer": hard}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        view = r.json().await.unwrap();
        assert!(
            view["history"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m.get("guard").is_none()),
            "the guardrails' verdicts are not shown to the supplier"
        );
    }

    let id = accord_core::id::NegotiationId::parse(view["id"].as_str().unwrap()).unwrap();
    let events = server
        .store
        .read_stream(&accord_core::event::negotiation_stream(id), 0, 1000)
        .await
        .unwrap();
    let mut offers = Vec::new();
    let mut withheld = 0;
    for e in &events {
        let Event::NegotiationMoved { record } = e.event().unwrap() else {
            continue;
        };
        if record.party != accord_core::negotiation::Party::Buyer {
            continue;
        }
        let guard = record.guard.expect("every buyer move records its guard");
        withheld += guard.refused.len();
        if let accord_core::negotiation::MoveAction::Offer { options } = record.action {
            assert_eq!(guard.verdicts.len(), options.len());
            assert!(guard.verdicts.iter().all(|v| !v.policy_ids.is_empty()));
            offers.push(options.iter().map(|o| o.price.minor).collect::<Vec<_>>());
        }
    }
    let opening = *offers[0].iter().min().unwrap();
    let limit = opening + (today * 2 + 50) / 100;
    for o in &offers {
        assert!(
            o.iter().all(|p| *p <= limit),
            "{o:?} above {limit}: {offers:?}"
        );
    }
    assert!(
        withheld > 0,
        "the mandate was tighter than the strategy: {offers:?}"
    );
}
