#!/usr/bin/env python3
"""The local API gateway: a thin front on the API port, before `cargo lambda watch`.

Every request is passed to watch as is, with one exception. Watch turns an HTTP request into a
Lambda event itself and answers a body that is not valid UTF-8 with its own non-envelope 500
before any function runs. Deployed, API Gateway passes every body base64-encoded
(`BinaryMediaTypes: */*` in template.yaml) and the function answers 400. So such a request is
sent here as API Gateway would send it: a REST (v1) proxy event with `isBase64Encoded: true`,
through watch's invoke API, to the function the watch router in Cargo.toml names for the path.

Usage: gateway.py --port 9000 --watch-port 9001
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import time
import tomllib
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parents[2]
# cargo lambda watch (1.9.2) now and then loses a function's response when the function's
# runtime client opens a new connection to it (seen with a browser's parallel asset loads, about
# one docs page in 30): watch then answers its own non-envelope
# `500 {"type":"https://httpstatuses.com/500",...}` although the function logged a 200, or the
# request waits until the function's next invocation. Deployed, API Gateway and Lambda have no
# such step, so for the safe methods the gateway asks again (a retry also releases a waiting
# one); other methods get watch's answer, since asking again could run a change twice.
WATCH_OWN_500 = b'{"type":"https://httpstatuses.com/500"'
WATCH_RETRIES = 2
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# Long enough for watch to compile a function on its first request...
WATCH_TIMEOUT = 600
# ...and, once the function has answered (it is built and running), how long a safe request
# waits for watch before it is asked again.
WARM_TIMEOUT = 10
WARM: set[str] = set()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"}


def load_router() -> list[tuple[str, str]]:
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return list(cargo["workspace"]["metadata"]["lambda"]["watch"]["router"].items())


def rank(pattern: str, path: str) -> list[int] | None:
    """matchit's order, as tests/tests/consistency.rs has it: static 0, {param} 1, {*rest} 2."""
    parts, segments = pattern.split("/"), path.split("/")
    ranks = []
    for i, part in enumerate(parts):
        if part.startswith("{*"):
            rest = "/".join(segments[i:])
            ranks.append(2)
            return ranks if rest else None
        if i >= len(segments):
            return None
        if part.startswith("{"):
            if not segments[i]:
                return None
            ranks.append(1)
        elif part == segments[i]:
            ranks.append(0)
        else:
            return None
    return ranks if len(parts) == len(segments) else None


def function_for(router: list[tuple[str, str]], path: str) -> str | None:
    matches = [(r, fn) for pattern, fn in router if (r := rank(pattern, path)) is not None]
    return min(matches)[1] if matches else None


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    watch_port = 0
    router: list[tuple[str, str]] = []

    def log_message(self, fmt, *args):  # watch's own log line is the one that matters
        pass

    def log_error(self, fmt, *args):  # what the gateway did about watch: kept, in gateway.log
        print(f"{time.strftime('%H:%M:%S')} " + fmt % args, flush=True)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, up to the empty line.
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        # One request per connection: a client's leftover bytes can never be read as the next
        # request, and nothing waits on a kept-alive socket.
        self.close_connection = True
        body = self._read_body()
        try:
            body.decode("utf-8")
            self._forward(body)
        except UnicodeDecodeError:
            self._invoke_base64(body)

    def __getattr__(self, name: str):
        # Every method goes through, even ones http.server does not know (QUERY, ...): the
        # function answers 405 for them, as behind API Gateway.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _forward(self, body: bytes):
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body:
            headers["Content-Length"] = str(len(body))
        function = function_for(self.router, urlsplit(self.path).path) or ""
        safe = self.command in SAFE_METHODS
        attempts = WATCH_RETRIES + 1 if safe else 1
        for attempt in range(1, attempts + 1):
            timeout = WARM_TIMEOUT if safe and function in WARM and attempt < attempts else WATCH_TIMEOUT
            conn = http.client.HTTPConnection("127.0.0.1", self.watch_port, timeout=timeout)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                reply = conn.getresponse()
                data = reply.read()
            except TimeoutError:
                self.log_error("%s %s: no answer from watch in %s s (attempt %d of %d)",
                               self.command, self.path, timeout, attempt, attempts)
                if attempt == attempts:
                    self.send_error(504, "cargo lambda watch did not answer")
                    return
                continue
            finally:
                conn.close()
            if not (reply.status == 500 and data.startswith(WATCH_OWN_500)):
                WARM.add(function)
                break
            self.log_error("%s %s: cargo lambda watch's own 500 (attempt %d of %d)",
                           self.command, self.path, attempt, attempts)
        self.send_response(reply.status, reply.reason)
        for name, value in reply.getheaders():
            if name.lower() not in HOP_BY_HOP | {"content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _invoke_base64(self, body: bytes):
        url = urlsplit(self.path)
        function = function_for(self.router, url.path)
        if function is None:
            self.send_error(404)
            return
        headers = {k: v for k, v in self.headers.items()}
        multi: dict[str, list[str]] = {}
        for k, v in self.headers.items():
            multi.setdefault(k, []).append(v)
        query = parse_qsl(url.query, keep_blank_values=True)
        event = {
            "resource": url.path,
            "path": url.path,
            "httpMethod": self.command,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": dict(query) or None,
            "multiValueQueryStringParameters": {k: [v for q, v in query if q == k] for k, _ in query} or None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": url.path,
                "httpMethod": self.command,
                "path": url.path,
                "stage": "local",
                "requestId": str(uuid.uuid4()),
                "accountId": "123456789012",
                "apiId": "local",
                "protocol": "HTTP/1.1",
                "identity": {"sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent", "")},
            },
            "body": base64.b64encode(body).decode(),
            "isBase64Encoded": True,
        }
        conn = http.client.HTTPConnection("127.0.0.1", self.watch_port, timeout=WATCH_TIMEOUT)
        conn.request(
            "POST",
            f"/2015-03-31/functions/{function}/invocations",
            body=json.dumps(event).encode(),
            headers={"Content-Type": "application/json"},
        )
        out = json.loads(conn.getresponse().read() or b"{}")
        conn.close()
        data = out.get("body") or ""
        data = base64.b64decode(data) if out.get("isBase64Encoded") else data.encode()
        self.send_response(int(out.get("statusCode", 502)))
        sent = set()
        for name, values in (out.get("multiValueHeaders") or {}).items():
            if name.lower() == "content-length":
                continue
            for value in values:
                self.send_header(name, value)
            sent.add(name.lower())
        for name, value in (out.get("headers") or {}).items():
            if name.lower() not in sent and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--watch-port", type=int, required=True)
    args = parser.parse_args()
    Front.watch_port = args.watch_port
    Front.router = load_router()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), Front).serve_forever()


if __name__ == "__main__":
    main()
