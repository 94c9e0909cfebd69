//! The rich parsed e-invoice: every EN 16931 business term Accord reads from a UBL 2.1
//! invoice or credit note. The same type is the JSON input format of `POST /v1/invoices`,
//! so both paths meet the same validation.
//!
//! Amounts are exact decimals in major units as the document states them; whether they
//! fit the currency's minor unit is a validation question, not a parsing one. Mandatory
//! terms are `Option`s so that a missing one is reported by its rule (BR-02 and so on)
//! rather than as a parse failure.

use accord_core::document::InvoiceKind;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// JSON amounts, rates and quantities are strings (`"49.10"`), as Accord writes them: a
/// JSON number goes through binary floating point and may lose a decimal, so it is refused.
mod exact {
    use std::fmt;

    use rust_decimal::Decimal;
    use serde::{Deserializer, de};

    pub fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> de::Visitor<'de> for OptionVisitor {
        type Value = Option<Decimal>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number as a string, such as \"49.10\"")
        }

        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(DecimalVisitor).map(Some)
        }
    }

    struct DecimalVisitor;

    impl de::Visitor<'_> for DecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number as a string, such as \"49.10\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            super::super::reader::decimal(v.trim())
                .map_err(|_| E::custom(format!("malformed decimal `{v}`")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            Err(E::custom(format!(
                "the number `{v}` must be a string such as \"{v}\", so that no decimal is lost"
            )))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            self.visit_str(&v.to_string())
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            self.visit_str(&v.to_string())
        }
    }
}

/// An EN 16931 invoice or credit note as read from UBL 2.1 or JSON.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EInvoice {
    /// Invoice or credit note (the UBL root element).
    #[serde(default = "default_kind")]
    pub kind: InvoiceKind,
    /// BT-24 specification identifier (`cbc:CustomizationID`).
    #[serde(default)]
    pub customization_id: Option<String>,
    /// BT-23 business process type (`cbc:ProfileID`).
    #[serde(default)]
    pub profile_id: Option<String>,
    /// BT-1 invoice number (`cbc:ID`).
    #[serde(default)]
    pub number: Option<String>,
    /// BT-2 issue date.
    #[serde(default)]
    pub issue_date: Option<NaiveDate>,
    /// BT-9 payment due date.
    #[serde(default)]
    pub due_date: Option<NaiveDate>,
    /// BT-3 invoice type code (380 invoice, 381 credit note, ...).
    #[serde(default)]
    pub type_code: Option<String>,
    /// BT-5 document currency code, as written.
    #[serde(default)]
    pub currency: Option<String>,
    /// BT-6 VAT accounting currency code, when it differs from the document currency.
    #[serde(default)]
    pub tax_currency: Option<String>,
    /// BT-10 buyer reference.
    #[serde(default)]
    pub buyer_reference: Option<String>,
    /// BT-22 invoice notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// BT-19 buyer accounting reference.
    #[serde(default)]
    pub accounting_cost: Option<String>,
    #[serde(default)]
    pub references: References,
    /// BG-4 seller.
    #[serde(default)]
    pub seller: Party,
    /// BG-7 buyer.
    #[serde(default)]
    pub buyer: Party,
    /// BG-10 payee, when it is not the seller.
    #[serde(default)]
    pub payee: Option<Party>,
    /// BT-72 actual delivery date.
    #[serde(default)]
    pub delivery_date: Option<NaiveDate>,
    #[serde(default)]
    pub payment: PaymentInstructions,
    /// BG-20 and BG-21 document-level allowances and charges.
    #[serde(default)]
    pub allowances_charges: Vec<AllowanceCharge>,
    /// BT-110 total VAT amount in the document currency.
    #[serde(default, deserialize_with = "exact::option")]
    pub tax_total: Option<Decimal>,
    /// BT-111 total VAT amount in the VAT accounting currency.
    #[serde(default, deserialize_with = "exact::option")]
    pub tax_total_in_tax_currency: Option<Decimal>,
    /// BG-23 VAT breakdown, one entry per category and rate.
    #[serde(default)]
    pub tax_subtotals: Vec<TaxSubtotal>,
    /// BG-22 document totals.
    #[serde(default)]
    pub totals: MonetaryTotals,
    /// BG-25 invoice lines.
    #[serde(default)]
    pub lines: Vec<Line>,
    /// `(path, currencyID)` of amounts whose `currencyID` differs from the document
    /// currency. Filled by the UBL reader only (JSON amounts carry no currency); checked by
    /// rule PEPPOL-EN16931-R051.
    #[serde(skip)]
    pub foreign_currency_ids: Vec<(String, String)>,
    /// Where things are in the UBL source, for locating rule violations.
    #[serde(skip)]
    pub source: SourceLines,
}

/// Byte offsets in the UBL source of the elements violations point at, recorded by the
/// UBL reader (empty for JSON input). Layout is not content: all `SourceLines` compare
/// equal, so two documents with the same terms are equal however they were indented.
#[derive(Clone, Debug, Default)]
pub struct SourceLines {
    /// The start of each `cac:InvoiceLine` / `cac:CreditNoteLine`.
    pub lines: Vec<u32>,
    /// The start of each `cac:TaxTotal/cac:TaxSubtotal`.
    pub tax_subtotals: Vec<u32>,
    /// The start of each document-level `cac:AllowanceCharge`.
    pub allowances_charges: Vec<u32>,
    /// Other elements by their path (`cac:LegalMonetaryTotal/cbc:PayableAmount`, ...).
    pub elements: Vec<(&'static str, u32)>,
}

impl PartialEq for SourceLines {
    fn eq(&self, _: &SourceLines) -> bool {
        true
    }
}

impl Eq for SourceLines {}

impl SourceLines {
    /// The offset a violation path points at: the element itself when recorded, else the
    /// invoice line, breakdown entry, allowance or nearest recorded ancestor it is under.
    pub fn locate(&self, path: &str) -> Option<u32> {
        if let Some(&(_, l)) = self.elements.iter().find(|(p, _)| *p == path) {
            return Some(l);
        }
        let indexed = |prefix: &str, v: &[u32]| -> Option<u32> {
            let rest = path.strip_prefix(prefix)?.strip_prefix('[')?;
            let n: usize = rest[..rest.find(']')?].parse().ok()?;
            v.get(n.checked_sub(1)?).copied()
        };
        indexed("cac:InvoiceLine", &self.lines)
            .or_else(|| indexed("cac:CreditNoteLine", &self.lines))
            .or_else(|| indexed("cac:TaxTotal/cac:TaxSubtotal", &self.tax_subtotals))
            .or_else(|| indexed("cac:AllowanceCharge", &self.allowances_charges))
            .or_else(|| {
                // A missing element points at its nearest recorded ancestor.
                let mut p = path;
                while let Some((parent, _)) = p.rsplit_once('/') {
                    if let Some(&(_, l)) = self.elements.iter().find(|(e, _)| *e == parent) {
                        return Some(l);
                    }
                    p = parent;
                }
                None
            })
    }
}

impl Default for EInvoice {
    fn default() -> Self {
        EInvoice {
            kind: InvoiceKind::Invoice,
            customization_id: Default::default(),
            profile_id: Default::default(),
            number: Default::default(),
            issue_date: Default::default(),
            due_date: Default::default(),
            type_code: Default::default(),
            currency: Default::default(),
            tax_currency: Default::default(),
            buyer_reference: Default::default(),
            notes: Default::default(),
            accounting_cost: Default::default(),
            references: Default::default(),
            seller: Default::default(),
            buyer: Default::default(),
            payee: Default::default(),
            delivery_date: Default::default(),
            payment: Default::default(),
            allowances_charges: Default::default(),
            tax_total: Default::default(),
            tax_total_in_tax_currency: Default::default(),
            tax_subtotals: Default::default(),
            totals: Default::default(),
            lines: Default::default(),
            foreign_currency_ids: Default::default(),
            source: Default::default(),
        }
    }
}

fn default_kind() -> InvoiceKind {
    InvoiceKind::Invoice
}

/// References to other documents (BT-11 to BT-18, BG-3).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// BT-13 purchase order reference.
    #[serde(default)]
    pub order: Option<String>,
    /// BT-14 sales order reference.
    #[serde(default)]
    pub sales_order: Option<String>,
    /// BT-12 contract reference.
    #[serde(default)]
    pub contract: Option<String>,
    /// BT-16 despatch advice reference.
    #[serde(default)]
    pub despatch: Option<String>,
    /// BT-15 receiving advice reference.
    #[serde(default)]
    pub receipt: Option<String>,
    /// BT-11 project reference.
    #[serde(default)]
    pub project: Option<String>,
    /// BT-17 tender or lot reference.
    #[serde(default)]
    pub originator: Option<String>,
    /// BG-3 preceding invoices (what a credit note corrects).
    #[serde(default)]
    pub preceding_invoices: Vec<PrecedingInvoice>,
}

/// BG-3 a preceding invoice reference.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrecedingInvoice {
    pub number: String,
    #[serde(default)]
    pub issue_date: Option<NaiveDate>,
}

/// An identifier with its optional scheme (ISO 6523 ICD or EAS code).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    pub value: String,
    #[serde(default)]
    pub scheme: Option<String>,
}

/// A tax registration of a party (`cac:PartyTaxScheme`).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxRegistration {
    pub company_id: String,
    /// `VAT` for a VAT identifier (BT-31, BT-48), anything else for a tax registration.
    #[serde(default)]
    pub scheme: Option<String>,
}

/// A postal address (BG-5, BG-8).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default)]
    pub street: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub postal_zone: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: Option<String>,
}

/// A trading party: seller, buyer or payee.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// BT-34 / BT-49 electronic address.
    #[serde(default)]
    pub endpoint: Option<Identifier>,
    /// BT-29 / BT-46 party identifiers.
    #[serde(default)]
    pub ids: Vec<Identifier>,
    /// BT-28 / BT-45 trading name.
    #[serde(default)]
    pub trading_name: Option<String>,
    /// BT-27 / BT-44 legal registration name.
    #[serde(default)]
    pub registration_name: Option<String>,
    /// BT-30 / BT-47 legal registration identifier.
    #[serde(default)]
    pub legal_id: Option<Identifier>,
    #[serde(default)]
    pub tax_registrations: Vec<TaxRegistration>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub contact_email: Option<String>,
}

impl Party {
    /// The party's name: the legal registration name, else the trading name.
    pub fn name(&self) -> Option<&str> {
        self.registration_name
            .as_deref()
            .or(self.trading_name.as_deref())
    }

    /// BT-31 / BT-48 the VAT identifier.
    pub fn vat_id(&self) -> Option<&str> {
        self.tax_registrations
            .iter()
            .find(|r| r.scheme.as_deref() == Some("VAT"))
            .map(|r| r.company_id.as_str())
    }

    /// Every identifier a supplier master record might be keyed on, most reliable first:
    /// VAT id, legal registration id, party ids, endpoint.
    pub fn identifiers(&self) -> impl Iterator<Item = &str> {
        self.vat_id()
            .into_iter()
            .chain(self.legal_id.iter().map(|i| i.value.as_str()))
            .chain(self.ids.iter().map(|i| i.value.as_str()))
            .chain(self.endpoint.iter().map(|i| i.value.as_str()))
    }
}

/// Payment instructions and terms (BG-16, BT-20).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentInstructions {
    /// BT-81 payment means type code.
    #[serde(default)]
    pub means_code: Option<String>,
    /// BT-83 remittance information.
    #[serde(default)]
    pub payment_id: Option<String>,
    /// BT-84 payee accounts (IBAN or other).
    #[serde(default)]
    pub payee_accounts: Vec<String>,
    /// BT-20 payment terms, free text.
    #[serde(default)]
    pub terms: Option<String>,
}

/// A VAT category with its rate (BT-95/96, BT-102/103, BT-151/152).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxCategory {
    /// UNCL5305 code: S, Z, E, AE, K, G, O, L, M.
    pub code: String,
    #[serde(default, deserialize_with = "exact::option")]
    pub percent: Option<Decimal>,
}

/// An allowance (`is_charge = false`) or charge, on the document or on a line.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowanceCharge {
    pub is_charge: bool,
    #[serde(default, deserialize_with = "exact::option")]
    pub amount: Option<Decimal>,
    #[serde(default, deserialize_with = "exact::option")]
    pub base_amount: Option<Decimal>,
    /// The percentage applied to the base amount (`cbc:MultiplierFactorNumeric`).
    #[serde(default, deserialize_with = "exact::option")]
    pub percent: Option<Decimal>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reason_code: Option<String>,
    /// The VAT category (document level only).
    #[serde(default)]
    pub tax_category: Option<TaxCategory>,
}

/// BG-23 one VAT breakdown entry.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxSubtotal {
    /// BT-116 taxable amount.
    #[serde(default, deserialize_with = "exact::option")]
    pub taxable_amount: Option<Decimal>,
    /// BT-117 tax amount.
    #[serde(default, deserialize_with = "exact::option")]
    pub tax_amount: Option<Decimal>,
    /// BT-118 / BT-119 category and rate.
    #[serde(default)]
    pub category: Option<TaxCategory>,
    #[serde(default)]
    pub exemption_reason: Option<String>,
    #[serde(default)]
    pub exemption_reason_code: Option<String>,
}

/// BG-22 document totals.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonetaryTotals {
    /// BT-106 sum of invoice line net amounts.
    #[serde(default, deserialize_with = "exact::option")]
    pub line_extension: Option<Decimal>,
    /// BT-109 total without VAT.
    #[serde(default, deserialize_with = "exact::option")]
    pub tax_exclusive: Option<Decimal>,
    /// BT-112 total with VAT.
    #[serde(default, deserialize_with = "exact::option")]
    pub tax_inclusive: Option<Decimal>,
    /// BT-107 sum of document allowances.
    #[serde(default, deserialize_with = "exact::option")]
    pub allowance_total: Option<Decimal>,
    /// BT-108 sum of document charges.
    #[serde(default, deserialize_with = "exact::option")]
    pub charge_total: Option<Decimal>,
    /// BT-113 paid amount.
    #[serde(default, deserialize_with = "exact::option")]
    pub prepaid: Option<Decimal>,
    /// BT-114 rounding amount.
    #[serde(default, deserialize_with = "exact::option")]
    pub rounding: Option<Decimal>,
    /// BT-115 amount due for payment.
    #[serde(default, deserialize_with = "exact::option")]
    pub payable: Option<Decimal>,
}

/// BG-29 price details.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// BT-146 item net price.
    #[serde(default, deserialize_with = "exact::option")]
    pub amount: Option<Decimal>,
    /// BT-149 base quantity (the price is for this many units); 1 when absent.
    #[serde(default, deserialize_with = "exact::option")]
    pub base_quantity: Option<Decimal>,
    /// BT-150 unit of the base quantity.
    #[serde(default)]
    pub base_unit_code: Option<String>,
    /// BT-147 item price discount.
    #[serde(default, deserialize_with = "exact::option")]
    pub discount: Option<Decimal>,
    /// BT-148 item gross price.
    #[serde(default, deserialize_with = "exact::option")]
    pub gross: Option<Decimal>,
}

impl Price {
    /// The net price of one unit: `amount / base_quantity`, exact (unrounded).
    pub fn unit_net(&self) -> Option<Decimal> {
        let amount = self.amount?;
        match self.base_quantity {
            Some(b) if !b.is_zero() => amount.checked_div(b),
            _ => Some(amount),
        }
    }
}

/// BG-31 item information.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// BT-153 item name.
    #[serde(default)]
    pub name: Option<String>,
    /// BT-154 item description.
    #[serde(default)]
    pub description: Option<String>,
    /// BT-155 seller's item identifier.
    #[serde(default)]
    pub seller_id: Option<String>,
    /// BT-156 buyer's item identifier.
    #[serde(default)]
    pub buyer_id: Option<String>,
    /// BT-157 standard item identifier (GTIN and the like).
    #[serde(default)]
    pub standard_id: Option<Identifier>,
    /// BG-30 the line's VAT category and rate.
    #[serde(default)]
    pub tax: Option<TaxCategory>,
}

/// BG-25 one invoice or credit-note line.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// BT-126 line identifier.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// BT-129 invoiced quantity.
    #[serde(default, deserialize_with = "exact::option")]
    pub quantity: Option<Decimal>,
    /// BT-130 unit of measure (UN/ECE Rec 20).
    #[serde(default)]
    pub unit_code: Option<String>,
    /// BT-131 line net amount.
    #[serde(default, deserialize_with = "exact::option")]
    pub net_amount: Option<Decimal>,
    /// BT-132 referenced purchase order line.
    #[serde(default)]
    pub order_line_ref: Option<String>,
    #[serde(default)]
    pub accounting_cost: Option<String>,
    /// BG-27 and BG-28 line allowances and charges.
    #[serde(default)]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default)]
    pub item: Item,
    #[serde(default)]
    pub price: Price,
}

impl Line {
    /// The item key used for matching: the buyer's id, else the seller's, else the
    /// standard id.
    pub fn sku(&self) -> Option<&str> {
        self.item
            .buyer_id
            .as_deref()
            .or(self.item.seller_id.as_deref())
            .or(self.item.standard_id.as_ref().map(|i| i.value.as_str()))
    }
}
