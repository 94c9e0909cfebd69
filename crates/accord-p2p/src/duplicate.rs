//! Duplicate detection: an index the caller keeps (in memory, rebuilt from the event log
//! on start) with O(1) expected `check` and `insert` per invoice.
//!
//! Three kinds of hit, each explained in plain language:
//! - exact: same supplier, same document kind, same invoice number once normalised;
//! - likely: same supplier and kind, same amount and issue date, different number;
//! - credit-note replay: same supplier, a credit note of the same amount against the same
//!   referenced invoice.

use std::collections::HashMap;

use accord_core::{
    Money, MoneyError,
    document::{Invoice, InvoiceKind},
    id::{InvoiceId, SupplierId},
};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ubl::ValidInvoice;

/// What the index remembers of an invoice.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Fingerprint {
    pub invoice: InvoiceId,
    pub supplier: SupplierId,
    pub kind: InvoiceKind,
    /// The supplier's number as written.
    pub number: String,
    pub issue_date: NaiveDate,
    /// The amount due (BT-115).
    pub amount: Money,
    /// For a credit note: the number of the invoice it corrects.
    pub referenced_invoice: Option<String>,
}

impl Fingerprint {
    /// The fingerprint of a validated e-invoice, with the credit note's referenced invoice.
    pub fn of_valid(
        invoice: &ValidInvoice,
        id: InvoiceId,
        supplier: SupplierId,
    ) -> Result<Fingerprint, MoneyError> {
        Ok(Fingerprint {
            invoice: id,
            supplier,
            kind: invoice.document().kind,
            number: invoice.number().to_owned(),
            issue_date: invoice.issue_date(),
            amount: invoice.payable()?,
            referenced_invoice: invoice.referenced_invoice().map(str::to_owned),
        })
    }

    /// The fingerprint of a core invoice; a credit note's referenced invoice comes from
    /// the e-invoice (`ValidInvoice::referenced_invoice`), which the core type does not keep.
    pub fn of(invoice: &Invoice, referenced_invoice: Option<&str>) -> Fingerprint {
        Fingerprint {
            invoice: invoice.id,
            supplier: invoice.supplier,
            kind: invoice.kind,
            number: invoice.number.clone(),
            issue_date: invoice.issue_date,
            amount: invoice.payable,
            referenced_invoice: referenced_invoice.map(str::to_owned),
        }
    }
}

/// An invoice number reduced to what identifies it: letters upper-cased, leading zeros of
/// each run of digits removed, other characters dropped except that a separator between
/// two runs of digits becomes `-`. So `inv-0042`, `INV 42` and `INV42` are one number,
/// and so are `2024/001` and `2024-1`, but not `20241`.
pub fn normalise_number(number: &str) -> String {
    let mut out = String::with_capacity(number.len());
    // Where the current run of digits starts in `out`, while inside one.
    let mut run: Option<usize> = None;
    let end_run = |out: &mut String, run: &mut Option<usize>| {
        if run.take().is_some_and(|start| out.len() == start) {
            out.push('0'); // the run was all zeros
        }
    };
    // A separator between two runs of digits is kept as `-`: `2024/1` is not `20241`.
    let mut separated = false;
    for c in number.chars() {
        if c.is_ascii_digit() {
            if run.is_none() && separated && out.ends_with(|p: char| p.is_ascii_digit()) {
                out.push('-');
            }
            separated = false;
            let start = *run.get_or_insert(out.len());
            if !(c == '0' && out.len() == start) {
                out.push(c);
            }
        } else {
            end_run(&mut out, &mut run);
            if c.is_alphanumeric() {
                separated = false;
                out.extend(c.to_uppercase());
            } else {
                separated = true;
            }
        }
    }
    end_run(&mut out, &mut run);
    out
}

/// Which rule found the hit.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateKind {
    /// Same supplier, same number.
    Exact,
    /// Same supplier, amount and issue date under a different number.
    SameAmountAndDate,
    /// A credit note of the same amount against the same invoice, again.
    CreditNoteReplay,
}

/// One suspected duplicate, with the earlier invoice and a plain-language reason.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct DuplicateHit {
    pub kind: DuplicateKind,
    pub existing: InvoiceId,
    pub existing_number: String,
    pub explanation: String,
}

// `InvoiceKind` is not `Hash` in accord-core, so keys carry "is a credit note" instead.
type NumberKey = (SupplierId, bool, String);
type AmountDateKey = (SupplierId, bool, Money, NaiveDate);
type CreditKey = (SupplierId, Money, String);

/// The index of invoices already received.
#[derive(Clone, Debug, Default)]
pub struct DuplicateIndex {
    by_id: HashMap<InvoiceId, Fingerprint>,
    by_number: HashMap<NumberKey, Vec<InvoiceId>>,
    by_amount_date: HashMap<AmountDateKey, Vec<InvoiceId>>,
    by_credit_ref: HashMap<CreditKey, Vec<InvoiceId>>,
}

fn is_credit(fp: &Fingerprint) -> bool {
    fp.kind == InvoiceKind::CreditNote
}

fn number_key(fp: &Fingerprint) -> NumberKey {
    (fp.supplier, is_credit(fp), normalise_number(&fp.number))
}

fn amount_date_key(fp: &Fingerprint) -> AmountDateKey {
    (fp.supplier, is_credit(fp), fp.amount, fp.issue_date)
}

fn credit_key(fp: &Fingerprint) -> Option<CreditKey> {
    match (&fp.kind, &fp.referenced_invoice) {
        (InvoiceKind::CreditNote, Some(r)) => Some((fp.supplier, fp.amount, normalise_number(r))),
        _ => None,
    }
}

impl DuplicateIndex {
    pub fn new() -> DuplicateIndex {
        DuplicateIndex::default()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The suspected duplicates of `fp` among the invoices already inserted (never `fp`
    /// itself, so checking an inserted invoice again finds only the others).
    pub fn check(&self, fp: &Fingerprint) -> Vec<DuplicateHit> {
        let mut hits = Vec::new();
        let kind_word = match fp.kind {
            InvoiceKind::Invoice => "invoice",
            InvoiceKind::CreditNote => "credit note",
        };
        let exact = self.by_number.get(&number_key(fp));
        for id in exact.into_iter().flatten().filter(|&&id| id != fp.invoice) {
            let old = &self.by_id[id];
            let explanation = if old.number == fp.number {
                format!(
                    "{kind_word} number `{}` from this supplier was already received on an earlier document",
                    fp.number
                )
            } else {
                format!(
                    "{kind_word} number `{}` from this supplier was already received as `{}`: the numbers are the same once case, spaces, punctuation and leading zeros are ignored",
                    fp.number, old.number
                )
            };
            hits.push(DuplicateHit {
                kind: DuplicateKind::Exact,
                existing: *id,
                existing_number: old.number.clone(),
                explanation,
            });
        }
        let same_number =
            |old: &Fingerprint| normalise_number(&old.number) == normalise_number(&fp.number);
        for id in self
            .by_amount_date
            .get(&amount_date_key(fp))
            .into_iter()
            .flatten()
            .filter(|&&id| id != fp.invoice)
        {
            let old = &self.by_id[id];
            if same_number(old) {
                continue; // already reported as exact
            }
            hits.push(DuplicateHit {
                kind: DuplicateKind::SameAmountAndDate,
                existing: *id,
                existing_number: old.number.clone(),
                explanation: format!(
                    "{kind_word} `{}` has the same amount ({}) and issue date ({}) as `{}` from this supplier, under a different number",
                    fp.number, fp.amount, fp.issue_date, old.number
                ),
            });
        }
        if let Some(key) = credit_key(fp) {
            for id in self
                .by_credit_ref
                .get(&key)
                .into_iter()
                .flatten()
                .filter(|&&id| id != fp.invoice)
            {
                let old = &self.by_id[id];
                if same_number(old) || hits.iter().any(|h| h.existing == *id) {
                    continue;
                }
                hits.push(DuplicateHit {
                    kind: DuplicateKind::CreditNoteReplay,
                    existing: *id,
                    existing_number: old.number.clone(),
                    explanation: format!(
                        "credit note `{}` repeats credit note `{}` from this supplier: same amount ({}) against the same invoice `{}`",
                        fp.number,
                        old.number,
                        fp.amount,
                        fp.referenced_invoice.as_deref().unwrap_or_default()
                    ),
                });
            }
        }
        hits
    }

    /// Adds `fp`, replacing an earlier fingerprint with the same invoice id.
    pub fn insert(&mut self, fp: Fingerprint) {
        self.remove(fp.invoice);
        let id = fp.invoice;
        self.by_number.entry(number_key(&fp)).or_default().push(id);
        self.by_amount_date
            .entry(amount_date_key(&fp))
            .or_default()
            .push(id);
        if let Some(k) = credit_key(&fp) {
            self.by_credit_ref.entry(k).or_default().push(id);
        }
        self.by_id.insert(id, fp);
    }

    /// Checks `fp`, then inserts it; returns the hits.
    pub fn check_and_insert(&mut self, fp: Fingerprint) -> Vec<DuplicateHit> {
        let hits = self.check(&fp);
        self.insert(fp);
        hits
    }

    /// Forgets an invoice (rejected, or voided by the caller). Returns its fingerprint.
    pub fn remove(&mut self, id: InvoiceId) -> Option<Fingerprint> {
        let fp = self.by_id.remove(&id)?;
        remove_from(&mut self.by_number, number_key(&fp), id);
        remove_from(&mut self.by_amount_date, amount_date_key(&fp), id);
        if let Some(k) = credit_key(&fp) {
            remove_from(&mut self.by_credit_ref, k, id);
        }
        Some(fp)
    }
}

fn remove_from<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Vec<InvoiceId>>,
    key: K,
    id: InvoiceId,
) {
    if let Some(ids) = map.get_mut(&key) {
        ids.retain(|x| *x != id);
        if ids.is_empty() {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_number;

    #[test]
    fn numbers_normalise() {
        for (a, b) in [
            ("INV-0042", "inv 42"),
            ("INV-0042", "INV42"),
            ("2024/001", "2024-1"),
            ("2024/001", "2024 1"),
            ("0", "000"),
            ("A-0", "a00"),
            ("018304 / 28865", "18304-28865"),
        ] {
            assert_eq!(normalise_number(a), normalise_number(b), "{a} vs {b}");
        }
        for (a, b) in [
            ("INV-42", "INV-43"),
            ("A1B2", "A12B"),
            ("10", "1"),
            ("2024/001", "20241"),
        ] {
            assert_ne!(normalise_number(a), normalise_number(b), "{a} vs {b}");
        }
    }
}
