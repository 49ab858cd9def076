#!/usr/bin/env python3
"""`make bench`: what each request costs, in the function process's own CPU time.

Release binaries (x86_64, this machine) are driven with real API Gateway REST events from
`events/`, against the emulator, in two modes:

- **Lambda mode**: a Lambda runtime API stub (TCP_NODELAY on its sockets: without it, Nagle's
  algorithm and delayed ACKs add ~40 ms to every invocation) hands the function one event at a
  time, as a sandbox does;
- **plain HTTP** (`LOCAL_HTTP_ADDR`): the same router behind axum's own server, one kept-alive
  connection, for comparison: the difference is the runtime loop and the event conversion.

CPU per invocation = the process's utime + stime (`/proc/<pid>/stat`, clock ticks) over a batch
of N invocations, divided by N; several batches give min / median / max. Then: peak RSS
(`VmHWM`) per function, auth's after 200 signups and 200 logins; cold init (spawn -> first
`/next`, secrets read included); the zip size of each `bootstrap`. Numbers only, no pass/fail:
the targets and their history live in functions/docs/guide/measurements.md and the issue notes.

Usage: bench.py [--quick] [--lambda-dir target/lambda-host] [--only health,users]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import io
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TICK = os.sysconf("SC_CLK_TCK")
PASSWORD = "violet tractor sunrise"  # events/auth/signup.json's
GITHUB_SECRET = "local-github-webhook-secret"  # infra/local/bootstrap.py's


# --------------------------------------------------------------------------------------------
# The process side: CPU, memory, start-up.


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread the process has had (reaped ones included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def function_env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        # As deployed: JSON logs at info, one line per request.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
    }
    for key, value in os.environ.items():
        if key.startswith(("AWS_", "RATE_LIMIT_", "ARGON2_", "HEALTH_", "TOKIO_", "GLIBC_")) or key.endswith(
            ("_TABLE", "_SECRET_ID", "_BUCKET")
        ) or key in ("MAIL_FROM", "PUBLIC_APP_URL", "APP_ENV", "CORS_ALLOWED_ORIGINS", "MALLOC_ARENA_MAX"):
            env[key] = value
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    env.update(extra)
    return env


class RuntimeApi:
    """A Lambda runtime API on loopback that hands out one event at a time."""

    def __init__(self) -> None:
        self.events: queue.Queue[bytes] = queue.Queue()
        self.responses: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.first_next: float | None = None
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as separate writes.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if api.first_next is None:
                    api.first_next = time.perf_counter()
                event = api.events.get()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(event)))
                self.end_headers()
                self.wfile.write(event)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                kind = "error" if self.path.endswith("/error") else "response"
                api.responses.put((kind, body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A function killed at the end of a run drops its /next poll: not worth a traceback.
        self.server.handle_error = lambda request, address: None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, event: dict) -> tuple[int, dict[str, str], bytes]:
        self.events.put(json.dumps(event).encode())
        kind, body = self.responses.get(timeout=60)
        if kind == "error":
            raise RuntimeError(f"invocation error: {body[:300]!r}")
        out = json.loads(body)
        data = out.get("body") or ""
        data = base64.b64decode(data) if out.get("isBase64Encoded") else data.encode()
        headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
        for k, v in (out.get("multiValueHeaders") or {}).items():
            headers.setdefault(k.lower(), v[0] if v else "")
        return int(out["statusCode"]), headers, data

    def close(self) -> None:
        self.server.shutdown()


class Function:
    """One release bootstrap, in Lambda mode or plain-HTTP mode."""

    def __init__(self, name: str, binary: Path, mode: str) -> None:
        self.name, self.mode = name, mode
        self.api: RuntimeApi | None = None
        self.conn: http.client.HTTPConnection | None = None
        if mode == "lambda":
            self.api = RuntimeApi()
            extra = {"AWS_LAMBDA_RUNTIME_API": self.api.address}
        else:
            port = free_port()
            extra = {"LOCAL_HTTP_ADDR": f"127.0.0.1:{port}"}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([str(binary)], env=function_env(extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if mode == "http":
            deadline = time.time() + 15
            while True:
                try:
                    self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        raise RuntimeError(f"{name} did not listen on {port}")
                    time.sleep(0.02)

    def invoke(self, event: dict) -> tuple[int, dict[str, str], bytes]:
        if self.api is not None:
            return self.api.invoke(event)
        assert self.conn is not None
        body = event.get("body") or ""
        data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        path = event["path"]
        query = event.get("queryStringParameters")
        if query:
            path += "?" + urlencode(query)
        headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "host"}
        self.conn.request(event["httpMethod"], path, body=data or None, headers=headers)
        reply = self.conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def rss(self) -> float:
        return peak_rss_mib(self.proc.pid)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.api:
            self.api.close()
        if self.conn:
            self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Events: the files under events/, with their placeholders filled in.


def event(path: str, **values: str) -> dict:
    text = (EVENTS / path).read_text()
    values.setdefault("UNIQUE", uuid.uuid4().hex[:12])
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return json.loads(text)


def github_ping() -> dict:
    e = event("webhooks/github-ping.json")
    sig = "sha256=" + hmac.new(GITHUB_SECRET.encode(), e["body"].encode(), hashlib.sha256).hexdigest()
    e["headers"]["X-Hub-Signature-256"] = sig
    if e.get("multiValueHeaders"):
        e["multiValueHeaders"]["X-Hub-Signature-256"] = [sig]
        e["multiValueHeaders"]["X-GitHub-Delivery"] = [e["headers"]["X-GitHub-Delivery"]]
    return e


@dataclass
class User:
    username: str
    access: str
    refresh: str


def signup(fn: Function) -> User:
    unique = uuid.uuid4().hex[:12]
    status, _, body = fn.invoke(event("auth/signup.json", UNIQUE=unique))
    if status != 201:
        raise RuntimeError(f"signup answered {status}: {body[:300]!r}")
    tokens = json.loads(body)
    return User(f"jane_{unique}", tokens["access_token"], tokens["refresh_token"])


def expect(status: int, want: int, body: bytes, what: str) -> None:
    if status != want:
        raise RuntimeError(f"{what} answered {status}, not {want}: {body[:300]!r}")


# --------------------------------------------------------------------------------------------
# Cases: (function, name, a callable making the next event, the status it must answer).


@dataclass
class Result:
    name: str
    mode: str
    n: int
    per_call_us: list[float] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)

    def line(self) -> str:
        c = self.per_call_us
        return (
            f"  {self.name:<34} {self.mode:<6} {self.n:>5} x{len(c)}  "
            f"{min(c):>9.0f} {statistics.median(c):>9.0f} {max(c):>9.0f}   {statistics.median(self.wall_us):>9.0f}"
        )


def measure(fn: Function, name: str, make, want: int, n: int, batches: int, warmup: int, after=None) -> Result:
    for _ in range(warmup):
        status, headers, body = fn.invoke(make())
        expect(status, want, body, name)
        if after:
            after(body)
    result = Result(name, fn.mode, n)
    for _ in range(batches):
        events = [make() for _ in range(n)] if after is None else None
        cpu0, t0 = fn.cpu(), time.perf_counter()
        for i in range(n):
            status, headers, body = fn.invoke(events[i] if events else make())
            if status != want:
                expect(status, want, body, name)
            if after:
                after(body)
        result.per_call_us.append((fn.cpu() - cpu0) / n * 1e6)
        result.wall_us.append((time.perf_counter() - t0) / n * 1e6)
    return result


def bench_function(name: str, binary: Path, mode: str, quick: bool) -> tuple[list[Result], float]:
    scale = 0.2 if quick else 1.0
    big, small = max(int(1000 * scale), 50), max(int(200 * scale), 20)
    batches = 3 if quick else 5
    argon = 10 if quick else 40  # x 5 batches = 200 signups and 200 logins
    results: list[Result] = []
    fn = Function(name, binary, mode)
    try:
        if name == "health":
            results.append(measure(fn, "health GET /health/liveness", lambda: event("health/liveness.json"), 200, big, batches, 50))
            results.append(measure(fn, "health GET /health/readiness", lambda: event("health/readiness.json"), 200, small, batches, 5))
        elif name == "auth":
            # Signups, then logins, over the users just made: the peak RSS is read after them
            # (200 + 200 in a full run), before refresh adds its share.
            users: list[User] = []

            def keep(body: bytes) -> None:
                tokens = json.loads(body)
                users.append(User("", tokens["access_token"], tokens["refresh_token"]))

            names_made: list[str] = []

            def signup_event() -> dict:
                unique = uuid.uuid4().hex[:12]
                names_made.append(f"jane_{unique}")
                return event("auth/signup.json", UNIQUE=unique)

            results.append(measure(fn, "auth POST signup", signup_event, 201, argon, batches, 0, after=keep))
            logins = iter(names_made * 2)
            results.append(measure(fn, "auth POST login", lambda: event("auth/login.json", USERNAME=next(logins), PASSWORD=PASSWORD), 200, argon, batches, 0))
            rss_after_argon2 = fn.rss()
            chain = {"refresh": users[-1].refresh}

            def rotate(body: bytes) -> None:
                chain["refresh"] = json.loads(body)["refresh_token"]

            results.append(
                measure(fn, "auth POST refresh", lambda: event("auth/refresh.json", REFRESH_TOKEN=chain["refresh"]), 200, small, batches, 5, after=rotate)
            )
            results.append(measure(fn, "auth POST login (unknown user)", lambda: event("auth/login-unknown-user.json"), 401, argon, batches, 0))
            return results, rss_after_argon2
        elif name == "users":
            token = token_from_auth(binary.parent.parent / "auth" / "bootstrap")
            results.append(measure(fn, "users GET /users/me", lambda: event("users/me.json", ACCESS_TOKEN=token), 200, big, batches, 50))
            results.append(measure(fn, "users GET /users/me (no token)", lambda: event("users/me-without-token.json"), 401, big, batches, 50))
        elif name == "uploads":
            token = token_from_auth(binary.parent.parent / "auth" / "bootstrap")
            results.append(measure(fn, "uploads GET /uploads (empty list)", lambda: event("uploads/list.json", ACCESS_TOKEN=token), 200, small, batches, 10))
        elif name == "webhooks":
            results.append(measure(fn, "webhooks POST github ping", github_ping, 200, small, batches, 10))
            results.append(measure(fn, "webhooks POST github (no signature)", lambda: event("webhooks/github-missing-signature.json"), 401, small, batches, 10))
        elif name == "docs":
            results.append(measure(fn, "docs GET /openapi.json", lambda: event("docs/openapi.json"), 200, small, batches, 5))
            results.append(measure(fn, "docs GET /docs", lambda: event("docs/swagger.json"), 200, small, batches, 5))
        return results, fn.rss()
    finally:
        fn.close()


_TOKEN: dict[str, str] = {}


def token_from_auth(auth_binary: Path) -> str:
    """A real access token: a signup through the auth function (Lambda mode)."""
    if "access" not in _TOKEN:
        fn = Function("auth", auth_binary, "lambda")
        try:
            _TOKEN["access"] = signup(fn).access
        finally:
            fn.close()
    return _TOKEN["access"]


# --------------------------------------------------------------------------------------------
# Cold init and package size.


def cold_init_ms(binary: Path, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        api = RuntimeApi()
        started = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=function_env({"AWS_LAMBDA_RUNTIME_API": api.address}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 15
            while api.first_next is None:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{binary} did not reach /next")
                time.sleep(0.0005)
            samples.append((api.first_next - started) * 1000)
        finally:
            proc.kill()
            proc.wait()
            api.close()
    return samples


def zip_mib(binary: Path) -> float:
    """The deployment package as `sam build` / cargo lambda zip it: one deflated `bootstrap`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(binary, "bootstrap")
    return len(out.getvalue()) / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lambda-dir", default="target/lambda-host")
    parser.add_argument("--quick", action="store_true", help="fewer invocations (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated functions")
    parser.add_argument("--modes", default="lambda,http")
    parser.add_argument("--init-runs", type=int, default=20)
    parser.add_argument("--floor", action="append", default=[], help="NAME=PATH of a floor binary (lambda mode, any event)")
    args = parser.parse_args()
    lambda_dir = ROOT / args.lambda_dir
    names = [n for n in args.only.split(",") if n] or ["health", "users", "auth", "uploads", "webhooks", "docs"]

    print("CPU per invocation (µs): min / median / max over batches of N; wall µs per call (median)")
    print(f"  {'case':<34} {'mode':<6} {'N':>5} {'':>2}  {'min':>9} {'median':>9} {'max':>9}   {'wall':>9}")
    for spec in args.floor:
        label, path = spec.split("=", 1)
        fn = Function(label, Path(path), "lambda")
        try:
            r = measure(fn, f"floor: {label}", lambda: event("health/liveness.json"), 200, 200 if args.quick else 1000, 3 if args.quick else 5, 50)
            print(r.line(), flush=True)
        finally:
            fn.close()
    rss: dict[str, float] = {}
    for name in names:
        binary = lambda_dir / name / "bootstrap"
        if not binary.exists():
            print(f"  {name}: missing {binary}")
            continue
        for mode in args.modes.split(","):
            results, peak = bench_function(name, binary, mode, args.quick)
            for r in results:
                print(r.line(), flush=True)
            if mode == "lambda":
                rss[name] = peak

    print("\nPeak RSS (VmHWM) after the runs above, Lambda mode" + (" (auth: after 200 signups + 200 logins)" if not args.quick else ""))
    for name, peak in rss.items():
        print(f"  {name:<10} {peak:>7.1f} MiB")

    print(f"\nCold init, spawn -> first /next (ms, {args.init_runs} runs), and package size")
    print(f"  {'function':<10} {'p50':>7} {'min':>7} {'max':>7}   {'binary':>9} {'zip':>9}")
    for name in names:
        binary = lambda_dir / name / "bootstrap"
        if not binary.exists():
            continue
        samples = cold_init_ms(binary, args.init_runs)
        print(
            f"  {name:<10} {statistics.median(samples):>7.1f} {min(samples):>7.1f} {max(samples):>7.1f}   "
            f"{binary.stat().st_size / 1024 / 1024:>7.2f}MiB {zip_mib(binary):>7.2f}MiB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
