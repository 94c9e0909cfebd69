//! Commercial terms a negotiation trades and the buyer's economics behind them: the data
//! that negotiation events carry. The valuations over them live in `accord-negotiate`.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// An early-payment discount such as "2/10": `discount` off if paid within `within_days`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyPayment {
    /// Fraction of the invoice, e.g. `0.02`.
    pub discount: Decimal,
    pub within_days: i64,
}

impl fmt::Display for EarlyPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            (self.discount * Decimal::ONE_HUNDRED).normalize(),
            self.within_days
        )
    }
}

/// Concrete commercial terms: one outcome of a procurement negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// Price per unit.
    pub price: Money,
    pub payment_days: i64,
    pub lead_time_days: i64,
    pub contract_months: u32,
    pub early_payment: Option<EarlyPayment>,
}

impl Terms {
    /// The contract's length in years.
    pub fn years(&self) -> Decimal {
        Decimal::from(self.contract_months) / Decimal::from(12)
    }

    /// Days until the buyer pays, and the fraction of the price it pays.
    pub fn payment(&self) -> (i64, Decimal) {
        match self.early_payment {
            Some(e) => (e.within_days, Decimal::ONE - e.discount),
            None => (self.payment_days, Decimal::ONE),
        }
    }
}

/// What the buyer allows, which becomes the outcome space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub price_min: Money,
    pub price_max: Money,
    /// Price step: the deliberate discretisation of the continuous price.
    pub price_tick: Money,
    /// `(min, max, step)` payment days.
    pub payment_days: (i64, i64, i64),
    /// `(min, max, step)` lead time in days.
    pub lead_time_days: (i64, i64, i64),
    /// Contract lengths on offer, in months, shortest first.
    pub contract_months: Vec<u32>,
    /// Early-payment discounts on offer; "none" is always possible.
    pub early_payment: Vec<EarlyPayment>,
}

/// The buyer's business inputs to one negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    /// Today's terms: the BATNA every saving is measured against.
    pub batna: Terms,
    pub annual_volume: i64,
    /// Annual rate, e.g. `0.08`.
    pub cost_of_capital: Decimal,
    /// What one day of lead time costs per year (safety stock, lost sales).
    pub lead_time_cost_per_day: Money,
}
