//! `accord bench store` and `accord bench negotiate`: figures for BENCHMARKS.md, measured
//! on this machine and printed with what they include.

use std::process::ExitCode;

use accord_negotiate::{AgentKind, TournamentConfig, load::load_domains_dir, tournament};
use accord_store::bench::{self, AppendMode, BenchReport};
use anyhow::Context;

use super::progress_bar;
use crate::cli::{BenchCommand, BenchNegotiateArgs, BenchStoreArgs, GlobalArgs};

pub async fn run(g: &GlobalArgs, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Store(args) => store(g, args).await,
        BenchCommand::Negotiate(args) => negotiate(args).await,
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
    println!(
        "accord bench store: {n} events per append scenario, {} entries for verify",
        args.verify_entries
    );
    println!(
        "machine: {} cores; scratch dir {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        dir.display()
    );
    let mut reports: Vec<BenchReport> = Vec::new();
    let scenarios: Vec<(&str, AppendMode, u64)> = vec![
        ("batched", AppendMode::Batched { batch: 10_000 }, n),
        ("single", AppendMode::Single, n / 4),
        (
            "group-commit",
            AppendMode::GroupCommit { writers: 64 },
            n / 2,
        ),
    ];
    for (name, mode, events) in scenarios {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub)?;
        let r = bench::bench_append_sqlite(&sub, mode, events.max(1)).await?;
        println!("{r}");
        reports.push(r);
    }
    let sub = dir.join("import");
    std::fs::create_dir_all(&sub)?;
    let r = bench::bench_import_sqlite(&sub, n).await?;
    println!("{r}");
    reports.push(r);
    let sub = dir.join("verify");
    std::fs::create_dir_all(&sub)?;
    let r = bench::bench_verify_sqlite(&sub, args.verify_entries).await?;
    println!("{r}");
    reports.push(r);
    if let Some(url) = &g.database_url {
        let r = bench::bench_append_pg(url, 4, 1, n / 4).await?;
        println!("{r}");
        reports.push(r);
    } else {
        println!("postgres: skipped (pass --database-url postgres://… to measure it)");
    }
    Ok(ExitCode::SUCCESS)
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
    let report = tokio::task::block_in_place(|| tournament::run(&config, &|n| bar.inc(n)));
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
    if let Some(path) = &args.json {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create `{}`", path.display()))?;
        serde_json::to_writer(std::io::BufWriter::new(file), &report)?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
