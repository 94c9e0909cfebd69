//! A generator of valid EN 16931 UBL invoices of any size, for benchmarks, property tests
//! and end-to-end tests: seeded, so the same seed gives the same bytes.
//!
//! Generated invoices use line allowances and charges, price base quantities, three VAT
//! rates, document-level allowance and charge, and a prepaid amount, and they pass every
//! rule of `ubl::rules` under both profiles. [`generate_order`] builds the purchase order,
//! goods receipt and core invoice that match each other, for the match benchmark.

use std::fmt::Write;

use accord_core::{
    Currency, Money,
    document::{
        GoodsReceipt, Invoice, InvoiceKind, InvoiceLine, OrderLine, PurchaseOrder, ReceiptLine,
    },
    id::{InvoiceId, PurchaseOrderId, ReceiptId, SupplierId},
    lifecycle::{InvoiceState, PurchaseOrderState, ReceiptState},
    round_minor,
};
use chrono::{Days, NaiveDate};
use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;

/// Rounds an exact amount to cents through the one rounding place, `round_minor`.
fn cents(exact: Decimal) -> Decimal {
    let minor = round_minor(exact * Decimal::ONE_HUNDRED).expect("generated amounts are small");
    Decimal::new(minor, 2)
}

struct GenLine {
    qty: Decimal,
    price: Decimal,
    base_qty: Option<Decimal>,
    allowance: Option<Decimal>,
    charge: Option<Decimal>,
    rate: Decimal,
    code: &'static str,
    net: Decimal,
    sku: String,
}

/// The tax categories used: standard 25 %, standard 12 %, zero-rated.
const CATEGORIES: [(&str, i64); 3] = [("S", 25), ("S", 12), ("Z", 0)];

fn gen_lines(rng: &mut StdRng, n: usize) -> Vec<GenLine> {
    (0..n)
        .map(|i| {
            let qty = if rng.random_bool(0.2) {
                Decimal::new(rng.random_range(1..2000), 1)
            } else {
                Decimal::from(rng.random_range(1..100))
            };
            let price = Decimal::new(rng.random_range(10..100_000), 2);
            let base_qty = rng
                .random_bool(0.2)
                .then(|| Decimal::from(rng.random_range(2..12)));
            let unit = price / base_qty.unwrap_or(Decimal::ONE);
            let gross = qty * unit;
            let allowance = rng
                .random_bool(0.2)
                .then(|| cents(gross / Decimal::from(20)));
            let charge = rng
                .random_bool(0.1)
                .then(|| Decimal::new(rng.random_range(100..1000), 2));
            // Line 1 is always standard 25 % so that document-level allowances have a
            // category present on the invoice.
            let (code, rate) = if i == 0 {
                CATEGORIES[0]
            } else {
                CATEGORIES[rng.random_range(0..CATEGORIES.len())]
            };
            let net = cents(gross - allowance.unwrap_or_default() + charge.unwrap_or_default());
            GenLine {
                qty,
                price,
                base_qty,
                allowance,
                charge,
                rate: Decimal::from(rate),
                code,
                net,
                sku: format!("SKU-{:05}", rng.random_range(0..100_000)),
            }
        })
        .collect()
}

/// A valid UBL 2.1 invoice with `lines` lines (at least one is generated).
pub fn generate_invoice(seed: u64, lines: usize) -> String {
    let mut rng = StdRng::seed_from_u64(seed);
    let lines = gen_lines(&mut rng, lines.max(1));
    let issue = NaiveDate::from_ymd_opt(2025, 1, 1).expect("valid date") + Days::new(seed % 365);
    let due = issue + Days::new(30);
    let doc_allowance = rng
        .random_bool(0.5)
        .then(|| Decimal::new(rng.random_range(100..1000), 2));
    let doc_charge = rng
        .random_bool(0.5)
        .then(|| Decimal::new(rng.random_range(100..2000), 2));

    // VAT breakdown per category and rate, in a fixed order.
    let mut breakdown: Vec<(&str, Decimal, Decimal, Decimal)> = Vec::new(); // code, rate, taxable, tax
    for (code, rate) in CATEGORIES {
        let rate = Decimal::from(rate);
        let mut taxable: Decimal = lines
            .iter()
            .filter(|l| l.code == code && l.rate == rate)
            .map(|l| l.net)
            .sum();
        let used = lines.iter().any(|l| l.code == code && l.rate == rate);
        if !used {
            continue;
        }
        if code == "S" && rate == Decimal::from(25) {
            taxable += doc_charge.unwrap_or_default() - doc_allowance.unwrap_or_default();
        }
        breakdown.push((
            code,
            rate,
            taxable,
            cents(taxable * rate / Decimal::ONE_HUNDRED),
        ));
    }
    let line_total: Decimal = lines.iter().map(|l| l.net).sum();
    let allowance_total = doc_allowance.unwrap_or_default();
    let charge_total = doc_charge.unwrap_or_default();
    let exclusive = line_total - allowance_total + charge_total;
    let vat: Decimal = breakdown.iter().map(|b| b.3).sum();
    let inclusive = exclusive + vat;
    let prepaid = if rng.random_bool(0.2) {
        cents(inclusive / Decimal::from(10))
    } else {
        Decimal::ZERO
    };
    let payable = inclusive - prepaid;

    let mut x = String::with_capacity(2048 + lines.len() * 1100);
    let w = &mut x;
    // Writing to a String cannot fail.
    let _ = write!(
        w,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>INV-{seed:08}</cbc:ID>
  <cbc:IssueDate>{issue}</cbc:IssueDate>
  <cbc:DueDate>{due}</cbc:DueDate>
  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
  <cbc:Note>Generated invoice &amp; test data</cbc:Note>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cbc:BuyerReference>BR-{seed}</cbc:BuyerReference>
  <cac:OrderReference><cbc:ID>PO-{seed:08}</cbc:ID></cac:OrderReference>
  <cac:ContractDocumentReference><cbc:ID>CT-{contract:04}</cbc:ID></cac:ContractDocumentReference>
  <cac:AccountingSupplierParty>
    <cac:Party>
      <cbc:EndpointID schemeID="0088">{seller_gln}</cbc:EndpointID>
      <cac:PartyIdentification><cbc:ID schemeID="0088">{seller_gln}</cbc:ID></cac:PartyIdentification>
      <cac:PartyName><cbc:Name>Supplier {supplier}</cbc:Name></cac:PartyName>
      <cac:PostalAddress>
        <cbc:StreetName>Main Street {supplier}</cbc:StreetName>
        <cbc:CityName>Utrecht</cbc:CityName>
        <cbc:PostalZone>3500</cbc:PostalZone>
        <cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyTaxScheme><cbc:CompanyID>NL{supplier:09}B01</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
      <cac:PartyLegalEntity><cbc:RegistrationName>Supplier {supplier} B.V.</cbc:RegistrationName><cbc:CompanyID>{supplier:08}</cbc:CompanyID></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    <cac:Party>
      <cbc:EndpointID schemeID="0088">5790000436057</cbc:EndpointID>
      <cac:PartyName><cbc:Name>Accord Buyer</cbc:Name></cac:PartyName>
      <cac:PostalAddress>
        <cbc:CityName>Copenhagen</cbc:CityName>
        <cac:Country><cbc:IdentificationCode>DK</cbc:IdentificationCode></cac:Country>
      </cac:PostalAddress>
      <cac:PartyLegalEntity><cbc:RegistrationName>Accord Buyer A/S</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingCustomerParty>
  <cac:PaymentMeans>
    <cbc:PaymentMeansCode>30</cbc:PaymentMeansCode>
    <cbc:PaymentID>INV-{seed:08}</cbc:PaymentID>
    <cac:PayeeFinancialAccount><cbc:ID>NL91ABNA0417164300</cbc:ID></cac:PayeeFinancialAccount>
  </cac:PaymentMeans>
  <cac:PaymentTerms><cbc:Note>Net 30 days</cbc:Note></cac:PaymentTerms>
"#,
        contract = seed % 1000,
        supplier = seed % 97,
        seller_gln = 5_790_000_000_000u64 + seed % 97,
    );
    let doc_ac = |w: &mut String, charge: bool, amount: Decimal| {
        let (reason, code) = if charge {
            ("Freight", "FC")
        } else {
            ("Volume discount", "95")
        };
        let _ = write!(
            w,
            r#"  <cac:AllowanceCharge>
    <cbc:ChargeIndicator>{charge}</cbc:ChargeIndicator>
    <cbc:AllowanceChargeReasonCode>{code}</cbc:AllowanceChargeReasonCode>
    <cbc:AllowanceChargeReason>{reason}</cbc:AllowanceChargeReason>
    <cbc:Amount currencyID="EUR">{amount}</cbc:Amount>
    <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>25</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
  </cac:AllowanceCharge>
"#
        );
    };
    if let Some(a) = doc_allowance {
        doc_ac(w, false, a);
    }
    if let Some(c) = doc_charge {
        doc_ac(w, true, c);
    }
    let _ = writeln!(
        w,
        r#"  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="EUR">{vat:.2}</cbc:TaxAmount>"#
    );
    for (code, rate, taxable, tax) in &breakdown {
        let _ = write!(
            w,
            r#"    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="EUR">{taxable:.2}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="EUR">{tax:.2}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>{code}</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>
"#
        );
    }
    let _ = write!(
        w,
        r#"  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="EUR">{line_total:.2}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="EUR">{exclusive:.2}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">{inclusive:.2}</cbc:TaxInclusiveAmount>
    <cbc:AllowanceTotalAmount currencyID="EUR">{allowance_total:.2}</cbc:AllowanceTotalAmount>
    <cbc:ChargeTotalAmount currencyID="EUR">{charge_total:.2}</cbc:ChargeTotalAmount>
    <cbc:PrepaidAmount currencyID="EUR">{prepaid:.2}</cbc:PrepaidAmount>
    <cbc:PayableAmount currencyID="EUR">{payable:.2}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
"#
    );
    for (i, l) in lines.iter().enumerate() {
        let _ = write!(
            w,
            r#"  <cac:InvoiceLine>
    <cbc:ID>{id}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="EA">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">{net:.2}</cbc:LineExtensionAmount>
    <cac:OrderLineReference><cbc:LineID>{id}</cbc:LineID></cac:OrderLineReference>
"#,
            id = i + 1,
            qty = l.qty,
            net = l.net,
        );
        for (charge, amount) in [(false, l.allowance), (true, l.charge)] {
            if let Some(a) = amount {
                let reason = if charge { "Handling" } else { "Discount" };
                let _ = write!(
                    w,
                    r#"    <cac:AllowanceCharge>
      <cbc:ChargeIndicator>{charge}</cbc:ChargeIndicator>
      <cbc:AllowanceChargeReason>{reason}</cbc:AllowanceChargeReason>
      <cbc:Amount currencyID="EUR">{a:.2}</cbc:Amount>
    </cac:AllowanceCharge>
"#
                );
            }
        }
        let _ = write!(
            w,
            r#"    <cac:Item>
      <cbc:Description>Generated item {id} for load tests</cbc:Description>
      <cbc:Name>Item {sku}</cbc:Name>
      <cac:SellersItemIdentification><cbc:ID>{sku}</cbc:ID></cac:SellersItemIdentification>
      <cac:ClassifiedTaxCategory><cbc:ID>{code}</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price>
      <cbc:PriceAmount currencyID="EUR">{price:.2}</cbc:PriceAmount>
"#,
            id = i + 1,
            sku = l.sku,
            code = l.code,
            rate = l.rate,
            price = l.price,
        );
        if let Some(b) = l.base_qty {
            let _ = writeln!(
                w,
                r#"      <cbc:BaseQuantity unitCode="EA">{b}</cbc:BaseQuantity>"#
            );
        }
        let _ = write!(w, "    </cac:Price>\n  </cac:InvoiceLine>\n");
    }
    x.push_str("</Invoice>\n");
    x
}

/// A purchase order with `lines` lines, a goods receipt receiving all of it, and an
/// invoice billing all of it at the order's prices: a clean three-way match. Tests
/// perturb it to provoke exceptions.
pub fn generate_order(seed: u64, lines: usize) -> (PurchaseOrder, GoodsReceipt, Invoice) {
    let mut rng = StdRng::seed_from_u64(seed);
    let cur = Currency::EUR;
    let supplier = SupplierId::from_parts(1_700_000_000_000, u128::from(seed % 97) + 1);
    let po_id = PurchaseOrderId::from_parts(1_700_000_000_000, u128::from(seed) + 1);
    let order_lines: Vec<OrderLine> = (0..lines)
        .map(|i| OrderLine {
            line_no: i as u32 + 1,
            sku: format!("SKU-{i:06}"),
            description: format!("Item {i}"),
            quantity: Decimal::from(rng.random_range(1..500)),
            unit: "EA".into(),
            unit_price: Money::new(rng.random_range(10..100_000), cur),
        })
        .collect();
    let po = PurchaseOrder {
        id: po_id,
        number: format!("PO-{seed:08}"),
        supplier,
        contract: None,
        requisition: None,
        currency: cur,
        lines: order_lines,
        payment_days: 30,
        state: PurchaseOrderState::Received,
    };
    let day = NaiveDate::from_ymd_opt(2025, 3, 1).expect("valid date");
    let receipt = GoodsReceipt {
        id: ReceiptId::from_parts(1_700_000_000_000, u128::from(seed) + 1),
        purchase_order: po_id,
        received_on: day,
        lines: po
            .lines
            .iter()
            .map(|l| ReceiptLine {
                po_line: l.line_no,
                received: l.quantity,
                rejected: Decimal::ZERO,
            })
            .collect(),
        state: ReceiptState::Posted,
    };
    let inv_lines: Vec<InvoiceLine> = po
        .lines
        .iter()
        .map(|l| InvoiceLine {
            line_id: l.line_no.to_string(),
            po_line: Some(l.line_no),
            sku: Some(l.sku.clone()),
            description: l.description.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            unit_price: l.unit_price,
            net_amount: l.unit_price.scale(l.quantity).expect("small amounts"),
        })
        .collect();
    let total = Money::sum(cur, inv_lines.iter().map(|l| l.net_amount)).expect("small amounts");
    let tax = total.scale(Decimal::new(25, 2)).expect("small amounts");
    let invoice = Invoice {
        id: InvoiceId::from_parts(1_700_000_000_000, u128::from(seed) + 1),
        kind: InvoiceKind::Invoice,
        number: format!("INV-{seed:08}"),
        supplier,
        issue_date: day,
        due_date: Some(day + Days::new(30)),
        currency: cur,
        order_ref: Some(po.number.clone()),
        contract_ref: None,
        lines: inv_lines,
        referenced_invoice: None,
        tax_exclusive: total,
        tax,
        payable: total.checked_add(tax).expect("small amounts"),
        state: InvoiceState::Received,
    };
    (po, receipt, invoice)
}

/// One line of a [`DraftInvoice`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DraftLine {
    /// The purchase-order line it bills (BT-132).
    pub po_line: Option<u32>,
    pub sku: String,
    pub quantity: Decimal,
    /// Net unit price in major units.
    pub unit_price: Decimal,
}

/// A plain invoice as a supplier's system sends it against a purchase order: one
/// standard VAT rate, no allowances or charges. [`DraftInvoice::to_ubl`] writes valid
/// EN 16931 UBL with totals that reconcile, for end-to-end tests, examples and the
/// ingestion benchmark.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DraftInvoice {
    pub number: String,
    pub issue_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub currency: Currency,
    /// The purchase-order number (BT-13).
    pub order_ref: Option<String>,
    /// The seller's identifier (BT-29), as the buyer's supplier master knows it.
    pub seller_id: String,
    pub seller_name: String,
    /// Standard VAT rate in percent.
    pub vat_rate: Decimal,
    pub lines: Vec<DraftLine>,
}

impl DraftInvoice {
    /// The invoice as UBL 2.1. Amounts are rounded to cents through `round_minor`.
    pub fn to_ubl(&self) -> String {
        let cur = self.currency.code();
        let nets: Vec<Decimal> = self
            .lines
            .iter()
            .map(|l| cents(l.quantity * l.unit_price))
            .collect();
        let total: Decimal = nets.iter().sum();
        let vat = cents(total * self.vat_rate / Decimal::ONE_HUNDRED);
        let inclusive = total + vat;
        let mut x = String::with_capacity(2048 + self.lines.len() * 700);
        let w = &mut x;
        let _ = write!(
            w,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
  <cbc:ProfileID>urn:fdc:peppol.eu:2017:poacc:billing:01:1.0</cbc:ProfileID>
  <cbc:ID>{number}</cbc:ID>
  <cbc:IssueDate>{issue}</cbc:IssueDate>
"#,
            number = xml_text(&self.number),
            issue = self.issue_date,
        );
        if let Some(due) = self.due_date {
            let _ = writeln!(w, "  <cbc:DueDate>{due}</cbc:DueDate>");
        }
        let _ = writeln!(w, "  <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>");
        let _ = writeln!(
            w,
            "  <cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>"
        );
        let _ = writeln!(w, "  <cbc:BuyerReference>accord</cbc:BuyerReference>");
        if let Some(order) = &self.order_ref {
            let _ = writeln!(
                w,
                "  <cac:OrderReference><cbc:ID>{}</cbc:ID></cac:OrderReference>",
                xml_text(order)
            );
        }
        let _ = write!(
            w,
            r#"  <cac:AccountingSupplierParty>
    <cac:Party>
      <cac:PartyIdentification><cbc:ID>{id}</cbc:ID></cac:PartyIdentification>
      <cac:PartyName><cbc:Name>{name}</cbc:Name></cac:PartyName>
      <cac:PostalAddress><cbc:CityName>Utrecht</cbc:CityName><cac:Country><cbc:IdentificationCode>NL</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
      <cac:PartyTaxScheme><cbc:CompanyID>NL{vat}B01</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
      <cac:PartyLegalEntity><cbc:RegistrationName>{name}</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty>
    <cac:Party>
      <cac:PartyName><cbc:Name>Accord Buyer</cbc:Name></cac:PartyName>
      <cac:PostalAddress><cbc:CityName>Copenhagen</cbc:CityName><cac:Country><cbc:IdentificationCode>DK</cbc:IdentificationCode></cac:Country></cac:PostalAddress>
      <cac:PartyLegalEntity><cbc:RegistrationName>Accord Buyer A/S</cbc:RegistrationName></cac:PartyLegalEntity>
    </cac:Party>
  </cac:AccountingCustomerParty>
  <cac:TaxTotal>
    <cbc:TaxAmount currencyID="{cur}">{vat_amount:.2}</cbc:TaxAmount>
    <cac:TaxSubtotal>
      <cbc:TaxableAmount currencyID="{cur}">{total:.2}</cbc:TaxableAmount>
      <cbc:TaxAmount currencyID="{cur}">{vat_amount:.2}</cbc:TaxAmount>
      <cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory>
    </cac:TaxSubtotal>
  </cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:LineExtensionAmount currencyID="{cur}">{total:.2}</cbc:LineExtensionAmount>
    <cbc:TaxExclusiveAmount currencyID="{cur}">{total:.2}</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="{cur}">{inclusive:.2}</cbc:TaxInclusiveAmount>
    <cbc:PayableAmount currencyID="{cur}">{inclusive:.2}</cbc:PayableAmount>
  </cac:LegalMonetaryTotal>
"#,
            id = xml_text(&self.seller_id),
            name = xml_text(&self.seller_name),
            vat = self.seller_id.bytes().map(u64::from).sum::<u64>() % 1_000_000_000,
            vat_amount = vat,
            rate = self.vat_rate,
        );
        for (i, (l, net)) in self.lines.iter().zip(&nets).enumerate() {
            let _ = writeln!(
                w,
                r#"  <cac:InvoiceLine>
    <cbc:ID>{n}</cbc:ID>
    <cbc:InvoicedQuantity unitCode="EA">{qty}</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="{cur}">{net:.2}</cbc:LineExtensionAmount>{order_line}
    <cac:Item>
      <cbc:Name>{sku}</cbc:Name>
      <cac:SellersItemIdentification><cbc:ID>{sku}</cbc:ID></cac:SellersItemIdentification>
      <cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory>
    </cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="{cur}">{price}</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>"#,
                n = i + 1,
                qty = l.quantity,
                order_line = l.po_line.map_or(String::new(), |p| format!(
                    "\n    <cac:OrderLineReference><cbc:LineID>{p}</cbc:LineID></cac:OrderLineReference>"
                )),
                sku = xml_text(&l.sku),
                rate = self.vat_rate,
                price = l.unit_price,
            );
        }
        x.push_str("</Invoice>\n");
        x
    }
}

/// Escapes text for an XML element.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
