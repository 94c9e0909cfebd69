//! kill -9 trials: `accord serve` on SQLite is killed with SIGKILL at random moments
//! while supplier bots negotiate a campaign, and restarted on the same port each time.
//! Afterwards no acknowledged move is lost, none is applied twice, every answering
//! supplier's negotiation is closed and the audit chain verifies.
//!
//! CI runs a few kills; `scripts/kill-trials.sh` runs more (`KILL_TRIALS=20`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use accord_core::id::NegotiationId;
use accord_sim::bot::RetryPolicy;
use accord_sim::{BotConfig, Enterprise, EnterpriseConfig, run_bots};
use accord_store::{AnyStore, OpenOptions};
use rand::{Rng, SeedableRng};

use crate::Accord;
use crate::multinode::{check_negotiations, free_port, serve, start_campaign, wait_healthy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_killed_repeatedly_loses_and_doubles_nothing() {
    let trials: usize = std::env::var("KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let suppliers: usize = std::env::var("KILL_SUPPLIERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let a = Accord::new();
    a.ok(&["init"]);
    let enterprise = Enterprise::generate(
        &EnterpriseConfig {
            suppliers,
            spend_lines: suppliers * 20,
            ..EnterpriseConfig::default()
        },
        3,
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
    // Every request of the test itself is bounded too (the bots bound theirs).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut server = serve(&a, port);
    wait_healthy(&client, &base).await;
    let invitations = start_campaign(&client, &base, "kill trials", 3).await;
    let ids: Vec<NegotiationId> = invitations
        .iter()
        .map(|i| NegotiationId::parse(i.url.rsplit('/').next().unwrap()).unwrap())
        .collect();
    let total = invitations.len();

    let done = Arc::new(AtomicUsize::new(0));
    let config = BotConfig {
        seed: 3,
        concurrency: 8,
        base_urls: vec![base.clone()],
        // Long enough to ride out a restart.
        retry: RetryPolicy {
            max_tries: 200,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(250),
        },
        ..BotConfig::default()
    };
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
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut kills = 0;
    while kills < trials && !bots.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..700))).await;
        server.kill().unwrap();
        server.wait().unwrap();
        kills += 1;
        server = serve(&a, port);
        wait_healthy(&client, &base).await;
    }
    // A bounded wait, so that a stall fails with where it stood instead of holding CI.
    let report = match tokio::time::timeout(Duration::from_secs(240), bots).await {
        Ok(joined) => joined.unwrap().unwrap(),
        Err(_) => panic!(
            "the bots did not finish within 240 s: {} of {total} suppliers done, {kills} kills, \
             server healthy: {}",
            done.load(Ordering::SeqCst),
            client
                .get(format!("{base}/v1/health"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        ),
    };
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "kill trials: {kills} kills, {} of {total} suppliers done, {} moves, {} retries, by status {:?}",
        done.load(Ordering::SeqCst),
        report.moves,
        report.retries,
        report.by_status
    );
    assert!(
        kills >= trials.min(1),
        "the server was killed at least once"
    );
    assert_eq!(
        report.errors, 0,
        "every bot finished: {:?}",
        report.by_status
    );
    let store = AnyStore::open(
        a.data_dir().join("accord.db").to_str().unwrap(),
        OpenOptions::default(),
    )
    .await
    .unwrap();
    check_negotiations(&store, &ids, &report).await;
    drop(store);
    let verify = a.ok(&["audit", "verify"]);
    assert!(verify.contains("OK"), "{verify}");
}
