//! Criterion benchmarks: one full negotiation on Camera and Wholesaler, and the one-off
//! analysis of Wholesaler. Run with `cargo bench -p accord-negotiate`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use accord_negotiate::analysis::{Disagreement, ScenarioStats};
use accord_negotiate::load::load_domain_dir;
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::{AgentKind, Context};
use accord_negotiate::{Scenario, UtilityTable};

const GENIUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/genius");

fn scenario(name: &str) -> Scenario {
    load_domain_dir(&Path::new(GENIUS).join(name)).expect("shared Genius data")
}

fn negotiation(c: &mut Criterion, domain: &str, a: AgentKind, b: AgentKind) {
    let s = scenario(domain);
    let config = SessionConfig::rounds(100, 7);
    c.bench_function(
        &format!("negotiate/{domain}/{a}-vs-{b}/100-rounds"),
        |bench| {
            bench.iter(|| {
                let mut sa = a.build(&Context::of(&s, 0));
                let mut sb = b.build(&Context::of(&s, 1));
                let t = session::run(&s, sa.as_mut(), sb.as_mut(), &config, &mut || 0);
                black_box(t.agreement())
            })
        },
    );
}

fn negotiations(c: &mut Criterion) {
    negotiation(c, "Camera", AgentKind::Accord, AgentKind::Boulware);
    negotiation(c, "Camera", AgentKind::Boulware, AgentKind::Accord);
    negotiation(c, "Wholesaler", AgentKind::Boulware, AgentKind::Boulware);
    negotiation(c, "Wholesaler", AgentKind::Accord, AgentKind::Boulware);
}

fn analysis(c: &mut Criterion) {
    for domain in ["Camera", "Wholesaler"] {
        let s = scenario(domain);
        let (a, b): (&UtilityTable, &UtilityTable) = (&s.tables[0], &s.tables[1]);
        c.bench_function(&format!("analysis/{domain}/frontier-nash-kalai"), |bench| {
            bench.iter(|| {
                let stats = ScenarioStats::new(
                    black_box(a.utils()),
                    black_box(b.utils()),
                    [a.reservation(), b.reservation()],
                    Disagreement::Reservation,
                );
                black_box((stats.nash, stats.kalai, stats.frontier.len()))
            })
        });
    }
}

criterion_group!(benches, negotiations, analysis);
criterion_main!(benches);
