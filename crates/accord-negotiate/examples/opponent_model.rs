//! Measures the flagship's opponent model: after each negotiation against each agent on
//! each ANAC domain (both profile assignments, 100 rounds), the Pearson correlation between
//! the model's estimate and the opponent's true utility over all outcomes, for several
//! weightings of old against new offers. Usage: `opponent_model [--domains DIR]`.

use std::path::PathBuf;

use accord_negotiate::load::load_domains_dir;
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::{Accord, AccordParams, AgentKind, Context, Strategy};

fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut domains = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/genius"
    ));
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--domains") {
        domains = PathBuf::from(args.get(i + 1).ok_or("`--domains` needs a value")?);
    }
    let scenarios: Vec<_> = load_domains_dir(&domains)?
        .into_iter()
        .flat_map(|s| [s.swapped(), s])
        .collect();
    println!(
        "{:<8}{}",
        "decay",
        AgentKind::ALL.map(|a| format!("{:>12}", a.name())).join("")
    );
    for decay in [0.0, 1.2, 3.0, 6.0] {
        let params = AccordParams {
            model_decay: decay,
            ..AccordParams::default()
        };
        let mut row = format!("{decay:<8}");
        for opponent in AgentKind::ALL {
            let mut total = 0.0;
            for (i, s) in scenarios.iter().enumerate() {
                let mut me = Accord::new(&Context::of(s, 0), params);
                let mut other = opponent.build_with(&Context::of(s, 1), params);
                session::run(
                    s,
                    &mut me,
                    other.as_mut(),
                    &SessionConfig::rounds(100, i as u64),
                    &mut || 0,
                );
                let model = me.model().expect("the flagship keeps a model");
                let est: Vec<f64> = (0..s.outcomes() as u32)
                    .map(|k| model.estimate(&s.space, &s.values, k))
                    .collect();
                total += pearson(&est, s.tables[1].utils());
            }
            row.push_str(&format!("{:>12.3}", total / scenarios.len() as f64));
        }
        println!("{row}");
    }
    Ok(())
}
