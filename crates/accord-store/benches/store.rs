//! Criterion benches of the store: SQLite appends in the three durability modes, the
//! importer's keyed batches, verify, and (with `ACCORD_TEST_DATABASE_URL`) PostgreSQL
//! appends with four writers. Each iteration times one `accord_store::bench` run.

use std::time::Duration;

use accord_store::Durability;
use accord_store::bench::{self, AppendMode, BenchEvent, BenchReport};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const N: u64 = 50_000;

fn run<F, Fut>(c: &mut Criterion, name: &str, n: u64, f: F)
where
    F: Fn(std::path::PathBuf) -> Fut + Copy,
    Fut: std::future::Future<Output = accord_store::Result<BenchReport>>,
{
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("store");
    g.sample_size(10).throughput(Throughput::Elements(n));
    g.bench_function(name, |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let path = dir.path().to_path_buf();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let report = f(path.clone()).await.expect("bench run");
                    total += Duration::from_secs_f64(report.seconds);
                }
                total
            }
        })
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    run(c, "sqlite_append_batched", N, |d| async move {
        bench::bench_append_sqlite(
            &d,
            AppendMode::Batched { batch: 10_000 },
            BenchEvent::Move,
            N,
        )
        .await
    });
    run(c, "sqlite_append_single", N / 10, |d| async move {
        bench::bench_append_sqlite(&d, AppendMode::Single, BenchEvent::Move, N / 10).await
    });
    run(c, "sqlite_append_group_commit_64", N / 5, |d| async move {
        bench::bench_append_sqlite(
            &d,
            AppendMode::GroupCommit { writers: 64 },
            BenchEvent::Move,
            N / 5,
        )
        .await
    });
    run(c, "sqlite_import_keyed", N, |d| async move {
        bench::bench_import_sqlite(&d, N).await
    });
    run(c, "sqlite_verify", N, |d| async move {
        bench::bench_verify_sqlite(&d, N).await
    });
    if let Ok(url) = std::env::var("ACCORD_TEST_DATABASE_URL") {
        let url: &'static str = Box::leak(url.into_boxed_str());
        run(
            c,
            "postgres_append_4_writers",
            N / 10,
            move |_| async move {
                bench::bench_append_pg(url, 4, 1, N / 10, Durability::Full, BenchEvent::Spend).await
            },
        );
    }
}

criterion_group!(benches, append);
criterion_main!(benches);
