//! Keyed fingerprints: conversation keys hold phone numbers, and an unkeyed hash of a phone
//! number is reversed by trying every number (seconds). An HMAC with a deployment secret is not.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt::Write as _;

#[derive(Clone)]
pub struct Fingerprinter {
    mac: Hmac<Sha256>,
}

impl Fingerprinter {
    /// `key` is a secret of the deployment (configured, or derived from its credentials).
    pub fn new(key: &[u8]) -> Self {
        // HMAC takes keys of any length.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
        Self { mac }
    }

    /// 16 hex digits: enough to tell conversations apart in logs, useless without the key.
    pub fn of(&self, text: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(text.as_bytes());
        mac.finalize().into_bytes()[..8].iter().fold(String::with_capacity(16), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
    }
}

impl std::fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprinter([key redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_gets_the_same_fingerprint_under_one_key_and_another_under_another() {
        let (a, b) = (Fingerprinter::new(b"deployment-a"), Fingerprinter::new(b"deployment-b"));
        let key = "twilio-14155550100-34600000001";
        assert_eq!(a.of(key), a.of(key));
        assert_eq!(a.of(key).len(), 16);
        assert_ne!(a.of(key), b.of(key));
    }

    #[test]
    fn without_the_key_a_fingerprint_cannot_be_matched_by_hashing_candidates() {
        let secret = Fingerprinter::new(b"a secret the attacker lacks");
        let guess = Fingerprinter::new(b"");
        let key = "twilio-14155550100-34600000001";
        assert_ne!(secret.of(key), guess.of(key));
        assert!(!secret.of(key).contains("34600000001"));
    }
}
