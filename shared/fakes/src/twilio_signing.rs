//! Twilio webhook signing, written from Twilio's public documentation and its
//! published helper, and independent of the product code.
//!
//! Test drivers use this to sign the inbound webhooks they post to the
//! connector. Because it does not share code with the connector's verifier, a
//! bug in the verifier cannot be hidden by the same bug in the signer; the
//! unit tests below pin it to vectors of Twilio's own helper.
//!
//! Algorithm (<https://www.twilio.com/docs/usage/security#validating-requests>,
//! and twilio-python's `RequestValidator`, `twilio/request_validator.py`):
//! take the full URL Twilio called exactly as configured (scheme, host, path
//! and query string, the query neither re-encoded nor sorted), append every
//! POST parameter as `name` immediately followed by `value`, with the
//! parameters sorted by name, a repeated name's values sorted and each
//! identical `(name, value)` once (`sorted(set(values))`); HMAC-SHA1 that
//! string with the account's auth token as key; base64-encode the digest. The
//! result goes in the `X-Twilio-Signature` header.
//!
//! Twilio signs the URL sometimes with its port and sometimes without
//! ([`signed_url_forms`]): a receiver must take both.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};

use crate::twilio::FakeTwilio;

/// Computes the `X-Twilio-Signature` value for a form-encoded webhook.
///
/// Parameters are sorted by name in byte order; a repeated name is ordered by
/// value and an identical pair counts once, so the result never depends on the
/// order the caller listed them in.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes())));
    sorted.dedup_by(|a, b| a == b);

    let mut payload = String::from(url);
    for (name, value) in sorted {
        payload.push_str(name);
        payload.push_str(value);
    }

    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token.as_bytes()).expect("HMAC-SHA1 accepts keys of any length");
    mac.update(payload.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The URLs Twilio may sign a webhook to `url` over, as its helper checks them
/// (twilio-python `remove_port`, `add_port`): the URL without its port (any
/// port), and with it (the scheme's default, 443 for https and 80 otherwise,
/// when it has none). One of the two is `url` itself.
pub fn signed_url_forms(url: &str) -> [String; 2] {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = (&rest[..cut], &rest[cut..]);
    let (credentials, host_and_port) = match authority.rsplit_once('@') {
        Some((credentials, host)) => (format!("{credentials}@"), host),
        None => (String::new(), authority),
    };
    let port_colon = match host_and_port.rsplit_once(']') {
        Some((_, after_ipv6)) => after_ipv6.find(':').map(|i| host_and_port.len() - after_ipv6.len() + i),
        None => host_and_port.find(':'),
    };
    let (host, port) = match port_colon {
        Some(i) => (&host_and_port[..i], host_and_port[i + 1..].to_owned()),
        None => (host_and_port, if scheme == "https" { "443".to_owned() } else { "80".to_owned() }),
    };
    [format!("{scheme}://{credentials}{host}{tail}"), format!("{scheme}://{credentials}{host}:{port}{tail}")]
}

/// A realistic parameter set for an inbound SMS / WhatsApp webhook with no media.
///
/// Mirrors what Twilio posts for an incoming message, so the connector is
/// exercised with the extra fields it must tolerate, not just the ones it reads.
/// For a `whatsapp:` sender, `ProfileName` (`Ana`) and `WaId` (the sender's
/// digits) are added as Twilio does.
pub fn inbound_form(from: &str, to: &str, body: &str, message_sid: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", ""),
        ("SmsSid", message_sid),
        ("FromState", ""),
        ("SmsStatus", "received"),
        ("FromCity", ""),
        ("Body", body),
        ("FromCountry", ""),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", FakeTwilio::ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    if let Some(number) = from.strip_prefix("whatsapp:") {
        let wa_id: String = number.chars().filter(char::is_ascii_digit).collect();
        // WhatsApp webhooks carry no geographic fields, but do carry these.
        params.retain(|(k, _)| {
            !matches!(k.as_str(), "ToCountry" | "ToState" | "ToCity" | "ToZip" | "FromCountry" | "FromState" | "FromCity" | "FromZip")
        });
        for (k, v) in
            [("ProfileName", "Ana".to_owned()), ("WaId", wa_id), ("MessageType", "text".to_owned()), ("ReferralNumMedia", "0".to_owned())]
        {
            params.push((k.to_owned(), v));
        }
    }
    params
}

/// Encodes parameters as an `application/x-www-form-urlencoded` body, keeping
/// their order and any repeated names.
pub fn encode_form(params: &[(String, String)]) -> String {
    // Serialising a list of string pairs cannot fail.
    serde_urlencoded::to_string(params).expect("string pairs always form-encode")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const DOC_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const HOOK: &str = "https://connector.example.com/twilio";

    #[test]
    fn signature_matches_twilios_published_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(twilio_signature("12345", DOC_URL, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn signature_matches_twilios_second_published_example() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(twilio_signature("12345", DOC_URL, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }

    #[test]
    fn signature_does_not_depend_on_parameter_order() {
        let params = pairs(&[
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Digits", "1234"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]);
        assert_eq!(twilio_signature("12345", DOC_URL, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        let repeated_a = pairs(&[("MediaUrl", "b"), ("MediaUrl", "a")]);
        let repeated_b = pairs(&[("MediaUrl", "a"), ("MediaUrl", "b")]);
        assert_eq!(twilio_signature("t", "https://x/", &repeated_a), twilio_signature("t", "https://x/", &repeated_b));
    }

    #[test]
    fn signature_changes_with_token_url_or_body() {
        let params = pairs(&[("Body", "hi")]);
        let base = twilio_signature("tok", "https://a/hook", &params);
        assert_ne!(base, twilio_signature("tok2", "https://a/hook", &params));
        assert_ne!(base, twilio_signature("tok", "https://a/hook?x=1", &params));
        assert_ne!(base, twilio_signature("tok", "https://a/hook", &pairs(&[("Body", "hi!")])));
    }

    // Vectors computed with Twilio's own helper, twilio-python's `RequestValidator`
    // (`twilio/request_validator.py`, unchanged since b3a5deb, 2022-09-20), by
    // `python3 shared/fakes/specs/twilio_signature_vectors.py PATH/TO/request_validator.py`, which
    // prints each vector's token, URL and parameters. `IK+Dwps...` and the port vectors are also
    // in the helper's own tests (`tests/unit/test_request_validator.py`).

    #[test]
    fn signature_matches_the_helpers_vectors_for_ports() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        let [without, with] = signed_url_forms(DOC_URL);
        assert_eq!(twilio_signature("12345", &without, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert_eq!(twilio_signature("12345", &with, &params), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        let [_, http_80] = signed_url_forms(&DOC_URL.replace("https", "http"));
        assert_eq!(twilio_signature("12345", &http_80, &params), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
        let http_1234 = DOC_URL.replace("https", "http").replace(".com/", ".com:1234/");
        assert_eq!(twilio_signature("12345", &http_1234, &params), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
        assert_eq!(signed_url_forms(&http_1234)[0], DOC_URL.replace("https", "http"));
    }

    #[test]
    fn repeated_keys_are_sorted_by_value_and_identical_values_count_once() {
        let duplicates = pairs(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
        assert_eq!(twilio_signature("12345", DOC_URL, &duplicates), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        let media = pairs(&[
            ("MediaUrl", "https://b.example/2"),
            ("Body", "hi"),
            ("MediaUrl", "https://a.example/1"),
            ("MediaUrl", "https://b.example/2"),
        ]);
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, HOOK, &media), "eM280jn8MZS6YKLi2l5XVQggGVk=");
        let names = pairs(&[("ToCountry", "US"), ("To", "z"), ("To", "+34600000001")]);
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, HOOK, &names), "xzgSl83x8h1bD5sVrUra5COr5S8=");
    }

    #[test]
    fn the_query_string_is_signed_as_given_and_utf_8_as_bytes() {
        let params = pairs(&[("MessageStatus", "undelivered"), ("ErrorCode", "63016")]);
        let status = format!("{HOOK}/status?agent=1&b=%27x%27&a=2");
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, &status, &params), "Ip3hgZc0nDEUaMKVX0WmQI9AjO0=");
        let reordered = format!("{HOOK}/status?a=2&agent=1&b=%27x%27");
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, &reordered, &params), "ahVe6TGRlzAJcTRHYD6imtiQS00=");
        let unicode = pairs(&[("Body", "ñandú 👍"), ("From", "whatsapp:+34600000001")]);
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, HOOK, &unicode), "00eOzECLfTuqENFrG4ulp1rp1ps=");
        let [without, with] = signed_url_forms("https://connector.example.com:8443/twilio");
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, &with, &pairs(&[("Body", "hi")])), "DWm/iX4Eyoz8n1MPPaTIEEN7Gds=");
        assert_eq!(twilio_signature(FakeTwilio::AUTH_TOKEN, &without, &pairs(&[("Body", "hi")])), "uoEl+0xbvUf142GZGrBo+YUfWRg=");
    }

    #[test]
    fn signed_url_forms_add_or_remove_the_port() {
        assert_eq!(signed_url_forms("https://h/x?a=1"), ["https://h/x?a=1", "https://h:443/x?a=1"]);
        assert_eq!(signed_url_forms("http://h"), ["http://h", "http://h:80"]);
        assert_eq!(signed_url_forms("https://h:8443/x"), ["https://h/x", "https://h:8443/x"]);
        assert_eq!(signed_url_forms("https://u:p@h:8443/x"), ["https://u:p@h/x", "https://u:p@h:8443/x"]);
        assert_eq!(signed_url_forms("https://[::1]:8443/x"), ["https://[::1]/x", "https://[::1]:8443/x"]);
    }

    #[test]
    fn sms_inbound_form_has_twilios_fields_and_no_whatsapp_fields() {
        let form = inbound_form("+34600000001", "+15550001111", "hola", "SM123");
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("AccountSid"), Some(FakeTwilio::ACCOUNT_SID));
        assert_eq!(get("MessageSid"), Some("SM123"));
        assert_eq!(get("SmsSid"), Some("SM123"));
        assert_eq!(get("SmsMessageSid"), Some("SM123"));
        assert_eq!(get("From"), Some("+34600000001"));
        assert_eq!(get("To"), Some("+15550001111"));
        assert_eq!(get("Body"), Some("hola"));
        assert_eq!(get("NumMedia"), Some("0"));
        assert_eq!(get("NumSegments"), Some("1"));
        assert_eq!(get("SmsStatus"), Some("received"));
        assert_eq!(get("ApiVersion"), Some("2010-04-01"));
        assert_eq!(get("WaId"), None);
        assert_eq!(get("ProfileName"), None);
    }

    #[test]
    fn whatsapp_inbound_form_carries_profile_name_and_wa_id() {
        let form = inbound_form("whatsapp:+34600000001", "whatsapp:+15550001111", "hola", "SM9");
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("ProfileName"), Some("Ana"));
        assert_eq!(get("WaId"), Some("34600000001"));
        assert_eq!(get("From"), Some("whatsapp:+34600000001"));
        assert_eq!(get("To"), Some("whatsapp:+15550001111"));
        assert_eq!(get("FromCountry"), None);
    }

    #[test]
    fn encoded_form_round_trips_with_plus_signs_and_spaces() {
        let params = pairs(&[("From", "+34 600"), ("Body", "a&b=c ñ"), ("MediaUrl", "x"), ("MediaUrl", "y")]);
        let encoded = encode_form(&params);
        assert!(encoded.contains("From=%2B34+600"), "{encoded}");
        let decoded: Vec<(String, String)> = serde_urlencoded::from_str(&encoded).unwrap();
        assert_eq!(decoded, params);
    }
}
