//! `accord audit verify`, `accord audit export` and `accord audit projections`.

use std::{fs::File, io::BufWriter, process::ExitCode};

use accord_store::{ExportFormat, Store, VerifyOptions};
use anyhow::Context;

use super::Node;
use crate::cli::{AuditCommand, ExportArgs, GlobalArgs};

pub async fn run(g: &GlobalArgs, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    match command {
        AuditCommand::Verify => verify(&node).await,
        AuditCommand::Export(args) => export(&node, args).await,
        AuditCommand::Projections { json } => projections(&node, json).await,
    }
}

/// Verifies the chain and every checkpoint; checkpoints must be signed by this node's key.
pub async fn verify(node: &Node) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let options = VerifyOptions {
        trusted_key: Some(node.key.public_key()),
    };
    let report = node.store.verify(&options).await?;
    let secs = started.elapsed().as_secs_f64();
    match &report.broken {
        None => {
            println!(
                "audit log OK: {} entries, {} signed checkpoints verified, tip {} ({:.2}s, {:.0} entries/s)",
                report.entries,
                report.checkpoints_verified,
                report.tip_hash,
                secs,
                report.entries as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            eprintln!(
                "audit log BROKEN at entry {}: {}",
                broken.seq, broken.reason
            );
            eprintln!(
                "entries before it verify (last good entry {}).",
                report.last_seq
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn export(node: &Node, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let format = match args.format {
        crate::cli::ExportFormat::Jsonl => ExportFormat::Jsonl,
        crate::cli::ExportFormat::Csv => ExportFormat::Csv,
    };
    let summary = match &args.output {
        Some(path) => {
            let file = File::create(path)
                .with_context(|| format!("cannot create `{}`", path.display()))?;
            let mut out = BufWriter::new(file);
            let s = node.store.export(format, &mut out).await?;
            std::io::Write::flush(&mut out)?;
            s
        }
        None => {
            let mut out = std::io::stdout();
            node.store.export(format, &mut out).await?
        }
    };
    eprintln!(
        "exported {} entries and {} signed checkpoints; docs/audit.md explains how to re-verify them without accord",
        summary.entries, summary.checkpoints
    );
    Ok(ExitCode::SUCCESS)
}

/// Replays the log into a scratch database and compares every read-model row.
async fn projections(node: &Node, json: bool) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let total = node.store.last_seq().await?;
    let bar = super::progress_bar(total, "replaying");
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let report = accord_store::rebuild::check_read_models(&node.store, scratch.path(), |n| {
        bar.set_position(n)
    })
    .await?;
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for t in &report.tables {
            println!(
                "{:<10} {:>9} rows  {}",
                t.table,
                t.live_rows,
                if t.differences == 0 {
                    "match the log".to_owned()
                } else {
                    format!(
                        "{} differ from the log ({} rows rebuilt)",
                        t.differences, t.rebuilt_rows
                    )
                }
            );
            for d in &t.first {
                println!(
                    "    {} {}: live {}, rebuilt {}",
                    d.key,
                    d.column,
                    d.live.as_deref().unwrap_or("(none)"),
                    d.rebuilt.as_deref().unwrap_or("(none)")
                );
            }
        }
        println!(
            "{} events replayed in {:.2}s: read models {}",
            report.events,
            started.elapsed().as_secs_f64(),
            if report.is_ok() {
                "OK"
            } else {
                "DIFFER from the log"
            }
        );
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
