//! The work queue: leases expire and are reclaimed, failures retry or bury, and
//! concurrent claimers never get the same job twice.

use std::collections::HashSet;
use std::time::Duration;

use accord_store::{Retry, Store};
use chrono::Utc;

use crate::support::{Backend, Config, both_backends};

both_backends! {
    lease_expiry_and_reclaim,
    concurrent_claimers_never_double_claim,
}

async fn lease_expiry_and_reclaim(b: Backend) {
    let h = b.open(Config::default()).await;
    let s = &h.store;
    let now = Utc::now();
    for i in 0..3 {
        s.enqueue("match_invoice", &serde_json::json!({"n": i}), now)
            .await
            .unwrap();
    }
    let later = s
        .enqueue(
            "later",
            &serde_json::json!({}),
            now + chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    let lease = Duration::from_millis(300);
    let a = s.claim("worker-a", 2, lease).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].payload["n"], 0);
    assert_eq!(a[0].attempts, 1);
    let b2 = s.claim("worker-b", 10, lease).await.unwrap();
    assert_eq!(
        b2.len(),
        1,
        "the future job is not due; claimed ones are leased"
    );
    assert!(b2.iter().all(|j| j.id != later));
    assert_eq!(s.counts().await.unwrap().jobs_pending, 4);

    // worker-a dies; its lease runs out and worker-c takes its jobs over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let c = s
        .claim("worker-c", 10, Duration::from_secs(60))
        .await
        .unwrap();
    let mut ids: Vec<_> = c.iter().map(|j| j.id).collect();
    ids.sort();
    let mut expected: Vec<_> = a.iter().chain(&b2).map(|j| j.id).collect();
    expected.sort();
    assert_eq!(ids, expected, "all three expired leases are reclaimed");
    assert!(c.iter().all(|j| j.attempts == 2));
    // The old holder can no longer complete; the new one can.
    assert!(!s.complete(a[0].id, "worker-a").await.unwrap());
    assert!(s.complete(a[0].id, "worker-c").await.unwrap());
    // A failure retries at the given time, or buries the job.
    assert!(
        s.fail(
            a[1].id,
            "worker-c",
            "supplier timeout",
            Retry::At(Utc::now())
        )
        .await
        .unwrap()
    );
    assert!(
        s.fail(b2[0].id, "worker-c", "malformed", Retry::Never)
            .await
            .unwrap()
    );
    let retried = s.claim("worker-d", 10, lease).await.unwrap();
    assert_eq!(
        retried
            .iter()
            .map(|j| (j.id, j.attempts))
            .collect::<Vec<_>>(),
        vec![(a[1].id, 3)]
    );
    assert!(s.complete(a[1].id, "worker-d").await.unwrap());
    assert_eq!(
        s.counts().await.unwrap().jobs_pending,
        1,
        "only the future job is left"
    );
}

async fn concurrent_claimers_never_double_claim(b: Backend) {
    let h = b.open(Config::default()).await;
    let now = Utc::now();
    for i in 0..300 {
        h.store
            .enqueue("job", &serde_json::json!({"i": i}), now)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for w in 0..8 {
        let s = h.store.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let jobs = s.claim(&worker, 7, Duration::from_secs(60)).await.unwrap();
                if jobs.is_empty() {
                    break;
                }
                for j in jobs {
                    assert!(s.complete(j.id, &worker).await.unwrap());
                    mine.push(j.id);
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 300, "every job ran");
    assert_eq!(unique.len(), 300, "no job was claimed twice");
    assert_eq!(h.store.counts().await.unwrap().jobs_pending, 0);
}
