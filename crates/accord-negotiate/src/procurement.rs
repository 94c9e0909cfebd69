//! Money-valued procurement utilities: a standard outcome space (price per unit, payment
//! days, lead time, contract length, early-payment discount) and the buyer's and the
//! supplier's valuations of it in `Money`, normalised into the utilities strategies use.
//!
//! Buyer: total cost over the contract is, per year, the spend after any early-payment
//! discount less the financing value of the days it holds the cash at its cost of capital,
//! plus what lead time costs it; the saving is the yearly cost of the BATNA (today's terms)
//! less that of the outcome, times the outcome's contract years.
//! Supplier: profit over the contract is margin less its own (higher) cost of financing the
//! payment days, less the cost of delivering faster than it likes; its surplus is that
//! profit less the profit at its margin floor.
//! Both utilities are normalised to `[0, 1]` over the space, with the reservation value at
//! zero saving (buyer) or zero surplus (supplier). Money is rounded once per figure, by
//! `accord_core::round_minor`.

pub use accord_core::deal::{Bounds, Buyer, EarlyPayment, Terms};
use accord_core::negotiation::CampaignTemplate;
use accord_core::{Currency, Money, MoneyError, round_minor};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::NegotiateError;
use crate::scenario::Scenario;
use crate::space::{Issue, IssueKind, OutcomeSpace};
use crate::utility::UtilityTable;

/// The bounds a campaign template puts around a supplier's current terms: prices from
/// the deepest cut to the highest rise on a tick of `max_price_cut / price_steps` of
/// today's price (at least one minor unit), payment days from the template's minimum (or
/// today's, if lower) up to `payment_cap` on the template's step, and lead times spanning
/// the template's range and today's.
pub fn campaign_bounds(
    template: &CampaignTemplate,
    price: Money,
    payment_days: i64,
    payment_cap: i64,
    lead_time_days: i64,
) -> Bounds {
    let steps = i64::from(template.price_steps.max(1));
    let cut = Decimal::from(price.minor) * template.max_price_cut;
    let tick = (cut / Decimal::from(steps))
        .round()
        .to_i64()
        .unwrap_or(1)
        .max(1);
    let down = steps
        .min((cut / Decimal::from(tick)).floor().to_i64().unwrap_or(1))
        .max(1);
    let up = (Decimal::from(price.minor) * template.max_price_rise / Decimal::from(tick))
        .floor()
        .to_i64()
        .unwrap_or(0);
    let cap = payment_cap.max(payment_days);
    let step = template.payment_step.max(1);
    let lo = template.min_payment_days.min(payment_days);
    let hi = lo + (cap - lo) / step * step;
    let lead = template.lead_time_days;
    Bounds {
        price_min: Money::new((price.minor - down * tick).max(1), price.currency),
        price_max: Money::new(price.minor + up * tick, price.currency),
        price_tick: Money::new(tick, price.currency),
        payment_days: (lo, hi, step),
        lead_time_days: (
            lead.0.min(lead_time_days),
            lead.1.max(lead_time_days),
            lead.2.max(1),
        ),
        contract_months: template.contract_months.clone(),
        early_payment: template.early_payment.clone(),
    }
}

/// The procurement outcome space with its terms.
#[derive(Clone, Debug)]
pub struct ProcurementSpace {
    bounds: Bounds,
    currency: Currency,
    space: OutcomeSpace,
}

const PRICE: usize = 0;
const PAYMENT: usize = 1;
const LEAD: usize = 2;
const CONTRACT: usize = 3;
const EARLY: usize = 4;

impl ProcurementSpace {
    pub fn new(bounds: Bounds) -> Result<ProcurementSpace, NegotiateError> {
        let currency = bounds.price_min.currency;
        if bounds.price_max.currency != currency || bounds.price_tick.currency != currency {
            return Err(NegotiateError::InvalidIssue {
                issue: "price".into(),
                why: "bounds and tick must share one currency".into(),
            });
        }
        let days = |(lo, hi, step): (i64, i64, i64)| IssueKind::Integer { lo, hi, step };
        let issues = vec![
            Issue {
                name: "price".into(),
                kind: IssueKind::Continuous {
                    lo: bounds.price_min.to_decimal(),
                    hi: bounds.price_max.to_decimal(),
                    tick: bounds.price_tick.to_decimal(),
                },
            },
            Issue {
                name: "payment_days".into(),
                kind: days(bounds.payment_days),
            },
            Issue {
                name: "lead_time_days".into(),
                kind: days(bounds.lead_time_days),
            },
            Issue {
                name: "contract_months".into(),
                kind: IssueKind::Ordered {
                    values: bounds
                        .contract_months
                        .iter()
                        .map(|m| m.to_string())
                        .collect(),
                },
            },
            Issue {
                name: "early_payment".into(),
                kind: IssueKind::Optional {
                    inner: Box::new(IssueKind::Unordered {
                        values: bounds.early_payment.iter().map(|e| e.to_string()).collect(),
                    }),
                },
            },
        ];
        let space = OutcomeSpace::new(issues)?;
        Ok(ProcurementSpace {
            bounds,
            currency,
            space,
        })
    }

    pub fn space(&self) -> &OutcomeSpace {
        &self.space
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The terms of outcome `k`.
    pub fn terms(&self, k: u32) -> Terms {
        let v = |i| self.space.value_of(k, i);
        let tick = self.bounds.price_tick.minor;
        let (p_lo, p_step) = (self.bounds.payment_days.0, self.bounds.payment_days.2);
        let (l_lo, l_step) = (self.bounds.lead_time_days.0, self.bounds.lead_time_days.2);
        Terms {
            price: Money::new(
                self.bounds.price_min.minor + tick * i64::from(v(PRICE)),
                self.currency,
            ),
            payment_days: p_lo + p_step * i64::from(v(PAYMENT)),
            lead_time_days: l_lo + l_step * i64::from(v(LEAD)),
            contract_months: self.bounds.contract_months[v(CONTRACT) as usize],
            early_payment: v(EARLY)
                .checked_sub(1)
                .map(|i| self.bounds.early_payment[i as usize]),
        }
    }

    /// The bounds the space was built from.
    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// The outcome whose terms are exactly `t`, or `None` when `t` is outside the space
    /// (a price off the tick grid, days off their step, a length or discount not on offer).
    pub fn outcome_of(&self, t: &Terms) -> Option<u32> {
        fn step_index(value: i64, lo: i64, step: i64) -> Option<u32> {
            let off = value.checked_sub(lo)?;
            if off < 0 || step <= 0 || off % step != 0 {
                return None;
            }
            u32::try_from(off / step).ok()
        }
        if t.price.currency != self.currency {
            return None;
        }
        let b = &self.bounds;
        let values = [
            step_index(t.price.minor, b.price_min.minor, b.price_tick.minor)?,
            step_index(t.payment_days, b.payment_days.0, b.payment_days.2)?,
            step_index(t.lead_time_days, b.lead_time_days.0, b.lead_time_days.2)?,
            b.contract_months
                .iter()
                .position(|m| *m == t.contract_months)? as u32,
            match t.early_payment {
                None => 0,
                Some(e) => b.early_payment.iter().position(|x| *x == e)? as u32 + 1,
            },
        ];
        let k = self.space.index_of(&values).ok()?;
        (self.terms(k) == *t).then_some(k)
    }

    /// Tabulates a money valuation (gain over walking away) into normalised utilities:
    /// `u = (value − min) / (max − min)`, reservation where the value is zero.
    pub fn utility_table(
        &self,
        name: &str,
        value: impl Fn(&Terms) -> Result<Money, NegotiateError>,
    ) -> Result<UtilityTable, NegotiateError> {
        let values = (0..self.space.cardinality() as u32)
            .map(|k| value(&self.terms(k)).map(|m| m.minor as f64))
            .collect::<Result<Vec<f64>, _>>()?;
        Ok(normalised(name, values))
    }

    /// The buyer's utility table, computed in `f64` for speed (one pass, no `Decimal`):
    /// utilities only order and scale outcomes, so the rounding of money figures does
    /// not matter here. Savings reported in money still come from [`BuyerValuation`].
    /// Agrees with `utility_table("buyer", |t| buyer.saving(t))` to within 1e-9.
    pub fn buyer_utility(&self, buyer: &Buyer) -> UtilityTable {
        let f = |d: Decimal| d.to_f64().unwrap_or(0.0);
        let coc = f(buyer.cost_of_capital);
        let volume = buyer.annual_volume as f64;
        let lead_cost = buyer.lead_time_cost_per_day.minor as f64;
        let yearly = |t: &Terms| {
            let (days, paid) = t.payment();
            let spend = t.price.minor as f64 * volume * f(paid);
            spend - spend * coc * days as f64 / 365.0 + lead_cost * t.lead_time_days as f64
        };
        let today = yearly(&buyer.batna);
        let values: Vec<f64> = (0..self.space.cardinality() as u32)
            .map(|k| {
                let t = self.terms(k);
                (today - yearly(&t)) * f64::from(t.contract_months) / 12.0
            })
            .collect();
        normalised("buyer", values)
    }

    /// A negotiation scenario: the buyer is party `a`, the supplier party `b`.
    pub fn scenario(
        &self,
        name: &str,
        buyer: &Buyer,
        supplier: &Supplier,
    ) -> Result<Scenario, NegotiateError> {
        let a = self.utility_table("buyer", |t| buyer.saving(t))?;
        let b = self.utility_table("supplier", |t| supplier.surplus(t))?;
        Ok(Scenario::new(name, self.space.clone(), a, b))
    }
}

/// `u = (value − min) / (max − min)`, reservation where the value is zero.
fn normalised(name: &str, values: Vec<f64>) -> UtilityTable {
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    let utils = values.iter().map(|x| (x - lo) / span).collect();
    UtilityTable::from_utils(name, utils, (0.0 - lo) / span, None)
}

fn money(exact_minor: Decimal, currency: Currency) -> Result<Money, NegotiateError> {
    Ok(Money::new(round_minor(exact_minor)?, currency))
}

fn days_fraction(days: i64) -> Decimal {
    Decimal::from(days) / Decimal::from(365)
}

/// The buyer's valuation of terms, in money.
pub trait BuyerValuation {
    /// Total cost of `t` over its contract.
    fn total_cost(&self, t: &Terms) -> Result<Money, NegotiateError>;
    /// Saving of `t` against the BATNA over `t`'s contract (negative: worse than today).
    fn saving(&self, t: &Terms) -> Result<Money, NegotiateError>;
}

/// Exact yearly cost in minor units.
fn yearly(buyer: &Buyer, t: &Terms) -> Decimal {
    let (days, paid) = t.payment();
    let spend = Decimal::from(t.price.minor) * Decimal::from(buyer.annual_volume) * paid;
    let financing = spend * buyer.cost_of_capital * days_fraction(days);
    spend - financing
        + Decimal::from(buyer.lead_time_cost_per_day.minor) * Decimal::from(t.lead_time_days)
}

impl BuyerValuation for Buyer {
    fn total_cost(&self, t: &Terms) -> Result<Money, NegotiateError> {
        money(yearly(self, t) * t.years(), t.price.currency)
    }

    fn saving(&self, t: &Terms) -> Result<Money, NegotiateError> {
        money(
            (yearly(self, &self.batna) - yearly(self, t)) * t.years(),
            t.price.currency,
        )
    }
}

/// The supplier's hidden parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Supplier {
    pub unit_cost: Money,
    /// Lowest acceptable margin on cost, e.g. `0.05`.
    pub margin_floor: Decimal,
    /// Annual rate; small suppliers pay more for capital, so they prize early cash.
    pub cost_of_capital: Decimal,
    pub annual_volume: i64,
    /// Lead time the supplier delivers in without extra cost.
    pub usual_lead_time_days: i64,
    /// Yearly cost of each day faster than usual.
    pub rush_cost_per_day: Money,
    /// Yearly value of each extra month of committed contract (planning certainty),
    /// beyond the profit it brings.
    pub value_per_contract_month: Money,
}

impl Supplier {
    fn yearly_profit(&self, t: &Terms) -> Decimal {
        let (days, paid) = t.payment();
        let vol = Decimal::from(self.annual_volume);
        let revenue = Decimal::from(t.price.minor) * vol * paid;
        let cost = Decimal::from(self.unit_cost.minor) * vol;
        let financing = revenue * self.cost_of_capital * days_fraction(days);
        let rush = Decimal::from(self.rush_cost_per_day.minor)
            * Decimal::from((self.usual_lead_time_days - t.lead_time_days).max(0));
        revenue - cost - financing - rush
    }

    /// Profit of `t` over its contract, with the value of the commitment.
    pub fn profit(&self, t: &Terms) -> Result<Money, NegotiateError> {
        let commitment =
            Decimal::from(self.value_per_contract_month.minor) * Decimal::from(t.contract_months);
        money(
            self.yearly_profit(t) * t.years() + commitment,
            t.price.currency,
        )
    }

    /// Profit above the margin floor (negative: the supplier would rather walk away).
    pub fn surplus(&self, t: &Terms) -> Result<Money, NegotiateError> {
        let floor = Decimal::from(self.unit_cost.minor)
            * Decimal::from(self.annual_volume)
            * self.margin_floor
            * t.years();
        let profit = self.profit(t)?;
        money(Decimal::from(profit.minor) - floor, t.price.currency)
    }
}

impl From<MoneyError> for NegotiateError {
    fn from(e: MoneyError) -> NegotiateError {
        NegotiateError::Money { why: e.to_string() }
    }
}

/// Converts a fraction given in percent, for tests and examples.
pub fn percent(p: i64) -> Decimal {
    Decimal::new(p, 2)
}

/// The utility of money as `f64`, for display (never for arithmetic on money).
pub fn as_f64(m: Money) -> f64 {
    m.to_decimal().to_f64().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(s: &str) -> Money {
        Money::parse(s, Currency::parse("EUR").unwrap()).unwrap()
    }

    fn space() -> ProcurementSpace {
        ProcurementSpace::new(Bounds {
            price_min: eur("9.00"),
            price_max: eur("10.00"),
            price_tick: eur("0.25"),
            payment_days: (30, 90, 30),
            lead_time_days: (7, 21, 7),
            contract_months: vec![12, 24],
            early_payment: vec![EarlyPayment {
                discount: percent(2),
                within_days: 10,
            }],
        })
        .unwrap()
    }

    fn buyer() -> Buyer {
        Buyer {
            batna: Terms {
                price: eur("10.00"),
                payment_days: 30,
                lead_time_days: 14,
                contract_months: 12,
                early_payment: None,
            },
            annual_volume: 10_000,
            cost_of_capital: percent(8),
            lead_time_cost_per_day: eur("50.00"),
        }
    }

    fn supplier() -> Supplier {
        Supplier {
            unit_cost: eur("8.50"),
            margin_floor: percent(5),
            cost_of_capital: percent(15),
            annual_volume: 10_000,
            usual_lead_time_days: 14,
            rush_cost_per_day: eur("200.00"),
            value_per_contract_month: eur("100.00"),
        }
    }

    fn check(outcome: [u32; 5], terms: &str, saving: &str, surplus: &str) {
        let ps = space();
        let k = ps.space().index_of(&outcome).unwrap();
        let t = ps.terms(k);
        let shown = format!(
            "{} net {} lead {} {}m {}",
            t.price,
            t.payment_days,
            t.lead_time_days,
            t.contract_months,
            t.early_payment.map_or("-".into(), |e| e.to_string())
        );
        assert_eq!(shown, terms);
        assert_eq!(buyer().saving(&t).unwrap(), eur(saving), "saving");
        assert_eq!(supplier().surplus(&t).unwrap(), eur(surplus), "surplus");
    }

    #[test]
    fn fast_buyer_utility_matches_money_valuation() {
        let ps = space();
        let exact = ps.utility_table("buyer", |t| buyer().saving(t)).unwrap();
        let fast = ps.buyer_utility(&buyer());
        for k in 0..ps.space().cardinality() as u32 {
            // Money rounds to the cent; the fast path does not.
            assert!((exact.get(k) - fast.get(k)).abs() < 1e-6, "outcome {k}");
        }
        assert!((exact.reservation() - fast.reservation()).abs() < 1e-6);
    }

    #[test]
    fn outcome_of_inverts_terms() {
        let ps = space();
        for k in 0..ps.space().cardinality() as u32 {
            assert_eq!(ps.outcome_of(&ps.terms(k)), Some(k));
        }
        let mut t = ps.terms(7);
        t.price = Money::new(t.price.minor + 1, t.price.currency);
        assert_eq!(ps.outcome_of(&t), None, "off the tick grid");
        let mut t = ps.terms(7);
        t.contract_months = 7;
        assert_eq!(ps.outcome_of(&t), None, "length not on offer");
        let mut t = ps.terms(7);
        t.price = Money::new(t.price.minor, Currency::USD);
        assert_eq!(ps.outcome_of(&t), None, "other currency");
        let mut t = ps.terms(7);
        t.payment_days = 10_000;
        assert_eq!(ps.outcome_of(&t), None, "beyond the bounds");
    }

    #[test]
    fn valuations() {
        // Today's terms save nothing.
        check(
            [4, 0, 1, 0, 0],
            "EUR 10.00 net 30 lead 14 12m -",
            "0.00",
            "10717.12",
        );
        // 60 more days at 8% on 100,000 a year: 1,315.07 of financing value.
        check(
            [4, 2, 1, 0, 0],
            "EUR 10.00 net 90 lead 14 12m -",
            "1315.07",
            "8251.37",
        );
        // 2/10: 2% off but paid 20 days earlier; both sides gain less than 2% suggests,
        // the supplier because its capital costs 15%.
        check(
            [4, 0, 1, 0, 1],
            "EUR 10.00 net 30 lead 14 12m 2/10",
            "1557.26",
            "9547.26",
        );
        // A lower price over two years, with a week's faster delivery.
        check(
            [2, 1, 0, 1, 0],
            "EUR 9.50 net 60 lead 7 24m -",
            "11883.56",
            "6415.07",
        );
    }

    #[test]
    fn scenario_normalises_with_reservation_at_zero() {
        let ps = space();
        let s = ps.scenario("tail", &buyer(), &supplier()).unwrap();
        assert_eq!(s.outcomes(), 5 * 3 * 3 * 2 * 2);
        let [a, b] = &s.tables;
        assert_eq!((a.max(), a.min(), b.max(), b.min()), (1.0, 0.0, 1.0, 0.0));
        let batna = ps.space().index_of(&[4, 0, 1, 0, 0]).unwrap();
        assert!((a.get(batna) - a.reservation()).abs() < 1e-12);
        assert!(s.stats.nash.is_some(), "a zone of agreement exists");
    }
}
