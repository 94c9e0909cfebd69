//! Campaigns and negotiations as the log records them: a campaign's tail rule and
//! template, each negotiation's full specification (so the buyer's agent can be rebuilt
//! exactly after a restart), every move, and how each negotiation closed.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::deal::{Bounds, Buyer, EarlyPayment, Terms};
use crate::decision::PolicyVerdict;
use crate::id::{CampaignId, ContractId, NegotiationId, SupplierId};
use crate::money::Money;
use crate::party::{CategoryCode, RegionCode, RiskTier, SizeClass};

/// Which suppliers a campaign approaches. Omitted fields take the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TailRule {
    /// The suppliers that together make up this share of spend, smallest first
    /// (`0.2`: the bottom 20%).
    pub bottom_share: Decimal,
    /// Also take suppliers whose contract ends within this many days; suppliers with a
    /// contract running longer are left alone.
    pub expiring_within_days: u32,
    /// Only these categories (empty: all).
    #[serde(default)]
    pub categories: Vec<CategoryCode>,
    /// Only these regions (empty: all).
    #[serde(default)]
    pub regions: Vec<RegionCode>,
    /// At most this many suppliers (the smallest first).
    #[serde(default)]
    pub max_suppliers: Option<u32>,
}

impl Default for TailRule {
    fn default() -> TailRule {
        TailRule {
            bottom_share: Decimal::new(2, 1),
            expiring_within_days: 90,
            categories: Vec::new(),
            regions: Vec::new(),
            max_suppliers: None,
        }
    }
}

/// The buyer's side of every negotiation in a campaign: its economics and the mandate's
/// bounds, relative to each supplier's current terms. Omitted fields take the defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CampaignTemplate {
    /// The buyer's annual cost of capital (what a day of payment terms is worth to it).
    pub cost_of_capital: Decimal,
    /// Yearly cost of one day of lead time, as a fraction of the supplier's annual spend.
    pub lead_time_cost_rate: Decimal,
    /// Deepest price cut on offer, as a fraction of today's price.
    pub max_price_cut: Decimal,
    /// Highest price increase on offer (traded for terms), as a fraction of today's price.
    pub max_price_rise: Decimal,
    /// Price steps between today's price and the deepest cut.
    pub price_steps: u32,
    /// Shortest payment terms on offer; the longest is the region's legal cap.
    pub min_payment_days: i64,
    pub payment_step: i64,
    /// `(min, max, step)` lead time in days.
    pub lead_time_days: (i64, i64, i64),
    pub contract_months: Vec<u32>,
    pub early_payment: Vec<EarlyPayment>,
    /// Rounds (one offer from each side) before a negotiation ends without a deal.
    pub rounds: u32,
    /// Offer several equivalent options per move (MESO).
    pub meso: bool,
    /// How long a supplier has to finish, from the invitation.
    pub open_hours: u32,
}

impl Default for CampaignTemplate {
    fn default() -> CampaignTemplate {
        let pct = |p: i64| Decimal::new(p, 2);
        CampaignTemplate {
            cost_of_capital: pct(12),
            lead_time_cost_rate: Decimal::new(3, 4),
            max_price_cut: pct(12),
            max_price_rise: pct(3),
            price_steps: 24,
            min_payment_days: 15,
            payment_step: 15,
            lead_time_days: (7, 35, 7),
            contract_months: vec![12, 24, 36],
            early_payment: vec![EarlyPayment {
                discount: pct(2),
                within_days: 10,
            }],
            rounds: 30,
            meso: false,
            open_hours: 24 * 14,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub name: String,
    pub rule: TailRule,
    pub template: CampaignTemplate,
    /// Seeds every negotiation's agent, so a campaign replays exactly.
    pub seed: u64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Everything needed to rebuild one negotiation's buyer agent exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationSpec {
    pub id: NegotiationId,
    pub campaign: CampaignId,
    pub supplier: SupplierId,
    pub supplier_ref: String,
    pub supplier_name: String,
    pub region: RegionCode,
    pub size: SizeClass,
    pub risk: RiskTier,
    pub category: CategoryCode,
    /// The outcome space on offer.
    pub bounds: Bounds,
    /// The buyer's economics: today's terms (the BATNA), volume, cost of capital.
    pub buyer: Buyer,
    /// Today's annual spend with this supplier.
    pub annual_spend: Money,
    pub rounds: u32,
    pub meso: bool,
    pub seed: u64,
    /// SHA-256 (hex) of the supplier's bearer token; the token itself is never stored.
    pub token_hash: String,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Who moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Buyer,
    Supplier,
}

/// A move in a negotiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MoveAction {
    /// One offer, or several equivalent ones (MESO) of which the other side may pick one.
    Offer { options: Vec<Terms> },
    /// Accept one of the standing options.
    Accept { option: Terms },
    /// Decline the standing offer without countering; the other side offers again.
    Reject,
    /// Walk away.
    End,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRecord {
    pub negotiation: NegotiationId,
    /// 1-based position in the negotiation.
    pub number: u32,
    pub party: Party,
    #[serde(flatten)]
    pub action: MoveAction,
    pub at: DateTime<Utc>,
    /// The request's idempotency key, for a supplier move.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// SHA-256 (hex) of the request body that carried a supplier move.
    #[serde(default)]
    pub request_hash: Option<String>,
    /// Why the buyer's agent chose this move, in plain language.
    #[serde(default)]
    pub rationale: Option<String>,
}

/// How a negotiation ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum NegotiationOutcome {
    Agreed {
        terms: Terms,
        contract: ContractId,
        /// Yearly saving on spend at the agreed price against today's (after any
        /// early-payment discount).
        annual_saving: Money,
        /// Change in payment days against today's terms.
        payment_days_change: i64,
    },
    /// Agreed, but the deal needs a person's approval before it becomes a contract.
    Escalated {
        terms: Terms,
        reason: String,
    },
    Declined {
        by: Party,
    },
    /// The rounds ran out without agreement.
    NoAgreement,
    /// The supplier did not finish before the negotiation's deadline.
    Expired,
}

impl NegotiationOutcome {
    /// The negotiation's read-model state.
    pub fn state(&self) -> &'static str {
        match self {
            NegotiationOutcome::Agreed { .. } => "agreed",
            NegotiationOutcome::Escalated { .. } => "escalated",
            NegotiationOutcome::Declined { .. } => "declined",
            NegotiationOutcome::NoAgreement => "no_agreement",
            NegotiationOutcome::Expired => "expired",
        }
    }
}

/// The closing record of a negotiation: its read model once it is over.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationClosed {
    pub negotiation: NegotiationId,
    pub campaign: CampaignId,
    pub supplier: SupplierId,
    pub supplier_ref: String,
    pub size: SizeClass,
    pub annual_spend: Money,
    pub batna: Terms,
    #[serde(flatten)]
    pub outcome: NegotiationOutcome,
    pub moves: u32,
    pub opened_at: DateTime<Utc>,
    /// When the supplier first moved, if it did.
    #[serde(default)]
    pub engaged_at: Option<DateTime<Utc>>,
    pub closed_at: DateTime<Utc>,
    /// The policy gate's verdict on awarding the deal, naming the deciding policies.
    #[serde(default)]
    pub verdict: Option<PolicyVerdict>,
}
