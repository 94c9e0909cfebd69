//! PostgreSQL nodes on one log. Each node's writer plans on its own cache of the tip,
//! stream versions and used keys, and guesses when it can (a stream it has not seen is
//! new, a key unused); these tests make every guess wrong in turn and check that the
//! other node's appends are caught up with, not overwritten or duplicated, that a
//! node whose writer loses its connection appends again (backing off while the server is
//! away), and that concurrent callers share the writer's commits.

use std::collections::HashMap;

use accord_store::{Append, Appended, PgOptions, PgStore, Store, VerifyOptions};
use sqlx::Executor;

use crate::support::{self, PG_ENV, node};

fn fresh_schema() -> String {
    format!("n_{}_{}", std::process::id(), rand::random::<u32>())
}

async fn drop_schema(s: &PgStore, schema: &str) {
    s.pool()
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .unwrap();
}

/// Appends supplier 1's second spend line, trying `tries` times `pause_ms` apart until the
/// writer has reconnected; panics if it never does.
async fn second_spend_once_reconnected(store: &PgStore, tries: u32, pause_ms: u64) -> Appended {
    for _ in 0..tries {
        tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        if let Ok(r) = store.append(Append::new(support::spend(1, 2, 5))).await {
            return r;
        }
    }
    panic!("the writer never reconnected");
}

/// Ends the session of the writer appending in `schema` (named `accord-writer
/// accord_events_{schema}`), as a server restart would; one `true` per session ended.
async fn end_writer_session(pool: &sqlx::PgPool, schema: &str) -> Vec<bool> {
    sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(format!("accord-writer accord_events_{schema}"))
    .fetch_all(pool)
    .await
    .unwrap()
}

fn url_or_skip(test: &str) -> Option<String> {
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {PG_ENV} not set; the PostgreSQL test `{test}` did not run"
            );
            None
        }
    }
}

/// A node that has appended once knows the tip and guesses on its next append; each
/// step below starts such a node, lets the other node append behind its back, and
/// checks its next append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_catches_up_with_what_another_appended() {
    let Some(url) = url_or_skip("a_node_catches_up_with_what_another_appended") else {
        return;
    };
    let schema = fresh_schema();
    let a = node(&url, &schema).await;
    a.append(Append::new(support::spend(9, 1, 5)))
        .await
        .unwrap(); // seq 1

    // The tip moved: the guessed first seq is taken.
    let b = node(&url, &schema).await;
    b.append(Append::new(support::spend(8, 2, 5)))
        .await
        .unwrap(); // seq 2
    a.append(Append::new(support::spend(7, 3, 5)))
        .await
        .unwrap(); // seq 3
    let r = b
        .append(Append::new(support::spend(8, 4, 5)))
        .await
        .unwrap();
    assert_eq!((r.first_seq, r.stream_version), (4, 2));

    // A stream the node has never seen is not new: the other node appended to it.
    let b = node(&url, &schema).await;
    b.append(Append::new(support::spend(6, 5, 5)))
        .await
        .unwrap(); // seq 5
    let r = b
        .append(Append::new(support::spend(7, 6, 5)))
        .await
        .unwrap();
    assert_eq!((r.first_seq, r.stream_version), (6, 2));

    // A key the other node used is a replay of its append.
    let first = a
        .append(Append::new(support::spend(5, 7, 5)).key("k-7"))
        .await
        .unwrap();
    assert_eq!(first.first_seq, 7);
    let b = node(&url, &schema).await;
    b.append(Append::new(support::spend(4, 8, 5)))
        .await
        .unwrap(); // seq 8
    let again = b
        .append(Append::new(support::spend(5, 7, 5)).key("k-7"))
        .await
        .unwrap();
    assert!(again.replayed, "{again:?}");
    assert_eq!(again.first_seq, 7);

    // A node's own key, sent again: answered from what the node committed.
    let mine = b
        .append(Append::new(support::spend(3, 9, 5)).key("k-9"))
        .await
        .unwrap();
    let retry = b
        .append(Append::new(support::spend(3, 9, 5)).key("k-9"))
        .await
        .unwrap();
    assert_eq!((mine.first_seq, mine.replayed), (9, false));
    assert_eq!((retry.first_seq, retry.replayed), (9, true));

    // Nine events were written; the replays wrote nothing.
    assert_eq!(a.last_seq().await.unwrap(), 9);
    let report = b.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 9);
    drop_schema(&a, &schema).await;
}

/// Two nodes append at once: to one shared stream, to streams of their own, and with
/// keys both of them send. Every event lands once, every stream's versions run 1..n,
/// each key is written once and replayed on the other node, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_append_at_once() {
    let Some(url) = url_or_skip("two_nodes_append_at_once") else {
        return;
    };
    let schema = fresh_schema();
    let nodes = [node(&url, &schema).await, node(&url, &schema).await];
    let mut tasks = Vec::new();
    for (n, store) in nodes.iter().enumerate() {
        for t in 0..3u64 {
            let store = store.clone();
            let n = n as u64;
            tasks.push(tokio::spawn(async move {
                let mut keyed: Vec<(u64, Appended)> = Vec::new();
                for i in 0..40u64 {
                    let line = 10_000 * (n + 1) + 100 * t + i;
                    let append = match i % 4 {
                        // Supplier 1's spend stream is shared by every task of both nodes.
                        0 => Append::new(support::spend(1, line, 5)),
                        // A stream of this task's own.
                        1 => Append::new(support::spend(10 + 3 * n + t, line, 5)),
                        // The same command, under the same key, from both nodes.
                        2 => {
                            let k = 100 * t + i;
                            Append::new(support::spend(2, 900_000 + k, 5)).key(format!("k-{k}"))
                        }
                        _ => Append::new(support::spend(20 + i, line, 5)),
                    };
                    let key = (i % 4 == 2).then_some(100 * t + i);
                    let r = store.append(append).await.unwrap();
                    if let Some(k) = key {
                        keyed.push((k, r));
                    }
                }
                keyed
            }));
        }
    }
    let mut by_key: HashMap<u64, Vec<Appended>> = HashMap::new();
    for task in tasks {
        for (k, r) in task.await.unwrap() {
            by_key.entry(k).or_default().push(r);
        }
    }
    for (k, results) in &by_key {
        assert_eq!(results.len(), 2, "key {k}");
        assert_eq!(results[0].first_seq, results[1].first_seq, "key {k}");
        assert_eq!(
            results.iter().filter(|r| !r.replayed).count(),
            1,
            "key {k}: {results:?}"
        );
    }
    // 2 nodes × 3 tasks × 40 appends, of which the keyed quarter writes once per key.
    let written = 2 * 3 * 40 - by_key.len() as u64;
    assert_eq!(nodes[0].last_seq().await.unwrap(), written);
    let gaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT stream FROM events GROUP BY stream \
         HAVING count(*) <> max(stream_version) OR min(stream_version) <> 1) s",
    )
    .fetch_one(nodes[1].pool())
    .await
    .unwrap();
    assert_eq!(gaps, 0, "a stream's versions do not run 1..n");
    let report = nodes[1].verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, written);
    drop_schema(&nodes[0], &schema).await;
}

/// The writer's session is terminated behind its back (as a server restart would): the
/// next appends open a new connection and go on from the log as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_connection_is_lost_connects_again() {
    let Some(url) = url_or_skip("a_writer_whose_connection_is_lost_connects_again") else {
        return;
    };
    let schema = fresh_schema();
    let a = node(&url, &schema).await;
    a.append(Append::new(support::spend(1, 1, 5)))
        .await
        .unwrap();
    let terminated = end_writer_session(a.pool(), &schema).await;
    assert_eq!(terminated, [true], "one writer session for `{schema}`");
    // An append racing the connection's end may fail (it is not resent: whether its
    // commit landed would be unknown); a later one reconnects.
    let r = second_spend_once_reconnected(&a, 20, 50).await;
    assert_eq!((r.first_seq, r.stream_version), (2, 2));
    let report = a.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 2);
    drop_schema(&a, &schema).await;
}

/// While the server refuses connections, appends fail at once with an error that says
/// so, and the writer backs off between attempts; once the server takes connections
/// again, the writer reconnects on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_cannot_reconnect_fails_appends_and_recovers() {
    let Some(url) = url_or_skip("a_writer_that_cannot_reconnect_fails_appends_and_recovers") else {
        return;
    };
    // A database of its own, so that refusing its connections touches no other test.
    let db = format!(
        "accord_refused_{}_{}",
        std::process::id(),
        rand::random::<u32>()
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .await
        .unwrap();
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    let db_url = match query {
        "" => format!("{server}/{db}"),
        q => format!("{server}/{db}?{q}"),
    };
    let a = PgStore::connect(&db_url, PgOptions::default())
        .await
        .unwrap();
    a.append(Append::new(support::spend(1, 1, 5)))
        .await
        .unwrap();

    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false"
        )))
        .await
        .unwrap();
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND application_name LIKE 'accord-writer %'",
    )
    .bind(&db)
    .fetch_all(&admin)
    .await
    .unwrap();
    assert_eq!(terminated, [true], "one writer session in {db}");
    let mut refused = None;
    for _ in 0..20 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        match a.append(Append::new(support::spend(1, 2, 5))).await {
            Err(e) if e.to_string().contains("tries again in") => {
                refused = Some(e.to_string());
                break;
            }
            Err(_) => {}
            Ok(r) => panic!("appended {r:?} while the database refused connections"),
        }
    }
    let refused = refused.expect("no append failed for the lost connection");
    assert!(
        refused.contains("connection to PostgreSQL is lost"),
        "{refused}"
    );
    // At once again: held back by the wait, not waiting for the server.
    let started = std::time::Instant::now();
    let again = a.append(Append::new(support::spend(1, 2, 5))).await;
    assert!(again.is_err(), "{again:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));

    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS true"
        )))
        .await
        .unwrap();
    let r = second_spend_once_reconnected(&a, 60, 100).await;
    assert_eq!((r.first_seq, r.stream_version), (2, 2));
    drop(a);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {db} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

/// The number of transactions that wrote the schema's events: each row's `xmin`.
async fn writing_transactions(s: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM events")
        .fetch_one(s.pool())
        .await
        .unwrap()
}

/// Group commit on PostgreSQL: callers that append at once share transactions (one
/// commit, one WAL flush, for many), while one caller appending in turn gets one
/// transaction per append, so the count below tells the two apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_the_writers_commits() {
    let Some(url) = url_or_skip("concurrent_callers_share_the_writers_commits") else {
        return;
    };
    let schema = fresh_schema();
    let a = node(&url, &schema).await;
    for i in 0..20 {
        a.append(Append::new(support::spend(1, i, 5)))
            .await
            .unwrap();
    }
    assert_eq!(writing_transactions(&a).await, 20, "one caller in turn");

    let callers = 200;
    let tasks: Vec<_> = (0..callers)
        .map(|i| {
            let a = a.clone();
            tokio::spawn(async move {
                a.append(Append::new(support::spend(2 + i % 10, 1_000 + i, 5)))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let shared = writing_transactions(&a).await - 20;
    eprintln!("{callers} concurrent appends committed in {shared} transactions");
    assert!(
        shared <= callers as i64 / 4,
        "{callers} concurrent appends took {shared} transactions: they were not grouped"
    );
    let report = a.verify(&VerifyOptions::default()).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.entries, 20 + callers);
    drop_schema(&a, &schema).await;
}

/// A TCP proxy in front of the test server that counts the connections it is asked for
/// and, while `refusing`, closes each at once (as a server that is down would).
struct Proxy {
    port: u16,
    attempts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    async fn start(server: std::net::SocketAddr) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            attempts: Default::default(),
            refusing: Default::default(),
        };
        let (attempts, refusing) = (proxy.attempts.clone(), proxy.refusing.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                attempts.fetch_add(1, Ordering::SeqCst);
                if refusing.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                tokio::spawn(async move {
                    if let Ok(mut upstream) = tokio::net::TcpStream::connect(server).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        proxy
    }
}

/// While the server cannot be reached, the writer does not try again on every append: it
/// waits 100 ms, then 200, 400, … between attempts, and appends in between fail without
/// a connection attempt. Counted at a proxy in front of the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_backs_off_between_reconnect_attempts() {
    use std::sync::atomic::Ordering;
    let Some(url) = url_or_skip("a_writer_backs_off_between_reconnect_attempts") else {
        return;
    };
    let Some(rest) = url.strip_prefix("postgres://postgres@127.0.0.1:5432/") else {
        eprintln!(
            "SKIPPED: the backoff test needs a test URL of postgres://postgres@127.0.0.1:5432/…"
        );
        return;
    };
    let proxy = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = format!("postgres://postgres@127.0.0.1:{}/{rest}", proxy.port);
    let schema = fresh_schema();
    let a = node(&proxied, &schema).await;
    a.append(Append::new(support::spend(1, 1, 5)))
        .await
        .unwrap();

    // The server goes away for the writer: new connections are closed at once, and its
    // session is ended (its pool and change feed keep theirs).
    proxy.refusing.store(true, Ordering::SeqCst);
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    let terminated = end_writer_session(&admin, &schema).await;
    assert_eq!(terminated, [true]);
    let before = proxy.attempts.load(Ordering::SeqCst);
    let started = std::time::Instant::now();
    let mut failed = 0;
    while started.elapsed() < std::time::Duration::from_millis(1_500) {
        if a.append(Append::new(support::spend(1, 2, 5)))
            .await
            .is_err()
        {
            failed += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let attempts = proxy.attempts.load(Ordering::SeqCst) - before;
    eprintln!("{failed} failed appends in 1.5 s made {attempts} connection attempts");
    // Without the wait, every failed append would have tried (~100 here); with it, an
    // attempt at once, then after 100, 200, 400 and 800 ms: five at most in 1.5 s.
    assert!(failed >= 50, "{failed} appends failed");
    assert!(
        (1..=6).contains(&attempts),
        "{attempts} connection attempts for {failed} failed appends"
    );

    proxy.refusing.store(false, Ordering::SeqCst);
    let r = second_spend_once_reconnected(&a, 60, 100).await;
    assert_eq!((r.first_seq, r.stream_version), (2, 2));
    admin
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .unwrap();
}
