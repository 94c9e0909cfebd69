//! `accord invoices`: import UBL 2.1 (or JSON) e-invoices from files and let the invoice
//! matcher decide each one; show one invoice with its match outcome.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use accord_agents::p2p::{FlowError, InvoiceMatcher, Metrics};
use accord_core::id::InvoiceId;
use accord_p2p::{InvoiceError, read_json, read_ubl};
use accord_policy::AutonomyLevel;
use accord_store::Store;
use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::Node;
use crate::cli::GlobalArgs;

#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Read, validate and store e-invoices, then match them (three-way, with tolerances
    /// and duplicate detection). Each file is one document: a bad one is refused with the
    /// rule and element it breaks, and nothing of it is stored; the others go in.
    #[command(
        after_help = "Examples:\n  accord invoices import inbox/INV-0042.xml\n  accord invoices import inbox/            # every .xml and .json file in it\n\nA document is tied to its supplier through the purchase order it quotes (BT-13), or\nelse the seller's identifiers (BT-29, BT-30, BT-31) matched against supplier refs.\nImporting the same document again stores nothing."
    )]
    Import(ImportInvoicesArgs),
    /// One invoice: its state, the matcher's outcome (exceptions, duplicates, the
    /// approval it was routed to) and its payments.
    Show {
        /// The invoice id.
        id: String,
    },
    /// Contract compliance and savings realisation, overall and per campaign and supplier.
    Metrics,
}

#[derive(Debug, Args)]
pub struct ImportInvoicesArgs {
    /// A UBL/JSON file, or a directory of them (`*.xml`, `*.json`).
    pub path: PathBuf,
    /// Store only; leave matching to a running `accord serve`.
    #[arg(long)]
    pub no_match: bool,
}

pub async fn run(g: &GlobalArgs, command: InvoicesCommand) -> anyhow::Result<ExitCode> {
    match command {
        InvoicesCommand::Import(args) => import(g, args).await,
        InvoicesCommand::Show { id } => show(g, &id).await,
        InvoicesCommand::Metrics => {
            let node = Node::open(g).await?;
            let m = Metrics::read(&node.store).await?;
            println!("{}", serde_json::to_string_pretty(&m)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("xml" | "json"))
        })
        .collect();
    out.sort();
    anyhow::ensure!(
        !out.is_empty(),
        "`{}` holds no .xml or .json file",
        path.display()
    );
    Ok(out)
}

/// Why one document was refused, in one paragraph naming file, rule, element and line.
fn refusal(file: &Path, e: &InvoiceError) -> String {
    let mut s = format!("{}: {}", file.display(), e.code());
    match e {
        InvoiceError::Parse(p) => s.push_str(&format!(": {p}")),
        InvoiceError::Invalid(v) => {
            for v in &v.0 {
                s.push_str(&format!("\n    {} at {}", v.rule, v.path));
                if let Some(line) = v.line {
                    s.push_str(&format!(" (line {line})"));
                }
                s.push_str(&format!(": {}", v.message));
            }
        }
    }
    s
}

async fn import(g: &GlobalArgs, args: ImportInvoicesArgs) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (flow, _stop) = super::serve::p2p_runtime(&node, logged, false)?;
    let files = files(&args.path)?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} invoices {msg}")
            .expect("a valid template"),
    );
    let (mut stored, mut replayed, mut refused) = (0usize, 0usize, Vec::new());
    for file in &files {
        bar.inc(1);
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                refused.push(format!("{}: cannot read: {e}", file.display()));
                continue;
            }
        };
        let json = file.extension().and_then(|e| e.to_str()) == Some("json");
        let valid = match if json {
            read_json(&text)
        } else {
            read_ubl(&text)
        } {
            Ok(v) => v,
            Err(e) => {
                refused.push(refusal(file, &e));
                continue;
            }
        };
        match flow.ingest_invoice(&valid, None).await {
            Ok(done) if done.replayed => replayed += 1,
            Ok(_) => stored += 1,
            Err(e @ (FlowError::Unresolved(_) | FlowError::Invalid { .. })) => {
                refused.push(format!("{}: {}: {e}", file.display(), e.code()));
            }
            Err(e) => return Err(e).with_context(|| format!("storing `{}`", file.display())),
        }
    }
    bar.finish_and_clear();
    println!(
        "{} documents: {stored} stored, {replayed} already received (nothing stored), {} refused",
        files.len(),
        refused.len()
    );
    for r in &refused {
        eprintln!("refused {r}");
    }
    if !args.no_match && stored > 0 {
        let mut matcher = InvoiceMatcher::new((*flow).clone(), node.config.matching.policy()?);
        matcher
            .run_once(chrono::Utc::now())
            .await
            .context("matching the new invoices")?;
        let counts = node.store.document_counts("invoice", None).await?;
        let shown: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        println!("invoices now: {}", shown.join(", "));
    }
    Ok(if refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn show(g: &GlobalArgs, raw: &str) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let id = InvoiceId::parse(raw).map_err(|_| anyhow::anyhow!("`{raw}` is not an invoice id"))?;
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (flow, _stop) = super::serve::p2p_runtime(&node, logged, false)?;
    let invoice = flow
        .invoice(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no invoice `{raw}`"))?;
    let outcome = flow.match_record(id).await?;
    let payments = flow.payments_of(id).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "invoice": invoice, "match": outcome, "payments": payments,
        }))?
    );
    Ok(ExitCode::SUCCESS)
}
