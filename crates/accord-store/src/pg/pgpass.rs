//! The password file (`PGPASSFILE`, else `~/.pgpass`) for the writer's connection, read
//! as libpq and sqlx read it, so that a password kept there reaches the writer as it
//! reaches the pool. Lines are `host:port:database:user:password`; `*` matches anything
//! in the first four fields, `\:` and `\\` escape; the first matching line wins. A file
//! that group or others can read is ignored, as libpq ignores it.

use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Where to look for a connection's password, in order.
pub(crate) struct Lookup<'a> {
    pub host: &'a str,
    pub port: u16,
    pub database: &'a str,
    pub user: &'a str,
}

/// The password the password files hold for `lookup`, if any.
pub(crate) fn password(lookup: &Lookup<'_>) -> Option<String> {
    let custom = std::env::var_os("PGPASSFILE").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass"));
    custom
        .iter()
        .chain(home.iter())
        .find_map(|path| from_file(path, lookup))
}

fn from_file(path: &Path, lookup: &Lookup<'_>) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the password file is ignored: group or others may read it (chmod 0600)"
            );
            return None;
        }
    }
    from_lines(std::io::BufReader::new(file), lookup)
}

fn from_lines(reader: impl BufRead, lookup: &Lookup<'_>) -> Option<String> {
    let wanted = [
        lookup.host,
        &lookup.port.to_string(),
        lookup.database,
        lookup.user,
    ];
    reader.lines().map_while(Result::ok).find_map(|line| {
        if line.trim_start().starts_with('#') {
            return None;
        }
        let fields = split(line.trim_end_matches('\r'));
        if fields.len() != 5 {
            return None;
        }
        let matches = fields[..4]
            .iter()
            .zip(wanted)
            .all(|(field, want)| field == "*" || field == want);
        matches.then(|| fields[4].clone())
    })
}

/// The `:`-separated fields of a line, with `\:` and `\\` unescaped.
fn split(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOKUP: Lookup<'static> = Lookup {
        host: "db.example",
        port: 5432,
        database: "accord",
        user: "svc",
    };

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let file = "# comment\n\
                    other:5432:accord:svc:no\n\
                    db.example:5433:*:svc:no\n\
                    db.example:*:accord:svc:p\\:a\\\\ss\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            from_lines(file.as_bytes(), &LOOKUP).as_deref(),
            Some("p:a\\ss")
        );
        let nobody = Lookup {
            user: "nobody",
            ..LOOKUP
        };
        assert_eq!(
            from_lines(file.as_bytes(), &nobody).as_deref(),
            Some("fallback")
        );
        assert_eq!(from_lines("a:b:c\n".as_bytes(), &LOOKUP), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_ignored() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(from_file(&path, &LOOKUP).as_deref(), Some("secret"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(from_file(&path, &LOOKUP), None);
    }
}
