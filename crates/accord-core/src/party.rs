//! Parties and master data: suppliers, regions, categories and items.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::SupplierId;

/// A region code such as `EU`, `FR`, `DE`, `UK`, `IN` or `US`: the key of a regional rule
/// pack. Upper-case ASCII letters, 2 to 8 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(s: &str) -> Result<RegionCode, String> {
        let s = s.trim();
        if (2..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(RegionCode(s.to_ascii_uppercase()))
        } else {
            Err(format!(
                "malformed region code `{s}`: expected 2 to 8 letters"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RegionCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RegionCode::parse(&s)
    }
}

impl From<RegionCode> for String {
    fn from(r: RegionCode) -> String {
        r.0
    }
}

impl fmt::Display for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Result<$name, String> {
                let t = s.trim();
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(t))
                    .ok_or_else(|| {
                        let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("unknown {} `{t}`: expected one of {}", stringify!($name), all.join(", "))
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Supplier size class, as used by small-business payment laws (India's MSMED Act,
    /// the EU SME definition).
    SizeClass { Micro = "micro", Small = "small", Medium = "medium", Large = "large" }
);

string_enum!(
    /// Supplier risk tier, as the risk sentinel sets it.
    RiskTier { Low = "low", Medium = "medium", High = "high" }
);

string_enum!(
    /// Whether a supplier may receive orders.
    SupplierStatus { Onboarding = "onboarding", Active = "active", Blocked = "blocked", Inactive = "inactive" }
);

/// Bank details of a supplier. Changing them is a sensitive, policy-gated action.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BankDetails {
    pub iban: String,
    pub bic: Option<String>,
}

/// A supplier as master data. `external_ref` is the ERP's key: the natural key on import.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Supplier {
    pub id: SupplierId,
    pub external_ref: String,
    pub name: String,
    pub region: RegionCode,
    pub size: SizeClass,
    pub status: SupplierStatus,
    pub risk: RiskTier,
    pub bank: Option<BankDetails>,
    /// The supplier's usual payment terms in days, if known: the starting point (BATNA)
    /// for negotiating terms.
    pub payment_days: Option<u32>,
}

/// A spend category code such as `office-supplies` (lowercase, digits, `-`, `_`, `.`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryCode(String);

impl CategoryCode {
    pub fn parse(s: &str) -> Result<CategoryCode, String> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(CategoryCode(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "malformed category `{s}`: expected 1 to 64 letters, digits, `-`, `_` or `.`"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CategoryCode {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        CategoryCode::parse(&s)
    }
}

impl From<CategoryCode> for String {
    fn from(c: CategoryCode) -> String {
        c.0
    }
}

impl fmt::Display for CategoryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A purchasable item: a SKU within a category, with its unit of measure (UN/ECE rec 20
/// code such as `EA` or `KGM`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub description: String,
    pub category: CategoryCode,
    pub unit: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_validate() {
        assert_eq!(RegionCode::parse("fr").unwrap().as_str(), "FR");
        assert!(RegionCode::parse("F").is_err());
        assert!(RegionCode::parse("F1").is_err());
        assert_eq!(
            CategoryCode::parse("Office-Supplies").unwrap().as_str(),
            "office-supplies"
        );
        assert!(CategoryCode::parse("a b").is_err());
        assert_eq!(SizeClass::parse("Micro").unwrap(), SizeClass::Micro);
        let err = SizeClass::parse("tiny").unwrap_err();
        assert!(err.contains("micro, small, medium, large"), "{err}");
    }
}
