//! Test certificates made with rcgen: a CA, server certificates for the loopback
//! names, the deliberately bad ones, and an mTLS client certificate.

mod pki;
mod tls;

pub use pki::{CertKey, LOOPBACK_NAMES, PkiError, TestPki};
pub use tls::{ServerCert, TlsConfigError};
