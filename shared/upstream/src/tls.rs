//! TLS for every HTTP client of the product: rustls on ring, and the platform's root
//! certificates read once per process, at the first handshake.
//!
//! reqwest builds a platform verifier per client, and building one reads every file of the
//! system's certificate store: about 5 ms each, two to four clients per function, all before
//! the function is ready for its first event. Here all clients share one verifier, created
//! when the first TLS connection needs it (docs/design-notes.md, "Build").

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::{Arc, LazyLock, OnceLock};

/// A `reqwest` client builder with the shared TLS configuration; every client starts here.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(CONFIG.clone())
}

static VERIFIER: LazyLock<Arc<SharedPlatformVerifier>> = LazyLock::new(|| {
    Arc::new(SharedPlatformVerifier { provider: Arc::new(rustls::crypto::ring::default_provider()), verifier: OnceLock::new() })
});

static CONFIG: LazyLock<ClientConfig> = LazyLock::new(|| {
    let verifier = VERIFIER.clone();
    ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls's default protocol versions")
        // Not a way around verification: every certificate goes to the platform verifier.
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth()
});

/// The platform verifier (system roots, WebPKI checks), created on first use.
#[derive(Debug)]
struct SharedPlatformVerifier {
    provider: Arc<rustls::crypto::CryptoProvider>,
    verifier: OnceLock<Result<rustls_platform_verifier::Verifier, rustls::Error>>,
}

impl SharedPlatformVerifier {
    fn get(&self) -> Result<&rustls_platform_verifier::Verifier, rustls::Error> {
        self.verifier.get_or_init(|| rustls_platform_verifier::Verifier::new(self.provider.clone())).as_ref().map_err(Clone::clone)
    }
}

impl ServerCertVerifier for SharedPlatformVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.get()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.get()?.verify_tls13_signature(message, cert, dss)
    }

    /// What the provider can check, known without reading the roots.
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_clients_reads_no_root_certificates_until_a_handshake_needs_them() {
        for _ in 0..3 {
            http_client_builder().build().expect("a client");
        }
        assert!(VERIFIER.verifier.get().is_none(), "the roots were read before any handshake");
    }
}
