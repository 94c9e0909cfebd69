//! Configuration: built-in defaults, then `accord.toml` (the data dir's, then `--config`),
//! then `ACCORD_*` environment variables, then command-line flags, each overriding the last.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use accord_core::{CategoryCode, Currency, Role};
use accord_p2p::tolerance::{Limit, Tolerance, TolerancePolicy, ToleranceSet};
use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// The name of the configuration file inside a data dir.
pub const CONFIG_FILE: &str = "accord.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL URL; when unset, the embedded SQLite file in the data dir is used.
    pub database_url: Option<String>,
    /// The currency reports and policy thresholds are expressed in.
    pub reporting_currency: Currency,
    pub audit: AuditConfig,
    pub sqlite: SqliteConfig,
    pub postgres: PostgresConfig,
    /// The people who act through the CLI (`--as ID`) and their roles, e.g.
    /// `[users.alice] roles = ["approver"]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, UserConfig>,
    pub approvals: ApprovalsConfig,
    /// Three-way match tolerances: `[matching.global]`, `[matching.categories.CODE]`,
    /// `[matching.items.SKU]` (see `docs/p2p.md`).
    pub matching: MatchingConfig,
}

/// The tolerances the invoice matcher applies, each written as `exact`, a percent
/// (`2%`), an amount in the measure's unit (`1.00`: major currency units for price and
/// tax, units for quantities) or both (`2% or 1.00`, `2% and 1.00`). The most specific
/// scope that sets a kind wins: item, then category, then global; a kind set nowhere is
/// exact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingConfig {
    pub global: TolerancesConfig,
    /// Keyed by category code, e.g. `[matching.categories.office-supplies]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, TolerancesConfig>,
    /// Keyed by item (SKU), e.g. `[matching.items."SKU-00042"]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub items: BTreeMap<String, TolerancesConfig>,
    /// The role that may release an invoice flagged as a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_override: Option<Role>,
}

/// The tolerances of one scope; a kind left out is taken from the wider scope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TolerancesConfig {
    /// Invoiced unit price against the order's.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limit_text"
    )]
    pub price: Option<String>,
    /// Invoiced quantity (cumulative per order line) against the ordered quantity.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limit_text"
    )]
    pub quantity: Option<String>,
    /// Invoiced quantity (cumulative) against the quantity received.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limit_text"
    )]
    pub received: Option<String>,
    /// Invoice VAT against the VAT expected (checked both ways).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "limit_text"
    )]
    pub tax: Option<String>,
    /// Who may override an exception each kind set here raises, e.g.
    /// `overrides = { price = "approver" }`.
    #[serde(skip_serializing_if = "Overrides::is_empty")]
    pub overrides: Overrides,
    /// Items only: the item's category, for category tolerances when its order does
    /// not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// A tolerance as written: text (`"2%"`), or a bare number (`tax = 0.01`, and what an
/// `ACCORD_MATCHING__GLOBAL__TAX=0.01` variable reads as), kept as its text.
fn limit_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        Integer(i64),
        Number(f64),
    }
    Ok(Some(match Written::deserialize(d)? {
        Written::Text(t) => t,
        Written::Integer(i) => i.to_string(),
        Written::Number(n) => n.to_string(),
    }))
}

/// A role per tolerance kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax: Option<Role>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }
}

impl Default for MatchingConfig {
    /// The matcher's usual starting point: price 2% or 1, quantity and receipt exact,
    /// tax 0.01.
    fn default() -> Self {
        MatchingConfig {
            global: TolerancesConfig {
                price: Some("2% or 1".into()),
                quantity: Some("exact".into()),
                received: Some("exact".into()),
                tax: Some("0.01".into()),
                ..TolerancesConfig::default()
            },
            categories: BTreeMap::new(),
            items: BTreeMap::new(),
            duplicate_override: None,
        }
    }
}

impl MatchingConfig {
    /// The tolerance policy this configures, or an error naming the key that is wrong
    /// (`matching.categories.office-supplies.price: ...`).
    pub fn policy(&self) -> anyhow::Result<TolerancePolicy> {
        let mut policy = TolerancePolicy::exact();
        policy.global = self.global.set("matching.global")?;
        anyhow::ensure!(
            self.global.category.is_none(),
            "matching.global.category: only items take a category"
        );
        for (code, t) in &self.categories {
            let at = format!("matching.categories.{code}");
            let category = CategoryCode::parse(code).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
            anyhow::ensure!(
                t.category.is_none(),
                "{at}.category: only items take a category"
            );
            policy.categories.insert(category, t.set(&at)?);
        }
        for (sku, t) in &self.items {
            let at = format!("matching.items.{sku}");
            policy.items.insert(sku.clone(), t.set(&at)?);
            if let Some(code) = &t.category {
                let category =
                    CategoryCode::parse(code).map_err(|e| anyhow::anyhow!("{at}.category: {e}"))?;
                policy.item_categories.insert(sku.clone(), category);
            }
        }
        policy.duplicate_override_role = self.duplicate_override.map(|r| r.as_str().to_owned());
        Ok(policy)
    }
}

impl TolerancesConfig {
    /// This scope's tolerances; `at` names the scope in errors.
    fn set(&self, at: &str) -> anyhow::Result<ToleranceSet> {
        let one = |kind: &str, text: &Option<String>, role: Option<Role>| match (text, role) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(anyhow::anyhow!(
                "{at}.overrides.{kind}: set `{kind}` here too; an override belongs to \
                     the tolerance it overrides"
            )),
            (Some(text), role) => {
                let limit: Limit = text
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{at}.{kind}: {e}"))?;
                Ok(Some(Tolerance {
                    limit,
                    override_role: role.map(|r| r.as_str().to_owned()),
                }))
            }
        };
        let o = &self.overrides;
        Ok(ToleranceSet {
            price: one("price", &self.price, o.price)?,
            quantity: one("quantity", &self.quantity, o.quantity)?,
            received: one("received", &self.received, o.received)?,
            tax: one("tax", &self.tax, o.tax)?,
        })
    }
}

/// One person's roles (see `docs/governance.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub roles: Vec<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalsConfig {
    /// Hours each role has to decide before a request escalates to the next role.
    pub sla_hours: u32,
    /// Who takes over on timeout, in order; past the last role a request expires.
    pub escalation: Vec<Role>,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            sla_hours: 24,
            escalation: vec![Role::Approver, Role::CategoryManager, Role::Admin],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Sign a checkpoint of the hash chain every this many entries.
    pub checkpoint_every: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SqliteConfig {
    /// `normal` (WAL, durable at checkpoints; a power cut may lose the last commits) or
    /// `full` (every commit is fsynced; concurrent writers share fsyncs by group commit).
    pub synchronous: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// `full` (commits with the server's `synchronous_commit`, `on` unless configured
    /// otherwise) or `normal` (`synchronous_commit=off` for the writer: a server crash
    /// may lose the commits of the last moments, never half of one).
    pub synchronous: String,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        PostgresConfig {
            synchronous: "full".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            reporting_currency: Currency::EUR,
            audit: AuditConfig::default(),
            sqlite: SqliteConfig::default(),
            postgres: PostgresConfig::default(),
            users: BTreeMap::new(),
            approvals: ApprovalsConfig::default(),
            matching: MatchingConfig::default(),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            checkpoint_every: 1000,
        }
    }
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            synchronous: "full".into(),
        }
    }
}

impl Config {
    /// Loads the layered configuration for `data_dir`. `extra_file` is `--config`.
    pub fn load(data_dir: &Path, extra_file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let in_dir = data_dir.join(CONFIG_FILE);
        if in_dir.exists() {
            figment = figment.merge(Toml::file(&in_dir));
        }
        if let Some(path) = extra_file {
            anyhow::ensure!(
                path.exists(),
                "config file `{}` does not exist",
                path.display()
            );
            figment = figment.merge(Toml::file(path));
        }
        // ACCORD_DATABASE_URL, ACCORD_AUDIT__CHECKPOINT_EVERY, ...; ACCORD_DATA_DIR,
        // ACCORD_LOG_FORMAT, `accord serve`'s ACCORD_LISTEN and ACCORD_BASE_URL are
        // command-line settings, and the API keys are secrets read by `serve` alone.
        figment = figment.merge(Env::prefixed("ACCORD_").split("__").ignore(&[
            "data_dir",
            "log_format",
            "config",
            "test_database_url",
            "listen",
            "base_url",
            "api_key",
            "auditor_key",
        ]));
        let config: Config = figment.extract().with_context(|| {
            format!("invalid configuration (data dir `{}`)", data_dir.display())
        })?;
        // Checked here so that every command refuses a bad tolerance, not only the ones
        // that match invoices.
        config.matching.policy().with_context(|| {
            format!("invalid configuration (data dir `{}`)", data_dir.display())
        })?;
        Ok(config)
    }

    /// The roles of the user `--as` names, or an error saying how to configure them.
    pub fn user_roles(&self, id: &str) -> anyhow::Result<&[Role]> {
        match self.users.get(id) {
            Some(u) => Ok(&u.roles),
            None => {
                let known: Vec<&str> = self.users.keys().map(String::as_str).collect();
                anyhow::bail!(
                    "unknown user `{id}`: add `[users.{id}]` with `roles = [...]` to accord.toml \
                     (configured users: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                )
            }
        }
    }

    pub fn to_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }
}

/// Where the files of a data dir live.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: PathBuf) -> Self {
        DataDir { root }
    }

    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    pub fn sqlite_file(&self) -> PathBuf {
        self.root.join("accord.db")
    }

    pub fn node_key(&self) -> PathBuf {
        self.root.join("node.key")
    }

    pub fn is_initialised(&self) -> bool {
        self.config_file().exists() && self.node_key().exists()
    }
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn layers_override_in_order() {
        figment::Jail::expect_with(|jail| {
            let dir = jail.directory().to_owned();
            jail.create_file(
                CONFIG_FILE,
                "reporting_currency = \"USD\"\n[audit]\ncheckpoint_every = 50\n",
            )?;
            let c = Config::load(&dir, None).unwrap();
            assert_eq!(c.reporting_currency, Currency::USD);
            assert_eq!(c.audit.checkpoint_every, 50);
            jail.set_env("ACCORD_AUDIT__CHECKPOINT_EVERY", "7");
            jail.set_env("ACCORD_DATABASE_URL", "postgres://x/y");
            let c = Config::load(&dir, None).unwrap();
            assert_eq!(c.audit.checkpoint_every, 7);
            assert_eq!(c.database_url.as_deref(), Some("postgres://x/y"));
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused() {
        figment::Jail::expect_with(|jail| {
            let dir = jail.directory().to_owned();
            jail.create_file(CONFIG_FILE, "reporting_currency = \"EUX\"\n")?;
            let err = format!("{:#}", Config::load(&dir, None).unwrap_err());
            assert!(err.contains("EUX"), "{err}");
            jail.create_file(CONFIG_FILE, "colour = 1\n")?;
            assert!(Config::load(&dir, None).is_err());
            Ok(())
        });
    }

    #[test]
    fn users_and_roles_load() {
        figment::Jail::expect_with(|jail| {
            let dir = jail.directory().to_owned();
            jail.create_file(
                CONFIG_FILE,
                "[users.alice]\nroles = [\"approver\", \"buyer\"]\n[approvals]\nsla_hours = 8\n",
            )?;
            let c = Config::load(&dir, None).unwrap();
            assert_eq!(
                c.user_roles("alice").unwrap(),
                [Role::Approver, Role::Buyer]
            );
            assert_eq!(c.approvals.sla_hours, 8);
            let err = c.user_roles("zed").unwrap_err().to_string();
            assert!(
                err.contains("unknown user `zed`") && err.contains("alice"),
                "{err}"
            );
            jail.create_file(CONFIG_FILE, "[users.bob]\nroles = [\"boss\"]\n")?;
            let err = format!("{:#}", Config::load(&dir, None).unwrap_err());
            assert!(err.contains("unknown role `boss`"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn match_tolerances_load_by_scope() {
        use accord_p2p::tolerance::{Join, Scope, ToleranceKind};
        use rust_decimal::Decimal;
        figment::Jail::expect_with(|jail| {
            let dir = jail.directory().to_owned();
            jail.create_file(
                CONFIG_FILE,
                r#"
[matching]
duplicate_override = "ap_clerk"
[matching.global]
price = "1% and 5.00"
[matching.categories.office-supplies]
price = "5%"
overrides = { price = "category_manager" }
[matching.items."SKU-1"]
category = "office-supplies"
quantity = "10%"
"#,
            )?;
            jail.set_env("ACCORD_MATCHING__GLOBAL__TAX", "0.05");
            jail.set_env("ACCORD_MATCHING__GLOBAL__RECEIVED", "3");
            let policy = Config::load(&dir, None).unwrap().matching.policy().unwrap();
            let (t, scope) = policy.resolve(ToleranceKind::Price, Some("SKU-1"), None);
            assert_eq!((t.to_string(), scope), ("5%".into(), Scope::Category));
            assert_eq!(t.override_role.as_deref(), Some("category_manager"));
            let (t, scope) = policy.resolve(ToleranceKind::Quantity, Some("SKU-1"), None);
            assert_eq!((t.to_string(), scope), ("10%".into(), Scope::Item));
            let (t, scope) = policy.resolve(ToleranceKind::Price, Some("SKU-2"), None);
            assert_eq!(scope, Scope::Global);
            assert_eq!(
                t.limit,
                Limit::Both {
                    percent: Decimal::ONE,
                    absolute: Decimal::new(500, 2),
                    join: Join::And
                },
                "a scope's string replaces the default's whole"
            );
            let (t, _) = policy.resolve(ToleranceKind::Tax, None, None);
            assert_eq!(t.to_string(), "0.05");
            let (t, _) = policy.resolve(ToleranceKind::Received, None, None);
            assert_eq!(t.to_string(), "3", "a bare integer reads as an amount");
            let (t, _) = policy.resolve(ToleranceKind::Quantity, None, None);
            assert_eq!(
                t.to_string(),
                "0",
                "the defaults fill what the file leaves out"
            );
            assert_eq!(policy.duplicate_override_role.as_deref(), Some("ap_clerk"));
            Ok(())
        });
    }

    #[test]
    fn a_bad_tolerance_is_refused_with_its_key() {
        figment::Jail::expect_with(|jail| {
            let dir = jail.directory().to_owned();
            for (file, expected) in [
                (
                    "[matching.categories.office-supplies]\nprice = \"-5%\"\n",
                    "matching.categories.office-supplies.price: `-5%` is not a tolerance (a tolerance cannot be negative)",
                ),
                (
                    "[matching.global]\noverrides = { tax = \"approver\" }\ntax = \"exact\"\n[matching.items.X]\noverrides = { price = \"approver\" }\n",
                    "matching.items.X.overrides.price: set `price` here too",
                ),
                (
                    "[matching.categories.\"bad code!\"]\nprice = \"1%\"\n",
                    "matching.categories.bad code!: malformed category",
                ),
                (
                    "[matching.global]\ncategory = \"x\"\n",
                    "matching.global.category: only items take a category",
                ),
                (
                    "[matching.global]\nprice = \"2% or 3%\"\n",
                    "join a percent with an amount",
                ),
            ] {
                jail.create_file(CONFIG_FILE, file)?;
                let err = format!("{:#}", Config::load(&dir, None).unwrap_err());
                assert!(err.contains(expected), "{file}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn the_default_tolerances_are_the_matchers_default() {
        assert_eq!(
            MatchingConfig::default().policy().unwrap(),
            TolerancePolicy::default()
        );
    }

    #[test]
    fn defaults_round_trip_through_toml() {
        let text = Config::default().to_toml().unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, Config::default());
    }
}
