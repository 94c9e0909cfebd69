//! Match tolerances: a percent, an absolute amount, or both joined by AND/OR, set per
//! item, per category or globally, the most specific winning, each naming the role that
//! may override an exception it raises.
//!
//! Tolerances are one-sided for price, quantity and receipt: billing less than ordered,
//! received or agreed is never an exception (a partial invoice is normal). Tax variance
//! is checked both ways, since under-charged VAT is a compliance problem too.

use std::{collections::HashMap, fmt, str::FromStr};

use accord_core::CategoryCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How two limits combine.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    /// Within tolerance only if within both limits (the stricter reading).
    And,
    /// Within tolerance if within either limit.
    Or,
}

/// The size of a tolerance. Absolute amounts are in the measure's own unit: major
/// currency units for prices and tax, units of measure for quantities.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// Percent of the expected value.
    Percent(Decimal),
    Absolute(Decimal),
    Both {
        percent: Decimal,
        absolute: Decimal,
        join: Join,
    },
}

/// A tolerance and who may override an exception it raises.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Tolerance {
    pub limit: Limit,
    /// The role allowed to override (the policy gate routes the exception to it).
    #[serde(default)]
    pub override_role: Option<String>,
}

impl Tolerance {
    /// No variance allowed.
    pub fn exact() -> Tolerance {
        Tolerance::absolute(Decimal::ZERO)
    }

    pub fn percent(percent: Decimal) -> Tolerance {
        Tolerance {
            limit: Limit::Percent(percent),
            override_role: None,
        }
    }

    pub fn absolute(amount: Decimal) -> Tolerance {
        Tolerance {
            limit: Limit::Absolute(amount),
            override_role: None,
        }
    }

    pub fn both(percent: Decimal, absolute: Decimal, join: Join) -> Tolerance {
        Tolerance {
            limit: Limit::Both {
                percent,
                absolute,
                join,
            },
            override_role: None,
        }
    }

    pub fn overridable_by(mut self, role: impl Into<String>) -> Tolerance {
        self.override_role = Some(role.into());
        self
    }

    /// Whether a variance of `over` above `expected` is within this tolerance. A
    /// variance at or below zero is always within.
    pub fn allows_over(&self, expected: Decimal, over: Decimal) -> bool {
        if over <= Decimal::ZERO {
            return true;
        }
        let pct_ok = |p: Decimal| over * Decimal::ONE_HUNDRED <= expected.abs() * p;
        match self.limit {
            Limit::Percent(p) => pct_ok(p),
            Limit::Absolute(a) => over <= a,
            Limit::Both {
                percent,
                absolute,
                join: Join::And,
            } => pct_ok(percent) && over <= absolute,
            Limit::Both {
                percent,
                absolute,
                join: Join::Or,
            } => pct_ok(percent) || over <= absolute,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.limit.fmt(f)
    }
}

impl fmt::Display for Limit {
    /// The form [`Limit::from_str`] reads: `2%`, `1.00`, `2% or 1.00`, `2% and 1.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::Percent(p) => write!(f, "{p}%"),
            Limit::Absolute(a) => write!(f, "{a}"),
            Limit::Both {
                percent,
                absolute,
                join,
            } => {
                let j = if join == Join::And { "and" } else { "or" };
                write!(f, "{percent}% {j} {absolute}")
            }
        }
    }
}

/// A limit that does not read: what was given and what is expected instead.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error(
    "`{given}` is not a tolerance ({why}): expected `exact`, a percent (`2%`), an amount \
     (`1.00`), or both joined by `or` or `and` (`2% or 1.00`)"
)]
pub struct LimitParseError {
    pub given: String,
    pub why: &'static str,
}

impl FromStr for Limit {
    type Err = LimitParseError;

    /// Reads `exact`, `2%`, `1.00`, `2% or 1.00` or `2% and 1.00` (either order, any
    /// case, spaces around the parts allowed). Limits are never negative.
    fn from_str(text: &str) -> Result<Limit, LimitParseError> {
        let fail = |why| LimitParseError {
            given: text.to_owned(),
            why,
        };
        let lower = text.trim().to_ascii_lowercase();
        if lower == "exact" {
            return Ok(Limit::Absolute(Decimal::ZERO));
        }
        let words: Vec<&str> = lower.split_whitespace().collect();
        // One part: `2%` or `1.00`; `2 %` is read as one part too.
        let part = |p: &str| -> Result<(bool, Decimal), LimitParseError> {
            let (percent, number) = match p.strip_suffix('%') {
                Some(n) => (true, n.trim()),
                None => (false, p),
            };
            let value = Decimal::from_str(number).map_err(|_| fail("not a number"))?;
            if value.is_sign_negative() {
                return Err(fail("a tolerance cannot be negative"));
            }
            Ok((percent, value))
        };
        let joined = words
            .iter()
            .position(|w| *w == "or" || *w == "and")
            .map(|i| {
                (
                    i,
                    if words[i] == "and" {
                        Join::And
                    } else {
                        Join::Or
                    },
                )
            });
        match joined {
            None => match part(&words.concat())? {
                (true, p) => Ok(Limit::Percent(p)),
                (false, a) => Ok(Limit::Absolute(a)),
            },
            Some((i, join)) => {
                let left = part(&words[..i].concat())?;
                let right = part(&words[i + 1..].concat())?;
                match (left, right) {
                    ((true, percent), (false, absolute)) | ((false, absolute), (true, percent)) => {
                        Ok(Limit::Both {
                            percent,
                            absolute,
                            join,
                        })
                    }
                    _ => Err(fail("join a percent with an amount")),
                }
            }
        }
    }
}

/// What a tolerance is about.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToleranceKind {
    /// Invoiced unit price against the order's.
    Price,
    /// Invoiced quantity (cumulative over the order line) against the ordered quantity.
    Quantity,
    /// Invoiced quantity (cumulative) against the quantity received and accepted.
    Received,
    /// Invoice VAT against the VAT the buyer expects.
    Tax,
}

/// Where the winning tolerance was set.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Item,
    Category,
    Global,
}

/// Tolerances of one scope; `None` means "not set here, ask the wider scope".
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ToleranceSet {
    #[serde(default)]
    pub price: Option<Tolerance>,
    #[serde(default)]
    pub quantity: Option<Tolerance>,
    #[serde(default)]
    pub received: Option<Tolerance>,
    #[serde(default)]
    pub tax: Option<Tolerance>,
}

impl ToleranceSet {
    pub fn get(&self, kind: ToleranceKind) -> Option<&Tolerance> {
        match kind {
            ToleranceKind::Price => self.price.as_ref(),
            ToleranceKind::Quantity => self.quantity.as_ref(),
            ToleranceKind::Received => self.received.as_ref(),
            ToleranceKind::Tax => self.tax.as_ref(),
        }
    }
}

/// The whole tolerance policy. Resolution is per kind: an item that sets only a price
/// tolerance still takes its quantity tolerance from its category or the global set.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TolerancePolicy {
    /// The fallback for every kind. A kind left `None` here means exact.
    pub global: ToleranceSet,
    #[serde(default)]
    pub categories: HashMap<CategoryCode, ToleranceSet>,
    /// Keyed by item (SKU).
    #[serde(default)]
    pub items: HashMap<String, ToleranceSet>,
    /// Which category an item belongs to, for items whose order does not say.
    #[serde(default)]
    pub item_categories: HashMap<String, CategoryCode>,
    /// The role that may release an invoice flagged as a duplicate.
    #[serde(default)]
    pub duplicate_override_role: Option<String>,
}

static EXACT: Tolerance = Tolerance {
    limit: Limit::Absolute(Decimal::ZERO),
    override_role: None,
};

impl Default for TolerancePolicy {
    /// A common starting point: price 2% or 1.00, quantity and receipt exact, tax 0.01.
    fn default() -> Self {
        TolerancePolicy {
            global: ToleranceSet {
                price: Some(Tolerance::both(Decimal::TWO, Decimal::ONE, Join::Or)),
                quantity: Some(Tolerance::exact()),
                received: Some(Tolerance::exact()),
                tax: Some(Tolerance::absolute(Decimal::new(1, 2))),
            },
            categories: HashMap::new(),
            items: HashMap::new(),
            item_categories: HashMap::new(),
            duplicate_override_role: None,
        }
    }
}

impl TolerancePolicy {
    /// An empty policy: every kind exact, nothing overridable.
    pub fn exact() -> TolerancePolicy {
        TolerancePolicy {
            global: ToleranceSet::default(),
            ..TolerancePolicy::default()
        }
    }

    /// The most specific tolerance of `kind` for `sku`: the item's, else its category's
    /// (from `item_categories`, else `fallback_category`), else the global one.
    pub fn resolve<'a>(
        &'a self,
        kind: ToleranceKind,
        sku: Option<&str>,
        fallback_category: Option<&'a CategoryCode>,
    ) -> (&'a Tolerance, Scope) {
        if let Some(sku) = sku
            && let Some(t) = self.items.get(sku).and_then(|s| s.get(kind))
        {
            return (t, Scope::Item);
        }
        if !self.categories.is_empty() {
            let category = sku
                .and_then(|s| self.item_categories.get(s))
                .or(fallback_category);
            if let Some(t) = category
                .and_then(|c| self.categories.get(c))
                .and_then(|s| s.get(kind))
            {
                return (t, Scope::Category);
            }
        }
        (self.global.get(kind).unwrap_or(&EXACT), Scope::Global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(text: &str) -> Result<Limit, LimitParseError> {
        text.parse()
    }

    #[test]
    fn limits_read_in_every_documented_form_and_print_back() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(limit("exact"), Ok(Limit::Absolute(Decimal::ZERO)));
        assert_eq!(limit(" 2% "), Ok(Limit::Percent(d("2"))));
        assert_eq!(limit("2.5 %"), Ok(Limit::Percent(d("2.5"))));
        assert_eq!(limit("0.01"), Ok(Limit::Absolute(d("0.01"))));
        let both = |join| Limit::Both {
            percent: d("2"),
            absolute: d("1.00"),
            join,
        };
        assert_eq!(limit("2% or 1.00"), Ok(both(Join::Or)));
        assert_eq!(limit("1.00 AND 2%"), Ok(both(Join::And)));
        for l in [both(Join::Or), both(Join::And), Limit::Percent(d("5"))] {
            assert_eq!(limit(&l.to_string()), Ok(l), "{l} reads back");
        }
    }

    #[test]
    fn a_limit_that_does_not_read_says_why() {
        for (text, why) in [
            ("", "not a number"),
            ("two percent", "not a number"),
            ("-1", "a tolerance cannot be negative"),
            ("-2%", "a tolerance cannot be negative"),
            ("2% or 3%", "join a percent with an amount"),
            ("1 and 2", "join a percent with an amount"),
            ("2% or", "not a number"),
        ] {
            let e = limit(text).unwrap_err();
            assert_eq!(e.why, why, "{text:?}");
            assert!(e.to_string().contains(&format!("`{text}`")), "{e}");
        }
    }
}
