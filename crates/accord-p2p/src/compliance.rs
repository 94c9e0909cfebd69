//! Contract compliance and savings realisation: pure computations over invoices that the
//! store turns into projections.
//!
//! Compliance: each invoice line against the contract's negotiated price, and the
//! invoice's due date against issue date + the contract's payment days. Savings
//! realisation: savings actually seen on invoices over savings negotiated, for the volume
//! actually invoiced. Sums stay exact decimals; rounding to the minor unit happens once,
//! when a tally is read as money (through `accord_core::Money::scale`, which calls
//! `round_minor`).

use std::collections::{BTreeMap, HashMap};

use accord_core::{
    Currency, Money, MoneyError,
    document::{Contract, Invoice, InvoiceKind},
    id::{CampaignId, SupplierId},
};
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The SKU of a contract price that covers every item without a price of its own (a
/// negotiated contract fixes one price for the category's average unit).
pub const ANY_ITEM: &str = "*";

/// Why a line is or is not compliant.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum LineVerdict {
    /// Billed at or below the contract price.
    Compliant,
    /// Billed above the contract price. `invoiced` is the effective unit price (line
    /// net amount / quantity, exact).
    AboveContractPrice { contract: Money, invoiced: Decimal },
    /// The item has no negotiated price on the contract.
    NotOnContract,
    /// The invoice is not in the contract's currency.
    CurrencyMismatch,
    /// The contract was not in force on the invoice's issue date.
    ContractInactive,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct LineCompliance {
    pub line_id: String,
    pub sku: Option<String>,
    pub verdict: LineVerdict,
}

/// The invoice's payment terms against the contract's.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum TermsVerdict {
    /// Due no earlier than agreed.
    Compliant {
        due: NaiveDate,
        agreed_due: NaiveDate,
    },
    /// Due earlier than agreed: the supplier asks to be paid `days_early` days early.
    Early {
        due: NaiveDate,
        agreed_due: NaiveDate,
        days_early: i64,
    },
    /// The invoice states no due date; it cannot be checked.
    NoDueDate,
}

/// Counts that add up across invoices, suppliers and campaigns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct ComplianceTally {
    pub compliant_lines: u64,
    pub lines: u64,
    /// Invoices whose due date respects the contract's payment days.
    pub compliant_terms: u64,
    /// Invoices whose terms could be checked (they state a due date).
    pub terms_checked: u64,
}

impl ComplianceTally {
    /// Compliance rate = compliant lines / all lines; `None` with no line.
    pub fn rate(&self) -> Option<Decimal> {
        ratio(self.compliant_lines, self.lines)
    }

    /// Share of checked invoices whose payment terms comply.
    pub fn terms_rate(&self) -> Option<Decimal> {
        ratio(self.compliant_terms, self.terms_checked)
    }

    pub fn merge(&mut self, other: &ComplianceTally) {
        self.compliant_lines += other.compliant_lines;
        self.lines += other.lines;
        self.compliant_terms += other.compliant_terms;
        self.terms_checked += other.terms_checked;
    }
}

fn ratio(num: u64, den: u64) -> Option<Decimal> {
    (den > 0).then(|| Decimal::from(num) / Decimal::from(den))
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ComplianceReport {
    pub lines: Vec<LineCompliance>,
    pub terms: TermsVerdict,
    pub tally: ComplianceTally,
}

/// Checks an invoice against its contract.
pub fn check_compliance(invoice: &Invoice, contract: &Contract) -> ComplianceReport {
    let active = contract.is_active_on(invoice.issue_date);
    let same_currency = invoice.currency == contract.currency;
    let prices: HashMap<&str, Money> = contract
        .terms
        .prices
        .iter()
        .map(|p| (p.sku.as_str(), p.unit_price))
        .collect();
    let mut tally = ComplianceTally::default();
    let lines = invoice
        .lines
        .iter()
        .map(|l| {
            let verdict = if !active {
                LineVerdict::ContractInactive
            } else if !same_currency {
                LineVerdict::CurrencyMismatch
            } else {
                match l
                    .sku
                    .as_deref()
                    .and_then(|s| prices.get(s))
                    .or_else(|| prices.get(ANY_ITEM))
                {
                    None => LineVerdict::NotOnContract,
                    Some(&price) => {
                        // Compare amounts, not rounded unit prices: the line is compliant
                        // when its net amount is at most quantity x contract price.
                        let allowed = price.to_decimal() * l.quantity;
                        let billed = l.net_amount.to_decimal();
                        if billed <= allowed {
                            LineVerdict::Compliant
                        } else {
                            let invoiced = if l.quantity.is_zero() {
                                billed
                            } else {
                                billed / l.quantity
                            };
                            LineVerdict::AboveContractPrice {
                                contract: price,
                                invoiced: invoiced.normalize(),
                            }
                        }
                    }
                }
            };
            tally.lines += 1;
            if verdict == LineVerdict::Compliant {
                tally.compliant_lines += 1;
            }
            LineCompliance {
                line_id: l.line_id.clone(),
                sku: l.sku.clone(),
                verdict,
            }
        })
        .collect();
    let agreed_due = invoice
        .issue_date
        .checked_add_days(Days::new(u64::from(contract.terms.payment_days)))
        .unwrap_or(NaiveDate::MAX);
    let terms = match invoice.due_date {
        None => TermsVerdict::NoDueDate,
        Some(due) if due >= agreed_due => {
            tally.terms_checked += 1;
            tally.compliant_terms += 1;
            TermsVerdict::Compliant { due, agreed_due }
        }
        Some(due) => {
            tally.terms_checked += 1;
            TermsVerdict::Early {
                due,
                agreed_due,
                days_early: (agreed_due - due).num_days(),
            }
        }
    };
    ComplianceReport {
        lines,
        terms,
        tally,
    }
}

/// A negotiated price for one item: what was paid before (the baseline, usually the
/// BATNA of the campaign) and what the contract fixes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NegotiatedPrice {
    pub sku: String,
    pub baseline: Money,
    pub contract: Money,
}

/// Negotiated and realised savings, exact, in one currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SavingsTally {
    pub currency: Currency,
    /// Σ (baseline - contract price) x invoiced quantity, in major units, exact.
    pub negotiated: Decimal,
    /// Σ (baseline x invoiced quantity - line net amount), in major units, exact.
    pub realised: Decimal,
    /// Invoiced lines that had a negotiated price (others do not count).
    pub lines: u64,
}

impl SavingsTally {
    pub fn zero(currency: Currency) -> SavingsTally {
        SavingsTally {
            currency,
            negotiated: Decimal::ZERO,
            realised: Decimal::ZERO,
            lines: 0,
        }
    }

    /// Savings realisation = realised / negotiated; `None` when nothing was negotiated.
    pub fn rate(&self) -> Option<Decimal> {
        (!self.negotiated.is_zero()).then(|| self.realised / self.negotiated)
    }

    /// The negotiated savings as money, rounded once.
    pub fn negotiated_money(&self) -> Result<Money, MoneyError> {
        as_money(self.negotiated, self.currency)
    }

    /// The realised savings as money, rounded once.
    pub fn realised_money(&self) -> Result<Money, MoneyError> {
        as_money(self.realised, self.currency)
    }

    pub fn merge(&mut self, other: &SavingsTally) -> Result<(), MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.negotiated += other.negotiated;
        self.realised += other.realised;
        self.lines += other.lines;
        Ok(())
    }
}

/// An exact amount in major units as money, rounded once (through `Money::scale`).
pub fn as_money(major: Decimal, currency: Currency) -> Result<Money, MoneyError> {
    // One major unit scaled by an exact decimal: Money::scale rounds once.
    let one = Money::new(10i64.pow(currency.minor_digits()), currency);
    one.scale(major)
}

/// The savings an invoice shows against negotiated prices (keyed by SKU). A credit note
/// counts negatively: it returns quantity and amount. Lines in another currency than the
/// negotiated price, or without a negotiated price, do not count.
pub fn savings_for_invoice(
    invoice: &Invoice,
    prices: &HashMap<String, NegotiatedPrice>,
) -> SavingsTally {
    let sign = match invoice.kind {
        InvoiceKind::Invoice => Decimal::ONE,
        InvoiceKind::CreditNote => Decimal::NEGATIVE_ONE,
    };
    let mut t = SavingsTally::zero(invoice.currency);
    for l in &invoice.lines {
        let Some(p) = l
            .sku
            .as_deref()
            .and_then(|s| prices.get(s))
            .or_else(|| prices.get(ANY_ITEM))
        else {
            continue;
        };
        if p.baseline.currency != invoice.currency || p.contract.currency != invoice.currency {
            continue;
        }
        let baseline = p.baseline.to_decimal();
        t.negotiated += sign * (baseline - p.contract.to_decimal()) * l.quantity;
        t.realised += sign * (baseline * l.quantity - l.net_amount.to_decimal());
        t.lines += 1;
    }
    t
}

/// Savings tallies per campaign and per supplier, split by currency so that amounts of
/// different currencies never add up. (Not serialisable as is: JSON maps need string
/// keys; a projection stores rows.)
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SavingsBook {
    pub by_campaign: BTreeMap<(CampaignId, Currency), SavingsTally>,
    pub by_supplier: BTreeMap<(SupplierId, Currency), SavingsTally>,
}

impl SavingsBook {
    /// Adds one invoice's tally under its campaign (when the contract came from one) and
    /// its supplier.
    pub fn record(
        &mut self,
        campaign: Option<CampaignId>,
        supplier: SupplierId,
        tally: &SavingsTally,
    ) {
        let c = tally.currency;
        if let Some(id) = campaign {
            add(
                self.by_campaign
                    .entry((id, c))
                    .or_insert(SavingsTally::zero(c)),
                tally,
            );
        }
        add(
            self.by_supplier
                .entry((supplier, c))
                .or_insert(SavingsTally::zero(c)),
            tally,
        );
    }
}

fn add(into: &mut SavingsTally, t: &SavingsTally) {
    // INVARIANT: the map key carries the currency, so the tallies agree on it.
    into.negotiated += t.negotiated;
    into.realised += t.realised;
    into.lines += t.lines;
}
