"""A DynamoDB-API server for tests and local runs: moto's server app, one request at a time.

`moto_server` runs every request on its own thread and its backend has no per-item lock, so two
concurrent conditional writes can both pass their condition (seen with 20 concurrent UpdateItem
calls on one item). DynamoDB itself applies conditional writes to one item atomically. Serialising
requests restores that guarantee; connections are still accepted on threads, so HTTP keep-alive
clients do not block each other.

Usage: python infra/dynamodb-local.py [--host 127.0.0.1] [--port 8000]
"""

import argparse
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def serialised(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Materialise the body inside the lock: WSGI apps may produce it lazily.
            return list(app(environ, start_response))

    return handle


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
