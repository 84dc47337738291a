#!/usr/bin/env python3
"""Extracts the parts of the providers' OpenAPI specs that the tests' fakes validate against.

Usage (each argument a git repository: a clone of the GitHub repository named):

    python3 shared/fakes/specs/extract.py TWILIO_OAI_REPO SUNSHINE_SPEC_REPO

    TWILIO_OAI_REPO     twilio/twilio-oai                      (spec/json/*.json)
    SUNSHINE_SPEC_REPO  zendesk/sunshine-conversations-api-spec (openapi.yaml; needs PyYAML)

It reads each spec at the repository's HEAD (`git show HEAD:<path>`) and writes, beside this
script:

    twilio_messages_create.json  CreateMessage's form body (POST .../Messages.json)
    twilio_content_create.json   ContentCreateRequest (POST /v1/Content)
    sunshine_v2.json             messagePost, activityPost and the webhook body with the events
                                 the connector receives

Each file is one JSON object: `x-vendored` (where it comes from: repository, path, commit, its
date, the spec's info.version, what was taken and any change made), `entries` (name -> the schema
of one request or webhook body), `components.schemas` (every schema the entries reference, as the
spec has it, so `$ref: '#/components/schemas/X'` resolves inside the file) and, for Sunshine,
`examples` (the spec's own examples of the vendored webhook events). `example`/`examples` keys
inside schemas are dropped (documentation only); everything else is the spec's text unchanged,
except where `x-vendored.changes` says. The conversion of OpenAPI 3.0 to JSON Schema (`nullable`,
`discriminator`) happens when the tests load the files (shared/fakes/src/specs.rs), so these stay
comparable with the upstream spec.
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REF_PREFIX = "#/components/schemas/"

# The webhook events the connector receives (or the tests' builders send), by `type`. The spec's
# webhook body lists its events as an `anyOf` of schemas, each titled with its event type.
SUNSHINE_EVENTS = [
    "conversation:message",
    "conversation:postback",
    "conversation:message:delivery:failure",
    "conversation:read",
    "switchboard:releaseControl",
]


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def source(repo, github, path, info):
    commit, date = git(repo, "log", "-1", "--format=%H %cs").split()
    return {
        "repository": github,
        "path": path,
        "commit": commit,
        "commit_date": date,
        "info_version": info.get("version"),
        "extracted_by": "shared/fakes/specs/extract.py",
    }


def strip_examples(node):
    """The schema without `example`/`examples` (documentation the validator ignores)."""
    if isinstance(node, dict):
        return {k: strip_examples(v) for k, v in node.items() if k not in ("example", "examples")}
    if isinstance(node, list):
        return [strip_examples(v) for v in node]
    return node


def refs(node):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            yield ref[len(REF_PREFIX):]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def closure(schemas, roots):
    """Every components schema the `roots` reference, directly or not, in the spec's order."""
    seen, todo = set(), [name for root in roots for name in refs(root)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in schemas:
            sys.exit(f"unresolved $ref {REF_PREFIX}{name}")
        seen.add(name)
        todo.extend(refs(schemas[name]))
    return {name: strip_examples(schema) for name, schema in schemas.items() if name in seen}


def write(name, document):
    path = HERE / name
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path.relative_to(HERE.parent.parent)} ({path.stat().st_size} bytes)")


def twilio(repo):
    path = "spec/json/twilio_api_v2010.json"
    spec = json.loads(git(repo, "show", f"HEAD:{path}"))
    operation = spec["paths"]["/2010-04-01/Accounts/{AccountSid}/Messages.json"]["post"]
    assert operation["operationId"] == "CreateMessage"
    body = strip_examples(operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"])
    write(
        "twilio_messages_create.json",
        {
            "x-vendored": {
                **source(repo, "twilio/twilio-oai", path, spec["info"]),
                "taken": "operation CreateMessage (POST /2010-04-01/Accounts/{AccountSid}/Messages.json): its "
                "application/x-www-form-urlencoded request body schema (entries.CreateMessage) and the schemas it references",
                "changes": [],
            },
            "entries": {"CreateMessage": body},
            "components": {"schemas": closure(spec["components"]["schemas"], [body])},
        },
    )

    path = "spec/json/twilio_content_v1.json"
    spec = json.loads(git(repo, "show", f"HEAD:{path}"))
    operation = spec["paths"]["/v1/Content"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    write(
        "twilio_content_create.json",
        {
            "x-vendored": {
                **source(repo, "twilio/twilio-oai", path, spec["info"]),
                "taken": "operation " + operation.get("operationId", "CreateContent") + " (POST /v1/Content): its application/json "
                "request body (ContentCreateRequest, entries.ContentCreateRequest) and the schemas it references "
                "(types and every content type)",
                "changes": [],
            },
            "entries": {"ContentCreateRequest": body},
            "components": {"schemas": closure(spec["components"]["schemas"], [body])},
        },
    )


def sunshine(repo):
    import yaml  # PyYAML

    path = "openapi.yaml"
    spec = yaml.safe_load(git(repo, "show", f"HEAD:{path}"))
    schemas = spec["components"]["schemas"]
    webhook = spec["x-webhooks"]["Webhook Event"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    by_title = {}
    for alternative in webhook["properties"]["events"]["items"]["anyOf"]:
        name = alternative["$ref"][len(REF_PREFIX):]
        by_title[schemas[name]["title"]] = alternative["$ref"]
    missing = [event for event in SUNSHINE_EVENTS if event not in by_title]
    if missing:
        sys.exit(f"the webhook body lists no event titled {missing}")
    events = {
        **webhook["properties"]["events"],
        "items": {
            "anyOf": [{"$ref": by_title[event]} for event in SUNSHINE_EVENTS],
            "discriminator": {"propertyName": "type", "mapping": {event: by_title[event] for event in SUNSHINE_EVENTS}},
        },
    }
    webhook = strip_examples({**webhook, "properties": {**webhook["properties"], "events": events}})
    entries = {
        "messagePost": {"$ref": REF_PREFIX + "messagePost"},
        "activityPost": {"$ref": REF_PREFIX + "activityPost"},
        "webhook": webhook,
    }
    post_messages = spec["paths"]["/v2/apps/{appId}/conversations/{conversationId}/messages"]["post"]
    post_activity = spec["paths"]["/v2/apps/{appId}/conversations/{conversationId}/activity"]["post"]
    examples = spec["components"]["examples"]
    # The webhook body's own examples, by event type: `$ref: '#/components/examples/<name>'`.
    listed = spec["x-webhooks"]["Webhook Event"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    example_names = {event: listed[event]["$ref"].rsplit("/", 1)[1] for event in SUNSHINE_EVENTS if event in listed}
    write(
        "sunshine_v2.json",
        {
            "x-vendored": {
                **source(repo, "zendesk/sunshine-conversations-api-spec", path, spec["info"]),
                "taken": f"the request bodies of {post_messages['operationId']} (messagePost) and {post_activity['operationId']} "
                "(activityPost); the webhook body of x-webhooks 'Webhook Event' (entries.webhook) with the events "
                f"{', '.join(SUNSHINE_EVENTS)}; the schemas they reference; the spec's examples of those events",
                "changes": [
                    "entries.webhook: events.items lists only the events above, and gets a discriminator on `type` mapping each "
                    "event type to its schema (the spec gives each event schema its type as `title` and no discriminator, "
                    "so an `anyOf` alone would take an event that fits another event's schema)"
                ],
            },
            "entries": entries,
            "components": {"schemas": closure(schemas, list(entries.values()))},
            "examples": {event: examples[name]["value"] for event, name in example_names.items() if name in examples},
        },
    )


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    twilio(Path(sys.argv[1]))
    sunshine(Path(sys.argv[2]))


if __name__ == "__main__":
    main()
