//! Money as integer minor units of an ISO 4217 currency, checked arithmetic, and FX conversion.
//!
//! INVARIANT: no `f64` ever holds an amount. Every operation that can leave the integer
//! grid (scaling by a rate, converting between currencies) goes through [`round_minor`],
//! the one place where Accord rounds money.

use std::{collections::BTreeMap, fmt, str::FromStr};

use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive};
use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code that Accord knows the minor unit of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// ISO 4217 codes with their number of minor-unit digits. Covers every currency the ECB
/// publishes a reference rate for, plus the common settlement currencies.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HRK", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MAD", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("RON", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

impl Currency {
    pub const EUR: Currency = Currency(*b"EUR");
    pub const USD: Currency = Currency(*b"USD");
    pub const GBP: Currency = Currency(*b"GBP");
    pub const INR: Currency = Currency(*b"INR");
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parses a three-letter ISO 4217 code; unknown codes are rejected.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let code = code.trim();
        CURRENCIES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code))
            .map(|(c, _)| {
                let b = c.as_bytes();
                Currency([b[0], b[1], b[2]])
            })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    pub fn code(&self) -> &str {
        // INVARIANT: constructed only from the ASCII table above.
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Number of digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn minor_digits(&self) -> u32 {
        CURRENCIES
            .iter()
            .find(|(c, _)| c.as_bytes() == self.0)
            .map_or(2, |(_, d)| u32::from(*d))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Errors of money arithmetic and parsing. Messages are lowercase and put input in backticks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    #[error("currency mismatch: `{0}` and `{1}`")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
    #[error("malformed amount `{0}`")]
    Malformed(String),
    #[error("amount `{amount}` has more decimals than `{currency}` allows ({digits})")]
    TooPrecise {
        amount: String,
        currency: Currency,
        digits: u32,
    },
    #[error("no FX rate for `{0}`")]
    NoRate(Currency),
}

/// An amount of money: a signed count of minor units (cents) of one currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Signed count of minor units.
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub const fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    pub const fn zero(currency: Currency) -> Money {
        Money { minor: 0, currency }
    }

    /// Parses a decimal amount such as `1234.5` in `currency`. More decimals than the
    /// currency's minor unit is an error, never a silent rounding.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let trimmed = amount.trim();
        // Plain decimals only: no exponent, no thousands separators, no currency signs.
        let digits_part = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
        let plain = !digits_part.is_empty()
            && digits_part.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && digits_part.bytes().filter(|&b| b == b'.').count() <= 1;
        if !plain {
            return Err(MoneyError::Malformed(trimmed.into()));
        }
        let dec = Decimal::from_str(trimmed).map_err(|_| MoneyError::Malformed(trimmed.into()))?;
        let digits = currency.minor_digits();
        let scaled = dec * Decimal::from(10i64.pow(digits));
        if !scaled.fract().is_zero() {
            return Err(MoneyError::TooPrecise {
                amount: trimmed.into(),
                currency,
                digits,
            });
        }
        let minor = scaled.to_i64().ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, currency })
    }

    /// The amount as an exact decimal in major units (for display and export only).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.minor), self.currency.minor_digits())
    }

    pub fn is_negative(&self) -> bool {
        self.minor < 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// Multiplies by an integer count (a quantity of whole units).
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_mul(factor).ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let minor = self.minor.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money { minor, ..self })
    }

    /// Multiplies by an exact decimal factor (a fractional quantity, a percentage, a rate),
    /// rounding once with [`round_minor`].
    pub fn scale(self, factor: Decimal) -> Result<Money, MoneyError> {
        let exact = Decimal::from(self.minor)
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money {
            minor: round_minor(exact)?,
            ..self
        })
    }

    /// Sums amounts of one currency; an empty iterator sums to zero in `currency`.
    pub fn sum<I: IntoIterator<Item = Money>>(
        currency: Currency,
        items: I,
    ) -> Result<Money, MoneyError> {
        items
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }
}

/// THE rounding rule for money: an exact decimal count of minor units becomes an integer,
/// half to even (banker's rounding, as IEEE 754 and most ledgers use). Every conversion
/// that can leave the minor-unit grid calls this, and nothing else rounds money.
pub fn round_minor(exact_minor_units: Decimal) -> Result<i64, MoneyError> {
    exact_minor_units
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven)
        .to_i64()
        .ok_or(MoneyError::Overflow)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_decimal())
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Reference FX rates against one base currency, in the ECB convention: one unit of the
/// base buys `rate` units of the quoted currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FxTable {
    pub base: Currency,
    rates: BTreeMap<Currency, Decimal>,
}

impl FxTable {
    pub fn new(base: Currency) -> FxTable {
        FxTable {
            base,
            rates: BTreeMap::new(),
        }
    }

    /// Sets the rate for `currency` (units of `currency` per one unit of the base).
    /// A non-positive rate is rejected.
    pub fn set(&mut self, currency: Currency, rate: Decimal) -> Result<(), MoneyError> {
        if rate <= Decimal::ZERO {
            return Err(MoneyError::Malformed(rate.to_string()));
        }
        self.rates.insert(currency, rate);
        Ok(())
    }

    pub fn rate(&self, currency: Currency) -> Result<Decimal, MoneyError> {
        if currency == self.base {
            return Ok(Decimal::ONE);
        }
        self.rates
            .get(&currency)
            .copied()
            .ok_or(MoneyError::NoRate(currency))
    }

    /// Converts `amount` into `to` through the base currency, rounding once at the end.
    pub fn convert(&self, amount: Money, to: Currency) -> Result<Money, MoneyError> {
        if amount.currency == to {
            return Ok(amount);
        }
        let from_rate = self.rate(amount.currency)?;
        let to_rate = self.rate(to)?;
        let from_scale = Decimal::from(10i64.pow(amount.currency.minor_digits()));
        let to_scale = Decimal::from(10i64.pow(to.minor_digits()));
        // Exact arithmetic until the single rounding step.
        let exact = Decimal::from(amount.minor)
            .checked_mul(to_rate)
            .and_then(|x| x.checked_mul(to_scale))
            .and_then(|x| x.checked_div(from_rate))
            .and_then(|x| x.checked_div(from_scale))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(round_minor(exact)?, to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::EUR)
    }

    #[test]
    fn parse_respects_minor_units() {
        assert_eq!(Money::parse("12.34", Currency::EUR).unwrap(), eur(1234));
        assert_eq!(Money::parse("-0.5", Currency::EUR).unwrap(), eur(-50));
        assert_eq!(Money::parse("100", Currency::JPY).unwrap().minor, 100);
        assert!(matches!(
            Money::parse("1.234", Currency::EUR),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("1.5", Currency::JPY),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            Money::parse("abc", Currency::EUR),
            Err(MoneyError::Malformed(_))
        ));
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(eur(5).checked_add(eur(7)).unwrap(), eur(12));
        assert_eq!(
            eur(5).checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::CurrencyMismatch(Currency::EUR, Currency::USD))
        );
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MAX).checked_mul(2), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
    }

    #[test]
    fn rounding_is_half_even_in_one_place() {
        assert_eq!(eur(5).scale(Decimal::new(5, 1)).unwrap(), eur(2)); // 2.5 -> 2
        assert_eq!(eur(7).scale(Decimal::new(5, 1)).unwrap(), eur(4)); // 3.5 -> 4
        assert_eq!(eur(-5).scale(Decimal::new(5, 1)).unwrap(), eur(-2));
    }

    #[test]
    fn fx_converts_through_base_and_rounds_once() {
        let mut fx = FxTable::new(Currency::EUR);
        fx.set(Currency::USD, Decimal::new(10823, 4)).unwrap(); // 1 EUR = 1.0823 USD
        fx.set(Currency::JPY, Decimal::new(16234, 2)).unwrap(); // 1 EUR = 162.34 JPY
        assert_eq!(
            fx.convert(eur(10000), Currency::USD).unwrap(),
            Money::new(10823, Currency::USD)
        );
        // 100 USD -> EUR = 92.3958... -> 92.40
        assert_eq!(
            fx.convert(Money::new(10000, Currency::USD), Currency::EUR)
                .unwrap(),
            eur(9240)
        );
        // 1.00 EUR -> 162.34 JPY -> 162 (0 minor digits)
        assert_eq!(
            fx.convert(eur(100), Currency::JPY).unwrap(),
            Money::new(162, Currency::JPY)
        );
        assert_eq!(
            fx.convert(eur(1), Currency::GBP),
            Err(MoneyError::NoRate(Currency::GBP))
        );
    }

    #[test]
    fn currency_codes_round_trip() {
        let c = Currency::parse("usd").unwrap();
        assert_eq!(c, Currency::USD);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"USD\"");
        assert!(Currency::parse("XXQ").is_err());
        assert_eq!(Currency::parse("KWD").unwrap().minor_digits(), 3);
    }

    #[test]
    fn display_uses_major_units() {
        assert_eq!(eur(123456).to_string(), "EUR 1234.56");
        assert_eq!(Money::new(5, Currency::JPY).to_string(), "JPY 5");
    }
}
