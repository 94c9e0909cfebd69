//! Baseline strategies: time-dependent concession (Boulware, linear, conceder), naive
//! tit-for-tat, MiCRO (de Jonge 2022) and random. None offers or accepts below its
//! reservation value; with no rational outcome at all they walk away.

use std::sync::Arc;

use rand::Rng as _;

use super::{Context, Rng, Strategy, View, best_offer, floor};
use crate::protocol::{Move, OfferSet};
use crate::utility::UtilityTable;

fn accept_or_offer(table: &UtilityTable, view: &View<'_>, mine: u32, threshold: f64) -> Move {
    if let Some((i, u)) = best_offer(table, view.offers)
        && u >= threshold
        && u >= table.reservation()
    {
        return Move::Accept { option: i };
    }
    Move::Offer(OfferSet::one(mine))
}

/// Time-dependent concession in the Genius convention:
/// `p(t) = Pmin + (Pmax − Pmin)(1 − t^(1/e))`, Boulware `e = 0.2`, linear `e = 1`,
/// conceder `e = 2`. Offers the outcome closest above `p(t)`; accepts an offer at least as
/// good as its own next offer.
#[derive(Clone, Debug)]
pub struct TimeDependent {
    name: &'static str,
    inv_e: f64,
    table: Arc<UtilityTable>,
    pmin: f64,
    pmax: f64,
    hint: usize,
}

impl TimeDependent {
    pub fn new(name: &'static str, e: f64, ctx: &Context) -> TimeDependent {
        let table = ctx.table.clone();
        TimeDependent {
            name,
            inv_e: 1.0 / e,
            pmin: floor(&table),
            pmax: table.max(),
            hint: 0,
            table,
        }
    }

    /// Target utility at relative time `t`.
    pub fn target(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        // Integral exponents (Boulware 5, linear 1) avoid `powf`, the costliest step of a move.
        let p = if self.inv_e.fract() == 0.0 && self.inv_e <= 16.0 {
            t.powi(self.inv_e as i32)
        } else if self.inv_e == 0.5 {
            t.sqrt()
        } else {
            t.powf(self.inv_e)
        };
        self.pmin + (self.pmax - self.pmin) * (1.0 - p)
    }
}

impl Strategy for TimeDependent {
    fn name(&self) -> &'static str {
        self.name
    }

    fn respond(&mut self, view: &View<'_>, _rng: &mut Rng) -> Move {
        if self.pmax < self.table.reservation() {
            return Move::End;
        }
        self.hint = self
            .table
            .count_at_least_near(self.target(view.t), self.hint);
        let mine = self.table.sorted()[self.hint.saturating_sub(1)];
        accept_or_offer(&self.table, view, mine, self.table.get(mine))
    }
}

/// Naive tit-for-tat: concedes, in its own utility, as much as the opponent's offers have
/// improved for it since the opponent's first offer.
#[derive(Clone, Debug)]
pub struct TitForTat {
    table: Arc<UtilityTable>,
    pmin: f64,
    pmax: f64,
    first: Option<f64>,
    best: f64,
}

impl TitForTat {
    pub fn new(ctx: &Context) -> TitForTat {
        let table = ctx.table.clone();
        TitForTat {
            pmin: floor(&table),
            pmax: table.max(),
            first: None,
            best: f64::NEG_INFINITY,
            table,
        }
    }
}

impl Strategy for TitForTat {
    fn name(&self) -> &'static str {
        "tit-for-tat"
    }

    fn respond(&mut self, view: &View<'_>, _rng: &mut Rng) -> Move {
        if self.pmax < self.table.reservation() {
            return Move::End;
        }
        if let Some((_, u)) = best_offer(&self.table, view.offers) {
            self.first.get_or_insert(u);
            self.best = self.best.max(u);
        }
        let conceded = self.first.map_or(0.0, |f| (self.best - f).max(0.0));
        let target = (self.pmax - conceded).max(self.pmin);
        let mine = self.table.cheapest_at_least(target);
        accept_or_offer(&self.table, view, mine, self.table.get(mine))
    }
}

/// MiCRO (de Jonge 2022): proposes outcomes in descending order of its own utility, and
/// proposes a new one only when the opponent has made at least as many different offers
/// as it has; otherwise it repeats one of its earlier proposals at random. Accepts any
/// offer at least as good as the worst outcome it has proposed or is about to propose.
#[derive(Clone, Debug)]
pub struct Micro {
    table: Arc<UtilityTable>,
    rational: usize,
    proposed: usize,
    received: usize,
    seen: Vec<u64>,
}

impl Micro {
    pub fn new(ctx: &Context) -> Micro {
        let table = ctx.table.clone();
        let rational = table.count_at_least(table.reservation());
        let words = table.utils().len().div_ceil(64);
        Micro {
            table,
            rational,
            proposed: 0,
            received: 0,
            seen: vec![0; words],
        }
    }
}

impl Strategy for Micro {
    fn name(&self) -> &'static str {
        "micro"
    }

    fn respond(&mut self, view: &View<'_>, rng: &mut Rng) -> Move {
        if self.rational == 0 {
            return Move::End;
        }
        for &k in view.offers {
            let (w, b) = (k as usize / 64, 1u64 << (k % 64));
            if self.seen[w] & b == 0 {
                self.seen[w] |= b;
                self.received += 1;
            }
        }
        let sorted = self.table.sorted();
        let concede =
            self.proposed == 0 || (self.proposed <= self.received && self.proposed < self.rational);
        let (mine, threshold) = if concede {
            let k = sorted[self.proposed];
            (k, self.table.get(k))
        } else {
            let k = sorted[rng.random_range(0..self.proposed)];
            (k, self.table.get(sorted[self.proposed - 1]))
        };
        let mv = accept_or_offer(&self.table, view, mine, threshold);
        if concede && matches!(mv, Move::Offer(_)) {
            self.proposed += 1;
        }
        mv
    }
}

/// Random: offers a uniformly random rational outcome and accepts an offer at least as good
/// as the one it drew. A floor for the tournament.
#[derive(Clone, Debug)]
pub struct RandomAgent {
    table: Arc<UtilityTable>,
    rational: usize,
}

impl RandomAgent {
    pub fn new(ctx: &Context) -> RandomAgent {
        let table = ctx.table.clone();
        RandomAgent {
            rational: table.count_at_least(table.reservation()),
            table,
        }
    }
}

impl Strategy for RandomAgent {
    fn name(&self) -> &'static str {
        "random"
    }

    fn respond(&mut self, view: &View<'_>, rng: &mut Rng) -> Move {
        if self.rational == 0 {
            return Move::End;
        }
        let mine = self.table.sorted()[rng.random_range(0..self.rational)];
        accept_or_offer(&self.table, view, mine, self.table.get(mine))
    }
}
