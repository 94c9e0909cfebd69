//! Campaigns and negotiations as the log records them: a campaign's tail rule and
//! template, each negotiation's full specification (so the buyer's agent can be rebuilt
//! exactly after a restart), every move, and how each negotiation closed.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::deal::{Bounds, Buyer, EarlyPayment, Terms};
use crate::decision::PolicyVerdict;
use crate::id::{CampaignId, ContractId, NegotiationId, SupplierId};
use crate::lifecycle::Lifecycle;
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
    /// Limits on the buyer's own moves beyond the bounds, enforced by the mandate
    /// validator on every offer and acceptance whatever the strategy computes.
    pub mandate: MandateLimits,
}

/// What a campaign's mandate adds to the bounds and to the walk-away point (no deal
/// costs the buyer more than today's terms, which always holds). Fractions are of
/// today's unit price; an omitted limit is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MandateLimits {
    /// Highest unit price the buyer may offer or accept (`1`: never more than today).
    pub max_price: Option<Decimal>,
    /// Largest rise of the buyer's price since its opening offer.
    pub max_price_concession: Option<Decimal>,
    /// Largest rise of the buyer's price from one of its offers to the next.
    pub max_price_step: Option<Decimal>,
    /// Shortest payment terms, in days, the buyer may offer or accept.
    pub min_payment_days: Option<i64>,
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
            mandate: MandateLimits::default(),
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

/// A campaign's life: drafted, running (its negotiations open), paused by a person
/// (no move in any of its negotiations, deadlines held) and resumed, completed when
/// every negotiation has closed. The read model keeps it as the campaign's state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignState {
    Draft,
    Running,
    Paused,
    Completed,
}

impl Lifecycle for CampaignState {
    const DOCUMENT: &'static str = "campaign";
    const STATES: &'static [Self] = &[
        CampaignState::Draft,
        CampaignState::Running,
        CampaignState::Paused,
        CampaignState::Completed,
    ];
    const TRANSITIONS: &'static [(Self, Self)] = &[
        (CampaignState::Draft, CampaignState::Running),
        (CampaignState::Running, CampaignState::Paused),
        (CampaignState::Paused, CampaignState::Running),
        (CampaignState::Running, CampaignState::Completed),
    ];

    fn initial() -> Self {
        CampaignState::Draft
    }
}

impl CampaignState {
    /// The state as the log and the read model spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignState::Draft => "draft",
            CampaignState::Running => "running",
            CampaignState::Paused => "paused",
            CampaignState::Completed => "completed",
        }
    }

    /// Reads a state as the log spells it.
    pub fn parse(s: &str) -> Option<CampaignState> {
        Self::STATES.iter().copied().find(|c| c.as_str() == s)
    }
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
    /// The campaign's limits on the buyer's moves (none in negotiations opened before
    /// campaigns had them).
    #[serde(default)]
    pub mandate: MandateLimits,
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
    /// For a buyer move: the policy gate's verdicts and any move of the strategy that the
    /// mandate validator or the gate kept from leaving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<MoveGuard>,
}

/// What the guardrails said about one buyer move.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveGuard {
    /// The gate's verdict on each option offered (in order) or on the acceptance. An
    /// option that needs approval goes out subject to it: a deal on it is escalated.
    #[serde(default)]
    pub verdicts: Vec<PolicyVerdict>,
    /// What the strategy proposed that did not leave, each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedMove>,
}

/// A buyer move the strategy proposed and the guardrails refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedMove {
    /// `offer` or `accept`.
    pub kind: String,
    pub terms: Terms,
    /// `mandate` (the mandate validator) or `gate` (the policy gate denied it).
    pub by: String,
    pub reason: String,
    /// The gate's verdict, when it was the gate that refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<PolicyVerdict>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_states_walk_their_table() {
        use CampaignState::*;
        let allowed = [
            (Draft, Running),
            (Running, Paused),
            (Paused, Running),
            (Running, Completed),
        ];
        for &from in CampaignState::STATES {
            assert_eq!(CampaignState::parse(from.as_str()), Some(from));
            for &to in CampaignState::STATES {
                let ok = allowed.contains(&(from, to));
                assert_eq!(from.transition(to).is_ok(), ok, "{from:?} -> {to:?}");
            }
        }
        assert!(Completed.is_terminal());
        assert_eq!(
            Draft.transition(Paused).unwrap_err().to_string(),
            "campaign cannot go from `Draft` to `Paused`"
        );
    }

    #[test]
    fn records_without_the_new_fields_still_read() {
        let template: CampaignTemplate = serde_json::from_str("{}").unwrap();
        assert_eq!(template.mandate, MandateLimits::default());
        let json = r#"{"negotiation":"01a20475-bf72-77cd-8b4c-7e8d50b3b020","number":1,
            "party":"buyer","action":"reject","at":"2026-11-22T18:12:59Z"}"#;
        let record: MoveRecord = serde_json::from_str(json).unwrap();
        assert_eq!(record.guard, None);
        let back = serde_json::to_value(&record).unwrap();
        assert!(back.get("guard").is_none(), "{back}");
    }
}
