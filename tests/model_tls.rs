//! TLS as esp-tls configures it for the client: verification with a CA, refusal
//! without one (unless the build skips verification), the common-name options, mutual
//! TLS, the global CA store, and the error handle each certificate failure leaves
//! (certificates generated at test time with rcgen).

mod common;

use std::sync::OnceLock;

use common::*;
use wsim::certs::TestPki;
use wsim::esp::{
    Config, Env, ErrorType, EspWebsocketClient, EventId, PORT_MAX_DELAY, Profile, Sdkconfig,
};
use wsim::transport::{CertSource, codes, set_global_ca_store};

fn pki() -> &'static TestPki {
    static PKI: OnceLock<TestPki> = OnceLock::new();
    PKI.get_or_init(|| TestPki::generate().expect("certificates"))
}

async fn wss(cert: &wsim::certs::CertKey, client_ca: Option<&str>) -> String {
    let addr = echo_server(Some(server_tls(cert, client_ca))).await;
    format!("wss://localhost:{}/secure", addr.port())
}

/// Starts a client and says whether it connected; on failure returns the ERROR and
/// DISCONNECTED events.
async fn attempt(config: Config) -> Result<(), (wsim::esp::OwnedEvent, wsim::esp::OwnedEvent)> {
    attempt_built(config, Sdkconfig::default()).await
}

/// [`attempt`] with a firmware built with `sdkconfig`.
async fn attempt_built(
    config: Config,
    sdkconfig: Sdkconfig,
) -> Result<(), (wsim::esp::OwnedEvent, wsim::esp::OwnedEvent)> {
    let config = Config { disable_auto_reconnect: true, network_timeout_ms: 3000, ..config };
    let env = Env::real().with_sdkconfig(sdkconfig);
    let c = EspWebsocketClient::try_init(&config, &env, Profile::Idf6).expect("init");
    let mut ev = Events::attach(&c).ignore(EventId::HeaderReceived);
    c.start().await;
    ev.expect_seq(&[EventId::Begin, EventId::BeforeConnect]).await;
    match ev.next_within(WAIT).await.map(|(_, e)| e) {
        Some(e) if e.event == EventId::Connected => {
            assert_eq!(c.send_text("over tls", PORT_MAX_DELAY).await, 8);
            assert_eq!(ev.expect(EventId::Data).await.text(), Some("over tls"));
            c.destroy().await;
            Ok(())
        }
        Some(e) if e.event == EventId::Error => {
            let d = ev.expect(EventId::Disconnected).await;
            ev.expect(EventId::Finish).await;
            Err((e, d))
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn with_ca(uri: String) -> Config {
    Config { cert_pem: Some(pki().ca.cert_pem.clone().into_bytes()), ..cfg(uri) }
}

/// A verification failure in the first handshake: mbedTLS 0x2700, but no verify flags
/// (esp-tls reads them only when a peer certificate is available; spec §8).
fn assert_verify_failure(err: (wsim::esp::OwnedEvent, wsim::esp::OwnedEvent)) {
    let (e, d) = err;
    let msg = e.text().unwrap();
    assert!(
        msg.starts_with(
            "esp_transport_connect() failed with -1, transport_error=ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED, tls_error_code=9984, tls_flags=0"
        ),
        "{msg}"
    );
    assert_eq!(e.error_handle.error_type, ErrorType::None);
    assert_eq!(d.error_handle.error_type, ErrorType::TcpTransport);
    assert_eq!(d.error_handle.esp_tls_last_esp_err, codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED);
    assert_eq!(d.error_handle.esp_tls_stack_err, codes::MBEDTLS_X509_CERT_VERIFY_FAILED);
    assert_eq!(d.error_handle.esp_tls_cert_verify_flags, 0);
}

#[tokio::test]
async fn a_server_signed_by_the_configured_ca_is_verified() {
    assert!(attempt(with_ca(wss(&pki().server, None).await)).await.is_ok());
}

#[tokio::test]
async fn a_der_ca_with_cert_len_works_too() {
    let uri = wss(&pki().server, None).await;
    let der = pki().ca.cert_der.clone();
    let config = Config { cert_len: der.len(), cert_pem: Some(der), ..cfg(uri) };
    assert!(attempt(config).await.is_ok());
}

#[tokio::test]
async fn an_unknown_ca_fails_verification() {
    let err = attempt(with_ca(wss(&pki().untrusted, None).await)).await.unwrap_err();
    assert_verify_failure(err);
}

#[tokio::test]
async fn a_wrong_host_fails_verification() {
    let err = attempt(with_ca(wss(&pki().wrong_host, None).await)).await.unwrap_err();
    assert_verify_failure(err);
}

#[tokio::test]
async fn an_expired_certificate_fails_verification_only_when_mbedtls_checks_dates() {
    // IDF's default: no MBEDTLS_HAVE_TIME_DATE, no date checks.
    assert!(attempt(with_ca(wss(&pki().expired, None).await)).await.is_ok());
    let mut dated = Sdkconfig::default();
    dated.set("CONFIG_MBEDTLS_HAVE_TIME_DATE=y").unwrap();
    let err = attempt_built(with_ca(wss(&pki().expired, None).await), dated).await.unwrap_err();
    assert_verify_failure(err);
    // Without date checks the issuer still counts: an expired certificate of an
    // unknown CA fails.
    let untrusted = attempt(with_ca(wss(&pki().untrusted, None).await)).await.unwrap_err();
    assert_verify_failure(untrusted);
}

#[tokio::test]
async fn without_a_ca_the_default_build_refuses_to_connect() {
    let (e, d) = attempt(cfg(wss(&pki().server, None).await)).await.unwrap_err();
    let msg = e.text().unwrap();
    assert!(
        msg.starts_with(
            "esp_transport_connect() failed with -1, transport_error=ESP_ERR_MBEDTLS_SSL_SETUP_FAILED, tls_error_code=0, tls_flags=0"
        ),
        "{msg}"
    );
    assert_eq!(d.error_handle.esp_tls_last_esp_err, 0x8017);
}

#[tokio::test]
async fn without_a_ca_an_insecure_build_verifies_nothing() {
    let mut insecure = Sdkconfig::default();
    insecure.set("CONFIG_ESP_TLS_INSECURE=y").unwrap();
    insecure.set("CONFIG_ESP_TLS_SKIP_SERVER_CERT_VERIFY=y").unwrap();
    for cert in [&pki().untrusted, &pki().self_signed, &pki().expired, &pki().wrong_host] {
        assert!(attempt_built(cfg(wss(cert, None).await), insecure).await.is_ok());
    }
}

#[tokio::test]
async fn skip_common_name_check_and_cert_common_name() {
    let uri = wss(&pki().wrong_host, None).await;
    assert!(
        attempt(Config { skip_cert_common_name_check: true, ..with_ca(uri.clone()) }).await.is_ok()
    );
    let named = Config { cert_common_name: Some("wrong.host.invalid".into()), ..with_ca(uri) };
    assert!(attempt(named).await.is_ok());
    // Skipping the name still checks the chain.
    let uri = wss(&pki().untrusted, None).await;
    let err =
        attempt(Config { skip_cert_common_name_check: true, ..with_ca(uri) }).await.unwrap_err();
    assert_eq!(err.1.error_handle.esp_tls_stack_err, codes::MBEDTLS_X509_CERT_VERIFY_FAILED);
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let uri = wss(&pki().server, Some(&pki().ca.cert_pem)).await;
    let err = attempt(with_ca(uri.clone())).await.unwrap_err();
    assert_eq!(
        err.1.error_handle.esp_tls_last_esp_err,
        codes::ESP_ERR_MBEDTLS_SSL_HANDSHAKE_FAILED
    );
    let mtls = Config {
        client_cert: Some(pki().client.cert_pem.clone().into_bytes()),
        client_key: Some(pki().client.key_pem.clone().into_bytes()),
        ..with_ca(uri)
    };
    assert!(attempt(mtls).await.is_ok());
}

#[tokio::test]
async fn the_global_ca_store_takes_precedence_over_cert_pem() {
    set_global_ca_store(CertSource::Pem(pki().ca.cert_pem.clone().into_bytes()));
    let uri = wss(&pki().server, None).await;
    // cert_pem names the wrong CA, but the global store wins.
    let config = Config {
        use_global_ca_store: true,
        cert_pem: Some(pki().untrusted_ca.cert_pem.clone().into_bytes()),
        ..cfg(uri)
    };
    assert!(attempt(config).await.is_ok());
}

#[tokio::test]
async fn a_ca_that_does_not_parse_fails_at_connect_time() {
    let uri = wss(&pki().server, None).await;
    let err = attempt(Config { cert_pem: Some(b"not a certificate".to_vec()), ..cfg(uri) })
        .await
        .unwrap_err();
    assert_eq!(
        err.1.error_handle.esp_tls_last_esp_err,
        codes::ESP_ERR_MBEDTLS_X509_CRT_PARSE_FAILED
    );
}

#[test]
fn cert_common_name_with_skip_makes_init_fail() {
    let config = Config {
        cert_common_name: Some("x".into()),
        skip_cert_common_name_check: true,
        ..cfg("wss://localhost/".into())
    };
    assert!(wsim::esp::EspWebsocketClient::init(&config).is_none());
}
