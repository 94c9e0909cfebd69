//! Three-way match: purchase order, goods receipts and invoice agree within tolerances,
//! or the invoice gets typed exceptions that say what differs, by how much, under which
//! tolerance, and which role may override.
//!
//! Credit notes are matched for unmatched lines only: their quantities are returns and a
//! higher unit price is a larger credit, so neither is an exception.
//!
//! Speed: a [`PoIndex`] is built once per order (lines by number and by SKU, received
//! quantities summed over posted receipts); a [`Matcher`] keeps its scratch buffers
//! between invoices, so matching allocates only for the exceptions it reports.

use std::collections::HashMap;

use accord_core::{
    CategoryCode, Currency,
    document::{GoodsReceipt, Invoice, InvoiceKind, PurchaseOrder},
    lifecycle::{InvoiceState, PurchaseOrderState, ReceiptState},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    duplicate::DuplicateHit,
    tolerance::{Scope, Tolerance, ToleranceKind, TolerancePolicy},
};

/// A purchase order prepared for matching: its lines by number and by SKU, and what has
/// been received (received minus rejected, over posted receipts of this order).
#[derive(Debug, Clone)]
pub struct PoIndex<'a> {
    po: &'a PurchaseOrder,
    by_line: HashMap<u32, usize>,
    by_sku: HashMap<&'a str, usize>,
    received: Vec<Decimal>,
}

impl<'a> PoIndex<'a> {
    pub fn new(po: &'a PurchaseOrder, receipts: &[GoodsReceipt]) -> PoIndex<'a> {
        let mut by_line = HashMap::with_capacity(po.lines.len());
        let mut by_sku = HashMap::with_capacity(po.lines.len());
        for (i, l) in po.lines.iter().enumerate() {
            by_line.insert(l.line_no, i);
            // The first line wins when an order lists a SKU twice.
            by_sku.entry(l.sku.as_str()).or_insert(i);
        }
        let mut received = vec![Decimal::ZERO; po.lines.len()];
        for r in receipts
            .iter()
            .filter(|r| r.purchase_order == po.id && r.state == ReceiptState::Posted)
        {
            for rl in &r.lines {
                if let Some(&i) = by_line.get(&rl.po_line) {
                    received[i] += rl.received - rl.rejected;
                }
            }
        }
        PoIndex {
            po,
            by_line,
            by_sku,
            received,
        }
    }

    pub fn order(&self) -> &'a PurchaseOrder {
        self.po
    }

    /// Net quantity received on the line at `index`.
    pub fn received(&self, index: usize) -> Decimal {
        self.received[index]
    }

    fn find(&self, po_line: Option<u32>, sku: Option<&str>) -> Option<usize> {
        match po_line {
            Some(n) => self.by_line.get(&n).copied(),
            None => sku.and_then(|s| self.by_sku.get(s).copied()),
        }
    }
}

/// What an exception is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    PriceVariance,
    QuantityVariance,
    NotReceived,
    UnmatchedLine,
    Duplicate,
    TaxVariance,
    /// The invoice is not in the order's currency; nothing money-related was compared.
    CurrencyMismatch,
    /// The invoice quotes another order number, comes from another supplier, or the order
    /// is not issued (draft, pending approval, cancelled).
    OrderMismatch,
}

/// The unit of `expected` and `actual`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Major units of a currency (a unit price, a tax amount).
    Money(Currency),
    /// A quantity in a unit of measure.
    Quantity(String),
    None,
}

/// The tolerance that decided, and where it was set.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AppliedTolerance {
    pub tolerance: Tolerance,
    pub scope: Scope,
}

/// One reason the invoice cannot be released as is.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MatchException {
    pub kind: ExceptionKind,
    /// The invoice line (BT-126), when the exception is about one.
    pub invoice_line: Option<String>,
    /// The order line, when one was found.
    pub po_line: Option<u32>,
    pub expected: Option<Decimal>,
    pub actual: Option<Decimal>,
    pub measure: Measure,
    pub tolerance: Option<AppliedTolerance>,
    /// The role that may override; `None` means nobody below the policy's default.
    pub override_role: Option<String>,
    pub explanation: String,
}

/// The result of matching one invoice.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MatchReport {
    pub lines_checked: usize,
    pub exceptions: Vec<MatchException>,
}

impl MatchReport {
    /// Matched: release to pay.
    pub fn is_matched(&self) -> bool {
        self.exceptions.is_empty()
    }

    /// The state the invoice moves to from `Received`.
    pub fn next_state(&self) -> InvoiceState {
        if self.is_matched() {
            InvoiceState::Matched
        } else {
            InvoiceState::Exception
        }
    }

    /// The distinct roles that may override the exceptions, in first-seen order; empty
    /// when matched. An exception without a role leaves the decision to the policy gate.
    pub fn override_roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = Vec::new();
        for r in self
            .exceptions
            .iter()
            .filter_map(|e| e.override_role.as_deref())
        {
            if !roles.contains(&r) {
                roles.push(r);
            }
        }
        roles
    }

    pub fn count(&self, kind: ExceptionKind) -> usize {
        self.exceptions.iter().filter(|e| e.kind == kind).count()
    }
}

/// Everything one match looks at besides the order.
#[derive(Clone, Copy, Debug)]
pub struct MatchInput<'a> {
    pub invoice: &'a Invoice,
    /// Quantities already invoiced on this order by earlier invoices, by order line
    /// number; the quantity checks are cumulative.
    pub previously_invoiced: Option<&'a HashMap<u32, Decimal>>,
    /// The VAT rate (percent) the buyer expects on the whole invoice, when known.
    pub expected_tax_rate: Option<Decimal>,
    /// Hits from `DuplicateIndex::check`, reported as `Duplicate` exceptions.
    pub duplicates: &'a [DuplicateHit],
    /// The category of the order's items, for category tolerances when the policy's
    /// `item_categories` does not know an item.
    pub category: Option<&'a CategoryCode>,
}

impl<'a> MatchInput<'a> {
    pub fn new(invoice: &'a Invoice) -> MatchInput<'a> {
        MatchInput {
            invoice,
            previously_invoiced: None,
            expected_tax_rate: None,
            duplicates: &[],
            category: None,
        }
    }
}

const UNTOUCHED: usize = usize::MAX;

/// The match engine: a policy plus reusable scratch space.
#[derive(Debug, Clone)]
pub struct Matcher<'p> {
    policy: &'p TolerancePolicy,
    billed: Vec<Decimal>,
    last_line: Vec<usize>,
    touched: Vec<usize>,
}

impl<'p> Matcher<'p> {
    pub fn new(policy: &'p TolerancePolicy) -> Matcher<'p> {
        Matcher {
            policy,
            billed: Vec::new(),
            last_line: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Matches one invoice against an indexed order.
    pub fn match_invoice(&mut self, po: &PoIndex<'_>, input: &MatchInput<'_>) -> MatchReport {
        let inv = input.invoice;
        let order = po.po;
        let policy = self.policy;
        let mut exceptions = Vec::new();

        for hit in input.duplicates {
            exceptions.push(MatchException {
                kind: ExceptionKind::Duplicate,
                invoice_line: None,
                po_line: None,
                expected: None,
                actual: None,
                measure: Measure::None,
                tolerance: None,
                override_role: policy.duplicate_override_role.clone(),
                explanation: hit.explanation.clone(),
            });
        }
        if inv.supplier != order.supplier {
            exceptions.push(doc_exception(
                ExceptionKind::OrderMismatch,
                format!(
                    "the invoice is from another supplier than order `{}`",
                    order.number
                ),
            ));
        }
        if let Some(r) = inv
            .order_ref
            .as_deref()
            .filter(|r| r.trim() != order.number)
        {
            exceptions.push(doc_exception(
                ExceptionKind::OrderMismatch,
                format!("the invoice quotes order `{r}`, not `{}`", order.number),
            ));
        }
        if matches!(
            order.state,
            PurchaseOrderState::Draft
                | PurchaseOrderState::PendingApproval
                | PurchaseOrderState::Cancelled
        ) {
            exceptions.push(doc_exception(
                ExceptionKind::OrderMismatch,
                format!(
                    "order `{}` is `{:?}`, not issued",
                    order.number, order.state
                ),
            ));
        }
        let same_currency = inv.currency == order.currency;
        let is_invoice = inv.kind == InvoiceKind::Invoice;
        if !same_currency {
            exceptions.push(doc_exception(
                ExceptionKind::CurrencyMismatch,
                format!(
                    "the invoice is in `{}` but order `{}` is in `{}`",
                    inv.currency, order.number, order.currency
                ),
            ));
        }

        let n = order.lines.len();
        self.billed.clear();
        self.billed.resize(n, Decimal::ZERO);
        self.last_line.clear();
        self.last_line.resize(n, UNTOUCHED);
        self.touched.clear();

        for (li, line) in inv.lines.iter().enumerate() {
            let Some(pi) = po.find(line.po_line, line.sku.as_deref()) else {
                let why = match (line.po_line, line.sku.as_deref()) {
                    (Some(n), _) => format!("order `{}` has no line {n}", order.number),
                    (None, Some(s)) => {
                        format!("order `{}` has no line for item `{s}`", order.number)
                    }
                    (None, None) => "the line names neither an order line nor an item".to_owned(),
                };
                exceptions.push(MatchException {
                    kind: ExceptionKind::UnmatchedLine,
                    invoice_line: Some(line.line_id.clone()),
                    po_line: line.po_line,
                    expected: None,
                    actual: Some(line.quantity),
                    measure: Measure::Quantity(line.unit.clone()),
                    tolerance: None,
                    override_role: None,
                    explanation: format!("invoice line `{}`: {why}", line.line_id),
                });
                continue;
            };
            let pl = &order.lines[pi];
            // A credit note's higher unit price is a larger credit: only invoices are
            // checked for price.
            if same_currency && is_invoice {
                let expected = pl.unit_price.to_decimal();
                let actual = line.unit_price.to_decimal();
                let (tol, scope) =
                    policy.resolve(ToleranceKind::Price, Some(&pl.sku), input.category);
                if !tol.allows_over(expected, actual - expected) {
                    exceptions.push(MatchException {
                        kind: ExceptionKind::PriceVariance,
                        invoice_line: Some(line.line_id.clone()),
                        po_line: Some(pl.line_no),
                        expected: Some(expected),
                        actual: Some(actual),
                        measure: Measure::Money(order.currency),
                        tolerance: Some(AppliedTolerance { tolerance: tol.clone(), scope }),
                        override_role: tol.override_role.clone(),
                        explanation: format!(
                            "invoice line `{}` bills `{}` at {actual} {} a unit, the order says {expected} (tolerance {tol})",
                            line.line_id, pl.sku, order.currency
                        ),
                    });
                }
            }
            if self.last_line[pi] == UNTOUCHED {
                self.touched.push(pi);
            }
            self.billed[pi] += line.quantity;
            self.last_line[pi] = li;
        }

        // Quantities are cumulative per order line; a credit note returns, so only
        // invoices are checked against ordered and received quantities.
        if is_invoice {
            for &pi in &self.touched {
                let pl = &order.lines[pi];
                let prior = input
                    .previously_invoiced
                    .and_then(|m| m.get(&pl.line_no))
                    .copied()
                    .unwrap_or_default();
                let billed = prior + self.billed[pi];
                let line = &inv.lines[self.last_line[pi]];
                let (tol, scope) =
                    policy.resolve(ToleranceKind::Quantity, Some(&pl.sku), input.category);
                if !tol.allows_over(pl.quantity, billed - pl.quantity) {
                    exceptions.push(MatchException {
                        kind: ExceptionKind::QuantityVariance,
                        invoice_line: Some(line.line_id.clone()),
                        po_line: Some(pl.line_no),
                        expected: Some(pl.quantity),
                        actual: Some(billed),
                        measure: Measure::Quantity(pl.unit.clone()),
                        tolerance: Some(AppliedTolerance { tolerance: tol.clone(), scope }),
                        override_role: tol.override_role.clone(),
                        explanation: format!(
                            "{billed} {} of `{}` invoiced on order line {} (including {prior} before), {} ordered (tolerance {tol})",
                            pl.unit, pl.sku, pl.line_no, pl.quantity
                        ),
                    });
                }
                let received = po.received[pi];
                let (tol, scope) =
                    policy.resolve(ToleranceKind::Received, Some(&pl.sku), input.category);
                if !tol.allows_over(received, billed - received) {
                    exceptions.push(MatchException {
                        kind: ExceptionKind::NotReceived,
                        invoice_line: Some(line.line_id.clone()),
                        po_line: Some(pl.line_no),
                        expected: Some(received),
                        actual: Some(billed),
                        measure: Measure::Quantity(pl.unit.clone()),
                        tolerance: Some(AppliedTolerance { tolerance: tol.clone(), scope }),
                        override_role: tol.override_role.clone(),
                        explanation: format!(
                            "{billed} {} of `{}` invoiced on order line {}, only {received} received and accepted (tolerance {tol})",
                            pl.unit, pl.sku, pl.line_no
                        ),
                    });
                }
            }
        }

        if let (Some(rate), true) = (input.expected_tax_rate, same_currency) {
            let base = inv.tax_exclusive.to_decimal();
            // Money::scale rounds once, by accord_core::round_minor.
            let expected = inv
                .tax_exclusive
                .scale(rate / Decimal::ONE_HUNDRED)
                .map_or(Decimal::ZERO, |m| m.to_decimal());
            let actual = inv.tax.to_decimal();
            let (tol, scope) = policy.resolve(ToleranceKind::Tax, None, input.category);
            if !tol.allows_over(expected, (actual - expected).abs()) {
                exceptions.push(MatchException {
                    kind: ExceptionKind::TaxVariance,
                    invoice_line: None,
                    po_line: None,
                    expected: Some(expected),
                    actual: Some(actual),
                    measure: Measure::Money(inv.currency),
                    tolerance: Some(AppliedTolerance { tolerance: tol.clone(), scope }),
                    override_role: tol.override_role.clone(),
                    explanation: format!(
                        "the invoice charges {actual} {} VAT, {rate}% of {base} is {expected} (tolerance {tol})",
                        inv.currency
                    ),
                });
            }
        }

        MatchReport {
            lines_checked: inv.lines.len(),
            exceptions,
        }
    }
}

fn doc_exception(kind: ExceptionKind, explanation: String) -> MatchException {
    MatchException {
        kind,
        invoice_line: None,
        po_line: None,
        expected: None,
        actual: None,
        measure: Measure::None,
        tolerance: None,
        override_role: None,
        explanation,
    }
}

/// One-shot convenience: index the order, match the invoice.
pub fn three_way_match(
    policy: &TolerancePolicy,
    po: &PurchaseOrder,
    receipts: &[GoodsReceipt],
    input: &MatchInput<'_>,
) -> MatchReport {
    Matcher::new(policy).match_invoice(&PoIndex::new(po, receipts), input)
}
