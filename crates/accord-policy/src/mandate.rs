//! The mandate validator: the independent check every outgoing offer and every acceptance
//! passes before it leaves Accord, whatever the negotiation strategy computed (DESIGN
//! point 3: a strategy proposes, the validator disposes).
//!
//! An offer is a set of named issue values: integers (a price in minor units, days, months)
//! or discrete choices (an Incoterm, a contract length label). This crate does not know
//! `accord-negotiate`; the engine maps its outcomes onto [`Offer`].
//!
//! The walk-away point is a bound on the buyer's side that the caller supplies with the
//! mandate: either a maximum total cost in money, computed by a [`CostModel`] (preferred:
//! exact integer money, no floating point in a guardrail), or a floor on a normalised
//! utility computed by a [`UtilityModel`]. Both are trait objects, so the negotiation
//! engine can plug in its own valuation without this crate depending on it.
//!
//! Concessions are measured per numeric issue in the direction that is worse for the
//! buyer: for the largest step per round, against the buyer's previous offer in the same
//! negotiation; for the total, against the buyer's first offer. An acceptance is checked
//! against the total too (a deal may not sit further from the opening than the mandate
//! allows), but not against the per-round step.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    sync::Arc,
};

use accord_core::{Currency, Money, RegionCode, SizeClass};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::region::{BuyerKind, PaymentBasis, PaymentCap, RegionError, RegionRules};

/// The value of one issue in an offer.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IssueValue {
    /// A price in minor units, a number of days or months, a quantity.
    Number(i64),
    /// A discrete option, such as `DAP` or `24m`.
    Choice(String),
}

impl fmt::Display for IssueValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueValue::Number(n) => write!(f, "{n}"),
            IssueValue::Choice(c) => f.write_str(c),
        }
    }
}

/// A complete offer: a value for every issue of the mandate.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Offer(pub BTreeMap<String, IssueValue>);

impl Offer {
    pub fn new() -> Offer {
        Offer::default()
    }

    pub fn number(mut self, issue: &str, value: i64) -> Offer {
        self.0.insert(issue.to_owned(), IssueValue::Number(value));
        self
    }

    pub fn choice(mut self, issue: &str, value: &str) -> Offer {
        self.0
            .insert(issue.to_owned(), IssueValue::Choice(value.to_owned()));
        self
    }

    pub fn get(&self, issue: &str) -> Option<&IssueValue> {
        self.0.get(issue)
    }

    pub fn get_number(&self, issue: &str) -> Option<i64> {
        match self.0.get(issue) {
            Some(IssueValue::Number(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn get_choice(&self, issue: &str) -> Option<&str> {
        match self.0.get(issue) {
            Some(IssueValue::Choice(c)) => Some(c),
            _ => None,
        }
    }
}

/// Which way is better for the buyer on a numeric issue.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Lower is better (price, lead time).
    Lower,
    /// Higher is better (payment days, warranty months).
    Higher,
}

/// The bounds of one issue.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IssueBound {
    Number {
        /// Hard bounds, inclusive.
        min: i64,
        max: i64,
        better: Better,
        /// Largest concession from one buyer offer to the next.
        #[serde(default)]
        max_step: Option<i64>,
        /// Largest concession from the buyer's first offer.
        #[serde(default)]
        max_total: Option<i64>,
    },
    Choice {
        allowed: BTreeSet<String>,
    },
}

/// A comparison in a forbidden combination.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Cmp {
    pub fn holds(self, a: i64, b: i64) -> bool {
        match self {
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// One condition on an issue's value.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    Number {
        issue: String,
        cmp: Cmp,
        value: i64,
    },
    Choice {
        issue: String,
        one_of: BTreeSet<String>,
    },
}

impl Condition {
    /// Whether the condition holds. A missing or mistyped issue does not satisfy it (the
    /// validator refuses such offers before it looks at combinations).
    pub fn holds(&self, offer: &Offer) -> bool {
        match self {
            Condition::Number { issue, cmp, value } => offer
                .get_number(issue)
                .is_some_and(|v| cmp.holds(v, *value)),
            Condition::Choice { issue, one_of } => {
                offer.get_choice(issue).is_some_and(|v| one_of.contains(v))
            }
        }
    }
}

/// A combination of values that may not occur together: the offer is refused when every
/// condition holds. "Payment beyond 60 days only with price at most X" is the combination
/// `payment_days > 60` and `price > X`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ForbiddenCombination {
    pub id: String,
    pub all_of: Vec<Condition>,
}

/// Computes the buyer's total cost of an offer over the contract. `None` when the offer
/// cannot be valued (which the validator treats as a violation).
pub trait CostModel: Send + Sync + fmt::Debug {
    fn total_cost(&self, offer: &Offer) -> Option<Money>;
}

/// Computes the buyer's normalised utility of an offer (0 = walk-away, 1 = aspiration).
pub trait UtilityModel: Send + Sync + fmt::Debug {
    fn utility(&self, offer: &Offer) -> Option<f64>;
}

/// A cost linear in the numeric issues plus a fixed cost per discrete choice, in integer
/// minor units: `fixed + Σ coefficient × value + Σ choice cost`. For example price per
/// unit × volume, minus the financing value of a payment day.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LinearCost {
    pub currency: Currency,
    pub fixed: i64,
    /// Minor units of cost per unit of each numeric issue (negative where more is cheaper).
    pub per_unit: BTreeMap<String, i64>,
    /// Minor units of cost of each choice, by issue then option.
    #[serde(default)]
    pub choices: BTreeMap<String, BTreeMap<String, i64>>,
}

impl CostModel for LinearCost {
    fn total_cost(&self, offer: &Offer) -> Option<Money> {
        let mut total = self.fixed;
        for (issue, coefficient) in &self.per_unit {
            let v = offer.get_number(issue)?;
            total = total.checked_add(v.checked_mul(*coefficient)?)?;
        }
        for (issue, costs) in &self.choices {
            let v = offer.get_choice(issue)?;
            total = total.checked_add(*costs.get(v)?)?;
        }
        Some(Money::new(total, self.currency))
    }
}

/// The buyer's walk-away point.
#[derive(Clone, Debug)]
pub enum WalkAway {
    /// Refuse any offer whose total cost exceeds `limit`.
    MaxTotalCost {
        limit: Money,
        model: Arc<dyn CostModel>,
    },
    /// Refuse any offer whose utility is below `floor`.
    MinUtility {
        floor: f64,
        model: Arc<dyn UtilityModel>,
    },
}

/// A campaign's mandate.
#[derive(Clone, Debug)]
pub struct Mandate {
    /// Every issue an offer must carry, with its bounds. An offer with an issue not listed
    /// here is refused: nothing leaves unbounded.
    pub issues: BTreeMap<String, IssueBound>,
    pub walk_away: Option<WalkAway>,
    pub forbidden: Vec<ForbiddenCombination>,
    /// The mandate holds from `valid_from` (inclusive) to `valid_until` (exclusive).
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    /// The numeric issue holding payment days, which the regional cap applies to.
    pub payment_days_issue: Option<String>,
    /// A choice issue saying how payment days count; the value `end_of_month` selects
    /// the end-of-month cap. Without it, days count from the invoice date.
    pub payment_basis_issue: Option<String>,
}

/// Why a move was blocked. The caller logs it as a decision.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    #[error("the mandate is not in force at {now} (valid from {from} until {until})")]
    OutsideWindow {
        now: DateTime<Utc>,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    },
    #[error("the offer has no value for issue `{issue}`")]
    MissingIssue { issue: String },
    #[error("the offer has issue `{issue}`, which the mandate does not bound")]
    UnknownIssue { issue: String },
    #[error("issue `{issue}` has a value of the wrong kind: `{value}`")]
    WrongKind { issue: String, value: String },
    #[error("issue `{issue}` is `{value}`, outside the mandate's bounds {min}..={max}")]
    OutOfBounds {
        issue: String,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("issue `{issue}` is `{value}`, which the mandate does not allow")]
    ChoiceNotAllowed { issue: String, value: String },
    #[error("payment terms of {days} days exceed the legal cap of {cap} days ({})", rules.join(", "))]
    RegionalCap {
        days: i64,
        cap: u32,
        rules: Vec<String>,
    },
    #[error("issue `{issue}` concedes {step} in one round; the mandate allows {max}")]
    ConcessionPerRound { issue: String, step: i64, max: i64 },
    #[error("issue `{issue}` concedes {total} since the first offer; the mandate allows {max}")]
    ConcessionTotal { issue: String, total: i64, max: i64 },
    #[error("the offer is a forbidden combination `{id}`")]
    Forbidden { id: String },
    #[error("the total cost {cost} is beyond the walk-away point {limit}")]
    BeyondWalkAway { cost: Money, limit: Money },
    #[error("the utility {utility} is below the walk-away floor {floor}")]
    BelowUtilityFloor { utility: f64, floor: f64 },
    #[error("the offer cannot be valued against the walk-away point")]
    CannotValue,
}

/// Whether the buyer is making an offer or accepting one.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    Offer,
    Accept,
}

/// What the validator needs besides the mandate and the move.
#[derive(Clone, Copy, Debug)]
pub struct MoveContext<'a> {
    pub now: DateTime<Utc>,
    /// The legal cap for this supplier (see `RegionRules::payment_cap`).
    pub cap: &'a PaymentCap,
    /// The buyer's previous offer in this negotiation.
    pub previous_own: Option<&'a Offer>,
    /// The buyer's first offer in this negotiation.
    pub first_own: Option<&'a Offer>,
}

impl Mandate {
    /// Checks one move. `Ok` means it may leave the system.
    pub fn validate(
        &self,
        kind: MoveKind,
        offer: &Offer,
        ctx: &MoveContext<'_>,
    ) -> Result<(), Violation> {
        if ctx.now < self.valid_from || ctx.now >= self.valid_until {
            return Err(Violation::OutsideWindow {
                now: ctx.now,
                from: self.valid_from,
                until: self.valid_until,
            });
        }
        // Same key set: every bounded issue present, no unbounded one. Both maps are
        // sorted, so one merge walk finds the first difference.
        if offer.0.len() != self.issues.len() || !offer.0.keys().eq(self.issues.keys()) {
            if let Some(issue) = self.issues.keys().find(|k| !offer.0.contains_key(*k)) {
                return Err(Violation::MissingIssue {
                    issue: issue.clone(),
                });
            }
            if let Some(issue) = offer.0.keys().find(|k| !self.issues.contains_key(*k)) {
                return Err(Violation::UnknownIssue {
                    issue: issue.clone(),
                });
            }
        }
        let basis = match &self.payment_basis_issue {
            Some(issue) if offer.get_choice(issue) == Some("end_of_month") => {
                PaymentBasis::EndOfMonth
            }
            _ => PaymentBasis::InvoiceDate,
        };
        for ((issue, bound), value) in self.issues.iter().zip(offer.0.values()) {
            match (bound, value) {
                (
                    IssueBound::Number {
                        min,
                        max,
                        better,
                        max_step,
                        max_total,
                    },
                    IssueValue::Number(v),
                ) => {
                    let v = *v;
                    if v < *min || v > *max {
                        return Err(Violation::OutOfBounds {
                            issue: issue.clone(),
                            value: v,
                            min: *min,
                            max: *max,
                        });
                    }
                    if self.payment_days_issue.as_deref() == Some(issue.as_str())
                        && let Some(cap) = ctx.cap.days(basis)
                        && v > i64::from(cap)
                    {
                        return Err(Violation::RegionalCap {
                            days: v,
                            cap,
                            rules: ctx.cap.rule_ids.clone(),
                        });
                    }
                    if kind == MoveKind::Offer
                        && let (Some(limit), Some(prev)) = (max_step, ctx.previous_own)
                    {
                        let step = concession(*better, prev.get_number(issue), v);
                        if step > *limit {
                            return Err(Violation::ConcessionPerRound {
                                issue: issue.clone(),
                                step,
                                max: *limit,
                            });
                        }
                    }
                    if let (Some(limit), Some(first)) = (max_total, ctx.first_own) {
                        let total = concession(*better, first.get_number(issue), v);
                        if total > *limit {
                            return Err(Violation::ConcessionTotal {
                                issue: issue.clone(),
                                total,
                                max: *limit,
                            });
                        }
                    }
                }
                (IssueBound::Choice { allowed }, IssueValue::Choice(c)) => {
                    if !allowed.contains(c) {
                        return Err(Violation::ChoiceNotAllowed {
                            issue: issue.clone(),
                            value: c.clone(),
                        });
                    }
                }
                (_, value) => {
                    return Err(Violation::WrongKind {
                        issue: issue.clone(),
                        value: value.to_string(),
                    });
                }
            }
        }
        if let Some(f) = self
            .forbidden
            .iter()
            .find(|f| f.all_of.iter().all(|c| c.holds(offer)))
        {
            return Err(Violation::Forbidden { id: f.id.clone() });
        }
        match &self.walk_away {
            None => {}
            Some(WalkAway::MaxTotalCost { limit, model }) => match model.total_cost(offer) {
                Some(cost) if cost.currency == limit.currency && cost.minor <= limit.minor => {}
                Some(cost) if cost.currency == limit.currency => {
                    return Err(Violation::BeyondWalkAway {
                        cost,
                        limit: *limit,
                    });
                }
                _ => return Err(Violation::CannotValue),
            },
            Some(WalkAway::MinUtility { floor, model }) => match model.utility(offer) {
                Some(u) if u.is_finite() && u >= *floor => {}
                Some(u) if u.is_finite() => {
                    return Err(Violation::BelowUtilityFloor {
                        utility: u,
                        floor: *floor,
                    });
                }
                _ => return Err(Violation::CannotValue),
            },
        }
        Ok(())
    }
}

/// How far `v` moved from `reference` in the direction worse for the buyer (0 when it
/// moved the other way). A reference without this issue counts as no concession: the
/// reference offer passed the same mandate, so it has every issue.
fn concession(better: Better, reference: Option<i64>, v: i64) -> i64 {
    let Some(r) = reference else { return 0 };
    let d = match better {
        Better::Lower => i128::from(v) - i128::from(r),
        Better::Higher => i128::from(r) - i128::from(v),
    };
    // Saturate: bounds are i64, so the difference of two in-bounds values fits in i128.
    i64::try_from(d.max(0)).unwrap_or(i64::MAX)
}

/// Guards one negotiation: checks each buyer move against the mandate and remembers the
/// buyer's offers that passed, for the concession limits.
#[derive(Clone, Debug)]
pub struct MandateGuard {
    mandate: Arc<Mandate>,
    cap: PaymentCap,
    first_own: Option<Offer>,
    previous_own: Option<Offer>,
}

impl MandateGuard {
    /// A guard for a negotiation with a supplier whose legal cap is `cap`.
    pub fn new(mandate: Arc<Mandate>, cap: PaymentCap) -> MandateGuard {
        MandateGuard {
            mandate,
            cap,
            first_own: None,
            previous_own: None,
        }
    }

    /// A guard for a negotiation with a supplier of `size` in `region`, paid by a `buyer`:
    /// looks up the legal cap in `rules`. A region without a pack is refused.
    pub fn for_supplier(
        mandate: Arc<Mandate>,
        rules: &RegionRules,
        region: &RegionCode,
        size: SizeClass,
        buyer: BuyerKind,
    ) -> Result<MandateGuard, RegionError> {
        Ok(MandateGuard::new(
            mandate,
            rules.payment_cap(region, size, buyer)?,
        ))
    }

    pub fn mandate(&self) -> &Mandate {
        &self.mandate
    }

    /// Checks an outgoing offer; on success it becomes the reference for the next one.
    pub fn check_offer(&mut self, offer: &Offer, now: DateTime<Utc>) -> Result<(), Violation> {
        self.check(MoveKind::Offer, offer, now)?;
        if self.first_own.is_none() {
            self.first_own = Some(offer.clone());
        }
        self.previous_own = Some(offer.clone());
        Ok(())
    }

    /// Checks an acceptance of the supplier's `offer`.
    pub fn check_accept(&self, offer: &Offer, now: DateTime<Utc>) -> Result<(), Violation> {
        self.check(MoveKind::Accept, offer, now)
    }

    /// Checks without recording.
    pub fn check(
        &self,
        kind: MoveKind,
        offer: &Offer,
        now: DateTime<Utc>,
    ) -> Result<(), Violation> {
        self.mandate.validate(
            kind,
            offer,
            &MoveContext {
                now,
                cap: &self.cap,
                previous_own: self.previous_own.as_ref(),
                first_own: self.first_own.as_ref(),
            },
        )
    }
}
