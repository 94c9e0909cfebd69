//! The node key and signed audit checkpoints: Ed25519 key generation, a `0600` key file
//! (one line of hex, the 32-byte secret seed), fingerprints, and the checkpoint message.
//!
//! Checkpoint message (ASCII, no newline): `accord-checkpoint:v1:{seq}:{hash_hex}`, where
//! `seq` is decimal and `hash_hex` the entry's 64-char lowercase hex hash.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Errors of key handling. Messages are lowercase and put input in backticks.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write key file `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("key file `{0}` is malformed: expected 64 hex characters")]
    Malformed(String),
    #[error("key file `{path}` is readable by others (mode {mode:o}); run `chmod 600` on it")]
    Permissions { path: String, mode: u32 },
    #[error("malformed public key")]
    PublicKey,
    #[error("signature does not verify")]
    BadSignature,
}

/// The node's Ed25519 signing key.
pub struct NodeKey {
    signing: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "NodeKey({})", self.fingerprint())
    }
}

impl Clone for NodeKey {
    fn clone(&self) -> Self {
        NodeKey {
            signing: SigningKey::from_bytes(&self.signing.to_bytes()),
        }
    }
}

impl NodeKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> NodeKey {
        let seed: [u8; 32] = rand::random();
        NodeKey::from_seed(seed)
    }

    /// A key from a 32-byte secret seed (deterministic; for tests and replays).
    pub fn from_seed(seed: [u8; 32]) -> NodeKey {
        NodeKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// Writes the key to a new file with mode `0600`; refuses to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(err)?;
        writeln!(f, "{}", hex::encode(self.signing.to_bytes())).map_err(err)?;
        f.sync_all().map_err(err)
    }

    /// Reads a key file written by [`NodeKey::save`]. On Unix, a file readable by group or
    /// others is refused.
    pub fn load(path: &Path) -> Result<NodeKey, KeyError> {
        let shown = || path.display().to_string();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|source| KeyError::Read {
                path: shown(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: shown(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: shown(),
            source,
        })?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Malformed(shown()))?;
        Ok(NodeKey::from_seed(seed))
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// Hex SHA-256 of the public key.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public_key())
    }

    /// Signs arbitrary bytes.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// Signs the checkpoint message for `(seq, hash)`.
    pub fn sign_checkpoint(&self, seq: u64, hash: &[u8; 32]) -> [u8; 64] {
        self.sign(checkpoint_message(seq, hash).as_bytes())
    }
}

/// Hex SHA-256 of a public key: how a node key is named in the log and in reports.
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// The exact bytes a checkpoint signature covers.
pub fn checkpoint_message(seq: u64, hash: &[u8; 32]) -> String {
    format!("accord-checkpoint:v1:{seq}:{}", hex::encode(hash))
}

/// Verifies a signature over arbitrary bytes.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<(), KeyError> {
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| KeyError::PublicKey)?;
    key.verify(message, &Signature::from_bytes(signature))
        .map_err(|_| KeyError::BadSignature)
}

/// Verifies a checkpoint signature.
pub fn verify_checkpoint(
    public_key: &[u8; 32],
    seq: u64,
    hash: &[u8; 32],
    signature: &[u8; 64],
) -> Result<(), KeyError> {
    verify(
        public_key,
        checkpoint_message(seq, hash).as_bytes(),
        signature,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let key = NodeKey::generate();
        key.save(&path).unwrap();
        assert!(key.save(&path).is_err(), "never overwrites");
        let loaded = NodeKey::load(&path).unwrap();
        assert_eq!(loaded.public_key(), key.public_key());
        assert_eq!(key.fingerprint().len(), 64);
        let sig = key.sign_checkpoint(10, &[7; 32]);
        verify_checkpoint(&key.public_key(), 10, &[7; 32], &sig).unwrap();
        assert!(verify_checkpoint(&key.public_key(), 11, &[7; 32], &sig).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                NodeKey::load(&path),
                Err(KeyError::Permissions { .. })
            ));
        }
    }
}
