//! Utility functions: linear-additive with per-issue value functions, and the dense
//! per-outcome utility tables that strategies and analysis read.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::NegotiateError;
use crate::space::OutcomeSpace;

/// Anything that scores outcomes. Utilities are `f64`: they are scores, not money.
pub trait UtilityFunction {
    /// Undiscounted utility of an outcome (value numbers, one per issue).
    fn utility(&self, space: &OutcomeSpace, outcome: &[u32]) -> f64;
    /// Utility of walking away.
    fn reservation(&self) -> f64;
    /// Genius-style discount factor `d` in (0, 1), or `None` for no discounting.
    fn discount(&self) -> Option<f64> {
        None
    }
}

/// How one issue's values are scored, before the issue weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFn {
    /// One score per value number.
    Table(Vec<f64>),
    /// `slope · x + offset` on the value's number (days, price).
    Linear { slope: f64, offset: f64 },
    /// Piecewise-linear through `(x, score)` points sorted by `x`, flat outside them.
    Piecewise(Vec<(f64, f64)>),
}

impl ValueFn {
    fn eval(&self, space: &OutcomeSpace, issue: usize, v: u32) -> Result<f64, NegotiateError> {
        let numeric = || {
            space.issues()[issue].kind.value(v).as_f64().ok_or_else(|| {
                NegotiateError::InvalidUtility {
                    why: format!(
                        "issue `{}` has no numeric values",
                        space.issues()[issue].name
                    ),
                }
            })
        };
        Ok(match self {
            ValueFn::Table(t) => {
                *t.get(v as usize)
                    .ok_or_else(|| NegotiateError::InvalidUtility {
                        why: format!(
                            "issue `{}` has {} values but its table has {}",
                            space.issues()[issue].name,
                            space.radix()[issue],
                            t.len()
                        ),
                    })?
            }
            ValueFn::Linear { slope, offset } => slope * numeric()? + offset,
            ValueFn::Piecewise(points) => {
                let x = numeric()?;
                piecewise(points, x)
            }
        })
    }
}

fn piecewise(points: &[(f64, f64)], x: f64) -> f64 {
    match points {
        [] => 0.0,
        [(_, y)] => *y,
        _ => {
            if x <= points[0].0 {
                return points[0].1;
            }
            for w in points.windows(2) {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                if x <= x1 {
                    return if x1 > x0 {
                        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                    } else {
                        y1
                    };
                }
            }
            points[points.len() - 1].1
        }
    }
}

/// A linear-additive utility: `U(ω) = Σᵢ wᵢ · fᵢ(ωᵢ)`, with a reservation value and an
/// optional Genius time discount.
// INVARIANT: `scores[i][v]` is `weights[i] · fᵢ(v)`, computed once at construction.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearAdditive {
    scores: Vec<Vec<f64>>,
    reservation: f64,
    discount: Option<f64>,
}

impl LinearAdditive {
    /// Builds the function over `space`; `value_fns` has one entry per issue.
    pub fn new(
        space: &OutcomeSpace,
        weights: &[f64],
        value_fns: &[ValueFn],
        reservation: f64,
        discount: Option<f64>,
    ) -> Result<LinearAdditive, NegotiateError> {
        let n = space.issues().len();
        if weights.len() != n || value_fns.len() != n {
            return Err(NegotiateError::InvalidUtility {
                why: format!(
                    "{n} issues but {} weights and {} value functions",
                    weights.len(),
                    value_fns.len()
                ),
            });
        }
        let mut scores = Vec::with_capacity(n);
        for (i, (w, f)) in weights.iter().zip(value_fns).enumerate() {
            let row = (0..space.radix()[i])
                .map(|v| f.eval(space, i, v).map(|s| w * s))
                .collect::<Result<Vec<_>, _>>()?;
            scores.push(row);
        }
        let discount = discount.filter(|d| *d > 0.0 && *d < 1.0);
        Ok(LinearAdditive {
            scores,
            reservation,
            discount,
        })
    }

    /// Weighted score of each value of each issue.
    pub fn scores(&self) -> &[Vec<f64>] {
        &self.scores
    }
}

impl UtilityFunction for LinearAdditive {
    fn utility(&self, _space: &OutcomeSpace, outcome: &[u32]) -> f64 {
        outcome
            .iter()
            .zip(&self.scores)
            .map(|(&v, row)| row[v as usize])
            .sum()
    }
    fn reservation(&self) -> f64 {
        self.reservation
    }
    fn discount(&self) -> Option<f64> {
        self.discount
    }
}

/// Applies a Genius discount: `u · d^t` for relative time `t ∈ [0, 1]`.
pub fn discounted(u: f64, discount: Option<f64>, t: f64) -> f64 {
    match discount {
        Some(d) => u * d.powf(t.clamp(0.0, 1.0)),
        None => u,
    }
}

/// One side's utilities of every outcome, tabulated once and shared (`Arc`) by all the
/// negotiations that use them.
// INVARIANT: `sorted` lists every outcome number once, by utility descending (ties by
// outcome number); `sorted_utils[j] == utils[sorted[j]]`.
#[derive(Clone, Debug)]
pub struct UtilityTable {
    pub name: String,
    utils: Arc<[f64]>,
    sorted: Arc<[u32]>,
    sorted_utils: Arc<[f64]>,
    reservation: f64,
    discount: Option<f64>,
}

impl UtilityTable {
    /// Tabulates `f` over every outcome of `space`.
    pub fn new(
        name: impl Into<String>,
        space: &OutcomeSpace,
        f: &dyn UtilityFunction,
    ) -> UtilityTable {
        let mut buf = vec![0u32; space.issues().len()];
        let utils: Vec<f64> = (0..space.cardinality() as u32)
            .map(|k| {
                space.decode_into(k, &mut buf);
                f.utility(space, &buf)
            })
            .collect();
        UtilityTable::from_utils(name, utils, f.reservation(), f.discount())
    }

    /// Wraps already computed utilities (one per outcome number).
    pub fn from_utils(
        name: impl Into<String>,
        utils: Vec<f64>,
        reservation: f64,
        discount: Option<f64>,
    ) -> UtilityTable {
        let mut sorted: Vec<u32> = (0..utils.len() as u32).collect();
        sorted.sort_unstable_by(|&a, &b| {
            utils[b as usize]
                .total_cmp(&utils[a as usize])
                .then(a.cmp(&b))
        });
        let sorted_utils: Vec<f64> = sorted.iter().map(|&k| utils[k as usize]).collect();
        UtilityTable {
            name: name.into(),
            utils: utils.into(),
            sorted: sorted.into(),
            sorted_utils: sorted_utils.into(),
            reservation,
            discount,
        }
    }

    /// Utility of outcome `k`.
    #[inline]
    pub fn get(&self, k: u32) -> f64 {
        self.utils[k as usize]
    }

    pub fn utils(&self) -> &[f64] {
        &self.utils
    }

    /// Outcome numbers by utility, best first.
    pub fn sorted(&self) -> &[u32] {
        &self.sorted
    }

    /// Utilities in the order of [`UtilityTable::sorted`].
    pub fn sorted_utils(&self) -> &[f64] {
        &self.sorted_utils
    }

    pub fn reservation(&self) -> f64 {
        self.reservation
    }

    pub fn discount(&self) -> Option<f64> {
        self.discount
    }

    pub fn max(&self) -> f64 {
        self.sorted_utils[0]
    }

    pub fn min(&self) -> f64 {
        self.sorted_utils[self.sorted_utils.len() - 1]
    }

    /// How many outcomes have utility at least `u` (binary search).
    #[inline]
    pub fn count_at_least(&self, u: f64) -> usize {
        self.sorted_utils.partition_point(|&x| x >= u)
    }

    /// Like [`UtilityTable::count_at_least`], searching outwards from `hint` (a previous
    /// answer). Targets move little between moves, so this is usually a step or two where
    /// a binary search would mispredict a dozen branches.
    #[inline]
    pub fn count_at_least_near(&self, u: f64, hint: usize) -> usize {
        let s = &self.sorted_utils;
        let n = s.len();
        let mut i = hint.min(n);
        if i < n && s[i] >= u {
            // The answer is above `hint`: gallop up.
            let mut step = 1;
            let mut lo = i + 1;
            loop {
                let probe = (i + step).min(n);
                if probe == n || s[probe] < u {
                    return lo + s[lo..probe].partition_point(|&x| x >= u);
                }
                lo = probe + 1;
                i = probe;
                step *= 2;
            }
        }
        // The answer is at or below `hint`: gallop down.
        let mut step = 1;
        let mut hi = i;
        loop {
            let probe = i.saturating_sub(step);
            if probe == 0 || s[probe - 1] >= u {
                return probe + s[probe..hi].partition_point(|&x| x >= u);
            }
            hi = probe;
            i = probe;
            step *= 2;
        }
    }

    /// The outcome with the lowest utility that is still at least `u`, or the best outcome
    /// when none reaches `u`.
    #[inline]
    pub fn cheapest_at_least(&self, u: f64) -> u32 {
        let n = self.count_at_least(u);
        self.sorted[n.saturating_sub(1)]
    }

    /// The same table with another reservation value.
    pub fn with_reservation(&self, reservation: f64) -> UtilityTable {
        UtilityTable {
            reservation,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Issue, IssueKind};

    fn space() -> OutcomeSpace {
        OutcomeSpace::new(vec![
            Issue {
                name: "days".into(),
                kind: IssueKind::Integer {
                    lo: 0,
                    hi: 60,
                    step: 30,
                },
            },
            Issue {
                name: "term".into(),
                kind: IssueKind::Unordered {
                    values: vec!["a".into(), "b".into()],
                },
            },
        ])
        .unwrap()
    }

    fn check(f: ValueFn, outcome: &[u32], expected: f64) {
        let s = space();
        let u = LinearAdditive::new(
            &s,
            &[0.5, 0.5],
            &[f, ValueFn::Table(vec![0.0, 1.0])],
            0.1,
            Some(0.5),
        )
        .unwrap();
        let got = u.utility(&s, outcome);
        assert!((got - expected).abs() < 1e-12, "{got} != {expected}");
    }

    #[test]
    fn value_functions() {
        check(ValueFn::Table(vec![0.0, 0.5, 1.0]), &[1, 1], 0.75);
        check(
            ValueFn::Linear {
                slope: 1.0 / 60.0,
                offset: 0.0,
            },
            &[2, 0],
            0.5,
        );
        check(
            ValueFn::Piecewise(vec![(0.0, 0.0), (30.0, 1.0), (60.0, 1.0)]),
            &[1, 0],
            0.5,
        );
        check(
            ValueFn::Piecewise(vec![(10.0, 0.2), (20.0, 0.4)]),
            &[0, 1],
            0.6,
        );
    }

    #[test]
    fn table_sorts_and_searches() {
        let s = space();
        let u = LinearAdditive::new(
            &s,
            &[0.5, 0.5],
            &[
                ValueFn::Table(vec![0.0, 0.5, 1.0]),
                ValueFn::Table(vec![0.0, 1.0]),
            ],
            0.2,
            None,
        )
        .unwrap();
        let t = UtilityTable::new("t", &s, &u);
        assert_eq!(t.max(), 1.0);
        assert_eq!(t.min(), 0.0);
        assert_eq!(t.count_at_least(0.5), 4);
        for u in [-1.0, 0.0, 0.1, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9, 1.0, 2.0] {
            for hint in 0..8 {
                assert_eq!(
                    t.count_at_least_near(u, hint),
                    t.count_at_least(u),
                    "{u} {hint}"
                );
            }
        }
        assert_eq!(t.get(t.cheapest_at_least(0.6)), 0.75);
        assert_eq!(discounted(1.0, Some(0.25), 0.5), 0.5);
        assert!(LinearAdditive::new(&s, &[1.0], &[], 0.0, None).is_err());
    }
}
