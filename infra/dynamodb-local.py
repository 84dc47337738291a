"""A DynamoDB-API server for tests and local runs: moto's server app, one request at a time.

`moto_server` runs every request on its own thread and its backend has no per-item lock, so two
concurrent conditional writes can both pass their condition (seen with 20 concurrent UpdateItem
calls on one item). DynamoDB itself applies conditional writes to one item atomically. Serialising
requests restores that guarantee; connections are still accepted on threads, so HTTP keep-alive
clients do not block each other.

Usage: python3 infra/dynamodb-local.py [--host 127.0.0.1] [--port 8000]

Any Python 3 runs it: without moto it creates the repository's `.venv` (or `$VENV`), installs
moto there from PyPI once (about a minute), and runs itself with that venv's Python.
Then, in another terminal:
  TABLE_NAME=connector AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:8000 cargo run -p connector-local
(the table is created if absent; no AWS account, region or credentials are needed).
"""

import argparse
import os
import subprocess
import sys
import threading

# The same moto as scripts/test.sh installs.
MOTO = "moto[server]>=5,<6"


def venv_python():
    """Python of the repository's venv, with moto installed into it if missing."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    venv = os.environ.get("VENV") or os.path.join(root, ".venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {venv}, once", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    check = [python, "-c", "import moto.moto_server.werkzeug_app"]
    if subprocess.run(check, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        print(f"installing moto (the local DynamoDB-API server) into {venv}, once: about a minute", file=sys.stderr)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", MOTO]
        subprocess.run(pip, check=True)
    return python


try:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple
except ImportError:
    if os.environ.get("DYNAMODB_LOCAL_REEXEC"):
        raise
    python = venv_python()
    os.environ["DYNAMODB_LOCAL_REEXEC"] = "1"
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


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
    print(f"DynamoDB API on http://{args.host}:{args.port} (AWS_ENDPOINT_URL_DYNAMODB); Ctrl-C stops it", file=sys.stderr)
    run_simple(args.host, args.port, serialised(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
