//! Scratch: measures canonicalisation and hashing speed.
fn main() {
    let n = 100_000u64;
    let events: Vec<_> = (0..n).map(accord_store::bench::spend_event).collect();
    let t = std::time::Instant::now();
    let mut total = 0;
    for e in &events {
        total += accord_store::chain::canonical_json(e).unwrap().len();
    }
    println!(
        "jcs: {:.0}/s ({} bytes avg)",
        n as f64 / t.elapsed().as_secs_f64(),
        total / n as usize
    );
    let t = std::time::Instant::now();
    for e in &events {
        total += serde_json::to_string(e).unwrap().len();
    }
    println!("serde_json: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let mut h = [0u8; 32];
    let buf = vec![7u8; 600];
    for _ in 0..n {
        h = accord_store::chain::link_hash(&h, &buf);
    }
    println!("sha256 600B: {:.0}/s", n as f64 / t.elapsed().as_secs_f64());
}
