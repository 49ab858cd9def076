#!/usr/bin/env python3
"""`make bench`: what each function costs to start and to run, measured on this machine.

Release binaries (x86_64, this machine) are driven with the API Gateway REST events of `events/`
against the emulator, through a kept-alive front (`KeepAliveFront`): moto closes every
connection, DynamoDB keeps the SDK's open, so without it every AWS call would also pay a connect
that deployed functions do not. The front counts the AWS requests of each invocation. Modes
(`--mode`, a comma-separated list; `full`, the default, is all six):

- **cpu**: CPU per invocation, in two transports. *Lambda*: a Lambda runtime API stub hands the
  function one event at a time, as a sandbox does (TCP_NODELAY on its sockets: without it,
  Nagle's algorithm and the kernel's delayed ACK add a fixed wait to every invocation). *HTTP*
  (`LOCAL_HTTP_ADDR`): the same router behind axum's own server, one kept-alive connection: the
  difference is the runtime loop and the event conversion. CPU per invocation = the process's
  utime + stime (`/proc/<pid>/stat`) over a batch of N invocations, divided by N; several batches
  give min / median / max. The floors (`infra/tools`: a bare `lambda_runtime` function, then
  `lambda_http` with a one-route axum router) show what the runtime itself costs. Then the peak
  RSS (`VmHWM`) of each function after its runs, auth's after its signups and logins.
- **init**: cold init (spawn -> first `/next`, secrets read included), then the function's probe
  event is served and the peak RSS read, per function.
- **size**: the size of each `bootstrap`, and of its zip as `sam build` makes it.
- **auth**: the Rust tools of `infra/tools`: argon2id hash time alone (`bench-argon2`), the login
  latency split (`measure-auth`), argon2's peak RSS under concurrent signups and logins
  (`measure-argon2-rss`) and the cost of an access-token check (`bench-tokens`).
- **sdk**: `bench-sdk`: one DynamoDB call's CPU through the functions' client and a bare default
  client, on a mock HTTP client, a kept-alive canned server and the emulator, with a profile by
  orchestrator phase.
- **mi**: `bench-concurrent`: Lambda Managed Instances, `GET /users/me` with requests in flight
  per vCPU (requests per second per vCPU, p50/p99).

cpu mode also prints, per route, the duration Lambda would bill at the template's `MemorySize`
(CPU ÷ the memory's share of a vCPU + the AWS calls counted × `cost.AWS_CALL_MS`, an assumed
in-region round trip), and issue 23's targets next to `GET /users/me` and liveness. Every run
writes `target/bench/report.html` (`cost.report_html`): CPU, billed ms and $ per million per
route, against the CPU figures the run replaced (`results.prev.json`).

What is measured comes from the tree: the functions are the folders under `functions/` with a
`Cargo.toml`; each one's *probe* is the one event of `events/<function>/` whose sidecar says
`"probe": true` (a request it refuses early: no account, no signature, no data). A
function is timed on its probe plus the routes `ROUTES` (or `SCENARIOS`) add below; a name
there that is not a function, or an event that does not exist, stops the run before it starts.

Numbers only, never pass/fail. They are printed and written to `target/bench/results.json`
(read by `cost.py`) and `target/bench/results.md`, one section per mode, each stamped with its
commit and time; a run replaces only the sections it measured.

Usage: bench.py [--mode full|cpu,init,size,auth,sdk,mi] [--quick] [--only health,users]
                [--lambda-dir target/lambda-host] [--tools-dir target/lambda-host]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import io
import json
import os
import queue
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # noqa: E402  (the cost model: billed duration, the HTML report)

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
RESULTS_DIR = ROOT / "target" / "bench"
TICK = os.sysconf("SC_CLK_TCK")
MODES = ("cpu", "init", "size", "auth", "sdk", "mi")
FULL = MODES
# Issue 23's targets, printed next to the figures (numbers, not pass or fail).
TARGETS = {"users/me": 300.0, "health/liveness": 120.0}
SCHEMA = 1


class BenchError(Exception):
    """Something in the tree or in a run that the bench cannot measure around."""


# --------------------------------------------------------------------------------------------
# What to measure: derived from functions/ and events/, plus the routes below.

# Routes timed per function besides its probe: event names under events/<function>/, replayed as
# their sidecars say (status, `"setup": "user"`, `"sign": "github"`, `"env"`). A function not
# named here is timed on its probe alone.
ROUTES: dict[str, list[str]] = {
    "health": ["readiness"],
    "users": ["me"],
    # The account has no upload (the sidecar's "upload" stage is not reproduced): an empty list.
    "uploads": ["list"],
    "webhooks": ["github-ping"],
    "docs": ["openapi", "swagger"],
}

# Accounts for `"setup": "user"` are made by replaying this function's event (Lambda mode).
ACCOUNT_FROM = ("auth", "signup")


def function_names() -> list[str]:
    names = sorted(p.parent.name for p in FUNCTIONS.glob("*/Cargo.toml"))
    if not names:
        raise BenchError(f"no functions under {FUNCTIONS.relative_to(ROOT)}/")
    return names


@dataclass
class Case:
    """One event file and its sidecar."""

    function: str
    name: str
    event_text: str
    expect: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.function}/{self.name}"

    @property
    def status(self) -> int:
        return int(self.expect["status"])

    @property
    def env(self) -> dict[str, str]:
        return {k: str(v) for k, v in (self.expect.get("env") or {}).items()}

    @property
    def label(self) -> str:
        head = json.loads(self.event_text)
        if "Records" in head:  # an SQS batch, for the job worker
            return f"SQS batch of {len(head['Records'])}"
        return f"{head.get('httpMethod', '?')} {head.get('path', '?')}"


def load_case(function: str, name: str) -> Case:
    event_path = EVENTS / function / f"{name}.json"
    sidecar = EVENTS / function / f"{name}.expect.json"
    if not event_path.exists():
        raise BenchError(f"{function}: no event {event_path.relative_to(ROOT)}")
    try:
        expect = json.loads(sidecar.read_text())
    except FileNotFoundError:
        raise BenchError(f"{function}: {event_path.relative_to(ROOT)} has no sidecar") from None
    if "Records" in json.loads(event_path.read_text()):
        # An SQS batch (the job worker): it answers a batch response, read as 200 below.
        expect.setdefault("status", 200)
    if not isinstance(expect.get("status"), int):
        raise BenchError(f"{sidecar.relative_to(ROOT)}: no numeric \"status\"")
    setup, sign = expect.get("setup"), expect.get("sign")
    if setup not in (None, "user"):
        raise BenchError(f"{sidecar.relative_to(ROOT)}: the bench cannot set up {setup!r} (only \"user\")")
    if sign not in (None, "github"):
        raise BenchError(f"{sidecar.relative_to(ROOT)}: the bench cannot sign {sign!r} (only \"github\")")
    return Case(function, name, event_path.read_text(), expect)


def probe(function: str) -> Case:
    """The one event of the function whose sidecar has `"probe": true`."""
    folder = EVENTS / function
    if not folder.is_dir():
        raise BenchError(f"functions/{function}: no events/{function}/ folder, so no probe event")
    marked = sorted(
        p.name.removesuffix(".expect.json")
        for p in folder.glob("*.expect.json")
        if json.loads(p.read_text()).get("probe") is True
    )
    if len(marked) != 1:
        found = ", ".join(marked) or "none"
        raise BenchError(
            f"functions/{function}: exactly one sidecar in events/{function}/ must say \"probe\": true "
            f"(a request it refuses early: no account, no signature); found {found}"
        )
    case = load_case(function, marked[0])
    if case.expect.get("setup") or case.expect.get("sign"):
        raise BenchError(f"{case.id}: a probe needs no setup and no signature")
    return case


@dataclass
class Plan:
    functions: list[str]
    probes: dict[str, Case]
    routes: dict[str, list[Case]]
    scenario_cases: dict[str, dict[str, Case]]


def plan(only: list[str]) -> Plan:
    """Everything a run will replay, read and checked before anything slow starts."""
    names = function_names()
    problems = [f"ROUTES names {n!r}, which is not a function under functions/" for n in ROUTES if n not in names]
    problems += [f"SCENARIOS names {n!r}, which is not a function under functions/" for n in SCENARIOS if n not in names]
    problems += [f"--only names {n!r}, which is not a function under functions/" for n in only if n not in names]
    selected = [n for n in names if not only or n in only]
    probes, routes, scenario_cases = {}, {}, {}
    for name in names:
        try:
            probes[name] = probe(name)
            routes[name] = [load_case(name, r) for r in ROUTES.get(name, []) if r != probes[name].name]
            if name in SCENARIOS:
                scenario_cases[name] = {e: load_case(name, e) for e in SCENARIOS[name][0]}
        except BenchError as err:
            problems.append(str(err))
    try:
        load_case(*ACCOUNT_FROM)
    except BenchError as err:
        problems.append(f"accounts for \"setup\": \"user\": {err}")
    if problems:
        raise BenchError("\n  ".join(["the tree does not say what to measure:", *problems]))
    return Plan(selected, probes, routes, scenario_cases)


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


# The variables the emulator's bootstrap wrote (`--env-file`): every function gets them, with the
# values of this process's environment (rate limits lifted), as `make dev` gives them all.
ENV_FILE_KEYS: set[str] = set()


def function_env(extra: dict[str, str]) -> dict[str, str]:
    """The function's environment: as deployed (JSON logs at info), plus the emulator's."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "true",
    }
    for key, value in os.environ.items():
        if key in ENV_FILE_KEYS or key.startswith(("AWS_", "RATE_LIMIT_", "ARGON2_", "HEALTH_", "TOKIO_", "GLIBC_")) or key.endswith(
            ("_TABLE", "_SECRET_ID", "_BUCKET")
        ) or key in ("MAIL_FROM", "PUBLIC_APP_URL", "APP_ENV", "CORS_ALLOWED_ORIGINS", "MALLOC_ARENA_MAX"):
            env[key] = value
    env.pop("AWS_LAMBDA_RUNTIME_API", None)
    if FRONT:
        env["AWS_ENDPOINT_URL"] = FRONT[0].url
    # Without the emulator (compare-opt-levels.sh times health alone): nothing answers, at once.
    for key, value in (("AWS_ENDPOINT_URL", "http://127.0.0.1:9"), ("AWS_REGION", "us-east-1"),
                       ("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        env.setdefault(key, value)
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

    def invoke(self, event: dict, timeout: float, alive: Callable[[], bool]) -> tuple[int, dict[str, str], bytes]:
        self.events.put(json.dumps(event).encode())
        deadline = time.perf_counter() + timeout
        while True:
            try:
                kind, body = self.responses.get(timeout=0.2)
                break
            except queue.Empty:
                if not alive():
                    raise BenchError("exited before answering") from None
                if time.perf_counter() > deadline:
                    raise BenchError(f"no answer within {timeout:.0f} s") from None
        if kind == "error":
            raise BenchError(f"invocation error: {body[:300]!r}")
        out = json.loads(body)
        if "statusCode" not in out and "batchItemFailures" in out:
            # The job worker's answer to an SQS batch: 200, with the answer as the body.
            return 200, {}, body if isinstance(body, bytes) else body.encode()
        data = out.get("body") or ""
        data = base64.b64decode(data) if out.get("isBase64Encoded") else data.encode()
        headers = {k.lower(): v for k, v in (out.get("headers") or {}).items()}
        for k, v in (out.get("multiValueHeaders") or {}).items():
            headers.setdefault(k.lower(), v[0] if v else "")
        return int(out["statusCode"]), headers, data

    def close(self) -> None:
        self.server.shutdown()


class KeepAliveFront:
    """A kept-alive HTTP/1.1 endpoint in front of the emulator, for the functions' SDK calls.

    moto (werkzeug) answers `Connection: close` to every request, so a function pointed at it
    opens a TCP connection per AWS call, where DynamoDB keeps the SDK's connection open. The
    functions talk to this front instead: it keeps their connections alive (TCP_NODELAY) and
    forwards each request to the emulator over a fresh connection of its own, in this process,
    whose CPU is not the function's. It counts the requests, so the bench reports the AWS calls
    each route makes."""

    def __init__(self, upstream: str) -> None:
        parsed = re.match(r"^http://([^:/]+):(\d+)/?$", upstream)
        if not parsed:
            raise BenchError(f"AWS_ENDPOINT_URL={upstream!r}: the front expects http://host:port")
        host, port = parsed.group(1), int(parsed.group(2))
        self.upstream = upstream
        self.calls = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def forward(self) -> None:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    self.send_error(501, "the bench's front reads Content-Length bodies only")
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with front.lock:
                    front.calls += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
                conn = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                    status, reason, reply_headers = reply.status, reply.reason, reply.getheaders()
                except OSError as err:
                    # Said, not swallowed: a run that fails shows what the emulator did.
                    with front.lock:
                        front.errors.append(f"{self.command} {self.headers.get('X-Amz-Target', self.path)}: {err!r}")
                    self.send_error(502, f"the emulator: {err!r}")
                    return
                finally:
                    conn.close()
                self.send_response_only(status, reason)
                hop = ("connection", "keep-alive", "transfer-encoding", "content-length")
                for k, v in reply_headers:
                    if k.lower() not in hop:
                        self.send_header(k, v)
                if self.command == "HEAD":
                    length = dict((k.lower(), v) for k, v in reply_headers).get("content-length")
                    if length is not None:
                        self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self.lock:
            return self.calls

    def close(self) -> None:
        self.server.shutdown()


# The front every function of this run is pointed at (cpu and init modes), if any.
FRONT: list[KeepAliveFront] = []


class Function:
    """One release bootstrap, in Lambda mode or plain-HTTP mode."""

    def __init__(self, name: str, binary: Path, via: str, env: dict[str, str] | None = None) -> None:
        self.name, self.via = name, via
        self.api: RuntimeApi | None = None
        self.conn: http.client.HTTPConnection | None = None
        if not binary.exists():
            raise BenchError(f"{name}: missing {binary}")
        if via == "lambda":
            self.api = RuntimeApi()
            extra = {"AWS_LAMBDA_RUNTIME_API": self.api.address}
        else:
            port = free_port()
            extra = {"LOCAL_HTTP_ADDR": f"127.0.0.1:{port}"}
        # Its output kept (the log lines too), so a function that fails or dies says why.
        self.stderr = tempfile.TemporaryFile()
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(binary)], env=function_env({**(env or {}), **extra}), stdout=self.stderr, stderr=self.stderr
        )
        if via == "http":
            deadline = time.time() + 15
            while True:
                try:
                    self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    break
                except OSError:
                    if time.time() > deadline or self.proc.poll() is not None:
                        words = self.last_words()
                        self.close()
                        raise BenchError(f"{name} did not listen on {port}{words}") from None
                    time.sleep(0.02)

    def last_words(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        # The warnings and errors first: info lines are one per request.
        tail = [line for line in lines if '"level":"INFO"' not in line][-5:] or lines[-3:]
        return (": " + " | ".join(tail)) if tail else ""

    def invoke(self, event: dict, timeout: float = 60) -> tuple[int, dict[str, str], bytes]:
        if self.api is not None:
            try:
                return self.api.invoke(event, timeout, lambda: self.proc.poll() is None)
            except BenchError as err:
                raise BenchError(f"{self.name}: {err}{self.last_words()}") from None
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
        self.stderr.close()
        if self.api:
            self.api.close()
            self.api = None
        if self.conn:
            self.conn.close()
            self.conn = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Events: the files under events/, with their placeholders filled in as the sidecar says.


@dataclass
class Account:
    username: str
    email: str
    password: str
    access: str
    refresh: str
    user_id: str


_WEBHOOK_SECRETS: dict[str, Any] = {}


def webhook_secret(provider: str) -> str:
    """The emulator's webhook secret of `provider` (infra/local/bootstrap.py sets it)."""
    if not _WEBHOOK_SECRETS:
        import boto3  # the .venv's, with moto

        secret_id = os.environ.get("WEBHOOK_SECRETS_SECRET_ID")
        if not secret_id:
            raise BenchError("WEBHOOK_SECRETS_SECRET_ID is not set: run through `make bench`")
        client = boto3.client(
            "secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"), region_name=os.environ.get("AWS_REGION", "us-east-1")
        )
        _WEBHOOK_SECRETS.update(json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"]))
    return _WEBHOOK_SECRETS[provider]


def render(case: Case, account: Account | None = None, **values: str) -> dict:
    """The case's event, ready to send: fresh `{{UNIQUE}}`, the account's values, signed."""
    text = case.event_text
    values.setdefault("UNIQUE", uuid.uuid4().hex[:12])
    if account is not None:
        for key, value in (("ACCESS_TOKEN", account.access), ("REFRESH_TOKEN", account.refresh),
                           ("USERNAME", account.username), ("EMAIL", account.email),
                           ("PASSWORD", account.password), ("USER_ID", account.user_id)):
            values.setdefault(key, value)
    timestamp = int(time.time()) + int(case.expect.get("timestamp_offset", 0))
    values.setdefault("WEBHOOK_TIMESTAMP", str(timestamp))
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if case.expect.get("sign") == "github":
        unsigned = json.loads(text)
        raw = unsigned.get("body") or ""
        body = base64.b64decode(raw) if unsigned.get("isBase64Encoded") else raw.encode()
        digest = hmac.new(webhook_secret("github").encode(), body, hashlib.sha256).hexdigest()
        text = text.replace("{{WEBHOOK_SIGNATURE}}", f"sha256={digest}")
    left = sorted(set(re.findall(r"\{\{[A-Z_]+\}\}", text)))
    if left:
        raise BenchError(f"{case.id}: the bench cannot fill {', '.join(left)}")
    return json.loads(text)


def expect(status: int, want: int, body: bytes, what: str) -> None:
    if status != want:
        seen = f"; the front's last upstream errors: {FRONT[0].errors[-3:]}" if FRONT and FRONT[0].errors else ""
        raise BenchError(f"{what} answered {status}, not {want}: {body[:300]!r}{seen}")


def account_from(body: bytes, event: dict) -> Account:
    """The account a signup event made: its credentials from the event, tokens from the reply."""
    sent = json.loads(event["body"])
    tokens = json.loads(body)
    claims = tokens["access_token"].split(".")[1]
    subject = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
    return Account(sent["username"], sent["email"], sent["password"], tokens["access_token"], tokens["refresh_token"], subject)


_ACCOUNT: list[Account] = []


def account(lambda_dir: Path) -> Account:
    """One account for the events that need `"setup": "user"`, made once per run."""
    if not _ACCOUNT:
        case = load_case(*ACCOUNT_FROM)
        fn = Function(case.function, lambda_dir / case.function / "bootstrap", "lambda")
        try:
            event = render(case)
            status, _, body = fn.invoke(event)
            expect(status, case.status, body, case.id)
            _ACCOUNT.append(account_from(body, event))
        finally:
            fn.close()
    return _ACCOUNT[0]


# --------------------------------------------------------------------------------------------
# CPU per invocation.


@dataclass
class Result:
    function: str
    case: str
    label: str
    via: str
    n: int
    status: int
    probe: bool = False
    per_call_us: list[float] = field(default_factory=list)
    wall_us: list[float] = field(default_factory=list)
    # AWS requests per invocation, counted by the kept-alive front (None without it).
    aws_calls: float | None = None

    def record(self) -> dict:
        c = self.per_call_us
        return {
            "function": self.function, "case": self.case, "label": self.label, "via": self.via,
            "status": self.status, "probe": self.probe, "n": self.n, "batches": len(c),
            "cpu_us": {"min": min(c), "median": statistics.median(c), "max": max(c), "batches": c},
            "wall_us_median": statistics.median(self.wall_us),
            "aws_calls": self.aws_calls,
        }

    def line(self) -> str:
        c = self.per_call_us
        name = f"{self.case} ({self.label})"
        calls = "" if self.aws_calls is None else f"{self.aws_calls:>9.2f}"
        return (
            f"  {name:<64} {self.via:<6} {self.n:>5} x{len(c)}  "
            f"{min(c):>9.0f} {statistics.median(c):>9.0f} {max(c):>9.0f}   {statistics.median(self.wall_us):>9.0f}{calls}"
        )


@dataclass
class Sizing:
    quick: bool

    @property
    def batches(self) -> int:
        return 3 if self.quick else 5

    @property
    def argon2_per_batch(self) -> int:
        # x 5 batches: 200 signups and 200 logins in a full run.
        return 10 if self.quick else 40

    def per_batch(self, cpu_per_call: float, wall_per_call: float) -> int:
        """Invocations per batch: enough for half a second of CPU (a tenth when quick), since CPU
        time moves in clock ticks, but no more than a few seconds of calls, and bounded."""
        cpu_target, wall_cap, low, high = (0.1, 1.0, 10, 500) if self.quick else (0.5, 4.0, 20, 2000)
        n = min(cpu_target / max(cpu_per_call, 1e-7), wall_cap / max(wall_per_call, 1e-7))
        return max(low, min(high, int(n)))

    @property
    def warmup_seconds(self) -> float:
        return 0.5 if self.quick else 2.0


def measure(fn: Function, case: Case, make: Callable[[], dict], sizing: Sizing, n: int | None = None,
            warmup: bool = True, after: Callable[[bytes], None] | None = None, label: str | None = None) -> Result:
    """N invocations per batch; unless given, N is sized from a warm-up that runs until a few
    clock ticks of CPU have passed (or a few seconds)."""
    calls, t0, cpu0 = 0, time.perf_counter(), fn.cpu()
    while warmup and (
        calls < 3 or (fn.cpu() - cpu0 < 5 / TICK and time.perf_counter() - t0 < sizing.warmup_seconds)
    ):
        status, _, body = fn.invoke(make())
        expect(status, case.status, body, case.id)
        if after:
            after(body)
        calls += 1
    if n is None:
        cpu_per_call = max(fn.cpu() - cpu0, 1 / TICK) / calls
        n = sizing.per_batch(cpu_per_call, (time.perf_counter() - t0) / calls)
    result = Result(fn.name, case.id, label or case.label, fn.via, n, case.status)
    calls0 = FRONT[0].count() if FRONT else 0
    for _ in range(sizing.batches):
        events = [make() for _ in range(n)] if after is None else None
        cpu0, t0 = fn.cpu(), time.perf_counter()
        for i in range(n):
            status, _, body = fn.invoke(events[i] if events else make())
            if status != case.status:
                try:
                    expect(status, case.status, body, case.id)
                except BenchError as err:
                    raise BenchError(f"{err}; {fn.name}'s last words{fn.last_words()}") from None
            if after:
                after(body)
        result.per_call_us.append((fn.cpu() - cpu0) / n * 1e6)
        result.wall_us.append((time.perf_counter() - t0) / n * 1e6)
    if FRONT:
        result.aws_calls = (FRONT[0].count() - calls0) / (n * sizing.batches)
    return result


def replay(fn: Function, case: Case, sizing: Sizing, lambda_dir: Path) -> Result:
    """The case's event, again and again, as its sidecar says."""
    who = account(lambda_dir) if case.expect.get("setup") == "user" else None
    return measure(fn, case, lambda: render(case, who), sizing)


def auth_scenario(fn: Function, cases: dict[str, Case], sizing: Sizing) -> tuple[list[Result], float]:
    """Signups, then logins as the users just made, then a refresh chain, then logins of an
    unknown user (the dummy hash). The peak RSS is read after the signups and logins, before
    refresh adds its share."""
    results: list[Result] = []
    made: list[Account] = []
    n = sizing.argon2_per_batch
    signup = cases["signup"]
    pending: list[dict] = []

    def signup_event() -> dict:
        event = render(signup)
        pending.append(event)
        return event

    def keep(body: bytes) -> None:
        made.append(account_from(body, pending.pop(0)))

    results.append(measure(fn, signup, signup_event, sizing, n=n, warmup=False, after=keep))
    logins = iter(made * 2)
    results.append(measure(fn, cases["login"], lambda: render(cases["login"], next(logins)), sizing, n=n, warmup=False))
    rss_after_argon2 = fn.rss()
    chain = {"refresh": made[-1].refresh}

    def rotate(body: bytes) -> None:
        chain["refresh"] = json.loads(body)["refresh_token"]

    results.append(measure(fn, cases["refresh"], lambda: render(cases["refresh"], REFRESH_TOKEN=chain["refresh"]), sizing, after=rotate))
    unknown = cases["login-unknown-user"]
    results.append(measure(fn, unknown, lambda: render(unknown), sizing, n=n, warmup=False))
    return results, rss_after_argon2


# Functions whose routes need steps of their own: the events they use, and the steps. Each runs
# after the function's probe, in Lambda and in HTTP mode.
SCENARIOS: dict[str, tuple[list[str], Callable[[Function, dict[str, Case], Sizing], tuple[list[Result], float]]]] = {
    "auth": (["signup", "login", "refresh", "login-unknown-user"], auth_scenario),
}


def bench_function(name: str, p: Plan, via: str, sizing: Sizing, lambda_dir: Path) -> tuple[list[Result], float, str]:
    """Every case of one function; a case whose sidecar sets variables gets a process of its own.
    Returns the results and the peak RSS of the process without extra variables (the largest,
    if every case sets some), with what it was read after."""
    by_env: dict[str, list[Case]] = {}
    for case in [p.probes[name], *p.routes[name]]:
        by_env.setdefault(json.dumps(case.env, sort_keys=True), []).append(case)
    if name in SCENARIOS:
        by_env.setdefault("{}", [])
    results: list[Result] = []
    peaks: dict[str, float] = {}
    after = "its runs"
    for env_key, group in by_env.items():
        fn = Function(name, lambda_dir / name / "bootstrap", via, json.loads(env_key))
        try:
            for case in group:
                results.append(replay(fn, case, sizing, lambda_dir))
                results[-1].probe = case is p.probes[name]
                print(results[-1].line(), flush=True)
            peaks[env_key] = fn.rss()
            if env_key == "{}" and name in SCENARIOS:
                _, steps = SCENARIOS[name]
                more, peaks[env_key] = steps(fn, p.scenario_cases[name], sizing)
                for r in more:
                    print(r.line(), flush=True)
                results += more
                after = f"{sizing.argon2_per_batch * sizing.batches} signups and as many logins"
        finally:
            fn.close()
    return results, peaks.get("{}", max(peaks.values())), after


def floor_event(p: Plan) -> Case:
    """The smallest API Gateway probe: the floors answer any such event, the lighter the better
    (the lambda_http floor cannot read the job worker's SQS batch)."""
    http = [c for c in p.probes.values() if "Records" not in json.loads(c.event_text)]
    return min(http or p.probes.values(), key=lambda c: (len(json.loads(c.event_text).get("body") or ""), len(c.event_text), c.id))


def run_cpu(p: Plan, args: argparse.Namespace, sizing: Sizing) -> dict:
    lambda_dir = ROOT / args.lambda_dir
    print("CPU per invocation (µs): min / median / max over batches of N; wall µs per call (median); "
          "AWS calls per invocation (counted by the kept-alive front)")
    print(f"  {'case':<64} {'via':<6} {'N':>5} {'':>2}  {'min':>9} {'median':>9} {'max':>9}   {'wall':>9} {'AWS':>8}")
    floors = []
    probe_case = floor_event(p)
    for spec in args.floor:
        label, path = spec.split("=", 1)
        fn = Function(label, ROOT / path, "lambda")
        try:
            floor_case = Case("floor", label, probe_case.event_text, {"status": 200})
            r = measure(fn, floor_case, lambda: render(floor_case), sizing, label=f"fed {probe_case.id}")
            r.case = f"floor: {label}"
            print(r.line(), flush=True)
            floors.append(r.record())
        finally:
            fn.close()
    cases: list[dict] = []
    rss: dict[str, dict] = {}
    for name in p.functions:
        for via in args.via.split(","):
            if via == "http" and "Records" in json.loads(p.probes[name].event_text):
                # The job worker takes SQS batches from the runtime API only: no HTTP mode.
                continue
            results, peak, after = bench_function(name, p, via, sizing, lambda_dir)
            cases += [r.record() for r in results]
            if via == "lambda":
                rss[name] = {"peak_rss_mib": peak, "after": after}
    print("\nPeak RSS (VmHWM) after the runs above, Lambda mode")
    for name, r in rss.items():
        print(f"  {name:<10} {r['peak_rss_mib']:>7.1f} MiB  (after {r['after']})")
    routes = billed_routes(cases)
    targets = {}
    lambda_cases = {c["case"]: c for c in cases if c["via"] == "lambda"}
    if any(case in lambda_cases for case in TARGETS):
        print("\nIssue 23's targets, CPU per invocation, Lambda mode, against the kept-alive front (median; target)")
        for case, target in TARGETS.items():
            if case in lambda_cases:
                got = lambda_cases[case]["cpu_us"]["median"]
                targets[case] = {"cpu_us": got, "target_us": target}
                print(f"  {case:<20} {got:>7.0f} µs   (target ≤ {target:.0f} µs)")
    return {"floors": floors, "cases": cases, "peak_rss": rss, "via": args.via.split(","), "billed": routes,
            "targets": targets, "aws_endpoint": "kept-alive front before the emulator" if FRONT else "the emulator"}


def billed_routes(cases: list[dict]) -> list[dict]:
    """Each Lambda-mode case at its function's MemorySize (template.yaml): what Lambda would bill,
    CPU scaled by the memory's share of a vCPU plus the AWS calls counted, each assumed one
    in-region round trip (`cost.AWS_CALL_MS`)."""
    memory = cost.memory_sizes(cost.TEMPLATE.read_text())
    print(f"\nBilled duration per invocation at the template's MemorySize: CPU ÷ (MB ÷ {cost.FULL_VCPU_MB} MB of a vCPU) "
          f"+ AWS calls × {cost.AWS_CALL_MS:g} ms (an assumed in-region round trip), rounded up")
    print(f"  {'case':<64} {'MB':>5} {'vCPU':>5} {'CPU µs':>7} {'CPU ms@MB':>9} {'AWS calls':>9} {'wait ms':>7} {'billed':>7}")
    out = []
    for c in cases:
        mb = memory.get(c["function"])
        if c["via"] != "lambda" or mb is None:
            continue
        cpu, calls = c["cpu_us"]["median"], c.get("aws_calls") or 0.0
        share = min(mb / cost.FULL_VCPU_MB, 1.0)
        duration, billed = cost.billed(cpu, calls, mb)
        name = f"{c['case']} ({c['label']})"
        print(f"  {name:<64} {mb:>5} {share:>5.2f} {cpu:>7.0f} {cpu / 1000 / share:>9.2f} {calls:>9.2f} "
              f"{calls * cost.AWS_CALL_MS:>7.1f} {billed:>4} ms")
        out.append({"case": c["case"], "label": c["label"], "memory_mb": mb, "vcpu_share": share, "cpu_us": cpu,
                    "aws_calls": calls, "aws_call_ms": cost.AWS_CALL_MS, "duration_ms": duration, "billed_ms": billed})
    return out


# --------------------------------------------------------------------------------------------
# Cold init, package size, the Rust tools.


def run_init(p: Plan, args: argparse.Namespace, sizing: Sizing) -> dict:
    """Per function: spawn -> first `/next`, then its probe answered and the peak RSS read."""
    lambda_dir = ROOT / args.lambda_dir
    runs = args.init_runs or (5 if sizing.quick else 20)
    print(f"\nCold init, spawn -> first /next (ms, {runs} runs); peak RSS after the probe event")
    print(f"  {'function':<10} {'p50':>7} {'min':>7} {'max':>7}   {'peak RSS':>9}   probe")
    out = {}
    for name in p.functions:
        case = p.probes[name]
        samples, peaks = [], []
        for _ in range(runs):
            fn = Function(name, lambda_dir / name / "bootstrap", "lambda", case.env)
            try:
                status, _, body = fn.invoke(render(case), timeout=15)
                expect(status, case.status, body, case.id)
                assert fn.api is not None and fn.api.first_next is not None
                samples.append((fn.api.first_next - fn.started) * 1000)
                peaks.append(fn.rss())
            finally:
                fn.close()
        out[name] = {
            "probe": case.id, "status": case.status, "env": case.env, "runs": runs,
            "init_ms": {"p50": statistics.median(samples), "min": min(samples), "max": max(samples)},
            "peak_rss_mib": max(peaks),
        }
        print(
            f"  {name:<10} {statistics.median(samples):>7.1f} {min(samples):>7.1f} {max(samples):>7.1f}   "
            f"{max(peaks):>5.1f} MiB   {case.id} ({case.status})",
            flush=True,
        )
    return {"functions": out}


def zip_bytes(binary: Path) -> int:
    """The deployment package as `sam build` / cargo lambda zip it: one deflated `bootstrap`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.write(binary, "bootstrap")
    return len(out.getvalue())


def run_size(p: Plan, args: argparse.Namespace) -> dict:
    lambda_dir = ROOT / args.lambda_dir
    print(f"\nPackage size ({args.lambda_dir})")
    print(f"  {'function':<10} {'binary':>11} {'zip':>11}")
    out = {}
    for name in p.functions:
        binary = lambda_dir / name / "bootstrap"
        if not binary.exists():
            raise BenchError(f"{name}: missing {binary}")
        size, zipped = binary.stat().st_size, zip_bytes(binary)
        out[name] = {"binary_bytes": size, "zip_bytes": zipped}
        print(f"  {name:<10} {size / 1048576:>7.2f} MiB {zipped / 1048576:>7.2f} MiB", flush=True)
    return {"lambda_dir": args.lambda_dir, "functions": out}


def run_auth(args: argparse.Namespace, sizing: Sizing) -> dict:
    """The Rust measurement tools, their output kept as printed."""
    tools = ROOT / args.tools_dir
    n = "40" if sizing.quick else "200"
    steps = [
        ("bench-argon2", [], "argon2id hash alone, default cost, median of 15 (ms)"),
        ("measure-auth", [], "login latency split, through the routers, against the emulator"),
        ("measure-argon2-rss", [n], "argon2 peak RSS and CPU under concurrent signups and logins"),
        ("bench-tokens", [], "access-token check"),
    ]
    out = {}
    for tool, tool_args, what in steps:
        binary = tools / tool / "bootstrap"
        if not binary.exists():
            raise BenchError(f"missing {binary}: build it with `make bench MODE=auth`")
        print(f"\n{' '.join([tool, *tool_args])}: {what}", flush=True)
        run = subprocess.run([str(binary), *tool_args], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise BenchError(f"{tool} failed ({run.returncode}): {run.stderr.strip()[-500:]}")
        text = run.stdout.rstrip()
        print("\n".join("  " + line for line in text.splitlines()), flush=True)
        out[tool] = {"what": what, "args": tool_args, "output": text.splitlines()}
    return {"tools": out}


def run_sdk(args: argparse.Namespace, sizing: Sizing) -> dict:
    """`bench-sdk`: one DynamoDB call's CPU, the functions' client against a bare one, on a mock
    HTTP client, a kept-alive canned server and the emulator (directly: it closes every
    connection), then a profile by orchestrator phase."""
    binary = ROOT / args.tools_dir / "bench-sdk" / "bootstrap"
    if not binary.exists():
        raise BenchError(f"missing {binary}: build it with `make bench MODE=sdk`")
    print("\nbench-sdk: CPU per DynamoDB call through the SDK, taken apart (infra/tools/src/bench_sdk)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sdk.json"
        cmd = [str(binary), "--json", str(out), *(["--quick"] if sizing.quick else [])]
        # The functions' log settings, so the subscriber it installs last is theirs.
        env = {**os.environ, "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
        run = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        if run.returncode != 0:
            raise BenchError(f"bench-sdk failed ({run.returncode}): {run.stderr.strip()[-500:]}")
        text = run.stdout.rstrip()
        print("\n".join("  " + line for line in text.splitlines()), flush=True)
        return {"output": text.splitlines(), "figures": json.loads(out.read_text())}


def run_mi(args: argparse.Namespace, sizing: Sizing) -> dict:
    """Lambda Managed Instances: `bench-concurrent` (infra/tools/src/bench_concurrent.rs) drives
    `users`' `GET /users/me` in Lambda mode with requests in flight per vCPU; its output kept as
    printed, its JSON line as the figures. The function's AWS endpoint is the kept-alive front."""
    binary = ROOT / args.tools_dir / "bench-concurrent" / "bootstrap"
    users = ROOT / args.lambda_dir / "users" / "bootstrap"
    for needed in (binary, users):
        if not needed.exists():
            raise BenchError(f"missing {needed}: build it with `make bench MODE=mi`")
    env = dict(os.environ)
    if FRONT:
        env["AWS_ENDPOINT_URL"] = FRONT[0].url
    cmd = [str(binary), "--bootstrap", str(users), *(["--seconds", "3", "--warmup", "1"] if sizing.quick else [])]
    print("\nbench-concurrent: Lambda Managed Instances, GET /users/me with requests in flight per vCPU", flush=True)
    run = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=ROOT)
    if run.returncode != 0:
        raise BenchError(f"bench-concurrent failed ({run.returncode}): {run.stderr.strip()[-500:]}")
    lines = run.stdout.rstrip().splitlines()
    figures = None
    for line in lines:
        if line.startswith("{") and '"bench"' in line:
            figures = json.loads(line)
    text = [line for line in lines if not (line.startswith("{") and '"bench"' in line)]
    print("\n".join("  " + line for line in text), flush=True)
    return {"output": text, "figures": figures}


# --------------------------------------------------------------------------------------------
# The results file.


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        "unknown CPU",
    )
    return f"{os.cpu_count()} cores, {model}"


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        return head.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def stamp(quick: bool, only: list[str]) -> dict:
    return {
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "quick": quick,
        "only": only,
    }


def load_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        if data.get("schema") == SCHEMA:
            return data
    except (OSError, ValueError):
        pass
    return {"schema": SCHEMA, "sections": {}}


def markdown(data: dict) -> str:
    """results.md: the same figures as results.json, for reading."""
    out = ["# `make bench` results", "", "Generated by `make bench` (infra/scripts/bench.py); not committed. "
           "Each section says when, where and at which commit it was measured.", ""]
    sections = data["sections"]

    def head(title: str, s: dict) -> None:
        notes = [s["measured_at"], f"commit {s['commit']}", s["machine"]]
        if s.get("quick"):
            notes.append("quick run")
        if s.get("only"):
            notes.append("only " + ",".join(s["only"]))
        out.extend([f"## {title}", "", "_" + "; ".join(notes) + "_", ""])

    if "cpu" in sections:
        s = sections["cpu"]
        head("CPU per invocation (µs)", s)
        out += ["| case | route | via | N × batches | min | median | max | wall (median) |", "|---|---|---|---|---|---|---|---|"]
        for r in s["floors"] + s["cases"]:
            c = r["cpu_us"]
            out.append(
                f"| {r['case']} | {r['label']} | {r['via']} | {r['n']} × {r['batches']} | {c['min']:.0f} | "
                f"{c['median']:.0f} | {c['max']:.0f} | {r['wall_us_median']:.0f} |"
            )
        out += ["", "Peak RSS (VmHWM) after the runs, Lambda mode:", "", "| function | MiB | after |", "|---|---|---|"]
        out += [f"| {n} | {r['peak_rss_mib']:.1f} | {r['after']} |" for n, r in s["peak_rss"].items()]
        out.append("")
    if "init" in sections:
        s = sections["init"]
        head("Cold init (spawn → first /next) and peak RSS after the probe", s)
        out += ["| function | p50 ms | min ms | max ms | peak RSS MiB | probe (status) | runs |", "|---|---|---|---|---|---|---|"]
        for n, r in s["functions"].items():
            i = r["init_ms"]
            out.append(f"| {n} | {i['p50']:.1f} | {i['min']:.1f} | {i['max']:.1f} | {r['peak_rss_mib']:.1f} | {r['probe']} ({r['status']}) | {r['runs']} |")
        out.append("")
    if "size" in sections:
        s = sections["size"]
        head(f"Package size ({s['lambda_dir']})", s)
        out += ["| function | binary MiB | zip MiB |", "|---|---|---|"]
        out += [f"| {n} | {r['binary_bytes'] / 1048576:.2f} | {r['zip_bytes'] / 1048576:.2f} |" for n, r in s["functions"].items()]
        out.append("")
    if "cpu" in sections and sections["cpu"].get("billed"):
        s = sections["cpu"]
        head(f"Billed duration at the template's MemorySize (AWS calls × {cost.AWS_CALL_MS:g} ms assumed in-region)", s)
        out += ["| case | route | MB | vCPU | CPU µs | AWS calls | billed ms |", "|---|---|---|---|---|---|---|"]
        out += [f"| {r['case']} | {r['label']} | {r['memory_mb']} | {r['vcpu_share']:.2f} | {r['cpu_us']:.0f} | "
                f"{r['aws_calls']:.2f} | {r['billed_ms']} |" for r in s["billed"]]
        out += ["", f"AWS endpoint of the functions: {s.get('aws_endpoint', 'the emulator')}.", ""]
        for case, t in s.get("targets", {}).items():
            out.append(f"- {case}: {t['cpu_us']:.0f} µs (target ≤ {t['target_us']:.0f} µs)")
        out.append("")
    if "auth" in sections:
        s = sections["auth"]
        head("Rust tools: argon2, login split, tokens", s)
        for tool, r in s["tools"].items():
            out += [f"`{' '.join([tool, *r['args']])}`: {r['what']}", "", "```", *r["output"], "```", ""]
    for mode, title in (("sdk", "One DynamoDB call through the SDK (bench-sdk)"), ("mi", "Lambda Managed Instances (bench-concurrent)")):
        if mode in sections:
            head(title, sections[mode])
            out += ["```", *sections[mode]["output"], "```", ""]
    return "\n".join(out)


def save(results_dir: Path, data: dict) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    for name, text in (("results.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n"), ("results.md", markdown(data))):
        tmp = results_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(results_dir / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="full", help="full (" + ",".join(FULL) + "), or a comma-separated list of " + ", ".join(MODES))
    parser.add_argument("--quick", action="store_true", help="fewer invocations and runs (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated functions (default: every one under functions/)")
    parser.add_argument("--lambda-dir", default="target/lambda-host", help="<dir>/<function>/bootstrap")
    parser.add_argument("--tools-dir", default="target/lambda-host", help="<dir>/<tool>/bootstrap (auth mode)")
    parser.add_argument("--via", default="lambda,http", help="cpu mode's transports")
    parser.add_argument("--init-runs", type=int, default=0, help="cold starts per function (default 20, quick 5)")
    parser.add_argument("--floor", action="append", default=[], help="NAME=PATH of a floor binary (cpu mode)")
    parser.add_argument("--env-file", default="", help="the bootstrap's env file: its variables go to every function")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR.relative_to(ROOT)), help="where results.json and results.md go")
    args = parser.parse_args()
    modes = list(FULL) if args.mode == "full" else [m for m in args.mode.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"--mode {args.mode}: use full or a list of {', '.join(MODES)}")
    only = [n for n in args.only.split(",") if n]
    if args.env_file:
        ENV_FILE_KEYS.update(
            line.split("=", 1)[0].strip() for line in Path(args.env_file).read_text().splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        )
    sizing = Sizing(args.quick)
    results_dir = ROOT / args.results_dir
    try:
        p = plan(only)
        print(f"machine: {machine()}; functions: {', '.join(p.functions)}", flush=True)
        data = load_results(results_dir / "results.json")
        previous = json.loads(json.dumps(data)) if "cpu" in modes and "cpu" in data["sections"] else None
        upstream = os.environ.get("AWS_ENDPOINT_URL")
        if upstream and ({"cpu", "init", "mi"} & set(modes)):
            FRONT.append(KeepAliveFront(upstream))
            print(f"AWS endpoint of the functions: a kept-alive front ({FRONT[0].url}) before the emulator ({upstream}), "
                  "as DynamoDB keeps connections alive and moto closes every one", flush=True)
        for mode in MODES:
            if mode not in modes:
                continue
            if mode == "cpu":
                section = run_cpu(p, args, sizing)
            elif mode == "init":
                section = run_init(p, args, sizing)
            elif mode == "size":
                section = run_size(p, args)
            elif mode == "auth":
                section = run_auth(args, sizing)
            elif mode == "sdk":
                section = run_sdk(args, sizing)
            else:
                section = run_mi(args, sizing)
            data["sections"][mode] = {**stamp(args.quick, only), **section}
            save(results_dir, data)
        if previous is not None:
            # The CPU figures this run replaced: the report's "before".
            (results_dir / "results.prev.json").write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n")
        prev_path = results_dir / "results.prev.json"
        prior = load_results(prev_path) if prev_path.exists() else None
        (results_dir / "report.html").write_text(cost.report_html(data, prior))
    except (BenchError, cost.CostError) as err:
        print(f"bench: {err}", file=sys.stderr)
        return 1
    finally:
        for front in FRONT:
            front.close()
    shown = results_dir.relative_to(ROOT) if results_dir.is_relative_to(ROOT) else results_dir
    print(f"\nresults: {shown}/results.json and results.md; report: {shown}/report.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
