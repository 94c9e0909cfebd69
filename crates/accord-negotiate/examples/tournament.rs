//! Runs the tournament and prints the per-agent table, with the flags of
//! `accord bench negotiate`: `--domains DIR [--rounds 100] [--agents LIST] [--seed S] [--json OUT]`.

use std::path::PathBuf;
use std::time::Instant;

use accord_negotiate::Disagreement;
use accord_negotiate::load::load_domains_dir;
use accord_negotiate::strategy::{AccordParams, AgentKind};
use accord_negotiate::tournament::{self, TournamentConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut domains = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/genius"
    ));
    let mut rounds = 100;
    let mut agents = AgentKind::ALL.to_vec();
    let mut seed = 0;
    let mut json = None;
    let mut disagreement = Disagreement::Reservation;
    let mut accord = AccordParams::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("`{flag}` needs a value"));
        match flag.as_str() {
            "--domains" => domains = PathBuf::from(value()?),
            "--rounds" => rounds = value()?.parse()?,
            "--agents" => {
                agents = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--seed" => seed = value()?.parse()?,
            "--json" => json = Some(PathBuf::from(value()?)),
            // Measure Nash optimality against NegMAS's disagreement point.
            "--negmas-disagreement" => disagreement = Disagreement::ReservationOrWorst,
            // Tuning knobs of the flagship, for measurement only: `e=0.1,window=32,…`.
            "--accord" => {
                for kv in value()?.split(',') {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or("`--accord` takes key=value pairs")?;
                    let v: f64 = v.parse()?;
                    match k {
                        "e" => accord.e = v,
                        "window" => accord.window = v as usize,
                        "band" => accord.band = v,
                        "late" => accord.late = v,
                        "endgame_moves" => accord.endgame_moves = v as u32,
                        "model_decay" => accord.model_decay = v,
                        "fresh" => accord.fresh = v != 0.0,
                        other => return Err(format!("unknown knob `{other}`").into()),
                    }
                }
            }
            other => return Err(format!("unknown flag `{other}`").into()),
        }
    }
    let start = Instant::now();
    let scenarios = load_domains_dir(&domains)?;
    let loaded = start.elapsed();
    let config = TournamentConfig {
        scenarios,
        rounds,
        agents,
        seed,
        accord,
        disagreement,
    };
    let start = Instant::now();
    let report = tournament::run(&config, &|_| {});
    let played = start.elapsed();
    print!("{}", tournament::format_table(&report.agents));
    println!(
        "{} negotiations on {} domains, {} rounds, seed {seed}: load+analysis {:.1} ms, play {:.1} ms on {} threads",
        report.negotiations.len(),
        config.scenarios.len(),
        rounds,
        loaded.as_secs_f64() * 1e3,
        played.as_secs_f64() * 1e3,
        rayon::current_num_threads()
    );
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}
