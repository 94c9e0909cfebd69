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

/// Opens a store on `url` in a fresh schema, appends, and returns `column` of
/// `pg_stat_ssl` for its pool's session and for its writer's.
async fn store_sessions<T>(url: &str, column: &str) -> accord_store::Result<(T, T)>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send + Unpin,
{
    let schema = fresh_schema();
    let store = PgStore::connect(
        url,
        PgOptions {
            schema: Some(schema.clone()),
            ..PgOptions::default()
        },
    )
    .await?;
    let r = store.append(Append::new(support::spend(1, 1, 5))).await?;
    assert_eq!(r.first_seq, 1);
    let pool: T = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    )))
    .fetch_one(store.pool())
    .await
    .unwrap();
    let mut writer: Vec<T> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT s.{column} FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = $1"
    )))
    .bind(format!("accord-writer accord_events_{schema}"))
    .fetch_all(store.pool())
    .await
    .unwrap();
    store
        .pool()
        .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .await
        .unwrap();
    assert_eq!(writer.len(), 1, "one writer session");
    Ok((pool, writer.remove(0)))
}

/// Whether the store's pool session and writer session are encrypted.
async fn store_sessions_ssl(url: &str) -> (bool, bool) {
    store_sessions(url, "ssl").await.unwrap()
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

/// A certificate authority and a client certificate it signed (P-256 keys, PEM files),
/// made with the `openssl` command in a directory the server's user can read; removed
/// when dropped.
struct ClientPki {
    dir: std::path::PathBuf,
}

impl ClientPki {
    /// Makes the files, or says why not (no `openssl` here).
    fn make(label: &str) -> Result<ClientPki, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "accord-pki-{label}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let pki = ClientPki { dir };
        // Version 3, as rustls accepts only that, for a client.
        std::fs::write(
            pki.dir.join("client.ext"),
            "basicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n",
        )
        .map_err(|e| e.to_string())?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let steps: [&[&str]; 3] = [
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-subj", "/CN=accord test CA", "-days", "2"],
            ]
            .concat(),
            &[
                &["req"],
                &ec[..],
                &["-keyout", "client.key", "-out", "client.csr"],
                &["-subj", "/CN=accord-test-client"],
            ]
            .concat(),
            &[
                "x509",
                "-req",
                "-in",
                "client.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "client.pem",
                "-days",
                "2",
                "-extfile",
                "client.ext",
            ],
        ];
        for args in steps {
            let out = std::process::Command::new("openssl")
                .args(args)
                .current_dir(&pki.dir)
                .output()
                .map_err(|e| format!("cannot run openssl: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "openssl {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        std::fs::set_permissions(pki.ca(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        Ok(pki)
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.join("ca.pem")
    }

    /// The URL parameters that present the client certificate.
    fn params(&self) -> String {
        format!(
            "sslcert={}&sslkey={}",
            self.dir.join("client.pem").display(),
            self.dir.join("client.key").display()
        )
    }
}

impl Drop for ClientPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The test server trusting `ca` for client certificates (`ssl_ca_file`), until dropped.
/// With `trust` or password rules in `pg_hba.conf` a client without a certificate still
/// gets in, so the other tests running meanwhile are not disturbed; one that presents a
/// certificate must present one this CA signed.
struct TrustedClientCa {
    url: String,
}

impl TrustedClientCa {
    async fn set(url: &str, ca: &std::path::Path) -> TrustedClientCa {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let ca = ca.display().to_string();
        pool.execute(sqlx::AssertSqlSafe(format!(
            "ALTER SYSTEM SET ssl_ca_file = '{ca}'"
        )))
        .await
        .unwrap();
        pool.execute("SELECT pg_reload_conf()").await.unwrap();
        pool.close().await;
        let guard = TrustedClientCa {
            url: url.to_owned(),
        };
        // The postmaster reloads on its own time; a new session shows when it has.
        for _ in 0..100 {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url)
                .await
                .unwrap();
            let now: String = sqlx::query_scalar("SHOW ssl_ca_file")
                .fetch_one(&mut c)
                .await
                .unwrap();
            if now == ca {
                return guard;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the server did not take ssl_ca_file = {ca}");
    }
}

impl Drop for TrustedClientCa {
    /// Resets `ssl_ca_file` (on a thread of its own: drop cannot wait on the test's
    /// runtime), also when the test failed.
    fn drop(&mut self) {
        let url = self.url.clone();
        let reset = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let pool = sqlx::PgPool::connect(&url).await.unwrap();
                    pool.execute("ALTER SYSTEM RESET ssl_ca_file")
                        .await
                        .unwrap();
                    pool.execute("SELECT pg_reload_conf()").await.unwrap();
                    pool.close().await;
                })
        });
        let _ = reset.join();
    }
}

/// The client certificate's subject as the server saw it on the store's pool session and
/// on its writer's.
async fn store_client_dns(url: &str) -> accord_store::Result<(Option<String>, Option<String>)> {
    store_sessions(url, "client_dn").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_and_writer_present_the_client_certificate() {
    let test = "pool_and_writer_present_the_client_certificate";
    let Some((url, _)) = server(test).await else {
        return;
    };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&pool)
            .await
            .unwrap();
    let preset: String = sqlx::query_scalar("SHOW ssl_ca_file")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    if !superuser || !preset.is_empty() {
        eprintln!(
            "SKIPPED: `{test}` did not run: it sets the server's ssl_ca_file, which needs a \
             superuser and a server that has none set"
        );
        return;
    }
    let (ours, theirs) = match (ClientPki::make("ours"), ClientPki::make("theirs")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("SKIPPED: `{test}` did not run: {e}");
            return;
        }
    };
    let _trusted = TrustedClientCa::set(&url, &ours.ca()).await;
    let tls = with(&url, &format!("sslmode=require&{}", ours.params()));
    let dn = Some("/CN=accord-test-client".to_owned());
    assert_eq!(store_client_dns(&tls).await.unwrap(), (dn.clone(), dn));
    // Without one, neither connection presents a certificate.
    let bare = with(&url, "sslmode=require");
    assert_eq!(store_client_dns(&bare).await.unwrap(), (None, None));
    // A certificate another CA signed is refused by the server.
    let stranger = with(&url, &format!("sslmode=require&{}", theirs.params()));
    let e = store_client_dns(&stranger)
        .await
        .expect_err("refused")
        .to_string();
    assert!(e.to_lowercase().contains("unknown"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_checks_only_the_chain_with_verify_ca() {
    let Some((url, cert)) = server("a_store_checks_only_the_chain_with_verify_ca").await else {
        return;
    };
    // By address, where the certificate names `localhost`: the chain holds, the name is
    // not asked about, and both connections open.
    let verify_ca = with(&url, &format!("sslmode=verify-ca&sslrootcert={cert}"));
    assert_eq!(store_sessions_ssl(&verify_ca).await, (true, true));
    // Other roots than the server's: the chain reaches none, and the store does not open.
    let bundle = "/etc/ssl/certs/ca-certificates.crt";
    if std::fs::metadata(bundle).is_ok() {
        let other = with(&url, &format!("sslmode=verify-ca&sslrootcert={bundle}"));
        let in_a_schema = PgOptions {
            schema: Some(fresh_schema()),
            ..PgOptions::default()
        };
        let e = PgStore::connect(&other, in_a_schema)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("UnknownIssuer"), "{e}");
    }
}
