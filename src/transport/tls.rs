//! TLS on top of any byte stream, configured the way esp-tls configures mbedTLS for
//! the WebSocket client: the server verified against the given CA (or the global store);
//! with neither, refused unless the build skips verification; optional common-name
//! check, optional client certificate.

use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::codes;

/// Certificate material as the C config holds it: PEM text, or DER when a length is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertSource {
    /// PEM (the C `*_len` field is 0).
    Pem(Vec<u8>),
    /// DER (the C `*_len` field is non-zero).
    Der(Vec<u8>),
}

impl CertSource {
    /// Builds the source the way the C client reads `ptr`/`len`: `len == 0` means PEM.
    pub fn from_ptr_len(bytes: Vec<u8>, len: usize) -> Self {
        if len == 0 { CertSource::Pem(bytes) } else { CertSource::Der(bytes) }
    }

    fn certificates(&self) -> Option<Vec<CertificateDer<'static>>> {
        match self {
            CertSource::Der(der) => Some(vec![CertificateDer::from(der.clone())]),
            CertSource::Pem(pem) => {
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
                certs.ok().filter(|c| !c.is_empty())
            }
        }
    }

    fn private_key(&self) -> Option<PrivateKeyDer<'static>> {
        match self {
            CertSource::Der(der) => PrivateKeyDer::try_from(der.clone()).ok(),
            CertSource::Pem(pem) => PrivateKeyDer::from_pem_slice(pem).ok(),
        }
    }
}

/// Which CA the server is verified against.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustAnchor {
    /// No CA: refused ("No server verification option set"), or not verified when the
    /// build skips verification (`MBEDTLS_SSL_VERIFY_NONE`).
    #[default]
    None,
    /// The CA given in `cert_pem` / `cert_len`.
    Cert(CertSource),
    /// The process-wide store set with [`set_global_ca_store`].
    GlobalStore,
}

/// The TLS settings of one client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// What verifies the server.
    pub trust: TrustAnchor,
    /// `skip_cert_common_name_check`: verify the chain but not the host name.
    pub skip_common_name_check: bool,
    /// `cert_common_name`: the name to verify (and send as SNI) instead of the host.
    pub common_name: Option<String>,
    /// `client_cert` for mutual TLS.
    pub client_cert: Option<CertSource>,
    /// `client_key` for mutual TLS.
    pub client_key: Option<CertSource>,
    /// `CONFIG_ESP_TLS_INSECURE` + `CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY`: with no CA,
    /// connect without verifying the server instead of refusing.
    pub skip_server_verify: bool,
    /// `CONFIG_MBEDTLS_HAVE_TIME_DATE`: check the certificates' validity dates (off by
    /// default in IDF, so an expired certificate verifies).
    pub check_validity_dates: bool,
}

fn global_store() -> &'static Mutex<Option<CertSource>> {
    static STORE: OnceLock<Mutex<Option<CertSource>>> = OnceLock::new();
    STORE.get_or_init(|| Mutex::new(None))
}

/// `esp_tls_set_global_ca_store()`: the CA used by clients with `use_global_ca_store`.
pub fn set_global_ca_store(ca: CertSource) {
    *global_store().lock().unwrap_or_else(|p| p.into_inner()) = Some(ca);
}

/// `esp_tls_free_global_ca_store()`.
pub fn free_global_ca_store() {
    *global_store().lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Why a TLS configuration could not be built (reported at connect time, as esp-tls does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSetupError {
    /// The esp-tls `last_error`.
    pub esp_err: i32,
}

/// A ready client configuration plus the slot where verification failures leave their
/// mbedTLS flags.
pub struct PreparedTls {
    /// The rustls configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The name to present (SNI) and to verify.
    pub server_name: ServerName<'static>,
    /// mbedTLS verify flags set by the verifier when it rejects the server.
    pub verify_flags: Arc<Mutex<i32>>,
}

impl TlsOptions {
    /// Builds the rustls configuration for a connection to `host`.
    pub fn prepare(&self, host: &str) -> Result<PreparedTls, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let flags = Arc::new(Mutex::new(0));
        let anchor = match &self.trust {
            TrustAnchor::None => None,
            TrustAnchor::Cert(src) => Some(src.clone()),
            TrustAnchor::GlobalStore => {
                global_store().lock().unwrap_or_else(|p| p.into_inner()).clone()
            }
        };
        let verifier: Arc<dyn ServerCertVerifier> = match anchor {
            None if self.skip_server_verify => Arc::new(NoVerification(provider.clone())),
            // esp-tls set_client_config (esp_tls_mbedtls.c, the last `else`): "No server
            // verification option set in esp_tls_cfg_t structure".
            None => {
                return Err(TlsSetupError { esp_err: codes::ESP_ERR_MBEDTLS_SSL_SETUP_FAILED });
            }
            Some(src) => {
                let certs = src.certificates().ok_or(TlsSetupError {
                    esp_err: codes::ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED,
                })?;
                let mut roots = RootCertStore::empty();
                for c in certs {
                    roots.add(c).map_err(|_| TlsSetupError {
                        esp_err: codes::ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED,
                    })?;
                }
                let inner =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|_| TlsSetupError {
                            esp_err: codes::ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED,
                        })?;
                Arc::new(MbedtlsLikeVerifier {
                    inner,
                    check_name: !self.skip_common_name_check,
                    check_dates: self.check_validity_dates,
                    flags: flags.clone(),
                })
            }
        };
        // ESP-IDF's mbedTLS speaks TLS 1.2 unless TLS 1.3 is enabled in menuconfig
        // (off by default), so a rejected client certificate fails the handshake itself.
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(|_| TlsSetupError { esp_err: codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let chain = cert.certificates().ok_or(TlsSetupError {
                    esp_err: codes::ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED,
                })?;
                let key = key
                    .private_key()
                    .ok_or(TlsSetupError { esp_err: codes::ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED })?;
                builder.with_client_auth_cert(chain, key).map_err(|_| TlsSetupError {
                    esp_err: codes::ESP_ERR_MBEDTLS_PK_PARSE_KEY_FAILED,
                })?
            }
            _ => builder.with_no_client_auth(),
        };
        // esp-tls only calls mbedtls_ssl_set_hostname when the name is checked, and that
        // call is also what sends SNI.
        let name = self.common_name.clone().unwrap_or_else(|| host.to_string());
        config.enable_sni = !self.skip_common_name_check;
        let server_name = ServerName::try_from(name)
            .or_else(|_| ServerName::try_from("invalid.host".to_string()))
            .map_err(|_| TlsSetupError { esp_err: codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED })?;
        Ok(PreparedTls { config: Arc::new(config), server_name, verify_flags: flags })
    }
}

/// Accepts any server certificate: esp-tls with no CA configured.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Verifies the chain (and the name unless skipped) and, on failure, records the
/// mbedTLS verify flags the device would report: mbedTLS checks the chain and the name
/// independently, so both flags can be set at once.
#[derive(Debug)]
struct MbedtlsLikeVerifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
    check_dates: bool,
    flags: Arc<Mutex<i32>>,
}

/// A time at which every certificate of the chain is valid (the latest `notBefore`,
/// if it is before the earliest `notAfter`; else the server certificate's own
/// `notBefore`), so that a verification without date checks — mbedTLS built without
/// `MBEDTLS_HAVE_TIME_DATE` — still checks issuers, signatures and names.
fn time_inside_validity(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Option<UnixTime> {
    let window = |der: &CertificateDer<'_>| {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let v = cert.validity();
        Some((v.not_before.timestamp(), v.not_after.timestamp()))
    };
    let (ee_from, _) = window(end_entity)?;
    let mut from = ee_from;
    let mut to = i64::MAX;
    for der in std::iter::once(end_entity).chain(intermediates) {
        let (f, t) = window(der)?;
        from = from.max(f);
        to = to.min(t);
    }
    let at = if from <= to { from } else { ee_from };
    Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.max(0) as u64)))
}

fn flag_of(err: &rustls::Error) -> i32 {
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                codes::BADCERT_EXPIRED
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                codes::BADCERT_FUTURE
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                codes::BADCERT_CN_MISMATCH
            }
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                codes::BADCERT_NOT_TRUSTED
            }
            _ => codes::BADCERT_OTHER,
        },
        _ => codes::BADCERT_OTHER,
    }
}

impl ServerCertVerifier for MbedtlsLikeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut flags = 0;
        let mut first_err = None;
        let now = if self.check_dates {
            now
        } else {
            time_inside_validity(end_entity, intermediates).unwrap_or(now)
        };
        if let Err(e) = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            let f = flag_of(&e);
            if f != codes::BADCERT_CN_MISMATCH {
                flags |= f;
                first_err = Some(e);
            } else if self.check_name {
                first_err = Some(e);
            }
        }
        if self.check_name {
            let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
            if let Err(e) = rustls::client::verify_server_name(&parsed, server_name) {
                flags |= codes::BADCERT_CN_MISMATCH;
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            None => Ok(ServerCertVerified::assertion()),
            Some(e) => {
                *self.flags.lock().unwrap_or_else(|p| p.into_inner()) = flags;
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
