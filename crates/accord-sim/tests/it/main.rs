//! Integration tests of accord-sim, one module per feature, in one test binary.

mod bot;
mod campaign;
mod enterprise;
mod persona;

use accord_sim::{Enterprise, EnterpriseConfig};

/// A small enterprise for fast tests.
pub fn small(suppliers: usize, lines: usize, seed: u64) -> Enterprise {
    let config = EnterpriseConfig {
        suppliers,
        spend_lines: lines,
        ..EnterpriseConfig::default()
    };
    Enterprise::generate(&config, seed).expect("generate")
}

/// The three CSV files, concatenated.
pub fn csv_bytes(e: &Enterprise) -> [Vec<u8>; 3] {
    let mut s = Vec::new();
    let mut c = Vec::new();
    let mut l = Vec::new();
    accord_sim::export::write_suppliers(e, &mut s).expect("suppliers");
    accord_sim::export::write_contracts(e, &mut c).expect("contracts");
    accord_sim::export::write_spend(e, &mut l).expect("spend");
    [s, c, l]
}
