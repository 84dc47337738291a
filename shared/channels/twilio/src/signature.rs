//! `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + each param name and value)),
//! computed over the public URL registered in Twilio, as Twilio's own helper computes it
//! (twilio-python `twilio/request_validator.py`, `RequestValidator`; twilio-node
//! `src/webhooks/webhooks.ts` does the same):
//!
//! * the URL exactly as configured, query string included: it is neither re-encoded nor sorted,
//!   and its parameters are not mixed with the POST parameters;
//! * then the POST parameters sorted by name, and a repeated name's values sorted, each distinct
//!   `(name, value)` once (`sorted(set(values))` in twilio-python, `new Set` in twilio-node);
//! * a signature over the URL without its port, or with it (the default port, 443 for https and
//!   80 for http, when the URL has none), is valid: Twilio signs sometimes one way, sometimes the
//!   other. A URL with another port, like `https://host:8443/x`, is also accepted signed as
//!   `https://host/x` (the helper removes any port), never as `https://host:443/x`.
//!
//! twilio-node also tries a "legacy querystring" form of the URL: it rebuilds the URL with
//! `new URL()`, which percent-encodes characters such as `'` in the query, and so re-decodes it
//! to get back what Twilio signed. This code never re-encodes the configured URL, so it has
//! nothing to undo (twilio-python has no such form either). Twilio's JSON-body variant
//! (`bodySHA256` in the query) and the HMAC-SHA256 "Webhook Rules" signature are not taken: this
//! connector registers form webhooks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Whether `signature` is Twilio's signature of `params` posted to `url`.
///
/// Both forms of the URL (with and without its port, see the module's documentation) are
/// accepted, as Twilio's own helper libraries do. Comparison is constant-time.
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
    // By name, then by value (byte order, which is code point order, as Python's `sorted`);
    // each distinct pair once.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(auth_token) else { return Vec::new() };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// The URL as given, plus the same URL without its port if it has one, else with the scheme's
/// default port (twilio-python's `remove_port` and `add_port`). Only http and https URLs have
/// variants; user info and IPv6 hosts are kept as they are.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return variants,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (user_info, host_port) = authority.split_at(host_start);
    // The port follows the last ':' that is not inside an IPv6 literal (`[::1]:8443`).
    let port_start = host_port.rfind(':').filter(|&colon| !host_port[colon..].contains(']'));
    let alternative = match port_start {
        Some(colon) => {
            let port = &host_port[colon + 1..];
            if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                return variants;
            }
            format!("{scheme}://{user_info}{}{tail}", &host_port[..colon])
        }
        None => format!("{scheme}://{user_info}{host_port}:{default_port}{tail}"),
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

    // Vectors computed with Twilio's own helper, twilio-python's `RequestValidator`
    // (`twilio/request_validator.py`, unchanged since b3a5deb, 2022-09-20), by
    // `python3 shared/fakes/specs/twilio_signature_vectors.py PATH/TO/request_validator.py`: that script
    // lists each vector's token, URL and parameters and checks `validate` as asserted here. The
    // first five are also in the helper's own tests (`tests/unit/test_request_validator.py`).

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const HOOK: &str = "https://connector.example.com/twilio";
    const TOKEN: &[u8] = b"test-twilio-auth-token";

    #[test]
    fn the_helpers_vectors_for_http_and_other_ports() {
        let http = URL.replace("https", "http");
        // Signed over http://mycompany.com:80/...: valid for the URL without a port.
        assert!(is_valid(b"12345", &http, &twilio_example("+14158675309"), "0ZXoZLH/DfblKGATFgpif+LLRf4="));
        // Signed over http://mycompany.com:1234/...: valid for that URL.
        let http_1234 = http.replace(".com/", ".com:1234/");
        assert!(is_valid(b"12345", &http_1234, &twilio_example("+14158675309"), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
        // A URL with any port also takes the signature over the URL without it...
        let https_1234 = URL.replace(".com/", ".com:1234/");
        assert!(is_valid(b"12345", &https_1234, &twilio_example("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        // ...but not the one over the default port instead of its own.
        assert!(!is_valid(b"12345", &https_1234, &twilio_example("+14158675309"), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        // The URL with :443 takes the signature without it, and with it.
        let https_443 = URL.replace(".com/", ".com:443/");
        assert!(is_valid(b"12345", &https_443, &twilio_example("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(is_valid(b"12345", &https_443, &twilio_example("+14158675309"), "kvajT1Ptam85bY51eRf/AJRuM3w="));
    }

    #[test]
    fn a_non_default_port_is_signed_with_it_or_without_any() {
        let with_port = "https://connector.example.com:8443/twilio";
        let params = pairs(&[("Body", "hi")]);
        assert!(is_valid(TOKEN, with_port, &params, "DWm/iX4Eyoz8n1MPPaTIEEN7Gds="));
        assert!(is_valid(TOKEN, with_port, &params, "uoEl+0xbvUf142GZGrBo+YUfWRg="));
        assert!(!is_valid(TOKEN, HOOK, &params, "DWm/iX4Eyoz8n1MPPaTIEEN7Gds="), "a port never configured");
    }

    #[test]
    fn repeated_keys_are_sorted_by_value_and_identical_values_count_once() {
        let duplicates = pairs(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
        assert_eq!(sign_base64(b"12345", URL, &duplicates), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        assert!(is_valid(b"12345", URL, &duplicates, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
        let media = pairs(&[
            ("MediaUrl", "https://b.example/2"),
            ("Body", "hi"),
            ("MediaUrl", "https://a.example/1"),
            ("MediaUrl", "https://b.example/2"),
        ]);
        assert_eq!(sign_base64(TOKEN, HOOK, &media), "eM280jn8MZS6YKLi2l5XVQggGVk=");
        // By name first: `To` before `ToCountry`, whatever their values.
        let names = pairs(&[("ToCountry", "US"), ("To", "z"), ("To", "+34600000001")]);
        assert_eq!(sign_base64(TOKEN, HOOK, &names), "xzgSl83x8h1bD5sVrUra5COr5S8=");
        // A repeated value counts once, but a different value is still a change.
        let mut changed = media.clone();
        changed[3].1 = "https://c.example/3".into();
        assert!(!is_valid(TOKEN, HOOK, &changed, "eM280jn8MZS6YKLi2l5XVQggGVk="));
    }

    #[test]
    fn the_query_string_is_signed_as_configured() {
        let params = pairs(&[("MessageStatus", "undelivered"), ("ErrorCode", "63016")]);
        let url = "https://connector.example.com/twilio/status?agent=1&b=%27x%27&a=2";
        assert_eq!(sign_base64(TOKEN, url, &params), "Ip3hgZc0nDEUaMKVX0WmQI9AjO0=");
        assert!(is_valid(TOKEN, url, &params, "Ip3hgZc0nDEUaMKVX0WmQI9AjO0="));
        // Neither sorted nor decoded: another order or encoding is another URL.
        assert!(!is_valid(TOKEN, url, &params, "ahVe6TGRlzAJcTRHYD6imtiQS00="));
        assert!(!is_valid(TOKEN, "https://connector.example.com/twilio/status?agent=1&b='x'&a=2", &params, "Ip3hgZc0nDEUaMKVX0WmQI9AjO0="));
        // The query's parameters are not POST parameters.
        let mut with_query_params = params.clone();
        with_query_params.push(("agent".into(), "1".into()));
        assert!(!is_valid(TOKEN, url, &with_query_params, "Ip3hgZc0nDEUaMKVX0WmQI9AjO0="));
    }

    #[test]
    fn values_are_signed_as_utf_8() {
        let params = pairs(&[("Body", "ñandú 👍"), ("From", "whatsapp:+34600000001")]);
        assert_eq!(sign_base64(TOKEN, HOOK, &params), "00eOzECLfTuqENFrG4ulp1rp1ps=");
    }

    #[test]
    fn url_variants_follow_the_helpers_add_and_remove_port() {
        assert_eq!(url_variants("https://h/x?a=1"), ["https://h/x?a=1", "https://h:443/x?a=1"]);
        assert_eq!(url_variants("http://h/x"), ["http://h/x", "http://h:80/x"]);
        assert_eq!(url_variants("https://h:443/x"), ["https://h:443/x", "https://h/x"]);
        assert_eq!(url_variants("https://h:8443/x"), ["https://h:8443/x", "https://h/x"]);
        assert_eq!(url_variants("https://h"), ["https://h", "https://h:443"]);
        assert_eq!(url_variants("https://u:p@h:8443/x"), ["https://u:p@h:8443/x", "https://u:p@h/x"]);
        assert_eq!(url_variants("https://[::1]:8443/x"), ["https://[::1]:8443/x", "https://[::1]/x"]);
        assert_eq!(url_variants("https://[::1]/x"), ["https://[::1]/x", "https://[::1]:443/x"]);
        assert_eq!(url_variants("ftp://h/x"), ["ftp://h/x"]);
    }

    #[test]
    fn a_signature_that_is_not_base64_is_invalid() {
        assert!(!is_valid(b"12345", URL, &twilio_example("+14158675309"), "%%%"));
        assert!(!is_valid(b"12345", URL, &twilio_example("+14158675309"), ""));
    }
}
