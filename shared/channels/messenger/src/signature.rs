//! `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the raw body, keyed with the app secret.
//!
//! Meta signs the bytes it sends (non-ASCII escaped as `\uXXXX`), so the check runs over the
//! body exactly as received, never over re-serialised JSON. The legacy `X-Hub-Signature`
//! (SHA-1) header Meta still sends beside it is not accepted on its own.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Meta signs webhooks with.
pub const HEADER: &str = "x-hub-signature-256";

const PREFIX: &str = "sha256=";

/// Whether `header` (the value of `X-Hub-Signature-256`) is Meta's signature of `body` with
/// `app_secret`. Anything but `sha256=` and 64 hex digits is invalid; the comparison is
/// constant-time.
pub fn is_valid(app_secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(given) = header.trim().strip_prefix(PREFIX).and_then(decode_hex) else { return false };
    let expected = mac(app_secret, body);
    given.len() == expected.len() && bool::from(expected.ct_eq(&given))
}

/// The `X-Hub-Signature-256` value Meta would send with `body` (for local clients that play
/// Meta, like `connector-local chat`).
pub fn header_value(app_secret: &[u8], body: &[u8]) -> String {
    let mut value = String::with_capacity(PREFIX.len() + 64);
    value.push_str(PREFIX);
    for byte in mac(app_secret, body) {
        value.push(hex_digit(byte >> 4));
        value.push(hex_digit(byte & 0x0f));
    }
    value
}

fn mac(app_secret: &[u8], body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length: this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(app_secret) else { return Vec::new() };
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase or uppercase hex, an even number of digits, nothing else.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.is_empty() || digits.len() % 2 != 0 {
        return None;
    }
    digits.chunks_exact(2).map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?)).collect()
}

fn nibble(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).and_then(|n| u8::try_from(n).ok())
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of `upstream-apis.md` §2.3 (computed with openssl).
    const SECRET: &[u8] = b"test_app_secret";
    const BODY: &str = r#"{"object":"page","entry":[{"id":"PAGE_ID","time":1458692752478,"messaging":[{"sender":{"id":"USER_PSID"},"recipient":{"id":"PAGE_ID"},"timestamp":1458692752478,"message":{"mid":"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!"}}]}]}"#;
    const SIGNATURE: &str = "sha256=71faf239f0f86b907318c0729704f0b2c372f3a00220fc39ad26845aac9cc056";

    #[test]
    fn the_worked_example_signature_is_valid() {
        assert_eq!(BODY.len(), 244);
        assert!(is_valid(SECRET, BODY.as_bytes(), SIGNATURE));
        assert_eq!(header_value(SECRET, BODY.as_bytes()), SIGNATURE);
    }

    #[test]
    fn uppercase_hex_and_surrounding_spaces_are_accepted() {
        let upper = format!(" sha256={} ", SIGNATURE.trim_start_matches(PREFIX).to_ascii_uppercase());
        assert!(is_valid(SECRET, BODY.as_bytes(), &upper));
    }

    #[test]
    fn a_body_changed_after_signing_is_refused() {
        let changed = BODY.replace("hello, world!", "hello, world?");
        assert!(!is_valid(SECRET, changed.as_bytes(), SIGNATURE));
        // The same JSON re-serialised with spaces is other bytes.
        let spaced = BODY.replace(",\"", ", \"");
        assert!(!is_valid(SECRET, spaced.as_bytes(), SIGNATURE));
    }

    #[test]
    fn a_signature_made_with_another_secret_is_refused() {
        let forged = header_value(b"someone_elses_secret", BODY.as_bytes());
        assert!(!is_valid(SECRET, BODY.as_bytes(), &forged));
        assert!(!is_valid(b"", BODY.as_bytes(), SIGNATURE));
    }

    #[test]
    fn a_garbled_signature_is_refused() {
        let hex = SIGNATURE.trim_start_matches(PREFIX);
        for garbled in [
            "",
            "sha256=",
            hex,
            &format!("sha1={hex}"),
            &format!("sha256={}", &hex[..63]),
            &format!("sha256={}", &hex[..62]),
            &format!("sha256={hex}00"),
            &format!("sha256={}zz", &hex[..62]),
            "sha256=cXVpdGUgbm90IGhleA==",
        ] {
            assert!(!is_valid(SECRET, BODY.as_bytes(), garbled), "{garbled:?}");
        }
    }
}
