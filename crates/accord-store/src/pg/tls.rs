//! TLS for the PostgreSQL writer's own connection (tokio-postgres), with the meaning the
//! pool's driver (sqlx) gives `sslmode`, so that one database URL puts both connections
//! under the same protection:
//!
//! | `sslmode` | TLS | server certificate |
//! |---|---|---|
//! | `disable` | never | |
//! | `allow`, `prefer` (the default) | when the server offers it | not checked |
//! | `require` | always | not checked |
//! | `verify-ca` | always | signed by a trusted root |
//! | `verify-full` | always | signed by a trusted root and naming the host |
//!
//! The `verify-*` modes trust the certificates of the PEM file that `sslrootcert` (or
//! `PGSSLROOTCERT`) names, as libpq does, or the system's roots when there is none. The
//! pool's driver trusts the system's roots as well as the file's, so a certificate that
//! only a system root vouches for gets the pool through but not the writer: the store
//! then refuses to open, saying why. Both clients use rustls with ring.
//!
//! A client certificate is presented when `sslcert` and `sslkey` (or `PGSSLCERT` and
//! `PGSSLKEY`) name its PEM files, by both connections: sqlx reads the same parameters.
//! Naming one without the other is refused rather than connecting without a
//! certificate; libpq's default files (`~/.postgresql/postgresql.crt`) are not read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use sqlx::postgres::PgSslMode;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Result, StoreError};

/// What the database URL and the `PG*` variables ask of TLS.
#[derive(Clone, Debug)]
pub(crate) struct TlsSettings {
    /// As sqlx read it from the URL or `PGSSLMODE`.
    pub mode: PgSslMode,
    /// `sslrootcert` / `ssl-root-cert` from the URL, else `PGSSLROOTCERT`.
    pub root_cert: Option<PathBuf>,
    /// The client certificate's PEM file (its chain, leaf first) and its key's:
    /// `sslcert` / `ssl-cert` and `sslkey` / `ssl-key`, else `PGSSLCERT` and `PGSSLKEY`.
    pub client: Option<ClientCert>,
}

/// The files of the certificate the client presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsSettings {
    /// The writer's TLS settings from the URL's parameters (`params`, as `key=value`
    /// still percent-encoded) and sqlx's parsed `mode`. For each file the URL's last
    /// mention wins, then the `PG*` variable.
    pub fn from_url(params: &[(&str, &str)], mode: PgSslMode) -> Result<TlsSettings> {
        let path = |names: [&str; 2], var: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| names.contains(k))
                .map(|(_, v)| PathBuf::from(&*percent_decode_str(v).decode_utf8_lossy()))
                .or_else(|| std::env::var_os(var).map(PathBuf::from))
        };
        let root_cert = path(["sslrootcert", "ssl-root-cert"], "PGSSLROOTCERT");
        let cert = path(["sslcert", "ssl-cert"], "PGSSLCERT");
        let key = path(["sslkey", "ssl-key"], "PGSSLKEY");
        let client = match (cert, key) {
            (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
            (None, None) => None,
            (Some(cert), None) => {
                return Err(StoreError::Invalid(format!(
                    "sslcert {} names a client certificate without its key: set sslkey \
                     (or PGSSLKEY) too",
                    cert.display()
                )));
            }
            (None, Some(key)) => {
                return Err(StoreError::Invalid(format!(
                    "sslkey {} names a client key without its certificate: set sslcert \
                     (or PGSSLCERT) too",
                    key.display()
                )));
            }
        };
        Ok(TlsSettings {
            mode,
            root_cert,
            client,
        })
    }

    /// tokio-postgres's `sslmode` for this mode (it has no `verify-*`: verifying is
    /// the connector's part).
    pub fn ssl_mode(&self) -> SslMode {
        match self.mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Allow | PgSslMode::Prefer => SslMode::Prefer,
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => SslMode::Require,
        }
    }

    /// The connector that checks the server's certificate as the mode says. Reads the
    /// system's roots or the root certificate file, so the writer builds it once, when
    /// it reads the URL, and clones it for each connection.
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        // ring, as sqlx's `tls-rustls-ring-*` uses: rustls 0.23.48 deprecates it for
        // lacking post-quantum key exchange; aws-lc-rs has that, at the cost of a C
        // build of its own on every fresh machine. One provider serves both clients.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifying = matches!(self.mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull);
        let chain = if verifying {
            let roots = Arc::new(self.roots()?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| StoreError::Invalid(format!("TLS to PostgreSQL: {e}")))?;
            Some(webpki)
        } else {
            None
        };
        let verifier = Arc::new(ServerCheck {
            provider: provider.clone(),
            chain,
            name: matches!(self.mode, PgSslMode::VerifyFull),
        });
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Invalid(format!("TLS to PostgreSQL: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some(client) => {
                let chain = read_certificates("sslcert", &client.cert)?;
                let key = read_key(&client.key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    StoreError::Invalid(format!(
                        "sslcert {} with sslkey {}: {e}",
                        client.cert.display(),
                        client.key.display()
                    ))
                })?
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// The roots a `verify-*` mode trusts: the `sslrootcert` file's alone when there is
    /// one (as libpq), else the system's.
    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        let Some(path) = &self.root_cert else {
            let system = rustls_native_certs::load_native_certs();
            for e in &system.errors {
                tracing::debug!(error = %e, "a system root certificate could not be read");
            }
            roots.add_parsable_certificates(system.certs);
            return Ok(roots);
        };
        let (added, _) = roots.add_parsable_certificates(read_certificates("sslrootcert", path)?);
        if added == 0 {
            return Err(StoreError::Invalid(format!(
                "sslrootcert {}: no certificate in it could be used",
                path.display()
            )));
        }
        Ok(roots)
    }
}

/// The bytes of the file a TLS parameter names, or an error naming both.
fn read_file(param: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        StoreError::Invalid(format!("{param} {}: cannot read it: {e}", path.display()))
    })
}

/// The certificates of a PEM file, or an error naming the parameter and the file.
fn read_certificates(param: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let bytes = read_file(param, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Invalid(format!("{param} {}: not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{param} {}: holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS #8, PKCS #1 or SEC1), or an error naming it.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let bytes = read_file("sslkey", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        StoreError::Invalid(format!(
            "sslkey {}: holds no PEM private key: {e}",
            path.display()
        ))
    })
}

/// How a connection checks the server's certificate: not at all (`prefer`, `require`,
/// as libpq and sqlx), its chain (`verify-ca`) or its chain and name (`verify-full`).
/// The handshake's signatures are checked against the certificate offered in every
/// mode. rustls checks a chain before its name, so with `verify-ca` a name error means
/// the chain held.
#[derive(Debug)]
struct ServerCheck {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: bool,
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_map_to_what_tokio_postgres_knows() {
        let of = |mode| TlsSettings {
            mode,
            root_cert: None,
            client: None,
        };
        assert_eq!(of(PgSslMode::Disable).ssl_mode(), SslMode::Disable);
        assert_eq!(of(PgSslMode::Prefer).ssl_mode(), SslMode::Prefer);
        assert_eq!(of(PgSslMode::Allow).ssl_mode(), SslMode::Prefer);
        for mode in [
            PgSslMode::Require,
            PgSslMode::VerifyCa,
            PgSslMode::VerifyFull,
        ] {
            assert_eq!(of(mode).ssl_mode(), SslMode::Require);
        }
    }

    #[test]
    fn a_client_certificate_needs_both_files() {
        let both = TlsSettings::from_url(
            &[
                ("sslcert", "/etc/accord/client.pem"),
                ("ssl-key", "/etc/accord/client%20key.pem"),
            ],
            PgSslMode::Require,
        )
        .unwrap();
        assert_eq!(
            both.client,
            Some(ClientCert {
                cert: PathBuf::from("/etc/accord/client.pem"),
                key: PathBuf::from("/etc/accord/client key.pem"),
            })
        );
        // Only when neither variable is set here can one file alone be asked for.
        if std::env::var_os("PGSSLCERT").is_none() && std::env::var_os("PGSSLKEY").is_none() {
            for (param, says) in [
                ("sslcert", "without its key"),
                ("sslkey", "without its certificate"),
            ] {
                let e = TlsSettings::from_url(&[(param, "/tmp/c.pem")], PgSslMode::Require)
                    .unwrap_err()
                    .to_string();
                assert!(e.contains(param) && e.contains(says), "{e}");
            }
        }
    }

    #[test]
    fn bad_client_certificate_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not PEM at all\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let cert = some_certificate();
        for (client, names) in [
            (
                ClientCert {
                    cert: missing.clone(),
                    key: junk.clone(),
                },
                ("sslcert", &missing),
            ),
            (
                ClientCert {
                    cert: junk.clone(),
                    key: junk.clone(),
                },
                ("sslcert", &junk),
            ),
            (
                ClientCert {
                    cert: cert.clone(),
                    key: missing.clone(),
                },
                ("sslkey", &missing),
            ),
            (
                ClientCert {
                    cert: cert.clone(),
                    key: junk.clone(),
                },
                ("sslkey", &junk),
            ),
        ] {
            let s = TlsSettings {
                mode: PgSslMode::Require,
                root_cert: None,
                client: Some(client),
            };
            let e = s.connector().err().expect("refused").to_string();
            assert!(
                e.contains(names.0) && e.contains(&names.1.display().to_string()),
                "{e}"
            );
        }
    }

    /// A PEM file of certificates this machine has: Debian's own bundle or snakeoil.
    fn some_certificate() -> PathBuf {
        [
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/certs/ssl-cert-snakeoil.pem",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| read_certificates("test", p).is_ok())
        .expect("a PEM certificate on this machine to test with")
    }

    #[test]
    fn the_root_certificate_path_is_decoded_and_the_last_one_wins() {
        let s = TlsSettings::from_url(
            &[
                ("sslrootcert", "/a.pem"),
                ("ssl-root-cert", "/etc/my%20certs/root.pem"),
            ],
            PgSslMode::VerifyCa,
        )
        .unwrap();
        assert_eq!(s.root_cert, Some(PathBuf::from("/etc/my certs/root.pem")));
    }

    #[test]
    fn a_bad_root_certificate_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let missing = dir.path().join("missing.pem");
        for (path, why) in [
            (&empty, "holds no PEM certificate"),
            (&missing, "cannot read"),
        ] {
            let s = TlsSettings {
                mode: PgSslMode::VerifyFull,
                root_cert: Some(path.clone()),
                client: None,
            };
            let e = s.connector().err().expect("refused").to_string();
            assert!(
                e.contains(&path.display().to_string()) && e.contains(why),
                "{e}"
            );
        }
    }
}

/// The writer's own connection against the test server (`ACCORD_TEST_DATABASE_URL`),
/// which must offer TLS with a certificate this machine can read (Debian's PostgreSQL
/// does, with its self-signed `localhost` certificate); otherwise each test says it
/// did not run. The whole store (pool and writer) is tested in `tests/it/tls.rs`.
#[cfg(test)]
mod server_tests {
    use std::str::FromStr;

    use super::super::write::writer_config;

    /// The test URL, and the server certificate's path when the server offers TLS.
    async fn server(test: &str) -> Option<(String, String)> {
        let skip = |why: &str| {
            eprintln!("SKIPPED: `{test}` did not run: {why}");
            None
        };
        let Ok(url) = std::env::var("ACCORD_TEST_DATABASE_URL") else {
            return skip("ACCORD_TEST_DATABASE_URL is not set");
        };
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let ssl: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&pool)
            .await
            .unwrap();
        let cert: String = sqlx::query_scalar("SHOW ssl_cert_file")
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        if ssl != "on" {
            return skip("the test server does not offer TLS");
        }
        if std::fs::read(&cert).is_err() {
            return skip(&format!(
                "the server's certificate {cert} is not readable here"
            ));
        }
        Some((url, cert))
    }

    fn with(url: &str, params: &str) -> String {
        let glue = if url.contains('?') { '&' } else { '?' };
        format!("{url}{glue}{params}")
    }

    /// Connects the writer's way and says whether the session is encrypted.
    async fn writer_session_ssl(url: &str) -> super::Result<bool> {
        let pool = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let client = writer_config(url, &pool)?.open().await?;
        let row = client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await?;
        Ok(row.get(0))
    }

    #[tokio::test]
    async fn the_writer_encrypts_as_sslmode_says() {
        let Some((url, _)) = server("the_writer_encrypts_as_sslmode_says").await else {
            return;
        };
        for (mode, encrypted) in [
            ("disable", false),
            ("allow", true),
            ("prefer", true),
            ("require", true),
        ] {
            let ssl = writer_session_ssl(&with(&url, &format!("sslmode={mode}")))
                .await
                .unwrap();
            assert_eq!(ssl, encrypted, "sslmode={mode}");
        }
    }

    #[tokio::test]
    async fn the_writer_checks_the_servers_certificate_when_asked() {
        let Some((url, cert)) =
            server("the_writer_checks_the_servers_certificate_when_asked").await
        else {
            return;
        };
        let root = format!("sslrootcert={cert}");
        // verify-ca: the chain must reach the root; the host name is not checked.
        let verify_ca = with(&url, &format!("sslmode=verify-ca&{root}"));
        assert!(writer_session_ssl(&verify_ca).await.unwrap());
        // With other roots than the server's, the chain reaches none (Debian's bundle of
        // public roots does not hold the self-signed certificate).
        let bundle = "/etc/ssl/certs/ca-certificates.crt";
        if std::fs::metadata(bundle).is_ok() {
            let other = with(&url, &format!("sslmode=verify-ca&sslrootcert={bundle}"));
            let e = writer_session_ssl(&other).await.unwrap_err().to_string();
            assert!(e.contains("UnknownIssuer"), "{e}");
        }

        // verify-full: the certificate must name the host the URL names.
        let name = cert_names_localhost(&cert);
        if url.contains("@127.0.0.1:") && name {
            let e = writer_session_ssl(&with(&url, &format!("sslmode=verify-full&{root}")))
                .await
                .unwrap_err()
                .to_string();
            assert!(e.to_lowercase().contains("certificate"), "{e}");
            let by_name = url.replace("@127.0.0.1:", "@localhost:");
            let verify_full = with(&by_name, &format!("sslmode=verify-full&{root}"));
            assert!(writer_session_ssl(&verify_full).await.unwrap());
        } else {
            eprintln!(
                "SKIPPED: verify-full by host name needs a URL on 127.0.0.1 and a \
                 certificate for localhost"
            );
        }
    }

    /// Whether the PEM certificate at `path` names `localhost` (Debian's snakeoil does);
    /// the DER holds the name as plain ASCII, good enough to decide whether to run.
    fn cert_names_localhost(path: &str) -> bool {
        super::read_certificates("sslrootcert", std::path::Path::new(path)).is_ok_and(|certs| {
            certs
                .iter()
                .any(|c| c.windows(9).any(|w| w == b"localhost"))
        })
    }
}
