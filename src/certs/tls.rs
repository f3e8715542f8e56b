//! Server TLS configurations from the test PKI, and writing the PKI to files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};

use super::pki::{CertKey, TestPki};

/// Which certificate a TLS server presents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ServerCert {
    /// Plain TCP, no TLS.
    #[default]
    None,
    /// Signed by the test CA, for the loopback names.
    Valid,
    /// Signed by the test CA, expired.
    Expired,
    /// Signed by the test CA, for another host.
    WrongHost,
    /// Signed by a CA the client does not know.
    Untrusted,
    /// Self-signed.
    SelfSigned,
}

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// rustls refused the material.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A PEM block did not parse.
    #[error("TLS configuration: bad PEM: {0}")]
    Pem(String),
    /// The client verifier could not be built.
    #[error("TLS configuration: client verifier: {0}")]
    Verifier(String),
}

impl TestPki {
    /// The certificate and key for `which` (`None` for plain TCP).
    pub fn server_cert(&self, which: ServerCert) -> Option<&CertKey> {
        match which {
            ServerCert::None => None,
            ServerCert::Valid => Some(&self.server),
            ServerCert::Expired => Some(&self.expired),
            ServerCert::WrongHost => Some(&self.wrong_host),
            ServerCert::Untrusted => Some(&self.untrusted),
            ServerCert::SelfSigned => Some(&self.self_signed),
        }
    }

    /// A rustls server configuration presenting `which`; with `mtls` the server demands a
    /// client certificate signed by the test CA.
    pub fn server_config(
        &self,
        which: ServerCert,
        mtls: bool,
    ) -> Result<Option<Arc<rustls::ServerConfig>>, TlsConfigError> {
        let Some(ck) = self.server_cert(which) else { return Ok(None) };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![CertificateDer::from(ck.cert_der.clone())];
        let key = PrivateKeyDer::from_pem_slice(ck.key_pem.as_bytes())
            .map_err(|e| TlsConfigError::Pem(e.to_string()))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from(self.ca.cert_der.clone()))?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| TlsConfigError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier).with_single_cert(chain, key)?
        } else {
            builder.with_no_client_auth().with_single_cert(chain, key)?
        };
        Ok(Some(Arc::new(config)))
    }

    /// Reads a PKI that [`TestPki::write_to`] wrote (`wsim certs`), so a run and an
    /// agent — or a board flashed with the files — share it. The CAs' keys are not in
    /// the files and not needed: the servers use the leaf keys.
    pub fn read_from(dir: &Path) -> std::io::Result<TestPki> {
        let read = |name: &str, key: bool| -> std::io::Result<CertKey> {
            let file = |ext: &str| {
                let p = dir.join(format!("{name}.{ext}"));
                std::fs::read(&p).map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("{}: {e} (written by wsim certs)", p.display()),
                    )
                })
            };
            let text = |b: Vec<u8>, ext: &str| {
                String::from_utf8(b).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: not PEM text", dir.join(format!("{name}.{ext}")).display()),
                    )
                })
            };
            Ok(CertKey {
                cert_pem: text(file("pem")?, "pem")?,
                cert_der: file("der")?,
                key_pem: if key { text(file("key")?, "key")? } else { String::new() },
            })
        };
        Ok(TestPki {
            ca: read("ca", false)?,
            server: read("server", true)?,
            expired: read("expired", true)?,
            wrong_host: read("wrong-host", true)?,
            untrusted: read("untrusted", true)?,
            untrusted_ca: read("untrusted-ca", false)?,
            self_signed: read("self-signed", true)?,
            client: read("client", true)?,
        })
    }

    /// The members by the names of the agent protocol (docs/agent-protocol.md §2):
    /// each certificate's PEM, and `client-key` (the client's private key, PEM).
    pub fn members(&self) -> Vec<(&'static str, &[u8])> {
        vec![
            ("ca", self.ca.cert_pem.as_bytes()),
            ("untrusted-ca", self.untrusted_ca.cert_pem.as_bytes()),
            ("server", self.server.cert_pem.as_bytes()),
            ("expired", self.expired.cert_pem.as_bytes()),
            ("wrong-host", self.wrong_host.cert_pem.as_bytes()),
            ("untrusted", self.untrusted.cert_pem.as_bytes()),
            ("self-signed", self.self_signed.cert_pem.as_bytes()),
            ("client", self.client.cert_pem.as_bytes()),
            ("client-key", self.client.key_pem.as_bytes()),
        ]
    }

    /// Writes every certificate and key as PEM files into `dir` (created if missing).
    /// Returns the files written.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        let items: [(&str, &CertKey, bool); 8] = [
            ("ca", &self.ca, false),
            ("server", &self.server, true),
            ("expired", &self.expired, true),
            ("wrong-host", &self.wrong_host, true),
            ("untrusted", &self.untrusted, true),
            ("untrusted-ca", &self.untrusted_ca, false),
            ("self-signed", &self.self_signed, true),
            ("client", &self.client, true),
        ];
        for (name, ck, with_key) in items {
            let cert = dir.join(format!("{name}.pem"));
            std::fs::write(&cert, &ck.cert_pem)?;
            written.push(cert);
            let der = dir.join(format!("{name}.der"));
            std::fs::write(&der, &ck.cert_der)?;
            written.push(der);
            if with_key {
                let key = dir.join(format!("{name}.key"));
                std::fs::write(&key, &ck.key_pem)?;
                written.push(key);
            }
        }
        Ok(written)
    }
}
