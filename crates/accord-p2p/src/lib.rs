//! Accord's procure-to-pay engine, pure and synchronous: UBL 2.1 invoice and credit-note
//! reading with the EN 16931 rules, three-way match with tolerances, duplicate detection,
//! contract compliance and savings realisation, and a generator of valid UBL invoices.
//!
//! Architecture Invariant: this crate does no I/O, reads no clock, draws no randomness
//! it was not seeded with, and keeps no global state. Callers hand it documents (and the
//! indexes they keep, such as [`duplicate::DuplicateIndex`]) and get values back.
//!
//! The path of an incoming invoice, as the store and the match agent wire it:
//!
//! ```
//! use accord_core::id::{InvoiceId, SupplierId};
//! use accord_p2p::{
//!     duplicate::{DuplicateIndex, Fingerprint},
//!     generate_order,
//!     matching::{MatchInput, three_way_match},
//!     read_ubl,
//!     tolerance::TolerancePolicy,
//! };
//!
//! // 1. Read and validate (UBL here; `read_json` for the JSON form).
//! let xml = accord_p2p::generate_invoice(7, 3);
//! let valid = read_ubl(&xml).expect("a valid EN 16931 invoice");
//! // 2. Resolve the supplier from the seller's identifiers (the caller's master data).
//! let seller_keys: Vec<&str> = valid.document().seller.identifiers().collect();
//! assert_eq!(seller_keys[0], "NL000000007B01");
//! let (id, supplier) = (InvoiceId::from_parts(0, 1), SupplierId::from_parts(0, 7));
//! let invoice = valid.to_core(id, supplier).unwrap();
//! // 3. Duplicates against the index the caller keeps.
//! let mut seen = DuplicateIndex::new();
//! let hits = seen.check_and_insert(Fingerprint::of_valid(&valid, id, supplier).unwrap());
//! assert!(hits.is_empty());
//! assert_eq!(invoice.lines.len(), 3);
//! // 4. Three-way match against the order it quotes and its receipts.
//! let (po, receipt, matching_invoice) = generate_order(7, 3);
//! let policy = TolerancePolicy::default();
//! let input = MatchInput { duplicates: &hits, ..MatchInput::new(&matching_invoice) };
//! let report = three_way_match(&policy, &po, &[receipt], &input);
//! assert!(report.is_matched());
//! // `report.next_state()` is the invoice's next state; each exception names the role
//! // that may override it, for the policy gate.
//! ```

pub mod compliance;
pub mod duplicate;
pub mod generate;
pub mod matching;
pub mod tolerance;
pub mod ubl;

pub use generate::{DraftInvoice, DraftLine, generate_invoice, generate_order};
pub use ubl::{
    EInvoice, InvoiceError, ParseError, Profile, Severity, ValidInvoice, Violation, Violations,
    parse_json, parse_ubl, read_json, read_ubl, read_ubl_with,
};
