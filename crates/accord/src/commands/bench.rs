//! `accord bench store` and `accord bench negotiate`: figures for BENCHMARKS.md, measured
//! on this machine and printed with what they include.

use std::process::ExitCode;

use accord_negotiate::{AgentKind, TournamentConfig, load::load_domains_dir, tournament};
use accord_store::Durability;
use accord_store::bench::{self, AppendMode, BenchEvent, BenchReport};
use anyhow::Context;

use super::progress_bar;
use crate::{
    cli::{BenchCommand, BenchImportArgs, BenchNegotiateArgs, BenchStoreArgs, GlobalArgs},
    config::{Config, DataDir},
    import::{self, Kind},
};

pub async fn run(g: &GlobalArgs, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Store(args) => store(g, args).await,
        BenchCommand::Import(args) => import(args).await,
        BenchCommand::Negotiate(args) => negotiate(args).await,
        BenchCommand::P2p(args) => super::bench_p2p::run(g, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        BenchCommand::Protocol(args) => super::bench_protocol::run(g, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        BenchCommand::Hold(args) => super::bench_hold::run(g, args)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

async fn store(g: &GlobalArgs, args: BenchStoreArgs) -> anyhow::Result<ExitCode> {
    let scratch;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    let n = args.events;
    let runs = args.runs.max(1);
    println!(
        "accord bench store: {n} events per append run ({} single), {runs} runs each, {} entries for verify",
        n / 4,
        args.verify_entries
    );
    println!(
        "machine: {} cores; scratch dir {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir.display()
    );
    let scenarios: [(&str, AppendMode, u64); 3] = [
        ("batched", AppendMode::Batched { batch: 10_000 }, n),
        ("single", AppendMode::Single, n / 4),
        (
            "group-commit",
            AppendMode::GroupCommit {
                writers: args.writers,
            },
            n,
        ),
    ];
    let mut results = Vec::new();
    // SQLite's own rate for the log's rows on this machine, beside Accord's.
    let mut sqlite_floor = Vec::new();
    // Run by run, every scenario in turn: the machine's slow minutes fall on all of them.
    for run in 1..=runs {
        for kind in [BenchEvent::Move, BenchEvent::Spend] {
            for (name, mode, events) in &scenarios {
                let sub = dir.join(name);
                std::fs::create_dir_all(&sub)?;
                let r = bench::bench_append_sqlite(&sub, *mode, kind, (*events).max(1)).await?;
                println!("[run {run}/{runs}] {r}");
                results.push(Measured {
                    scenario: name,
                    kind,
                    run,
                    per_second: r.per_second,
                });
            }
        }
        let sub = dir.join("rows");
        std::fs::create_dir_all(&sub)?;
        let r = bench::bench_sqlite_rows(&sub, n.max(1)).await?;
        println!("[run {run}/{runs}] {r}");
        sqlite_floor.push(r.per_second);
    }
    let sub = dir.join("import");
    std::fs::create_dir_all(&sub)?;
    let r = bench::bench_import_sqlite(&sub, n).await?;
    println!("{r}");
    let sub = dir.join("verify");
    std::fs::create_dir_all(&sub)?;
    let verify = bench::bench_verify_sqlite(&sub, args.verify_entries).await?;
    println!("{verify}");
    // Negotiation moves (the log's hot path, as in SQLite's headline) and spend lines
    // (with their read-model row), each per call and durability.
    let mut postgres: Vec<(usize, Durability, BenchEvent, Vec<f64>)> = Vec::new();
    for kind in [BenchEvent::Move, BenchEvent::Spend] {
        for (per_call, durability) in [
            (1, Durability::Full),
            (1, Durability::Normal),
            (100, Durability::Full),
        ] {
            postgres.push((per_call, durability, kind, Vec::new()));
        }
    }
    let mut floors: Vec<(usize, Vec<f64>)> = vec![(1, Vec::new()), (4, Vec::new())];
    if let Some(url) = &g.database_url {
        // As on SQLite: run by run, every scenario in turn.
        for run in 1..=runs {
            for (per_call, durability, kind, rates) in &mut postgres {
                let events = if *per_call == 1 { n / 8 } else { n / 2 };
                let r =
                    bench::bench_append_pg(url, 4, *per_call, events.max(1), *durability, *kind)
                        .await?;
                println!("[run {run}/{runs}] {r}");
                rates.push(r.per_second);
            }
            for (clients, rates) in &mut floors {
                let r = bench::bench_pg_commit_floor(url, *clients, (n / 8).max(1)).await?;
                println!("[run {run}/{runs}] {r}");
                rates.push(r.per_second);
            }
        }
    } else {
        postgres.clear();
        floors.clear();
        println!("postgres: skipped (pass --database-url postgres://… to measure it)");
    }
    print_store_summary(&results, &sqlite_floor, &verify, &postgres, &floors);
    Ok(ExitCode::SUCCESS)
}

/// One run's rate of one scenario.
struct Measured {
    scenario: &'static str,
    kind: BenchEvent,
    run: u32,
    per_second: f64,
}

/// The median of `values` (the upper one of an even count) and their range; zeros for
/// none.
fn median_and_range(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    (
        values[values.len() / 2],
        values[0],
        values[values.len() - 1],
    )
}

/// The figures set for the store (BENCHMARKS.md), next to what the runs measured: the
/// median run of each scenario, and the range over the runs.
fn print_store_summary(
    results: &[Measured],
    sqlite_floor: &[f64],
    verify: &BenchReport,
    postgres: &[(usize, Durability, BenchEvent, Vec<f64>)],
    pg_floors: &[(usize, Vec<f64>)],
) {
    let rates = |scenario: &str, kind: BenchEvent| -> Vec<f64> {
        results
            .iter()
            .filter(|m| m.scenario == scenario && m.kind == kind)
            .map(|m| m.per_second)
            .collect()
    };
    let runs = results.iter().map(|m| m.run).max().unwrap_or(1);
    let spread = |lo: f64, hi: f64| {
        if runs > 1 {
            format!("(runs {}–{})", thousands(lo), thousands(hi))
        } else {
            String::new()
        }
    };
    let floor = |value: f64, target: f64| {
        let verdict = if value >= target { "met" } else { "NOT met" };
        format!("target ≥ {}/s: {verdict}", thousands(target))
    };
    // One line of the summary: what, its rate, the range over the runs, the verdict.
    let row = |label: &str, rate: f64, range: &str, verdict: &str| {
        println!(
            "  {label:<41} {:>11}/s {range:<24} {verdict}",
            thousands(rate)
        );
    };
    println!(
        "\nagainst the store's targets (median of {runs} run{}):",
        if runs == 1 { "" } else { "s" }
    );
    let mut rows = vec![(
        "batched moves".to_string(),
        rates("batched", BenchEvent::Move),
        300_000.0,
    )];
    for (kind, label) in [
        (BenchEvent::Move, "moves"),
        (BenchEvent::Spend, "spend lines"),
    ] {
        rows.push((format!("single {label}"), rates("single", kind), 20_000.0));
    }
    // Machines of this kind differ by two from one session to the next; the share of
    // SQLite's own rate for the same rows on the same machine does not.
    let (sqlite_rows, rows_lo, rows_hi) = median_and_range(sqlite_floor.to_vec());
    for (label, values, target) in rows {
        let (median, lo, hi) = median_and_range(values);
        let mut verdict = floor(median, target);
        if label == "batched moves" && sqlite_rows > 0.0 {
            verdict += &format!(" ({:.0}% of SQLite's floor)", 100.0 * median / sqlite_rows);
        }
        row(&label, median, &spread(lo, hi), &verdict);
    }
    for (kind, label) in [
        (BenchEvent::Move, "moves"),
        (BenchEvent::Spend, "spend lines"),
    ] {
        let (group, lo, hi) = median_and_range(rates("group-commit", kind));
        let (batched, _, _) = median_and_range(rates("batched", kind));
        // Each run's group-commit rate against the batched rate of the same run.
        let shares: Vec<f64> = results
            .iter()
            .filter(|m| m.scenario == "group-commit" && m.kind == kind)
            .filter_map(|g| {
                results
                    .iter()
                    .find(|b| b.scenario == "batched" && b.kind == kind && b.run == g.run)
                    .map(|b| 100.0 * g.per_second / b.per_second.max(1.0))
            })
            .collect();
        let (_, share_lo, share_hi) = median_and_range(shares);
        let share_range = if runs > 1 {
            format!(" (runs {share_lo:.0}–{share_hi:.0}%)")
        } else {
            String::new()
        };
        row(
            &format!("group commit, {label}"),
            group,
            &spread(lo, hi),
            &format!(
                "{:.0}% of the batched rate{share_range} (target: close to it)",
                100.0 * group / batched.max(1.0)
            ),
        );
    }
    row(
        "verify",
        verify.per_second,
        "",
        &floor(verify.per_second, 500_000.0),
    );
    if sqlite_rows > 0.0 {
        row(
            "sqlite floor, prebuilt moves",
            sqlite_rows,
            &spread(rows_lo, rows_hi),
            "rows alone, no chain or plan (a reference)",
        );
    }
    // One event per call with `Full` against the server's own rate for four clients'
    // one-row commits, measured in the same runs.
    let four_clients = pg_floors
        .iter()
        .find(|(clients, _)| *clients == 4)
        .map(|(_, rates)| median_and_range(rates.clone()).0)
        .filter(|rate| *rate > 0.0);
    for (per_call, durability, kind, rates) in postgres {
        let against_floor = *per_call == 1 && *durability == Durability::Full;
        let durability = format!("{durability:?}").to_lowercase();
        let kind = match kind {
            BenchEvent::Move => "moves",
            BenchEvent::Spend => "spend",
        };
        let (median, lo, hi) = median_and_range(rates.clone());
        let mut verdict = floor(median, 10_000.0);
        if against_floor && let Some(server) = four_clients {
            verdict += &format!(" ({:.0}% of the 4-client floor)", 100.0 * median / server);
        }
        row(
            &format!("postgres 4 writers, {per_call}/call, {durability}, {kind}"),
            median,
            &spread(lo, hi),
            &verdict,
        );
    }
    // The server's own rate for single-row durable commits, with nothing of Accord's
    // around them: a reference for the one-event-per-call rows above.
    for (clients, rates) in pg_floors {
        let (median, lo, hi) = median_and_range(rates.clone());
        row(
            &format!(
                "postgres floor, {clients} client{}",
                if *clients == 1 { "" } else { "s" }
            ),
            median,
            &spread(lo, hi),
            "1-row commits, no chain (a reference)",
        );
    }
}

/// A rate as a whole number with thousands separators: `315,626`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

async fn negotiate(args: BenchNegotiateArgs) -> anyhow::Result<ExitCode> {
    let scenarios = load_domains_dir(&args.domains)
        .with_context(|| format!("cannot load the domains in `{}`", args.domains.display()))?;
    let mut config = TournamentConfig::new(scenarios);
    config.rounds = args.rounds;
    config.seed = args.seed;
    if let Some(names) = &args.agents {
        config.agents = names
            .iter()
            .map(|n| n.parse::<AgentKind>())
            .collect::<Result<Vec<_>, _>>()?;
    }
    let total = config.negotiations();
    let bar = progress_bar(total, "negotiating");
    let started = std::time::Instant::now();
    let report = tokio::task::block_in_place(|| tournament::run(&config, &|n| bar.inc(n)));
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "{} domains, {} agents, {} negotiations, {} rounds, seed {}",
        config.scenarios.len(),
        config.agents.len(),
        report.negotiations.len(),
        config.rounds,
        config.seed
    );
    println!("{}", tournament::format_table(&report.agents));
    println!("played in {secs:.2} s on {} threads", available_cores());
    for agent in &config.agents {
        let name = agent.name();
        let own: Vec<_> = report
            .negotiations
            .iter()
            .filter(|r| r.agent_a == name && r.agent_b == name)
            .collect();
        if own.is_empty() {
            continue;
        }
        let n = own.len() as f64;
        println!(
            "self-play {name:<12} agreement {:.3}  nash_optimality {:.3}  pareto_optimality {:.3}",
            own.iter().filter(|r| r.agreement).count() as f64 / n,
            own.iter().map(|r| r.nash_optimality).sum::<f64>() / n,
            own.iter().map(|r| r.pareto_optimality).sum::<f64>() / n,
        );
    }
    if let Some(path) = &args.json {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        serde_json::to_writer(std::io::BufWriter::new(file), &report)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

async fn import(args: BenchImportArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let scratch;
    let root = match &args.dir {
        Some(d) => d.clone(),
        None => {
            scratch = tempfile::tempdir()?;
            scratch.path().to_owned()
        }
    };
    std::fs::create_dir_all(&root)?;
    let suppliers_csv = root.join("suppliers.csv");
    let spend_csv = root.join("spend.csv");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&suppliers_csv)?);
        writeln!(w, "supplier_ref,name,region,size_class")?;
        for s in 0..args.suppliers {
            let (region, size) = [
                ("FR", "micro"),
                ("DE", "small"),
                ("IN", "micro"),
                ("US", "large"),
            ][(s % 4) as usize];
            writeln!(w, "S{s:06},Supplier {s},{region},{size}")?;
        }
        let mut w = std::io::BufWriter::new(std::fs::File::create(&spend_csv)?);
        writeln!(
            w,
            "line_ref,supplier_ref,date,category,sku,description,quantity,amount,currency"
        )?;
        for i in 0..args.lines {
            let s = (i * 7919) % args.suppliers.max(1);
            let day = 1 + i % 28;
            let cents = 100 + (i * 104_729) % 500_000;
            writeln!(
                w,
                "L{i:09},S{s:06},2026-03-{day:02},cat-{},SKU-{},Item {i},{},{}.{:02},EUR",
                s % 12,
                i % 5000,
                1 + i % 40,
                cents / 100,
                cents % 100
            )?;
        }
    }
    let file_mib = std::fs::metadata(&spend_csv)?.len() as f64 / (1024.0 * 1024.0);
    println!(
        "accord bench import: {} spend lines ({file_mib:.0} MiB CSV) over {} suppliers, SQLite, synchronous=FULL",
        args.lines, args.suppliers
    );
    let dir = DataDir::new(root.join("data"));
    std::fs::create_dir_all(&dir.root)?;
    let config = Config::default();
    let store = super::open_store(&dir, &config, Some(accord_store::NodeKey::generate())).await?;
    let bar = progress_bar(0, "suppliers");
    import::run(&store, Kind::Suppliers, &suppliers_csv, false, &bar)
        .await
        .map_err(|e| anyhow::anyhow!("supplier import failed: {e:?}"))?;
    bar.finish_and_clear();
    let rss_before = peak_rss_mib();
    let bar = progress_bar(0, "spend");
    let started = std::time::Instant::now();
    let report = import::run(&store, Kind::Spend, &spend_csv, false, &bar)
        .await
        .map_err(|e| anyhow::anyhow!("spend import failed: {e:?}"))?;
    let secs = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    println!(
        "imported {} lines in {secs:.1} s: {:.0} lines/s (check pass + write pass, events, projections, hash chain, signed checkpoints)",
        report.created,
        report.created as f64 / secs
    );
    if let (Some(before), Some(after)) = (rss_before, peak_rss_mib()) {
        println!("peak resident memory: {after:.0} MiB (before the spend import: {before:.0} MiB)");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_median_run_is_the_middle_one_and_the_range_spans_all() {
        assert_eq!(super::median_and_range(vec![]), (0.0, 0.0, 0.0));
        assert_eq!(super::median_and_range(vec![5.0]), (5.0, 5.0, 5.0));
        assert_eq!(
            super::median_and_range(vec![300.0, 100.0, 200.0]),
            (200.0, 100.0, 300.0)
        );
        assert_eq!(
            super::median_and_range(vec![4.0, 1.0, 3.0, 2.0]),
            (3.0, 1.0, 4.0)
        );
    }

    #[test]
    fn rates_print_with_thousands_separators() {
        let cases = [
            (0.0, "0"),
            (999.4, "999"),
            (1_000.0, "1,000"),
            (315_626.4, "315,626"),
            (1_507_959.0, "1,507,959"),
        ];
        for (value, text) in cases {
            assert_eq!(super::thousands(value), text);
        }
    }
}
