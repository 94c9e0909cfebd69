//! Criterion benches of RFC 8785 canonical JSON, the payload format every append writes:
//! a negotiation move (the log's hot path) and a spend line, each from its `Event`.

use std::hint::black_box;

use accord_store::bench::{move_event, spend_event};
use accord_store::chain::canonical_json;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn canonical(c: &mut Criterion) {
    let mut g = c.benchmark_group("canonical_json");
    g.throughput(Throughput::Elements(1));
    for (name, event) in [
        ("move", move_event(123_457)),
        ("spend", spend_event(123_457)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| canonical_json(black_box(&event)).expect("canonical JSON"))
        });
    }
    g.finish();
}

criterion_group!(benches, canonical);
criterion_main!(benches);
