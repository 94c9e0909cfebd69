//! Writes the default synthetic enterprise's `suppliers.csv`, `contracts.csv` and
//! `spend.csv` into a directory, for `accord quickstart DIR` or `accord import`.
//!
//! `cargo run --release -p accord-sim --example write_csv -- DIR [SEED]`

use std::path::PathBuf;

use accord_sim::{Enterprise, EnterpriseConfig, export};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: write_csv DIR [SEED]")?);
    let seed = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1);
    let enterprise = Enterprise::generate(&EnterpriseConfig::default(), seed)?;
    export::write_dir(&enterprise, &dir)?;
    println!(
        "wrote {} suppliers, {} contracts, {} spend lines to {}",
        enterprise.suppliers.len(),
        enterprise.contracts.len(),
        enterprise.spend.len(),
        dir.display()
    );
    Ok(())
}
