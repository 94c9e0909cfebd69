//! The synthetic enterprise: suppliers across regions with skewed sizes and heavy-tailed
//! spend, a catalogue of categories and SKUs, a year of spend lines and some active
//! contracts, all drawn from one seed.
//!
//! Spend per supplier is log-normal around a median that grows with the size class, so a
//! few suppliers carry most of the money and the bottom fifth of the spend spreads over
//! most suppliers: the tail a campaign works on. Prices are drawn per supplier around a
//! EUR catalogue, converted with the region's rate and price level.

use accord_core::document::{Contract, ContractPrice, ContractTerms, SpendLine};
use accord_core::id::{ContractId, SpendLineId, SupplierId};
use accord_core::lifecycle::ContractState;
use accord_core::party::BankDetails;
use accord_core::{
    CategoryCode, Currency, FxTable, Money, RegionCode, RiskTier, SizeClass, Supplier,
    SupplierStatus,
};
use chrono::{Days, Months, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::SimError;
use crate::draw::{lognormal, weighted};
use crate::persona::{self, SupplierPersona};

/// A region's currency, price level, payment customs and legal caps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegionProfile {
    pub code: RegionCode,
    pub currency: Currency,
    /// Share of suppliers in this region (relative weight).
    pub weight: f64,
    /// Units of the local currency per EUR: the reporting rate.
    pub eur_rate: Decimal,
    /// Local price level relative to the EUR catalogue after conversion.
    pub price_level: Decimal,
    /// Today's payment terms in days and how common each is (multiples of 15).
    pub payment_days: Vec<(u32, f64)>,
    /// Legal cap on payment days for micro and small suppliers.
    pub max_payment_days_small: u32,
    /// Legal or customary cap on payment days for everyone else.
    pub max_payment_days: u32,
    /// IBAN country prefix with check digits (`FR76`), where suppliers have IBANs.
    pub iban_prefix: Option<String>,
}

impl RegionProfile {
    /// France (EUR; LME caps payment at 60 days), India (INR; the MSMED Act caps micro
    /// and small suppliers at 45 days) and the United States (USD; no statutory cap, 120
    /// days used as the customary ceiling).
    pub fn defaults() -> Vec<RegionProfile> {
        let code = |s: &str| RegionCode::parse(s).expect("static region code");
        vec![
            RegionProfile {
                code: code("FR"),
                currency: Currency::EUR,
                weight: 0.45,
                eur_rate: Decimal::ONE,
                price_level: Decimal::ONE,
                payment_days: vec![(30, 0.45), (45, 0.30), (60, 0.25)],
                max_payment_days_small: 60,
                max_payment_days: 60,
                iban_prefix: Some("FR76".into()),
            },
            RegionProfile {
                code: code("IN"),
                currency: Currency::INR,
                weight: 0.20,
                eur_rate: Decimal::from(90),
                price_level: Decimal::new(55, 2),
                payment_days: vec![(15, 0.15), (30, 0.45), (45, 0.40)],
                max_payment_days_small: 45,
                max_payment_days: 90,
                iban_prefix: None,
            },
            RegionProfile {
                code: code("US"),
                currency: Currency::USD,
                weight: 0.35,
                eur_rate: Decimal::new(108, 2),
                price_level: Decimal::ONE,
                payment_days: vec![(15, 0.10), (30, 0.60), (45, 0.15), (60, 0.15)],
                max_payment_days_small: 120,
                max_payment_days: 120,
                iban_prefix: None,
            },
        ]
    }

    /// The legal ceiling on payment days for a supplier of `size` here.
    pub fn payment_cap(&self, size: SizeClass) -> u32 {
        match size {
            SizeClass::Micro | SizeClass::Small => self.max_payment_days_small,
            SizeClass::Medium | SizeClass::Large => self.max_payment_days,
        }
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnterpriseConfig {
    pub suppliers: usize,
    /// Spend lines over the year before `as_of`; at least one per supplier.
    pub spend_lines: usize,
    pub regions: Vec<RegionProfile>,
    /// The simulation's "today": spend runs up to the day before, contracts are active on it.
    pub as_of: NaiveDate,
    /// Share of suppliers with an active contract (more for larger suppliers).
    pub contract_share: f64,
    /// Share of contracts that expire within 90 days of `as_of`.
    pub expiring_share: f64,
    /// Log-space spread of annual spend within a size class.
    pub spend_sigma: f64,
}

impl Default for EnterpriseConfig {
    fn default() -> EnterpriseConfig {
        EnterpriseConfig {
            suppliers: 2_000,
            spend_lines: 100_000,
            regions: RegionProfile::defaults(),
            as_of: NaiveDate::from_ymd_opt(2026, 10, 1).expect("static date"),
            contract_share: 0.25,
            expiring_share: 0.3,
            spend_sigma: 1.2,
        }
    }
}

/// One catalogue SKU and its price from this supplier today.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PricedSku {
    pub sku: String,
    pub description: String,
    pub price: Money,
}

/// A generated supplier with what the simulation knows about it publicly.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimSupplier {
    pub supplier: Supplier,
    /// Index into `Enterprise::regions`.
    pub region: usize,
    pub currency: Currency,
    pub category: CategoryCode,
    /// The SKUs bought from it, main one first, at today's prices.
    pub skus: Vec<PricedSku>,
    /// Today's lead time in days.
    pub lead_time_days: u32,
    /// Sum of its spend lines over the year.
    pub annual_spend: Money,
    /// Index into `Enterprise::contracts`, when it has one.
    pub contract: Option<usize>,
}

impl SimSupplier {
    /// Today's payment terms (always set by the generator).
    pub fn payment_days(&self) -> u32 {
        self.supplier.payment_days.unwrap_or(30)
    }
}

/// A contract and the index of its supplier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimContract {
    pub supplier: usize,
    pub contract: Contract,
}

/// A spend line and the index of its supplier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimSpendLine {
    pub supplier: usize,
    pub line: SpendLine,
}

/// A generated enterprise: public master data and spend, plus each supplier's hidden
/// persona (same index as `suppliers`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Enterprise {
    pub as_of: NaiveDate,
    pub seed: u64,
    pub regions: Vec<RegionProfile>,
    pub suppliers: Vec<SimSupplier>,
    pub contracts: Vec<SimContract>,
    /// Sorted by date, then supplier.
    pub spend: Vec<SimSpendLine>,
    pub personas: Vec<SupplierPersona>,
}

struct CatalogueItem {
    sku: &'static str,
    description: &'static str,
    /// EUR cents.
    price: i64,
}

const CATALOGUE: &[(&str, &[CatalogueItem])] = {
    macro_rules! items {
        ($(($sku:literal, $d:literal, $p:literal)),* $(,)?) => {
            &[$(CatalogueItem { sku: $sku, description: $d, price: $p }),*]
        };
    }
    &[
        (
            "office-supplies",
            items![
                ("PAPER-A4", "A4 paper 80g (box)", 420),
                ("TONER-K", "Black toner cartridge", 6100),
                ("PEN-BL", "Ballpoint pen, blue", 45)
            ],
        ),
        (
            "cleaning",
            items![
                ("CLN-DET", "Floor detergent 5 l", 1290),
                ("CLN-GLV", "Nitrile gloves (100)", 850),
                ("CLN-TWL", "Paper towels (case)", 2400)
            ],
        ),
        (
            "packaging",
            items![
                ("PKG-BOX", "Shipping carton 40x30x30", 110),
                ("PKG-TAPE", "Packing tape 66 m", 230),
                ("PKG-PAL", "Wooden pallet EPAL", 1400)
            ],
        ),
        (
            "it-hardware",
            items![
                ("IT-KB", "USB keyboard", 2400),
                ("IT-MON", "24-inch monitor", 18000),
                ("IT-CBL", "Network cable 3 m", 650)
            ],
        ),
        (
            "mro",
            items![
                ("MRO-BRG", "Ball bearing 6205", 1750),
                ("MRO-FLT", "Hydraulic filter", 980),
                ("MRO-LUB", "Lubricant 5 l", 2200)
            ],
        ),
        (
            "facilities",
            items![
                ("FAC-LMP", "LED tube lamp", 740),
                ("FAC-HVAC", "HVAC service visit", 22000),
                ("FAC-LCK", "Door lock cylinder", 3900)
            ],
        ),
        (
            "catering",
            items![
                ("CAT-COF", "Coffee beans 1 kg", 1850),
                ("CAT-WAT", "Mineral water 1.5 l", 60),
                ("CAT-SNK", "Snack box", 1200)
            ],
        ),
        (
            "logistics",
            items![
                ("LOG-PLT", "Pallet shipment, domestic", 8500),
                ("LOG-PCL", "Parcel, next day", 900)
            ],
        ),
        (
            "marketing",
            items![
                ("MKT-PRN", "Printed brochures (100)", 4500),
                ("MKT-GFT", "Branded promotional item", 320)
            ],
        ),
        (
            "safety",
            items![
                ("SAF-HLM", "Safety helmet", 1450),
                ("SAF-VST", "High-visibility vest", 480),
                ("SAF-BOOT", "Safety boots S3", 5600)
            ],
        ),
        (
            "lab-supplies",
            items![
                ("LAB-TIP", "Pipette tips (960)", 3200),
                ("LAB-GLV", "Lab gloves (100)", 920)
            ],
        ),
        (
            "professional-services",
            items![
                ("PS-HOUR", "Consulting hour", 9500),
                ("PS-TRN", "Training day", 85000)
            ],
        ),
    ]
};

const SIZES: [(SizeClass, f64, f64); 4] = [
    // (size, share of suppliers, median annual spend in EUR)
    (SizeClass::Micro, 0.45, 4_000.0),
    (SizeClass::Small, 0.33, 15_000.0),
    (SizeClass::Medium, 0.16, 60_000.0),
    (SizeClass::Large, 0.06, 250_000.0),
];

fn name(rng: &mut impl Rng, region: &str) -> String {
    let pick = |rng: &mut dyn rand::RngCore, xs: &[&str]| -> String {
        xs[rng.random_range(0..xs.len())].to_owned()
    };
    match region {
        "FR" => format!(
            "{} {} {}",
            pick(
                rng,
                &["Atelier", "Maison", "Groupe", "Ets", "Société", "Comptoir"]
            ),
            pick(
                rng,
                &[
                    "Dupont", "Martin", "Bernard", "Moreau", "Laurent", "Lefèvre", "Roux",
                    "Fournier", "Girard", "Bonnet"
                ]
            ),
            pick(rng, &["SARL", "SAS", "SA", "EURL"])
        ),
        "IN" => format!(
            "{} {} {}",
            pick(
                rng,
                &["Shree", "Sai", "Om", "Bharat", "Ganesh", "Laxmi", "Deccan"]
            ),
            pick(
                rng,
                &[
                    "Traders",
                    "Enterprises",
                    "Industries",
                    "Suppliers",
                    "Agencies",
                    "Packaging"
                ]
            ),
            pick(rng, &["Pvt Ltd", "LLP", "Ltd"])
        ),
        _ => format!(
            "{} {} {}",
            pick(
                rng,
                &[
                    "Summit",
                    "Prairie",
                    "Liberty",
                    "Keystone",
                    "Harbor",
                    "Pioneer",
                    "Granite",
                    "Evergreen"
                ]
            ),
            pick(
                rng,
                &[
                    "Supply",
                    "Industrial",
                    "Services",
                    "Products",
                    "Distributors"
                ]
            ),
            pick(rng, &["LLC", "Inc.", "Co."])
        ),
    }
}

fn digits(rng: &mut impl Rng, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

impl Enterprise {
    /// Generates an enterprise. The same configuration and seed give the same enterprise.
    pub fn generate(config: &EnterpriseConfig, seed: u64) -> Result<Enterprise, SimError> {
        validate(config)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let millis = config
            .as_of
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis().max(0) as u64);
        let region_weights: Vec<f64> = config.regions.iter().map(|r| r.weight).collect();
        let size_weights: Vec<f64> = SIZES.iter().map(|s| s.1).collect();

        // Suppliers and the spend each is meant to have (EUR, before drawing lines).
        let mut suppliers = Vec::with_capacity(config.suppliers);
        let mut targets = Vec::with_capacity(config.suppliers);
        for i in 0..config.suppliers {
            let r = weighted(&mut rng, &region_weights);
            let region = &config.regions[r];
            let (size, _, median) = SIZES[weighted(&mut rng, &size_weights)];
            let status = [
                SupplierStatus::Active,
                SupplierStatus::Onboarding,
                SupplierStatus::Inactive,
                SupplierStatus::Blocked,
            ][weighted(&mut rng, &[0.955, 0.02, 0.02, 0.005])];
            let risk = [RiskTier::Low, RiskTier::Medium, RiskTier::High]
                [weighted(&mut rng, &[0.8, 0.15, 0.05])];
            let days_weights: Vec<f64> = region.payment_days.iter().map(|d| d.1).collect();
            let payment_days = region.payment_days[weighted(&mut rng, &days_weights)].0;
            let bank = region.iban_prefix.as_ref().map(|p| BankDetails {
                iban: format!("{p}{}", digits(&mut rng, 23)),
                bic: None,
            });
            let supplier = Supplier {
                id: SupplierId::from_parts(millis, rng.random()),
                external_ref: format!("S-{:05}", i + 1),
                name: name(&mut rng, region.code.as_str()),
                region: region.code.clone(),
                size,
                status,
                risk,
                bank,
                payment_days: Some(payment_days),
            };
            let (category, items) = CATALOGUE[rng.random_range(0..CATALOGUE.len())];
            let n = rng.random_range(1..=items.len().min(3));
            let first = rng.random_range(0..items.len());
            let mut skus = Vec::with_capacity(n);
            for j in 0..n {
                let item = &items[(first + j) % items.len()];
                let factor = Decimal::new(rng.random_range(850..=1200), 3)
                    * region.eur_rate
                    * region.price_level
                    * Decimal::from(10i64.pow(region.currency.minor_digits()))
                    / Decimal::ONE_HUNDRED;
                let price = Money::new(item.price, region.currency).scale(factor)?;
                skus.push(PricedSku {
                    sku: item.sku.to_owned(),
                    description: item.description.to_owned(),
                    price: Money::new(price.minor.max(1), region.currency),
                });
            }
            let lead_time_days = [7, 14, 21, 28][weighted(&mut rng, &[0.3, 0.35, 0.2, 0.15])];
            targets.push(lognormal(&mut rng, median, config.spend_sigma));
            suppliers.push(SimSupplier {
                supplier,
                region: r,
                currency: region.currency,
                category: CategoryCode::parse(category).expect("static category"),
                skus,
                lead_time_days,
                annual_spend: Money::zero(region.currency),
                contract: None,
            });
        }

        let spend = spend_lines(config, &mut rng, &mut suppliers, &targets, millis)?;
        let contracts = contracts(config, &mut rng, &mut suppliers, millis);
        let personas = persona::population(&suppliers, seed)?;
        Ok(Enterprise {
            as_of: config.as_of,
            seed,
            regions: config.regions.clone(),
            suppliers,
            contracts,
            spend,
            personas,
        })
    }

    /// Reporting rates: units of each region's currency per EUR.
    pub fn fx(&self) -> FxTable {
        let mut fx = FxTable::new(Currency::EUR);
        for r in &self.regions {
            // INVARIANT: validated positive in `validate`.
            fx.set(r.currency, r.eur_rate).expect("positive rate");
        }
        fx
    }

    /// The region profile of supplier `i`.
    pub fn region_of(&self, i: usize) -> &RegionProfile {
        &self.regions[self.suppliers[i].region]
    }
}

fn validate(config: &EnterpriseConfig) -> Result<(), SimError> {
    let bad = |why: &str| Err(SimError::Config(why.to_owned()));
    if config.suppliers == 0 {
        return bad("at least one supplier is needed");
    }
    if config.spend_lines < config.suppliers {
        return bad("spend_lines must be at least the number of suppliers");
    }
    if config.regions.is_empty() {
        return bad("at least one region is needed");
    }
    for r in &config.regions {
        if !r.weight.is_finite()
            || r.weight <= 0.0
            || r.eur_rate <= Decimal::ZERO
            || r.price_level <= Decimal::ZERO
        {
            return bad("region weights, rates and price levels must be positive");
        }
        if r.payment_days.is_empty() || r.payment_days.iter().any(|d| d.0 % 15 != 0 || d.0 == 0) {
            return bad("payment days must be non-empty positive multiples of 15");
        }
        if r.payment_days
            .iter()
            .any(|d| d.0 > r.max_payment_days_small.min(r.max_payment_days))
        {
            return bad("today's payment days must be within the region's caps");
        }
    }
    if !(0.0..=1.0).contains(&config.contract_share)
        || !(0.0..=1.0).contains(&config.expiring_share)
    {
        return bad("shares must be between 0 and 1");
    }
    Ok(())
}

fn spend_lines(
    config: &EnterpriseConfig,
    rng: &mut ChaCha8Rng,
    suppliers: &mut [SimSupplier],
    targets: &[f64],
    millis: u64,
) -> Result<Vec<SimSpendLine>, SimError> {
    // Lines per supplier: one each, the rest in proportion to the square root of spend,
    // so big suppliers have more but larger lines.
    let weights: Vec<f64> = targets.iter().map(|t| t.sqrt()).collect();
    let total: f64 = weights.iter().sum();
    let rest = config.spend_lines - suppliers.len();
    let mut counts: Vec<usize> = weights
        .iter()
        .map(|w| 1 + (w / total * rest as f64).floor() as usize)
        .collect();
    let mut missing = config.spend_lines - counts.iter().sum::<usize>();
    let (mut i, n) = (0, counts.len());
    while missing > 0 {
        counts[i % n] += 1;
        missing -= 1;
        i += 1;
    }

    let mut lines = Vec::with_capacity(config.spend_lines);
    for (s, supplier) in suppliers.iter_mut().enumerate() {
        let region = &config.regions[supplier.region];
        let scale = (region.eur_rate * region.price_level)
            .to_f64()
            .unwrap_or(1.0)
            * 10f64.powi(region.currency.minor_digits() as i32);
        let per_line = targets[s] * scale / counts[s] as f64;
        let sku_weights = [0.6, 0.25, 0.15];
        let mut sum = Money::zero(supplier.currency);
        for _ in 0..counts[s] {
            let k = weighted(rng, &sku_weights[..supplier.skus.len()]);
            let sku = &supplier.skus[k];
            let want = lognormal(rng, per_line, 0.5);
            let quantity = ((want / sku.price.minor as f64).round() as i64).clamp(1, 1_000_000);
            let amount = sku.price.checked_mul(quantity)?;
            sum = sum.checked_add(amount)?;
            let back = rng.random_range(1..=365u64);
            let date = config.as_of - Days::new(back);
            lines.push(SimSpendLine {
                supplier: s,
                line: SpendLine {
                    id: SpendLineId::from_parts(millis, rng.random()),
                    external_ref: String::new(),
                    supplier: supplier.supplier.id,
                    category: supplier.category.clone(),
                    sku: Some(sku.sku.clone()),
                    description: sku.description.clone(),
                    quantity: Decimal::from(quantity),
                    amount,
                    date,
                },
            });
        }
        supplier.annual_spend = sum;
    }
    // A stable sort keeps generation order among lines of one day and supplier.
    lines.sort_by_key(|l| (l.line.date, l.supplier));
    for (n, l) in lines.iter_mut().enumerate() {
        l.line.external_ref = format!("L-{:07}", n + 1);
    }
    Ok(lines)
}

fn contracts(
    config: &EnterpriseConfig,
    rng: &mut ChaCha8Rng,
    suppliers: &mut [SimSupplier],
    millis: u64,
) -> Vec<SimContract> {
    let mut out = Vec::new();
    for (s, supplier) in suppliers.iter_mut().enumerate() {
        let boost = match supplier.supplier.size {
            SizeClass::Micro => 0.6,
            SizeClass::Small => 1.0,
            SizeClass::Medium => 1.6,
            SizeClass::Large => 2.4,
        };
        if rng.random::<f64>() >= (config.contract_share * boost).min(0.9) {
            continue;
        }
        let months = [12u32, 24, 36][rng.random_range(0..3)];
        let left = if rng.random::<f64>() < config.expiring_share {
            rng.random_range(1..=90u64)
        } else {
            rng.random_range(91..=u64::from(months) * 30 - 1)
        };
        let valid_to = config.as_of + Days::new(left);
        let valid_from = (valid_to + Days::new(1))
            .checked_sub_months(Months::new(months))
            .unwrap_or(config.as_of);
        let contract = Contract {
            id: ContractId::from_parts(millis, rng.random()),
            external_ref: format!("C-{:05}", out.len() + 1),
            supplier: supplier.supplier.id,
            category: supplier.category.clone(),
            currency: supplier.currency,
            terms: ContractTerms {
                prices: supplier
                    .skus
                    .iter()
                    .map(|k| ContractPrice {
                        sku: k.sku.clone(),
                        unit_price: k.price,
                    })
                    .collect(),
                payment_days: supplier.payment_days(),
                lead_time_days: supplier.lead_time_days,
                valid_from,
                valid_to,
            },
            state: ContractState::Active,
        };
        supplier.contract = Some(out.len());
        out.push(SimContract {
            supplier: s,
            contract,
        });
    }
    out
}

/// The share of suppliers whose spend lies in the bottom `share` of total spend
/// (suppliers sorted by spend, smallest first), in the reporting currency.
pub fn tail_coverage(enterprise: &Enterprise, share: f64) -> f64 {
    let fx = enterprise.fx();
    let mut spend: Vec<i64> = enterprise
        .suppliers
        .iter()
        .map(|s| {
            fx.convert(s.annual_spend, Currency::EUR)
                .map_or(0, |m| m.minor)
        })
        .collect();
    spend.sort_unstable();
    let total: i64 = spend.iter().sum();
    let mut acc = 0i64;
    let mut n = 0usize;
    for x in spend {
        if (acc + x) as f64 > share * total as f64 {
            break;
        }
        acc += x;
        n += 1;
    }
    n as f64 / enterprise.suppliers.len() as f64
}
