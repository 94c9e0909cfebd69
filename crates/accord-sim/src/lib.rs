//! Accord's simulation: a seeded synthetic enterprise (suppliers, contracts, a year of
//! spend, written in the importer's CSV formats) and a supplier population with hidden
//! economics that negotiates in-process against the engine's flagship.
//!
//! The crate is pure: no clock, no network, no async, and no file I/O outside
//! [`export::write_dir`] and [`bot`], the reference supplier bot that negotiates with a
//! live server over HTTP. Every run is a function of its configuration and seed (for the
//! bots: every decision, given the buyer's moves).
//!
//! # Code map
//!
//! - [`enterprise`]: `Enterprise::generate`, the regions, catalogue and spend model.
//! - [`export`]: `suppliers.csv`, `contracts.csv` and `spend.csv` writers.
//! - [`persona`]: each supplier's hidden economics, style, delay and silence, and the
//!   money-valued negotiation built from a persona and the buyer's template.
//! - [`campaign`]: an in-process tail-spend campaign and its serialisable report.
//! - [`bot`]: `SupplierBot` and `run_bots`, personas speaking the negotiation protocol
//!   over HTTP with idempotent retries and failover, and the run's `BotReport`.
//!
//! Architecture invariants: one seed gives one enterprise, one population and one report,
//! byte for byte (parallel work is collected in supplier order); hidden economics never
//! reach the CSV files; valuations are accord-negotiate's `procurement` module, never a
//! copy of it; campaign figures come from played negotiations, never from targets.

pub mod bot;
pub mod campaign;
mod draw;
pub mod enterprise;
pub mod export;
pub mod persona;

pub use bot::{BotConfig, BotError, BotReport, Invitation, SupplierBot, run_bots};
pub use campaign::{CampaignConfig, CampaignReport, Outcome, SupplierResult, run_campaign};
pub use enterprise::{
    Enterprise, EnterpriseConfig, RegionProfile, SimContract, SimSpendLine, SimSupplier,
};
pub use persona::{BuyerTemplate, ResponseDelay, SupplierPersona, TailNegotiation};

/// Errors of the simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("money: {0}")]
    Money(#[from] accord_core::MoneyError),
    #[error("negotiation: {0}")]
    Negotiate(#[from] accord_negotiate::NegotiateError),
    #[error("cannot write csv: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write `{path}`: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}
