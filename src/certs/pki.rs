//! Generation of the test PKI.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, date_time_ymd,
};

/// The names every valid server certificate carries.
pub const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Why certificate generation failed.
#[derive(Debug, thiserror::Error)]
#[error("certificate generation failed: {0}")]
pub struct PkiError(#[from] rcgen::Error);

/// A certificate with its private key, both PEM, plus the certificate's DER.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

/// A complete set of test certificates, generated fresh.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The test CA that signs the good certificates.
    pub ca: CertKey,
    /// A server certificate for localhost / 127.0.0.1 / ::1, signed by the CA.
    pub server: CertKey,
    /// Signed by the CA, but for another host name (`wrong.host.invalid`).
    pub wrong_host: CertKey,
    /// Signed by the CA, for the loopback names, but expired in 2020.
    pub expired: CertKey,
    /// For the loopback names, signed by a CA the client does not know.
    pub untrusted: CertKey,
    /// The unknown CA that signed `untrusted`.
    pub untrusted_ca: CertKey,
    /// Self-signed, for the loopback names.
    pub self_signed: CertKey,
    /// An mTLS client certificate signed by the CA.
    pub client: CertKey,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "wsim test PKI");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2099, 1, 1);
    p
}

fn leaf_params(names: &[&str], cn: &str, client: bool) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    p.not_before = date_time_ymd(2024, 1, 1);
    p.not_after = date_time_ymd(2099, 1, 1);
    Ok(p)
}

fn sign(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> Result<CertKey, PkiError> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok(CertKey {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    })
}

fn self_sign(params: CertificateParams) -> Result<(CertKey, Issuer<'static, KeyPair>), PkiError> {
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let ck = CertKey {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        key_pem: key.serialize_pem(),
    };
    Ok((ck, Issuer::new(params, key)))
}

impl TestPki {
    /// Generates every certificate.
    pub fn generate() -> Result<TestPki, PkiError> {
        TestPki::generate_for(&[])
    }

    /// Generates every certificate; the server certificates that carry the loopback
    /// names also carry `extra` (host names or IP addresses: the address servers are
    /// advertised at, `wsim run --advertise-host`, so a board verifies them).
    pub fn generate_for(extra: &[&str]) -> Result<TestPki, PkiError> {
        let mut names: Vec<&str> = LOOPBACK_NAMES.to_vec();
        for e in extra {
            if !names.contains(e) {
                names.push(e);
            }
        }
        let names = names.as_slice();
        let (ca, issuer) = self_sign(ca_params("wsim test CA"))?;
        let (untrusted_ca, other) = self_sign(ca_params("wsim untrusted CA"))?;
        let server = sign(&leaf_params(names, "localhost", false)?, &issuer)?;
        let wrong_host =
            sign(&leaf_params(&["wrong.host.invalid"], "wrong.host.invalid", false)?, &issuer)?;
        let mut exp = leaf_params(names, "localhost", false)?;
        exp.not_before = date_time_ymd(2019, 1, 1);
        exp.not_after = date_time_ymd(2020, 1, 1);
        let expired = sign(&exp, &issuer)?;
        let untrusted = sign(&leaf_params(names, "localhost", false)?, &other)?;
        let (self_signed, _) = self_sign(leaf_params(names, "localhost", false)?)?;
        let client = sign(&leaf_params(&["wsim-client"], "wsim-client", true)?, &issuer)?;
        Ok(TestPki {
            ca,
            server,
            wrong_host,
            expired,
            untrusted,
            untrusted_ca,
            self_signed,
            client,
        })
    }
}
