//! `accord bench hold` end to end at a small size: it opens every negotiation, makes
//! the first supplier moves without a failure and verifies the log.

use crate::Accord;

#[test]
fn bench_hold_opens_moves_and_verifies() {
    let a = Accord::new();
    let dir = a.dir.path().join("hold");
    let out = a.ok(&[
        "bench",
        "hold",
        "--negotiations",
        "60",
        "--moves",
        "20",
        "--concurrency",
        "4",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.contains("60 negotiations opened"), "{out}");
    assert!(out.contains("open in the read model: 60"), "{out}");
    assert!(out.contains("20 moves in"), "{out}");
    assert!(out.contains("0 not the supplier's turn, 0 failed"), "{out}");
    assert!(
        out.contains("read model: 60 open (40 invited, 20 engaged)"),
        "{out}"
    );
    assert!(out.contains("signed checkpoints verify"), "{out}");
}

/// `accord bench store` at a small size: every scenario runs the asked number of times,
/// and the summary gives each target's median run and the range over the runs.
#[test]
fn bench_store_runs_each_scenario_and_sums_up_the_medians() {
    let a = Accord::new();
    let dir = a.dir.path().join("store");
    let out = a.ok(&[
        "bench",
        "store",
        "--events",
        "4000",
        "--verify-entries",
        "2000",
        "--runs",
        "2",
        "--writers",
        "16",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    for scenario in ["batches of 10000", "1 per transaction", "16 writers"] {
        for kind in ["negotiation moves", "spend lines"] {
            let runs = out
                .lines()
                .filter(|l| l.contains(scenario) && l.contains(kind))
                .count();
            assert_eq!(runs, 2, "{scenario}, {kind}: {runs} runs\n{out}");
        }
    }
    assert!(out.contains("[run 2/2]"), "{out}");
    assert!(out.contains("median of 2 runs"), "{out}");
    for target in [
        "batched moves",
        "single moves",
        "single spend lines",
        "group commit, moves",
        "group commit, spend lines",
        "verify",
    ] {
        let line = summary_line(&out, target);
        assert!(line.contains("/s"), "{line}");
    }
    assert!(out.contains("% of the batched rate (runs "), "{out}");
    // SQLite's own floor runs with every run, and the batched rate is set against it.
    assert_eq!(run_lines(&out, "sqlite rows alone"), 2, "{out}");
    assert!(
        summary_line(&out, "sqlite floor, prebuilt moves").contains("/s (runs "),
        "{out}"
    );
    assert!(
        summary_line(&out, "batched moves").contains("% of SQLite's floor)"),
        "{out}"
    );
    assert!(out.contains("postgres: skipped"), "{out}");
}

/// On PostgreSQL too, each append scenario and each floor runs `--runs` times and the
/// summary gives the median and the range. The benchmark works in schemas and a table
/// of its own, and drops them.
#[test]
fn bench_store_on_postgres_takes_the_median_of_its_runs() {
    let Ok(url) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED bench_store_on_postgres_takes_the_median_of_its_runs: \
             ACCORD_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let mut a = Accord::new();
    a.database_url = Some(url);
    let dir = a.dir.path().join("store");
    let out = a.ok(&[
        "bench",
        "store",
        "--events",
        "2000",
        "--verify-entries",
        "1000",
        "--runs",
        "2",
        "--writers",
        "8",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    for scenario in [
        "postgres append, 4 writers, 1 per call, Full, negotiation moves",
        "postgres append, 4 writers, 1 per call, Full, spend lines",
        "postgres append, 4 writers, 1 per call, Normal, negotiation moves",
        "postgres append, 4 writers, 100 per call, Full, spend lines",
        "postgres floor, 1 client",
        "postgres floor, 4 clients",
    ] {
        let runs = run_lines(&out, scenario);
        assert_eq!(runs, 2, "{scenario}: {runs} runs\n{out}");
    }
    for target in [
        "postgres 4 writers, 1/call, full, moves",
        "postgres 4 writers, 1/call, full, spend",
        "postgres 4 writers, 1/call, normal, moves",
        "postgres 4 writers, 100/call, full, spend",
        "postgres floor, 4 clients",
    ] {
        let line = summary_line(&out, target);
        assert!(line.contains("/s (runs "), "{line}");
    }
    // One event per call with `Full` is set against the server's floor of the same runs.
    for target in [
        "postgres 4 writers, 1/call, full, moves",
        "postgres 4 writers, 1/call, full, spend",
    ] {
        let line = summary_line(&out, target);
        assert!(line.contains("% of the 4-client floor)"), "{line}");
    }
    let line = summary_line(&out, "postgres 4 writers, 1/call, normal, moves");
    assert!(!line.contains("floor"), "{line}");
}

/// How many of `accord bench store`'s per-run lines name `scenario`.
fn run_lines(out: &str, scenario: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with("[run ") && l.contains(scenario))
        .count()
}

/// The line of `accord bench store`'s summary that starts with `target`.
fn summary_line<'a>(out: &'a str, target: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(target))
        .unwrap_or_else(|| panic!("no summary line for {target}\n{out}"))
}
