//! Procurement documents: spend lines, contracts, requisitions, purchase orders, goods
//! receipts, invoices and payments.
//!
//! Quantities are exact decimals (an invoice may bill 2.5 kg); amounts are [`Money`].

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    id::{
        ContractId, InvoiceId, PaymentId, PurchaseOrderId, ReceiptId, RequisitionId, SpendLineId,
        SupplierId,
    },
    lifecycle::{
        ContractState, InvoiceState, PaymentState, PurchaseOrderState, ReceiptState,
        RequisitionState,
    },
    money::{Currency, Money},
    party::CategoryCode,
};

/// One historical purchase from an ERP export: what was bought, from whom, for how much.
/// `external_ref` is the natural key.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SpendLine {
    pub id: SpendLineId,
    pub external_ref: String,
    pub supplier: SupplierId,
    pub category: CategoryCode,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub amount: Money,
    pub date: NaiveDate,
}

/// A negotiated price for one item under a contract.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ContractPrice {
    pub sku: String,
    pub unit_price: Money,
}

/// The terms a contract fixes. Negotiations produce these.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ContractTerms {
    pub prices: Vec<ContractPrice>,
    pub payment_days: u32,
    pub lead_time_days: u32,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Contract {
    pub id: ContractId,
    /// The ERP's key, the natural key on import.
    pub external_ref: String,
    pub supplier: SupplierId,
    pub category: CategoryCode,
    pub currency: Currency,
    pub terms: ContractTerms,
    pub state: ContractState,
}

impl Contract {
    /// Whether the contract is in force on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.state == ContractState::Active
            && self.terms.valid_from <= day
            && day <= self.terms.valid_to
    }
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Requisition {
    pub id: RequisitionId,
    /// The user who asked: segregation of duties keys on this.
    pub requester: String,
    pub category: CategoryCode,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub estimated_unit_price: Option<Money>,
    pub needed_by: Option<NaiveDate>,
    pub state: RequisitionState,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct OrderLine {
    pub line_no: u32,
    pub sku: String,
    pub description: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Money,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct PurchaseOrder {
    pub id: PurchaseOrderId,
    /// The human-readable order number that invoices quote.
    pub number: String,
    pub supplier: SupplierId,
    pub contract: Option<ContractId>,
    pub requisition: Option<RequisitionId>,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    pub payment_days: u32,
    pub state: PurchaseOrderState,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ReceiptLine {
    pub po_line: u32,
    pub received: Decimal,
    /// Quantity delivered but refused at the dock (damaged, wrong item).
    pub rejected: Decimal,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct GoodsReceipt {
    pub id: ReceiptId,
    pub purchase_order: PurchaseOrderId,
    pub received_on: NaiveDate,
    pub lines: Vec<ReceiptLine>,
    pub state: ReceiptState,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    CreditNote,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub line_id: String,
    /// The purchase-order line this bills, when the invoice says so.
    pub po_line: Option<u32>,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub unit: String,
    pub unit_price: Money,
    pub net_amount: Money,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub kind: InvoiceKind,
    /// The supplier's own invoice number.
    pub number: String,
    pub supplier: SupplierId,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: Currency,
    pub order_ref: Option<String>,
    pub contract_ref: Option<String>,
    /// For a credit note: the number of the invoice it corrects (BT-25).
    #[serde(default)]
    pub referenced_invoice: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub tax_exclusive: Money,
    pub tax: Money,
    pub payable: Money,
    pub state: InvoiceState,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub invoice: InvoiceId,
    pub amount: Money,
    pub due_on: NaiveDate,
    pub state: PaymentState,
}

/// One exception the match agent found on an invoice, in words a clerk can act on.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct MatchIssue {
    /// `price_variance`, `quantity_variance`, `not_received`, `unmatched_line`,
    /// `duplicate` or `tax_variance`.
    pub kind: String,
    /// The invoice line it concerns, when it concerns one.
    pub line: Option<String>,
    pub detail: String,
    /// The role the tolerance names as allowed to override it, if any.
    pub override_role: Option<String>,
}

/// A likely or certain duplicate of an earlier invoice, explained.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct DuplicateNote {
    /// The earlier invoice this one repeats.
    pub of: InvoiceId,
    /// `exact`, `same_amount_and_date` or `replayed_credit_note`.
    pub kind: String,
    pub explanation: String,
}

/// One invoice's contribution to the compliance and savings-realisation projections.
/// Sums are exact decimals in major units; the projection stores them in millionths.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct InvoiceTally {
    pub contract: Option<ContractId>,
    /// The campaign whose negotiation produced the contract, when one did.
    pub campaign: Option<crate::id::CampaignId>,
    pub currency: Currency,
    pub lines: u64,
    pub compliant_lines: u64,
    pub terms_checked: u64,
    pub compliant_terms: u64,
    /// Lines that had a negotiated price to measure savings against.
    pub savings_lines: u64,
    pub negotiated: Decimal,
    pub realised: Decimal,
}

/// What the match agent concluded about one invoice.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct MatchRecord {
    pub invoice: InvoiceId,
    pub supplier: SupplierId,
    pub purchase_order: Option<PurchaseOrderId>,
    /// `Matched` (released to pay) or `Exception`.
    pub state: InvoiceState,
    pub exceptions: Vec<MatchIssue>,
    pub duplicates: Vec<DuplicateNote>,
    /// Present on an invoice's first match only, so a re-match never counts twice.
    pub tally: Option<InvoiceTally>,
    /// The `DecisionRecorded` committed with it, which explains the outcome.
    pub decision: crate::id::DecisionId,
    /// The approval request an exception was routed to.
    pub approval: Option<crate::id::ApprovalId>,
}
