//! Decoding helpers shared by the backends: read-model rows back into domain types, and
//! raw event rows into the verifier.

use accord_core::document::SpendLine;
use accord_core::id::{SpendLineId, SupplierId};
use accord_core::party::CategoryCode;
use accord_core::{Currency, Money};
use serde::de::DeserializeOwned;

use crate::chain::{ChainBreak, Entry, Verifier};
use crate::error::{Result, StoreError};
use crate::model::SupplierSpend;

pub(crate) fn json<T: DeserializeOwned>(text: &str) -> Result<T> {
    Ok(serde_json::from_str(text)?)
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("stored {what} `{value}` is malformed"))
}

/// Copies a stored blob into a fixed array. A blob of the wrong length (a tampered row)
/// becomes all `0xff`, which never equals a real hash, so the verifier reports it.
pub(crate) fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    <[u8; N]>::try_from(bytes).unwrap_or([0xff; N])
}

pub(crate) struct SpendColumns {
    pub id: String,
    pub external_ref: String,
    pub supplier: String,
    pub category: String,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: String,
    pub currency: String,
    pub amount_minor: i64,
    pub date: String,
}

pub(crate) fn spend_line(c: SpendColumns) -> Result<SpendLine> {
    Ok(SpendLine {
        id: SpendLineId::parse(&c.id).map_err(|_| bad("spend line id", &c.id))?,
        supplier: SupplierId::parse(&c.supplier).map_err(|_| bad("supplier id", &c.supplier))?,
        category: CategoryCode::parse(&c.category).map_err(|_| bad("category", &c.category))?,
        quantity: c
            .quantity
            .parse()
            .map_err(|_| bad("quantity", &c.quantity))?,
        amount: Money::new(
            c.amount_minor,
            Currency::parse(&c.currency).map_err(|_| bad("currency", &c.currency))?,
        ),
        date: c.date.parse().map_err(|_| bad("date", &c.date))?,
        external_ref: c.external_ref,
        sku: c.sku,
        description: c.description,
    })
}

pub(crate) fn supplier_spend(
    supplier: String,
    currency: String,
    total_minor: i64,
    lines: i64,
    quantity: f64,
) -> Result<SupplierSpend> {
    Ok(SupplierSpend {
        supplier: SupplierId::parse(&supplier).map_err(|_| bad("supplier id", &supplier))?,
        currency,
        total_minor,
        lines: lines as u64,
        quantity,
    })
}

/// An event row exactly as stored, text columns as raw bytes.
pub(crate) struct RawEntry<'r> {
    pub seq: i64,
    pub stream: &'r [u8],
    pub stream_version: i64,
    pub kind: &'r [u8],
    pub schema_version: i64,
    pub payload: &'r [u8],
    pub recorded_at: &'r [u8],
    pub idempotency_key: Option<&'r [u8]>,
    pub prev_hash: &'r [u8],
    pub hash: &'r [u8],
}

/// Feeds one raw row to the verifier. Text that is not UTF-8 cannot have been written by
/// the store, so it counts as a changed entry.
pub(crate) fn verify_row(v: &mut Verifier, r: RawEntry<'_>) -> bool {
    let text = |b| std::str::from_utf8(b).ok();
    let key = match r.idempotency_key {
        None => Some(None),
        Some(k) => text(k).map(Some),
    };
    let (Some(stream), Some(kind), Some(payload), Some(recorded_at), Some(idempotency_key)) = (
        text(r.stream),
        text(r.kind),
        text(r.payload),
        text(r.recorded_at),
        key,
    ) else {
        return v.fail_at(r.seq as u64, ChainBreak::HashMismatch);
    };
    v.push(
        &Entry {
            seq: r.seq as u64,
            stream,
            stream_version: r.stream_version as u64,
            kind,
            schema_version: r.schema_version as u64,
            payload,
            recorded_at,
            idempotency_key,
        },
        &fixed(r.prev_hash),
        &fixed(r.hash),
    )
}
