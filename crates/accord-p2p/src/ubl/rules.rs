//! The EN 16931 business rules Accord checks: mandatory terms (BR-01 ...), the
//! arithmetic of totals (BR-CO-10 to BR-CO-17), VAT breakdown per category (BR-S-08 and
//! its siblings), decimals (BR-DEC), and the PEPPOL BIS 3.0 line and price arithmetic
//! (PEPPOL-EN16931-R040, R046, R051, R120).
//!
//! Sums compare exactly: every summand is already a 2-decimal amount. Computed amounts
//! that the norm rounds (a line net, a category's VAT) compare at 2-decimal precision: a
//! declared amount is accepted when it is a correct rounding of the exact value, that is
//! within half a cent of it, whatever rounding mode the issuer used.

use std::fmt;

use accord_core::{Currency, Money, document::InvoiceKind};
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{AllowanceCharge, EInvoice, TaxCategory};

/// Which rule set decides what is fatal.
///
/// The EN 16931 norm's own validation artefacts check the document totals but not the
/// arithmetic inside a line; PEPPOL BIS Billing 3.0 adds that (R120 line net, R046 net
/// price, R040 allowance percentage). The public EN 16931 examples break the line rules
/// in places, so under [`Profile::En16931`] they are warnings and under
/// [`Profile::PeppolBis3`] they are fatal. Totals (BR-CO-10 to BR-CO-17) are fatal in both.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    #[default]
    En16931,
    PeppolBis3,
}

/// Whether a violation refuses the document.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Fatal,
    Warning,
}

/// One broken business rule, located by an XPath-like path into the UBL document.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Violation {
    /// The rule id as EN 16931 or PEPPOL BIS names it, such as `BR-CO-13`.
    pub rule: &'static str,
    pub severity: Severity,
    /// Where, such as `cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount` or
    /// `cac:InvoiceLine[2]/cbc:LineExtensionAmount` (lines count from 1).
    pub path: String,
    /// The one-based source line of the element, or of the invoice line, breakdown entry
    /// or allowance it is in. Filled by `read_ubl` and `read_ubl_with` (UBL input only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let warn = if self.severity == Severity::Warning {
            " (warning)"
        } else {
            ""
        };
        write!(f, "{}{warn} at `{}`", self.rule, self.path)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// `{0}[{1}]`: an indexed element, rendered only when a rule fails.
#[derive(Clone, Copy)]
struct Idx<P>(P, usize);

impl<P: fmt::Display> fmt::Display for Idx<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

/// `{0}/{1}`: a child path, rendered only when a rule fails.
#[derive(Clone, Copy)]
struct At<P>(P, &'static str);

impl<P: fmt::Display> fmt::Display for At<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

const HALF_CENT: Decimal = Decimal::from_parts(5, 0, 0, false, 3);
const HUNDRED: Decimal = Decimal::ONE_HUNDRED;

/// Whether `declared` is a correct 2-decimal rounding of `exact`.
fn rounds_to(declared: Decimal, exact: Decimal) -> bool {
    (declared - exact).abs() <= HALF_CENT
}

struct Checker<'a> {
    doc: &'a EInvoice,
    out: Vec<Violation>,
    line_tag: &'static str,
    profile: Profile,
}

impl Checker<'_> {
    fn fail(&mut self, rule: &'static str, path: impl Into<String>, message: impl Into<String>) {
        self.push(rule, Severity::Fatal, path, message);
    }

    /// A PEPPOL line-arithmetic rule: fatal only under [`Profile::PeppolBis3`].
    fn fail_line(
        &mut self,
        rule: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        let severity = match self.profile {
            Profile::PeppolBis3 => Severity::Fatal,
            Profile::En16931 => Severity::Warning,
        };
        self.push(rule, severity, path, message);
    }

    fn push(
        &mut self,
        rule: &'static str,
        severity: Severity,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.out.push(Violation {
            rule,
            severity,
            path: path.into(),
            line: None,
            message: message.into(),
        });
    }

    fn require<T>(
        &mut self,
        value: &Option<T>,
        rule: &'static str,
        path: impl fmt::Display,
        what: &str,
    ) {
        if value.is_none() {
            self.fail(rule, path.to_string(), format!("{what} is missing"));
        }
    }

    fn require_text(
        &mut self,
        value: Option<&str>,
        rule: &'static str,
        path: impl fmt::Display,
        what: &str,
    ) {
        if value.is_none_or(|v| v.trim().is_empty()) {
            self.fail(rule, path.to_string(), format!("{what} is missing"));
        }
    }

    fn decimals(&mut self, value: Option<Decimal>, rule: &'static str, path: impl fmt::Display) {
        if let Some(v) = value
            && v.scale() > 2
        {
            self.fail(
                rule,
                path.to_string(),
                format!("`{v}` has more than 2 decimals"),
            );
        }
    }

    fn equal(
        &mut self,
        rule: &'static str,
        path: &str,
        declared: Decimal,
        expected: Decimal,
        how: &str,
    ) {
        if declared != expected {
            self.fail(
                rule,
                path,
                format!("declared `{declared}` but {how} gives `{expected}`"),
            );
        }
    }
}

/// Checks every rule and returns all violations, fatal and warnings (empty when the
/// document is clean).
pub fn validate(doc: &EInvoice, profile: Profile) -> Vec<Violation> {
    let credit = doc.kind == InvoiceKind::CreditNote;
    let mut c = Checker {
        doc,
        out: Vec::new(),
        profile,
        line_tag: if credit {
            "cac:CreditNoteLine"
        } else {
            "cac:InvoiceLine"
        },
    };
    mandatory(&mut c, credit);
    lines(&mut c);
    document_allowances(&mut c);
    totals(&mut c);
    vat_breakdown(&mut c);
    currency(&mut c);
    c.out
}

const SELLER: &str = "cac:AccountingSupplierParty/cac:Party";
const BUYER: &str = "cac:AccountingCustomerParty/cac:Party";
const TOTALS: &str = "cac:LegalMonetaryTotal";

fn mandatory(c: &mut Checker<'_>, credit: bool) {
    let d = c.doc;
    c.require_text(
        d.customization_id.as_deref(),
        "BR-01",
        "cbc:CustomizationID",
        "the specification identifier",
    );
    c.require_text(d.number.as_deref(), "BR-02", "cbc:ID", "the invoice number");
    c.require(&d.issue_date, "BR-03", "cbc:IssueDate", "the issue date");
    let type_path = if credit {
        "cbc:CreditNoteTypeCode"
    } else {
        "cbc:InvoiceTypeCode"
    };
    c.require_text(
        d.type_code.as_deref(),
        "BR-04",
        type_path,
        "the invoice type code",
    );
    c.require_text(
        d.currency.as_deref(),
        "BR-05",
        "cbc:DocumentCurrencyCode",
        "the document currency",
    );
    c.require_text(
        d.seller.registration_name.as_deref(),
        "BR-06",
        At(SELLER, "cac:PartyLegalEntity/cbc:RegistrationName"),
        "the seller name",
    );
    c.require_text(
        d.buyer.registration_name.as_deref(),
        "BR-07",
        At(BUYER, "cac:PartyLegalEntity/cbc:RegistrationName"),
        "the buyer name",
    );
    for (party, base, addr_rule, country_rule, who) in [
        (&d.seller, SELLER, "BR-08", "BR-09", "seller"),
        (&d.buyer, BUYER, "BR-10", "BR-11", "buyer"),
    ] {
        match &party.address {
            None => c.fail(
                addr_rule,
                format!("{base}/cac:PostalAddress"),
                format!("the {who} postal address is missing"),
            ),
            Some(a) => c.require_text(
                a.country.as_deref(),
                country_rule,
                At(base, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
                &format!("the {who} country code"),
            ),
        }
    }
    let s = &d.seller;
    if s.ids.is_empty() && s.legal_id.is_none() && s.vat_id().is_none() {
        c.fail(
            "BR-CO-26",
            format!("{SELLER}/cac:PartyIdentification/cbc:ID"),
            "the seller has no identifier, legal registration identifier or VAT identifier",
        );
    }
    let t = &d.totals;
    c.require(
        &t.line_extension,
        "BR-12",
        At(TOTALS, "cbc:LineExtensionAmount"),
        "the sum of line net amounts",
    );
    c.require(
        &t.tax_exclusive,
        "BR-13",
        At(TOTALS, "cbc:TaxExclusiveAmount"),
        "the total without VAT",
    );
    c.require(
        &t.tax_inclusive,
        "BR-14",
        At(TOTALS, "cbc:TaxInclusiveAmount"),
        "the total with VAT",
    );
    c.require(
        &t.payable,
        "BR-15",
        At(TOTALS, "cbc:PayableAmount"),
        "the amount due for payment",
    );
    if d.lines.is_empty() {
        c.fail("BR-16", c.line_tag, "the invoice has no line");
    }
    if d.tax_subtotals.is_empty() {
        c.fail(
            "BR-CO-18",
            "cac:TaxTotal/cac:TaxSubtotal",
            "the invoice has no VAT breakdown",
        );
    }
    if d.tax_currency.is_some()
        && d.tax_currency != d.currency
        && d.tax_total_in_tax_currency.is_none()
    {
        c.fail(
            "BR-53",
            "cac:TaxTotal/cbc:TaxAmount",
            "the VAT total in the VAT accounting currency is missing",
        );
    }
    // For a credit note the amount is owed to the buyer, so no due date is needed.
    if !credit
        && t.payable.is_some_and(|p| p > Decimal::ZERO)
        && d.due_date.is_none()
        && d.payment
            .terms
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
    {
        c.fail(
            "BR-CO-25",
            "cbc:DueDate",
            "a positive amount is due but neither a due date nor payment terms are given",
        );
    }
}

fn lines(c: &mut Checker<'_>) {
    let tag = c.line_tag;
    for (i, line) in c.doc.lines.iter().enumerate() {
        let p = Idx(tag, i + 1);
        let qty_tag = if tag == "cac:InvoiceLine" {
            "cbc:InvoicedQuantity"
        } else {
            "cbc:CreditedQuantity"
        };
        c.require_text(
            line.id.as_deref(),
            "BR-21",
            At(p, "cbc:ID"),
            "the line identifier",
        );
        c.require(
            &line.quantity,
            "BR-22",
            At(p, qty_tag),
            "the invoiced quantity",
        );
        if line.quantity.is_some() {
            c.require_text(
                line.unit_code.as_deref(),
                "BR-23",
                At(At(p, qty_tag), "@unitCode"),
                "the unit of measure",
            );
        }
        c.require(
            &line.net_amount,
            "BR-24",
            At(p, "cbc:LineExtensionAmount"),
            "the line net amount",
        );
        c.require_text(
            line.item.name.as_deref(),
            "BR-25",
            At(p, "cac:Item/cbc:Name"),
            "the item name",
        );
        c.require(
            &line.price.amount,
            "BR-26",
            At(p, "cac:Price/cbc:PriceAmount"),
            "the item net price",
        );
        if line
            .price
            .amount
            .is_some_and(|a| a.is_sign_negative() && !a.is_zero())
        {
            c.fail(
                "BR-27",
                format!("{p}/cac:Price/cbc:PriceAmount"),
                "the item net price is negative",
            );
        }
        if line
            .price
            .gross
            .is_some_and(|a| a.is_sign_negative() && !a.is_zero())
        {
            c.fail(
                "BR-28",
                format!("{p}/cac:Price/cac:AllowanceCharge/cbc:BaseAmount"),
                "the item gross price is negative",
            );
        }
        if line.price.base_quantity.is_some_and(|b| b <= Decimal::ZERO) {
            c.fail(
                "ACCORD-PRICE-BASE",
                format!("{p}/cac:Price/cbc:BaseQuantity"),
                "the price base quantity is not positive",
            );
        }
        if line.item.tax.is_none() {
            c.fail(
                "BR-CO-04",
                format!("{p}/cac:Item/cac:ClassifiedTaxCategory/cbc:ID"),
                "the line VAT category is missing",
            );
        }
        c.decimals(
            line.net_amount,
            "BR-DEC-23",
            At(p, "cbc:LineExtensionAmount"),
        );
        let mut charges = Decimal::ZERO;
        let mut allowances = Decimal::ZERO;
        for (j, ac) in line.allowances_charges.iter().enumerate() {
            let ap = Idx(At(p, "cac:AllowanceCharge"), j + 1);
            let (amount_rule, reason_rule, dec_rule) = if ac.is_charge {
                ("BR-43", "BR-44", "BR-DEC-27")
            } else {
                ("BR-41", "BR-42", "BR-DEC-24")
            };
            allowance_charge_common(c, ac, ap, amount_rule, reason_rule, dec_rule);
            let amount = ac.amount.unwrap_or_default();
            if ac.is_charge {
                charges += amount;
            } else {
                allowances += amount;
            }
        }
        // PEPPOL-EN16931-R046: net price = gross price - price discount.
        if let (Some(net), Some(gross)) = (line.price.amount, line.price.gross) {
            let expected = gross - line.price.discount.unwrap_or_default();
            if net != expected {
                c.fail_line(
                    "PEPPOL-EN16931-R046",
                    format!("{p}/cac:Price/cbc:PriceAmount"),
                    format!("declared `{net}` but gross price `{gross}` less discount gives `{expected}`"),
                );
            }
        }
        // PEPPOL-EN16931-R120: line net = quantity x (net price / base quantity)
        // + line charges - line allowances, rounded to 2 decimals.
        if let (Some(q), Some(unit), Some(net)) =
            (line.quantity, line.price.unit_net(), line.net_amount)
            && let Some(exact) = q
                .checked_mul(unit)
                .and_then(|x| x.checked_add(charges))
                .and_then(|x| x.checked_sub(allowances))
            && !rounds_to(net, exact)
        {
            c.fail_line(
                        "PEPPOL-EN16931-R120",
                        format!("{p}/cbc:LineExtensionAmount"),
                        format!(
                            "declared `{net}` but quantity `{q}` x unit price `{}` + charges `{charges}` - allowances `{allowances}` gives `{}`",
                            unit.normalize(),
                            exact.normalize()
                        ),
                    );
        }
    }
}

fn allowance_charge_common(
    c: &mut Checker<'_>,
    ac: &AllowanceCharge,
    path: impl fmt::Display + Copy,
    amount_rule: &'static str,
    reason_rule: &'static str,
    dec_rule: &'static str,
) {
    let what = if ac.is_charge { "charge" } else { "allowance" };
    c.require(
        &ac.amount,
        amount_rule,
        At(path, "cbc:Amount"),
        if ac.is_charge {
            "the charge amount"
        } else {
            "the allowance amount"
        },
    );
    if ac.reason.as_deref().is_none_or(|r| r.trim().is_empty())
        && ac
            .reason_code
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        c.fail(
            reason_rule,
            format!("{path}/cbc:AllowanceChargeReason"),
            format!("the {what} reason and reason code are both missing"),
        );
    }
    c.decimals(ac.amount, dec_rule, At(path, "cbc:Amount"));
    // PEPPOL-EN16931-R040: amount = base amount x percentage / 100 when both are given.
    if let (Some(amount), Some(base), Some(pct)) = (ac.amount, ac.base_amount, ac.percent) {
        // Inputs have at most 15 integer digits (reader::decimal): sums cannot overflow,
        // but a product of two such numbers can, so products are checked.
        let exact = base.checked_mul(pct).map(|x| x / HUNDRED);
        if !exact.is_some_and(|exact| rounds_to(amount, exact)) {
            let exact = exact.map_or("an overflow".to_owned(), |x| format!("`{}`", x.normalize()));
            c.fail_line(
                "PEPPOL-EN16931-R040",
                format!("{path}/cbc:Amount"),
                format!("declared `{amount}` but base `{base}` x `{pct}`% gives {exact}"),
            );
        }
    }
}

fn document_allowances(c: &mut Checker<'_>) {
    for (i, ac) in c.doc.allowances_charges.iter().enumerate() {
        let p = Idx("cac:AllowanceCharge", i + 1);
        let (amount_rule, reason_rule, dec_rule, cat_rule) = if ac.is_charge {
            ("BR-36", "BR-38", "BR-DEC-05", "BR-37")
        } else {
            ("BR-31", "BR-33", "BR-DEC-01", "BR-32")
        };
        allowance_charge_common(c, ac, p, amount_rule, reason_rule, dec_rule);
        if ac.tax_category.is_none() {
            c.fail(
                cat_rule,
                format!("{p}/cac:TaxCategory/cbc:ID"),
                "the VAT category is missing",
            );
        }
    }
}

fn totals(c: &mut Checker<'_>) {
    let d = c.doc;
    let t = &d.totals;
    let path = |leaf: &str| format!("{TOTALS}/cbc:{leaf}");
    for (v, rule, leaf) in [
        (t.line_extension, "BR-DEC-09", "cbc:LineExtensionAmount"),
        (t.allowance_total, "BR-DEC-10", "cbc:AllowanceTotalAmount"),
        (t.charge_total, "BR-DEC-11", "cbc:ChargeTotalAmount"),
        (t.tax_exclusive, "BR-DEC-12", "cbc:TaxExclusiveAmount"),
        (t.tax_inclusive, "BR-DEC-14", "cbc:TaxInclusiveAmount"),
        (t.prepaid, "BR-DEC-16", "cbc:PrepaidAmount"),
        (t.rounding, "BR-DEC-17", "cbc:PayableRoundingAmount"),
        (t.payable, "BR-DEC-18", "cbc:PayableAmount"),
    ] {
        c.decimals(v, rule, At(TOTALS, leaf));
    }
    c.decimals(d.tax_total, "BR-DEC-13", "cac:TaxTotal/cbc:TaxAmount");

    let line_sum: Decimal = d.lines.iter().filter_map(|l| l.net_amount).sum();
    if let Some(declared) = t.line_extension {
        c.equal(
            "BR-CO-10",
            &path("LineExtensionAmount"),
            declared,
            line_sum,
            "the sum of line net amounts",
        );
    }
    let sum_of = |charge: bool| -> Decimal {
        d.allowances_charges
            .iter()
            .filter(|a| a.is_charge == charge)
            .filter_map(|a| a.amount)
            .sum()
    };
    let allowances = sum_of(false);
    let charges = sum_of(true);
    c.equal(
        "BR-CO-11",
        &path("AllowanceTotalAmount"),
        t.allowance_total.unwrap_or_default(),
        allowances,
        "the sum of document allowances",
    );
    c.equal(
        "BR-CO-12",
        &path("ChargeTotalAmount"),
        t.charge_total.unwrap_or_default(),
        charges,
        "the sum of document charges",
    );
    if let (Some(excl), Some(lines)) = (t.tax_exclusive, t.line_extension) {
        let expected =
            lines - t.allowance_total.unwrap_or_default() + t.charge_total.unwrap_or_default();
        c.equal(
            "BR-CO-13",
            &path("TaxExclusiveAmount"),
            excl,
            expected,
            "line total - allowances + charges",
        );
    }
    let vat_sum: Decimal = d.tax_subtotals.iter().filter_map(|s| s.tax_amount).sum();
    if d.tax_total.is_some() || !d.tax_subtotals.is_empty() {
        c.equal(
            "BR-CO-14",
            "cac:TaxTotal/cbc:TaxAmount",
            d.tax_total.unwrap_or_default(),
            vat_sum,
            "the sum of VAT category tax amounts",
        );
    }
    if let (Some(incl), Some(excl)) = (t.tax_inclusive, t.tax_exclusive) {
        c.equal(
            "BR-CO-15",
            &path("TaxInclusiveAmount"),
            incl,
            excl + d.tax_total.unwrap_or_default(),
            "total without VAT + total VAT",
        );
    }
    if let (Some(payable), Some(incl)) = (t.payable, t.tax_inclusive) {
        let expected = incl - t.prepaid.unwrap_or_default() + t.rounding.unwrap_or_default();
        c.equal(
            "BR-CO-16",
            &path("PayableAmount"),
            payable,
            expected,
            "total with VAT - paid amount + rounding amount",
        );
    }
}

/// The rule-id stem EN 16931 uses for each VAT category code.
fn category_stem(code: &str) -> Option<&'static str> {
    Some(match code {
        "S" => "S",
        "Z" => "Z",
        "E" => "E",
        "AE" => "AE",
        "K" => "IC",
        "G" => "G",
        "O" => "O",
        "L" => "AF",
        "M" => "AG",
        _ => return None,
    })
}

fn rule_for(stem: &str, suffix: &str) -> &'static str {
    // A closed set of ids, spelled out so that rule ids stay `&'static str`.
    match (stem, suffix) {
        ("S", "01") => "BR-S-01",
        ("Z", "01") => "BR-Z-01",
        ("E", "01") => "BR-E-01",
        ("AE", "01") => "BR-AE-01",
        ("IC", "01") => "BR-IC-01",
        ("G", "01") => "BR-G-01",
        ("O", "01") => "BR-O-01",
        ("AF", "01") => "BR-AF-01",
        ("AG", "01") => "BR-AG-01",
        ("S", _) => "BR-S-08",
        ("Z", _) => "BR-Z-08",
        ("E", _) => "BR-E-08",
        ("AE", _) => "BR-AE-08",
        ("IC", _) => "BR-IC-08",
        ("G", _) => "BR-G-08",
        ("O", _) => "BR-O-08",
        ("AF", _) => "BR-AF-08",
        _ => "BR-AG-08",
    }
}

fn same_category(a: &TaxCategory, code: &str, percent: Decimal) -> bool {
    a.code == code && a.percent.unwrap_or_default() == percent
}

fn vat_breakdown(c: &mut Checker<'_>) {
    let d = c.doc;
    for (i, st) in d.tax_subtotals.iter().enumerate() {
        let p = Idx("cac:TaxTotal/cac:TaxSubtotal", i + 1);
        c.require(
            &st.taxable_amount,
            "BR-45",
            At(p, "cbc:TaxableAmount"),
            "the VAT category taxable amount",
        );
        c.require(
            &st.tax_amount,
            "BR-46",
            At(p, "cbc:TaxAmount"),
            "the VAT category tax amount",
        );
        c.decimals(st.taxable_amount, "BR-DEC-19", At(p, "cbc:TaxableAmount"));
        c.decimals(st.tax_amount, "BR-DEC-20", At(p, "cbc:TaxAmount"));
        let Some(cat) = &st.category else {
            c.fail(
                "BR-47",
                format!("{p}/cac:TaxCategory/cbc:ID"),
                "the VAT category code is missing",
            );
            continue;
        };
        if cat.code != "O" && cat.percent.is_none() {
            c.fail(
                "BR-48",
                format!("{p}/cac:TaxCategory/cbc:Percent"),
                "the VAT category rate is missing",
            );
        }
        let percent = cat.percent.unwrap_or_default();
        // BR-CO-17: category tax = taxable x rate / 100, rounded to 2 decimals.
        if let (Some(taxable), Some(tax)) = (st.taxable_amount, st.tax_amount) {
            let exact = taxable.checked_mul(percent).map(|x| x / HUNDRED);
            if !exact.is_some_and(|exact| rounds_to(tax, exact)) {
                let exact =
                    exact.map_or("an overflow".to_owned(), |x| format!("`{}`", x.normalize()));
                c.fail(
                    "BR-CO-17",
                    format!("{p}/cbc:TaxAmount"),
                    format!(
                        "declared `{tax}` but taxable `{taxable}` x `{percent}`% gives {exact}"
                    ),
                );
            }
        }
        // BR-x-08: taxable amount = lines + charges - allowances of that category and rate.
        let Some(stem) = category_stem(&cat.code) else {
            c.fail(
                "BR-CL-18",
                format!("{p}/cac:TaxCategory/cbc:ID"),
                format!("unknown VAT category code `{}`", cat.code),
            );
            continue;
        };
        if let Some(taxable) = st.taxable_amount {
            let lines: Decimal = d
                .lines
                .iter()
                .filter(|l| {
                    l.item
                        .tax
                        .as_ref()
                        .is_some_and(|t| same_category(t, &cat.code, percent))
                })
                .filter_map(|l| l.net_amount)
                .sum();
            let mut doc_level = Decimal::ZERO;
            for ac in &d.allowances_charges {
                if ac
                    .tax_category
                    .as_ref()
                    .is_some_and(|t| same_category(t, &cat.code, percent))
                {
                    let a = ac.amount.unwrap_or_default();
                    doc_level += if ac.is_charge { a } else { -a };
                }
            }
            let expected = lines + doc_level;
            if taxable != expected {
                c.fail(
                    rule_for(stem, "08"),
                    format!("{p}/cbc:TaxableAmount"),
                    format!(
                        "declared `{taxable}` but lines + charges - allowances in category `{}` at `{percent}`% give `{expected}`",
                        cat.code
                    ),
                );
            }
        }
    }
    // BR-x-01: every category used on a line or a document allowance or charge has a
    // breakdown entry.
    let used = d.lines.iter().filter_map(|l| l.item.tax.as_ref()).chain(
        d.allowances_charges
            .iter()
            .filter_map(|a| a.tax_category.as_ref()),
    );
    let mut reported: Vec<&str> = Vec::new();
    for cat in used {
        let Some(stem) = category_stem(&cat.code) else {
            continue;
        };
        let present = d
            .tax_subtotals
            .iter()
            .any(|s| s.category.as_ref().is_some_and(|sc| sc.code == cat.code));
        if !present && !reported.contains(&cat.code.as_str()) {
            reported.push(&cat.code);
            c.fail(
                rule_for(stem, "01"),
                "cac:TaxTotal/cac:TaxSubtotal",
                format!(
                    "VAT category `{}` is used but has no VAT breakdown entry",
                    cat.code
                ),
            );
        }
    }
}

fn currency(c: &mut Checker<'_>) {
    let d = c.doc;
    let Some(code) = d.currency.as_deref() else {
        return;
    };
    let currency = match Currency::parse(code) {
        Ok(cur) => cur,
        Err(_) => {
            c.fail(
                "BR-CL-04",
                "cbc:DocumentCurrencyCode",
                format!("unknown currency `{code}`"),
            );
            return;
        }
    };
    for (path, found) in &d.foreign_currency_ids {
        c.fail(
            "PEPPOL-EN16931-R051",
            path.clone(),
            format!("amount is in `{found}` but the document currency is `{code}`"),
        );
    }
    // Accord keeps money in the currency's minor unit: an amount finer than that (a
    // fractional yen) cannot be paid and is refused here rather than rounded later.
    let t = &d.totals;
    for (v, leaf) in [
        (t.tax_exclusive, "TaxExclusiveAmount"),
        (t.payable, "PayableAmount"),
    ] {
        if let Some(v) = v
            && Money::parse(&v.to_string(), currency).is_err()
        {
            c.fail(
                "ACCORD-MONEY",
                format!("{TOTALS}/cbc:{leaf}"),
                format!("`{v}` does not fit the minor unit of `{code}`"),
            );
        }
    }
}
