//! The audit chain through the binary: verify, tamper detection, export, PostgreSQL.

use sqlx::{Connection, Executor};

use crate::{Accord, examples, stderr};

#[tokio::test]
async fn a_changed_byte_in_the_database_fails_verify_at_that_entry() {
    let a = Accord::new();
    a.ok(&["init", "--checkpoint-every", "4"]);
    a.ok(&["quickstart", examples().to_str().unwrap()]);
    assert!(
        a.ok(&["audit", "verify"])
            .contains("audit log OK: 14 entries, 3 signed checkpoints")
    );

    let db = a.data_dir().join("accord.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    conn.execute("DROP TRIGGER events_no_update").await.unwrap();
    // One byte of one spend line's payload: 504.00 becomes 604.00.
    let changed =
        sqlx::query("UPDATE events SET payload = replace(payload, '50400', '60400') WHERE seq = 9")
            .execute(&mut conn)
            .await
            .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    conn.close().await.unwrap();

    let out = a.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("audit log BROKEN at entry 9: hash does not match"),
        "{err}"
    );
}

#[test]
fn export_writes_every_entry_and_checkpoint() {
    let a = Accord::new();
    a.ok(&["init", "--checkpoint-every", "5"]);
    a.ok(&["quickstart", examples().to_str().unwrap()]);
    let path = a.dir.path().join("audit.jsonl");
    a.ok(&[
        "audit",
        "export",
        "--format",
        "jsonl",
        "--output",
        path.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 14 + 2, "14 entries and 2 checkpoints");
    let csv_path = a.dir.path().join("audit.csv");
    a.ok(&[
        "audit",
        "export",
        "--format",
        "csv",
        "-o",
        csv_path.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&csv_path).unwrap().lines().count(),
        1 + 14 + 2
    );
}

#[test]
fn json_logs_and_help_are_available() {
    let a = Accord::new();
    let out = a.ok(&["--help"]);
    assert!(out.contains("quickstart") && out.contains("audit"), "{out}");
    let out = a.ok(&["import", "spend", "--help"]);
    assert!(out.contains("docs/import.md"), "{out}");
    let out = a.run(&["--log-format", "json", "-v", "init"]);
    assert!(out.status.success());
}

/// Output piped into a reader that has gone (`accord status | head -1`) ends the command
/// quietly with 141, as `SIGPIPE` ends other tools, instead of a panic on stderr.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let a = Accord::new();
    a.ok(&["init"]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .arg("--data-dir")
        .arg(a.data_dir())
        .arg("status")
        .env_remove("ACCORD_DATABASE_URL")
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// The same commands on PostgreSQL, in a database of their own.
#[tokio::test]
async fn postgres_backend_runs_the_same_job() {
    let Ok(base) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
        eprintln!(
            "SKIPPED postgres_backend_runs_the_same_job: ACCORD_TEST_DATABASE_URL is not set"
        );
        return;
    };
    let name = format!("accord_cli_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&base).await.unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .await
        .unwrap();
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) => format!("{}/{name}", &base[..i]),
        None => unreachable!("a database URL has a path"),
    };
    let mut a = Accord::new();
    a.database_url = Some(url);
    let out = a.ok(&["quickstart", examples().to_str().unwrap()]);
    // The URL leaves `sslmode` at `prefer`: encrypted wherever the server offers TLS.
    let ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let transport = if ssl == "on" { "TLS" } else { "unencrypted" };
    assert!(
        out.contains(&format!("backend         postgres, {transport}")),
        "{out}"
    );
    assert!(out.contains("audit log OK: 14 entries"), "{out}");
    let again = a.ok(&["quickstart", examples().to_str().unwrap()]);
    assert!(again.contains("5 unchanged"), "{again}");
    assert_eq!(a.entries(), 14);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}
