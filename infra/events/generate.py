#!/usr/bin/env python3
"""Writes the Twilio sample events in this folder: API Gateway HTTP API (payload 2.0) requests
for POST /twilio, signed the way Twilio signs webhooks. Python 3 standard library only; the
output is deterministic, so running it again changes nothing unless this script changed.

    python3 infra/events/generate.py        # rewrites twilio-*.json next to this script

Signature (https://www.twilio.com/docs/usage/security#validating-requests): the full public URL,
then every POST parameter as name immediately followed by value, sorted by name; HMAC-SHA1 of
that string keyed with the account's auth token; base64. The function must run with
TWILIO_AUTH_TOKEN=AUTH_TOKEN and TWILIO_WEBHOOK_URL=WEBHOOK_URL (below) to accept them.
"""

import base64
import hashlib
import hmac
import json
import pathlib
import urllib.parse

AUTH_TOKEN = "test-twilio-auth-token"
WEBHOOK_URL = "https://connector.example.com/twilio"
ACCOUNT_SID = "AC00000000000000000000000000000000"  # the fake Twilio's account (tests/src/twilio.rs)
HOST = urllib.parse.urlsplit(WEBHOOK_URL).hostname
HERE = pathlib.Path(__file__).resolve().parent


def signature(token, url, params):
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def sms_params(sid, sender, to, body):
    return [
        ("ToCountry", "US"), ("ToState", "ME"), ("SmsMessageSid", sid), ("NumMedia", "0"),
        ("ToCity", "PORTLAND"), ("FromZip", ""), ("SmsSid", sid), ("FromState", ""),
        ("SmsStatus", "received"), ("FromCity", ""), ("Body", body), ("FromCountry", "ES"),
        ("To", to), ("ToZip", "04101"), ("NumSegments", "1"), ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID), ("From", sender), ("ApiVersion", "2010-04-01"),
    ]


def whatsapp_params(sid, sender, to, body):
    wa_id = "".join(c for c in sender if c.isdigit())
    return [
        ("SmsMessageSid", sid), ("NumMedia", "0"), ("ProfileName", "Ana"), ("MessageType", "text"),
        ("SmsSid", sid), ("WaId", wa_id), ("SmsStatus", "received"), ("Body", body), ("To", to),
        ("NumSegments", "1"), ("ReferralNumMedia", "0"), ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID), ("From", sender), ("ApiVersion", "2010-04-01"),
    ]


def event(params, sig, request_id, epoch_ms):
    body = urllib.parse.urlencode(params).encode()
    return {
        "version": "2.0",
        "routeKey": "POST /twilio",
        "rawPath": "/twilio",
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "cache-control": "max-age=259200",
            "content-length": str(len(body)),
            "content-type": "application/x-www-form-urlencoded",
            "host": HOST,
            "i-twilio-idempotency-token": request_id,
            "user-agent": "TwilioProxy/1.1",
            "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
            "x-forwarded-for": "54.172.60.0",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            "x-home-region": "us1",
            "x-twilio-signature": sig,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": HOST,
            "domainPrefix": HOST.split(".")[0],
            "http": {
                "method": "POST",
                "path": "/twilio",
                "protocol": "HTTP/1.1",
                "sourceIp": "54.172.60.0",
                "userAgent": "TwilioProxy/1.1",
            },
            "requestId": request_id,
            "routeKey": "POST /twilio",
            "stage": "$default",
            "time": "22/Nov/2026:08:00:00 +0000",
            "timeEpoch": epoch_ms,
        },
        # API Gateway base64-encodes form posts; lambda_http decodes them.
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def main():
    epoch = 1795334400000  # 2026-11-22T08:00:00Z, fixed so the output is deterministic
    sms = sms_params("SM11111111111111111111111111111111", "+34600111222", "+12078200470", "hello")
    wa = whatsapp_params(
        "SM22222222222222222222222222222222", "whatsapp:+34600111222", "whatsapp:+14155238886", "hello from WhatsApp"
    )
    forged = sms_params("SM33333333333333333333333333333333", "+34600111222", "+12078200470", "hello")
    good = signature(AUTH_TOKEN, WEBHOOK_URL, forged)
    wrong = signature("not-the-auth-token", WEBHOOK_URL, forged)
    assert wrong != good
    events = {
        "twilio-sms.json": event(sms, signature(AUTH_TOKEN, WEBHOOK_URL, sms), "req-sms-0001", epoch),
        "twilio-whatsapp.json": event(wa, signature(AUTH_TOKEN, WEBHOOK_URL, wa), "req-whatsapp-0001", epoch + 1000),
        "twilio-forged.json": event(forged, wrong, "req-forged-0001", epoch + 2000),
    }
    for name, data in events.items():
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
