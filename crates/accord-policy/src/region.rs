//! Regional rule packs: per region, the reporting currency, the usual payment norms and
//! the legal caps on payment terms, each rule citing its legal source. Shipped as TOML data
//! in `data/regions/`, embedded at compile time. `docs/regions.md` explains them.

use std::{collections::BTreeMap, sync::LazyLock};

use accord_core::{Currency, RegionCode, SizeClass};
use serde::{Deserialize, Serialize};

/// Who pays: caps differ for public authorities.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuyerKind {
    #[default]
    Private,
    Public,
}

/// How payment days are counted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentBasis {
    /// Calendar days from the invoice date (`net 60`).
    #[default]
    InvoiceDate,
    /// Days counted to the end of the month (`45 days end of month`).
    EndOfMonth,
}

/// One legal rule capping payment terms.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRule {
    /// Stable id, such as `fr.lme.b2b`, quoted in violations.
    pub id: String,
    /// Buyer kind the rule applies to; `None` for any buyer.
    #[serde(default)]
    pub buyer: Option<BuyerKind>,
    /// Supplier size classes protected; empty for every size.
    #[serde(default)]
    pub sizes: Vec<SizeClass>,
    /// Maximum payment days counted from the invoice date.
    pub max_payment_days: u32,
    /// Maximum payment days when terms are stated end of month, where the law says so.
    #[serde(default)]
    pub end_of_month_max_days: Option<u32>,
    /// What the law allows beyond the cap, and why Accord's agents do not use it.
    pub exception: String,
    /// The legal source.
    pub source: String,
}

impl PaymentRule {
    fn applies(&self, size: SizeClass, buyer: BuyerKind) -> bool {
        self.buyer.is_none_or(|b| b == buyer)
            && (self.sizes.is_empty() || self.sizes.contains(&size))
    }

    /// The cap for `basis`. A rule without an end-of-month figure is applied to
    /// end-of-month terms 31 days tighter, since "N days end of month" can run up to 31
    /// days past "N days": conservative, never looser than the law.
    pub fn cap(&self, basis: PaymentBasis) -> u32 {
        match basis {
            PaymentBasis::InvoiceDate => self.max_payment_days,
            PaymentBasis::EndOfMonth => self
                .end_of_month_max_days
                .unwrap_or(self.max_payment_days.saturating_sub(31)),
        }
    }
}

/// One region's pack.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionPack {
    pub code: RegionCode,
    pub name: String,
    /// A wider region whose rules also apply (France and Germany are in the EU).
    #[serde(default)]
    pub parent: Option<RegionCode>,
    pub reporting_currency: Currency,
    /// The payment term that applies when none is agreed, in days.
    pub default_payment_days: u32,
    pub payment_norms: String,
    #[serde(default)]
    pub rules: Vec<PaymentRule>,
}

/// The legal cap on payment days for one supplier, with the rules that set it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct PaymentCap {
    /// Maximum payment days from the invoice date; `None` when no law caps them.
    pub invoice_date: Option<u32>,
    /// Maximum when terms are stated end of month.
    pub end_of_month: Option<u32>,
    /// Ids of the rules that apply.
    pub rule_ids: Vec<String>,
}

impl PaymentCap {
    /// No legal cap (used where the caller has decided none applies).
    pub fn none() -> PaymentCap {
        PaymentCap::default()
    }

    pub fn days(&self, basis: PaymentBasis) -> Option<u32> {
        match basis {
            PaymentBasis::InvoiceDate => self.invoice_date,
            PaymentBasis::EndOfMonth => self.end_of_month,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegionError {
    #[error("no rule pack for region `{0}`: payment terms there cannot be checked")]
    Unknown(RegionCode),
    #[error("malformed rule pack `{file}`: {message}")]
    Malformed { file: String, message: String },
}

/// Every region pack, by code.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RegionRules {
    packs: BTreeMap<RegionCode, RegionPack>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("de.toml", include_str!("../data/regions/de.toml")),
    ("eu.toml", include_str!("../data/regions/eu.toml")),
    ("fr.toml", include_str!("../data/regions/fr.toml")),
    ("in.toml", include_str!("../data/regions/in.toml")),
    ("uk.toml", include_str!("../data/regions/uk.toml")),
    ("us.toml", include_str!("../data/regions/us.toml")),
];

static BUILTIN_RULES: LazyLock<RegionRules> = LazyLock::new(|| {
    // INVARIANT: a test parses the built-in packs, so this cannot fail in a release.
    RegionRules::from_toml(BUILTIN).expect("built-in region packs parse")
});

impl RegionRules {
    /// The packs shipped with Accord: EU, FR, DE, UK, IN, US.
    pub fn builtin() -> &'static RegionRules {
        &BUILTIN_RULES
    }

    /// Parses packs from `(file name, TOML text)` pairs; a parent must be one of them.
    pub fn from_toml(files: &[(&str, &str)]) -> Result<RegionRules, RegionError> {
        let mut packs = BTreeMap::new();
        for (file, text) in files {
            let pack: RegionPack = toml::from_str(text).map_err(|e| RegionError::Malformed {
                file: (*file).to_owned(),
                message: e.message().to_owned(),
            })?;
            packs.insert(pack.code.clone(), pack);
        }
        for pack in packs.values() {
            if let Some(parent) = &pack.parent
                && !packs.contains_key(parent)
            {
                return Err(RegionError::Malformed {
                    file: pack.code.to_string(),
                    message: format!("parent region `{parent}` has no pack"),
                });
            }
        }
        Ok(RegionRules { packs })
    }

    pub fn get(&self, region: &RegionCode) -> Option<&RegionPack> {
        self.packs.get(region)
    }

    pub fn regions(&self) -> impl Iterator<Item = &RegionPack> {
        self.packs.values()
    }

    /// The legal cap on payment days for a supplier of `size` in `region`, paid by a
    /// `buyer`: the tightest of the region's rules and its parents' rules that apply.
    pub fn payment_cap(
        &self,
        region: &RegionCode,
        size: SizeClass,
        buyer: BuyerKind,
    ) -> Result<PaymentCap, RegionError> {
        let mut cap = PaymentCap::none();
        // An end-of-month figure stated by a rule (France's 45 days) is the law for such
        // terms; the conservative derived figure is used only where no rule states one.
        let mut stated_eom: Option<u32> = None;
        let mut derived_eom: Option<u32> = None;
        let min = |a: Option<u32>, b: u32| Some(a.map_or(b, |a| a.min(b)));
        let mut next = Some(region);
        let mut seen = 0;
        while let Some(code) = next {
            let pack = self
                .packs
                .get(code)
                .ok_or_else(|| RegionError::Unknown(code.clone()))?;
            for rule in pack.rules.iter().filter(|r| r.applies(size, buyer)) {
                cap.invoice_date = min(cap.invoice_date, rule.cap(PaymentBasis::InvoiceDate));
                match rule.end_of_month_max_days {
                    Some(days) => stated_eom = min(stated_eom, days),
                    None => derived_eom = min(derived_eom, rule.cap(PaymentBasis::EndOfMonth)),
                }
                cap.rule_ids.push(rule.id.clone());
            }
            next = pack.parent.as_ref();
            seen += 1;
            // A cycle of parents cannot be built from well-formed data, but stay finite.
            if seen > 8 {
                break;
            }
        }
        cap.end_of_month = stated_eom.or(derived_eom);
        Ok(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap()
    }

    /// `(region, size, buyer)` → expected caps from the invoice date and end of month.
    fn check(r: &str, size: SizeClass, buyer: BuyerKind, expected: (Option<u32>, Option<u32>)) {
        let cap = RegionRules::builtin()
            .payment_cap(&region(r), size, buyer)
            .unwrap();
        assert_eq!(
            (cap.invoice_date, cap.end_of_month),
            expected,
            "{r} {size} {buyer:?}: {cap:?}"
        );
    }

    #[test]
    fn caps_per_region_size_and_buyer() {
        use BuyerKind::*;
        use SizeClass::*;
        check("EU", Large, Private, (Some(60), Some(29)));
        check("EU", Small, Public, (Some(30), Some(0)));
        check("FR", Micro, Private, (Some(60), Some(45)));
        check("FR", Large, Public, (Some(30), Some(0)));
        check("DE", Medium, Private, (Some(60), Some(29)));
        check("UK", Small, Private, (Some(60), Some(29)));
        check("IN", Micro, Private, (Some(45), Some(14)));
        check("IN", Small, Public, (Some(45), Some(14)));
        check("IN", Medium, Private, (None, None));
        check("US", Micro, Private, (None, None));
        check("US", Large, Public, (Some(30), Some(0)));
    }

    #[test]
    fn every_rule_cites_a_source_and_every_pack_has_a_currency() {
        let rules = RegionRules::builtin();
        let codes: Vec<&str> = rules.regions().map(|p| p.code.as_str()).collect();
        assert_eq!(codes, ["DE", "EU", "FR", "IN", "UK", "US"]);
        for pack in rules.regions() {
            assert!(!pack.payment_norms.is_empty(), "{}", pack.code);
            for rule in &pack.rules {
                assert!(rule.source.len() > 20, "{}", rule.id);
                assert!(
                    rule.id.starts_with(&pack.code.as_str().to_lowercase()),
                    "{}",
                    rule.id
                );
            }
        }
        assert_eq!(
            rules.get(&region("UK")).unwrap().reporting_currency,
            Currency::GBP
        );
        assert_eq!(
            rules.get(&region("IN")).unwrap().reporting_currency,
            Currency::INR
        );
    }

    #[test]
    fn unknown_regions_and_bad_data_are_refused() {
        let e = RegionRules::builtin()
            .payment_cap(&region("BR"), SizeClass::Small, BuyerKind::Private)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "no rule pack for region `BR`: payment terms there cannot be checked"
        );
        let bad = "code = \"XX\"\nname = \"x\"\nreporting_currency = \"EUR\"\ndefault_payment_days = 30\npayment_norms = \"\"\nparent = \"YY\"\n";
        assert!(matches!(
            RegionRules::from_toml(&[("xx.toml", bad)]),
            Err(RegionError::Malformed { .. })
        ));
        let typo = "code = \"XX\"\nname = \"x\"\nreporting_currency = \"EUR\"\ndefault_payment_days = 30\npayment_norms = \"\"\nmax_days = 3\n";
        assert!(RegionRules::from_toml(&[("xx.toml", typo)]).is_err());
    }
}
