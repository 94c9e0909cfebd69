//! Building one negotiation from a supplier's current terms: the BATNA (today's average
//! unit price, payment days and lead time), the annual volume, the campaign template's
//! bounds and the region's legal cap on payment days.
//!
//! Price is negotiated as the supplier's average unit price over its spend lines; an
//! agreed change applies in the same ratio to every item it sells.

use accord_core::deal::{Buyer, Terms};
use accord_core::id::{CampaignId, NegotiationId};
use accord_core::negotiation::{Campaign, NegotiationSpec};
use accord_core::{CategoryCode, Currency, Money};
use accord_negotiate::procurement::campaign_bounds;
use accord_policy::{BuyerKind, PaymentBasis, RegionRules};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::AgentError;
use crate::tail::TailPick;

/// Payment days on offer where no law caps them (the United States).
pub const UNCAPPED_PAYMENT_DAYS: i64 = 90;
/// Lead time assumed when no contract states one.
pub const DEFAULT_LEAD_TIME_DAYS: i64 = 14;
pub const DEFAULT_PAYMENT_DAYS: i64 = 30;

/// SHA-256 of a bearer token, hex: what the log keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new bearer token: 32 random bytes, hex, with a prefix that says what it is.
pub fn new_token(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    format!("acc_sup_{}", hex::encode(bytes))
}

/// The negotiation for `pick` in `campaign`, and the supplier's bearer token.
pub fn spec(
    campaign: &Campaign,
    pick: &TailPick,
    rules: &RegionRules,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Result<(NegotiationSpec, String), AgentError> {
    let t = &campaign.template;
    let s = &pick.supplier;
    let currency = Currency::parse(&pick.spend.currency)
        .map_err(|e| AgentError::Build(format!("supplier {}: {e}", s.external_ref)))?;
    let annual_spend = Money::new(pick.spend.total_minor, currency);
    let volume = pick.spend.quantity.round().max(1.0) as i64;
    let price_minor = ((pick.spend.total_minor as f64 / pick.spend.quantity).round() as i64).max(1);
    let price = Money::new(price_minor, currency);
    let days = pick
        .contract
        .as_ref()
        .map(|c| i64::from(c.terms.payment_days))
        .or(s.payment_days.map(i64::from))
        .unwrap_or(DEFAULT_PAYMENT_DAYS);
    let today_lead = pick
        .contract
        .as_ref()
        .map(|c| i64::from(c.terms.lead_time_days))
        .unwrap_or(DEFAULT_LEAD_TIME_DAYS);

    let cap = rules
        .payment_cap(&s.region, s.size, BuyerKind::Private)
        .map_err(|e| AgentError::Build(format!("supplier {}: {e}", s.external_ref)))?
        .days(PaymentBasis::InvoiceDate)
        .map_or(UNCAPPED_PAYMENT_DAYS, i64::from);
    let bounds = campaign_bounds(t, price, days, cap, today_lead);
    let buyer = Buyer {
        batna: Terms {
            price,
            payment_days: days,
            lead_time_days: today_lead,
            contract_months: t.contract_months.first().copied().unwrap_or(12),
            early_payment: None,
        },
        annual_volume: volume,
        cost_of_capital: t.cost_of_capital,
        lead_time_cost_per_day: annual_spend
            .scale(t.lead_time_cost_rate)
            .map_err(|e| AgentError::Build(e.to_string()))?,
    };
    let token = new_token(rng);
    let id = NegotiationId::new();
    let spec = NegotiationSpec {
        id,
        campaign: campaign.id,
        supplier: s.id,
        supplier_ref: s.external_ref.clone(),
        supplier_name: s.name.clone(),
        region: s.region.clone(),
        size: s.size,
        risk: s.risk,
        category: pick
            .contract
            .as_ref()
            .map(|c| c.category.clone())
            .unwrap_or_else(|| CategoryCode::parse("tail").expect("valid category code")),
        bounds,
        buyer,
        annual_spend,
        rounds: t.rounds,
        meso: t.meso,
        seed: negotiation_seed(campaign.id, campaign.seed, &s.external_ref),
        token_hash: token_hash(&token),
        opened_at: now,
        expires_at: now + Duration::hours(i64::from(t.open_hours)),
        mandate: t.mandate.clone(),
    };
    Ok((spec, token))
}

/// A negotiation's agent seed: fixed by the campaign's seed and the supplier, so a
/// campaign replays exactly.
fn negotiation_seed(campaign: CampaignId, seed: u64, supplier_ref: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(campaign.to_string())
        .chain_update(seed.to_le_bytes())
        .chain_update(supplier_ref.as_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}
