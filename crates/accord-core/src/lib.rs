//! Accord's domain vocabulary: money, ids, parties, documents and their life cycles, the
//! `Event` enum, the `Decision` record and the governance records (approvals, autonomy).
//! Pure: no I/O, no async, no clock reads except in explicitly named convenience
//! constructors.

pub mod deal;
pub mod decision;
pub mod document;
pub mod event;
pub mod governance;
pub mod id;
pub mod lifecycle;
pub mod money;
pub mod negotiation;
pub mod party;

pub use decision::{Actor, Decision, PolicyVerdict, ScoredOption, VerdictOutcome};
pub use event::{EVENT_SCHEMA_VERSION, Event};
pub use governance::{
    ApprovalRequest, ApprovalState, ApprovalStep, AutonomyLevel, CategoryAutonomy, Role,
};
pub use lifecycle::{IllegalTransition, Lifecycle};
pub use money::{Currency, FxTable, Money, MoneyError, round_minor};
pub use party::{CategoryCode, RegionCode, RiskTier, SizeClass, Supplier, SupplierStatus};
