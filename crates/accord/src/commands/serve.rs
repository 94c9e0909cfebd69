//! `accord serve` (the API and the supplier protocol on the data dir's store) and what
//! `accord demo` shares with it: building the runtime and starting the HTTP server.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use accord_agents::host::Governance;
use accord_agents::p2p::{InvoiceMatcher, Procurement};
use accord_agents::{Campaigns, Host, HostOptions};
use accord_core::{CategoryCode, Currency, FxTable};
use accord_policy::{AutonomyLevel, AutonomyTable, CategoryAutonomy, PolicySet};
use accord_server::{ApiKeys, AppState, Role};
use accord_store::AnyStore;
use anyhow::Context;
use rand::RngCore;

use super::Node;
use crate::cli::{GlobalArgs, ServeArgs};

/// The category campaign negotiations are filed under when the supplier has no contract.
pub const TAIL_CATEGORY: &str = "tail";

/// Reference rates (ECB, units per EUR) for ranking spend and policy thresholds when the
/// configuration gives none. Rates move: set your own under `[fx]` for real decisions.
pub fn reference_fx(base: Currency) -> anyhow::Result<FxTable> {
    let mut fx = FxTable::new(Currency::EUR);
    for (code, rate) in [
        ("USD", "1.0800"),
        ("GBP", "0.8400"),
        ("INR", "90.000"),
        ("CHF", "0.9400"),
        ("JPY", "162.00"),
        ("SEK", "11.500"),
        ("PLN", "4.3000"),
    ] {
        fx.set(Currency::parse(code)?, rate.parse()?)?;
    }
    if base == Currency::EUR {
        return Ok(fx);
    }
    // Re-base: one unit of `base` buys rate(c) / rate(base) of c.
    let b = fx.rate(base)?;
    let mut rebased = FxTable::new(base);
    rebased.set(Currency::EUR, rust_decimal::Decimal::ONE / b)?;
    for code in ["USD", "GBP", "INR", "CHF", "JPY", "SEK", "PLN"] {
        let c = Currency::parse(code)?;
        if c != base {
            rebased.set(c, fx.rate(c)? / b)?;
        }
    }
    Ok(rebased)
}

/// The negotiation host and the campaigns over one store.
pub type Runtime = (Arc<Host<AnyStore>>, Arc<Campaigns<AnyStore>>);

/// The decision rights as the log holds them: the policy gate (default pack), autonomy per
/// category and the kill switch (`accord autonomy set`, `accord agents pause`), kept
/// current for as long as the process runs, from the change feed and by polling for
/// changes other processes make. A category the log never set takes `tail_autonomy` for
/// the tail category and `recommend_only` for any other. One per process: the negotiation
/// host and procure-to-pay share it, so they always see the same settings.
pub async fn governance(
    node: &Node,
    tail_autonomy: AutonomyLevel,
) -> anyhow::Result<Arc<LoggedGovernance>> {
    let mut configured = AutonomyTable::default();
    configured.set(
        CategoryCode::parse(TAIL_CATEGORY).map_err(anyhow::Error::msg)?,
        CategoryAutonomy::new(tail_autonomy, 10_000),
    );
    let logged = LoggedGovernance::open(
        node.store.clone(),
        Arc::new(
            accord_policy::Gate::new(
                Arc::new(PolicySet::default_pack()),
                node.config.reporting_currency,
            )
            .context("the default policy pack does not fit the gate")?,
        ),
        accord_policy::governance::GovernanceConfig {
            default_autonomy: configured.default,
            configured_autonomy: configured.categories.clone(),
            ..accord_policy::governance::GovernanceConfig::default()
        },
    )
    .await
    .context("cannot read the kill switch and autonomy settings")?;
    // The watch task lives as long as the process.
    let _watch = logged.watch();
    Ok(Arc::new(logged))
}

/// The decision rights of the log, shared by everything in the process.
pub type LoggedGovernance = accord_policy::governance::Governance<AnyStore>;

/// The negotiation host and campaigns over a node's store, deciding with `logged`.
pub fn runtime(node: &Node, logged: &Arc<LoggedGovernance>) -> anyhow::Result<Runtime> {
    runtime_with(node, logged, HostOptions::default())
}

/// [`runtime`] with the host's cache and campaign TTL chosen by the caller
/// (`accord bench hold` sets the cache capacity).
pub fn runtime_with(
    node: &Node,
    logged: &Arc<LoggedGovernance>,
    options: HostOptions,
) -> anyhow::Result<Runtime> {
    let fx = reference_fx(node.config.reporting_currency)?;
    let config = logged.config();
    let configured = AutonomyTable {
        default: config.default_autonomy,
        categories: config.configured_autonomy.clone(),
        ..AutonomyTable::default()
    };
    let autonomy = logged.clone();
    let governance = Arc::new(
        Governance::new(Arc::new(PolicySet::default_pack()), fx.clone(), configured)
            .context("the default policy pack does not fit the gate")?
            .with_autonomy_probe(Arc::new(move |category| autonomy.autonomy(category))),
    );
    let paused = logged.clone();
    let host = Arc::new(
        Host::new(node.store.clone(), governance, options)
            .with_pause_probe(Arc::new(move || paused.is_paused())),
    );
    let campaigns = Arc::new(Campaigns::new(host.clone(), fx));
    Ok((host, campaigns))
}

/// Procure-to-pay over a node's store, deciding with `logged`: the command service, and
/// (with `matcher`) the invoice matcher agent on a task that runs until the returned
/// sender is dropped.
pub fn p2p_runtime(
    node: &Node,
    logged: Arc<LoggedGovernance>,
    matcher: bool,
) -> anyhow::Result<(Arc<Procurement<AnyStore>>, tokio::sync::watch::Sender<bool>)> {
    let fx = reference_fx(node.config.reporting_currency)?;
    let flow = Arc::new(Procurement::new(node.store.clone(), logged, Arc::new(fx)));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    if matcher {
        let agent = InvoiceMatcher::new((*flow).clone(), node.config.matching.policy()?);
        tokio::spawn(agent.run(stopped));
    }
    Ok((flow, stop))
}

/// A running HTTP server.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `listen` and serves the API in a task.
pub async fn start(
    node: &Node,
    host: Arc<Host<AnyStore>>,
    campaigns: Arc<Campaigns<AnyStore>>,
    p2p: Arc<Procurement<AnyStore>>,
    keys: ApiKeys,
    listen: &str,
    base_url: Option<String>,
) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on `{listen}`"))?;
    let addr = listener.local_addr()?;
    let base_url = base_url.unwrap_or_else(|| format!("http://{addr}"));
    let state = AppState {
        host,
        campaigns,
        p2p,
        keys: Arc::new(keys),
        users: Arc::new(
            node.config
                .users
                .iter()
                .map(|(name, u)| (name.clone(), u.roles.clone()))
                .collect(),
        ),
        importer: Some(importer(node)),
        base_url: base_url.clone(),
    };
    let app = accord_server::router(state);
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(Running {
        addr,
        base_url,
        task,
    })
}

/// A fresh random API key.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("acc_key_{}", hex::encode(bytes))
}

pub async fn run(g: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let node = Node::open(g).await?;
    let logged = governance(&node, AutonomyLevel::ActAlone).await?;
    let (host, campaigns) = runtime(&node, &logged)?;
    let mut keys = ApiKeys::default();
    let admin = match std::env::var("ACCORD_API_KEY") {
        Ok(k) if !k.trim().is_empty() => k.trim().to_owned(),
        _ => {
            let k = new_api_key();
            eprintln!(
                "no ACCORD_API_KEY set: this run's admin API key is\n  {k}\n(set ACCORD_API_KEY to choose your own)"
            );
            k
        }
    };
    keys.insert("admin", &admin, Role::Admin);
    if let Ok(k) = std::env::var("ACCORD_AUDITOR_KEY")
        && !k.trim().is_empty()
    {
        keys.insert("auditor", k.trim(), Role::Auditor);
    }
    // The matcher runs for as long as `_matcher` lives.
    let (p2p, _matcher) = p2p_runtime(&node, logged, true)?;
    let running = start(
        &node,
        host,
        campaigns,
        p2p,
        keys,
        &args.listen,
        args.base_url.clone(),
    )
    .await?;
    println!(
        "accord serving {} on {} ({} store); OpenAPI at {}/openapi.json",
        node.dir.root.display(),
        running.addr,
        node.store.backend(),
        running.base_url
    );
    tokio::select! {
        r = running.task => { r??; }
        _ = tokio::signal::ctrl_c() => { println!("stopping"); }
    }
    Ok(ExitCode::SUCCESS)
}

/// The CSV importer of `accord import`, for `POST /v1/import/{kind}`.
fn importer(node: &Node) -> accord_server::import::Importer {
    use crate::import::{ImportFailure, Kind};
    use accord_server::import::{BadField, ImportRefused, Imported};
    let store = node.store.clone();
    Arc::new(move |kind, path| {
        let store = store.clone();
        let path = path.to_owned();
        Box::pin(async move {
            let kind = match kind {
                "suppliers" => Kind::Suppliers,
                "contracts" => Kind::Contracts,
                _ => Kind::Spend,
            };
            let bar = indicatif::ProgressBar::hidden();
            match crate::import::run(&store, kind, &path, false, &bar).await {
                Ok(r) => Ok(Imported {
                    rows: r.rows,
                    created: r.created,
                    updated: r.updated,
                    unchanged: r.unchanged,
                }),
                Err(ImportFailure::Rows { errors, total }) => Err(ImportRefused::Rows {
                    errors: errors
                        .into_iter()
                        .map(|e| BadField {
                            line: e.line,
                            column: e.column,
                            message: e.message,
                        })
                        .collect(),
                    total,
                }),
                Err(ImportFailure::Other(e)) => Err(ImportRefused::Failed(format!("{e:#}"))),
            }
        })
    })
}
