//! The mandate every buyer move of one negotiation is validated against before it leaves:
//! the negotiation's bounds, the campaign's limits ([`MandateLimits`]), the legal cap on
//! payment days for this supplier, and the walk-away point (no deal may cost the buyer
//! more than today's terms over the same contract). It is `accord_policy::mandate`'s
//! validator, fed from the negotiation's specification alone, so a negotiation rebuilt
//! from the log gets the same mandate.
//!
//! Concession limits compare each option with the buyer's best position on that issue in
//! its opening offer (total) and in its previous offer (per round): in a MESO offer the
//! options trade price for terms, so the lowest price offered is the reference.

use std::sync::Arc;

use accord_core::deal::{Buyer, EarlyPayment, Terms};
use accord_core::negotiation::NegotiationSpec;
use accord_core::{Currency, Money};
use accord_negotiate::procurement::BuyerValuation;
use accord_policy::{
    Better, BuyerKind, CostModel, IssueBound, Mandate, MoveContext, MoveKind, Offer, PaymentCap,
    RegionRules, Violation, WalkAway,
};
use chrono::{DateTime, Duration, Utc};

use crate::error::AgentError;

const PRICE: &str = "price";
const PAYMENT_DAYS: &str = "payment_days";
const LEAD_TIME: &str = "lead_time_days";
const CONTRACT_MONTHS: &str = "contract_months";
const EARLY_PAYMENT: &str = "early_payment";
/// The `early_payment` choice for terms without a discount.
const NO_DISCOUNT: &str = "none";

/// How the mandate sees terms, and back.
#[derive(Clone, Debug)]
struct Codec {
    currency: Currency,
    early: Vec<EarlyPayment>,
}

impl Codec {
    fn offer(&self, t: &Terms) -> Offer {
        Offer::new()
            .number(PRICE, t.price.minor)
            .number(PAYMENT_DAYS, t.payment_days)
            .number(LEAD_TIME, t.lead_time_days)
            .choice(CONTRACT_MONTHS, &t.contract_months.to_string())
            .choice(
                EARLY_PAYMENT,
                &t.early_payment
                    .map_or_else(|| NO_DISCOUNT.to_owned(), |e| e.to_string()),
            )
    }

    fn terms(&self, o: &Offer) -> Option<Terms> {
        let early = match o.get_choice(EARLY_PAYMENT)? {
            NO_DISCOUNT => None,
            label => Some(*self.early.iter().find(|e| e.to_string() == label)?),
        };
        Some(Terms {
            price: Money::new(o.get_number(PRICE)?, self.currency),
            payment_days: o.get_number(PAYMENT_DAYS)?,
            lead_time_days: o.get_number(LEAD_TIME)?,
            contract_months: o.get_choice(CONTRACT_MONTHS)?.parse().ok()?,
            early_payment: early,
        })
    }
}

/// What an offer would cost the buyer beyond today's terms over its contract (negative
/// when it saves), exact and rounded once: the walk-away point is a limit of zero.
#[derive(Debug)]
struct CostAboveToday {
    buyer: Buyer,
    codec: Codec,
}

impl CostModel for CostAboveToday {
    fn total_cost(&self, offer: &Offer) -> Option<Money> {
        let terms = self.codec.terms(offer)?;
        self.buyer.saving(&terms).ok()?.checked_neg().ok()
    }
}

/// One negotiation's mandate.
#[derive(Clone, Debug)]
pub struct NegotiationMandate {
    mandate: Mandate,
    cap: PaymentCap,
    codec: Codec,
}

impl NegotiationMandate {
    /// The mandate of `spec`, with the legal payment cap from `rules`.
    pub fn new(spec: &NegotiationSpec, rules: &RegionRules) -> Result<Self, AgentError> {
        let build = |why: String| AgentError::Build(format!("{}: {why}", spec.supplier_ref));
        let cap = rules
            .payment_cap(&spec.region, spec.size, BuyerKind::Private)
            .map_err(|e| build(e.to_string()))?;
        let b = &spec.bounds;
        let limits = &spec.mandate;
        let today = spec.buyer.batna.price;
        let share = |f: Option<rust_decimal::Decimal>| {
            f.map(|f| today.scale(f).map(|m| m.minor.max(0)))
                .transpose()
                .map_err(|e| build(format!("mandate limit: {e}")))
        };
        let price_max = match share(limits.max_price)? {
            Some(m) => m.min(b.price_max.minor),
            None => b.price_max.minor,
        };
        let number = |min: i64, max: i64, better: Better| IssueBound::Number {
            min,
            max,
            better,
            max_step: None,
            max_total: None,
        };
        let choice = |values: Vec<String>| IssueBound::Choice {
            allowed: values.into_iter().collect(),
        };
        let issues = [
            (
                PRICE,
                IssueBound::Number {
                    min: b.price_min.minor,
                    max: price_max,
                    better: Better::Lower,
                    max_step: share(limits.max_price_step)?,
                    max_total: share(limits.max_price_concession)?,
                },
            ),
            (
                PAYMENT_DAYS,
                number(
                    b.payment_days
                        .0
                        .max(limits.min_payment_days.unwrap_or(i64::MIN)),
                    b.payment_days.1,
                    Better::Higher,
                ),
            ),
            (
                LEAD_TIME,
                number(b.lead_time_days.0, b.lead_time_days.1, Better::Lower),
            ),
            (
                CONTRACT_MONTHS,
                choice(b.contract_months.iter().map(u32::to_string).collect()),
            ),
            (
                EARLY_PAYMENT,
                choice(
                    std::iter::once(NO_DISCOUNT.to_owned())
                        .chain(b.early_payment.iter().map(EarlyPayment::to_string))
                        .collect(),
                ),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let codec = Codec {
            currency: b.price_min.currency,
            early: b.early_payment.clone(),
        };
        let mandate = Mandate {
            issues,
            walk_away: Some(WalkAway::MaxTotalCost {
                limit: Money::new(0, codec.currency),
                model: Arc::new(CostAboveToday {
                    buyer: spec.buyer,
                    codec: codec.clone(),
                }),
            }),
            forbidden: Vec::new(),
            valid_from: spec.opened_at,
            valid_until: window_end(spec.expires_at),
            payment_days_issue: Some(PAYMENT_DAYS.to_owned()),
            payment_basis_issue: None,
        };
        Ok(NegotiationMandate {
            mandate,
            cap,
            codec,
        })
    }

    /// The buyer's best position on each issue over `options` (lowest price, longest
    /// payment, shortest lead time), the reference its concessions are measured from.
    pub fn reference(&self, options: &[Terms]) -> Option<Offer> {
        let first = options.first()?;
        let mut best = *first;
        for t in &options[1..] {
            if t.price.minor < best.price.minor {
                best.price = t.price;
            }
            best.payment_days = best.payment_days.max(t.payment_days);
            best.lead_time_days = best.lead_time_days.min(t.lead_time_days);
        }
        Some(self.codec.offer(&best))
    }

    /// Checks one buyer move at `now`, in a negotiation due at `deadline` (after any
    /// campaign pauses). `first` and `previous` are the references of the buyer's opening
    /// and previous offers.
    pub fn check(
        &mut self,
        kind: MoveKind,
        terms: &Terms,
        now: DateTime<Utc>,
        deadline: DateTime<Utc>,
        first: Option<&Offer>,
        previous: Option<&Offer>,
    ) -> Result<(), Violation> {
        self.mandate.valid_until = window_end(deadline);
        self.mandate.validate(
            kind,
            &self.codec.offer(terms),
            &MoveContext {
                now,
                cap: &self.cap,
                previous_own: previous,
                first_own: first,
            },
        )
    }
}

/// The mandate's window ends just after the deadline: a move at the deadline itself is
/// still in time, as the host counts it.
fn window_end(deadline: DateTime<Utc>) -> DateTime<Utc> {
    deadline + Duration::microseconds(1)
}

#[cfg(test)]
mod tests {
    use accord_core::deal::Bounds;
    use accord_core::negotiation::MandateLimits;
    use accord_policy::MoveKind;
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    use super::*;
    use crate::live::tests::spec;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    fn terms(price: i64, days: i64) -> Terms {
        Terms {
            price: eur(price),
            payment_days: days,
            lead_time_days: 14,
            contract_months: 12,
            early_payment: None,
        }
    }

    fn check(
        m: &mut NegotiationMandate,
        t: &Terms,
        first: Option<&Terms>,
    ) -> Result<(), Violation> {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let first = first.map(|f| m.reference(&[*f]).unwrap());
        m.check(
            MoveKind::Offer,
            t,
            now,
            now + Duration::hours(1),
            first.as_ref(),
            None,
        )
    }

    #[test]
    fn bounds_cap_limits_and_walk_away_hold() {
        let mut s = spec(MandateLimits {
            max_price: Some(Decimal::ONE),
            max_price_concession: Some(Decimal::new(2, 2)),
            ..MandateLimits::default()
        });
        s.bounds = Bounds {
            payment_days: (15, 90, 15),
            ..s.bounds
        };
        let mut m = NegotiationMandate::new(&s, RegionRules::builtin()).unwrap();
        // Today's terms: 1,000 at 30 days. A cheaper price passes.
        assert_eq!(check(&mut m, &terms(900, 30), None), Ok(()));
        // Above today's price: refused by `max_price` (1 × today).
        assert!(matches!(
            check(&mut m, &terms(1_010, 30), None),
            Err(Violation::OutOfBounds { .. })
        ));
        // French law caps payment at 60 days, whatever the bounds say.
        assert!(matches!(
            check(&mut m, &terms(900, 75), None),
            Err(Violation::RegionalCap { .. })
        ));
        // Today's price with shorter payment costs more than today: beyond walk-away.
        assert!(matches!(
            check(&mut m, &terms(1_000, 15), None),
            Err(Violation::BeyondWalkAway { .. })
        ));
        // At most 2% of today's price (20) above the opening price.
        let open = terms(900, 30);
        assert_eq!(check(&mut m, &terms(920, 30), Some(&open)), Ok(()));
        assert!(matches!(
            check(&mut m, &terms(930, 30), Some(&open)),
            Err(Violation::ConcessionTotal { .. })
        ));
    }

    #[test]
    fn the_reference_is_the_best_position_per_issue() {
        let m = NegotiationMandate::new(&spec(MandateLimits::default()), RegionRules::builtin())
            .unwrap();
        let r = m.reference(&[terms(950, 15), terms(990, 45)]).unwrap();
        assert_eq!(r.get_number(PRICE), Some(950));
        assert_eq!(r.get_number(PAYMENT_DAYS), Some(45));
        assert_eq!(
            m.codec.terms(&m.codec.offer(&terms(950, 15))),
            Some(terms(950, 15))
        );
    }
}
