//! The hash chain: which fields form an entry, their canonical bytes (RFC 8785), the
//! SHA-256 link, and the streaming verifier. `docs/audit.md` is the prose version of this
//! file; change both together.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::audit;
use crate::model::{SignedCheckpoint, StoredEvent};

/// `prev_hash` of the first entry.
pub const GENESIS_PREV_HASH: [u8; 32] = [0; 32];

/// The fields of a chain entry. Every stored column except the two hashes is here, so a
/// changed byte in any stored field changes the entry's hash.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub seq: u64,
    pub stream: &'a str,
    pub stream_version: u64,
    pub kind: &'a str,
    pub schema_version: u64,
    /// Already canonical JSON (RFC 8785); embedded verbatim.
    pub payload: &'a str,
    pub recorded_at: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// Serialises a value as RFC 8785 canonical JSON. This is how payloads are stored.
///
/// Written straight from `Serialize` (`canonical.rs`), with one reused buffer per thread;
/// the few shapes only serde_json formats exactly go through [`canonical_json_via_value`],
/// which the tests hold both to and against the `serde_json_canonicalizer` crate.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    use crate::canonical::{CanonError, Writer};
    thread_local! {
        static WRITER: std::cell::RefCell<Writer> = std::cell::RefCell::new(Writer::new());
    }
    let written = WRITER.with(|w| match w.try_borrow_mut() {
        Ok(mut w) => w.write(value),
        // Re-entered (a `Serialize` impl that itself writes canonical JSON): use a fresh one.
        Err(_) => Writer::new().write(value),
    });
    match written {
        Ok(s) => {
            // Every event the test suites append is checked against the reference path.
            #[cfg(debug_assertions)]
            if let Ok(reference) = canonical_json_via_value(value) {
                assert_eq!(
                    s, reference,
                    "direct canonical JSON differs from the Value path"
                );
            }
            Ok(s)
        }
        Err(CanonError::Fallback) => canonical_json_via_value(value),
        Err(CanonError::Msg(m)) => Err(serde::ser::Error::custom(m)),
    }
}

/// Canonical JSON through a `serde_json::Value` tree: a writer that sorts keys by UTF-16
/// code units and formats numbers as ECMAScript does (`ryu-js`). The reference for
/// [`canonical_json`], and its fallback.
pub fn canonical_json_via_value<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<String> {
    let value = serde_json::to_value(value)?;
    let mut buf = Vec::with_capacity(512);
    write_value(&mut buf, &value)?;
    // INVARIANT: `write_value` only writes UTF-8 (JSON text from `str`s and ASCII).
    String::from_utf8(buf).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Largest integer JSON numbers carry exactly (I-JSON); beyond it JCS formats the double.
pub(crate) const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

fn write_f64(buf: &mut Vec<u8>, f: f64) -> serde_json::Result<()> {
    if !f.is_finite() {
        return Err(serde::ser::Error::custom("non-finite number"));
    }
    write_f64_finite(buf, f);
    Ok(())
}

/// A finite double as ECMAScript prints it.
pub(crate) fn write_f64_finite(buf: &mut Vec<u8>, f: f64) {
    let mut b = ryu_js::Buffer::new();
    buf.extend_from_slice(b.format_finite(f).as_bytes());
}

fn write_value(buf: &mut Vec<u8>, v: &serde_json::Value) -> serde_json::Result<()> {
    use serde_json::Value;
    match v {
        Value::Null => buf.extend_from_slice(b"null"),
        Value::Bool(true) => buf.extend_from_slice(b"true"),
        Value::Bool(false) => buf.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64().filter(|u| *u <= MAX_SAFE_INTEGER) {
                write_u64(buf, u);
            } else if let Some(i) = n.as_i64().filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER) {
                buf.push(b'-');
                write_u64(buf, i.unsigned_abs());
            } else {
                write_f64(buf, n.as_f64().unwrap_or(f64::NAN))?;
            }
        }
        Value::String(s) => write_str(buf, s),
        Value::Array(a) => {
            buf.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_value(buf, x)?;
            }
            buf.push(b']');
        }
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            if entries.iter().all(|(k, _)| k.is_ascii()) {
                entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            } else {
                entries.sort_unstable_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            }
            buf.push(b'{');
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                write_str(buf, k);
                buf.push(b':');
                write_value(buf, x)?;
            }
            buf.push(b'}');
        }
    }
    Ok(())
}

/// Writes a JSON string literal. serde_json escapes exactly as RFC 8785 asks: `"` and `\`,
/// the short forms `\b \t \n \f \r`, other control characters as `\u00xx` in lowercase
/// hex, and everything else as literal UTF-8.
pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // INVARIANT: writing a `str` into a `Vec` cannot fail.
        serde_json::to_writer(&mut *buf, s).expect("string serialises");
    }
}

/// Whether `bytes` holds a byte that a JSON string must escape: a control character
/// (below 0x20), `"` or `\\`.
pub(crate) fn needs_escape(bytes: &[u8]) -> bool {
    any_word(bytes, escape_in_word)
}

/// Whether `bytes` is ASCII with nothing to escape: written as it is, and ordered by its
/// bytes as by its UTF-16 code units.
pub(crate) fn is_plain_ascii(bytes: &[u8]) -> bool {
    !any_word(bytes, |x| x & HIGHS != 0 || escape_in_word(x))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether one of the eight bytes of `x` needs escaping. A word has a byte below `n` (for
/// `n` ≤ 0x80) exactly when `(x - n·ONES) & !x & HIGHS` is non-zero, and a byte equal to
/// `c` when `x ^ c·ONES` has a byte below 1.
fn escape_in_word(x: u64) -> bool {
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS != 0;
    below(x, 0x20)
        || below(x ^ (ONES * u64::from(b'"')), 1)
        || below(x ^ (ONES * u64::from(b'\\')), 1)
}

/// `test` on `bytes` eight at a time; the last word is padded with spaces, which no test
/// here flags, so a short key is one word.
fn any_word(bytes: &[u8], test: impl Fn(u64) -> bool) -> bool {
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        if test(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return true;
        }
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return false;
    }
    let mut last = [b' '; 8];
    last[..tail.len()].copy_from_slice(tail);
    test(u64::from_le_bytes(last))
}

pub(crate) fn write_u64(buf: &mut Vec<u8>, n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut n = n;
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Appends the canonical bytes of `e` to `buf`: the RFC 8785 form of the object
/// `{idempotency_key, payload, recorded_at, schema_version, seq, stream, stream_version,
/// type}` (keys in that, sorted, order; `idempotency_key` is `null` when absent).
pub fn write_entry(buf: &mut Vec<u8>, e: &Entry<'_>) {
    buf.extend_from_slice(b"{\"idempotency_key\":");
    match e.idempotency_key {
        Some(k) => write_str(buf, k),
        None => buf.extend_from_slice(b"null"),
    }
    buf.extend_from_slice(b",\"payload\":");
    buf.extend_from_slice(e.payload.as_bytes());
    buf.extend_from_slice(b",\"recorded_at\":");
    write_str(buf, e.recorded_at);
    buf.extend_from_slice(b",\"schema_version\":");
    write_u64(buf, e.schema_version);
    buf.extend_from_slice(b",\"seq\":");
    write_u64(buf, e.seq);
    buf.extend_from_slice(b",\"stream\":");
    write_str(buf, e.stream);
    buf.extend_from_slice(b",\"stream_version\":");
    write_u64(buf, e.stream_version);
    buf.extend_from_slice(b",\"type\":");
    write_str(buf, e.kind);
    buf.push(b'}');
}

/// `SHA-256(prev_hash ‖ entry_bytes)`.
pub fn link_hash(prev_hash: &[u8; 32], entry_bytes: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(entry_bytes);
    h.finalize().into()
}

/// Why the chain is broken at a sequence number.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ChainBreak {
    /// An entry is missing or out of order.
    #[error("expected entry {expected}, found entry {found}")]
    SeqGap { expected: u64, found: u64 },
    /// The stored `prev_hash` is not the previous entry's hash.
    #[error("prev_hash does not match the hash of the previous entry")]
    PrevHashMismatch,
    /// The stored `hash` is not `SHA-256(prev_hash ‖ entry)`: a field was changed.
    #[error("hash does not match the entry's content")]
    HashMismatch,
    /// A signed checkpoint names a hash the chain does not have at that entry.
    #[error("checkpoint hash differs from the chain's hash at this entry")]
    CheckpointHashMismatch,
    /// A checkpoint's signature does not verify under its public key.
    #[error("checkpoint signature does not verify")]
    BadSignature,
    /// A checkpoint is signed by a key other than the trusted one.
    #[error("checkpoint signed by untrusted key `{fingerprint}`")]
    UntrustedKey { fingerprint: String },
    /// The entry's link to the previous event of its stream (`prev_in_stream`, which
    /// reads by stream follow) is not that event, or its stream version does not follow.
    #[error("the link to the previous event of the entry's stream is wrong")]
    StreamLink,
    /// The store's table of stream tips disagrees with the log for `stream`, or lacks
    /// it; the seq is the stream's last event.
    #[error("the stream index does not match the log for stream `{stream}`")]
    StreamIndex { stream: String },
    /// A checkpoint exists for an entry the log no longer has: the log was truncated.
    #[error("log ends at entry {last_seq}, but a checkpoint covers entry {checkpoint_seq}")]
    Truncated { checkpoint_seq: u64, last_seq: u64 },
}

/// The first problem found: at which sequence number and why.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Broken {
    pub seq: u64,
    #[serde(flatten)]
    pub reason: ChainBreak,
}

/// The outcome of [`crate::Store::verify`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct VerifyReport {
    /// Entries checked before stopping.
    pub entries: u64,
    /// The last good entry's sequence number and hash (hex).
    pub last_seq: u64,
    pub tip_hash: String,
    /// Signed checkpoints whose hash and signature checked out.
    pub checkpoints_verified: u64,
    /// `None` when everything verified; otherwise the first bad entry.
    pub broken: Option<Broken>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Options of a verification run.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// When set, every checkpoint must be signed by this public key.
    pub trusted_key: Option<[u8; 32]>,
}

/// Streaming verifier: feed entries in `seq` order, then [`Verifier::finish`].
pub struct Verifier {
    expected_seq: u64,
    prev_hash: [u8; 32],
    buf: Vec<u8>,
    /// Checkpoints not yet reached, by seq.
    pending: BTreeMap<u64, SignedCheckpoint>,
    trusted_key: Option<[u8; 32]>,
    checkpoints_verified: u64,
    broken: Option<Broken>,
}

impl Verifier {
    pub fn new(checkpoints: Vec<SignedCheckpoint>, options: &VerifyOptions) -> Verifier {
        Verifier {
            expected_seq: 1,
            prev_hash: GENESIS_PREV_HASH,
            buf: Vec::with_capacity(4096),
            pending: checkpoints.into_iter().map(|c| (c.seq, c)).collect(),
            trusted_key: options.trusted_key,
            checkpoints_verified: 0,
            broken: None,
        }
    }

    /// Checks one entry; returns `false` once the chain is broken (stop feeding).
    pub fn push(&mut self, e: &Entry<'_>, prev_hash: &[u8; 32], hash: &[u8; 32]) -> bool {
        if self.broken.is_some() {
            return false;
        }
        self.buf.clear();
        write_entry(&mut self.buf, e);
        let content_ok = &link_hash(prev_hash, &self.buf) == hash;
        self.push_checked(e.seq, prev_hash, hash, content_ok)
    }

    /// Checks one entry whose own hash the caller already recomputed: `content_ok` says
    /// whether `hash == SHA-256(prev_hash ‖ entry)`. This is what lets a verifier hash
    /// entries on another thread; the links, sequence and checkpoints are checked here,
    /// in order.
    pub fn push_checked(
        &mut self,
        seq: u64,
        prev_hash: &[u8; 32],
        hash: &[u8; 32],
        content_ok: bool,
    ) -> bool {
        if self.broken.is_some() {
            return false;
        }
        let expected = self.expected_seq;
        let fail = |reason| {
            Some(Broken {
                seq: expected,
                reason,
            })
        };
        if seq != expected {
            self.broken = fail(ChainBreak::SeqGap {
                expected,
                found: seq,
            });
            return false;
        }
        if prev_hash != &self.prev_hash {
            self.broken = fail(ChainBreak::PrevHashMismatch);
            return false;
        }
        if !content_ok {
            self.broken = fail(ChainBreak::HashMismatch);
            return false;
        }
        if let Some(cp) = self.pending.remove(&seq) {
            if let Some(reason) = self.check_checkpoint(&cp, hash) {
                self.broken = fail(reason);
                return false;
            }
            self.checkpoints_verified += 1;
        }
        self.prev_hash = *hash;
        self.expected_seq += 1;
        true
    }

    /// Whether an entry passes the sequence, link and content checks of
    /// [`Verifier::push_checked`] (not the checkpoint check): a backend checks its own
    /// structures only on such an entry, so a changed field is reported as such.
    pub(crate) fn fits(&self, seq: u64, prev_hash: &[u8; 32], content_ok: bool) -> bool {
        self.broken.is_none()
            && seq == self.expected_seq
            && prev_hash == &self.prev_hash
            && content_ok
    }

    /// Records a break found outside [`Verifier::push`] (an undecodable row).
    pub(crate) fn fail_at(&mut self, seq: u64, reason: ChainBreak) -> bool {
        if self.broken.is_none() {
            let seq = if seq == self.expected_seq {
                seq
            } else {
                self.expected_seq
            };
            self.broken = Some(Broken { seq, reason });
        }
        false
    }

    /// Convenience for a stored event.
    pub fn push_stored(&mut self, e: &StoredEvent) -> bool {
        self.push(&e.entry(), &e.prev_hash, &e.hash)
    }

    fn check_checkpoint(&self, cp: &SignedCheckpoint, hash: &[u8; 32]) -> Option<ChainBreak> {
        if &cp.hash != hash {
            return Some(ChainBreak::CheckpointHashMismatch);
        }
        if self.trusted_key.is_some_and(|t| t != cp.public_key) {
            return Some(ChainBreak::UntrustedKey {
                fingerprint: audit::fingerprint(&cp.public_key),
            });
        }
        if audit::verify_checkpoint(&cp.public_key, cp.seq, &cp.hash, &cp.signature).is_err() {
            return Some(ChainBreak::BadSignature);
        }
        None
    }

    /// The report after the last entry.
    pub fn finish(mut self) -> VerifyReport {
        let last_seq = self.expected_seq - 1;
        let first_unreached = self.pending.keys().next().copied();
        if let (None, Some(cp_seq)) = (&self.broken, first_unreached) {
            self.broken = Some(Broken {
                seq: last_seq + 1,
                reason: ChainBreak::Truncated {
                    checkpoint_seq: cp_seq,
                    last_seq,
                },
            });
        }
        VerifyReport {
            entries: last_seq,
            last_seq,
            tip_hash: hex::encode(self.prev_hash),
            checkpoints_verified: self.checkpoints_verified,
            broken: self.broken,
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A map written entry by entry in the order given, repeated keys and all.
    struct Pairs<K, V>(Vec<(K, V)>);

    impl<K: Serialize, V: Serialize> Serialize for Pairs<K, V> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop_oneof![
                Just(1e21),
                Just(1e-7),
                Just(-0.0),
                Just(0.1),
                Just(123.456e300)
            ]
            .prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[\\x00-\\x1f\"\\\\\u{7f}\u{2028}\u{e000}\u{1F600}a-z]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(
                    "[a-zA-Z_\\u{e000}\u{1F600}\u{ff61}]{0,6}",
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Shapes a `Value` cannot show: enums of every kind, maps with non-string keys,
    /// repeated keys, bytes, wide and non-finite numbers, floats as keys.
    #[test]
    fn direct_writer_matches_value_path_on_rust_shapes() {
        use std::collections::BTreeMap;
        #[derive(Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(i32, &'static str),
            Struct {
                z: f32,
                a: Option<u64>,
                m: BTreeMap<i64, bool>,
            },
        }
        #[derive(Serialize)]
        struct Inner {
            b: u8,
            a: u8,
        }
        #[derive(Serialize)]
        struct Outer {
            zeta: Vec<E>,
            #[serde(flatten)]
            inner: Inner,
            a: char,
            #[serde(with = "serde_bytes_like")]
            bytes: Vec<u8>,
            big: u64,
            neg: i128,
            nan: f64,
            unit: (),
            #[serde(rename = "\u{1F600}")]
            emoji: bool,
            #[serde(rename = "\u{e000}")]
            private: bool,
        }
        mod serde_bytes_like {
            pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let v = Outer {
            zeta: vec![
                E::Unit,
                E::New(7),
                E::Tuple(-3, "t\n\"q\""),
                E::Struct {
                    z: 0.1,
                    a: None,
                    m: [(-2, true), (10, false), (3, true)].into_iter().collect(),
                },
            ],
            inner: Inner { b: 2, a: 1 },
            a: 'é',
            bytes: vec![0, 255, 16],
            big: u64::MAX,
            neg: -(1 << 60),
            nan: f64::NAN,
            unit: (),
            emoji: true,
            private: false,
        };
        assert_eq!(
            canonical_json(&v).unwrap(),
            canonical_json_via_value(&v).unwrap()
        );
        // A repeated key: the last one wins, as in a `Value` map.
        let dup = vec![("k", 1), ("a", 2), ("k", 3)];
        assert_eq!(canonical_json(&Pairs(dup)).unwrap(), r#"{"a":2,"k":3}"#);
        // A float as a key takes serde_json's formatting, through the fallback.
        struct FloatKey;
        impl Serialize for FloatKey {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(&1.5f64, &[1u8])?;
                m.end()
            }
        }
        assert_eq!(canonical_json(&FloatKey).unwrap(), r#"{"1.5":[1]}"#);
        // Out of range and not a key are errors on both paths.
        assert!(canonical_json(&u128::MAX).is_err());
        assert!(canonical_json_via_value(&u128::MAX).is_err());
        let bad: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(canonical_json(&bad).is_err());
    }

    proptest! {
        /// The direct writer agrees with the `Value` path on arbitrary JSON.
        #[test]
        fn direct_writer_matches_value_path(v in json_value()) {
            let direct = crate::canonical::Writer::new().write(&v).unwrap();
            prop_assert_eq!(direct, canonical_json_via_value(&v).unwrap());
        }

        /// Our canonical writer agrees with the `serde_json_canonicalizer` crate.
        #[test]
        fn canonical_json_matches_reference(v in json_value()) {
            let ours = canonical_json(&v).unwrap();
            let reference = serde_json_canonicalizer::to_string(&v).unwrap();
            prop_assert_eq!(ours, reference);
        }

        /// Maps written in any order, with repeated keys and keys that need escapes (or
        /// sort differently in UTF-8 and UTF-16), nested: the direct writer agrees with
        /// the `Value` path (which keeps the last of equal keys) and with the reference
        /// crate.
        #[test]
        fn maps_in_any_order_match_the_value_path(
            outer in proptest::collection::vec(
                (
                    "[\\x00-\\x1f\"\\\\a-c\u{e000}\u{1F600}]{0,3}",
                    proptest::collection::vec(("[a-c\"\u{e000}\u{1F600}]{0,2}", any::<i8>()), 0..5),
                ),
                0..7,
            )
        ) {
            let v = Pairs(outer.into_iter().map(|(k, inner)| (k, Pairs(inner))).collect());
            let direct = canonical_json(&v).unwrap();
            prop_assert_eq!(&direct, &canonical_json_via_value(&v).unwrap());
            let value = serde_json::to_value(&v).unwrap();
            prop_assert_eq!(&direct, &serde_json_canonicalizer::to_string(&value).unwrap());
        }
    }

    proptest! {
        /// The word-at-a-time tests agree with byte-at-a-time ones at every length and
        /// position: plain ASCII, then each of the 256 byte values in turn
        /// put at one place (so that each must be found on its own, in a word or in the
        /// tail).
        #[test]
        fn word_tests_match_byte_by_byte_checks(
            mut bytes in proptest::collection::vec(
                (0x20_u8..0x7f).prop_filter("no escape", |b| *b != b'"' && *b != b'\\'),
                1..40,
            ),
            at in any::<proptest::sample::Index>(),
        ) {
            prop_assert!(is_plain_ascii(&bytes));
            let i = at.index(bytes.len());
            for b in 0..=u8::MAX {
                bytes[i] = b;
                let naive = b < 0x20 || b == b'"' || b == b'\\';
                prop_assert_eq!(needs_escape(&bytes), naive, "byte {:#04x} at {} of {}", b, i, bytes.len());
                let plain = bytes.iter().all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\');
                prop_assert_eq!(is_plain_ascii(&bytes), plain, "byte {:#04x} at {} of {}", b, i, bytes.len());
            }
        }
    }

    proptest! {
        /// A value serialised through `collect_str` (its `Display`), as timestamps are:
        /// the direct writer formats it in place and escapes it as the `Value` path does.
        #[test]
        fn displayed_values_match_the_value_path(
            text in "\\PC{0,12}|[\\x00-\\x1f\"\\\\\u{7f}\u{e9}\u{1F600}a-z]{0,8}",
        ) {
            struct Shown(String);
            impl Serialize for Shown {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_str(&self.0)
                }
            }
            let v = (Shown(text), chrono::DateTime::from_timestamp(1_790_000_123, 456_000).unwrap());
            let direct = crate::canonical::Writer::new().write(&v).unwrap();
            prop_assert_eq!(direct, canonical_json_via_value(&v).unwrap());
        }
    }

    proptest! {
        /// Plain keys longer than the 8 bytes a sort compares first, sharing those bytes
        /// and repeated: the order falls to the whole key, and the last of equal keys
        /// still wins.
        #[test]
        fn long_keys_sharing_a_prefix_sort_by_the_whole_key(
            pairs in proptest::collection::vec(("[ab]{6,12}", any::<i8>()), 0..12),
        ) {
            let v = Pairs(pairs);
            let direct = canonical_json(&v).unwrap();
            prop_assert_eq!(&direct, &canonical_json_via_value(&v).unwrap());
            let value = serde_json::to_value(&v).unwrap();
            prop_assert_eq!(&direct, &serde_json_canonicalizer::to_string(&value).unwrap());
        }
    }

    #[test]
    fn entry_bytes_are_jcs() {
        let e = Entry {
            seq: 7,
            stream: "s-\"1\"\n",
            stream_version: 2,
            kind: "genesis",
            schema_version: 1,
            payload: r#"{"a":1}"#,
            recorded_at: "2026-01-01T00:00:00.000000Z",
            idempotency_key: None,
        };
        let mut buf = Vec::new();
        write_entry(&mut buf, &e);
        let value = serde_json::json!({
            "seq": 7, "stream": "s-\"1\"\n", "stream_version": 2, "type": "genesis",
            "schema_version": 1, "payload": {"a": 1},
            "recorded_at": "2026-01-01T00:00:00.000000Z", "idempotency_key": null,
        });
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            canonical_json(&value).unwrap()
        );
    }
}
