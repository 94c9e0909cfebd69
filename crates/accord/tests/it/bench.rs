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
