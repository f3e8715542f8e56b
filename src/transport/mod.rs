//! The mock esp-like socket layer: the `esp_transport` contract (TCP and SSL) over any
//! byte stream, with the device's return values and error handle.

pub mod codes;
mod error_record;
mod socket;
mod stream;
mod tls;

pub use error_record::{ErrorRecord, TransportErrors};
pub use socket::{
    Connection, EspReader, EspTransport, EspWriter, READ_CLOSED_BY_FIN, READ_FAILED, READ_TIMEOUT,
    Security,
};
pub use stream::{BoxStream, ByteStream, ConnectFailure, ConnectFuture, Connector, TcpConnector};
pub use tls::{
    CertSource, PreparedTls, TlsOptions, TlsSetupError, TrustAnchor, free_global_ca_store,
    set_global_ca_store,
};
