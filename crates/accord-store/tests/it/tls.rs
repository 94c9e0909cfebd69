//! TLS to PostgreSQL for the whole store: the pool (sqlx) and the writer (tokio-postgres)
//! read `sslmode` from the same URL and encrypt, or check the server's certificate, alike.
//! Needs a test server that offers TLS with a certificate readable here (Debian's
//! PostgreSQL does, with its self-signed `localhost` certificate); otherwise each test
//! says it did not run. The writer's own connection is tested in `src/pg/tls.rs`.

use accord_store::{Append, PgOptions, PgStore, Store};
use sqlx::Executor;

use crate::support::{self, PG_ENV};

/// The test URL and the server certificate's path, or why the test cannot run.
async fn server(test: &str) -> Option<(String, String)> {
    let skip = |why: &str| {
        eprintln!("SKIPPED: the PostgreSQL test `{test}` did not run: {why}");
        None
    };
    let Ok(url) = std::env::var(PG_ENV) else {
        return skip(&format!("{PG_ENV} is not set"));
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&pool)
        .await
        .unwrap();
    let cert: String = sqlx::query_scalar("SHOW ssl_cert_file")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    if ssl != "on" {
        return skip("the test server does not offer TLS");
    }
    if std::fs::read(&cert).is_err() {
        return skip(&format!(
            "the server's certificate {cert} is not readable here"
        ));
    }
    Some((url, cert))
}

fn with(url: &str, params: &str) -> String {
    let glue = if url.contains('?') { '&' } else { '?' };
    format!("{url}{glue}{params}")
}

fn fresh_schema() -> String {
    format!("tls_{}_{}", std::process::id(), rand::random::<u32>())
}

/// Opens a store on `url` in a fresh schema, appends, and returns whether its pool's
/// session and its writer's session are encrypted.
async fn store_sessions_ssl(url: &str) -> (bool, bool) {
    let schema = fresh_schema();
    let store = PgStore::connect(
        url,
        PgOptions {
            schema: Some(schema.clone()),
            ..PgOptions::default()
        },
    )
    .await
    .unwrap();
    let r = store
        .append(Append::new(support::spend(1, 1, 5)))
        .await
        .unwrap();
    assert_eq!(r.first_seq, 1);
    let pool: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let writer: Vec<bool> = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = $1",
    )
    .bind(format!("accord-writer accord_events_{schema}"))
    .fetch_all(store.pool())
    .await
    .unwrap();
    store
        .pool()
        .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
        .await
        .unwrap();
    assert_eq!(writer.len(), 1, "one writer session");
    (pool, writer[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_and_writer_encrypt_as_the_url_says() {
    let Some((url, _)) = server("pool_and_writer_encrypt_as_the_url_says").await else {
        return;
    };
    for (mode, encrypted) in [("disable", false), ("require", true)] {
        let both = store_sessions_ssl(&with(&url, &format!("sslmode={mode}"))).await;
        assert_eq!(
            both,
            (encrypted, encrypted),
            "sslmode={mode}: (pool, writer)"
        );
    }
    // sqlx's own spelling reaches the writer too.
    assert_eq!(
        store_sessions_ssl(&with(&url, "ssl-mode=disable")).await,
        (false, false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_checks_the_servers_name_with_verify_full() {
    let Some((url, cert)) = server("a_store_checks_the_servers_name_with_verify_full").await else {
        return;
    };
    if !url.contains("@127.0.0.1:") {
        eprintln!("SKIPPED: verify-full by host name needs a test URL on 127.0.0.1");
        return;
    }
    let root = format!("sslmode=verify-full&sslrootcert={cert}");
    // The certificate names `localhost`, not the address.
    let in_a_schema = PgOptions {
        schema: Some(fresh_schema()),
        ..PgOptions::default()
    };
    let by_address = PgStore::connect(&with(&url, &root), in_a_schema).await;
    let e = by_address.err().expect("refused").to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
    let by_name = url.replace("@127.0.0.1:", "@localhost:");
    assert_eq!(
        store_sessions_ssl(&with(&by_name, &root)).await,
        (true, true)
    );
}
