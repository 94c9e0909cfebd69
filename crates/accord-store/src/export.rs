//! Audit export: every chain entry and every signed checkpoint, as JSON Lines or CSV, in a
//! form an auditor can re-verify without Accord (`docs/audit.md`).

use std::io::Write;

use crate::audit;
use crate::error::Result;
use crate::model::{SignedCheckpoint, StoredEvent};

/// The export file format.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ExportFormat {
    /// One JSON object per line; `record` is `entry` or `checkpoint`.
    Jsonl,
    /// RFC 4180 CSV with a header; `payload` is the canonical JSON text.
    Csv,
}

/// What an export wrote.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ExportSummary {
    pub entries: u64,
    pub checkpoints: u64,
}

pub(crate) const CSV_HEADER: &str = "record,seq,stream,stream_version,type,schema_version,\
recorded_at,idempotency_key,payload,prev_hash,hash,public_key,signature\n";

fn json_str(buf: &mut Vec<u8>, s: &str) {
    // INVARIANT: writing a `str` into a `Vec` cannot fail.
    serde_json::to_writer(&mut *buf, s).expect("string serialises");
}

fn csv_field(buf: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        buf.push(b'"');
        buf.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        buf.push(b'"');
    } else {
        buf.extend_from_slice(s.as_bytes());
    }
}

pub(crate) struct Exporter<'w, W: Write> {
    format: ExportFormat,
    out: &'w mut W,
    buf: Vec<u8>,
    pub summary: ExportSummary,
}

impl<'w, W: Write> Exporter<'w, W> {
    pub fn new(format: ExportFormat, out: &'w mut W) -> Result<Self> {
        if format == ExportFormat::Csv {
            out.write_all(CSV_HEADER.as_bytes())?;
        }
        Ok(Exporter {
            format,
            out,
            buf: Vec::with_capacity(4096),
            summary: ExportSummary::default(),
        })
    }

    pub fn entry(&mut self, e: &StoredEvent) -> Result<()> {
        let b = &mut self.buf;
        b.clear();
        match self.format {
            ExportFormat::Jsonl => {
                b.extend_from_slice(b"{\"record\":\"entry\",\"seq\":");
                b.extend_from_slice(e.seq.to_string().as_bytes());
                b.extend_from_slice(b",\"stream\":");
                json_str(b, &e.stream);
                b.extend_from_slice(b",\"stream_version\":");
                b.extend_from_slice(e.stream_version.to_string().as_bytes());
                b.extend_from_slice(b",\"type\":");
                json_str(b, &e.kind);
                b.extend_from_slice(b",\"schema_version\":");
                b.extend_from_slice(e.schema_version.to_string().as_bytes());
                b.extend_from_slice(b",\"recorded_at\":");
                json_str(b, &e.recorded_at);
                b.extend_from_slice(b",\"idempotency_key\":");
                match &e.idempotency_key {
                    Some(k) => json_str(b, k),
                    None => b.extend_from_slice(b"null"),
                }
                b.extend_from_slice(b",\"payload\":");
                b.extend_from_slice(e.payload.as_bytes());
                b.extend_from_slice(b",\"prev_hash\":\"");
                b.extend_from_slice(hex::encode(e.prev_hash).as_bytes());
                b.extend_from_slice(b"\",\"hash\":\"");
                b.extend_from_slice(hex::encode(e.hash).as_bytes());
                b.extend_from_slice(b"\"}\n");
            }
            ExportFormat::Csv => {
                b.extend_from_slice(b"entry,");
                b.extend_from_slice(format!("{},", e.seq).as_bytes());
                csv_field(b, &e.stream);
                b.extend_from_slice(format!(",{},", e.stream_version).as_bytes());
                csv_field(b, &e.kind);
                b.extend_from_slice(format!(",{},", e.schema_version).as_bytes());
                csv_field(b, &e.recorded_at);
                b.push(b',');
                csv_field(b, e.idempotency_key.as_deref().unwrap_or(""));
                b.push(b',');
                csv_field(b, &e.payload);
                b.extend_from_slice(
                    format!(",{},{},,\n", hex::encode(e.prev_hash), hex::encode(e.hash)).as_bytes(),
                );
            }
        }
        self.out.write_all(&self.buf)?;
        self.summary.entries += 1;
        Ok(())
    }

    pub fn checkpoint(&mut self, c: &SignedCheckpoint) -> Result<()> {
        let line = match self.format {
            ExportFormat::Jsonl => format!(
                "{{\"record\":\"checkpoint\",\"seq\":{},\"hash\":\"{}\",\"public_key\":\"{}\",\
                 \"key_fingerprint\":\"{}\",\"signature\":\"{}\",\"signed_at\":{}}}\n",
                c.seq,
                hex::encode(c.hash),
                hex::encode(c.public_key),
                audit::fingerprint(&c.public_key),
                hex::encode(c.signature),
                serde_json::Value::String(c.signed_at.clone()),
            ),
            ExportFormat::Csv => format!(
                "checkpoint,{},,,,,{},,,,{},{},{}\n",
                c.seq,
                c.signed_at,
                hex::encode(c.hash),
                hex::encode(c.public_key),
                hex::encode(c.signature),
            ),
        };
        self.out.write_all(line.as_bytes())?;
        self.summary.checkpoints += 1;
        Ok(())
    }

    pub fn finish(self) -> Result<ExportSummary> {
        self.out.flush()?;
        Ok(self.summary)
    }
}
