//! `accord bench hold`: how much memory a node needs to hold many open negotiations. A
//! child process generates and imports an enterprise into a SQLite data dir; this process
//! then opens one negotiation per supplier through a campaign, makes first supplier moves
//! on a random sample through the negotiation host (so its bounded cache evicts and
//! rebuilds from the log), and reports resident memory from `/proc/self/status`, the time
//! to open, moves per second, what the read model still has open, and `audit verify`.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use accord_agents::{HostOptions, MoveError, SupplierMove};
use accord_core::deal::Terms;
use accord_core::id::NegotiationId;
use accord_core::negotiation::{CampaignTemplate, Party, TailRule};
use accord_policy::AutonomyLevel;
use accord_sim::bot::WireMove;
use accord_sim::{Enterprise, EnterpriseConfig};
use accord_store::{Store, VerifyOptions};
use anyhow::Context;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::{Node, progress_bar};
use crate::cli::{BenchHoldArgs, GlobalArgs, ImportArgs, InitArgs};
use crate::config::DataDir;

pub async fn run(g: &GlobalArgs, args: BenchHoldArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.negotiations > 0, "--negotiations must be at least 1");
    anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
    if args.setup_only {
        let dir = args.dir.clone().context("--setup-only needs --dir")?;
        return setup(g, &dir, &args).await;
    }
    let scratch;
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    let n = args.negotiations;
    let options = HostOptions {
        cache_capacity: args
            .cache_capacity
            .unwrap_or(HostOptions::default().cache_capacity),
        ..HostOptions::default()
    };
    println!(
        "accord bench hold: {n} open negotiations, {} first supplier moves ({} in flight) through the Host API, host cache {} negotiations, SQLite",
        args.moves, args.concurrency, options.cache_capacity
    );
    println!(
        "machine: {} cores; data dir {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        root.display()
    );
    let started = Instant::now();
    let g = scoped(g, &root);

    // 1. The enterprise, generated and imported by a child process: this one never holds
    // it, so its memory is the node's (store, host, campaign) and the harness's.
    if !has_enterprise(&g).await? {
        let exe = std::env::current_exe()?;
        let status = tokio::process::Command::new(exe)
            .arg("bench")
            .arg("hold")
            .arg("--setup-only")
            .arg("--dir")
            .arg(&root)
            .arg("--negotiations")
            .arg(n.to_string())
            .arg("--seed")
            .arg(args.seed.to_string())
            .status()
            .await
            .context("cannot run the set-up child process")?;
        anyhow::ensure!(status.success(), "the set-up failed ({status})");
    } else {
        println!("== 1. reusing the enterprise already imported in this data dir");
    }
    let node = Node::open(&g).await?;
    let sampler = Sampler::start();
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (host, campaigns) = super::serve::runtime_with(&node, &logged, options)?;
    let rss_ready = proc_kib("VmRSS:");

    // 2. Open: a campaign over every active supplier, at most `n` of them.
    let now = chrono::Utc::now();
    let campaign = campaigns
        .create(
            "bench hold",
            TailRule {
                bottom_share: Decimal::ONE,
                max_suppliers: Some(n),
                ..TailRule::default()
            },
            CampaignTemplate::default(),
            args.seed,
            "bench",
            now,
        )
        .await?;
    println!(
        "\n== 2. Opening: choosing the suppliers, building each negotiation and its first offer, 500 per append"
    );
    let bar = progress_bar(u64::from(n), "opening");
    let t = Instant::now();
    // When the first batch was opened: choosing the suppliers (`tail::select`) is most of it.
    let first_batch = std::sync::OnceLock::new();
    let invitations = campaigns
        .start(campaign.id, "http://bench.invalid", now, &|done, total| {
            first_batch.get_or_init(|| (done, t.elapsed().as_secs_f64()));
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .await?;
    let open_secs = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let status = campaigns.status(campaign.id).await?;
    let rss_open = proc_kib("VmRSS:");
    let open_mem = sampler.phase();
    println!(
        "   {} negotiations opened in {open_secs:.1} s ({:.0}/s); open in the read model: {}",
        invitations.len(),
        invitations.len() as f64 / open_secs,
        status.open()
    );
    if let Some((done, secs)) = first_batch.get() {
        let rest = open_secs - secs;
        println!(
            "   the first {done} were open after {secs:.1} s (choosing the suppliers from the spend read model, then building them); \
             the remaining {} took {rest:.1} s ({:.2} ms each: building each negotiation's valuation and first offer, and the append)",
            invitations.len() - done,
            rest * 1000.0 / (invitations.len() - done).max(1) as f64
        );
    }
    if invitations.len() < n as usize {
        println!(
            "   note: only {} suppliers qualified (active, no long contract), fewer than --negotiations {n}",
            invitations.len()
        );
    }
    // What the harness itself holds: the invitations (ids, tokens, URLs).
    let harness_kib = invitations
        .iter()
        .map(|i| i.negotiation.len() + i.supplier_ref.len() + i.token.len() + i.url.len() + 96)
        .sum::<usize>()
        / 1024;
    println!(
        "   VmRSS {} (before opening {}; the harness's invitation list is about {} of it); host cache holds {}",
        mib(rss_open),
        mib(rss_ready),
        mib(Some(harness_kib as u64)),
        host.cached()
    );
    println!("   while opening: {open_mem}");

    // 3. Moves: one first supplier move on each of a random sample of the negotiations.
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let k = (args.moves as usize).min(invitations.len());
    let sample: Vec<(NegotiationId, String)> =
        rand::seq::index::sample(&mut rng, invitations.len(), k)
            .into_iter()
            .map(|i| {
                let inv = &invitations[i];
                NegotiationId::parse(&inv.negotiation)
                    .map(|id| (id, inv.token.clone()))
                    .map_err(|e| anyhow::anyhow!("negotiation id: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
    drop(invitations);
    println!(
        "\n== 3. Moves: {k} first supplier moves on {k} distinct negotiations chosen at random, through the Host API (no HTTP): \
         each reads the negotiation (a cache miss rebuilds it from its stream), then counters the buyer's first option at today's price"
    );
    let sample = Arc::new(sample);
    let next = Arc::new(AtomicUsize::new(0));
    let bar = progress_bar(k as u64, "moving");
    let t = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (host, sample, next, bar) = (host.clone(), sample.clone(), next.clone(), bar.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((id, token)) = sample.get(i) else {
                    break;
                };
                let began = Instant::now();
                match first_move(&host, *id, token, i).await {
                    Ok(true) => {
                        tally.moves += 1;
                        tally.micros.push(began.elapsed().as_micros() as u64);
                    }
                    Ok(false) => tally.not_suppliers_turn += 1,
                    Err(e) => {
                        if tally.errors.len() < 3 {
                            tally.errors.push(format!("{id}: {e}"));
                        }
                        tally.failed += 1;
                    }
                }
                bar.inc(1);
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for w in workers {
        let t = w.await?;
        tally.moves += t.moves;
        tally.not_suppliers_turn += t.not_suppliers_turn;
        tally.failed += t.failed;
        tally.micros.extend(t.micros);
        tally.errors.extend(t.errors);
    }
    let move_secs = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let rss_moves = proc_kib("VmRSS:");
    let moves_mem = sampler.phase();
    let hwm_hold = proc_kib("VmHWM:");
    tally.micros.sort_unstable();
    let pct = |p: f64| {
        tally
            .micros
            .get(((tally.micros.len() as f64 * p) as usize).min(tally.micros.len().max(1) - 1))
            .map_or(0.0, |&us| us as f64 / 1000.0)
    };
    println!(
        "   {} moves in {move_secs:.1} s: {:.0} moves/s; read + move latency p50 {:.1} ms, p99 {:.1} ms; {} not the supplier's turn, {} failed",
        tally.moves,
        tally.moves as f64 / move_secs,
        pct(0.50),
        pct(0.99),
        tally.not_suppliers_turn,
        tally.failed
    );
    for e in &tally.errors {
        println!("   error: {e}");
    }
    let status = campaigns.status(campaign.id).await?;
    println!(
        "   VmRSS {}; host cache holds {} (capacity {})",
        mib(rss_moves),
        host.cached(),
        host.options().cache_capacity
    );
    println!("   while moving: {moves_mem}");
    println!(
        "   read model: {} open ({} invited, {} engaged); closed: {} agreed, {} escalated, {} declined, {} no agreement, {} expired",
        status.open(),
        status.invited,
        status.engaged,
        status.agreed,
        status.escalated,
        status.declined,
        status.no_agreement,
        status.expired
    );

    // 4. The audit chain.
    println!("\n== 4. audit verify");
    let t = Instant::now();
    let verify = node.store.verify(&VerifyOptions::default()).await?;
    anyhow::ensure!(
        verify.is_ok(),
        "the audit chain does not verify: {verify:?}"
    );
    println!(
        "   {} entries and {} signed checkpoints verify ({:.1} s)",
        verify.entries,
        verify.checkpoints_verified,
        t.elapsed().as_secs_f64()
    );
    let verify_mem = sampler.phase();
    println!("   while verifying: {verify_mem} (verify maps the database file: file-backed pages)");
    let hwm = proc_kib("VmHWM:");
    println!("\n== Summary");
    println!(
        "   open negotiations {}   VmRSS after opening {}   after the moves {}",
        status.open(),
        mib(rss_open),
        mib(rss_moves),
    );
    println!(
        "   VmHWM (peak) over opening and moves {}; over the whole run, verify included, {}",
        mib(hwm_hold),
        mib(hwm)
    );
    println!(
        "   peak anonymous memory (sampled every 100 ms): opening {}, moves {}, verify {}",
        mib(Some(open_mem.anon)),
        mib(Some(moves_mem.anon)),
        mib(Some(verify_mem.anon))
    );
    println!(
        "   time to open {open_secs:.1} s   moves {:.0}/s   host cache {}   whole run {:.0} s",
        tally.moves as f64 / move_secs,
        host.options().cache_capacity,
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(tally.failed == 0, "{} moves failed", tally.failed);
    Ok(())
}

#[derive(Default)]
struct Tally {
    moves: u64,
    not_suppliers_turn: u64,
    failed: u64,
    micros: Vec<u64>,
    errors: Vec<String>,
}

/// One supplier's first move: read the negotiation as the supplier sees it and, on its
/// turn, counter the buyer's first option at today's price (a point of the space: today's
/// price is on the price grid). `false` when it is not the supplier's turn.
async fn first_move(
    host: &accord_agents::Host<accord_store::AnyStore>,
    id: NegotiationId,
    token: &str,
    i: usize,
) -> Result<bool, MoveError> {
    let view = host.view(id, token).await?;
    let Some(&first) = view.offers.first() else {
        return Ok(false);
    };
    if view.status != "open" || view.turn != Some(Party::Supplier) {
        return Ok(false);
    }
    let offer = Terms {
        price: view.current_terms.price,
        ..first
    };
    // The request hash as the server computes it: of the move's JSON as the bot sends it.
    let body = serde_json::to_vec(&WireMove::Counter { offer })
        .map_err(|e| MoveError::Agent(accord_agents::AgentError::Invalid(e.to_string())))?;
    let hash = hex::encode(Sha256::digest(&body));
    let key = format!("bench-hold-{i}");
    host.submit(
        id,
        token,
        Some(&key),
        &hash,
        &SupplierMove::Counter { offer },
        chrono::Utc::now(),
    )
    .await?;
    Ok(true)
}

/// The child's job: a fresh data dir with an enterprise big enough for `--negotiations`.
async fn setup(g: &GlobalArgs, root: &std::path::Path, args: &BenchHoldArgs) -> anyhow::Result<()> {
    let g = scoped(g, root);
    let dir = DataDir::new(root.to_owned());
    // About 80% of the generated suppliers qualify (active, no contract running on past
    // 90 days): generate a third more than the negotiations wanted.
    let suppliers = args.negotiations as usize * 4 / 3 + 100;
    let lines = suppliers * 2;
    println!(
        "== 1. Set-up (child process): a data dir, an enterprise of {suppliers} suppliers and {lines} spend lines (seed {}), imported",
        args.seed
    );
    let t = Instant::now();
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
    let enterprise = Enterprise::generate(
        &EnterpriseConfig {
            suppliers,
            spend_lines: lines,
            ..EnterpriseConfig::default()
        },
        args.seed,
    )?;
    let erp = root.join("erp");
    accord_sim::export::write_dir(&enterprise, &erp)?;
    drop(enterprise);
    for (kind, path) in crate::import::files_in(&erp)? {
        let code = super::import::import_one(
            &node,
            kind,
            ImportArgs {
                file: path,
                dry_run: false,
            },
        )
        .await?;
        anyhow::ensure!(code == ExitCode::SUCCESS, "the import failed");
    }
    std::fs::remove_dir_all(&erp).ok();
    println!(
        "   set-up done in {:.1} s; the child's VmHWM {}",
        t.elapsed().as_secs_f64(),
        mib(proc_kib("VmHWM:"))
    );
    Ok(())
}

/// Whether the data dir is initialised and already holds suppliers.
async fn has_enterprise(g: &GlobalArgs) -> anyhow::Result<bool> {
    if !DataDir::new(g.data_dir.clone()).is_initialised() {
        return Ok(false);
    }
    let node = Node::open(g).await?;
    Ok(node.store.counts().await?.suppliers > 0)
}

/// The global flags with the data dir set to the benchmark's; SQLite only.
fn scoped(g: &GlobalArgs, root: &std::path::Path) -> GlobalArgs {
    GlobalArgs {
        data_dir: root.to_owned(),
        database_url: None,
        config: None,
        log_format: g.log_format,
        verbose: g.verbose,
    }
}

/// A `/proc/self/status` field in KiB (Linux), e.g. `VmRSS:` or `VmHWM:`.
fn proc_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".into(), |k| {
        format!("{:.0} MiB", k as f64 / 1024.0)
    })
}

/// Resident memory peaks seen since the last [`Sampler::phase`], in KiB.
#[derive(Clone, Copy, Debug, Default)]
struct Peaks {
    rss: u64,
    /// Heap and other private memory (`RssAnon`).
    anon: u64,
    /// Mapped files (`RssFile`): SQLite maps the database for reads.
    file: u64,
}

impl std::fmt::Display for Peaks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "peak VmRSS {} (peak RssAnon {}, peak RssFile {}; sampled every 100 ms)",
            mib(Some(self.rss)),
            mib(Some(self.anon)),
            mib(Some(self.file))
        )
    }
}

/// Reads `/proc/self/status` every 100 ms on a thread of its own and keeps the peaks of
/// each phase, so a phase's peak can be split into heap and mapped file.
struct Sampler {
    peaks: Arc<std::sync::Mutex<Peaks>>,
}

impl Sampler {
    fn start() -> Sampler {
        let peaks = Arc::new(std::sync::Mutex::new(Peaks::default()));
        let weak = Arc::downgrade(&peaks);
        std::thread::spawn(move || {
            while let Some(peaks) = weak.upgrade() {
                if let (Some(rss), Some(anon), Some(file)) = (
                    proc_kib("VmRSS:"),
                    proc_kib("RssAnon:"),
                    proc_kib("RssFile:"),
                ) {
                    let mut p = peaks.lock().expect("sampler poisoned");
                    p.rss = p.rss.max(rss);
                    p.anon = p.anon.max(anon);
                    p.file = p.file.max(file);
                }
                drop(peaks);
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        Sampler { peaks }
    }

    /// The peaks since the previous call, starting afresh.
    fn phase(&self) -> Peaks {
        std::mem::take(&mut *self.peaks.lock().expect("sampler poisoned"))
    }
}
