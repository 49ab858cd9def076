#!/usr/bin/env python3
"""The local API Gateway: template.yaml's REST API, in front of `cargo lambda watch`.

It serves what API Gateway (REST) deploys from template.yaml, read with cfn-lint's loader
(cfn.py), so that a request answered locally is answered the same way once deployed:

- routes: every `Type: Api` event of every function (method, `ANY`, `{param}`, `{greedy+}`),
  matched as API Gateway does (a static segment beats `{param}`, which beats `{greedy+}`; a
  trailing slash is ignored). A path with no resource, or a method the resource does not have
  (`HEAD` and `OPTIONS` included), is the `MISSING_AUTHENTICATION_TOKEN` gateway response;
- every request goes to the function as the REST (v1) proxy event API Gateway sends, body
  base64-encoded (`BinaryMediaTypes: */*`), through watch's invoke API; the function's v1
  response becomes the HTTP response (its Date, Server, Connection and Content-Length remapped to
  `x-amzn-Remapped-*` as API Gateway does);
- gateway responses from the template's `GatewayResponses` (falling back to DEFAULT_4XX /
  DEFAULT_5XX, then to API Gateway's own): an unknown route, a missing or unknown API key, a
  throttled key or stage, a quota spent, a body over 10 MB, a function that fails;
- API keys and usage plans, read from the emulator (bootstrap.py creates them), when a route
  requires a key (`RequireApiKey=true`, per-event overrides): each plan's throttle (token bucket)
  and quota per key, and the stage's `MethodSettings` throttle per method.

Parameters come from the template's defaults, the environment (REQUIRE_API_KEY=true,
THROTTLE_RATE_LIMIT=..., see cfn.py) or `--parameter Name=Value`. What it does not emulate: WAF,
authorizers, the stage cache, account- and region-level throttles, request validators, mapping
templates other than gateway responses' `$context` variables, TLS, custom domains (the stage is
served at the root, as a custom domain's base path mapping does).

This file is the HTTP server and the order API Gateway applies its parts in (route, API key,
throttles and quota, integration); each part is a module beside it: apigw_routes.py (the API
and its route table), apigw_events.py (the proxy event and response), apigw_responses.py
(gateway responses), apigw_limits.py (throttles, quotas, API keys), apigw_watch.py (invoking
through watch), apigw_log.py (the log line).

Usage: gateway.py --port 9000 --watch-port 9001 [--endpoint URL] [--template PATH]
       gateway.py --routes     (the route table, JSON, then exit)
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Imported from this directory; no bytecode next to the sources, where a new file would make
# `cargo lambda watch` rebuild.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402
from apigw_events import IntegrationError, Request, build_event, proxy_response, trace_id  # noqa: E402
from apigw_limits import Keys, TokenBucket  # noqa: E402
from apigw_log import log  # noqa: E402
from apigw_responses import gateway_response  # noqa: E402
from apigw_routes import Api, Route, load_api, resolve_route  # noqa: E402
from apigw_watch import Watch  # noqa: E402

# API Gateway's payload limit (REST): a larger body is REQUEST_TOO_LARGE before any function runs.
MAX_BODY = 10 * 1024 * 1024
LISTEN_BACKLOG = 1024
# An idle kept-alive client connection is closed after this many seconds.
IDLE_TIMEOUT = 75


# ------------------------------------------------------------------------------------ gateway


class Gateway:
    """One request in, one response out: the parts API Gateway plays, in its order."""

    def __init__(self, api: Api, watch: Watch | None, keys: Keys | None):
        self.api, self.watch, self.keys = api, watch, keys
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.lock = threading.Lock()

    def stage_bucket(self, route: Route) -> TokenBucket | None:
        limits = self.api.throttle_for(route.path, route.method)
        if limits is None:
            return None
        with self.lock:
            bucket = self.buckets.get((route.path, route.method))
            if bucket is None:
                bucket = self.buckets[route.path, route.method] = TokenBucket(*limits)
            return bucket

    def api_id(self) -> str:
        return (self.keys.api_id if self.keys else None) or "localapi01"

    def handle(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, body = self._handle(request)
        headers = [*headers, ("x-amzn-RequestId", request.request_id), ("x-amz-apigw-id", apigw_id())]
        return status, headers, body

    def too_large(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        """A body over API Gateway's payload limit, refused before anything else."""
        _, resource, params = resolve_route(self.api, request.method, request.raw_path)
        status, headers, body = gateway_response(
            self.api, "REQUEST_TOO_LARGE", request, resource=resource, path_params=params
        )
        return status, [*headers, ("x-amzn-RequestId", request.request_id), ("x-amz-apigw-id", apigw_id())], body

    def _handle(self, request: Request) -> tuple[int, list[tuple[str, str]], bytes]:
        route, resource, params = resolve_route(self.api, request.method, request.raw_path)
        if route is None:
            return gateway_response(self.api, "MISSING_AUTHENTICATION_TOKEN", request, resource=resource)

        def refused(kind: str, **kw: Any) -> tuple[int, list[tuple[str, str]], bytes]:
            return gateway_response(self.api, kind, request, resource=resource, path_params=params, **kw)

        key = None
        if route.api_key_required:
            value = request.header("x-api-key")
            found = self.keys.lookup(value) if value and self.keys else None
            if found is None:
                return refused("INVALID_API_KEY")
            key = (found.id, found.value)
            if found.bucket and not found.bucket.take():
                return refused("THROTTLED", key=key)
            if found.quota and not found.quota.take():
                return refused("QUOTA_EXCEEDED", key=key)
        bucket = self.stage_bucket(route)
        if bucket and not bucket.take():
            return refused("THROTTLED", key=key)
        event = build_event(self.api, resource, params, request, self.api_id(), key)
        try:
            if self.watch is None:
                raise IntegrationError("INTEGRATION_FAILURE", 502, "no watch to invoke")
            status, headers, body = proxy_response(self.watch.invoke(route, event, request.method))
        except IntegrationError as err:
            if err.kind == "INTEGRATION_FAILURE" and "Malformed" in err.why:
                log("%s %s -> %s: %s", request.method, request.raw_path, route.function, err.why)
            return refused(err.kind, status=err.status, key=key)
        if self.api.tracing:
            headers.append(("X-Amzn-Trace-Id", event["headers"].get("X-Amzn-Trace-Id") or trace_id(request.epoch)))
        return status, headers, body


def apigw_id() -> str:
    return base64.b64encode(secrets.token_bytes(12)).decode()[:15] + "="


# ------------------------------------------------------------------------------------ server


class BodyTooLarge(Exception):
    pass


# An oversized body up to this size is read and dropped before the 413, so that a client still
# sending it reads the answer instead of a reset; past it the connection is closed at once.
DRAIN_LIMIT = 64 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    gateway: Gateway

    def log_message(self, fmt: str, *args: Any) -> None:  # watch's log has each request
        pass

    def log_error(self, fmt: str, *args: Any) -> None:
        if fmt.startswith("Request timed out"):
            return  # an idle kept-alive connection closed: nothing went wrong
        log(fmt, *args)

    def send_response(self, code: int, message: str | None = None) -> None:
        """The status line and one Date header; no Server header (API Gateway sends none)."""
        self.log_request(code)
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def __getattr__(self, name: str):
        # Every method reaches the gateway, even ones http.server does not know (QUERY, ...).
        if name.startswith("do_"):
            return self.handle_request
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        """No `100 Continue` for a body that will be refused: the 413 comes before it is sent."""
        try:
            too_large = int(self.headers.get("Content-Length") or 0) > MAX_BODY
        except ValueError:
            too_large = False
        if too_large:
            self.close_connection = True
            return True
        return super().handle_expect_100()

    def drain(self) -> None:
        """Reads and drops the rest of an oversized Content-Length body (up to DRAIN_LIMIT)."""
        if self.close_connection or "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        left = int(self.headers.get("Content-Length") or 0)
        if left > DRAIN_LIMIT:
            self.close_connection = True
            return
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, size_read = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers, up to the empty line
                    return b"".join(chunks)
                size_read += size
                if size_read > MAX_BODY:
                    raise BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BodyTooLarge
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def handle_request(self) -> None:
        request = Request(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=b"",
            source_ip=self.client_address[0],
            local_port=self.server.server_address[1],
        )
        try:
            request.body = self.read_body()
        except BodyTooLarge:
            self.drain()
            self.reply(*self.gateway.too_large(request))
            return
        except ValueError:
            self.close_connection = True
            self.send_error(400, "Bad Content-Length or chunk size")
            return
        try:
            status, headers, body = self.gateway.handle(request)
        except Exception as err:  # a bug here: answer as API Gateway's own 500 would, and say so
            log("%s %s: gateway error: %r", request.method, request.target, err)
            status, headers, body = 500, [("Content-Type", "application/json")], b'{"message": "Internal server error"}'
        self.reply(status, headers, body)

    def reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of clients then meets resets.
    request_queue_size = LISTEN_BACKLOG


# ------------------------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, help="where the API listens (127.0.0.1)")
    parser.add_argument("--watch-port", type=int, help="cargo lambda watch's port")
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL"),
                        help="the AWS emulator, for API keys and usage plans (default: $AWS_ENDPOINT_URL)")
    parser.add_argument("--template", default=str(cfn.TEMPLATE))
    parser.add_argument("--api", help="the AWS::Serverless::Api's logical id (when there are several)")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="a template parameter, over its default and the environment")
    parser.add_argument("--routes", action="store_true", help="print the route table as JSON and exit")
    args = parser.parse_args()
    overrides = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--parameter {item!r}: expected NAME=VALUE")
        overrides[name] = value
    try:
        stack = cfn.Stack(cfn.load(args.template), overrides)
        api = load_api(stack, args.api)
    except cfn.TemplateError as err:
        print(f"gateway.py: {args.template}: {err}", file=sys.stderr)
        return 2
    if args.routes:
        print(json.dumps([r.table_row() for r in api.routes], indent=2))
        return 0
    if args.port is None or args.watch_port is None:
        parser.error("--port and --watch-port are required (or --routes)")

    keys = Keys(args.endpoint, api.stage)
    keyed = [r for r in api.routes if r.api_key_required]
    if keyed:
        keys.refresh(force=True)
        if not keys.by_value:
            log("API keys: none found for stage %s in %s: every keyed route answers 403 "
                "(bootstrap.py creates them)", api.stage, args.endpoint or "(no emulator)")
    Handler.gateway = Gateway(api, Watch(args.watch_port), keys)
    server = Server(("127.0.0.1", args.port), Handler)
    stage_throttle = api.throttle_for("/*", "*")
    log("API Gateway (local) on http://127.0.0.1:%d, stage %s, from %s: %d routes to watch on port %d",
        args.port, api.stage, args.template, len(api.routes), args.watch_port)
    log("API keys required on %d of %d routes (RequireApiKey=%s, from %s); %d keys%s",
        len(keyed), len(api.routes), stack.params.get("RequireApiKey"), stack.sources.get("RequireApiKey"),
        len(keys.by_value), "".join(f", {k.plan}" for k in keys.by_value.values()))
    if stage_throttle:
        log("stage throttle per method: %s/s, burst %s (ThrottleRateLimit from %s)",
            stage_throttle[0], stage_throttle[1], stack.sources.get("ThrottleRateLimit"))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
