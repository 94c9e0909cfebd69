//! Times one thread's share of a campaign: building each negotiation (the money
//! valuation tabulated over the space, and its analysis) apart from playing it.
//!
//! `cargo run --release -p accord-sim --example throughput [N]`

use std::time::{Duration, Instant};

use accord_negotiate::AgentKind;
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::Context;
use accord_sim::persona::BuyerTemplate;
use accord_sim::{Enterprise, EnterpriseConfig, TailNegotiation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200);
    let e = Enterprise::generate(&EnterpriseConfig::default(), 1)?;
    let template = BuyerTemplate::default();
    let (mut build, mut play, mut outcomes) = (Duration::ZERO, Duration::ZERO, 0u64);
    for i in 0..n.min(e.suppliers.len()) {
        let t0 = Instant::now();
        let neg =
            TailNegotiation::build(&e.suppliers[i], e.region_of(i), &e.personas[i], &template)?;
        build += t0.elapsed();
        outcomes += neg.scenario.outcomes();
        let t0 = Instant::now();
        let mut a = AgentKind::Accord.build(&Context::of(&neg.scenario, 0));
        let mut b = e.personas[i].bot(&neg);
        let _ = session::run(
            &neg.scenario,
            a.as_mut(),
            b.as_mut(),
            &SessionConfig::rounds(template.rounds, i as u64),
            &mut || 0,
        );
        play += t0.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e3 / n as f64;
    println!(
        "{n} negotiations, {:.0} outcomes on average: build {:.2} ms, play {:.2} ms each ({:.0} per second on one thread)",
        outcomes as f64 / n as f64,
        per(build),
        per(play),
        n as f64 / (build + play).as_secs_f64()
    );
    Ok(())
}
