//! Prints the store's figures: `cargo run --release -p accord-store --example store_bench
//! -- [n] [batched|single|group|rows|import|verify|pg] [move|spend] [writers]`. Set `ACCORD_TEST_DATABASE_URL` to include PostgreSQL
//! (spend lines unless `move` is given).

use accord_store::bench::{self, AppendMode, BenchEvent};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let which = std::env::args().nth(2).unwrap_or_else(|| "all".into());
    let dir = std::env::temp_dir().join(format!("accord-bench-{}", std::process::id()));
    let want = |k: &str| which == "all" || which == k;
    let writers: usize = std::env::args()
        .nth(4)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let kind = match std::env::args().nth(3).as_deref() {
        Some("spend") => BenchEvent::Spend,
        _ => BenchEvent::Move,
    };
    // PostgreSQL's figures have always been spend lines; moves when asked for.
    let pg_kind = match std::env::args().nth(3).as_deref() {
        Some("move") => BenchEvent::Move,
        _ => BenchEvent::Spend,
    };
    if want("batched") {
        println!(
            "{}",
            bench::bench_append_sqlite(&dir, AppendMode::Batched { batch: 10_000 }, kind, n)
                .await?
        );
    }
    if want("single") {
        println!(
            "{}",
            bench::bench_append_sqlite(&dir, AppendMode::Single, kind, n / 4).await?
        );
    }
    if want("group") {
        println!(
            "{}",
            bench::bench_append_sqlite(&dir, AppendMode::GroupCommit { writers }, kind, n / 2)
                .await?
        );
    }
    if want("rows") {
        println!("{}", bench::bench_sqlite_rows(&dir, n).await?);
    }
    if want("import") {
        println!("{}", bench::bench_import_sqlite(&dir, n).await?);
    }
    if want("verify") {
        println!("{}", bench::bench_verify_sqlite(&dir, n).await?);
    }
    if want("pg")
        && let Ok(url) = std::env::var("ACCORD_TEST_DATABASE_URL")
    {
        use accord_store::Durability::{Full, Normal};
        for (per_call, events, durability) in [
            (1, n / 10, Full),
            (1, n / 10, Normal),
            (100, n, Full),
            (1000, n, Full),
        ] {
            let r = bench::bench_append_pg(&url, 4, per_call, events, durability, pg_kind).await?;
            println!("{r}");
        }
        for clients in [1, 4] {
            println!(
                "{}",
                bench::bench_pg_commit_floor(&url, clients, n / 10).await?
            );
        }
    }
    if std::env::var_os("ACCORD_BENCH_KEEP").is_some() {
        println!("kept {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
