//! The crate's only file reading: loading Genius domain folders for tests, benchmarks and
//! the CLI. Everything else in the crate is pure.

use std::fs;
use std::path::{Path, PathBuf};

use crate::NegotiateError;
use crate::genius::{is_domain, parse_domain, parse_profile};
use crate::scenario::Scenario;
use crate::utility::UtilityTable;

/// Loads one Genius domain folder: one domain XML and two profile XMLs. The domain file is
/// told apart by its content (a `negotiation_template`, or no weights and evaluations);
/// the profiles become parties `a` and `b` in alphabetical file order. The scenario is
/// named after the folder.
pub fn load_domain_dir(dir: &Path) -> Result<Scenario, NegotiateError> {
    let io = |path: &Path, e: std::io::Error| NegotiateError::Io {
        path: path.display().to_string(),
        why: e.to_string(),
    };
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
        .collect();
    files.sort();
    let mut domain = None;
    let mut profiles = Vec::new();
    for f in files {
        let text = fs::read_to_string(&f).map_err(|e| io(&f, e))?;
        if is_domain(&text) && domain.is_none() {
            domain = Some(text);
        } else {
            profiles.push((f, text));
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bad = |why: String| NegotiateError::Genius {
        why: format!("folder `{}`: {why}", dir.display()),
    };
    let domain = domain.ok_or_else(|| bad("no domain file".into()))?;
    if profiles.len() != 2 {
        return Err(bad(format!("{} profiles, expected 2", profiles.len())));
    }
    let space = parse_domain(&domain)?;
    let mut tables = Vec::new();
    for (path, text) in &profiles {
        let u = parse_profile(text, &space)?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        tables.push(UtilityTable::new(stem, &space, &u));
    }
    let b = tables.pop().expect("two profiles");
    let a = tables.pop().expect("two profiles");
    Ok(Scenario::new(name, space, a, b))
}

/// Loads every subfolder of `dir` as a domain, in alphabetical order.
pub fn load_domains_dir(dir: &Path) -> Result<Vec<Scenario>, NegotiateError> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| NegotiateError::Io {
            path: dir.display().to_string(),
            why: e.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| load_domain_dir(d)).collect()
}
