#!/usr/bin/env python3
"""Writes the --env-vars file of `sam local invoke` and `sam local start-api` (JSON on stdout).

Every function of template.yaml gets what it needs to run on this machine: no Secrets Manager
(SECRETS_ID empty: the secrets come from this file), no queue (QUEUE_URL empty: each request's
events are processed before it is answered), the fakes of
`cargo run -p connector-fakes --bin fake-upstreams` (or your real Inbenta), and the Twilio token
and URL the sample events of infra/events/ are signed for. The store is in memory unless
--dynamodb names a local DynamoDB. SAM sets only variables the template
declares, so only those are written (the others are named on stderr).

    # The fakes serve until their stdin closes: give them one that stays open (a background
    # job reading the terminal would be stopped), and wait for their last line.
    sleep infinity | cargo run -p connector-fakes --bin fake-upstreams > fakes.env &
    until grep -q '^HYPERCHAT_SECRET=' fakes.env 2>/dev/null; do sleep 1; done
    python3 infra/sam-local/env.py --fakes fakes.env > env.json   # --dynamodb URL: a local table
    sam build --parameter-overrides Architecture=x86_64   # on an x86 machine
    sam local invoke TwilioFunction -e infra/events/twilio-sms.json --env-vars env.json \\
        --docker-network host --parameter-overrides DeployTwilio=yes Architecture=x86_64

`--docker-network host` lets the container reach the fakes and DynamoDB on 127.0.0.1 (Linux);
elsewhere give --host with an address the container reaches (e.g. host.docker.internal) and
start the servers on it. Without --fakes, INBENTA_API_KEY, INBENTA_API_SECRET (and
INBENTA_AUTH_URL) are taken from your environment: your real chatbot.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The values infra/events/ are signed for (infra/events/generate.py).
EVENTS_TWILIO_TOKEN = "test-twilio-auth-token"
EVENTS_TWILIO_URL = "https://connector.example.com/twilio"
EVENTS_HYPERCHAT_URL = "https://connector.example.com/hyperchat"


def declared(template: str):
    """The functions of the template and the variables each may be given (its own and Globals')."""
    functions, variables, globals_ = {}, {}, set()
    section, current, in_vars, vars_indent = None, None, False, 0
    for line in template.splitlines():
        if re.match(r"^\S", line):
            section = line.split(":")[0]
            current, in_vars = ("Globals" if section == "Globals" else None), False
            continue
        resource = re.match(r"^  (\w+):\s*$", line)
        if resource and section == "Resources":
            current, in_vars = resource.group(1), False
            continue
        if re.match(r"^\s+Type: AWS::Serverless::Function\s*$", line) and current:
            functions[current] = True
        if re.match(r"^\s+Variables:\s*$", line):
            in_vars, vars_indent = True, len(line) - len(line.lstrip()) + 2
            continue
        if in_vars:
            indent = len(line) - len(line.lstrip())
            if line.strip() and indent < vars_indent:
                in_vars = False
                continue
            name = re.match(r"^\s+([A-Z][A-Z0-9_]*):", line)
            if name and indent == vars_indent:
                (globals_ if current == "Globals" else variables.setdefault(current, set())).add(name.group(1))
    return sorted(functions), {f: variables.get(f, set()) | globals_ for f in functions}


def read_env_file(path: str):
    values = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    if "INBENTA_AUTH_URL" not in values or "HYPERCHAT_SECRET" not in values:
        sys.exit(f"{path} is not fake-upstreams' whole output (no INBENTA_AUTH_URL or HYPERCHAT_SECRET): "
                 "wait until it prints HYPERCHAT_SECRET")
    return values


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fakes", help="the KEY=VALUE output of fake-upstreams")
    parser.add_argument(
        "--dynamodb",
        help="a local DynamoDB's URL (table connector-local, which `TABLE_NAME=connector-local "
        "AWS_ENDPOINT_URL_DYNAMODB=<url> cargo run -p connector-local` creates); default: the in-memory store",
    )
    parser.add_argument("--host", help="an address the container reaches instead of 127.0.0.1")
    parser.add_argument("--template", default=str(ROOT / "template.yaml"))
    args = parser.parse_args()

    functions, allowed = declared(Path(args.template).read_text())
    wanted = {
        "SECRETS_ID": "",
        "TABLE_NAME": "connector-local" if args.dynamodb else "",
        "AWS_ENDPOINT_URL_DYNAMODB": args.dynamodb or "",
        "QUEUE_URL": "",
        "DEAD_LETTER_QUEUE_URL": "",
        "TWILIO_QUEUE_URL": "",
        "SMOOCH_QUEUE_URL": "",
        "MESSENGER_QUEUE_URL": "",
        "TWILIO_AUTH_TOKEN": EVENTS_TWILIO_TOKEN,
        "TWILIO_WEBHOOK_URL": EVENTS_TWILIO_URL,
        "HYPERCHAT_WEBHOOK_URL": EVENTS_HYPERCHAT_URL,
    }
    if args.fakes:
        wanted.update(read_env_file(args.fakes))
    else:
        wanted.update({k: os.environ[k] for k in ("INBENTA_API_KEY", "INBENTA_API_SECRET", "INBENTA_AUTH_URL") if os.environ.get(k)})
    if args.host:
        wanted = {k: v.replace("127.0.0.1", args.host) for k, v in wanted.items()}

    out, dropped = {}, set()
    for function in functions:
        out[function] = {k: v for k, v in wanted.items() if k in allowed[function]}
        dropped |= {k for k in wanted if k not in allowed[function]}
    never = sorted(k for k in dropped if all(k not in allowed[f] for f in functions))
    if never:
        print(f"not declared in template.yaml, so not settable by sam local: {', '.join(never)}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
