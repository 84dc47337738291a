"""Cold-start proxy: time from starting a Lambda function binary to its first
`GET /2018-06-01/runtime/invocation/next` (the moment it is ready to serve), against a minimal
stand-in for the Lambda Runtime API on loopback. Python standard library only.

Usage: python3 infra/cold-start.py path/to/binary [runs] [--event FILE] [KEY=VALUE ...]
Prints min / median / max over the runs (default 20), and the process's peak RSS.

With --event (one of infra/events/*.json), the first poll is answered with that event and the
script also times the first message: from handing the event over to the function's response,
in a fresh process each run, so with an empty token cache (Inbenta authorisation included).
Point the function at fakes with KEY=VALUE, e.g. the lines fake-upstreams prints
(infra/lambda-check.sh shows how to start it); the events are signed for the Twilio token and
URL set here.
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

EVENT = {"body": None}


class Run:
    """What one run's Runtime API saw; each run has its own, so that a killed run's last poll
    cannot take the next run's event."""

    def __init__(self):
        self.ready = threading.Event()
        self.answered = threading.Event()
        self.lock = threading.Lock()
        self.handed_over = 0.0
        self.answered_at = 0.0
        self.status = None


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        run = self.server.run
        if self.path.endswith("/runtime/invocation/next"):
            with run.lock:
                first = not run.ready.is_set()
                run.ready.set()
            if first and EVENT["body"] is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-request")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 15000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:cold-start-probe")
                self.send_header("Content-Length", str(len(EVENT["body"])))
                self.end_headers()
                run.handed_over = time.perf_counter()
                self.wfile.write(EVENT["body"])
                return
            time.sleep(2)  # hold the long poll; the process is killed meanwhile
        self.send_response(404)
        self.end_headers()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        run = self.server.run
        if self.path.endswith("/response") or self.path.endswith("/error"):
            run.answered_at = time.perf_counter()
            try:
                run.status = json.loads(body).get("statusCode")
            except ValueError:
                run.status = "error"
            run.answered.set()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def peak_rss_mib(pid):
    """VmHWM, the process's peak resident set since its exec (the fork's Python pages, which
    getrusage would count, are not the function's)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    args = sys.argv[1:]
    if "--event" in args:
        at = args.index("--event")
        with open(args[at + 1], "rb") as file:
            EVENT["body"] = file.read()
        del args[at : at + 2]
    binary = args[0]
    runs = int(args[1]) if len(args) > 1 and "=" not in args[1] else 20
    extra = dict(arg.split("=", 1) for arg in args[1:] if "=" in arg)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env.update({
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
        "TWILIO_AUTH_TOKEN": "test-twilio-auth-token",  # infra/events are signed with it
        "TWILIO_WEBHOOK_URL": "https://connector.example.com/twilio",
    })
    env.update(extra)
    times, firsts, statuses, peaks = [], [], set(), []
    for _ in range(runs):
        run = Run()
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        server.run = run
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{server.server_address[1]}"
        started = time.perf_counter()
        logs = None if os.environ.get("COLD_START_LOGS") else subprocess.DEVNULL  # COLD_START_LOGS=1 shows them
        process = subprocess.Popen([binary], env=env, stdout=logs, stderr=logs)
        if not run.ready.wait(10):
            process.kill()
            sys.exit(f"{binary} did not reach invocation/next within 10 s (exit code {process.poll()})")
        times.append((time.perf_counter() - started) * 1000)
        if EVENT["body"] is not None:
            if not run.answered.wait(20):
                process.kill()
                sys.exit(f"{binary} did not answer the event within 20 s")
            firsts.append((run.answered_at - run.handed_over) * 1000)
            statuses.add(run.status)
        peaks.append(peak_rss_mib(process.pid))
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
    summary = lambda values: f"min {min(values):.1f} ms, median {statistics.median(values):.1f} ms, max {max(values):.1f} ms"
    print(f"start to ready over {runs} runs: {summary(times)}")
    print(f"peak RSS{' (after the first event)' if firsts else ''}: median {statistics.median(peaks):.1f} MiB, max {max(peaks):.1f} MiB")
    if firsts:
        print(f"first event to response (empty caches) over {runs} runs: {summary(firsts)}; statusCode {sorted(map(str, statuses))}")


if __name__ == "__main__":
    main()
