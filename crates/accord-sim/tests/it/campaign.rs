//! The in-process campaign: determinism, hidden floors respected, and not everything
//! closes.

use accord_negotiate::AgentKind;
use accord_sim::{CampaignConfig, Outcome, run_campaign};
use proptest::prelude::*;

use crate::small;

fn config(seed: u64) -> CampaignConfig {
    CampaignConfig {
        seed,
        ..CampaignConfig::default()
    }
}

#[test]
fn same_seed_same_report() {
    let e = small(60, 600, 5);
    let a = serde_json::to_string(&run_campaign(&e, &config(9)).unwrap()).unwrap();
    let b = serde_json::to_string(&run_campaign(&e, &config(9)).unwrap()).unwrap();
    assert_eq!(a, b);
    let c = serde_json::to_string(&run_campaign(&e, &config(10)).unwrap()).unwrap();
    assert_ne!(a, c);
}

/// No deal below the supplier's margin floor, none costing the buyer more than today's
/// terms, and no strategy fault.
fn check_floors(seed: u64, suppliers: usize) {
    let e = small(suppliers, suppliers * 4, seed);
    let report = run_campaign(&e, &config(seed)).unwrap();
    for r in &report.results {
        assert_eq!(r.fault, None, "{}", r.supplier_ref);
        if r.outcome == Outcome::Deal {
            assert!(
                r.supplier_surplus.minor >= 0,
                "{} below floor",
                r.supplier_ref
            );
            assert!(
                r.value.minor >= 0,
                "{} above the buyer's batna",
                r.supplier_ref
            );
            assert!(r.zone);
        } else {
            assert!(r.agreed.is_none());
        }
    }
}

#[test]
fn deals_respect_hidden_floors_and_not_everything_closes() {
    let e = small(150, 1_500, 11);
    let report = run_campaign(&e, &config(11)).unwrap();
    let t = &report.total;
    assert!(t.closed > 0 && t.closed < t.approached, "{t:?}");
    assert!(t.approached > t.responded, "some suppliers never answer");
    assert!(t.no_zone > 0, "some suppliers have no zone of agreement");
    assert_eq!(
        t.approached,
        t.closed + t.escalations + t.no_zone + (t.approached - t.responded)
    );
    assert!(report.by_style.iter().any(|(s, _)| *s != AgentKind::Accord));
    check_floors(11, 150);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]
    #[test]
    fn floors_hold_for_any_seed(seed in any::<u64>()) {
        check_floors(seed, 20);
    }
}
