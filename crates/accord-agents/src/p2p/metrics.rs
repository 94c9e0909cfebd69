//! Contract compliance and savings realisation, read from their projections: the
//! `tallies` rows the store adds to with each matched invoice, and the invoice counts per
//! state.

use accord_core::{Currency, Money};
use accord_p2p::compliance::as_money;
use accord_store::{Store, TallyRow};
use rust_decimal::Decimal;
use serde::Serialize;

use super::flow::Result;

/// The figures of one scope (everything, a supplier, a campaign or a contract) in one
/// currency.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct ScopeMetrics {
    /// `all`, `supplier/{id}`, `campaign/{id}` or `contract/{id}`.
    pub scope: String,
    pub currency: String,
    pub invoices: i64,
    pub lines: i64,
    pub compliant_lines: i64,
    /// Compliant lines / all lines; `None` without lines.
    pub compliance_rate: Option<f64>,
    /// Invoices whose due date respects the contract's payment days / invoices checked.
    pub terms_compliance_rate: Option<f64>,
    /// Savings the contracts promised on the volume invoiced.
    pub negotiated_savings: Option<Money>,
    /// Savings the invoices actually show.
    pub realised_savings: Option<Money>,
    /// Realised / negotiated; `None` when nothing was negotiated.
    pub realisation_rate: Option<f64>,
}

impl ScopeMetrics {
    fn of(row: &TallyRow) -> ScopeMetrics {
        let rate = |n: i64, d: i64| (d > 0).then(|| n as f64 / d as f64);
        let money = |micros: i64| {
            let currency = Currency::parse(&row.currency).ok()?;
            as_money(Decimal::new(micros, 6), currency).ok()
        };
        ScopeMetrics {
            scope: row.scope.clone(),
            currency: row.currency.clone(),
            invoices: row.invoices,
            lines: row.lines,
            compliant_lines: row.compliant_lines,
            compliance_rate: rate(row.compliant_lines, row.lines),
            terms_compliance_rate: rate(row.compliant_terms, row.terms_checked),
            negotiated_savings: money(row.negotiated_micros),
            realised_savings: money(row.realised_micros),
            realisation_rate: (row.negotiated_micros != 0)
                .then(|| row.realised_micros as f64 / row.negotiated_micros as f64),
        }
    }
}

/// What `/v1/metrics` serves.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Metrics {
    /// Every matched invoice, per currency.
    pub overall: Vec<ScopeMetrics>,
    pub by_campaign: Vec<ScopeMetrics>,
    pub by_supplier: Vec<ScopeMetrics>,
    /// Invoices per state (`received`, `matched`, `exception`, `approved`, `paid`, …).
    pub invoices: Vec<(String, u64)>,
    /// Payments per state.
    pub payments: Vec<(String, u64)>,
}

impl Metrics {
    /// Reads every scope.
    pub async fn read<S: Store>(store: &S) -> Result<Metrics> {
        let rows = store.tallies("").await?;
        let pick = |prefix: &str| -> Vec<ScopeMetrics> {
            rows.iter()
                .filter(|r| r.scope.starts_with(prefix))
                .map(ScopeMetrics::of)
                .collect()
        };
        Ok(Metrics {
            overall: rows
                .iter()
                .filter(|r| r.scope == "all")
                .map(ScopeMetrics::of)
                .collect(),
            by_campaign: pick("campaign/"),
            by_supplier: pick("supplier/"),
            invoices: store.document_counts("invoice", None).await?,
            payments: store.document_counts("payment", None).await?,
        })
    }

    /// One scope's rows (`supplier/{id}`, `campaign/{id}`, `contract/{id}`).
    pub async fn scope<S: Store>(store: &S, scope: &str) -> Result<Vec<ScopeMetrics>> {
        Ok(store
            .tallies(scope)
            .await?
            .iter()
            .filter(|r| r.scope == scope)
            .map(ScopeMetrics::of)
            .collect())
    }
}
