//! Accord's decision rights: the Cedar policy gate ([`Gate`]), the mandate validator
//! ([`mandate`]), regional rule packs ([`region`]), approvals ([`approval`]), autonomy
//! levels and the kill switch ([`autonomy`]).
//!
//! Pure: no I/O except [`PolicySet::load_dir`] and [`check_dir`], which read a policy
//! directory; no async; time is passed in.

pub mod autonomy;
pub mod explain;
pub mod gate;
pub mod policy_set;
pub mod vocab;

pub use autonomy::{
    AutonomyLevel, AutonomyTable, CategoryAutonomy, KillSwitch, KillSwitchError, KillSwitchEvent,
    Review,
};
pub use explain::explain;
pub use gate::{Gate, GateEnv, GateError, Outcome, Verdict};
pub use policy_set::{
    CheckReport, Diagnostic, LoadError, PolicyInfo, PolicySet, Severity, check_dir, check_sources,
};
pub use vocab::{
    Action, AgentKind, GateRequest, Principal, Resource, Role, SupplierFacts, UnknownName,
};
