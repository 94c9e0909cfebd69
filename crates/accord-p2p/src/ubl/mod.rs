//! E-invoice reading: UBL 2.1 invoices and credit notes (EN 16931, PEPPOL BIS Billing 3.0)
//! and the equivalent JSON, validated by the EN 16931 business rules, and converted into
//! `accord_core::document::Invoice`.
//!
//! The pipeline is `parse` (syntax and lexical form, typed [`ParseError`]), then
//! `rules::validate` (every broken rule, with its id and path), then [`ValidInvoice`], a
//! document that passed both and so converts into money without surprises.

use std::fmt;

use accord_core::{
    Currency, Money, MoneyError,
    document::{Invoice, InvoiceKind, InvoiceLine},
    id::{InvoiceId, SupplierId},
    lifecycle::{InvoiceState, Lifecycle},
    round_minor,
};
use rust_decimal::Decimal;

pub mod model;
mod reader;
pub mod rules;

pub use model::EInvoice;
pub use reader::{NS_CREDIT_NOTE, NS_INVOICE};
pub use rules::{Profile, Severity, Violation, validate};

/// Why a document could not be read at all. Rule violations are [`InvoiceError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed xml at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("empty document: no root element")]
    Empty,
    #[error(
        "unexpected root element `{found}` at line {line}, column {column}: expected `Invoice` or `CreditNote`"
    )]
    WrongRoot {
        found: String,
        line: usize,
        column: usize,
    },
    #[error("root element `{root}` is in namespace `{found}`: expected `{expected}`")]
    WrongNamespace {
        root: String,
        found: String,
        expected: &'static str,
    },
    #[error(
        "malformed value `{value}` at `{path}` (line {line}, column {column}): expected {expected}"
    )]
    Value {
        path: String,
        value: String,
        expected: &'static str,
        line: usize,
        column: usize,
    },
    #[error("malformed json invoice at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
}

/// The violations of one document, in document order of the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "invoice breaks {n} business rule{}",
            if n == 1 { "" } else { "s" }
        )?;
        for v in &self.0 {
            write!(f, "; {v}")?;
        }
        Ok(())
    }
}

impl Violations {
    /// Whether a rule with this id is among the violations.
    pub fn has(&self, rule: &str) -> bool {
        self.0.iter().any(|v| v.rule == rule)
    }
}

/// Why a document was refused: unreadable, or readable but breaking business rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Invalid(Violations),
}

impl InvoiceError {
    /// A stable machine-readable code for an HTTP error body.
    pub fn code(&self) -> &'static str {
        match self {
            InvoiceError::Parse(ParseError::Json { .. }) => "invoice_malformed_json",
            InvoiceError::Parse(
                ParseError::WrongRoot { .. } | ParseError::WrongNamespace { .. },
            ) => "invoice_not_ubl",
            InvoiceError::Parse(_) => "invoice_malformed_xml",
            InvoiceError::Invalid(_) => "invoice_rule_violation",
        }
    }

    /// The rule violations, empty for a parse error.
    pub fn violations(&self) -> &[Violation] {
        match self {
            InvoiceError::Invalid(v) => &v.0,
            InvoiceError::Parse(_) => &[],
        }
    }
}

/// Parses UBL 2.1 XML without checking business rules.
pub fn parse_ubl(xml: &str) -> Result<EInvoice, ParseError> {
    reader::parse(xml)
}

/// Parses UBL 2.1 bytes (UTF-8, as PEPPOL requires) without checking business rules.
pub fn parse_ubl_bytes(bytes: &[u8]) -> Result<EInvoice, ParseError> {
    let xml = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = reader::line_col(
            &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
            e.valid_up_to(),
        );
        ParseError::Syntax {
            line,
            column,
            message: "the document is not valid utf-8".into(),
        }
    })?;
    reader::parse(xml)
}

/// Parses the JSON form of [`EInvoice`] without checking business rules.
pub fn parse_json(json: &str) -> Result<EInvoice, ParseError> {
    serde_json::from_str(json).map_err(|e| ParseError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// Reads and validates a UBL 2.1 invoice or credit note under the EN 16931 profile.
/// Violations carry their source line.
pub fn read_ubl(xml: &str) -> Result<ValidInvoice, InvoiceError> {
    read_ubl_with(xml, Profile::En16931)
}

/// Reads and validates a UBL 2.1 invoice or credit note under `profile`. Violations,
/// fatal or warnings, carry their source line.
pub fn read_ubl_with(xml: &str, profile: Profile) -> Result<ValidInvoice, InvoiceError> {
    match ValidInvoice::check(parse_ubl(xml)?, profile) {
        Ok(mut valid) => {
            fill_lines(xml, &valid.doc.source, &mut valid.warnings);
            Ok(valid)
        }
        Err(failed) => {
            let (doc, mut violations) = *failed;
            fill_lines(xml, &doc.source, &mut violations);
            Err(InvoiceError::Invalid(Violations(violations)))
        }
    }
}

/// Sets each violation's source line, counting lines in one pass up to the last offset.
fn fill_lines(xml: &str, source: &model::SourceLines, violations: &mut [Violation]) {
    let mut located: Vec<(usize, usize)> = violations
        .iter()
        .enumerate()
        .filter_map(|(i, v)| source.locate(&v.path).map(|o| (o as usize, i)))
        .collect();
    located.sort_unstable();
    let bytes = xml.as_bytes();
    let (mut pos, mut line) = (0usize, 1u32);
    for (offset, i) in located {
        let offset = offset.min(bytes.len());
        line += bytes[pos..offset].iter().filter(|&&b| b == b'\n').count() as u32;
        pos = offset;
        violations[i].line = Some(line);
    }
}

/// Reads and validates the JSON form, through the same rules as UBL. The JSON is the
/// serde form of [`EInvoice`]: snake_case field names, absent fields allowed (the rules
/// report what is missing), unknown fields refused, and amounts, rates and quantities as
/// strings so that no decimal goes through floating point.
///
/// ```
/// let json = r#"{
///   "customization_id": "urn:cen.eu:en16931:2017",
///   "number": "INV-1", "issue_date": "2025-03-01", "due_date": "2025-03-31",
///   "type_code": "380", "currency": "EUR",
///   "references": {"order": "PO-7"},
///   "seller": {"registration_name": "Tulip B.V.", "legal_id": {"value": "12345678"},
///              "address": {"country": "NL"}},
///   "buyer": {"registration_name": "Accord Buyer GmbH", "address": {"country": "DE"}},
///   "tax_total": "2.50",
///   "tax_subtotals": [{"taxable_amount": "10.00", "tax_amount": "2.50",
///                      "category": {"code": "S", "percent": "25"}}],
///   "totals": {"line_extension": "10.00", "tax_exclusive": "10.00",
///              "tax_inclusive": "12.50", "payable": "12.50"},
///   "lines": [{"id": "1", "quantity": "4", "unit_code": "EA", "net_amount": "10.00",
///              "order_line_ref": "1",
///              "item": {"name": "Pens", "seller_id": "PEN", "tax": {"code": "S", "percent": "25"}},
///              "price": {"amount": "2.50"}}]
/// }"#;
/// let invoice = accord_p2p::read_json(json).unwrap();
/// assert_eq!(invoice.payable().unwrap().to_string(), "EUR 12.50");
/// let broken = json.replace(r#""payable": "12.50""#, r#""payable": "12.00""#);
/// let err = accord_p2p::read_json(&broken).unwrap_err();
/// assert_eq!(err.violations()[0].rule, "BR-CO-16");
/// ```
pub fn read_json(json: &str) -> Result<ValidInvoice, InvoiceError> {
    ValidInvoice::new(parse_json(json)?, Profile::En16931)
}

/// An e-invoice that passed every rule in `rules`: mandatory terms are present, totals
/// reconcile, and the currency is known.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidInvoice {
    doc: EInvoice,
    currency: Currency,
    warnings: Vec<Violation>,
}

fn money(amount: Decimal, currency: Currency) -> Result<Money, MoneyError> {
    Money::parse(&amount.to_string(), currency)
}

impl ValidInvoice {
    /// Validates `doc` under `profile`. Fatal violations refuse it, all of them together
    /// (warnings included, for context); warnings alone are kept on the result.
    /// Violations carry no source line here; `read_ubl_with` adds them.
    pub fn new(doc: EInvoice, profile: Profile) -> Result<ValidInvoice, InvoiceError> {
        ValidInvoice::check(doc, profile).map_err(|e| InvoiceError::Invalid(Violations(e.1)))
    }

    /// Validation keeping the document on failure, so that violations can be located in it.
    fn check(
        doc: EInvoice,
        profile: Profile,
    ) -> Result<ValidInvoice, Box<(EInvoice, Vec<Violation>)>> {
        let violations = rules::validate(&doc, profile);
        if violations.iter().any(|v| v.severity == Severity::Fatal) {
            return Err(Box::new((doc, violations)));
        }
        let warnings = violations;
        // INVARIANT: BR-05 and BR-CL-04 passed, so the currency is present and known.
        let currency = doc
            .currency
            .as_deref()
            .and_then(|c| Currency::parse(c).ok())
            .expect("validated currency");
        Ok(ValidInvoice {
            doc,
            currency,
            warnings,
        })
    }

    /// Rules broken at warning severity under the profile used.
    pub fn warnings(&self) -> &[Violation] {
        &self.warnings
    }

    pub fn document(&self) -> &EInvoice {
        &self.doc
    }

    pub fn into_document(self) -> EInvoice {
        self.doc
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// BT-1, present by BR-02.
    pub fn number(&self) -> &str {
        self.doc.number.as_deref().unwrap_or_default()
    }

    /// BT-2, present by BR-03.
    pub fn issue_date(&self) -> chrono::NaiveDate {
        self.doc.issue_date.unwrap_or_default()
    }

    /// BT-115 amount due, present by BR-15.
    pub fn payable(&self) -> Result<Money, MoneyError> {
        money(self.doc.totals.payable.unwrap_or_default(), self.currency)
    }

    /// The number of the invoice a credit note corrects (the first BG-3 reference).
    pub fn referenced_invoice(&self) -> Option<&str> {
        self.doc
            .references
            .preceding_invoices
            .first()
            .map(|p| p.number.as_str())
    }

    /// Converts into Accord's invoice. The caller resolves the supplier (from
    /// `document().seller.identifiers()`) and chooses the id. Each line's unit price is
    /// the net price per unit (price / base quantity), rounded once to the currency's
    /// minor unit by `accord_core::round_minor`; the line net amount is the document's own.
    pub fn to_core(&self, id: InvoiceId, supplier: SupplierId) -> Result<Invoice, MoneyError> {
        let cur = self.currency;
        let d = &self.doc;
        let scale = Decimal::from(10i64.pow(cur.minor_digits()));
        let lines = d
            .lines
            .iter()
            .map(|l| {
                let unit = l.price.unit_net().unwrap_or_default();
                let minor = round_minor(unit.checked_mul(scale).ok_or(MoneyError::Overflow)?)?;
                Ok(InvoiceLine {
                    line_id: l.id.clone().unwrap_or_default(),
                    po_line: l
                        .order_line_ref
                        .as_deref()
                        .and_then(|r| r.trim().parse().ok()),
                    sku: l.sku().map(str::to_owned),
                    description: l.item.name.clone().unwrap_or_default(),
                    quantity: l.quantity.unwrap_or_default(),
                    unit: l.unit_code.clone().unwrap_or_default(),
                    unit_price: Money::new(minor, cur),
                    net_amount: money(l.net_amount.unwrap_or_default(), cur)?,
                })
            })
            .collect::<Result<Vec<_>, MoneyError>>()?;
        Ok(Invoice {
            id,
            kind: d.kind,
            number: self.number().to_owned(),
            supplier,
            issue_date: self.issue_date(),
            due_date: d.due_date,
            currency: cur,
            order_ref: d.references.order.clone(),
            contract_ref: d.references.contract.clone(),
            referenced_invoice: self.referenced_invoice().map(str::to_owned),
            lines,
            tax_exclusive: money(d.totals.tax_exclusive.unwrap_or_default(), cur)?,
            tax: money(d.tax_total.unwrap_or_default(), cur)?,
            payable: self.payable()?,
            state: InvoiceState::initial(),
        })
    }

    /// Whether this is a credit note.
    pub fn is_credit_note(&self) -> bool {
        self.doc.kind == InvoiceKind::CreditNote
    }
}
