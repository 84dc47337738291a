//! `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each param name and value, sorted
//! by name)), computed over the public URL registered in Twilio.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Whether `signature` is Twilio's signature of `params` posted to `url`.
///
/// Twilio signs sometimes with and sometimes without the default port, so both forms of the
/// URL are accepted, as Twilio's own helper libraries do. Comparison is constant-time.
pub fn is_valid(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(given) = STANDARD.decode(signature.trim()) else { return false };
    url_variants(url).iter().any(|candidate| bool::from(sign(auth_token, candidate, params).ct_eq(&given)))
}

/// The signature Twilio would send for `params` posted to `url` (for local clients that play
/// Twilio, like `connector-local chat`).
pub fn sign_base64(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(sign(auth_token, url, params))
}

fn sign(auth_token: &[u8], url: &str, params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token) else { return Vec::new() };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// The URL as given, plus the same URL with its default port added or removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let default_port = match scheme {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let alternative = match authority.rsplit_once(':') {
        Some((host, port)) if port == default_port => format!("{scheme}://{host}{tail}"),
        Some(_) => return variants,
        None => format!("{scheme}://{authority}:{default_port}{tail}"),
    };
    variants.push(alternative);
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn twilio_example(caller: &str) -> Vec<(String, String)> {
        [("CallSid", "CA1234567890ABCDE"), ("Caller", caller), ("Digits", "1234"), ("From", caller), ("To", "+18005551212")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn twilios_published_example_signature_is_valid() {
        assert!(is_valid(b"12345", URL, &twilio_example("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(is_valid(b"12345", URL, &twilio_example("+12349013030"), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn a_signature_made_over_the_url_with_its_default_port_is_valid() {
        assert!(is_valid(b"12345", URL, &twilio_example("+14158675309"), "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn a_changed_param_invalidates_the_signature() {
        let mut params = twilio_example("+14158675309");
        params[2].1 = "9999".into();
        assert!(!is_valid(b"12345", URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn another_token_or_url_invalidates_the_signature() {
        assert!(!is_valid(b"54321", URL, &twilio_example("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(!is_valid(b"12345", "https://mycompany.com/other", &twilio_example("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn a_signature_that_is_not_base64_is_invalid() {
        assert!(!is_valid(b"12345", URL, &twilio_example("+14158675309"), "%%%"));
        assert!(!is_valid(b"12345", URL, &twilio_example("+14158675309"), ""));
    }
}
