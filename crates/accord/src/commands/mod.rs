//! Subcommand implementations, and what they share: opening the data dir and its store.

pub mod agents;
pub mod approvals;
mod audit;
mod bench;
mod bench_hold;
mod bench_p2p;
mod bench_protocol;
mod demo;
mod import;
mod init;
pub mod invoices;
pub mod payments;
mod policy;
mod serve;
mod status;

use std::process::ExitCode;

use accord_store::{AnyStore, Durability, NodeKey, OpenOptions, PgOptions, SqliteOptions};
use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    cli::{Cli, Command, GlobalArgs},
    config::{Config, DataDir},
};

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => init::run(g, args).await,
        Command::Quickstart(args) => init::quickstart(g, args).await,
        Command::Demo(args) => demo::run(g, args).await,
        Command::Serve(args) => serve::run(g, args).await,
        Command::Status => status::run(g).await,
        Command::Import(args) => import::run(g, args).await,
        Command::Policy(args) => policy::run(args),
        Command::Audit(args) => audit::run(g, args).await,
        Command::Bench(args) => bench::run(g, args).await,
        Command::Approvals(args) => approvals::run(g, args).await,
        Command::Agents(args) => agents::run(g, args).await,
        Command::Autonomy(args) => agents::autonomy(g, args).await,
        Command::Invoices(args) => invoices::run(g, args).await,
        Command::Payments(args) => payments::run(g, args).await,
    }
}

/// An initialised data dir: its configuration, its node key and its open store.
pub struct Node {
    pub dir: DataDir,
    pub config: Config,
    pub key: NodeKey,
    pub store: AnyStore,
}

impl Node {
    /// Opens the data dir named on the command line; it must have been initialised.
    pub async fn open(g: &GlobalArgs) -> anyhow::Result<Node> {
        let dir = DataDir::new(g.data_dir.clone());
        anyhow::ensure!(
            dir.is_initialised(),
            "`{}` is not an accord data dir; run `accord --data-dir {} init` first",
            dir.root.display(),
            dir.root.display()
        );
        let config = load_config(g, &dir)?;
        let key = NodeKey::load(&dir.node_key())
            .with_context(|| format!("cannot read the node key `{}`", dir.node_key().display()))?;
        let store = open_store(&dir, &config, Some(key.clone())).await?;
        Ok(Node {
            dir,
            config,
            key,
            store,
        })
    }
}

pub fn load_config(g: &GlobalArgs, dir: &DataDir) -> anyhow::Result<Config> {
    let mut config = Config::load(&dir.root, g.config.as_deref())?;
    if let Some(url) = &g.database_url {
        config.database_url = Some(url.clone());
    }
    Ok(config)
}

/// Opens the configured backend: PostgreSQL when a URL is set, else the data dir's SQLite.
pub async fn open_store(
    dir: &DataDir,
    config: &Config,
    key: Option<NodeKey>,
) -> anyhow::Result<AnyStore> {
    let durability = |key: &str, value: &str| match value {
        "normal" => Ok(Durability::Normal),
        "full" => Ok(Durability::Full),
        other => anyhow::bail!("unknown {key} `{other}`: expected `normal` or `full`"),
    };
    let options = OpenOptions {
        sqlite: SqliteOptions {
            durability: durability("sqlite.synchronous", &config.sqlite.synchronous)?,
            signing_key: key.clone(),
            checkpoint_every: config.audit.checkpoint_every,
            ..SqliteOptions::default()
        },
        pg: PgOptions {
            durability: durability("postgres.synchronous", &config.postgres.synchronous)?,
            signing_key: key,
            checkpoint_every: config.audit.checkpoint_every,
            ..PgOptions::default()
        },
    };
    let target = match &config.database_url {
        Some(url) => url.clone(),
        None => dir.sqlite_file().display().to_string(),
    };
    AnyStore::open(&target, options)
        .await
        .with_context(|| format!("cannot open the store at `{}`", redact(&target)))
}

/// Hides a password in a database URL before it is printed.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A progress bar on standard error, hidden when it is not a terminal (CI, pipes).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("/tmp/a.db"), "/tmp/a.db");
    }
}
