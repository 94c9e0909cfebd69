//! Accord's decision rights: the Cedar policy gate ([`Gate`]), the mandate validator
//! ([`mandate`]), regional rule packs ([`region`]), approvals ([`approval`]), autonomy
//! levels and the kill switch ([`autonomy`]).
//!
//! Pure: no I/O except [`PolicySet::load_dir`] and [`check`], which read a policy
//! directory, and the [`governance`] service, which keeps approvals, autonomy settings and
//! the kill switch in the event store; no async elsewhere; time is passed in.

pub mod approval;
pub mod autonomy;
pub mod explain;
pub mod gate;
pub mod governance;
pub mod mandate;
pub mod policy_set;
pub mod region;
pub mod vocab;

pub use approval::{
    ApprovalAction, ApprovalCommands, ApprovalError, ApprovalRequest, ApprovalState, ApprovalStep,
    Approver, Authorises, EscalationChain, SodViolation, check_payment_release,
};
pub use autonomy::{
    AutonomyLevel, AutonomyTable, CategoryAutonomy, KillSwitch, KillSwitchError, KillSwitchEvent,
    Review,
};
pub use explain::explain;
pub use gate::{Gate, GateEnv, GateError, Outcome, Verdict};
pub use governance::{Governance, GovernanceConfig, GovernanceError, NewApproval};
pub use mandate::{
    Better, Cmp, Condition, CostModel, ForbiddenCombination, IssueBound, IssueValue, LinearCost,
    Mandate, MandateGuard, MoveContext, MoveKind, Offer, UtilityModel, Violation, WalkAway,
};
pub use policy_set::{
    CheckReport, Diagnostic, LoadError, PolicyInfo, PolicySet, Severity, check, check_sources,
};
pub use region::{
    BuyerKind, PaymentBasis, PaymentCap, PaymentRule, RegionError, RegionPack, RegionRules,
};
pub use vocab::{
    Action, AgentKind, GateRequest, Principal, Resource, Role, SupplierFacts, UnknownName,
};
