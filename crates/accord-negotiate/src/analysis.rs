//! Exact bilateral analysis: the Pareto frontier by sort-and-sweep, the Nash,
//! Kalai–Smorodinsky and welfare points, and the NegMAS per-negotiation metrics.
//!
//! Definitions follow NegMAS (`negmas.preferences.ops`): the frontier is taken over
//! rational outcomes (both utilities at least the reservation value); distances are
//! Euclidean in utility space; `optimality = max(0, 1 − dist / max_dist)` with
//! `max_dist = √Σ (maxᵢ − minᵢ)²`; `advantage = (u − r) / (max − r)`, 0 without agreement.

use serde::Serialize;

/// Which point the Nash and Kalai–Smorodinsky solutions measure gains from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disagreement {
    /// The reservation values (the Genius convention, and this crate's default).
    Reservation,
    /// `max(reservation, worst outcome)` per side, as NegMAS does.
    ReservationOrWorst,
}

/// An outcome with both sides' utilities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    pub outcome: u32,
    pub u: [f64; 2],
}

/// Everything about a two-party scenario that does not depend on how it is negotiated.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioStats {
    /// Pareto-optimal rational outcomes, by first utility descending.
    pub frontier: Vec<Point>,
    pub nash: Option<Point>,
    pub kalai: Option<Point>,
    pub welfare: Option<Point>,
    pub reservation: [f64; 2],
    pub disagreement: [f64; 2],
    pub min: [f64; 2],
    pub max: [f64; 2],
    pub max_dist: f64,
}

/// How one negotiation ended up, measured against its scenario.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub agreement: bool,
    pub utility: [f64; 2],
    pub advantage: [f64; 2],
    pub nash_optimality: f64,
    pub kalai_optimality: f64,
    pub pareto_optimality: f64,
    pub welfare: f64,
}

/// Indices of the Pareto-optimal outcomes among those with `u1 ≥ r1` and `u2 ≥ r2`,
/// by `u1` descending. Sort-and-sweep, `O(n log n)`. Outcomes with identical utility
/// pairs on the frontier are all kept.
pub fn pareto_frontier(u1: &[f64], u2: &[f64], reservation: [f64; 2]) -> Vec<Point> {
    // Sorting the utility pairs themselves, not indices into them, keeps the comparisons
    // in cache.
    let mut pts: Vec<(f64, f64, u32)> = (0..u1.len())
        .filter(|&k| u1[k] >= reservation[0] && u2[k] >= reservation[1])
        .map(|k| (u1[k], u2[k], k as u32))
        .collect();
    pts.sort_unstable_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(b.1.total_cmp(&a.1))
            .then(a.2.cmp(&b.2))
    });
    let mut out: Vec<Point> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for (x, y, k) in pts {
        let p = [x, y];
        if y > best {
            best = y;
            out.push(Point { outcome: k, u: p });
        } else if out.last().is_some_and(|l| l.u == p) {
            out.push(Point { outcome: k, u: p });
        }
    }
    out
}

fn argmax(frontier: &[Point], score: impl Fn(&Point) -> f64) -> Option<Point> {
    let mut best: Option<(f64, Point)> = None;
    for p in frontier {
        let s = score(p);
        if best.is_none_or(|(b, _)| s > b + 1e-12) {
            best = Some((s, *p));
        }
    }
    best.map(|(_, p)| p)
}

impl ScenarioStats {
    /// Analyses two utility vectors (one entry per outcome).
    pub fn new(
        u1: &[f64],
        u2: &[f64],
        reservation: [f64; 2],
        disagreement: Disagreement,
    ) -> ScenarioStats {
        let range = |u: &[f64]| {
            u.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                })
        };
        let (r1, r2) = (range(u1), range(u2));
        let (min, max) = ([r1.0, r2.0], [r1.1, r2.1]);
        let d = match disagreement {
            Disagreement::Reservation => reservation,
            Disagreement::ReservationOrWorst => {
                [reservation[0].max(min[0]), reservation[1].max(min[1])]
            }
        };
        let frontier = pareto_frontier(u1, u2, reservation);
        let nash = argmax(&frontier, |p| (p.u[0] - d[0]) * (p.u[1] - d[1]));
        let span = [(max[0] - d[0]).max(1e-12), (max[1] - d[1]).max(1e-12)];
        let kalai = argmax(&frontier, |p| {
            ((p.u[0] - d[0]) / span[0]).min((p.u[1] - d[1]) / span[1])
        });
        let welfare = argmax(&frontier, |p| p.u[0] + p.u[1]);
        let max_dist = ((max[0] - min[0]).powi(2) + (max[1] - min[1]).powi(2)).sqrt();
        ScenarioStats {
            frontier,
            nash,
            kalai,
            welfare,
            reservation,
            disagreement: d,
            min,
            max,
            max_dist,
        }
    }

    /// The same analysis with the parties' roles exchanged.
    pub fn swapped(&self) -> ScenarioStats {
        let sw = |p: Option<Point>| {
            p.map(|p| Point {
                outcome: p.outcome,
                u: [p.u[1], p.u[0]],
            })
        };
        let mut frontier: Vec<Point> = self
            .frontier
            .iter()
            .rev()
            .map(|p| Point {
                outcome: p.outcome,
                u: [p.u[1], p.u[0]],
            })
            .collect();
        frontier.sort_by(|a, b| b.u[0].total_cmp(&a.u[0]).then(b.u[1].total_cmp(&a.u[1])));
        let r = |x: [f64; 2]| [x[1], x[0]];
        ScenarioStats {
            frontier,
            nash: sw(self.nash),
            kalai: sw(self.kalai),
            welfare: sw(self.welfare),
            reservation: r(self.reservation),
            disagreement: r(self.disagreement),
            min: r(self.min),
            max: r(self.max),
            max_dist: self.max_dist,
        }
    }

    fn optimality(&self, dist: f64) -> f64 {
        if self.max_dist < 1e-12 {
            1.0
        } else {
            (1.0 - dist / self.max_dist).max(0.0)
        }
    }

    /// Metrics of an agreement with utilities `u`, or of no agreement (`None`: both get
    /// their reservation value).
    pub fn metrics(&self, agreement: Option<[f64; 2]>) -> Metrics {
        let u = agreement.unwrap_or(self.reservation);
        let dist = |p: &Point| ((p.u[0] - u[0]).powi(2) + (p.u[1] - u[1]).powi(2)).sqrt();
        let to = |p: Option<Point>| p.map_or(0.0, |p| self.optimality(dist(&p)));
        let pareto = self.frontier.iter().map(dist).fold(f64::INFINITY, f64::min);
        let adv = |i: usize| {
            if agreement.is_none() {
                return 0.0;
            }
            let span = self.max[i] - self.reservation[i];
            if span <= 1e-12 {
                0.0
            } else {
                (u[i] - self.reservation[i]) / span
            }
        };
        Metrics {
            agreement: agreement.is_some(),
            utility: u,
            advantage: [adv(0), adv(1)],
            nash_optimality: to(self.nash),
            kalai_optimality: to(self.kalai),
            pareto_optimality: if pareto.is_finite() {
                self.optimality(pareto)
            } else {
                0.0
            },
            welfare: u[0] + u[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_frontier(u1: &[f64], u2: &[f64]) -> Vec<u32> {
        (0..u1.len())
            .filter(|&i| {
                !(0..u1.len())
                    .any(|j| u1[j] >= u1[i] && u2[j] >= u2[i] && (u1[j] > u1[i] || u2[j] > u2[i]))
            })
            .map(|i| i as u32)
            .collect()
    }

    fn check(u1: &[f64], u2: &[f64], reservation: [f64; 2], nash: [f64; 2], kalai: [f64; 2]) {
        let s = ScenarioStats::new(u1, u2, reservation, Disagreement::Reservation);
        assert_eq!(s.nash.unwrap().u, nash, "nash");
        assert_eq!(s.kalai.unwrap().u, kalai, "kalai");
        if reservation == [0.0, 0.0] {
            let mut got: Vec<u32> = s.frontier.iter().map(|p| p.outcome).collect();
            got.sort();
            assert_eq!(got, brute_frontier(u1, u2));
        }
    }

    #[test]
    fn points() {
        check(
            &[1.0, 0.8, 0.55, 0.2, 0.4],
            &[0.0, 0.5, 0.8, 1.0, 0.4],
            [0.0, 0.0],
            [0.55, 0.8],
            [0.55, 0.8],
        );
        check(
            &[1.0, 0.9, 0.6, 0.0],
            &[0.1, 0.5, 0.6, 1.0],
            [0.0, 0.0],
            [0.9, 0.5],
            [0.6, 0.6],
        );
        check(
            &[1.0, 0.9, 0.6, 0.0],
            &[0.1, 0.5, 0.6, 1.0],
            [0.7, 0.0],
            [0.9, 0.5],
            [0.9, 0.5],
        );
    }

    #[test]
    fn frontier_matches_brute_force() {
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 33) % 20) as f64 / 20.0
        };
        for _ in 0..20 {
            let u1: Vec<f64> = (0..60).map(|_| next()).collect();
            let u2: Vec<f64> = (0..60).map(|_| next()).collect();
            let s = ScenarioStats::new(&u1, &u2, [0.0, 0.0], Disagreement::Reservation);
            let mut got: Vec<u32> = s.frontier.iter().map(|p| p.outcome).collect();
            got.sort();
            assert_eq!(got, brute_frontier(&u1, &u2));
        }
    }

    #[test]
    fn metrics() {
        let s = ScenarioStats::new(
            &[1.0, 0.5, 0.0],
            &[0.0, 0.5, 1.0],
            [0.0, 0.0],
            Disagreement::Reservation,
        );
        let m = s.metrics(Some([0.5, 0.5]));
        assert_eq!(
            (
                m.nash_optimality,
                m.pareto_optimality,
                m.welfare,
                m.advantage
            ),
            (1.0, 1.0, 1.0, [0.5, 0.5])
        );
        let none = s.metrics(None);
        assert_eq!(none.advantage, [0.0, 0.0]);
        assert!((none.nash_optimality - (1.0 - 0.5f64.sqrt() / 2f64.sqrt())).abs() < 1e-12);
        let sw = s.swapped();
        assert_eq!(sw.frontier.len(), 3);
    }
}
