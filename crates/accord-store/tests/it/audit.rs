//! The audit chain: tampering with any stored field is caught at the right entry, any
//! sequence of appends verifies, and an export re-verifies with an independent
//! implementation written here from `docs/audit.md`.

use std::collections::BTreeMap;

use accord_store::{
    AnyStore, Append, ChainBreak, ExportFormat, NodeKey, Store, VerifyOptions, VerifyReport,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

use crate::support::{self, Backend, Config, both_backends};

both_backends! {
    tampering_is_caught_at_the_right_entry,
    checkpoints_catch_bad_signatures_and_truncation,
    any_sequence_of_appends_verifies,
    export_reverifies_independently,
}

/// Ten entries: suppliers 1..=10, entry 3 a decision, entries 2 and 6 with keys.
async fn ten_entries(s: &AnyStore) {
    for i in 1..=10u64 {
        let e = if i == 3 {
            support::decision(i)
        } else {
            support::registered(i)
        };
        let mut cmd = Append::new(e);
        if i % 4 == 2 {
            cmd = cmd.key(format!("key-{i}"));
        }
        s.append(cmd).await.unwrap();
    }
}

async fn verify(s: &AnyStore) -> VerifyReport {
    s.verify(&VerifyOptions::default()).await.unwrap()
}

async fn tampering_is_caught_at_the_right_entry(b: Backend) {
    use ChainBreak::*;
    let cases: &[(&str, &str, u64, ChainBreak)] = &[
        (
            "payload",
            "UPDATE events SET payload = replace(payload, 'Acme', 'Acmf') WHERE seq = 5",
            5,
            HashMismatch,
        ),
        (
            "stream",
            "UPDATE events SET stream = stream || 'x' WHERE seq = 5",
            5,
            HashMismatch,
        ),
        (
            "stream_version",
            "UPDATE events SET stream_version = stream_version + 1 WHERE seq = 7",
            7,
            HashMismatch,
        ),
        (
            "type",
            "UPDATE events SET type = 'supplier_updated' WHERE seq = 5",
            5,
            HashMismatch,
        ),
        (
            "schema_version",
            "UPDATE events SET schema_version = 2 WHERE seq = 4",
            4,
            HashMismatch,
        ),
        (
            "recorded_at",
            "UPDATE events SET recorded_at = recorded_at || ' ' WHERE seq = 9",
            9,
            HashMismatch,
        ),
        (
            "idempotency_key",
            "UPDATE events SET idempotency_key = 'forged' WHERE seq = 5",
            5,
            HashMismatch,
        ),
        (
            "removed key",
            "UPDATE events SET idempotency_key = NULL WHERE seq = 6",
            6,
            HashMismatch,
        ),
        (
            "hash",
            "UPDATE events SET hash = prev_hash WHERE seq = 5",
            5,
            HashMismatch,
        ),
        (
            "prev_hash",
            "UPDATE events SET prev_hash = hash WHERE seq = 5",
            5,
            PrevHashMismatch,
        ),
        (
            "decision payload",
            "UPDATE events SET payload = replace(payload, '0.25', '0.26') WHERE seq = 3",
            3,
            HashMismatch,
        ),
        (
            "seq gap",
            "DELETE FROM events WHERE seq = 5",
            5,
            SeqGap {
                expected: 5,
                found: 6,
            },
        ),
        (
            "renumbered",
            "UPDATE events SET seq = 100 WHERE seq = 10",
            10,
            SeqGap {
                expected: 10,
                found: 100,
            },
        ),
        (
            "first entry",
            "UPDATE events SET payload = replace(payload, 'S-1', 'S-9') WHERE seq = 1",
            1,
            HashMismatch,
        ),
    ];
    for (what, sql, seq, reason) in cases {
        let h = b.open(Config::default()).await;
        ten_entries(&h.store).await;
        assert!(verify(&h.store).await.is_ok(), "{what}: clean log verifies");
        h.allow_tampering().await;
        h.exec(sql).await;
        let report = verify(&h.store).await;
        let broken = report
            .broken
            .unwrap_or_else(|| panic!("{what}: tampering not detected"));
        assert_eq!((broken.seq, &broken.reason), (*seq, reason), "{what}");
        assert_eq!(
            report.last_seq,
            seq - 1,
            "{what}: entries before it are good"
        );
    }
}

async fn checkpoints_catch_bad_signatures_and_truncation(b: Backend) {
    // A forged signature.
    let h = b.open(Config::signed(4)).await;
    ten_entries(&h.store).await;
    let report = verify(&h.store).await;
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checkpoints_verified, 2);
    let cps = h.store.audit_checkpoints().await.unwrap();
    assert_eq!(cps.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![4, 8]);
    let key = NodeKey::from_seed([42; 32]);
    assert_eq!(cps[0].public_key, key.public_key());
    // Only the trusted key is accepted when one is named.
    let other = NodeKey::from_seed([1; 32]);
    let untrusted = h
        .store
        .verify(&VerifyOptions {
            trusted_key: Some(other.public_key()),
        })
        .await
        .unwrap();
    assert!(matches!(
        untrusted.broken.map(|b| (b.seq, b.reason)),
        Some((4, ChainBreak::UntrustedKey { .. }))
    ));
    h.exec("UPDATE audit_checkpoints SET signature = hash || hash WHERE seq = 8")
        .await;
    let broken = verify(&h.store).await.broken.unwrap();
    assert_eq!((broken.seq, broken.reason), (8, ChainBreak::BadSignature));

    // The tail cut off behind the last checkpoint.
    let h = b.open(Config::signed(4)).await;
    ten_entries(&h.store).await;
    h.allow_tampering().await;
    h.exec("DELETE FROM events WHERE seq >= 8").await;
    let broken = verify(&h.store).await.broken.unwrap();
    assert_eq!(
        (broken.seq, broken.reason),
        (
            8,
            ChainBreak::Truncated {
                checkpoint_seq: 8,
                last_seq: 7
            }
        )
    );

    // Rewriting the checkpoint's hash is caught too.
    let h = b.open(Config::signed(4)).await;
    ten_entries(&h.store).await;
    h.exec(
        "UPDATE audit_checkpoints SET hash = (SELECT hash FROM events WHERE seq = 3) WHERE seq = 4",
    )
    .await;
    let broken = verify(&h.store).await.broken.unwrap();
    assert_eq!(
        (broken.seq, broken.reason),
        (4, ChainBreak::CheckpointHashMismatch)
    );
}

#[derive(Clone, Debug)]
enum Op {
    Supplier(u64),
    Update(u64),
    Spend(u64, u64, i64),
    Decision(u64),
    Keyed(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..20u64).prop_map(Op::Supplier),
        (0..20u64).prop_map(Op::Update),
        (0..20u64, 0..1000u64, -5000..5000i64).prop_map(|(s, n, m)| Op::Spend(s, n, m)),
        (0..50u64).prop_map(Op::Decision),
        (0..30u64).prop_map(Op::Keyed),
    ]
}

fn command(op: &Op, nonce: u64) -> Append {
    match *op {
        Op::Supplier(n) => Append::new(support::registered(n)),
        Op::Update(n) => Append::new(accord_core::Event::SupplierUpdated {
            supplier: support::supplier(n),
        }),
        // Spend ids are unique per line: make them unique per case too.
        Op::Spend(s, n, m) => Append::new(support::spend(s, n * 10_000 + nonce, m)),
        Op::Decision(n) => Append::new(support::decision(n)),
        Op::Keyed(n) => {
            Append::many(vec![support::decision(n), support::registered(n)]).key(format!("k-{n}"))
        }
    }
}

async fn any_sequence_of_appends_verifies(b: Backend) {
    let cases = if matches!(b, Backend::Sqlite) { 24 } else { 8 };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(
        (any::<bool>(), proptest::collection::vec(op(), 1..12)),
        1..6,
    );
    let handle = tokio::runtime::Handle::current();
    runner
        .run(&strategy, |batches| {
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    let h = b.open(Config::signed(5)).await;
                    let mut nonce = 0;
                    for (as_batch, ops) in &batches {
                        let cmds: Vec<Append> = ops
                            .iter()
                            .map(|o| {
                                nonce += 1;
                                command(o, nonce)
                            })
                            .collect();
                        if *as_batch {
                            h.store.append_batch(cmds).await.unwrap();
                        } else {
                            for c in cmds {
                                h.store.append(c).await.unwrap();
                            }
                        }
                    }
                    let report = verify(&h.store).await;
                    let last = h.store.last_seq().await.unwrap();
                    prop_assert!(report.is_ok(), "{report:?}");
                    prop_assert_eq!(report.entries, last);
                    prop_assert_eq!(report.checkpoints_verified, last / 5);
                    Ok(())
                })
            })
        })
        .unwrap();
}

// --- An independent verifier, written from docs/audit.md ---

/// RFC 8785 for the values Accord writes: keys sorted by UTF-16 code units, no
/// whitespace, strings as JSON escapes them, integers as integers.
fn jcs(v: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by_key(|k| k.encode_utf16().collect::<Vec<u16>>());
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push(':');
                jcs(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                jcs(x, out);
            }
            out.push(']');
        }
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap();
            if f.fract() == 0.0 && f.abs() < 1e21 {
                out.push_str(&format!("{}", f as i64));
            } else {
                out.push_str(&n.to_string());
            }
        }
        other => out.push_str(&serde_json::to_string(other).unwrap()),
    }
}

const ENTRY_FIELDS: [&str; 8] = [
    "seq",
    "stream",
    "stream_version",
    "type",
    "schema_version",
    "payload",
    "recorded_at",
    "idempotency_key",
];

fn reverify_jsonl(text: &str) -> (u64, u64) {
    let mut prev = [0u8; 32];
    let mut hashes = BTreeMap::new();
    let mut entries = 0;
    let mut checkpoints = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["record"].as_str().unwrap() {
            "entry" => {
                entries += 1;
                assert_eq!(v["seq"].as_u64().unwrap(), entries, "no gap");
                let entry: serde_json::Map<String, serde_json::Value> = ENTRY_FIELDS
                    .iter()
                    .map(|f| (f.to_string(), v[*f].clone()))
                    .collect();
                let mut canonical = String::new();
                jcs(&serde_json::Value::Object(entry), &mut canonical);
                assert_eq!(hex::decode(v["prev_hash"].as_str().unwrap()).unwrap(), prev);
                let mut h = Sha256::new();
                h.update(prev);
                h.update(canonical.as_bytes());
                let hash: [u8; 32] = h.finalize().into();
                assert_eq!(
                    hex::encode(hash),
                    v["hash"].as_str().unwrap(),
                    "entry {entries}"
                );
                hashes.insert(entries, hash);
                prev = hash;
            }
            "checkpoint" => {
                checkpoints += 1;
                let seq = v["seq"].as_u64().unwrap();
                let hash = v["hash"].as_str().unwrap();
                assert_eq!(hex::encode(hashes[&seq]), hash);
                let message = format!("accord-checkpoint:v1:{seq}:{hash}");
                let pk: [u8; 32] = hex::decode(v["public_key"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                let sig: [u8; 64] = hex::decode(v["signature"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap();
                use ed25519_dalek::Verifier;
                ed25519_dalek::VerifyingKey::from_bytes(&pk)
                    .unwrap()
                    .verify(
                        message.as_bytes(),
                        &ed25519_dalek::Signature::from_bytes(&sig),
                    )
                    .expect("checkpoint signature verifies");
                let fp = hex::encode(Sha256::digest(pk));
                assert_eq!(v["key_fingerprint"].as_str().unwrap(), fp);
            }
            other => panic!("unknown record `{other}`"),
        }
    }
    (entries, checkpoints)
}

async fn export_reverifies_independently(b: Backend) {
    let h = b.open(Config::signed(3)).await;
    ten_entries(&h.store).await;
    h.store
        .append_batch(vec![
            Append::new(support::spend(1, 1, -250)).key("line\t\"1\"\u{7}"),
            Append::new(support::contract_state(&support::contract(1, 1), "active")),
        ])
        .await
        .unwrap();
    let mut out = Vec::new();
    let summary = h.store.export(ExportFormat::Jsonl, &mut out).await.unwrap();
    assert_eq!((summary.entries, summary.checkpoints), (12, 4));
    let text = String::from_utf8(out).unwrap();
    assert_eq!(reverify_jsonl(&text), (12, 4));
    let tip = verify(&h.store).await.tip_hash;
    assert!(text.contains(&format!("\"hash\":\"{tip}\"")));

    // A changed byte in the export is caught by the same independent check.
    let forged = text.replacen("Acme 2", "Acme 3", 1);
    let caught = std::panic::catch_unwind(|| reverify_jsonl(&forged));
    assert!(caught.is_err(), "a forged export must not verify");

    let mut csv = Vec::new();
    let summary = h.store.export(ExportFormat::Csv, &mut csv).await.unwrap();
    assert_eq!((summary.entries, summary.checkpoints), (12, 4));
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.starts_with("record,seq,stream,"));
    assert_eq!(csv.matches("\nentry,").count(), 12);
    assert_eq!(csv.matches("\ncheckpoint,").count(), 4);
}

/// SQLite's verifier reads raw column values on one thread and hashes on another, a chunk
/// of rows at a time: a long log verifies, and a change deep in a later chunk, a text
/// column that is not UTF-8 or an integer column turned into text are each caught at the
/// right entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_verify_pipeline_catches_changes_in_any_chunk() {
    let cases: &[(&str, &str, u64, ChainBreak)] = &[
        (
            "payload deep in the log",
            "UPDATE events SET payload = payload || ' ' WHERE seq = 4500",
            4500,
            ChainBreak::HashMismatch,
        ),
        (
            "payload not UTF-8",
            "UPDATE events SET payload = CAST(x'7bff7d' AS TEXT) WHERE seq = 2049",
            2049,
            ChainBreak::HashMismatch,
        ),
        (
            "stream_version as text",
            "UPDATE events SET stream_version = 'one' WHERE seq = 3000",
            3000,
            ChainBreak::HashMismatch,
        ),
        (
            "link cut at a chunk border",
            "UPDATE events SET prev_hash = hash WHERE seq = 4097",
            4097,
            ChainBreak::PrevHashMismatch,
        ),
    ];
    for (what, sql, seq, reason) in cases {
        let h = Backend::Sqlite.open(Config::signed(1000)).await;
        let batch = (0..5000u64)
            .map(|i| Append::new(support::spend(i % 7, i, 100 + i as i64)))
            .collect();
        h.store.append_batch(batch).await.unwrap();
        let clean = verify(&h.store).await;
        assert!(clean.is_ok(), "{what}: {clean:?}");
        assert_eq!((clean.entries, clean.checkpoints_verified), (5000, 5));
        h.allow_tampering().await;
        h.exec(sql).await;
        let report = verify(&h.store).await;
        let broken = report
            .broken
            .unwrap_or_else(|| panic!("{what}: tampering not detected"));
        assert_eq!((broken.seq, &broken.reason), (*seq, reason), "{what}");
        assert_eq!(report.last_seq, seq - 1, "{what}");
    }
}
