//! Conformance on the 10 ANAC Genius domains: outcome counts and Nash points under both
//! disagreement conventions.

use std::path::Path;

use accord_negotiate::load::load_domain_dir;
use accord_negotiate::{Disagreement, Scenario};

use crate::GENIUS;

fn scenario(name: &str) -> Scenario {
    load_domain_dir(&Path::new(GENIUS).join(name)).unwrap()
}

fn check(name: &str, outcomes: u64, nash: [f64; 2]) {
    let s = scenario(name);
    assert_eq!(s.outcomes(), outcomes, "{name} outcomes");
    let got = s.stats.nash.unwrap().u;
    assert!(
        (got[0] - nash[0]).abs() <= 0.001 && (got[1] - nash[1]).abs() <= 0.001,
        "{name}: nash {got:?} != {nash:?}"
    );
}

#[test]
fn anac_domains() {
    check("Laptop", 27, [1.000, 0.815]);
    check("ItexvsCypress", 180, [0.670, 0.721]);
    check("Grocery", 1_600, [0.840, 0.895]);
    check("Camera", 3_600, [0.815, 0.881]);
    check("Amsterdam", 3_024, [0.830, 0.856]);
    check("Wholesaler", 56_700, [0.775, 0.790]);
    check("EnglandZimbabwe", 576, [0.911, 0.733]);
    check("IS_BT_Acquisition", 384, [0.897, 0.940]);
    check("Barter", 80, [0.654, 0.650]);
    check("SmartGridClockWork", 100, [0.833, 0.894]);
}

#[test]
fn negmas_disagreement_convention() {
    let s = scenario("IS_BT_Acquisition");
    let got = s.analyse(Disagreement::ReservationOrWorst).nash.unwrap().u;
    assert!(
        (got[0] - 0.964).abs() <= 0.001 && (got[1] - 0.873).abs() <= 0.001,
        "{got:?}"
    );
}
