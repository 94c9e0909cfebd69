//! Several `accord serve` processes on one PostgreSQL run one campaign together: supplier
//! bots spread over both nodes, one node is killed with SIGKILL mid-campaign, the bots
//! fail over, and afterwards no negotiation has a move applied twice or lost, every bot
//! finished, and the audit chain verifies.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use accord_core::event::negotiation_stream;
use accord_core::id::NegotiationId;
use accord_core::negotiation::Party;
use accord_sim::{BotConfig, BotReport, Enterprise, EnterpriseConfig, Invitation, run_bots};
use accord_store::{AnyStore, OpenOptions, Store};
use sqlx::{Connection, Executor};

use crate::Accord;

pub const KEY: &str = "multinode-test-key";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `accord serve`, killed when dropped, so that a test that fails midway does
/// not leave its server behind.
pub struct Served(Child);

impl std::ops::Deref for Served {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Already killed and waited for on the normal path; both then fail harmlessly.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn serve(a: &Accord, port: u16) -> Served {
    Served(
        Command::new(env!("CARGO_BIN_EXE_accord"))
            .arg("--data-dir")
            .arg(a.data_dir())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(a.database_url.as_ref().map(|u| ("ACCORD_DATABASE_URL", u)))
            .env("ACCORD_API_KEY", KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

pub async fn wait_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/v1/health")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_campaign_and_survive_a_kill() {
    let Ok(base) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED two_nodes_share_a_campaign_and_survive_a_kill: ACCORD_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let name = format!("accord_multinode_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let url = format!("{}/{name}", &base[..base.rfind('/').unwrap()]);

    // One data dir (configuration and node key) for both nodes; the state is in PostgreSQL.
    let mut a = Accord::new();
    a.database_url = Some(url.clone());
    a.ok(&["init"]);
    let enterprise = Enterprise::generate(
        &EnterpriseConfig {
            suppliers: 60,
            spend_lines: 1_200,
            ..EnterpriseConfig::default()
        },
        11,
    )
    .unwrap();
    let erp = a.dir.path().join("erp");
    accord_sim::export::write_dir(&enterprise, &erp).unwrap();
    for kind in ["suppliers", "contracts", "spend"] {
        let file = erp.join(format!("{kind}.csv"));
        a.ok(&["import", kind, file.to_str().unwrap()]);
    }

    let (pa, pb) = (free_port(), free_port());
    let mut node_a = serve(&a, pa);
    let mut node_b = serve(&a, pb);
    let (url_a, url_b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let client = reqwest::Client::new();
    wait_healthy(&client, &url_a).await;
    wait_healthy(&client, &url_b).await;

    let invitations = start_campaign(&client, &url_a, "shared", 5).await;
    assert!(invitations.len() >= 40, "{}", invitations.len());
    // Half the suppliers were invited through node A, half through node B.
    let invitations: Vec<Invitation> = invitations
        .into_iter()
        .enumerate()
        .map(|(i, mut inv)| {
            if i % 2 == 1 {
                inv.url = inv.url.replace(&url_a, &url_b);
            }
            inv
        })
        .collect();
    let ids: Vec<NegotiationId> = invitations
        .iter()
        .map(|i| NegotiationId::parse(i.url.rsplit('/').next().unwrap()).unwrap())
        .collect();

    let done = Arc::new(AtomicUsize::new(0));
    let config = BotConfig {
        seed: 5,
        concurrency: 8,
        base_urls: vec![url_a.clone(), url_b.clone()],
        ..BotConfig::default()
    };
    let total = invitations.len();
    let bots = {
        let done = done.clone();
        let enterprise = enterprise.clone();
        tokio::spawn(async move {
            run_bots(&config, &enterprise, invitations, &|d, _| {
                done.store(d, Ordering::SeqCst)
            })
            .await
        })
    };
    // Kill node A with SIGKILL once a fifth of the suppliers are done.
    while done.load(Ordering::SeqCst) < total / 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    let report = bots.await.unwrap().unwrap();
    node_b.kill().unwrap();
    node_b.wait().unwrap();
    assert_eq!(
        report.errors, 0,
        "every bot finished: {:?}",
        report.by_status
    );
    assert!(report.failovers > 0, "some bots had to fail over to node B");

    let store = AnyStore::open(&url, OpenOptions::default()).await.unwrap();
    check_negotiations(&store, &ids, &report).await;
    let verify = a.ok(&["audit", "verify"]);
    assert!(verify.contains("OK"), "{verify}");
    drop(store);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

/// Creates a campaign over every supplier through `base`'s buyer API, starts it and
/// returns the invitations.
pub async fn start_campaign(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    seed: u64,
) -> Vec<Invitation> {
    let created: serde_json::Value = client
        .post(format!("{base}/v1/campaigns"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"name": name, "rule": {"bottom_share": "1"}, "seed": seed}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let campaign = created["id"].as_str().expect("a campaign id").to_owned();
    let invitations: Vec<serde_json::Value> = client
        .post(format!("{base}/v1/campaigns/{campaign}/start"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    invitations
        .iter()
        .map(|v| Invitation {
            url: v["url"].as_str().unwrap().to_owned(),
            token: v["token"].as_str().unwrap().to_owned(),
            supplier_ref: v["supplier_ref"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Every negotiation: moves numbered 1..n without gaps or repeats, no supplier
/// idempotency key applied twice, every answering bot's negotiation closed, and exactly
/// the supplier moves the bots had acknowledged in the log.
pub async fn check_negotiations(store: &AnyStore, ids: &[NegotiationId], report: &BotReport) {
    for (id, outcome) in ids.iter().zip(&report.outcomes) {
        let events = store
            .read_stream(&negotiation_stream(*id), 0, 10_000)
            .await
            .unwrap();
        let mut numbers = Vec::new();
        let mut parties = Vec::new();
        let mut keys = std::collections::HashSet::new();
        let mut closed = false;
        for e in &events {
            match e.event().unwrap() {
                accord_core::Event::NegotiationMoved { record } => {
                    numbers.push(record.number);
                    parties.push(record.party);
                    if let Some(k) = record.idempotency_key {
                        assert!(keys.insert(k), "a move applied twice in {id}");
                    }
                }
                accord_core::Event::NegotiationClosed { .. } => closed = true,
                _ => {}
            }
        }
        assert_eq!(
            numbers,
            (1..=numbers.len() as u32).collect::<Vec<_>>(),
            "{id}"
        );
        assert!(
            parties.windows(2).all(|w| w[0] != w[1]),
            "turns alternate in {id}: {parties:?}"
        );
        if outcome.status != "silent" {
            assert!(
                closed,
                "{id} ({}) is not closed: {outcome:?}",
                outcome.supplier_ref
            );
            assert_eq!(
                parties.iter().filter(|p| **p == Party::Supplier).count() as u32,
                outcome.moves,
                "every acknowledged supplier move is in the log exactly once ({id})"
            );
        }
    }
}

/// `accord agents pause`, run while `accord serve` is up, stops every supplier move with
/// `503 agents_paused` and changes nothing; after `accord agents resume` the same request
/// goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logged_kill_switch_holds_negotiations() {
    let a = Accord::new();
    a.ok(&["init"]);
    a.add_config("\n[users.ada]\nroles = [\"admin\"]\n");
    let enterprise = Enterprise::generate(
        &EnterpriseConfig {
            suppliers: 10,
            spend_lines: 200,
            ..EnterpriseConfig::default()
        },
        2,
    )
    .unwrap();
    let erp = a.dir.path().join("erp");
    accord_sim::export::write_dir(&enterprise, &erp).unwrap();
    for kind in ["suppliers", "contracts", "spend"] {
        let file = erp.join(format!("{kind}.csv"));
        a.ok(&["import", kind, file.to_str().unwrap()]);
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve(&a, port);
    wait_healthy(&client, &base).await;
    let invitations = start_campaign(&client, &base, "paused", 2).await;
    let inv = &invitations[0];
    let post = || {
        client
            .post(format!("{}/moves", inv.url))
            .bearer_auth(&inv.token)
            .header("Idempotency-Key", "held-1")
            .json(&serde_json::json!({"move": "accept", "option": 0}))
            .send()
    };

    a.ok(&["agents", "pause", "--as", "ada", "--reason", "fraud alert"]);
    // Another process changed the log: the server sees it within its 1 s poll.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = post().await.unwrap();
    assert_eq!(r.status(), 503);
    let refused = r.json::<serde_json::Value>().await.unwrap();
    assert_eq!(refused["error"]["code"], "agents_paused");
    let view: serde_json::Value = client
        .get(&inv.url)
        .bearer_auth(&inv.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(view["status"], "open", "the negotiation holds its state");
    assert_eq!(view["version"], 2);

    a.ok(&["agents", "resume", "--as", "ada", "--reason", "cleared"]);
    let mut resumed = false;
    for _ in 0..50 {
        let r = post().await.unwrap();
        if r.status() == 200 {
            resumed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(resumed, "moves go through again after resume");
}

/// Two `accord serve` nodes on one PostgreSQL: a campaign paused through one node holds
/// moves sent to the other at once (no polling interval), and a resume through the second
/// lets the first move again, because each node commits a move only if the campaign's
/// stream is still at the version it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_paused_on_one_node_holds_moves_on_another() {
    let Ok(base) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED a_campaign_paused_on_one_node_holds_moves_on_another: ACCORD_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let name = format!("accord_pause_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let mut a = Accord::new();
    a.database_url = Some(format!("{}/{name}", &base[..base.rfind('/').unwrap()]));
    pause_across_nodes(a).await;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

async fn pause_across_nodes(a: Accord) {
    a.ok(&["init"]);
    a.ok(&[
        "import",
        "suppliers",
        &a.file("suppliers.csv", crate::autonomy::SUPPLIERS),
    ]);
    a.ok(&[
        "import",
        "spend",
        &a.file("spend.csv", crate::autonomy::SPEND),
    ]);
    let (pa, pb) = (free_port(), free_port());
    let mut node_a = serve(&a, pa);
    let mut node_b = serve(&a, pb);
    let (url_a, url_b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let client = reqwest::Client::new();
    wait_healthy(&client, &url_a).await;
    wait_healthy(&client, &url_b).await;
    let invitations = start_campaign(&client, &url_a, "paused across nodes", 4).await;
    let inv = &invitations[0];
    let on_b = inv.url.replace(&url_a, &url_b);
    let view = |url: String| {
        let client = client.clone();
        let token = inv.token.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let accept = |url: String| {
        client
            .post(format!("{url}/moves"))
            .bearer_auth(&inv.token)
            .header("Idempotency-Key", "across-1")
            .json(&serde_json::json!({"move": "accept", "option": 0}))
            .send()
    };
    // Node B has read the campaign as running, and caches that.
    let before = view(on_b.clone()).await;
    assert_eq!(before["paused"], false);
    let campaign = before["campaign"].as_str().unwrap().to_owned();
    let change = |base: &str, what: &str| {
        client
            .post(format!("{base}/v1/campaigns/{campaign}/{what}"))
            .bearer_auth(KEY)
            .send()
    };

    assert_eq!(change(&url_a, "pause").await.unwrap().status(), 200);
    let r = accept(on_b.clone()).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "campaign_paused");
    let held = view(inv.url.clone()).await;
    assert_eq!(held["version"], before["version"], "nothing changed");
    assert_eq!(held["paused"], true);

    assert_eq!(change(&url_b, "resume").await.unwrap().status(), 200);
    let r = accept(inv.url.clone()).await.unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    node_b.kill().unwrap();
    node_b.wait().unwrap();
    let verify = a.ok(&["audit", "verify"]);
    assert!(verify.contains("OK"), "{verify}");
}
