//! `accord demo`: the main job, end to end on the embedded store. Generate an enterprise,
//! import it, serve the API in-process, run a tail-spend campaign against simulated
//! supplier bots over real HTTP, and report the results beside the Walmart–Pactum pilot.

use std::process::ExitCode;
use std::time::Instant;

use accord_core::id::CampaignId;
use accord_core::negotiation::{CampaignTemplate, TailRule};
use accord_policy::AutonomyLevel;
use accord_server::{ApiKeys, Role};
use accord_sim::{BotConfig, Enterprise, EnterpriseConfig, Invitation, run_bots};
use accord_store::{Store, VerifyOptions};
use anyhow::Context;
use rust_decimal::Decimal;

use super::{Node, progress_bar};
use crate::cli::{DemoArgs, GlobalArgs, ImportArgs, InitArgs};
use crate::config::DataDir;

pub async fn run(g: &GlobalArgs, args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.suppliers > 0, "--suppliers must be at least 1");
    anyhow::ensure!(
        args.lines >= args.suppliers,
        "--lines must be at least --suppliers (every supplier needs spend)"
    );
    let share: Decimal = args
        .tail_share
        .parse()
        .ok()
        .filter(|s: &Decimal| *s > Decimal::ZERO && *s <= Decimal::ONE)
        .with_context(|| {
            format!(
                "--tail-share `{}` must be a number in (0, 1]",
                args.tail_share
            )
        })?;
    let started = Instant::now();
    let dir = DataDir::new(g.data_dir.clone());
    if dir.is_initialised() {
        let node = Node::open(g).await?;
        let counts = node.store.counts().await?;
        anyhow::ensure!(
            counts.suppliers == 0,
            "`{}` already holds data ({} suppliers); the demo needs a fresh data dir: \
             pass --data-dir ./accord-demo-2, or remove `{}`",
            dir.root.display(),
            counts.suppliers,
            dir.root.display()
        );
    } else {
        println!("== 1. A data dir: `{}`", dir.root.display());
        super::init::init(
            g,
            &dir,
            &InitArgs {
                reporting_currency: "EUR".into(),
                checkpoint_every: 1000,
            },
        )
        .await?;
    }
    let node = Node::open(g).await?;

    println!(
        "\n== 2. A synthetic enterprise: {} suppliers in FR, IN and US, {} spend lines (seed {})",
        args.suppliers, args.lines, args.seed
    );
    let config = EnterpriseConfig {
        suppliers: args.suppliers,
        spend_lines: args.lines,
        ..EnterpriseConfig::default()
    };
    let enterprise = Enterprise::generate(&config, args.seed)?;
    let code = import_enterprise(&node, &enterprise, &dir.root.join("erp")).await?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }

    println!("\n== 3. The server, in-process, with the supplier protocol and the buyer API");
    let logged = super::serve::governance(&node, AutonomyLevel::ActAlone).await?;
    let (host, campaigns) = super::serve::runtime(&node, &logged)?;
    let key = super::serve::new_api_key();
    let mut keys = ApiKeys::default();
    keys.insert("demo", &key, Role::Buyer);
    // The demo negotiates; invoices come later, so the matcher does not run here.
    let (p2p, _matcher) = super::serve::p2p_runtime(&node, logged, false)?;
    let running = super::serve::start(
        &node,
        host,
        campaigns.clone(),
        p2p,
        keys,
        "127.0.0.1:0",
        None,
    )
    .await?;
    println!("   listening on {}", running.base_url);

    println!(
        "\n== 4. A campaign over the bottom {}% of spend, against simulated supplier bots over HTTP",
        share * Decimal::ONE_HUNDRED
    );
    let client = reqwest::Client::new();
    let template = CampaignTemplate {
        meso: args.meso,
        ..CampaignTemplate::default()
    };
    let open_hours = template.open_hours;
    let created: serde_json::Value = client
        .post(format!("{}/v1/campaigns", running.base_url))
        .bearer_auth(&key)
        .json(&serde_json::json!({
            "name": "tail-spend demo",
            "rule": TailRule { bottom_share: share, ..TailRule::default() },
            "template": template,
            "seed": args.seed,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id_str = created["id"]
        .as_str()
        .context("the API returned no campaign id")?;
    let id = CampaignId::parse(id_str)?;
    let invitations: Vec<serde_json::Value> = client
        .post(format!("{}/v1/campaigns/{id}/start", running.base_url))
        .bearer_auth(&key)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("   {} suppliers invited", invitations.len());
    let invitations: Vec<Invitation> = invitations
        .iter()
        .map(|i| Invitation {
            url: i["url"].as_str().unwrap_or_default().to_owned(),
            token: i["token"].as_str().unwrap_or_default().to_owned(),
            supplier_ref: i["supplier_ref"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    let bar = progress_bar(invitations.len() as u64, "negotiating");
    let bot_config = BotConfig {
        seed: args.seed,
        concurrency: args.concurrency,
        base_urls: vec![running.base_url.clone()],
        ..BotConfig::default()
    };
    let bots = run_bots(&bot_config, &enterprise, invitations, &|done, _| {
        bar.set_position(done as u64)
    })
    .await?;
    bar.finish_and_clear();
    println!(
        "   {} moves over HTTP in {:.1} s: {:.0} moves/s, POST latency p50 {:.1} ms, p99 {:.1} ms, {} retries, {} errors",
        bots.moves,
        bots.elapsed_secs,
        bots.moves_per_sec,
        bots.post_latency.p50_ms,
        bots.post_latency.p99_ms,
        bots.retries,
        bots.errors
    );
    // Silent suppliers never answer: fast-forward to the deadline and expire them.
    let deadline = chrono::Utc::now() + chrono::Duration::hours(i64::from(open_hours) + 1);
    let expired = campaigns.sweep(id, deadline).await?;
    println!("   {expired} suppliers never answered; their negotiations expired at the deadline");

    let report = campaigns.report(id).await?;
    println!(
        "\n== 5. Results (reporting currency {})",
        report.reporting_currency
    );
    let s = &report.status;
    println!(
        "   suppliers approached {:>7}   agreed {}   escalated for approval {}   declined {}   no agreement {}   expired {}",
        s.total(),
        s.agreed,
        s.escalated,
        s.declined,
        s.no_agreement,
        s.expired
    );
    println!(
        "   {:<34} {:>12} {:>22}",
        "", "Accord", "Walmart–Pactum pilot"
    );
    println!(
        "   {:<34} {:>11.1}% {:>22}",
        "close rate (deals / approached)", report.close_rate_pct, "64–68%"
    );
    println!(
        "   {:<34} {:>11.2}% {:>22}",
        "savings on agreed spend", report.savings_pct, "1.5–3%"
    );
    println!(
        "   {:<34} {:>+12.1} {:>22}",
        "payment days (average change)", report.avg_payment_days_change, "+35"
    );
    println!(
        "   {:<34} {:>12}",
        "annual savings",
        report.annual_savings.to_string()
    );
    println!(
        "   {:<34} {:>12} of {}",
        "agreed spend",
        report.agreed_spend.to_string(),
        report.approached_spend
    );
    println!(
        "   {:<34} {:>10.0} s {:>22}",
        "median time to close",
        report.median_minutes_to_close * 60.0,
        "minutes"
    );
    println!("   {:<34} {:>12}", "escalations", s.escalated);

    println!("\n== 6. The audit chain");
    let verify = node.store.verify(&VerifyOptions::default()).await?;
    anyhow::ensure!(
        verify.is_ok(),
        "the audit chain does not verify: {verify:?}"
    );
    println!(
        "   {} entries and {} signed checkpoints verify",
        verify.entries, verify.checkpoints_verified
    );
    running.task.abort();
    println!(
        "\nDone in {:.0} s. Inspect the results with:\n  accord --data-dir {} serve\n  accord --data-dir {} audit verify",
        started.elapsed().as_secs_f64(),
        dir.root.display(),
        dir.root.display()
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `enterprise` as ERP CSV exports into `erp` and imports them, as a user would
/// with `accord import`; stops at the first file that does not import.
pub(crate) async fn import_enterprise(
    node: &Node,
    enterprise: &Enterprise,
    erp: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    accord_sim::export::write_dir(enterprise, erp)?;
    for (kind, path) in crate::import::files_in(erp)? {
        let code = super::import::import_one(
            node,
            kind,
            ImportArgs {
                file: path,
                dry_run: false,
            },
        )
        .await?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    Ok(ExitCode::SUCCESS)
}
