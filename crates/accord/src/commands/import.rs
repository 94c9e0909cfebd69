//! `accord import suppliers|contracts|spend FILE`: runs an import with a progress bar and
//! prints its outcome or every bad row.

use std::process::ExitCode;

use super::{Node, progress_bar};
use crate::{
    cli::{GlobalArgs, ImportArgs, ImportCommand},
    import::{self, ImportFailure, Kind},
};

pub async fn run(g: &GlobalArgs, command: ImportCommand) -> anyhow::Result<ExitCode> {
    let (kind, args) = match command {
        ImportCommand::Suppliers(a) => (Kind::Suppliers, a),
        ImportCommand::Contracts(a) => (Kind::Contracts, a),
        ImportCommand::Spend(a) => (Kind::Spend, a),
    };
    import_one(&Node::open(g).await?, kind, args).await
}

/// Runs one import on an open data dir and prints its outcome.
pub async fn import_one(node: &Node, kind: Kind, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let bar = progress_bar(0, "importing");
    let started = std::time::Instant::now();
    let outcome = import::run(&node.store, kind, &args.file, args.dry_run, &bar).await;
    bar.finish_and_clear();
    match outcome {
        Ok(report) => {
            let verb = if args.dry_run {
                "checked (dry run, nothing written)"
            } else {
                "imported"
            };
            println!(
                "{verb} `{}`: {} rows; {} new, {} updated, {} unchanged ({:.1}s)",
                args.file.display(),
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportFailure::Rows { errors, total }) => {
            for e in &errors {
                eprintln!("{e}");
            }
            if total > errors.len() {
                eprintln!("... and {} more", total - errors.len());
            }
            eprintln!(
                "error: `{}` has {total} bad field(s); nothing was imported",
                args.file.display()
            );
            Ok(ExitCode::FAILURE)
        }
        Err(ImportFailure::Other(e)) => {
            Err(e.context(format!("import of `{}` failed", args.file.display())))
        }
    }
}
