//! `accord status`: what a data dir holds.

use std::process::ExitCode;

use accord_store::Store;

use super::Node;
use crate::cli::GlobalArgs;

pub async fn run(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    print(&Node::open(g).await?).await
}

/// Prints the status of an open data dir.
pub async fn print(node: &Node) -> anyhow::Result<ExitCode> {
    let counts = node.store.counts().await?;
    let checkpoints = node.store.audit_checkpoints().await?;
    println!("data dir        {}", node.dir.root.display());
    println!("backend         {}", node.store.describe().await?);
    println!("node key        {}", node.key.fingerprint());
    println!("reporting       {}", node.config.reporting_currency);
    println!(
        "audit log       {} entries, {} signed checkpoints (every {} entries){}",
        counts.events,
        counts.checkpoints,
        node.config.audit.checkpoint_every,
        checkpoints
            .last()
            .map(|c| format!(", last at entry {}", c.seq))
            .unwrap_or_default()
    );
    println!("suppliers       {}", counts.suppliers);
    println!("contracts       {}", counts.contracts);
    println!("spend lines     {}", counts.spend_lines);
    println!("documents       {}", counts.documents);
    println!("jobs pending    {}", counts.jobs_pending);
    let top = node.store.spend_by_supplier(5).await?;
    if !top.is_empty() {
        println!("largest spend:");
        for s in top {
            let supplier = node.store.supplier(s.supplier).await?;
            let name = supplier.map_or_else(
                || s.supplier.to_string(),
                |s| format!("{} ({})", s.name, s.external_ref),
            );
            let amount = accord_core::Currency::parse(&s.currency)
                .map(|c| accord_core::Money::new(s.total_minor, c).to_string())
                .unwrap_or_else(|_| format!("{} {}", s.currency, s.total_minor));
            println!("  {amount:>20}  {:>7} lines  {name}", s.lines);
        }
    }
    Ok(ExitCode::SUCCESS)
}
