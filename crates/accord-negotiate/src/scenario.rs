//! A scenario: an outcome space with both parties' tabulated utilities and its one-off
//! analysis, shared (`Arc`) by every negotiation played on it.

use std::sync::Arc;

use crate::analysis::{Disagreement, ScenarioStats};
use crate::space::{OutcomeSpace, ValueTable};
use crate::utility::UtilityTable;

/// A two-party negotiation scenario. Side 0 is party `a`, side 1 is party `b`.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub space: Arc<OutcomeSpace>,
    pub values: Arc<ValueTable>,
    pub tables: [Arc<UtilityTable>; 2],
    /// Analysis with the reservation values as the disagreement point.
    pub stats: Arc<ScenarioStats>,
}

impl Scenario {
    /// Builds a scenario and runs its analysis once.
    pub fn new(
        name: impl Into<String>,
        space: OutcomeSpace,
        a: UtilityTable,
        b: UtilityTable,
    ) -> Scenario {
        let stats = ScenarioStats::new(
            a.utils(),
            b.utils(),
            [a.reservation(), b.reservation()],
            Disagreement::Reservation,
        );
        Scenario {
            name: name.into(),
            values: Arc::new(space.value_table()),
            space: Arc::new(space),
            tables: [Arc::new(a), Arc::new(b)],
            stats: Arc::new(stats),
        }
    }

    /// The same scenario with the two profiles exchanged.
    pub fn swapped(&self) -> Scenario {
        Scenario {
            name: self.name.clone(),
            space: self.space.clone(),
            values: self.values.clone(),
            tables: [self.tables[1].clone(), self.tables[0].clone()],
            stats: Arc::new(self.stats.swapped()),
        }
    }

    /// The same scenario measured under another disagreement convention.
    pub fn with_disagreement(&self, disagreement: Disagreement) -> Scenario {
        Scenario {
            stats: Arc::new(self.analyse(disagreement)),
            ..self.clone()
        }
    }

    /// The analysis under another disagreement convention.
    pub fn analyse(&self, disagreement: Disagreement) -> ScenarioStats {
        let [a, b] = &self.tables;
        ScenarioStats::new(
            a.utils(),
            b.utils(),
            [a.reservation(), b.reservation()],
            disagreement,
        )
    }

    /// Number of outcomes.
    pub fn outcomes(&self) -> u64 {
        self.space.cardinality()
    }
}
