//! The flagship `accord` agent.
//!
//! It concedes slowly on its own utility (a Boulware curve floored at the best offer
//! received and at its reservation value), learns the opponent's preferences from the
//! opponent's offers (frequency model), and at each target offers the outcome best for
//! the opponent among those near the target. As MESO buyer it offers several options of
//! near-equal value to itself that differ in the issues they trade. When the opponent
//! stalls it makes a new offer that concedes nothing; in its last two moves it re-offers
//! the opponent's best offer. It accepts an offer at least as good as its own next offer,
//! or, late, the best offer it has seen; never below its reservation value. Every choice
//! leaves a [`Rationale`].

use std::sync::Arc;

use super::opponent::FrequencyModel;
use super::{Binding, Context, Rationale, Rng, Strategy, View, best_offer, floor};
use crate::protocol::{MAX_OPTIONS, Move, OfferSet};
use crate::space::{OutcomeSpace, ValueTable};
use crate::utility::UtilityTable;

/// Tuning of the flagship. The defaults are the measured ones (see the crate's tournament
/// example).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccordParams {
    /// Concession exponent `e` of `p(t) = Pmin + (Pmax − Pmin)(1 − t^(1/e))`.
    pub e: f64,
    /// Most candidates scanned at a target (those just above it in own utility).
    pub window: usize,
    /// Width, in own utility, of the band above the target that candidates come from.
    pub band: f64,
    /// Relative time after which the best offer seen so far is accepted.
    pub late: f64,
    /// Weight `exp(−model_decay · t)` of an opponent offer made at time `t` in the
    /// frequency model. 1.2 measured the most accurate model on average (see the
    /// `opponent_model` example) and ties for the best tournament results.
    pub model_decay: f64,
    /// Make a new offer (at or above the target) when the opponent stalls.
    pub fresh: bool,
    /// Own moves left from which the opponent's best offer is re-offered.
    pub endgame_moves: u32,
}

impl Default for AccordParams {
    fn default() -> AccordParams {
        AccordParams {
            e: 0.12,
            window: 128,
            band: 0.02,
            late: 0.97,
            endgame_moves: 2,
            model_decay: 1.2,
            fresh: true,
        }
    }
}

/// The flagship strategy.
#[derive(Clone, Debug)]
pub struct Accord {
    params: AccordParams,
    space: Arc<OutcomeSpace>,
    values: Arc<ValueTable>,
    table: Arc<UtilityTable>,
    model: FrequencyModel,
    pmin: f64,
    pmax: f64,
    best_received: f64,
    best_received_outcome: Option<u32>,
    /// The opponent's previous single offer; an identical repeat teaches the model nothing
    /// new and is skipped, which also keeps `cache` valid.
    last_seen: Option<u32>,
    /// Outcomes this agent has offered (bitset), and how far down its sorted list every
    /// outcome has been offered.
    offered: Vec<u64>,
    fresh: usize,
    /// Last pick: candidate range, model version, choice and its estimate.
    cache: Option<(std::ops::Range<usize>, u32, u32, f64)>,
    /// Previous answers of the two candidate searches, to start the next ones from.
    hints: (usize, usize),
    rationale: Option<Rationale>,
}

impl Accord {
    pub fn new(ctx: &Context, params: AccordParams) -> Accord {
        let table = ctx.table.clone();
        Accord {
            params,
            model: FrequencyModel::new(&ctx.space, params.model_decay),
            space: ctx.space.clone(),
            values: ctx.values.clone(),
            pmin: floor(&table),
            pmax: table.max(),
            best_received: f64::NEG_INFINITY,
            best_received_outcome: None,
            last_seen: None,
            offered: vec![0; table.utils().len().div_ceil(64)],
            fresh: 0,
            cache: None,
            hints: (0, 0),
            table,
            rationale: None,
        }
    }

    /// Target own utility at time `t`, and what bound it.
    fn target(&self, t: f64) -> (f64, Binding) {
        let aspiration = self.pmin
            + (self.pmax - self.pmin) * (1.0 - t.clamp(0.0, 1.0).powf(1.0 / self.params.e));
        let mut out = (aspiration, Binding::Aspiration);
        if self.best_received > out.0 {
            out = (self.best_received, Binding::BestReceived);
        }
        if self.table.reservation() >= out.0 {
            out = (self.table.reservation(), Binding::Reservation);
        }
        out
    }

    fn was_offered(&self, k: u32) -> bool {
        self.offered[k as usize / 64] & (1 << (k % 64)) != 0
    }

    /// Candidate range in the sorted outcome list for a target: outcomes with own utility
    /// in `[target, target + band]`, at most `window` of them, the lowest first.
    fn candidates(&mut self, target: f64) -> std::ops::Range<usize> {
        self.hints.0 = self.table.count_at_least_near(target, self.hints.0);
        self.hints.1 = self
            .table
            .count_at_least_near(target + self.params.band, self.hints.1);
        let n = self.hints.0.max(1);
        let top = self.hints.1.min(n - 1);
        n.saturating_sub(self.params.window).max(top)..n
    }

    /// The candidate best for the opponent (estimated), with its estimate. Cached while
    /// neither the candidates nor the model change.
    fn pick(&mut self, target: f64) -> (u32, f64) {
        let range = self.candidates(target);
        let version = self.model.offers();
        if let Some((r, v, k, e)) = &self.cache
            && *r == range
            && *v == version
        {
            return (*k, *e);
        }
        let sorted = self.table.sorted();
        let mut best = (sorted[range.start], f64::NEG_INFINITY);
        for &k in &sorted[range.clone()] {
            let e = self.model.estimate(&self.space, &self.values, k);
            if e > best.1 {
                best = (k, e);
            }
        }
        self.cache = Some((range, version, best.0, best.1));
        best
    }

    /// Up to `k` options worth the same to the agent as `first` (within `band` either
    /// way): `first`, then options that differ from those chosen in as many issues as
    /// possible while staying good for the opponent, so that its pick or counter shows
    /// which issues it trades.
    fn meso(&mut self, first: u32, k: usize) -> OfferSet {
        let mut chosen = [first; MAX_OPTIONS];
        let mut len = 1;
        let u = self.table.get(first);
        let top = self.table.count_at_least(u + self.params.band);
        let floor = (u - self.params.band).max(self.table.reservation());
        let bottom = self.table.count_at_least(floor);
        let range = top..bottom.min(top + 2 * self.params.window);
        let sorted = self.table.sorted();
        let n_issues = self.space.issues().len() as f64;
        while len < k.min(MAX_OPTIONS) {
            let mut best: Option<(u32, f64)> = None;
            for &c in &sorted[range.clone()] {
                if chosen[..len].contains(&c) {
                    continue;
                }
                let diff = chosen[..len]
                    .iter()
                    .map(|&o| {
                        (0..self.space.issues().len())
                            .filter(|&i| self.space.value_of(o, i) != self.space.value_of(c, i))
                            .count() as f64
                    })
                    .fold(f64::INFINITY, f64::min);
                let score =
                    self.model.estimate(&self.space, &self.values, c) + 0.2 * diff / n_issues;
                if best.is_none_or(|(_, s)| score > s) {
                    best = Some((c, score));
                }
            }
            match best {
                Some((c, _)) => {
                    chosen[len] = c;
                    len += 1;
                }
                None => break,
            }
        }
        OfferSet::many(&chosen[..len]).expect("between 1 and MAX_OPTIONS options")
    }
}

impl Strategy for Accord {
    fn name(&self) -> &'static str {
        "accord"
    }

    fn respond(&mut self, view: &View<'_>, _rng: &mut Rng) -> Move {
        let reservation = self.table.reservation();
        if self.pmax < reservation {
            return Move::End;
        }
        let received = best_offer(&self.table, view.offers);
        let strength = 1.0 / view.offers.len().max(1) as f64;
        let repeat = view.offers.len() == 1 && self.last_seen == Some(view.offers[0]);
        let stalled = repeat || view.offers.is_empty();
        if !repeat {
            for &k in view.offers {
                self.model.observe(&self.space, k, view.t, strength);
            }
        }
        self.last_seen = (view.offers.len() == 1).then(|| view.offers[0]);
        // Learn first, then decide: the acceptance test compares against the offer the
        // agent would make now, with the updated model.
        let previous_best = self.best_received;
        if let Some((_, u)) = received {
            self.best_received = self.best_received.max(u);
        }
        if let Some((i, u)) = received
            && u >= previous_best
        {
            self.best_received_outcome = Some(view.offers[i as usize]);
        }
        let (mut target, mut binding) = self.target(view.t);
        let (mut mine, mut estimate) = self.pick(target);
        if view.moves_left <= self.params.endgame_moves
            && !view.last_move
            && let Some(k) = self
                .best_received_outcome
                .filter(|&k| self.table.get(k) >= reservation)
            && self.table.get(k) < self.table.get(mine)
        {
            (target, binding) = (self.table.get(k), Binding::Endgame);
            mine = k;
            estimate = self.model.estimate(&self.space, &self.values, k);
        }
        // A reciprocating opponent (MiCRO) moves only when this agent makes new offers.
        // When the opponent stalls and the best candidate was offered before, offer an
        // outcome not offered yet that is at least as good for this agent as the target:
        // movement without concession.
        if self.params.fresh && stalled && self.was_offered(mine) && binding != Binding::Endgame {
            let n = self.hints.0;
            while self.fresh < n && self.was_offered(self.table.sorted()[self.fresh]) {
                self.fresh += 1;
            }
            if self.fresh < n {
                mine = self.table.sorted()[self.fresh];
                binding = Binding::NewOffer;
                estimate = self.model.estimate(&self.space, &self.values, mine);
            }
        }
        let own = self.table.get(mine);
        if let Some((i, u)) = received {
            let accept = if u < reservation {
                None
            } else if u >= own {
                Some(Binding::AcceptNext)
            } else if view.last_move || (view.t >= self.params.late && u >= previous_best) {
                Some(Binding::AcceptLate)
            } else {
                None
            };
            if let Some(binding) = accept {
                let opponent_estimate =
                    self.model
                        .estimate(&self.space, &self.values, view.offers[i as usize]);
                self.rationale = Some(Rationale {
                    target,
                    binding,
                    own_utility: u,
                    opponent_estimate,
                });
                return Move::Accept { option: i };
            }
        }
        self.rationale = Some(Rationale {
            target,
            binding,
            own_utility: own,
            opponent_estimate: estimate.max(0.0),
        });
        let set = if view.max_options > 1 {
            self.meso(mine, view.max_options)
        } else {
            OfferSet::one(mine)
        };
        for &k in set.as_slice() {
            self.offered[k as usize / 64] |= 1 << (k % 64);
        }
        Move::Offer(set)
    }

    fn model(&self) -> Option<&FrequencyModel> {
        Some(&self.model)
    }

    fn rationale(&self) -> Option<Rationale> {
        self.rationale
    }
}
