//! `accord init` (data dir, database, node key, configuration, genesis entry) and
//! `accord quickstart` (init, import a directory of CSV files, verify, status).

use std::process::ExitCode;

use accord_core::{Currency, Event};
use accord_store::{Append, ExpectedVersion, NodeKey, Store};
use anyhow::Context;

use super::{Node, load_config, open_store, redact};
use crate::{
    cli::{GlobalArgs, ImportArgs, InitArgs, QuickstartArgs},
    config::{Config, DataDir},
    import,
};

pub async fn run(g: &GlobalArgs, args: InitArgs) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(g.data_dir.clone());
    anyhow::ensure!(
        !dir.is_initialised(),
        "`{}` is already initialised (see `accord status`)",
        dir.root.display()
    );
    init(g, &dir, &args).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn init(g: &GlobalArgs, dir: &DataDir, args: &InitArgs) -> anyhow::Result<()> {
    let reporting_currency = Currency::parse(&args.reporting_currency)?;
    anyhow::ensure!(
        args.checkpoint_every > 0,
        "--checkpoint-every must be at least 1"
    );
    std::fs::create_dir_all(&dir.root)
        .with_context(|| format!("cannot create the data dir `{}`", dir.root.display()))?;

    // Configuration: what the flags say, on top of anything already layered in.
    let mut config = if dir.config_file().exists() {
        load_config(g, dir)?
    } else {
        Config {
            database_url: g.database_url.clone(),
            ..Config::default()
        }
    };
    config.reporting_currency = reporting_currency;
    config.audit.checkpoint_every = args.checkpoint_every;
    let mut on_disk = config.clone();
    // A database URL may carry a password: it belongs in the environment, not the file.
    on_disk.database_url = None;
    std::fs::write(dir.config_file(), on_disk.to_toml()?)
        .with_context(|| format!("cannot write `{}`", dir.config_file().display()))?;

    let key = if dir.node_key().exists() {
        NodeKey::load(&dir.node_key())?
    } else {
        let key = NodeKey::generate();
        key.save(&dir.node_key())
            .with_context(|| format!("cannot write the node key `{}`", dir.node_key().display()))?;
        key
    };

    let store = open_store(dir, &config, Some(key.clone())).await?;
    let mut genesis_config = serde_json::to_value(&config)?;
    if let Some(url) = &config.database_url {
        genesis_config["database_url"] = serde_json::Value::String(redact(url));
    }
    let genesis = Event::Genesis {
        node_key_fingerprint: key.fingerprint(),
        config: genesis_config,
        created_at: chrono::Utc::now(),
    };
    // Several nodes may share one PostgreSQL log: only the first writes the genesis entry.
    let appended = store
        .append(
            Append::new(genesis)
                .key("genesis")
                .expect("node", ExpectedVersion::NoStream),
        )
        .await;
    match appended {
        Ok(a) if !a.replayed => println!("wrote the genesis entry (seq {})", a.first_seq),
        Ok(_) | Err(accord_store::StoreError::Conflict { .. }) => {
            println!("the log already has a genesis entry; this node joins it")
        }
        Err(e) => return Err(e.into()),
    }
    println!("initialised `{}`", dir.root.display());
    println!("  backend       {}", store.backend());
    println!(
        "  node key      {} ({})",
        dir.node_key().display(),
        key.fingerprint()
    );
    println!("  configuration {}", dir.config_file().display());
    Ok(())
}

pub async fn quickstart(g: &GlobalArgs, args: QuickstartArgs) -> anyhow::Result<ExitCode> {
    let dir = DataDir::new(g.data_dir.clone());
    let files = import::files_in(&args.dir)?;
    if dir.is_initialised() {
        println!("using the existing data dir `{}`", dir.root.display());
    } else {
        let init_args = InitArgs {
            reporting_currency: "EUR".into(),
            checkpoint_every: 1000,
        };
        init(g, &dir, &init_args).await?;
    }
    // One open data dir for every step, as the separate commands would see it.
    let node = Node::open(g).await?;
    for (kind, path) in files {
        println!("\n$ accord import {} {}", kind.name(), path.display());
        let args = ImportArgs {
            file: path,
            dry_run: false,
        };
        let code = super::import::import_one(&node, kind, args).await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    println!("\n$ accord audit verify");
    let code = super::audit::verify(&node).await?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    println!("\n$ accord status");
    super::status::print(&node).await
}
