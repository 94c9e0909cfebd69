//! Accord's runtime: tail-spend campaigns and the buyer's negotiating agent.
//!
//! - [`tail`] picks a campaign's suppliers from the spend read model.
//! - [`build`] turns a supplier's current terms into a negotiation specification.
//! - [`live`] is one negotiation in memory: the protocol machine and the buyer's agent,
//!   rebuilt exactly from the log by replaying its moves.
//! - [`guard`] is the mandate every buyer move is validated against before it leaves.
//! - [`host`] serves negotiations to suppliers: it validates a move, lets the agent
//!   answer, and commits both in one append with optimistic concurrency, so several
//!   nodes can share one database.
//! - [`campaign`] creates, starts, pauses, resumes, sweeps and reports campaigns.
//! - [`p2p`] is procure-to-pay through the log: requisitions, orders, receipts, invoices,
//!   the invoice matcher agent, payments, and the compliance and realisation metrics.

pub mod build;
pub mod campaign;
pub mod error;
pub mod guard;
pub mod host;
pub mod live;
pub mod p2p;
pub mod tail;

pub use campaign::{CampaignReport, CampaignStatus, Campaigns, Invitation};
pub use error::{AgentError, MoveError};
pub use host::{Host, HostOptions, SupplierMove};
pub use live::{Clock, NegotiationView};
