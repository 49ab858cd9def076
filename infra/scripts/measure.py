#!/usr/bin/env python3
"""Measure each release `bootstrap`: size, cold start and peak RSS, against a local runtime API.

Cold start = process spawn -> its first GET /runtime/invocation/next (init done: telemetry,
config, SDK clients). Then one liveness/GET event is served so the RSS includes one request.
Prints a table; numbers only, no pass/fail (targets belong in the notes, not in tests).

Usage: infra/scripts/measure.py [--runs 20] [--function health]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# A request each function answers without touching AWS, so the number is the runtime's own.
PROBE_EVENT = {
    "health": ROOT / "events/health/liveness.json",
    "auth": ROOT / "events/auth/signup-malformed-json.json",
    "users": ROOT / "events/users/me-without-token.json",
    "uploads": ROOT / "events/uploads/list-without-token.json",
    "webhooks": ROOT / "events/webhooks/github-missing-signature.json",
    "docs": ROOT / "events/docs/openapi-disabled.json",
}


class RuntimeApi(BaseHTTPRequestHandler):
    """The three runtime API calls a function makes for one invocation."""

    first_next: float | None = None
    event: bytes = b"{}"
    served = threading.Event()
    responded = threading.Event()

    def log_message(self, *args):  # keep stdout for the table
        pass

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            cls = type(self)
            if cls.first_next is None:
                cls.first_next = time.perf_counter()
            if cls.served.is_set():
                # Hold the second poll until the measurement ends; the process is killed then.
                cls.responded.wait(10)
                time.sleep(10)
                return
            cls.served.set()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", "measure-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:measure")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(cls.event)))
            self.end_headers()
            self.wfile.write(cls.event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        type(self).responded.set()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def one_run(binary: Path, event: bytes) -> tuple[float, int]:
    handler = type("Api", (RuntimeApi,), {
        "first_next": None, "event": event,
        "served": threading.Event(), "responded": threading.Event(),
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "measure",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "RUST_LOG": "warn",
    }
    # The emulator's address and resource names: auth and users read their key ring at init.
    for key, value in os.environ.items():
        if key.endswith(("_TABLE", "_SECRET_ID", "_BUCKET")) or key in ("AWS_ENDPOINT_URL", "MAIL_FROM", "PUBLIC_APP_URL", "APP_ENV"):
            env[key] = value
    env.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    started = time.perf_counter()
    proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not handler.responded.wait(15):
            raise RuntimeError(f"{binary} did not answer its first event")
        rss = peak_rss_kib(proc.pid)
        assert handler.first_next is not None
        return (handler.first_next - started) * 1000.0, rss
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--function", action="append")
    parser.add_argument("--lambda-dir", default="target/lambda-host")
    args = parser.parse_args()
    functions = args.function or sorted(PROBE_EVENT)
    print(f"{'function':<10} {'size':>10} {'init p50':>9} {'init min':>9} {'init max':>9} {'peak RSS':>9}")
    for name in functions:
        binary = ROOT / args.lambda_dir / name / "bootstrap"
        if not binary.exists():
            print(f"{name:<10} missing {binary}: run `make measure`")
            continue
        event = json.dumps(json.loads(PROBE_EVENT[name].read_text())).encode()
        samples = [one_run(binary, event) for _ in range(args.runs)]
        inits = [s[0] for s in samples]
        rss = max(s[1] for s in samples)
        size = binary.stat().st_size
        print(
            f"{name:<10} {size / 1024 / 1024:>8.2f}MB {statistics.median(inits):>7.1f}ms "
            f"{min(inits):>7.1f}ms {max(inits):>7.1f}ms {rss / 1024:>7.1f}MB"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
