//! Choosing a campaign's tail: the suppliers that together make up the bottom share of
//! spend, with no contract in force or one that ends soon, in the chosen categories and
//! regions.

use accord_core::document::Contract;
use accord_core::lifecycle::ContractState;
use accord_core::negotiation::TailRule;
use accord_core::{Currency, FxTable, Money, Supplier, SupplierStatus};
use accord_store::{Store, SupplierSpend};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::error::AgentError;

/// One supplier the campaign will approach.
#[derive(Clone, Debug)]
pub struct TailPick {
    pub supplier: Supplier,
    pub spend: SupplierSpend,
    /// Its contract in force today, if any (ending within the rule's window).
    pub contract: Option<Contract>,
}

/// The suppliers `rule` selects on `today`, smallest spend first. Spend in different
/// currencies is ranked in `fx`'s base currency.
pub async fn select<S: Store>(
    store: &S,
    rule: &TailRule,
    fx: &FxTable,
    today: NaiveDate,
) -> Result<Vec<TailPick>, AgentError> {
    if rule.bottom_share <= Decimal::ZERO || rule.bottom_share > Decimal::ONE {
        return Err(AgentError::Invalid(format!(
            "bottom_share must be in (0, 1], not {}",
            rule.bottom_share
        )));
    }
    let base = fx.base;
    let mut rows: Vec<(Money, SupplierSpend)> = Vec::new();
    for s in store.spend_by_supplier(u32::MAX).await? {
        let currency = Currency::parse(&s.currency)
            .map_err(|e| AgentError::Invalid(format!("spend currency: {e}")))?;
        let in_base = fx
            .convert(Money::new(s.total_minor, currency), base)
            .map_err(|e| AgentError::Invalid(format!("no FX rate for {currency}: {e}")))?;
        rows.push((in_base, s));
    }
    let total: i128 = rows.iter().map(|(m, _)| i128::from(m.minor)).sum();
    // Smallest first; ties by supplier id so the choice is reproducible.
    rows.sort_by(|a, b| {
        a.0.minor
            .cmp(&b.0.minor)
            .then(a.1.supplier.cmp(&b.1.supplier))
    });
    let limit = Decimal::from_i128_with_scale(total, 0) * rule.bottom_share;
    let mut running = Decimal::ZERO;
    let mut picks = Vec::new();
    for (in_base, spend) in rows {
        running += Decimal::from(in_base.minor);
        if running > limit {
            break;
        }
        if rule
            .max_suppliers
            .is_some_and(|m| picks.len() >= m as usize)
        {
            break;
        }
        let Some(supplier) = store.supplier(spend.supplier).await? else {
            continue;
        };
        if supplier.status != SupplierStatus::Active
            || (!rule.regions.is_empty() && !rule.regions.contains(&supplier.region))
            || spend.quantity <= 0.0
        {
            continue;
        }
        let contracts = store.contracts_of_supplier(supplier.id).await?;
        if !rule.categories.is_empty()
            && !contracts
                .iter()
                .any(|c| rule.categories.contains(&c.category))
            && !contracts.is_empty()
        {
            continue;
        }
        let in_force = contracts
            .into_iter()
            .filter(|c| c.state == ContractState::Active && c.is_active_on(today))
            .max_by_key(|c| c.terms.valid_to);
        if let Some(c) = &in_force {
            let days_left = (c.terms.valid_to - today).num_days();
            if days_left > i64::from(rule.expiring_within_days) {
                continue;
            }
        }
        picks.push(TailPick {
            supplier,
            spend,
            contract: in_force,
        });
    }
    Ok(picks)
}
