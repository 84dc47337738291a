//! The product's Twilio signature verifier against the fakes' signer (`connector-fakes`
//! `twilio_signing`, written apart from the product's code): the fakes depend on no product
//! crate, so the check that both agree lives here.

use channel_twilio::signature::is_valid;
use connector_tests::twilio::FakeTwilio;
use connector_tests::twilio_signing::{inbound_form, signed_url_forms, twilio_signature};

const HOOK: &str = "https://connector.example.com/twilio";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// The product's verifier and the fakes' signer, written apart, agree: every form of the URL Twilio
/// may sign is accepted, for repeated keys, queries and ports; another port, token, URL or
/// value is not.
#[test]
fn the_products_verifier_takes_exactly_what_this_signer_signs() {
    let token = FakeTwilio::AUTH_TOKEN;
    let param_sets = [
        inbound_form("whatsapp:+34600000001", "whatsapp:+15550001111", "hola ñ", "SM1"),
        pairs(&[("MediaUrl", "b"), ("MediaUrl", "a"), ("MediaUrl", "b"), ("Body", "")]),
        pairs(&[("MessageStatus", "undelivered"), ("ErrorCode", "63016"), ("To", "z"), ("ToCountry", "a")]),
        Vec::new(),
    ];
    for url in [
        HOOK,
        "https://connector.example.com:443/twilio",
        "https://connector.example.com:8443/twilio/status?agent=1&x=%27",
        "http://127.0.0.1:3000/twilio",
    ] {
        for params in &param_sets {
            for form in signed_url_forms(url) {
                let signature = twilio_signature(token, &form, params);
                assert!(is_valid(token.as_bytes(), url, params, &signature), "{url} signed as {form} with {params:?}");
                assert!(!is_valid(b"another-token", url, params, &signature));
                let mut changed = params.clone();
                changed.push(("Extra".into(), "1".into()));
                assert!(!is_valid(token.as_bytes(), url, &changed, &signature));
            }
            let other_port = signed_url_forms(url)[0].replacen("connector.example.com", "connector.example.com:9999", 1).replacen(
                "127.0.0.1",
                "127.0.0.1:9999",
                1,
            );
            assert!(!is_valid(token.as_bytes(), url, params, &twilio_signature(token, &other_port, params)), "{other_port}");
            assert!(!is_valid(token.as_bytes(), &format!("{url}x"), params, &twilio_signature(token, url, params)));
        }
    }
}
