//! Generates the default enterprise (2,000 suppliers, 3 regions, 100,000 spend lines),
//! runs a tail-spend campaign of the flagship against every active supplier's persona,
//! and prints the report beside the Walmart–Pactum anchors, with the time each step took.
//!
//! `cargo run --release -p accord-sim --example campaign [SEED] [--json] [--meso]`
//! (`--meso`: the buyer makes three equivalent offers at a time instead of one).

use std::time::Instant;

use accord_sim::enterprise::tail_coverage;
use accord_sim::persona::BuyerTemplate;
use accord_sim::{CampaignConfig, Enterprise, EnterpriseConfig, export, run_campaign};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = args.iter().find_map(|a| a.parse::<u64>().ok()).unwrap_or(1);
    let json = args.iter().any(|a| a == "--json");
    let mut template = BuyerTemplate::default();
    if args.iter().any(|a| a == "--meso") {
        template.meso = true;
    }

    let started = Instant::now();
    let enterprise = Enterprise::generate(&EnterpriseConfig::default(), seed)?;
    let generated = started.elapsed();
    let mut csv = Vec::with_capacity(16 << 20);
    export::write_suppliers(&enterprise, &mut csv)?;
    export::write_contracts(&enterprise, &mut csv)?;
    export::write_spend(&enterprise, &mut csv)?;
    let written = started.elapsed() - generated;

    let started = Instant::now();
    let report = run_campaign(
        &enterprise,
        &CampaignConfig {
            seed,
            template,
            ..CampaignConfig::default()
        },
    )?;
    let ran = started.elapsed();

    if json {
        let mut r = report.clone();
        r.results.clear();
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "enterprise (seed {seed}): {} suppliers, {} contracts, {} spend lines; bottom 20% of spend covers {:.0}% of suppliers",
        enterprise.suppliers.len(),
        enterprise.contracts.len(),
        enterprise.spend.len(),
        100.0 * tail_coverage(&enterprise, 0.2)
    );
    println!(
        "generated in {:.1} ms, csv ({:.1} MB) written in {:.1} ms",
        generated.as_secs_f64() * 1e3,
        csv.len() as f64 / 1e6,
        written.as_secs_f64() * 1e3
    );
    let t = &report.total;
    println!(
        "campaign: {} negotiations in {:.2} s ({:.0}/s), {} rounds, buyer {}",
        t.responded,
        ran.as_secs_f64(),
        t.responded as f64 / ran.as_secs_f64(),
        report.rounds,
        report.buyer
    );
    let a = report.anchors;
    println!();
    println!("{:<28} {:>12}   anchor", "figure", "accord-sim");
    println!(
        "{:<28} {:>11.1}%   {:.0}–{:.0}%",
        "close rate",
        100.0 * t.close_rate,
        100.0 * a.close_rate.0,
        100.0 * a.close_rate.1
    );
    println!(
        "{:<28} {:>11.2}%   {:.1}–{:.1}%",
        "savings (closed spend)", t.savings_pct, a.savings_pct.0, a.savings_pct.1
    );
    println!("{:<28} {:>12}", "savings per year", t.savings.to_string());
    println!(
        "{:<28} {:>11.2}%",
        "savings (approached spend)", t.savings_pct_of_approached
    );
    println!(
        "{:<28} {:>12}",
        "value incl. terms per year",
        t.value.to_string()
    );
    println!(
        "{:<28} {:>+12.1}   +{:.0} days",
        "payment days change", t.avg_payment_days_change, a.payment_days_change
    );
    println!(
        "{:<28} {:>12}",
        "early-payment deals", t.early_payment_deals
    );
    println!(
        "{:<28} {:>12.1}",
        "median rounds to close", t.median_rounds_to_close
    );
    println!(
        "{:<28} {:>12.1}",
        "median hours to close", t.median_hours_to_close
    );
    println!(
        "{:<28} {:>12}",
        "no answer / no zone / escal.",
        format!(
            "{}/{}/{}",
            t.approached - t.responded,
            t.no_zone,
            t.escalations
        )
    );
    println!();
    println!(
        "{:<12} {:>6} {:>7} {:>8} {:>8} {:>7}",
        "segment", "n", "close", "saving", "days", "rounds"
    );
    let rows = report
        .by_size
        .iter()
        .map(|(s, f)| (s.to_string(), f))
        .chain(report.by_style.iter().map(|(s, f)| (s.to_string(), f)));
    for (name, f) in rows {
        println!(
            "{:<12} {:>6} {:>6.1}% {:>7.2}% {:>+8.1} {:>7.1}",
            name,
            f.approached,
            100.0 * f.close_rate,
            f.savings_pct,
            f.avg_payment_days_change,
            f.median_rounds_to_close
        );
    }
    Ok(())
}
