//! The UBL 2.1 reader: one pass of quick-xml's namespace-aware event reader over an
//! `Invoice-2` or `CreditNote-2` document, filling an [`EInvoice`].
//!
//! The reader keeps a stack of known element tags (anything outside the `cac`/`cbc`
//! namespaces or not read by Accord is `Tag::Other`, and its text is never decoded), and
//! dispatches each leaf on its path with slice patterns. It checks syntax, the root and
//! its namespace, and the lexical form of values (decimals, dates, booleans); business
//! rules are `rules.rs`'s job.

use std::str::FromStr;

use accord_core::document::InvoiceKind;
use chrono::NaiveDate;
use quick_xml::{
    NsReader,
    events::{BytesStart, Event},
    name::{Namespace, ResolveResult},
};
use rust_decimal::Decimal;

use super::{
    ParseError,
    model::{
        AllowanceCharge, EInvoice, Identifier, Line, Party, PrecedingInvoice, SourceLines,
        TaxRegistration, TaxSubtotal,
    },
};

pub const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
pub const NS_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const NS_CAC: &[u8] = b"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const NS_CBC: &[u8] = b"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

macro_rules! tags {
    ($($tag:ident = $prefix:literal),* $(,)?) => {
        /// The UBL elements the reader knows. Invoice and credit-note spellings of the same
        /// business term share a tag (`Line`, `Quantity`, `TypeCode`).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        enum Tag { $($tag,)* Line, Quantity, TypeCode, Other }

        impl Tag {
            fn from_local(local: &[u8]) -> Tag {
                // Literal string patterns compile to a length switch and a few compares.
                let Ok(local) = std::str::from_utf8(local) else { return Tag::Other };
                match local {
                    $(stringify!($tag) => Tag::$tag,)*
                    "InvoiceLine" | "CreditNoteLine" => Tag::Line,
                    "InvoicedQuantity" | "CreditedQuantity" => Tag::Quantity,
                    "InvoiceTypeCode" | "CreditNoteTypeCode" => Tag::TypeCode,
                    _ => Tag::Other,
                }
            }

            /// Basic components (`cbc:`) carry text; aggregates (`cac:`) only elements.
            fn is_leaf(self) -> bool {
                match self {
                    $(Tag::$tag => matches!($prefix, "cbc"),)*
                    Tag::Quantity | Tag::TypeCode => true,
                    Tag::Line | Tag::Other => false,
                }
            }

            fn qualified(self, kind: InvoiceKind) -> &'static str {
                let credit = kind == InvoiceKind::CreditNote;
                match self {
                    $(Tag::$tag => concat!($prefix, ":", stringify!($tag)),)*
                    Tag::Line if credit => "cac:CreditNoteLine",
                    Tag::Line => "cac:InvoiceLine",
                    Tag::Quantity if credit => "cbc:CreditedQuantity",
                    Tag::Quantity => "cbc:InvoicedQuantity",
                    Tag::TypeCode if credit => "cbc:CreditNoteTypeCode",
                    Tag::TypeCode => "cbc:InvoiceTypeCode",
                    Tag::Other => "*",
                }
            }
        }
    };
}

tags!(
    CustomizationID = "cbc",
    ProfileID = "cbc",
    ID = "cbc",
    IssueDate = "cbc",
    DueDate = "cbc",
    Note = "cbc",
    DocumentCurrencyCode = "cbc",
    TaxCurrencyCode = "cbc",
    BuyerReference = "cbc",
    AccountingCost = "cbc",
    OrderReference = "cac",
    SalesOrderID = "cbc",
    BillingReference = "cac",
    InvoiceDocumentReference = "cac",
    DespatchDocumentReference = "cac",
    ReceiptDocumentReference = "cac",
    ContractDocumentReference = "cac",
    ProjectReference = "cac",
    OriginatorDocumentReference = "cac",
    AccountingSupplierParty = "cac",
    AccountingCustomerParty = "cac",
    PayeeParty = "cac",
    Party = "cac",
    EndpointID = "cbc",
    PartyIdentification = "cac",
    PartyName = "cac",
    Name = "cbc",
    PostalAddress = "cac",
    StreetName = "cbc",
    CityName = "cbc",
    PostalZone = "cbc",
    Country = "cac",
    IdentificationCode = "cbc",
    PartyTaxScheme = "cac",
    CompanyID = "cbc",
    TaxScheme = "cac",
    PartyLegalEntity = "cac",
    RegistrationName = "cbc",
    Contact = "cac",
    ElectronicMail = "cbc",
    Delivery = "cac",
    ActualDeliveryDate = "cbc",
    PaymentMeans = "cac",
    PaymentMeansCode = "cbc",
    PaymentID = "cbc",
    PayeeFinancialAccount = "cac",
    PaymentTerms = "cac",
    AllowanceCharge = "cac",
    ChargeIndicator = "cbc",
    AllowanceChargeReasonCode = "cbc",
    AllowanceChargeReason = "cbc",
    MultiplierFactorNumeric = "cbc",
    Amount = "cbc",
    BaseAmount = "cbc",
    TaxCategory = "cac",
    Percent = "cbc",
    TaxTotal = "cac",
    TaxAmount = "cbc",
    TaxSubtotal = "cac",
    TaxableAmount = "cbc",
    TaxExemptionReason = "cbc",
    TaxExemptionReasonCode = "cbc",
    LegalMonetaryTotal = "cac",
    LineExtensionAmount = "cbc",
    TaxExclusiveAmount = "cbc",
    TaxInclusiveAmount = "cbc",
    AllowanceTotalAmount = "cbc",
    ChargeTotalAmount = "cbc",
    PrepaidAmount = "cbc",
    PayableRoundingAmount = "cbc",
    PayableAmount = "cbc",
    OrderLineReference = "cac",
    LineID = "cbc",
    Item = "cac",
    Description = "cbc",
    SellersItemIdentification = "cac",
    BuyersItemIdentification = "cac",
    StandardItemIdentification = "cac",
    ClassifiedTaxCategory = "cac",
    Price = "cac",
    PriceAmount = "cbc",
    BaseQuantity = "cbc",
);

/// The elements whose own line is worth recording, by path (see `SourceLines::locate`).
const LOCATED: &[&str] = &[
    "cac:AccountingSupplierParty",
    "cac:AccountingCustomerParty",
    "cac:AccountingSupplierParty/cac:Party/cac:PostalAddress",
    "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress",
    "cac:TaxTotal",
    "cac:TaxTotal/cbc:TaxAmount",
    "cac:LegalMonetaryTotal",
    "cac:LegalMonetaryTotal/cbc:LineExtensionAmount",
    "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount",
    "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount",
    "cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount",
    "cac:LegalMonetaryTotal/cbc:ChargeTotalAmount",
    "cac:LegalMonetaryTotal/cbc:PrepaidAmount",
    "cac:LegalMonetaryTotal/cbc:PayableRoundingAmount",
    "cac:LegalMonetaryTotal/cbc:PayableAmount",
    "cbc:DocumentCurrencyCode",
    "cbc:IssueDate",
    "cbc:DueDate",
];

struct State {
    doc: EInvoice,
    stack: Vec<Tag>,
    text: String,
    /// The `currencyID`, `unitCode` or `schemeID` attribute of the innermost open element
    /// (valid when `has_attr`); the buffer is reused to avoid an allocation per amount.
    attr: String,
    has_attr: bool,
}

/// Parses a UBL 2.1 invoice or credit note. Fails on malformed XML, a root other than
/// `Invoice`/`CreditNote` in its UBL namespace, and values of the wrong lexical form.
pub fn parse(xml: &str) -> Result<EInvoice, ParseError> {
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().expand_empty_elements = true;
    let mut state = State {
        doc: EInvoice::default(),
        stack: Vec::with_capacity(16),
        text: String::with_capacity(64),
        attr: String::with_capacity(16),
        has_attr: false,
    };
    let mut root_seen = false;
    let mut root_closed = false;
    loop {
        let pos = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event() {
            Ok(x) => x,
            Err(e) => {
                let message = e.to_string();
                return Err(syntax(xml, reader.error_position(), message));
            }
        };
        match event {
            Event::Start(start) => {
                if root_closed {
                    return Err(syntax(
                        xml,
                        pos,
                        "an element follows the root element".into(),
                    ));
                }
                if !root_seen {
                    root_seen = true;
                    state.doc.kind = check_root(xml, pos, &ns, start.local_name().as_ref())?;
                    continue;
                }
                let tag = match ns {
                    ResolveResult::Bound(Namespace(n)) if n == NS_CAC || n == NS_CBC => {
                        Tag::from_local(start.local_name().as_ref())
                    }
                    _ => Tag::Other,
                };
                state.open(tag, &start, pos as usize);
            }
            Event::End(_) => {
                if state.stack.is_empty() {
                    // The root closes; only whitespace, comments and PIs may follow.
                    root_closed = true;
                    continue;
                }
                state.close(xml, pos as usize)?;
            }
            Event::Text(t) => {
                if state.wants_text() {
                    let s = t
                        .xml_content()
                        .map_err(|e| syntax(xml, pos, e.to_string()))?;
                    state.text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if state.wants_text() {
                    let s = t.decode().map_err(|e| syntax(xml, pos, e.to_string()))?;
                    state.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                if state.wants_text() {
                    let ch = r
                        .resolve_char_ref()
                        .map_err(|e| syntax(xml, pos, e.to_string()))?;
                    if let Some(c) = ch {
                        state.text.push(c);
                    } else {
                        let name = r.decode().map_err(|e| syntax(xml, pos, e.to_string()))?;
                        let resolved = quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| {
                                syntax(xml, pos, format!("unknown entity `&{name};`"))
                            })?;
                        state.text.push_str(resolved);
                    }
                }
            }
            Event::Eof => break,
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::DocType(_) => {
                return Err(syntax(
                    xml,
                    pos,
                    "document type declarations are not accepted".into(),
                ));
            }
        }
    }
    if !root_seen {
        return Err(ParseError::Empty);
    }
    Ok(state.doc)
}

/// A byte offset as stored in `SourceLines` (documents past 4 GiB saturate).
fn offset(pos: usize) -> u32 {
    u32::try_from(pos).unwrap_or(u32::MAX)
}

fn syntax(xml: &str, offset: u64, message: String) -> ParseError {
    let (line, column) = line_col(xml, offset as usize);
    ParseError::Syntax {
        line,
        column,
        message,
    }
}

/// One-based line and column of a byte offset.
pub(crate) fn line_col(xml: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(xml.len());
    let before = &xml.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

fn check_root(
    xml: &str,
    pos: u64,
    ns: &ResolveResult<'_>,
    local: &[u8],
) -> Result<InvoiceKind, ParseError> {
    let found_ns = match ns {
        ResolveResult::Bound(Namespace(n)) => String::from_utf8_lossy(n).into_owned(),
        _ => String::new(),
    };
    let (kind, expected_ns) = match local {
        b"Invoice" => (InvoiceKind::Invoice, NS_INVOICE),
        b"CreditNote" => (InvoiceKind::CreditNote, NS_CREDIT_NOTE),
        other => {
            let (line, column) = line_col(xml, pos as usize);
            return Err(ParseError::WrongRoot {
                found: String::from_utf8_lossy(other).into_owned(),
                line,
                column,
            });
        }
    };
    if found_ns != expected_ns {
        return Err(ParseError::WrongNamespace {
            root: String::from_utf8_lossy(local).into_owned(),
            found: found_ns,
            expected: expected_ns,
        });
    }
    Ok(kind)
}

impl State {
    fn wants_text(&self) -> bool {
        matches!(self.stack.last(), Some(t) if t.is_leaf())
    }

    fn open(&mut self, tag: Tag, start: &BytesStart<'_>, pos: usize) {
        self.text.clear();
        self.has_attr = false;
        if tag.is_leaf() && !start.attributes_raw().is_empty() {
            for a in start.attributes().flatten() {
                if matches!(
                    a.key.local_name().as_ref(),
                    b"currencyID" | b"unitCode" | b"schemeID"
                ) {
                    if let Ok(v) = a.unescape_value() {
                        self.attr.clear();
                        self.attr.push_str(&v);
                        self.has_attr = true;
                    }
                    break;
                }
            }
        }
        self.stack.push(tag);
        self.locate(pos);
        let doc = &mut self.doc;
        // Containers that repeat get their entry when they open; leaves fill the last one.
        match self.stack.as_slice() {
            [Tag::AllowanceCharge] => doc.allowances_charges.push(AllowanceCharge::default()),
            [Tag::TaxTotal, Tag::TaxSubtotal] => {
                doc.tax_subtotals.push(TaxSubtotal::default());
            }
            [Tag::Line] => doc.lines.push(Line::default()),
            [Tag::Line, Tag::AllowanceCharge] => {
                if let Some(l) = doc.lines.last_mut() {
                    l.allowances_charges.push(AllowanceCharge::default());
                }
            }
            [Tag::BillingReference, Tag::InvoiceDocumentReference] => doc
                .references
                .preceding_invoices
                .push(PrecedingInvoice::default()),
            [Tag::PayeeParty] => doc.payee = Some(Party::default()),
            [party, Tag::Party, Tag::PartyTaxScheme]
                if matches!(
                    party,
                    Tag::AccountingSupplierParty | Tag::AccountingCustomerParty
                ) =>
            {
                let p = if *party == Tag::AccountingSupplierParty {
                    &mut doc.seller
                } else {
                    &mut doc.buyer
                };
                p.tax_registrations.push(TaxRegistration::default());
            }
            [Tag::PayeeParty, Tag::PartyTaxScheme] => {
                if let Some(p) = doc.payee.as_mut() {
                    p.tax_registrations.push(TaxRegistration::default());
                }
            }
            _ => {}
        }
    }

    /// Records where the element just opened starts, when violations may point at it.
    /// Offsets, not line numbers: counting lines costs a pass over the text, which only
    /// a document with violations pays (see `ubl::read_ubl_with`).
    fn locate(&mut self, pos: usize) {
        use Tag::*;
        let src: &mut SourceLines = &mut self.doc.source;
        let list = match self.stack.as_slice() {
            [Line] => &mut src.lines,
            [TaxTotal, TaxSubtotal] => &mut src.tax_subtotals,
            [AllowanceCharge] => &mut src.allowances_charges,
            [TaxTotal | LegalMonetaryTotal | AccountingSupplierParty | AccountingCustomerParty]
            | [TaxTotal | LegalMonetaryTotal, _]
            | [DocumentCurrencyCode | IssueDate | DueDate]
            | [
                AccountingSupplierParty | AccountingCustomerParty,
                Party,
                PostalAddress,
            ] => {
                let path = self.path();
                if let Some(p) = LOCATED.iter().find(|p| **p == path) {
                    self.doc.source.elements.push((p, offset(pos)));
                }
                return;
            }
            _ => return,
        };
        list.push(offset(pos));
    }

    fn close(&mut self, xml: &str, pos: usize) -> Result<(), ParseError> {
        let top = *self
            .stack
            .last()
            .expect("close is called with an open element");
        if top.is_leaf() {
            let mut text = std::mem::take(&mut self.text);
            let attr = std::mem::take(&mut self.attr);
            let r = self.leaf(text.trim(), self.has_attr.then_some(attr.as_str()));
            self.attr = attr;
            if let Err(expected) = r {
                let (line, column) = line_col(xml, pos);
                let value = text.trim().chars().take(60).collect();
                return Err(ParseError::Value {
                    path: self.path(),
                    value,
                    expected,
                    line,
                    column,
                });
            }
            text.clear();
            self.text = text;
        }
        self.stack.pop();
        Ok(())
    }

    fn path(&self) -> String {
        let kind = self.doc.kind;
        let mut out = String::new();
        for (i, t) in self.stack.iter().enumerate() {
            if i > 0 {
                out.push('/');
            }
            out.push_str(t.qualified(kind));
            if *t == Tag::Line && i == 0 {
                out.push_str(&format!("[{}]", self.doc.lines.len()));
            }
        }
        out
    }

    fn amount_currency(&mut self, attr: Option<&str>) {
        let Some(found) = attr else { return };
        let expected = self.doc.currency.as_deref().unwrap_or("");
        let tax_currency = self.doc.tax_currency.as_deref();
        let is_tax_total = self.stack.as_slice() == [Tag::TaxTotal, Tag::TaxAmount];
        if found != expected && !(is_tax_total && Some(found) == tax_currency) {
            let path = self.path();
            self.doc.foreign_currency_ids.push((path, found.to_owned()));
        }
    }

    /// Stores one leaf value. `Err` names the expected lexical form.
    fn leaf(&mut self, text: &str, attr: Option<&str>) -> Result<(), &'static str> {
        use Tag::*;
        let owned = || Some(text.to_owned());
        let is_amount = matches!(
            self.stack.last(),
            Some(
                Amount
                    | BaseAmount
                    | TaxAmount
                    | TaxableAmount
                    | LineExtensionAmount
                    | TaxExclusiveAmount
                    | TaxInclusiveAmount
                    | AllowanceTotalAmount
                    | ChargeTotalAmount
                    | PrepaidAmount
                    | PayableRoundingAmount
                    | PayableAmount
                    | PriceAmount
            )
        );
        if is_amount {
            self.amount_currency(attr);
        }
        let doc = &mut self.doc;
        match self.stack.as_slice() {
            [CustomizationID] => doc.customization_id = owned(),
            [ProfileID] => doc.profile_id = owned(),
            [ID] => doc.number = owned(),
            [IssueDate] => doc.issue_date = Some(date(text)?),
            [DueDate] => doc.due_date = Some(date(text)?),
            [TypeCode] => doc.type_code = owned(),
            [Note] => doc.notes.push(text.to_owned()),
            [DocumentCurrencyCode] => doc.currency = owned(),
            [TaxCurrencyCode] => doc.tax_currency = owned(),
            [BuyerReference] => doc.buyer_reference = owned(),
            [AccountingCost] => doc.accounting_cost = owned(),
            [OrderReference, ID] => doc.references.order = owned(),
            [OrderReference, SalesOrderID] => doc.references.sales_order = owned(),
            [BillingReference, InvoiceDocumentReference, field] => {
                if let Some(p) = doc.references.preceding_invoices.last_mut() {
                    match field {
                        ID => p.number = text.to_owned(),
                        IssueDate => p.issue_date = Some(date(text)?),
                        _ => {}
                    }
                }
            }
            [DespatchDocumentReference, ID] => doc.references.despatch = owned(),
            [ReceiptDocumentReference, ID] => doc.references.receipt = owned(),
            [ContractDocumentReference, ID] => doc.references.contract = owned(),
            [ProjectReference, ID] => doc.references.project = owned(),
            [OriginatorDocumentReference, ID] => doc.references.originator = owned(),
            [AccountingSupplierParty, Party, rest @ ..] => {
                party_leaf(&mut doc.seller, rest, text, attr)
            }
            [AccountingCustomerParty, Party, rest @ ..] => {
                party_leaf(&mut doc.buyer, rest, text, attr)
            }
            [PayeeParty, rest @ ..] => {
                if let Some(p) = doc.payee.as_mut() {
                    party_leaf(p, rest, text, attr);
                }
            }
            [Delivery, ActualDeliveryDate] => doc.delivery_date = Some(date(text)?),
            [PaymentMeans, PaymentMeansCode] => doc.payment.means_code = owned(),
            [PaymentMeans, PaymentID] => doc.payment.payment_id = owned(),
            [PaymentMeans, PayeeFinancialAccount, ID] => {
                doc.payment.payee_accounts.push(text.to_owned());
            }
            [PaymentTerms, Note] => doc.payment.terms = owned(),
            [AllowanceCharge, rest @ ..] => {
                if let Some(ac) = doc.allowances_charges.last_mut() {
                    allowance_charge_leaf(ac, rest, text)?;
                }
            }
            [TaxTotal, TaxAmount] => {
                let v = decimal(text)?;
                let tax_currency = doc.tax_currency.as_deref();
                let in_tax_currency = attr.is_some()
                    && attr == tax_currency
                    && tax_currency != doc.currency.as_deref();
                if in_tax_currency {
                    doc.tax_total_in_tax_currency = Some(v);
                } else {
                    doc.tax_total = Some(v);
                }
            }
            [TaxTotal, TaxSubtotal, rest @ ..] => {
                if let Some(st) = doc.tax_subtotals.last_mut() {
                    match rest {
                        [TaxableAmount] => st.taxable_amount = Some(decimal(text)?),
                        [TaxAmount] => st.tax_amount = Some(decimal(text)?),
                        [TaxCategory, ID] => {
                            st.category.get_or_insert_with(Default::default).code = text.to_owned();
                        }
                        [TaxCategory, Percent] => {
                            st.category.get_or_insert_with(Default::default).percent =
                                Some(decimal(text)?);
                        }
                        [TaxCategory, TaxExemptionReason] => st.exemption_reason = owned(),
                        [TaxCategory, TaxExemptionReasonCode] => {
                            st.exemption_reason_code = owned();
                        }
                        _ => {}
                    }
                }
            }
            [LegalMonetaryTotal, field] => {
                let t = &mut doc.totals;
                let slot = match field {
                    LineExtensionAmount => &mut t.line_extension,
                    TaxExclusiveAmount => &mut t.tax_exclusive,
                    TaxInclusiveAmount => &mut t.tax_inclusive,
                    AllowanceTotalAmount => &mut t.allowance_total,
                    ChargeTotalAmount => &mut t.charge_total,
                    PrepaidAmount => &mut t.prepaid,
                    PayableRoundingAmount => &mut t.rounding,
                    PayableAmount => &mut t.payable,
                    _ => return Ok(()),
                };
                *slot = Some(decimal(text)?);
            }
            [Line, rest @ ..] => {
                if let Some(line) = doc.lines.last_mut() {
                    line_leaf(line, rest, text, attr)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn party_leaf(p: &mut Party, rest: &[Tag], text: &str, attr: Option<&str>) {
    use Tag::*;
    let owned = || Some(text.to_owned());
    match rest {
        [EndpointID] => {
            p.endpoint = Some(Identifier {
                value: text.to_owned(),
                scheme: attr.map(str::to_owned),
            });
        }
        [PartyIdentification, ID] => p.ids.push(Identifier {
            value: text.to_owned(),
            scheme: attr.map(str::to_owned),
        }),
        [PartyName, Name] => p.trading_name = owned(),
        [PostalAddress, field @ ..] => {
            let a = p.address.get_or_insert_with(Default::default);
            match field {
                [StreetName] => a.street = owned(),
                [CityName] => a.city = owned(),
                [PostalZone] => a.postal_zone = owned(),
                [Country, IdentificationCode] => a.country = owned(),
                _ => {}
            }
        }
        [PartyTaxScheme, CompanyID] => {
            if let Some(r) = p.tax_registrations.last_mut() {
                r.company_id = text.to_owned();
            }
        }
        [PartyTaxScheme, TaxScheme, ID] => {
            if let Some(r) = p.tax_registrations.last_mut() {
                r.scheme = owned();
            }
        }
        [PartyLegalEntity, RegistrationName] => p.registration_name = owned(),
        [PartyLegalEntity, CompanyID] => {
            p.legal_id = Some(Identifier {
                value: text.to_owned(),
                scheme: attr.map(str::to_owned),
            });
        }
        [Contact, ElectronicMail] => p.contact_email = owned(),
        _ => {}
    }
}

fn allowance_charge_leaf(
    ac: &mut AllowanceCharge,
    rest: &[Tag],
    text: &str,
) -> Result<(), &'static str> {
    use Tag::*;
    match rest {
        [ChargeIndicator] => ac.is_charge = boolean(text)?,
        [AllowanceChargeReasonCode] => ac.reason_code = Some(text.to_owned()),
        [AllowanceChargeReason] => ac.reason = Some(text.to_owned()),
        [MultiplierFactorNumeric] => ac.percent = Some(decimal(text)?),
        [Amount] => ac.amount = Some(decimal(text)?),
        [BaseAmount] => ac.base_amount = Some(decimal(text)?),
        [TaxCategory, ID] => {
            ac.tax_category.get_or_insert_with(Default::default).code = text.to_owned();
        }
        [TaxCategory, Percent] => {
            ac.tax_category.get_or_insert_with(Default::default).percent = Some(decimal(text)?);
        }
        _ => {}
    }
    Ok(())
}

fn line_leaf(
    line: &mut Line,
    rest: &[Tag],
    text: &str,
    attr: Option<&str>,
) -> Result<(), &'static str> {
    use Tag::*;
    let owned = || Some(text.to_owned());
    match rest {
        [ID] => line.id = owned(),
        [Note] => line.note = owned(),
        [Quantity] => {
            line.quantity = Some(decimal(text)?);
            line.unit_code = attr.map(str::to_owned);
        }
        [LineExtensionAmount] => line.net_amount = Some(decimal(text)?),
        [AccountingCost] => line.accounting_cost = owned(),
        [OrderLineReference, LineID] => line.order_line_ref = owned(),
        [AllowanceCharge, rest @ ..] => {
            if let Some(ac) = line.allowances_charges.last_mut() {
                allowance_charge_leaf(ac, rest, text)?;
            }
        }
        [Item, Name] => line.item.name = owned(),
        [Item, Description] => line.item.description = owned(),
        [Item, SellersItemIdentification, ID] => line.item.seller_id = owned(),
        [Item, BuyersItemIdentification, ID] => line.item.buyer_id = owned(),
        [Item, StandardItemIdentification, ID] => {
            line.item.standard_id = Some(Identifier {
                value: text.to_owned(),
                scheme: attr.map(str::to_owned),
            });
        }
        [Item, ClassifiedTaxCategory, ID] => {
            line.item.tax.get_or_insert_with(Default::default).code = text.to_owned();
        }
        [Item, ClassifiedTaxCategory, Percent] => {
            line.item.tax.get_or_insert_with(Default::default).percent = Some(decimal(text)?);
        }
        [Price, PriceAmount] => line.price.amount = Some(decimal(text)?),
        [Price, BaseQuantity] => {
            line.price.base_quantity = Some(decimal(text)?);
            line.price.base_unit_code = attr.map(str::to_owned);
        }
        [Price, AllowanceCharge, Amount] => line.price.discount = Some(decimal(text)?),
        [Price, AllowanceCharge, BaseAmount] => line.price.gross = Some(decimal(text)?),
        _ => {}
    }
    Ok(())
}

/// The most integer digits a number may have: a quadrillion of anything is not an
/// invoice, and the bound keeps every sum and product in the rules far from overflow.
pub(crate) const MAX_INTEGER_DIGITS: usize = 15;

const DECIMAL_FORM: &str = "a decimal number with at most 15 digits before the point";

pub(crate) fn decimal(text: &str) -> Result<Decimal, &'static str> {
    // `Decimal::from_str` also takes `1_000` and `1e3`; EN 16931 wants plain decimals.
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let int_digits = digits.find('.').unwrap_or(digits.len());
    let plain = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && int_digits
            <= MAX_INTEGER_DIGITS
                + digits[..int_digits]
                    .bytes()
                    .take_while(|&b| b == b'0')
                    .count();
    if !plain {
        return Err(DECIMAL_FORM);
    }
    Decimal::from_str(text).map_err(|_| DECIMAL_FORM)
}

fn date(text: &str) -> Result<NaiveDate, &'static str> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| "a date as `YYYY-MM-DD`")
}

fn boolean(text: &str) -> Result<bool, &'static str> {
    match text {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err("`true` or `false`"),
    }
}
