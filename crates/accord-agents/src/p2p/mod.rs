//! Procure-to-pay through the log: requisitions that route themselves, purchase orders,
//! goods receipts, e-invoices, the match agent, release to pay and payment, with the
//! policy gate and segregation of duties at every step.
//!
//! - [`flow`] is the command side ([`Procurement`]): each command reads what it needs,
//!   asks the gate, and commits its events, decision and any approval request in one
//!   append with optimistic concurrency on the document's stream.
//! - [`matcher`] is the invoice matcher agent ([`InvoiceMatcher`]): a durable consumer of
//!   the log that matches every new invoice the moment it is stored, re-matches on each
//!   goods receipt, detects duplicates, routes exceptions to the role the gate names, and
//!   turns approved exceptions into payments.
//! - [`metrics`] reads the compliance and savings-realisation projections.

pub mod flow;
pub mod matcher;
pub mod metrics;

pub use flow::{
    FlowError, Ingested, Procurement, ReceiptInput, RequisitionInput, Routed, invoice_subject,
};
pub use matcher::{InvoiceMatcher, MATCHER_CONSUMER};
pub use metrics::{Metrics, ScopeMetrics};
