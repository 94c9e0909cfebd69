//! Opponent modelling: a HardHeaded-style frequency model that learns the opponent's
//! issue weights and value preferences from the offers it makes.
//!
//! Values the opponent offers often are assumed good for it; issues whose value it keeps
//! unchanged between consecutive offers are assumed important. The estimate is linear
//! additive, so scoring a candidate costs one table lookup per issue.

use crate::space::{OutcomeSpace, ValueTable};

/// Frequency opponent model.
// INVARIANT: `est[offset[i] + v]` is the normalised weight of issue `i` times the
// normalised frequency of value `v`, so estimates lie in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct FrequencyModel {
    offset: Vec<usize>,
    counts: Vec<f64>,
    weights: Vec<f64>,
    est: Vec<f64>,
    last: Vec<u32>,
    buf: Vec<u32>,
    offers: u32,
    decay: f64,
}

impl FrequencyModel {
    /// A model that weighs an offer made at relative time `t` by `exp(−decay · t)`.
    pub fn new(space: &OutcomeSpace, decay: f64) -> FrequencyModel {
        let radix = space.radix();
        let mut offset = Vec::with_capacity(radix.len());
        let mut total = 0usize;
        for &r in radix {
            offset.push(total);
            total += r as usize;
        }
        let n = radix.len();
        let w = 1.0 / n as f64;
        FrequencyModel {
            offset,
            counts: vec![0.0; total],
            weights: vec![w; n],
            est: vec![0.0; total],
            last: vec![0; n],
            buf: vec![0; n],
            offers: 0,
            decay,
        }
    }

    /// Number of offers learned from.
    pub fn offers(&self) -> u32 {
        self.offers
    }

    /// Learns from one opponent offer (outcome `k`) made at relative time `t`, with
    /// `strength` in `(0, 1]` (less for one of several MESO options).
    pub fn observe(&mut self, space: &OutcomeSpace, k: u32, t: f64, strength: f64) {
        let n = self.weights.len();
        space.decode_into(k, &mut self.buf);
        let w = if self.decay == 0.0 {
            strength
        } else {
            strength * (-self.decay * t.clamp(0.0, 1.0)).exp()
        };
        for i in 0..n {
            self.counts[self.offset[i] + self.buf[i] as usize] += w;
        }
        if self.offers > 0 {
            let learn = 0.2 * strength * (1.0 - t.clamp(0.0, 1.0));
            for i in 0..n {
                if self.buf[i] == self.last[i] {
                    self.weights[i] += learn;
                }
            }
        }
        self.last.copy_from_slice(&self.buf);
        self.offers += 1;
        self.refresh();
    }

    fn refresh(&mut self) {
        let total: f64 = self.weights.iter().sum();
        let n = self.weights.len();
        for i in 0..n {
            let end = if i + 1 < n {
                self.offset[i + 1]
            } else {
                self.counts.len()
            };
            let range = self.offset[i]..end;
            let max = self.counts[range.clone()]
                .iter()
                .cloned()
                .fold(0.0, f64::max);
            let w = self.weights[i] / total;
            for j in range {
                self.est[j] = if max > 0.0 {
                    w * self.counts[j] / max
                } else {
                    w
                };
            }
        }
    }

    /// Estimated opponent utility of outcome `k`, in `[0, 1]`.
    #[inline]
    pub fn estimate(&self, space: &OutcomeSpace, values: &ValueTable, k: u32) -> f64 {
        match values.get(k) {
            Some(row) => row
                .iter()
                .zip(&self.offset)
                .map(|(&v, &o)| self.est[o + v as usize])
                .sum(),
            None => (0..self.offset.len())
                .map(|i| self.est[self.offset[i] + space.value_of(k, i) as usize])
                .sum(),
        }
    }

    /// Estimated weight of each issue, summing to 1.
    pub fn issue_weights(&self) -> impl Iterator<Item = f64> + '_ {
        let total: f64 = self.weights.iter().sum();
        self.weights.iter().map(move |w| w / total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::{Issue, IssueKind};

    fn check(offers: &[[u32; 2]], better: [u32; 2], worse: [u32; 2]) {
        let space = OutcomeSpace::new(vec![
            Issue {
                name: "a".into(),
                kind: IssueKind::Integer {
                    lo: 0,
                    hi: 3,
                    step: 1,
                },
            },
            Issue {
                name: "b".into(),
                kind: IssueKind::Integer {
                    lo: 0,
                    hi: 3,
                    step: 1,
                },
            },
        ])
        .unwrap();
        let values = space.value_table();
        let mut m = FrequencyModel::new(&space, 0.0);
        for (i, o) in offers.iter().enumerate() {
            m.observe(&space, space.index_of(o).unwrap(), i as f64 / 10.0, 1.0);
        }
        let e = |o: [u32; 2]| m.estimate(&space, &values, space.index_of(&o).unwrap());
        assert!(e(better) > e(worse), "{} <= {}", e(better), e(worse));
        assert!((0.0..=1.0).contains(&e(better)));
    }

    #[test]
    fn learns_values_and_weights() {
        // The opponent never moves on `a` and wanders on `b`: `a` matters, value 3 is best.
        check(&[[3, 0], [3, 1], [3, 2], [3, 3]], [3, 0], [2, 0]);
        check(&[[3, 0], [3, 1], [3, 2], [3, 3]], [3, 3], [0, 0]);
        check(&[[0, 0], [0, 0], [1, 1]], [0, 0], [1, 1]);
    }
}
