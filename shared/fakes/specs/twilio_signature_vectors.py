#!/usr/bin/env python3
"""Computes the Twilio signature test vectors of shared/channels/twilio/src/signature.rs and
shared/fakes/src/twilio_signing.rs with Twilio's own helper, twilio-python's RequestValidator.

Usage:

    python3 shared/fakes/specs/twilio_signature_vectors.py [PATH/TO/twilio/request_validator.py]

Without an argument it imports `twilio.request_validator` (`pip install twilio`); with one it
loads that file (e.g. from a clone of twilio/twilio-python; the vectors in the Rust tests were
made with the file as of commit b3a5deb, 2022-09-20, unchanged at the repository's HEAD 306691e,
2026-08-11). It only needs the standard library.

What the helper does (and the Rust code must match):
- the signed string is the URL exactly as given (query string included, not re-encoded, not
  sorted), then each POST parameter as name + value, names sorted, and for a repeated name its
  values sorted with identical values once (`sorted(set(values))`); HMAC-SHA1 with the auth
  token, base64;
- `validate` accepts a signature over the URL without its port (any port) or with it (the
  default port, 443 for https and 80 otherwise, added when the URL has none).
"""

import importlib.util
import sys


class MultiDict(dict):
    """A form with repeated keys, as Flask's MultiDict gives it to the helper (`getall`)."""

    def __init__(self, pairs):
        super().__init__()
        self.pairs = list(pairs)
        for key, value in self.pairs:
            self.setdefault(key, value)

    def getall(self, key):
        return [v for k, v in self.pairs if k == key]


def load_validator():
    if len(sys.argv) > 1:
        spec = importlib.util.spec_from_file_location("request_validator", sys.argv[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.RequestValidator
    from twilio.request_validator import RequestValidator

    return RequestValidator


DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = [
    ("CallSid", "CA1234567890ABCDE"),
    ("Caller", "+14158675309"),
    ("Digits", "1234"),
    ("From", "+14158675309"),
    ("To", "+18005551212"),
]
HOOK = "https://connector.example.com/twilio"
TOKEN = "test-twilio-auth-token"

# (name, token, url signed, params)
SIGNED = [
    ("doc", "12345", DOC_URL, DOC_PARAMS),
    ("doc_with_443", "12345", DOC_URL.replace(".com/", ".com:443/"), DOC_PARAMS),
    ("doc_http_with_80", "12345", DOC_URL.replace("https", "http").replace(".com/", ".com:80/"), DOC_PARAMS),
    ("doc_http_with_1234", "12345", DOC_URL.replace("https", "http").replace(".com/", ".com:1234/"), DOC_PARAMS),
    (
        "doc_duplicates",
        "12345",
        DOC_URL,
        [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")],
    ),
    (
        "repeated_media",
        TOKEN,
        HOOK,
        [("MediaUrl", "https://b.example/2"), ("Body", "hi"), ("MediaUrl", "https://a.example/1"), ("MediaUrl", "https://b.example/2")],
    ),
    ("name_before_value", TOKEN, HOOK, [("ToCountry", "US"), ("To", "z"), ("To", "+34600000001")]),
    ("query_kept_as_given", TOKEN, HOOK + "/status?agent=1&b=%27x%27&a=2", [("MessageStatus", "undelivered"), ("ErrorCode", "63016")]),
    ("query_reordered", TOKEN, HOOK + "/status?a=2&agent=1&b=%27x%27", [("MessageStatus", "undelivered"), ("ErrorCode", "63016")]),
    ("utf8", TOKEN, HOOK, [("Body", "ñandú 👍"), ("From", "whatsapp:+34600000001")]),
    ("non_default_port", TOKEN, "https://connector.example.com:8443/twilio", [("Body", "hi")]),
    ("non_default_port_stripped", TOKEN, HOOK, [("Body", "hi")]),
]

# (configured URL, signed-vector name, expected result of validate)
ACCEPTS = [
    (DOC_URL, "doc", True),
    (DOC_URL, "doc_with_443", True),
    (DOC_URL.replace(".com/", ".com:443/"), "doc", True),
    (DOC_URL.replace(".com/", ".com:1234/"), "doc", True),
    (DOC_URL.replace("https", "http"), "doc_http_with_80", True),
    (DOC_URL.replace("https", "http").replace(".com/", ".com:1234/"), "doc_http_with_1234", True),
    (DOC_URL.replace(".com/", ".com:1234/"), "doc_with_443", False),
    ("https://connector.example.com:8443/twilio", "non_default_port", True),
    ("https://connector.example.com:8443/twilio", "non_default_port_stripped", True),
    (HOOK, "non_default_port", False),
    (HOOK + "/status?agent=1&b=%27x%27&a=2", "query_kept_as_given", True),
    (HOOK + "/status?agent=1&b=%27x%27&a=2", "query_reordered", False),
    (HOOK + "/status?agent=1&b='x'&a=2", "query_kept_as_given", False),
]


def main():
    RequestValidator = load_validator()
    computed = {}
    for name, token, url, params in SIGNED:
        signature = RequestValidator(token).compute_signature(url, MultiDict(params))
        computed[name] = (token, signature, params)
        print(f"{name}: token {token!r} url {url!r} params {params!r}\n    -> {signature}")
    print()
    for url, name, expected in ACCEPTS:
        token, signature, params = computed[name]
        valid = RequestValidator(token).validate(url, MultiDict(params), signature)
        assert valid == expected, (url, name, valid)
        print(f"validate({url!r}, {name}) == {valid}")


if __name__ == "__main__":
    main()
