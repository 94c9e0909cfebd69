//! `accord bench protocol`: supplier-protocol throughput and latency over real HTTP. A
//! scratch data dir gets a generated enterprise and a campaign over every active
//! supplier; then light load clients play the supplier side of the open negotiations
//! (each move a `reject`, so the buyer's agent must answer with a fresh offer, through
//! the mandate, the gate and one append to the log) for a fixed time, and the bench
//! reports moves per second and client-measured latency percentiles.
//!
//! The clients compute nothing: unlike the reference bots (`accord-sim::bot`), which
//! build a valuation table per supplier, they leave the two cores to the server, so the
//! figure is the server's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use accord_core::negotiation::{CampaignTemplate, TailRule};
use accord_policy::AutonomyLevel;
use accord_server::ApiKeys;
use accord_sim::bot::Latency;
use accord_sim::{Enterprise, EnterpriseConfig};
use accord_store::{Store, VerifyOptions};
use rust_decimal::Decimal;

use super::{Node, progress_bar};
use crate::cli::{BenchProtocolArgs, GlobalArgs, InitArgs};
use crate::config::DataDir;

/// One open negotiation a client may play.
struct Seat {
    url: String,
    token: String,
}

/// The two fields of a negotiation view the clients read.
#[derive(serde::Deserialize)]
struct Turn {
    status: String,
    turn: Option<String>,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u64>,
    errors: u64,
}

pub async fn run(g: &GlobalArgs, args: BenchProtocolArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.suppliers > 0, "--suppliers must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    println!(
        "accord bench protocol: {} suppliers, {} clients for {} s; machine: {} cores",
        args.suppliers,
        args.concurrency,
        args.seconds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let scratch = tempfile::tempdir()?;
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| scratch.path().join("data"));
    let dir = DataDir::new(root.clone());
    anyhow::ensure!(
        !dir.is_initialised(),
        "`{}` already holds a data dir; the bench needs a fresh one",
        root.display()
    );
    let g = GlobalArgs {
        data_dir: root,
        database_url: None,
        ..g.clone()
    };
    let setup = Instant::now();
    super::init::init(
        &g,
        &dir,
        &InitArgs {
            reporting_currency: "EUR".into(),
            checkpoint_every: 1000,
        },
    )
    .await?;
    let node = Node::open(&g).await?;
    let config = EnterpriseConfig {
        suppliers: args.suppliers,
        spend_lines: args.suppliers * 10,
        ..EnterpriseConfig::default()
    };
    let enterprise = Enterprise::generate(&config, 1)?;
    let code = super::demo::import_enterprise(&node, &enterprise, &dir.root.join("erp")).await?;
    anyhow::ensure!(
        code == std::process::ExitCode::SUCCESS,
        "importing the generated enterprise failed"
    );
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (host, campaigns) = super::serve::runtime(&node, &logged)?;
    let (p2p, _matcher) = super::serve::p2p_runtime(&node, logged, false)?;
    let running = super::serve::start(
        &node,
        host,
        campaigns.clone(),
        p2p,
        ApiKeys::default(),
        "127.0.0.1:0",
        None,
    )
    .await?;
    let now = chrono::Utc::now();
    let campaign = campaigns
        .create(
            "protocol bench",
            TailRule {
                bottom_share: Decimal::ONE,
                ..TailRule::default()
            },
            CampaignTemplate::default(),
            1,
            "bench",
            now,
        )
        .await?;
    let bar = progress_bar(0, "opening negotiations");
    let invitations = campaigns
        .start(campaign.id, &running.base_url, now, &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await?;
    bar.finish_and_clear();
    println!(
        "set-up: {} negotiations open in {:.1} s (generate, import, open with the agent's first offers)",
        invitations.len(),
        setup.elapsed().as_secs_f64()
    );
    let seats: Arc<Vec<Seat>> = Arc::new(
        invitations
            .into_iter()
            .map(|i| Seat {
                url: format!("{}/moves", i.url),
                token: i.token,
            })
            .collect(),
    );

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let next = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.concurrency);
    for _ in 0..args.concurrency {
        let (client, seats, next, closed) =
            (client.clone(), seats.clone(), next.clone(), closed.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            'seats: while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(seat) = seats.get(i) else { break };
                for n in 0.. {
                    if Instant::now() >= deadline {
                        break 'seats;
                    }
                    let sent = Instant::now();
                    let r = client
                        .post(&seat.url)
                        .bearer_auth(&seat.token)
                        .header("idempotency-key", format!("bench-{i}-{n}"))
                        .header("content-type", "application/json")
                        .body(r#"{"move":"reject"}"#)
                        .send()
                        .await;
                    let Ok(r) = r else {
                        tally.errors += 1;
                        continue 'seats;
                    };
                    let status = r.status().as_u16();
                    let body = r.bytes().await.unwrap_or_default();
                    if status != 200 {
                        // Closed meanwhile (the deadline, the rounds): take the next one.
                        if status != 409 && status != 410 {
                            tally.errors += 1;
                        }
                        continue 'seats;
                    }
                    tally.latencies_us.push(sent.elapsed().as_micros() as u64);
                    // Only two fields are read; serde skips the rest (offers, history).
                    let open = serde_json::from_slice::<Turn>(&body)
                        .is_ok_and(|t| t.status == "open" && t.turn.as_deref() == Some("supplier"));
                    if !open {
                        closed.fetch_add(1, Ordering::Relaxed);
                        continue 'seats;
                    }
                }
            }
            tally
        }));
    }
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.latencies_us.extend(t.latencies_us);
        all.errors += t.errors;
    }
    let secs = started.elapsed().as_secs_f64();
    let moves = all.latencies_us.len();
    let latency = Latency::of(all.latencies_us);
    println!(
        "{moves} supplier moves answered in {secs:.1} s: {:.0} moves/s; POST latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} negotiations played to their close, {} started; {} errors",
        moves as f64 / secs,
        latency.p50_ms,
        latency.p99_ms,
        latency.max_ms,
        closed.load(Ordering::Relaxed),
        next.load(Ordering::Relaxed).min(seats.len()),
        all.errors
    );
    running.task.abort();
    let verify = node.store.verify(&VerifyOptions::default()).await?;
    anyhow::ensure!(
        verify.is_ok(),
        "the audit chain does not verify: {verify:?}"
    );
    println!(
        "audit chain: {} entries and {} signed checkpoints verify",
        verify.entries, verify.checkpoints_verified
    );
    anyhow::ensure!(
        all.errors == 0,
        "{} requests failed (not a close): see the server log",
        all.errors
    );
    Ok(())
}
