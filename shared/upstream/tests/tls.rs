//! The shared TLS set-up against real TLS servers on loopback: a certificate the system's roots
//! vouch for is accepted, any other is refused. "The system's roots" are a test file here,
//! through `SSL_CERT_FILE`, which the platform verifier honours on Linux.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A TLS server for `localhost` with the fixture `name`'s certificate, answering `ok`.
fn serve(name: &str) -> u16 {
    let cert = CertificateDer::from_pem_file(format!("{FIXTURES}/{name}-cert.pem")).expect("fixture certificate");
    let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/{name}-key.pem")).expect("fixture key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("a server configuration");
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).unwrap(), stream);
            let mut request = [0u8; 4096];
            if tls.read(&mut request).is_ok() {
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = tls.flush();
            }
        }
    });
    port
}

#[tokio::test]
async fn a_certificate_the_roots_vouch_for_is_accepted_and_any_other_is_refused() {
    // SAFETY: the only test of this binary, and no other thread reads the environment yet.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", format!("{FIXTURES}/trusted-cert.pem"));
        std::env::remove_var("SSL_CERT_DIR");
    }
    let trusted = serve("trusted");
    let untrusted = serve("untrusted");
    let client = upstream::http_client_builder().build().unwrap();

    let answer = client.get(format!("https://localhost:{trusted}/")).send().await.expect("the trusted server is reached");
    assert_eq!(answer.text().await.unwrap(), "ok");

    let refused = client.get(format!("https://localhost:{untrusted}/")).send().await.expect_err("an unknown certificate is refused");
    // Same subject as the trusted one, so the check fails on its signature.
    let chain = format!("{refused:?}");
    assert!(chain.contains("InvalidCertificate"), "{chain}");
}
