//! Outcome spaces: issues with their (deliberately discretised) values, and the dense
//! mixed-radix numbering of outcomes that every other module works with.

use std::fmt;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use crate::NegotiateError;

/// Largest outcome space the engine tabulates densely. Beyond it, the caller must
/// discretise coarser (a larger tick, fewer values).
pub const MAX_DENSE_OUTCOMES: u64 = 20_000_000;

/// One value of an issue, for display and for utility functions that need the number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// A number on a continuous issue, exact (prices are decimals, never floats).
    Decimal(Decimal),
    /// A whole number (days, months).
    Integer(i64),
    /// A label of a discrete issue.
    Label(String),
    /// The absent value of an optional issue.
    Absent,
}

impl Value {
    /// The numeric reading of the value, if it has one.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Decimal(d) => d.to_string().parse().ok(),
            Value::Integer(i) => Some(*i as f64),
            Value::Label(_) | Value::Absent => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Decimal(d) => write!(f, "{d}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Label(s) => f.write_str(s),
            Value::Absent => f.write_str("none"),
        }
    }
}

/// The domain of one issue. Every kind has a finite number of values, numbered `0..len`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// A continuous quantity (price per unit) discretised on purpose: `lo, lo + tick, …, hi`.
    Continuous {
        lo: Decimal,
        hi: Decimal,
        tick: Decimal,
    },
    /// Whole numbers `lo, lo + step, …, hi` (payment days, lead time).
    Integer { lo: i64, hi: i64, step: i64 },
    /// Labels whose order means something (contract length: 12, 24, 36 months).
    Ordered { values: Vec<String> },
    /// Labels without an order (Incoterms, warranty type).
    Unordered { values: Vec<String> },
    /// An issue that may be left out (early-payment discount): value 0 is `Absent`,
    /// value `i + 1` is value `i` of the inner issue.
    Optional { inner: Box<IssueKind> },
}

impl IssueKind {
    /// Number of values.
    pub fn len(&self) -> u32 {
        match self {
            IssueKind::Continuous { lo, hi, tick } => {
                ((*hi - *lo) / *tick)
                    .floor()
                    .to_u32()
                    .unwrap_or(u32::MAX - 1)
                    + 1
            }
            IssueKind::Integer { lo, hi, step } => {
                u32::try_from((hi - lo) / step).unwrap_or(u32::MAX - 1) + 1
            }
            IssueKind::Ordered { values } | IssueKind::Unordered { values } => values.len() as u32,
            IssueKind::Optional { inner } => inner.len() + 1,
        }
    }

    /// Always false: a valid issue has at least one value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value with number `i` (`i < len`).
    pub fn value(&self, i: u32) -> Value {
        match self {
            IssueKind::Continuous { lo, tick, .. } => {
                Value::Decimal(*lo + *tick * Decimal::from(i))
            }
            IssueKind::Integer { lo, step, .. } => Value::Integer(lo + step * i64::from(i)),
            IssueKind::Ordered { values } | IssueKind::Unordered { values } => {
                Value::Label(values[i as usize].clone())
            }
            IssueKind::Optional { inner } => {
                if i == 0 {
                    Value::Absent
                } else {
                    inner.value(i - 1)
                }
            }
        }
    }

    fn validate(&self, name: &str) -> Result<(), NegotiateError> {
        let bad = |why: &str| {
            Err(NegotiateError::InvalidIssue {
                issue: name.to_owned(),
                why: why.to_owned(),
            })
        };
        match self {
            IssueKind::Continuous { lo, hi, tick } => {
                if *tick <= Decimal::ZERO {
                    return bad("tick must be positive");
                }
                if hi < lo {
                    return bad("upper bound below lower bound");
                }
                if (*hi - *lo) / *tick > Decimal::from(1_000_000) {
                    return bad("more than 1,000,000 ticks; choose a coarser tick");
                }
            }
            IssueKind::Integer { lo, hi, step } => {
                if *step <= 0 {
                    return bad("step must be positive");
                }
                if hi < lo {
                    return bad("upper bound below lower bound");
                }
            }
            IssueKind::Ordered { values } | IssueKind::Unordered { values } => {
                if values.is_empty() {
                    return bad("no values");
                }
            }
            IssueKind::Optional { inner } => inner.validate(name)?,
        }
        Ok(())
    }
}

/// A named issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub name: String,
    pub kind: IssueKind,
}

/// A finite outcome space: the Cartesian product of its issues.
///
/// Outcome `k` is numbered in mixed radix with the last issue varying fastest, the order
/// Genius and NegMAS enumerate in.
// INVARIANT: `radix[i] == issues[i].kind.len()` and `cardinality` is their product,
// at most `MAX_DENSE_OUTCOMES`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutcomeSpace {
    issues: Vec<Issue>,
    radix: Vec<u32>,
    stride: Vec<u64>,
    cardinality: u64,
}

/// An outcome as one value number per issue.
pub type Outcome = Vec<u32>;

impl OutcomeSpace {
    /// Builds a space, checking every issue and the total size.
    pub fn new(issues: Vec<Issue>) -> Result<OutcomeSpace, NegotiateError> {
        if issues.is_empty() {
            return Err(NegotiateError::EmptySpace);
        }
        for issue in &issues {
            issue.kind.validate(&issue.name)?;
        }
        let radix: Vec<u32> = issues.iter().map(|i| i.kind.len()).collect();
        let mut stride = vec![1u64; radix.len()];
        let mut card: u64 = 1;
        for i in (0..radix.len()).rev() {
            stride[i] = card;
            card = card.saturating_mul(u64::from(radix[i]));
        }
        if card > MAX_DENSE_OUTCOMES {
            return Err(NegotiateError::SpaceTooLarge {
                outcomes: card,
                max: MAX_DENSE_OUTCOMES,
            });
        }
        Ok(OutcomeSpace {
            issues,
            radix,
            stride,
            cardinality: card,
        })
    }

    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// Number of values of each issue.
    pub fn radix(&self) -> &[u32] {
        &self.radix
    }

    /// Number of outcomes.
    pub fn cardinality(&self) -> u64 {
        self.cardinality
    }

    /// The number of an outcome, or an error when it is not in the space.
    pub fn index_of(&self, outcome: &[u32]) -> Result<u32, NegotiateError> {
        if outcome.len() != self.radix.len() {
            return Err(NegotiateError::OutsideSpace {
                why: format!("{} values for {} issues", outcome.len(), self.radix.len()),
            });
        }
        let mut k = 0u64;
        for (i, (&v, &r)) in outcome.iter().zip(&self.radix).enumerate() {
            if v >= r {
                return Err(NegotiateError::OutsideSpace {
                    why: format!(
                        "value {v} of issue `{}` has only {r} values",
                        self.issues[i].name
                    ),
                });
            }
            k += u64::from(v) * self.stride[i];
        }
        Ok(k as u32)
    }

    /// Whether an outcome number is in the space.
    pub fn contains(&self, index: u32) -> bool {
        u64::from(index) < self.cardinality
    }

    /// Value number of issue `issue` in outcome `index`.
    #[inline]
    pub fn value_of(&self, index: u32, issue: usize) -> u32 {
        ((u64::from(index) / self.stride[issue]) % u64::from(self.radix[issue])) as u32
    }

    /// Decodes an outcome number into `out` (one slot per issue), without allocating.
    #[inline]
    pub fn decode_into(&self, index: u32, out: &mut [u32]) {
        let mut rest = u64::from(index);
        for i in (0..self.radix.len()).rev() {
            let r = u64::from(self.radix[i]);
            out[i] = (rest % r) as u32;
            rest /= r;
        }
    }

    /// Decodes an outcome number.
    pub fn outcome(&self, index: u32) -> Outcome {
        let mut out = vec![0; self.radix.len()];
        self.decode_into(index, &mut out);
        out
    }

    /// The values of an outcome, for display.
    pub fn values(&self, index: u32) -> Vec<Value> {
        self.outcome(index)
            .iter()
            .zip(&self.issues)
            .map(|(&v, i)| i.kind.value(v))
            .collect()
    }

    /// Lazily enumerates all outcomes in number order.
    pub fn iter(&self) -> impl Iterator<Item = Outcome> + '_ {
        (0..self.cardinality as u32).map(|k| self.outcome(k))
    }

    /// A flat table of value numbers, `issues` entries per outcome, for hot loops that would
    /// otherwise divide. Kept as `u16` when every issue has at most 65,536 values.
    pub fn value_table(&self) -> ValueTable {
        let n = self.radix.len();
        let mut values = vec![0u16; self.cardinality as usize * n];
        let mut buf = vec![0u32; n];
        if self.radix.iter().all(|&r| r <= 65_536) {
            for k in 0..self.cardinality as u32 {
                self.decode_into(k, &mut buf);
                for (slot, &v) in values[k as usize * n..][..n].iter_mut().zip(&buf) {
                    *slot = v as u16;
                }
            }
            ValueTable {
                issues: n,
                values: Some(values),
            }
        } else {
            ValueTable {
                issues: n,
                values: None,
            }
        }
    }
}

/// Precomputed value numbers of every outcome (see [`OutcomeSpace::value_table`]).
#[derive(Clone, Debug)]
pub struct ValueTable {
    issues: usize,
    values: Option<Vec<u16>>,
}

impl ValueTable {
    /// Value numbers of outcome `index`, when the table is dense.
    #[inline]
    pub fn get(&self, index: u32) -> Option<&[u16]> {
        self.values
            .as_ref()
            .map(|v| &v[index as usize * self.issues..][..self.issues])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kinds: Vec<IssueKind>, cardinality: u64, probe: &[u32], display: &str) {
        let issues = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Issue {
                name: format!("i{i}"),
                kind,
            })
            .collect();
        let space = OutcomeSpace::new(issues).unwrap();
        assert_eq!(space.cardinality(), cardinality);
        let k = space.index_of(probe).unwrap();
        assert_eq!(space.outcome(k), probe);
        let shown: Vec<String> = space.values(k).iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(" "), display);
        assert_eq!(space.iter().count() as u64, cardinality);
        let table = space.value_table();
        let row: Vec<u32> = table
            .get(k)
            .unwrap()
            .iter()
            .map(|&v| u32::from(v))
            .collect();
        assert_eq!(row, probe);
    }

    fn labels(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn spaces() {
        check(
            vec![
                IssueKind::Continuous {
                    lo: Decimal::new(900, 2),
                    hi: Decimal::new(1000, 2),
                    tick: Decimal::new(5, 2),
                },
                IssueKind::Integer {
                    lo: 30,
                    hi: 90,
                    step: 15,
                },
            ],
            21 * 5,
            &[3, 2],
            "9.15 60",
        );
        check(
            vec![
                IssueKind::Ordered {
                    values: labels(&["12", "24", "36"]),
                },
                IssueKind::Unordered {
                    values: labels(&["FCA", "DAP"]),
                },
                IssueKind::Optional {
                    inner: Box::new(IssueKind::Unordered {
                        values: labels(&["2/10 net 30"]),
                    }),
                },
            ],
            12,
            &[2, 1, 1],
            "36 DAP 2/10 net 30",
        );
        check(
            vec![IssueKind::Optional {
                inner: Box::new(IssueKind::Integer {
                    lo: 1,
                    hi: 2,
                    step: 1,
                }),
            }],
            3,
            &[0],
            "none",
        );
    }

    #[test]
    fn rejects_bad_spaces_and_outcomes() {
        let bad = OutcomeSpace::new(vec![Issue {
            name: "p".into(),
            kind: IssueKind::Continuous {
                lo: Decimal::ONE,
                hi: Decimal::ZERO,
                tick: Decimal::ONE,
            },
        }]);
        assert!(bad.is_err());
        let space = OutcomeSpace::new(vec![Issue {
            name: "d".into(),
            kind: IssueKind::Integer {
                lo: 0,
                hi: 3,
                step: 1,
            },
        }])
        .unwrap();
        assert!(space.index_of(&[4]).is_err());
        assert!(space.index_of(&[1, 1]).is_err());
        let huge = (0..8)
            .map(|i| Issue {
                name: format!("{i}"),
                kind: IssueKind::Integer {
                    lo: 0,
                    hi: 99,
                    step: 1,
                },
            })
            .collect();
        assert!(matches!(
            OutcomeSpace::new(huge),
            Err(NegotiateError::SpaceTooLarge { .. })
        ));
    }
}
