//! Accord's procure-to-pay engine, pure and synchronous: UBL 2.1 invoice and credit-note
//! reading with the EN 16931 rules, three-way match with tolerances, duplicate detection,
//! contract compliance and savings realisation, and a generator of valid UBL invoices.
//!
//! Architecture Invariant: this crate does no I/O, reads no clock and keeps no global
//! state. Callers hand it documents and get values back.

pub mod ubl;

pub use ubl::{
    EInvoice, InvoiceError, ParseError, Profile, Severity, ValidInvoice, Violation, Violations,
    parse_json, parse_ubl, read_json, read_ubl,
};
pub mod compliance;
pub mod duplicate;
pub mod generate;
pub mod matching;
pub mod tolerance;
pub use generate::{generate_invoice, generate_order};
