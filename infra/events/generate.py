#!/usr/bin/env python3
"""Writes the sample events in this folder: API Gateway HTTP API (payload 2.0) requests for
POST /twilio (signed the way Twilio signs webhooks), POST /smooch (with Smooch's X-API-Key),
GET|POST /messenger (Meta's verification and X-Hub-Signature-256) and GET /hyperchat/files/...
(a link to an agent's file, signed as the HyperChat function signs them), and an SQS FIFO event
of the Twilio function's queue (an SMS its webhook enqueued). Python 3 standard library
only; the output is deterministic, so running it again changes nothing unless this script
changed.

    python3 infra/events/generate.py        # rewrites the *.json next to this script

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
ACCOUNT_SID = "AC00000000000000000000000000000000"  # the fake Twilio's account (shared/fakes/src/twilio.rs)
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
    headers = {
        "cache-control": "max-age=259200",
        "content-type": "application/x-www-form-urlencoded",
        "i-twilio-idempotency-token": request_id,
        "user-agent": "TwilioProxy/1.1",
        "x-home-region": "us1",
        "x-twilio-signature": sig,
    }
    # API Gateway base64-encodes form posts; lambda_http decodes them.
    return request("POST", "/twilio", headers, body, request_id, epoch_ms, base64_body=True)


def request(method, path, headers, body, request_id, epoch_ms, query="", base64_body=False, route=None):
    """An HTTP API payload 2.0 request as API Gateway hands it to the function."""
    user_agent = headers.get("user-agent", "curl/8")
    route_key = f"{method} {route or path}"
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        **({"queryStringParameters": dict(urllib.parse.parse_qsl(query))} if query else {}),
        "headers": {
            "accept": "*/*",
            **({"content-length": str(len(body))} if body else {}),
            "host": HOST,
            "x-amzn-trace-id": "Root=1-00000000-000000000000000000000000",
            "x-forwarded-for": "54.172.60.0",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **headers,
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": HOST,
            "domainPrefix": HOST.split(".")[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "54.172.60.0",
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "22/Nov/2026:08:00:00 +0000",
            "timeEpoch": epoch_ms,
        },
        **({"body": base64.b64encode(body).decode() if base64_body else body.decode()} if body else {}),
        "isBase64Encoded": base64_body,
    }


SMOOCH_WEBHOOK_SECRET = "test-smooch-webhook-secret"  # shared/fakes/src/smooch.rs WEBHOOK_SECRET
SMOOCH_APP_ID = "5698edbf2a43bd081be982f1"  # the fake Smooch's app


def smooch_event(key, message_id, text, request_id, epoch_ms):
    body = {
        "app": {"id": SMOOCH_APP_ID},
        "webhook": {"id": "5e6f00000000000000000001", "version": "v2"},
        "events": [{
            "id": "ev-" + message_id,
            "createdAt": "2026-11-22T08:00:00.000Z",
            "type": "conversation:message",
            "payload": {
                "conversation": {"id": "conv-ana", "type": "personal"},
                "message": {
                    "id": message_id,
                    "received": "2026-11-22T08:00:00.000Z",
                    "author": {"type": "user", "userId": "user-ana", "displayName": "Ana"},
                    "content": {"type": "text", "text": text},
                    "source": {"type": "messenger", "integrationId": "5e7a00000000000000000002"},
                },
            },
        }],
    }
    headers = {"content-type": "application/json", "user-agent": "Smooch", "x-api-key": key}
    return request("POST", "/smooch", headers, json.dumps(body, separators=(",", ":")).encode(), request_id, epoch_ms)


MESSENGER_APP_SECRET = "test_app_secret"  # shared/fakes/src/graph.rs APP_SECRET
MESSENGER_VERIFY_TOKEN = "test-verify-token"  # shared/fakes/src/graph.rs VERIFY_TOKEN
MESSENGER_PAGE_ID = "106000000000001"


def messenger_event(secret, mid, text, request_id, epoch_ms):
    body = json.dumps({
        "object": "page",
        "entry": [{"id": MESSENGER_PAGE_ID, "time": epoch_ms, "messaging": [{
            "sender": {"id": "6000000000000001"},
            "recipient": {"id": MESSENGER_PAGE_ID},
            "timestamp": epoch_ms,
            "message": {"mid": mid, "text": text},
        }]}],
    }, separators=(",", ":")).encode()  # ensure_ascii: Meta escapes non-ASCII as \uXXXX too
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"content-type": "application/json", "user-agent": "facebookexternalua", "x-hub-signature-256": "sha256=" + digest}
    return request("POST", "/messenger", headers, body, request_id, epoch_ms)


def messenger_verification(token, request_id, epoch_ms):
    query = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": token})
    return request("GET", "/messenger", {"user-agent": "facebookplatform/1.0"}, b"", request_id, epoch_ms, query=query)


HYPERCHAT_SECRET = "test-hyperchat-secret"  # shared/fakes/src/hyperchat.rs FakeHyperChat::SECRET


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def file_link_token(app_secret, path, media_type, name, expires):
    """The token of a link to an agent's file (shared/channels/hyperchat/src/files.rs): the file
    as JSON, base64url, then a dot and the base64url HMAC-SHA256 of that text, keyed with
    HMAC-SHA256(app secret, "inbenta-connector agent file links v1")."""
    key = hmac.new(app_secret.encode(), b"inbenta-connector agent file links v1", hashlib.sha256).digest()
    payload = b64url(json.dumps({"p": path, "t": media_type, "n": name, "e": expires}, separators=(",", ":")).encode())
    return payload + "." + b64url(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def file_link_request(app_secret, request_id, epoch_ms):
    token = file_link_token(app_secret, "/media/F1", "image/png", "check.png", 4102444800)  # expires in 2100
    headers = {"user-agent": "TwilioProxy/1.1"}
    return request("GET", f"/hyperchat/files/{token}/check.png", headers, b"", request_id, epoch_ms, route="/hyperchat/files/{link+}")


def digest(text):
    """32 hex digits of SHA-256, as shared/core/src/queue.rs names FIFO groups and dedupe ids."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sqs_twilio_event(sid, sender, to, text, epoch_ms):
    """The SQS FIFO event the Twilio function receives from its queue for an SMS its webhook
    enqueued: one record whose body is the `connector_core::Event` as JSON, grouped by its
    conversation and deduplicated by its group and id (shared/core/src/queue.rs `Job::of`). The record's
    shape is AWS's documented sample for a FIFO queue."""
    key = f"twilio-{to}-{sender}".replace(":+", "").replace("+", "")
    event_id = f"twilio#{sid}"
    body = {
        "id": event_id,
        "route": {"conversation": key},
        "address": {"channel": "twilio", "to": {"company": to, "user": sender}},
        "input": {"user": {"text": text}},
    }
    return {
        "Records": [{
            "messageId": "0f9e2b1c-5d4a-4c3b-9a8f-7e6d5c4b3a21",
            "receiptHandle": "AQEBtwilio-sqs-sample-receipt-handle==",
            "body": json.dumps(body, separators=(",", ":")),
            "attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": str(epoch_ms),
                "SequenceNumber": "18890000000000000001",
                "MessageGroupId": digest(f"conv#{key}"),
                "SenderId": "AROAEXAMPLE:twilio",
                "MessageDeduplicationId": digest(digest(f"conv#{key}") + "#" + event_id),
                "ApproximateFirstReceiveTimestamp": str(epoch_ms + 20),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(json.dumps(body, separators=(",", ":")).encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:connector-twilio.fifo",
            "awsRegion": "us-east-1",
        }]
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
        "smooch-message.json": smooch_event(SMOOCH_WEBHOOK_SECRET, "m-smooch-0001", "hello from Smooch", "req-smooch-0001", epoch + 3000),
        "smooch-forged.json": smooch_event("not-the-webhook-secret", "m-smooch-0002", "hello", "req-smooch-0002", epoch + 4000),
        "messenger-verify.json": messenger_verification(MESSENGER_VERIFY_TOKEN, "req-messenger-0001", epoch + 5000),
        "messenger-message.json": messenger_event(MESSENGER_APP_SECRET, "m_messenger_0001", "hello from Messenger", "req-messenger-0002", epoch + 6000),
        "messenger-forged.json": messenger_event("not-the-app-secret", "m_messenger_0002", "hello", "req-messenger-0003", epoch + 7000),
        "hyperchat-file-link.json": file_link_request(HYPERCHAT_SECRET, "req-hyperchat-0001", epoch + 8000),
        "hyperchat-forged-link.json": file_link_request("not-the-app-secret", "req-hyperchat-0002", epoch + 9000),
        "sqs-twilio.json": sqs_twilio_event("SM44444444444444444444444444444444", "+34600111333", "+12078200470", "hello", epoch + 10000),
    }
    for name, data in events.items():
        (HERE / name).write_text(json.dumps(data, indent=2) + "\n")
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
