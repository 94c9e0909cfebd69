//! `accord policy check` and `accord policy explain` on the default pack and a broken set.

use std::path::Path;

use crate::{Accord, stderr};

fn default_pack() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../policies/default")
        .display()
        .to_string()
}

#[test]
fn the_default_pack_checks_and_a_broken_copy_is_refused_whole() {
    let a = Accord::new();
    let out = a.ok(&["policy", "check", &default_pack()]);
    assert!(out.contains("is valid: 26 policies, hash "), "{out}");

    let broken = a.dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for entry in std::fs::read_dir(default_pack()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), broken.join(entry.file_name())).unwrap();
    }
    let bad =
        "@id(\"bad.typo\")\npermit (principal, action, resource) when { resource.amout > 0 };\n";
    std::fs::write(broken.join("zz_bad.cedar"), bad).unwrap();
    let out = a.run(&["policy", "check", broken.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("zz_bad.cedar"), "{err}");
    assert!(
        err.contains("is refused; nothing of it would load"),
        "{err}"
    );
}

#[test]
fn explain_names_the_deciding_policies() {
    let a = Accord::new();
    let deal = |minor: u64, risk: &str| {
        a.file(
            "deal.json",
            &format!(
                r#"{{"id": "negotiation/42", "amount": {{"minor": {minor}, "currency": "EUR"}},
                   "category": "office-supplies", "region": "FR",
                   "supplier": {{"risk": "{risk}", "size": "small"}}}}"#
            ),
        )
    };
    let explain = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "policy",
            "explain",
            "--principal",
            "agent:negotiator",
            "--action",
            "negotiation.accept",
            "--resource-json",
            file,
        ];
        args.extend_from_slice(extra);
        a.ok(&args)
    };
    let out = explain(&deal(1_200_000, "low"), &[]);
    assert!(out.contains("allowed: may act alone"), "{out}");
    assert!(out.contains("[negotiation.agent-acts-alone]"), "{out}");

    let out = explain(&deal(7_200_000, "low"), &[]);
    assert!(
        out.contains("needs approval by a `category_manager`"),
        "{out}"
    );
    assert!(out.contains("[escalate.over-50k]"), "{out}");

    let out = explain(&deal(1_000, "high"), &[]);
    assert!(out.contains("needs approval"), "{out}");

    let out = explain(&deal(1_000, "low"), &["--paused"]);
    assert!(out.contains("denied"), "{out}");
    assert!(out.contains("accord:kill-switch"), "{out}");

    let out = a.run(&[
        "policy",
        "explain",
        "--principal",
        "user:bob:chef",
        "--action",
        "payment.release",
        "--resource-json",
        "x.json",
    ]);
    assert!(
        stderr(&out).contains("unknown role `chef`"),
        "{}",
        stderr(&out)
    );
}
