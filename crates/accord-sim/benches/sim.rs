//! Criterion benchmarks: enterprise generation with CSV writing, and in-process campaign
//! throughput (negotiations per second).

use std::hint::black_box;

use accord_sim::{CampaignConfig, Enterprise, EnterpriseConfig, export, run_campaign};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn generate(c: &mut Criterion) {
    let config = EnterpriseConfig::default();
    let mut g = c.benchmark_group("generate");
    g.sample_size(10);
    g.throughput(Throughput::Elements(config.spend_lines as u64));
    g.bench_function("2000 suppliers, 100k lines, csv", |b| {
        b.iter(|| {
            let e = Enterprise::generate(&config, black_box(7)).expect("generate");
            let mut out = Vec::with_capacity(16 << 20);
            export::write_suppliers(&e, &mut out).expect("write");
            export::write_contracts(&e, &mut out).expect("write");
            export::write_spend(&e, &mut out).expect("write");
            out.len()
        })
    });
    g.finish();
}

fn campaign(c: &mut Criterion) {
    let e = Enterprise::generate(&EnterpriseConfig::default(), 7).expect("generate");
    let config = CampaignConfig {
        suppliers: Some(200),
        ..CampaignConfig::default()
    };
    let mut g = c.benchmark_group("campaign");
    g.sample_size(10);
    g.throughput(Throughput::Elements(200));
    g.bench_function("200 negotiations", |b| {
        b.iter(|| {
            run_campaign(&e, black_box(&config))
                .expect("campaign")
                .total
                .closed
        })
    });
    g.finish();
}

criterion_group!(benches, generate, campaign);
criterion_main!(benches);
