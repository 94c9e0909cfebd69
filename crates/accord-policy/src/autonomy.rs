//! Autonomy levels per category, deterministic sampling of autonomous decisions for human
//! spot review, and the kill switch that pauses every agent at once.

use std::collections::BTreeMap;

pub use accord_core::governance::{AutonomyLevel, CategoryAutonomy};
use accord_core::{CategoryCode, id::DecisionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Whether a person must look at an autonomous decision after the fact.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    /// No review asked for.
    None,
    /// The category is `ActWithReview`: every autonomous decision is reviewed.
    Required,
    /// Drawn for spot review by the category's sampling rate.
    Sampled,
}

/// Autonomy settings: a default and per-category overrides. New categories start at the
/// default, which is `RecommendOnly` unless set otherwise: autonomy is granted, not assumed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AutonomyTable {
    pub default: CategoryAutonomy,
    #[serde(default)]
    pub categories: BTreeMap<CategoryCode, CategoryAutonomy>,
    /// Seed of the spot-review draw, so that a replay draws the same decisions.
    #[serde(default)]
    pub seed: u64,
}

impl Default for AutonomyTable {
    fn default() -> Self {
        AutonomyTable::new(CategoryAutonomy::new(AutonomyLevel::RecommendOnly, 0))
    }
}

impl AutonomyTable {
    pub fn new(default: CategoryAutonomy) -> AutonomyTable {
        AutonomyTable {
            default,
            categories: BTreeMap::new(),
            seed: 0,
        }
    }

    /// Sets a category's autonomy (the pure effect of an `autonomy.change`).
    pub fn set(&mut self, category: CategoryCode, setting: CategoryAutonomy) {
        self.categories.insert(category, setting);
    }

    /// A category's setting; no category (or an unknown one) gets the default.
    pub fn get(&self, category: Option<&CategoryCode>) -> CategoryAutonomy {
        category
            .and_then(|c| self.categories.get(c))
            .copied()
            .unwrap_or(self.default)
    }

    /// Whether an autonomous decision in `category` is to be reviewed by a person.
    /// Deterministic: the same seed and decision id always give the same answer.
    pub fn review(&self, category: Option<&CategoryCode>, decision: Option<&DecisionId>) -> Review {
        let setting = self.get(category);
        match setting.level {
            AutonomyLevel::ActWithReview => Review::Required,
            AutonomyLevel::RecommendOnly => Review::None,
            AutonomyLevel::ActAlone => match decision {
                Some(d) if sampled(self.seed, d, setting.sample_ppm) => Review::Sampled,
                _ => Review::None,
            },
        }
    }
}

/// Draws a decision for spot review with probability `ppm` per million, from a stable
/// 64-bit mix of the seed and the decision id (not `std`'s hasher, which may change
/// between Rust releases and would break replay).
pub fn sampled(seed: u64, decision: &DecisionId, ppm: u32) -> bool {
    let bits = decision.0.as_u128();
    let mut x = seed ^ (bits as u64) ^ ((bits >> 64) as u64).rotate_left(32);
    // SplitMix64 finaliser.
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x % 1_000_000 < u64::from(ppm)
}

/// The kill switch: while paused, every autonomous action is refused by the gate.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KillSwitch {
    #[default]
    Running,
    Paused {
        since: DateTime<Utc>,
        by: String,
        reason: String,
    },
}

/// A change of the kill switch, as the lead stores it in the event log.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KillSwitchEvent {
    Paused {
        at: DateTime<Utc>,
        by: String,
        reason: String,
    },
    Resumed {
        at: DateTime<Utc>,
        by: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillSwitchError {
    #[error("agents are already paused (by `{0}`)")]
    AlreadyPaused(String),
    #[error("agents are not paused")]
    NotPaused,
    #[error("a pause needs a reason")]
    NoReason,
}

impl KillSwitch {
    pub fn is_paused(&self) -> bool {
        matches!(self, KillSwitch::Paused { .. })
    }

    /// Decides a pause; apply the event with [`KillSwitch::apply`]. Whether `by` may pause
    /// is the gate's question (`agents.pause`), asked before.
    pub fn pause(
        &self,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<KillSwitchEvent, KillSwitchError> {
        match self {
            KillSwitch::Paused { by, .. } => Err(KillSwitchError::AlreadyPaused(by.clone())),
            KillSwitch::Running if reason.trim().is_empty() => Err(KillSwitchError::NoReason),
            KillSwitch::Running => Ok(KillSwitchEvent::Paused {
                at: now,
                by: by.to_owned(),
                reason: reason.to_owned(),
            }),
        }
    }

    pub fn resume(&self, by: &str, now: DateTime<Utc>) -> Result<KillSwitchEvent, KillSwitchError> {
        match self {
            KillSwitch::Running => Err(KillSwitchError::NotPaused),
            KillSwitch::Paused { .. } => Ok(KillSwitchEvent::Resumed {
                at: now,
                by: by.to_owned(),
            }),
        }
    }

    /// Folds an event into the state (replay from the log).
    pub fn apply(&mut self, event: &KillSwitchEvent) {
        *self = match event {
            KillSwitchEvent::Paused { at, by, reason } => KillSwitch::Paused {
                since: *at,
                by: by.clone(),
                reason: reason.clone(),
            },
            KillSwitchEvent::Resumed { .. } => KillSwitch::Running,
        };
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn id(n: u128) -> DecisionId {
        DecisionId::from_parts(1_700_000_000_000 + n as u64, n.wrapping_mul(0x9E37_79B9))
    }

    #[test]
    fn sampling_is_deterministic_and_close_to_the_rate() {
        for ppm in [0u32, 10_000, 250_000, 1_000_000] {
            let hits = (0..20_000u128).filter(|&n| sampled(7, &id(n), ppm)).count();
            let expected = 20_000.0 * f64::from(ppm) / 1e6;
            assert!(
                (hits as f64 - expected).abs() <= 20_000.0 * 0.01 + 1.0,
                "ppm {ppm}: {hits} hits, expected about {expected}"
            );
            let again = (0..20_000u128).filter(|&n| sampled(7, &id(n), ppm)).count();
            assert_eq!(hits, again);
        }
        // A different seed draws different decisions at the same rate.
        let a: Vec<bool> = (0..200u128).map(|n| sampled(1, &id(n), 500_000)).collect();
        let b: Vec<bool> = (0..200u128).map(|n| sampled(2, &id(n), 500_000)).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn review_follows_the_level() {
        let office = CategoryCode::parse("office").unwrap();
        let it = CategoryCode::parse("it").unwrap();
        let mut t = AutonomyTable::default();
        t.set(
            office.clone(),
            CategoryAutonomy::new(AutonomyLevel::ActWithReview, 0),
        );
        t.set(
            it.clone(),
            CategoryAutonomy::new(AutonomyLevel::ActAlone, 1_000_000),
        );
        assert_eq!(t.review(Some(&office), Some(&id(1))), Review::Required);
        assert_eq!(t.review(Some(&it), Some(&id(1))), Review::Sampled);
        assert_eq!(t.review(Some(&it), None), Review::None);
        let unknown = CategoryCode::parse("other").unwrap();
        assert_eq!(t.get(Some(&unknown)).level, AutonomyLevel::RecommendOnly);
    }

    #[test]
    fn kill_switch_pauses_and_resumes() {
        let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
        let mut k = KillSwitch::default();
        assert_eq!(k.resume("ann", now), Err(KillSwitchError::NotPaused));
        assert_eq!(k.pause("ann", " ", now), Err(KillSwitchError::NoReason));
        let e = k.pause("ann", "supplier fraud alert", now).unwrap();
        k.apply(&e);
        assert!(k.is_paused());
        assert_eq!(
            k.pause("bob", "again", now),
            Err(KillSwitchError::AlreadyPaused("ann".into()))
        );
        let e = k.resume("bob", now).unwrap();
        k.apply(&e);
        assert_eq!(k, KillSwitch::Running);
    }
}
