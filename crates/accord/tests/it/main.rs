//! End-to-end tests of the `accord` binary: real processes on a real data dir (SQLite,
//! and PostgreSQL when `ACCORD_TEST_DATABASE_URL` is set).

mod audit;
mod autonomy;
mod bench;
mod governance;
mod import;
mod invoices;
mod killtrials;
mod multinode;
mod policy;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A scratch data dir and the `accord` binary pointed at it.
pub struct Accord {
    pub dir: tempfile::TempDir,
    pub database_url: Option<String>,
}

impl Default for Accord {
    fn default() -> Self {
        Accord::new()
    }
}

impl Accord {
    pub fn new() -> Accord {
        Accord {
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `accord ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
        cmd.arg("--data-dir").arg(self.data_dir()).args(args);
        cmd.env_remove("ACCORD_DATABASE_URL");
        if let Some(url) = &self.database_url {
            cmd.env("ACCORD_DATABASE_URL", url);
        }
        cmd.output().unwrap()
    }

    /// Runs and asserts success, returning standard output.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "accord {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes `content` to a file in the scratch dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }

    /// Appends `toml` to the data dir's `accord.toml` (written by `init`).
    pub fn add_config(&self, toml: &str) {
        let path = self.data_dir().join("accord.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(toml);
        std::fs::write(path, text).unwrap();
    }

    /// The `audit log` line of `accord status`: entry count.
    pub fn entries(&self) -> u64 {
        let status = self.ok(&["status"]);
        let line = status.lines().find(|l| l.starts_with("audit log")).unwrap();
        line.split_whitespace().nth(2).unwrap().parse().unwrap()
    }
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/erp")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
