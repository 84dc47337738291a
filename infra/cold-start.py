"""Cold-start proxy: time from starting a Lambda function binary to its first
`GET /2018-06-01/runtime/invocation/next` (the moment it is ready to serve), against a minimal
stand-in for the Lambda Runtime API on loopback. Python standard library only.

Usage: python3 infra/cold-start.py path/to/binary [runs] [KEY=VALUE ...]
Prints min / median / max over the runs (default 20).
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

ready = threading.Event()


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            ready.set()
            time.sleep(2)  # hold the long poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    extra = dict(arg.split("=", 1) for arg in sys.argv[3:])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "cold-start-probe",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_STREAM_NAME": "probe",
        "AWS_LAMBDA_LOG_GROUP_NAME": "probe",
        "AWS_REGION": "us-east-1",
        "CONF_DIR": os.path.join(root, "conf"),
        "LANG_DIR": os.path.join(root, "lang"),
        "INBENTA_API_KEY": "probe-key",
        "INBENTA_API_SECRET": "probe-secret",
        "TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000",
        "TWILIO_AUTH_TOKEN": "probe-token",
        "TWILIO_WEBHOOK_URL": "https://connector.example.com/twilio",
    })
    env.update(extra)
    times = []
    for _ in range(runs):
        ready.clear()
        started = time.perf_counter()
        process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not ready.wait(10):
            process.kill()
            sys.exit(f"{binary} did not reach invocation/next within 10 s (exit code {process.poll()})")
        times.append((time.perf_counter() - started) * 1000)
        process.kill()
        process.wait()
    print(f"start to ready over {runs} runs: min {min(times):.1f} ms, median {statistics.median(times):.1f} ms, max {max(times):.1f} ms")


if __name__ == "__main__":
    main()
