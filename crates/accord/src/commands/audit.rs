//! `accord audit verify` and `accord audit export`.

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
