//! An in-process tail-spend campaign: the engine's flagship buys from each supplier's
//! persona, and the outcomes add up to the figures set beside the Walmart–Pactum anchors
//! (close rate, savings in money and percent, change in payment days, time to close).
//!
//! Nothing here decides an outcome: a supplier is silent when its own draw says so, and
//! every other result is the agreement (or not) of a played negotiation. Negotiations run
//! in parallel, each from a seed derived from the campaign seed and the supplier's index,
//! and are collected in supplier order, so one seed gives one report.

use accord_core::{Currency, Money, SupplierStatus, round_minor};
use accord_negotiate::procurement::{BuyerValuation, Terms};
use accord_negotiate::protocol::{Deadline, ProtocolKind};
use accord_negotiate::session::{self, SessionConfig};
use accord_negotiate::strategy::Context;
use accord_negotiate::{AgentKind, Phase};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::SimError;
use crate::enterprise::Enterprise;
use crate::persona::{BuyerTemplate, TailNegotiation};

/// What to run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CampaignConfig {
    /// Approach the first `n` active suppliers (all active suppliers when `None`).
    pub suppliers: Option<usize>,
    pub seed: u64,
    pub template: BuyerTemplate,
    /// The buyer's strategy (the flagship by default).
    pub buyer: AgentKind,
}

impl Default for CampaignConfig {
    fn default() -> CampaignConfig {
        CampaignConfig {
            suppliers: None,
            seed: 1,
            template: BuyerTemplate::default(),
            buyer: AgentKind::Accord,
        }
    }
}

/// How one supplier's negotiation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Deal,
    /// It answered but no deal was struck.
    NoDeal,
    /// It never answered.
    NoResponse,
}

/// One supplier's result. Money is in the supplier's currency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupplierResult {
    pub supplier: usize,
    pub supplier_ref: String,
    pub size: accord_core::SizeClass,
    pub style: AgentKind,
    pub outcome: Outcome,
    /// Whether any outcome was acceptable to both sides.
    pub zone: bool,
    pub rounds: u32,
    /// Simulated hours from the first offer to the end (the supplier's answer delays).
    pub hours: f64,
    pub batna: Terms,
    pub agreed: Option<Terms>,
    /// Yearly spend at today's terms (today's price times the annual volume).
    pub batna_spend: Money,
    /// Yearly spend saved by price and early-payment discount (zero without a deal).
    pub spend_saving: Money,
    /// Yearly saving by the buyer's own valuation (price, financing, lead time).
    pub value: Money,
    /// The supplier's surplus over its margin floor, over the contract.
    pub supplier_surplus: Money,
    /// Effective payment days (the early-payment window when a discount is taken) less
    /// today's.
    pub payment_days_change: i64,
    /// An illegal move by either strategy, which ended the session (should never happen).
    pub fault: Option<String>,
    /// How an unsuccessful session ended (`round_limit`, `walkaway`), for diagnosis.
    pub ended: Option<String>,
}

/// Figures for a group of suppliers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    pub approached: usize,
    pub responded: usize,
    pub closed: usize,
    /// Deals over suppliers approached.
    pub close_rate: f64,
    /// Answered, had a zone of agreement, no deal: a person should look.
    pub escalations: usize,
    /// Answered, but no outcome was acceptable to both.
    pub no_zone: usize,
    /// Yearly spend of closed deals at today's terms, in EUR.
    pub closed_spend: Money,
    /// Yearly spend saved on closed deals, in EUR.
    pub savings: Money,
    /// Savings over the closed deals' spend at today's terms, in percent.
    pub savings_pct: f64,
    /// Savings over the spend of every supplier approached, in percent.
    pub savings_pct_of_approached: f64,
    /// Yearly value to the buyer including payment terms and lead time, in EUR.
    pub value: Money,
    /// Mean change in effective payment days over closed deals.
    pub avg_payment_days_change: f64,
    /// Deals that took the early-payment discount.
    pub early_payment_deals: usize,
    pub median_rounds_to_close: f64,
    pub median_hours_to_close: f64,
}

/// The campaign's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CampaignReport {
    pub seed: u64,
    pub buyer: AgentKind,
    pub rounds: u32,
    pub reporting_currency: Currency,
    pub total: Figures,
    /// Per size class, micro to large.
    pub by_size: Vec<(accord_core::SizeClass, Figures)>,
    /// Per supplier style.
    pub by_style: Vec<(AgentKind, Figures)>,
    /// The public anchors the figures are set beside: close rate, savings percent,
    /// payment-days change (Walmart with Pactum, first pilot and later).
    pub anchors: Anchors,
    pub results: Vec<SupplierResult>,
}

/// The Walmart–Pactum figures.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Anchors {
    pub close_rate: (f64, f64),
    pub savings_pct: (f64, f64),
    pub payment_days_change: f64,
}

const ANCHORS: Anchors = Anchors {
    close_rate: (0.64, 0.68),
    savings_pct: (1.5, 3.0),
    payment_days_change: 35.0,
};

pub(crate) fn mix(seed: u64, i: u64) -> u64 {
    // SplitMix64 finaliser: well-spread per-supplier seeds.
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs one supplier's negotiation.
pub fn negotiate(
    enterprise: &Enterprise,
    i: usize,
    config: &CampaignConfig,
) -> Result<SupplierResult, SimError> {
    let supplier = &enterprise.suppliers[i];
    let persona = &enterprise.personas[i];
    let n = TailNegotiation::build(supplier, enterprise.region_of(i), persona, &config.template)?;
    let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed, i as u64));
    let batna = n.buyer.batna;
    let volume = Decimal::from(n.buyer.annual_volume);
    let currency = batna.price.currency;
    let batna_spend = Money::new(
        round_minor(Decimal::from(batna.price.minor) * volume)?,
        currency,
    );
    let mut result = SupplierResult {
        supplier: i,
        supplier_ref: supplier.supplier.external_ref.clone(),
        size: supplier.supplier.size,
        style: persona.style,
        outcome: Outcome::NoResponse,
        zone: n.has_zone(),
        rounds: 0,
        hours: 0.0,
        batna,
        agreed: None,
        batna_spend,
        spend_saving: Money::zero(currency),
        value: Money::zero(currency),
        supplier_surplus: Money::zero(currency),
        payment_days_change: 0,
        fault: None,
        ended: None,
    };
    if rng.random::<f64>() < persona.silence {
        return Ok(result);
    }
    let s = &n.scenario;
    let mut a = config.buyer.build(&Context::of(s, 0));
    let mut b = persona.bot(&n);
    let session = SessionConfig {
        kind: ProtocolKind::of(config.template.meso),
        deadline: Deadline {
            rounds: config.template.rounds,
            micros: None,
        },
        seed: rng.random(),
        explain: false,
    };
    let t = session::run(s, a.as_mut(), b.as_mut(), &session, &mut || 0);
    result.rounds = t.rounds;
    result.hours = (0..t.rounds)
        .map(|_| persona.delay.sample_minutes(&mut rng))
        .sum::<f64>()
        / 60.0;
    result.outcome = Outcome::NoDeal;
    result.fault = t
        .fault
        .as_ref()
        .map(|(side, why)| format!("{side:?}: {why}"));
    if let Phase::Ended { reason } = t.phase {
        result.ended = Some(format!("{reason:?}"));
    }
    if let Phase::Agreed { outcome, .. } = t.phase {
        let terms = n.space.terms(outcome);
        let (days, paid) = match terms.early_payment {
            Some(e) => (e.within_days, Decimal::ONE - e.discount),
            None => (terms.payment_days, Decimal::ONE),
        };
        result.outcome = Outcome::Deal;
        result.agreed = Some(terms);
        result.spend_saving = Money::new(
            round_minor(
                (Decimal::from(batna.price.minor) - Decimal::from(terms.price.minor) * paid)
                    * volume,
            )?,
            currency,
        );
        let years = Decimal::from(terms.contract_months) / Decimal::from(12);
        let saving = n.buyer.saving(&terms)?;
        result.value = Money::new(round_minor(Decimal::from(saving.minor) / years)?, currency);
        result.supplier_surplus = n.supplier.surplus(&terms)?;
        result.payment_days_change = days - batna.payment_days;
    }
    Ok(result)
}

/// Runs the campaign over the enterprise's active suppliers.
pub fn run_campaign(
    enterprise: &Enterprise,
    config: &CampaignConfig,
) -> Result<CampaignReport, SimError> {
    let targets: Vec<usize> = enterprise
        .suppliers
        .iter()
        .enumerate()
        .filter(|(_, s)| s.supplier.status == SupplierStatus::Active)
        .map(|(i, _)| i)
        .take(config.suppliers.unwrap_or(usize::MAX))
        .collect();
    let results = targets
        .par_iter()
        .map(|&i| negotiate(enterprise, i, config))
        .collect::<Result<Vec<_>, _>>()?;
    let fx = enterprise.fx();
    let all: Vec<&SupplierResult> = results.iter().collect();
    let total = figures(&all, &fx)?;
    let mut by_size = Vec::new();
    for size in accord_core::SizeClass::ALL {
        let group: Vec<&SupplierResult> = results.iter().filter(|r| r.size == *size).collect();
        by_size.push((*size, figures(&group, &fx)?));
    }
    let mut by_style = Vec::new();
    for style in AgentKind::ALL {
        let group: Vec<&SupplierResult> = results.iter().filter(|r| r.style == style).collect();
        if !group.is_empty() {
            by_style.push((style, figures(&group, &fx)?));
        }
    }
    Ok(CampaignReport {
        seed: config.seed,
        buyer: config.buyer,
        rounds: config.template.rounds,
        reporting_currency: Currency::EUR,
        total,
        by_size,
        by_style,
        anchors: ANCHORS,
        results,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

fn figures(results: &[&SupplierResult], fx: &accord_core::FxTable) -> Result<Figures, SimError> {
    let eur = |m: Money| fx.convert(m, Currency::EUR);
    let deals: Vec<&&SupplierResult> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Deal)
        .collect();
    let sum = |f: &dyn Fn(&SupplierResult) -> Money,
               rs: &mut dyn Iterator<Item = &&SupplierResult>| {
        rs.map(|r| eur(f(r)))
            .try_fold(Money::zero(Currency::EUR), |acc, m| acc.checked_add(m?))
    };
    let approached_spend = sum(&|r| r.batna_spend, &mut results.iter())?;
    let closed_spend = sum(&|r| r.batna_spend, &mut deals.iter().copied())?;
    let savings = sum(&|r| r.spend_saving, &mut deals.iter().copied())?;
    let value = sum(&|r| r.value, &mut deals.iter().copied())?;
    let pct = |a: Money, b: Money| {
        if b.minor == 0 {
            0.0
        } else {
            (Decimal::from(a.minor) * Decimal::ONE_HUNDRED / Decimal::from(b.minor))
                .to_f64()
                .unwrap_or(0.0)
        }
    };
    let closed = deals.len();
    let responded = results
        .iter()
        .filter(|r| r.outcome != Outcome::NoResponse)
        .count();
    Ok(Figures {
        approached: results.len(),
        responded,
        closed,
        close_rate: if results.is_empty() {
            0.0
        } else {
            closed as f64 / results.len() as f64
        },
        escalations: results
            .iter()
            .filter(|r| r.outcome == Outcome::NoDeal && r.zone)
            .count(),
        no_zone: results
            .iter()
            .filter(|r| r.outcome == Outcome::NoDeal && !r.zone)
            .count(),
        closed_spend,
        savings,
        savings_pct: pct(savings, closed_spend),
        savings_pct_of_approached: pct(savings, approached_spend),
        value,
        avg_payment_days_change: if closed == 0 {
            0.0
        } else {
            deals
                .iter()
                .map(|r| r.payment_days_change as f64)
                .sum::<f64>()
                / closed as f64
        },
        early_payment_deals: deals
            .iter()
            .filter(|r| r.agreed.is_some_and(|t| t.early_payment.is_some()))
            .count(),
        median_rounds_to_close: median(deals.iter().map(|r| f64::from(r.rounds)).collect()),
        median_hours_to_close: median(deals.iter().map(|r| r.hours).collect()),
    })
}
