//! Criterion benchmarks of accord-p2p: UBL reading and validation (shared EN 16931
//! examples and generated invoices), three-way match per line, and duplicate checks.
//!
//! Run: `cargo bench -p accord-p2p --bench p2p`. Throughput is reported in elements
//! (invoices for `ubl/*`, invoice lines for `match/*`, invoices for `duplicate/*`).
//!
//! With `ACCORD_BENCH_CPU=1` the benches measure this thread's CPU time (from
//! `/proc/thread-self/schedstat`, Linux only, with flat sampling) instead of wall time,
//! which stays meaningful on a machine shared with other builds: wall time there counts
//! time spent waiting for a core.

use std::hint::black_box;

use accord_core::{
    Currency, Money,
    document::InvoiceKind,
    id::{InvoiceId, SupplierId},
};
use accord_p2p::{
    duplicate::{DuplicateIndex, Fingerprint},
    generate_invoice, generate_order,
    matching::{MatchInput, Matcher, PoIndex},
    read_ubl,
    tolerance::TolerancePolicy,
};
use chrono::NaiveDate;
use criterion::{
    Criterion, SamplingMode, Throughput,
    measurement::{Measurement, ValueFormatter},
};

fn shared_examples() -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/ubl");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the shared UBL examples are beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn ubl<M: Measurement>(c: &mut Criterion<M>, mode: SamplingMode) {
    let examples = shared_examples();
    let mut g = c.benchmark_group("ubl");
    g.sampling_mode(mode);
    g.throughput(Throughput::Elements(examples.len() as u64));
    g.bench_function("read_shared_examples", |b| {
        b.iter(|| {
            for x in &examples {
                black_box(read_ubl(black_box(x)).unwrap());
            }
        })
    });
    for lines in [10usize, 100, 1000] {
        let xml = generate_invoice(42, lines);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("read_generated_{lines}_lines"), |b| {
            b.iter(|| black_box(read_ubl(black_box(&xml)).unwrap()))
        });
    }
    g.finish();
}

fn matching<M: Measurement>(c: &mut Criterion<M>, mode: SamplingMode) {
    let policy = TolerancePolicy::default();
    let mut g = c.benchmark_group("match");
    g.sampling_mode(mode);
    for lines in [10usize, 1000] {
        let (po, receipt, invoice) = generate_order(7, lines);
        let receipts = [receipt];
        g.throughput(Throughput::Elements(lines as u64));
        let index = PoIndex::new(&po, &receipts);
        let mut matcher = Matcher::new(&policy);
        g.bench_function(format!("prebuilt_index_{lines}_lines"), |b| {
            b.iter(|| {
                let r = matcher.match_invoice(&index, &MatchInput::new(black_box(&invoice)));
                assert!(r.is_matched());
                black_box(r)
            })
        });
        g.bench_function(format!("index_and_match_{lines}_lines"), |b| {
            b.iter(|| {
                let index = PoIndex::new(black_box(&po), &receipts);
                black_box(Matcher::new(&policy).match_invoice(&index, &MatchInput::new(&invoice)))
            })
        });
    }
    g.finish();
}

fn duplicates<M: Measurement>(c: &mut Criterion<M>, mode: SamplingMode) {
    let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    let fp = |i: u64| Fingerprint {
        invoice: InvoiceId::from_parts(0, u128::from(i) + 1),
        supplier: SupplierId::from_parts(0, u128::from(i % 5000)),
        kind: InvoiceKind::Invoice,
        number: format!("INV-{i:08}"),
        issue_date: day + chrono::Days::new(i % 365),
        amount: Money::new((i * 7919 % 1_000_000) as i64, Currency::EUR),
        referenced_invoice: None,
    };
    let mut index = DuplicateIndex::new();
    for i in 0..100_000 {
        index.insert(fp(i));
    }
    let probe: Vec<_> = (100_000..101_000).map(fp).collect();
    let mut g = c.benchmark_group("duplicate");
    g.sampling_mode(mode);
    g.throughput(Throughput::Elements(probe.len() as u64));
    g.bench_function("check_against_100k", |b| {
        b.iter(|| {
            for p in &probe {
                black_box(index.check(black_box(p)));
            }
        })
    });
    g.finish();
}

/// CPU time of the calling thread, in nanoseconds.
struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("ACCORD_BENCH_CPU needs Linux /proc/thread-self/schedstat");
    stat.split_whitespace().next().unwrap().parse().unwrap()
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical < 1e3 {
            (1.0, "ns cpu")
        } else if typical < 1e6 {
            (1e3, "µs cpu")
        } else if typical < 1e9 {
            (1e6, "ms cpu")
        } else {
            (1e9, "s cpu")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }

    fn scale_throughputs(
        &self,
        typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let n = match throughput {
            Throughput::Elements(n) => *n as f64,
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => *n as f64,
            Throughput::Bits(n) => *n as f64,
        };
        let per_s = n * 1e9 / typical;
        let (div, unit) = if per_s < 1e3 {
            (1.0, "elem/s cpu")
        } else if per_s < 1e6 {
            (1e3, "Kelem/s cpu")
        } else {
            (1e6, "Melem/s cpu")
        };
        values.iter_mut().for_each(|v| *v = n * 1e9 / *v / div);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn config<M: Measurement>(c: Criterion<M>) -> Criterion<M> {
    c.warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args()
}

fn main() {
    if std::env::var_os("ACCORD_BENCH_CPU").is_some() {
        // The kernel updates a thread's run time at scheduler ticks, not at each read:
        // flat sampling keeps every sample long (about 100 ms) so the tick does not show.
        let mut c = config(Criterion::default().with_measurement(ThreadCpu));
        ubl(&mut c, SamplingMode::Flat);
        matching(&mut c, SamplingMode::Flat);
        duplicates(&mut c, SamplingMode::Flat);
    } else {
        let mut c = config(Criterion::default());
        ubl(&mut c, SamplingMode::Auto);
        matching(&mut c, SamplingMode::Auto);
        duplicates(&mut c, SamplingMode::Auto);
    }
    Criterion::default().configure_from_args().final_summary();
}
