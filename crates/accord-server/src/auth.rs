//! Authentication. Suppliers hold a bearer token scoped to one negotiation (checked by the
//! host against the hash in the log). Buyer-side callers hold API keys, each with a role;
//! keys are kept only as SHA-256 hashes.

use std::collections::HashMap;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// What an API key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Read everything.
    Auditor,
    /// Create, start and sweep campaigns; read everything.
    Buyer,
    /// Everything.
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "auditor" => Some(Role::Auditor),
            "buyer" => Some(Role::Buyer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Auditor => 0,
            Role::Buyer => 1,
            Role::Admin => 2,
        }
    }
}

/// API keys by hash.
#[derive(Debug, Default)]
pub struct ApiKeys {
    keys: HashMap<String, (String, Role)>,
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl ApiKeys {
    /// Adds a key under a name (shown in logs instead of the key).
    pub fn insert(&mut self, name: &str, key: &str, role: Role) {
        self.keys.insert(hash(key), (name.to_owned(), role));
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller's name if its key grants at least `needed`.
    pub fn check(&self, headers: &HeaderMap, needed: Role) -> Result<String, ApiError> {
        let key = bearer(headers)?;
        let (name, role) = self
            .keys
            .get(&hash(key))
            .ok_or_else(|| ApiError::unauthorized("unknown API key"))?;
        if role.rank() < needed.rank() {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                format!("this API key's role cannot do this (needs {needed:?})"),
            ));
        }
        Ok(name.clone())
    }
}

/// The bearer token of a request.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("send `Authorization: Bearer <token>`"))
}

/// The person a decision is taken as (`"as"` in a request body): a user configured in
/// `accord.toml` under `[users.NAME]`, with their decision roles.
pub(crate) fn person(
    users: &std::collections::BTreeMap<String, Vec<accord_core::governance::Role>>,
    name: &str,
) -> Result<accord_policy::Approver, ApiError> {
    let name = name.trim();
    let roles = users.get(name).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_user",
            format!(
                "`{name}` is not a configured user: add `[users.{name}]` with `roles = [...]` to accord.toml"
            ),
        )
    })?;
    Ok(accord_policy::Approver::new(name, roles))
}
