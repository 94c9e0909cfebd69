//! `accord approvals` and `accord agents` through the binary: the queue, approve, deny,
//! delegate, the kill switch, and every refusal with its message; on SQLite and, when
//! `ACCORD_TEST_DATABASE_URL` is set, on a PostgreSQL database of its own.

use sqlx::{Connection, Executor};

use crate::{Accord, stderr};

const USERS: &str = r#"
[users.rita]
roles = ["buyer"]

[users.alice]
roles = ["approver"]

[users.dan]
roles = ["approver"]

[users.bob]
roles = ["buyer"]

[users.ada]
roles = ["admin"]
"#;

fn setup(a: &Accord) {
    a.ok(&["init"]);
    a.add_config(USERS);
}

/// Opens a request as `rita` and returns its id.
fn request(a: &Accord, subject: &str) -> String {
    let out = a.ok(&[
        "approvals",
        "request",
        "--as",
        "rita",
        "--role",
        "approver",
        "--action",
        "purchase_order.issue",
        "--subject",
        subject,
        "--summary",
        "laptops, 18,400 EUR",
    ]);
    out.split_whitespace().nth(1).unwrap().to_owned()
}

/// Runs and expects failure with `message` on standard error.
fn fails(a: &Accord, args: &[&str], message: &str) {
    let out = a.run(args);
    assert_eq!(out.status.code(), Some(1), "accord {args:?} should fail");
    let err = stderr(&out);
    assert!(err.contains(message), "accord {args:?}: {err}");
}

fn scenario(a: &Accord) {
    setup(a);
    assert!(
        a.ok(&["approvals", "list"])
            .contains("no approval requests")
    );
    let po1 = request(a, "purchase_order/PO-1");
    let po2 = request(a, "purchase_order/PO-2");
    let po3 = request(a, "purchase_order/PO-3");
    // Asking twice for the same thing returns the same request.
    assert_eq!(request(a, "purchase_order/PO-1"), po1);

    let list = a.ok(&["approvals", "list", "--role", "approver"]);
    assert_eq!(list.lines().count(), 1 + 3, "{list}");
    assert!(
        list.contains(&po1) && list.contains("laptops, 18,400 EUR"),
        "{list}"
    );
    assert!(
        a.ok(&["approvals", "list", "--role", "treasurer"])
            .contains("no approval requests")
    );

    let entries = a.entries();
    // Refusals, each naming what is wrong, and none writes anything.
    fails(
        a,
        &[
            "approvals",
            "approve",
            &po1,
            "--as",
            "rita",
            "--comment",
            "mine",
        ],
        "`rita` requested this and cannot also approve",
    );
    fails(
        a,
        &[
            "approvals",
            "approve",
            &po1,
            "--as",
            "bob",
            "--comment",
            "ok",
        ],
        "`bob` does not hold the role `approver` this request needs",
    );
    fails(
        a,
        &[
            "approvals",
            "approve",
            &po1,
            "--as",
            "zed",
            "--comment",
            "ok",
        ],
        "unknown user `zed`: add `[users.zed]`",
    );
    fails(
        a,
        &[
            "approvals",
            "deny",
            "not-an-id",
            "--as",
            "alice",
            "--comment",
            "x",
        ],
        "malformed approval id `not-an-id`",
    );
    fails(
        a,
        &[
            "approvals",
            "approve",
            &po1,
            "--as",
            "alice",
            "--comment",
            " ",
        ],
        "a comment is required",
    );
    fails(
        a,
        &["approvals", "list", "--role", "boss"],
        "unknown role `boss`",
    );
    assert_eq!(a.entries(), entries, "refusals wrote nothing");

    let out = a.ok(&[
        "approvals",
        "approve",
        &po1,
        "--as",
        "alice",
        "--comment",
        "within budget",
    ]);
    assert!(out.contains("approved by `alice`"), "{out}");
    fails(
        a,
        &[
            "approvals",
            "deny",
            &po1,
            "--as",
            "alice",
            "--comment",
            "oops",
        ],
        &format!("approval `{po1}` is approved, not pending"),
    );
    a.ok(&[
        "approvals",
        "deny",
        &po2,
        "--as",
        "alice",
        "--comment",
        "over the contract price",
    ]);
    fails(
        a,
        &[
            "approvals",
            "delegate",
            &po3,
            "--as",
            "alice",
            "--to",
            "zed",
            "--comment",
            "x",
        ],
        "cannot delegate to `zed`",
    );
    a.ok(&[
        "approvals",
        "delegate",
        &po3,
        "--as",
        "alice",
        "--to",
        "dan",
        "--comment",
        "on leave",
    ]);
    fails(
        a,
        &[
            "approvals",
            "approve",
            &po3,
            "--as",
            "alice",
            "--comment",
            "ok",
        ],
        "delegated to `dan`",
    );
    a.ok(&[
        "approvals",
        "approve",
        &po3,
        "--as",
        "dan",
        "--comment",
        "fine",
    ]);

    let all = a.ok(&["approvals", "list", "--state", "all"]);
    assert!(all.contains("approved") && all.contains("denied"), "{all}");
    assert!(all.contains("[alice: over the contract price]"), "{all}");
    assert!(
        a.ok(&["approvals", "list"])
            .contains("no approval requests")
    );
    let denied = a.ok(&["approvals", "list", "--state", "denied", "--json"]);
    let v: serde_json::Value = serde_json::from_str(denied.trim()).unwrap();
    assert_eq!(v["id"], po2.as_str());
    assert_eq!(v["history"][0]["step"], "denied");

    // The kill switch.
    assert_eq!(a.ok(&["agents", "status"]).trim(), "agents running");
    fails(
        a,
        &["agents", "pause", "--as", "bob", "--reason", "x"],
        "user `bob` (buyer) may not `agents.pause`: denied",
    );
    fails(
        a,
        &["agents", "resume", "--as", "ada"],
        "agents are not paused",
    );
    fails(
        a,
        &["agents", "pause", "--as", "ada", "--reason", " "],
        "a pause needs a reason",
    );
    a.ok(&[
        "agents",
        "pause",
        "--as",
        "ada",
        "--reason",
        "supplier fraud alert",
    ]);
    let status = a.ok(&["agents", "status"]);
    assert!(
        status.contains("agents PAUSED since") && status.contains("by `ada`: supplier fraud alert"),
        "{status}"
    );
    fails(
        a,
        &["agents", "pause", "--as", "ada", "--reason", "again"],
        "agents are already paused (by `ada`)",
    );
    a.ok(&[
        "agents",
        "resume",
        "--as",
        "ada",
        "--reason",
        "alert cleared",
    ]);
    assert_eq!(a.ok(&["agents", "status"]).trim(), "agents running");

    // Autonomy.
    fails(
        a,
        &[
            "autonomy",
            "set",
            "office",
            "--level",
            "act_alone",
            "--as",
            "bob",
            "--reason",
            "x",
        ],
        "may not `autonomy.change`",
    );
    a.ok(&[
        "autonomy",
        "set",
        "office",
        "--level",
        "act_alone",
        "--sample-rate",
        "0.05",
        "--as",
        "ada",
        "--reason",
        "pilot",
    ]);
    let show = a.ok(&["autonomy", "show"]);
    assert!(
        show.contains("office") && show.contains("act_alone") && show.contains("5.00%"),
        "{show}"
    );

    assert!(a.ok(&["audit", "verify"]).contains("audit log OK"));
}

#[test]
fn approvals_and_agents_on_sqlite() {
    scenario(&Accord::new());
}

#[tokio::test]
async fn approvals_and_agents_on_postgres() {
    let Ok(base) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
        eprintln!("SKIPPED approvals_and_agents_on_postgres: ACCORD_TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("accord_gov_{}", std::process::id());
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
    scenario(&a);
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
}

#[test]
fn every_command_teaches_with_an_example() {
    let a = Accord::new();
    for cmd in [
        &["approvals", "list"][..],
        &["approvals", "approve"],
        &["approvals", "deny"],
        &["approvals", "delegate"],
        &["agents", "pause"],
        &["agents", "resume"],
        &["autonomy", "set"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = a.ok(&args);
        assert!(out.contains("Example"), "{cmd:?}: {out}");
    }
}
