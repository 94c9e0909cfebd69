//! Supplier personas: each supplier's hidden economics (unit cost, margin floor, cost of
//! capital, capacity, lead-time and contract-length preferences), its negotiation style,
//! how long it takes to answer and how likely it is never to answer; and the money-valued
//! negotiation a persona and the buyer's template make together.
//!
//! Valuation is accord-negotiate's `procurement` module: a persona becomes a
//! `procurement::Supplier`, the template and today's terms a `procurement::Buyer`, and the
//! engine tabulates both into a `Scenario`. Nothing here re-implements a utility.

use accord_core::{Money, SizeClass};
use accord_negotiate::procurement::{self, Buyer, ProcurementSpace, Terms, campaign_bounds};
use accord_negotiate::strategy::{Context, Strategy};
use accord_negotiate::utility::UtilityTable;
use accord_negotiate::{AgentKind, Scenario};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::SimError;
use crate::draw::{lognormal, uniform, weighted};
use crate::enterprise::{RegionProfile, SimSupplier};

/// How long a supplier takes to answer one move: log-normal in minutes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ResponseDelay {
    pub median_minutes: f64,
    /// Log-space spread.
    pub sigma: f64,
}

impl ResponseDelay {
    /// One answer's delay in minutes.
    pub fn sample_minutes(&self, rng: &mut impl Rng) -> f64 {
        lognormal(rng, self.median_minutes, self.sigma)
    }
}

/// A supplier's hidden side. Money is in the supplier's currency, per unit of its main
/// SKU (the campaign negotiates a price for the supplier's basket expressed on that SKU).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SupplierPersona {
    /// The strategy its bot or its people negotiate with.
    pub style: AgentKind,
    pub unit_cost: Money,
    /// Lowest acceptable margin on cost over the contract.
    pub margin_floor: Decimal,
    /// Annual rate; higher for micro and small suppliers, so they value early cash.
    pub cost_of_capital: Decimal,
    /// Units of the main SKU it can deliver in a year.
    pub capacity: i64,
    /// Lead time it delivers in without extra cost.
    pub usual_lead_time_days: i64,
    /// Yearly cost of each day faster than usual (higher near capacity).
    pub rush_cost_per_day: Money,
    /// Yearly value of each committed contract month; negative for suppliers that
    /// dislike long commitments.
    pub value_per_contract_month: Money,
    pub delay: ResponseDelay,
    /// Probability it never answers the campaign.
    pub silence: f64,
}

/// Styles and how common each is among suppliers: mostly people following simple
/// concession habits, some tit-for-tat, a few with their own capable bots.
const STYLES: [(AgentKind, f64); 6] = [
    (AgentKind::Boulware, 0.25),
    (AgentKind::Linear, 0.22),
    (AgentKind::Conceder, 0.26),
    (AgentKind::TitForTat, 0.15),
    (AgentKind::Micro, 0.04),
    (AgentKind::Accord, 0.08),
];

/// Share of suppliers whose margin floor sits above today's margin: no zone of
/// agreement on price, so only other terms can make a deal.
const UNDERWATER_SHARE: f64 = 0.08;

fn dec(x: f64) -> Decimal {
    // Four decimals are ample for rates and shares drawn from a distribution.
    Decimal::new((x * 10_000.0).round() as i64, 4)
}

/// Units of the main SKU that make up a year's spend (at least one).
pub fn annual_volume(supplier: &SimSupplier) -> i64 {
    let price = supplier.skus[0].price.minor.max(1);
    ((supplier.annual_spend.minor + price / 2) / price).max(1)
}

impl SupplierPersona {
    /// Draws a persona for `supplier`.
    pub fn draw(supplier: &SimSupplier, rng: &mut impl Rng) -> Result<SupplierPersona, SimError> {
        let size = supplier.supplier.size;
        let price = supplier.skus[0].price;
        let volume = annual_volume(supplier);
        let (margin, coc, median_delay, silence, certainty) = match size {
            SizeClass::Micro => ((0.06, 0.22), (0.12, 0.22), 240.0, 0.14, 1.6),
            SizeClass::Small => ((0.07, 0.24), (0.08, 0.14), 150.0, 0.10, 1.3),
            SizeClass::Medium => ((0.08, 0.26), (0.05, 0.09), 90.0, 0.07, 1.0),
            SizeClass::Large => ((0.10, 0.28), (0.03, 0.06), 45.0, 0.05, 0.7),
        };
        let margin = uniform(rng, margin.0, margin.1);
        let unit_cost = price.scale(dec(1.0 - margin))?;
        let today_margin_on_cost = margin / (1.0 - margin);
        let margin_floor = if rng.random::<f64>() < UNDERWATER_SHARE {
            today_margin_on_cost + uniform(rng, 0.01, 0.05)
        } else {
            uniform(rng, 0.35, 0.9) * today_margin_on_cost
        };
        let capacity = ((volume as f64) * uniform(rng, 1.05, 2.5)).ceil() as i64;
        let utilisation = volume as f64 / capacity as f64;
        let spend = supplier.annual_spend;
        let rush = spend.scale(dec(uniform(rng, 0.0004, 0.0015) * utilisation / 0.6))?;
        let per_month = spend.scale(dec(uniform(rng, -0.0005, 0.0012) * certainty))?;
        let style = STYLES[weighted(rng, &STYLES.map(|s| s.1))].0;
        let delay = ResponseDelay {
            // A supplier's own bot answers in about a minute.
            median_minutes: if style == AgentKind::Accord {
                1.0
            } else {
                median_delay
            },
            sigma: 1.0,
        };
        Ok(SupplierPersona {
            style,
            unit_cost,
            margin_floor: dec(margin_floor),
            cost_of_capital: dec(uniform(rng, coc.0, coc.1)),
            capacity,
            usual_lead_time_days: i64::from(supplier.lead_time_days),
            rush_cost_per_day: rush,
            value_per_contract_month: per_month,
            delay,
            silence,
        })
    }

    /// The persona as the engine's supplier valuation for a year's `annual_volume`.
    pub fn valuation(&self, annual_volume: i64) -> procurement::Supplier {
        procurement::Supplier {
            unit_cost: self.unit_cost,
            margin_floor: self.margin_floor,
            cost_of_capital: self.cost_of_capital,
            annual_volume,
            usual_lead_time_days: self.usual_lead_time_days,
            rush_cost_per_day: self.rush_cost_per_day,
            value_per_contract_month: self.value_per_contract_month,
        }
    }

    /// The supplier's bot for one negotiation: its style, built on its own side of the
    /// scenario (side 1), seeing only its own utilities.
    pub fn bot(&self, negotiation: &TailNegotiation) -> Box<dyn Strategy> {
        self.style.build(&Context::of(&negotiation.scenario, 1))
    }

    /// The supplier-side utility the engine plays with, on `space`.
    pub fn utility(
        &self,
        space: &ProcurementSpace,
        annual_volume: i64,
    ) -> Result<UtilityTable, SimError> {
        let v = self.valuation(annual_volume);
        Ok(space.utility_table("supplier", |t| v.surplus(t))?)
    }
}

/// Personas for all suppliers, from a stream of its own so that changing personas never
/// changes the enterprise's CSV files.
pub(crate) fn population(
    suppliers: &[SimSupplier],
    seed: u64,
) -> Result<Vec<SupplierPersona>, SimError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_0FBE_750A_5E00);
    suppliers
        .iter()
        .map(|s| SupplierPersona::draw(s, &mut rng))
        .collect()
}

/// The buyer's side of every tail negotiation: the same template a real campaign uses.
pub type BuyerTemplate = accord_core::negotiation::CampaignTemplate;

/// One supplier's negotiation: the space, both valuations in money, and the scenario the
/// strategies play (buyer is side 0, supplier side 1).
#[derive(Clone, Debug)]
pub struct TailNegotiation {
    pub space: ProcurementSpace,
    pub buyer: Buyer,
    pub supplier: procurement::Supplier,
    pub scenario: Scenario,
}

impl TailNegotiation {
    /// Builds the negotiation from the supplier's current terms (the BATNA), its annual
    /// volume, its persona and the buyer's template.
    pub fn build(
        supplier: &SimSupplier,
        region: &RegionProfile,
        persona: &SupplierPersona,
        template: &BuyerTemplate,
    ) -> Result<TailNegotiation, SimError> {
        let price = supplier.skus[0].price;
        let volume = annual_volume(supplier);
        let days = i64::from(supplier.payment_days());
        let today_lead = i64::from(supplier.lead_time_days);
        let cap = i64::from(region.payment_cap(supplier.supplier.size));
        let bounds = campaign_bounds(template, price, days, cap, today_lead);
        let space = ProcurementSpace::new(bounds)?;
        let buyer = Buyer {
            batna: Terms {
                price,
                payment_days: days,
                lead_time_days: today_lead,
                contract_months: template.contract_months.first().copied().unwrap_or(12),
                early_payment: None,
            },
            annual_volume: volume,
            cost_of_capital: template.cost_of_capital,
            lead_time_cost_per_day: supplier.annual_spend.scale(template.lead_time_cost_rate)?,
        };
        let valuation = persona.valuation(volume);
        let scenario = space.scenario(&supplier.supplier.external_ref, &buyer, &valuation)?;
        Ok(TailNegotiation {
            space,
            buyer,
            supplier: valuation,
            scenario,
        })
    }

    /// Whether some outcome leaves both sides at least their reservation value.
    pub fn has_zone(&self) -> bool {
        self.scenario.stats.nash.is_some()
    }
}
