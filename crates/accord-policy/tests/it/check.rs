//! Loading and checking policy sets: the default pack loads from disk, an invalid set is
//! refused whole with Cedar's diagnostics, and the hash follows the texts.

use std::path::PathBuf;

use accord_policy::{PolicySet, Severity, check, check_sources, policy_set::default_pack_sources};

fn default_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../policies/default")
}

/// Replaces `from` by `to` in file `file` of the default pack and checks; returns the
/// error messages.
fn errors_after(file: &str, from: &str, to: &str) -> Vec<String> {
    let (mut schema, mut files) = default_pack_sources();
    if schema.0 == file {
        assert!(schema.1.contains(from));
        schema.1 = schema.1.replace(from, to);
    }
    for (name, text) in &mut files {
        if name == file {
            assert!(text.contains(from), "{from}");
            *text = text.replace(from, to);
        }
    }
    let report = check_sources(&schema, &files);
    assert!(!report.ok);
    assert_eq!(report.hash, None);
    assert!(PolicySet::from_sources(&schema, &files).is_err());
    report
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_default_pack_loads_from_disk_like_the_embedded_copy() {
    let report = check(&default_dir());
    assert!(report.ok, "{:#?}", report.diagnostics);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
    assert_eq!(
        report.policies,
        PolicySet::default_pack().policy_ids().len()
    );
    let loaded = PolicySet::load_dir(&default_dir()).unwrap();
    assert_eq!(loaded.hash(), PolicySet::default_pack().hash());
    assert_eq!(loaded.hash().len(), 64);
    assert!(loaded.policy("escalate.over-50k").is_some());
}

#[test]
fn invalid_sets_are_refused_with_diagnostics() {
    // An attribute the schema does not declare.
    let e = errors_after(
        "escalation.cedar",
        "resource.supplier_new",
        "resource.supplier_fresh",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("escalate.new-supplier") && m.contains("supplier_fresh")),
        "{e:#?}"
    );
    // A syntax error.
    let e = errors_after("negotiation.cedar", "permit (", "permit ((");
    assert!(e.iter().any(|m| m.contains("negotiation.cedar")), "{e:#?}");
    // An unknown approver role.
    let e = errors_after(
        "documents.cedar",
        "@approver_role(\"treasurer\")",
        "@approver_role(\"cfo\")",
    );
    assert!(e.iter().any(|m| m.contains("unknown role `cfo`")), "{e:#?}");
    // A propose permit without an approver role.
    let e = errors_after("documents.cedar", "@approver_role(\"treasurer\")\n", "");
    assert!(
        e.iter()
            .any(|m| m.contains("documents.payment-proposal") && m.contains("approver_role")),
        "{e:#?}"
    );
    // A duplicate id.
    let e = errors_after(
        "escalation.cedar",
        "escalate.new-supplier",
        "escalate.over-50k",
    );
    assert!(
        e.iter()
            .any(|m| m.contains("duplicate policy id `escalate.over-50k`")),
        "{e:#?}"
    );
    // A schema that lacks one of Accord's actions.
    let e = errors_after(
        "accord.cedarschema",
        "  action \"agents.pause:propose\" in [\"agents.pause\", \"propose\"] appliesTo { principal: [User, Agent], resource: Subject };\n",
        "",
    );
    assert!(
        e.iter().any(|m| m.contains("`agents.pause:propose`")),
        "{e:#?}"
    );
}

#[test]
fn a_missing_directory_or_schema_is_a_diagnostic() {
    let report = check(&default_dir().join("nope"));
    assert!(!report.ok);
    assert!(
        report.diagnostics[0]
            .message
            .contains("cannot read policy directory")
    );
}

#[test]
fn the_hash_changes_with_any_byte_and_ignores_line_endings() {
    let (schema, files) = default_pack_sources();
    let base = accord_policy::policy_set::hash_sources(&schema, &files);
    let mut changed = files.clone();
    changed[0].1.push(' ');
    assert_ne!(
        accord_policy::policy_set::hash_sources(&schema, &changed),
        base
    );
    let crlf: Vec<(String, String)> = files
        .iter()
        .map(|(n, t)| (n.clone(), t.replace('\n', "\r\n")))
        .collect();
    assert_eq!(
        accord_policy::policy_set::hash_sources(&schema, &crlf),
        base
    );
    let mut reordered = files.clone();
    reordered.reverse();
    assert_eq!(
        accord_policy::policy_set::hash_sources(&schema, &reordered),
        base
    );
}
