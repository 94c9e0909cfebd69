//! Configuration: built-in defaults, then `accord.toml` (the data dir's, then `--config`),
//! then `ACCORD_*` environment variables, then command-line flags, each overriding the last.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use accord_core::{Currency, Role};
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
        figment
            .extract()
            .with_context(|| format!("invalid configuration (data dir `{}`)", data_dir.display()))
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
    fn defaults_round_trip_through_toml() {
        let text = Config::default().to_toml().unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, Config::default());
    }
}
