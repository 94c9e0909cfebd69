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
