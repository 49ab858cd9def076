"""Functions invoked through `cargo lambda watch`'s invoke API, answered as Lambda would (for gateway.py).

Watch posts a proxy event to `/2015-03-31/functions/<binary>/invocations`, one invocation per
function at a time, and turns what Lambda or API Gateway would refuse into an IntegrationError:
an event or a response over Lambda's payload limits, a function past its Timeout (or API
Gateway's 29 s), a function error. It also absorbs what only watch does (a cold function still
compiling, a response it loses, asked again for the safe methods), which deployed Lambda does not.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild
# (gateway.py sets it first): set again before this module's own local imports.
sys.dont_write_bytecode = True
from apigw_events import IntegrationError  # noqa: E402
from apigw_log import log  # noqa: E402
from apigw_routes import Route  # noqa: E402

# Lambda's synchronous invocation payload limits (the event in, the response out): the function
# never sees a larger event (a body over about 4.5 MB, base64-encoded) and a larger response is a
# function error; API Gateway answers either as a failed integration (502).
LAMBDA_MAX_EVENT = 6 * 1024 * 1024
LAMBDA_MAX_RESPONSE = 6 * 1024 * 1024 + 100
# API Gateway gives up on an integration after 29 s (INTEGRATION_TIMEOUT, 504). A function's own
# Timeout below that ends as Lambda's "Task timed out", which API Gateway answers 502.
INTEGRATION_TIMEOUT = 29
# Locally a function has no runtime-enforced Timeout; the gateway answers as Lambda would once it
# has waited the function's Timeout and this much more (watch's own overhead).
TIMEOUT_GRACE = 5
# Until a function has answered once, watch may be starting it, or compiling it after a change
# (`cargo run`): that first request waits this long. After a timeout the function counts as
# cold again, so the next request waits for a compile the timeout may have run into.
COLD_TIMEOUT = 600
# cargo lambda watch (1.9.2) now and then loses a function's response: the request then waits
# until the function's next invocation, or watch answers its own non-envelope
# `500 {"type":"https://httpstatuses.com/500",...}` although the function logged a 200. Deployed,
# API Gateway and Lambda have no such step, so for the safe methods the gateway asks again;
# other methods fail (502) instead, since asking again could run a change twice.
WATCH_OWN_500 = b'{"type":"https://httpstatuses.com/500"'
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
WATCH_ATTEMPTS = 3
# Watch runs one instance per function and takes its invocations one at a time
# (AWS_LAMBDA_MAX_CONCURRENCY=1). Given a large burst of parallel invocations (its invoke API and
# its HTTP front alike) it wedges: no invocation of any function is answered again until it
# restarts. So the gateway queues requests itself and hands watch one invocation per function at
# a time, which costs nothing (the instance would run them one by one anyway). Deployed, Lambda
# runs them side by side; what each one gets does not depend on that.
WATCH_CONCURRENCY = 1
# How long a request waits for watch's port to open (it starts with the gateway).
WATCH_STARTUP = 60


class Watch:
    """Functions invoked through `cargo lambda watch`'s invoke API."""

    def __init__(self, port: int):
        self.port = port
        self.warm: set[str] = set()
        self.reached = False
        self.slots: dict[str, threading.Semaphore] = {}
        self.lock = threading.Lock()

    def slot(self, function: str) -> threading.Semaphore:
        with self.lock:
            return self.slots.setdefault(function, threading.Semaphore(WATCH_CONCURRENCY))

    def post(self, function: str, event: bytes, timeout: float) -> tuple[int, bytes]:
        deadline = time.monotonic() + (WATCH_STARTUP if not self.reached else 2)
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
            try:
                conn.request(
                    "POST",
                    f"/2015-03-31/functions/{function}/invocations",
                    body=event,
                    headers={"Content-Type": "application/json"},
                )
                reply = conn.getresponse()
                self.reached = True
                return reply.status, reply.read()
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            finally:
                conn.close()

    def invoke(self, route: Route, event: dict, method: str) -> bytes:
        """The function's response payload, or IntegrationError."""
        payload = json.dumps(event).encode()
        if len(payload) > LAMBDA_MAX_EVENT:
            log("%s %s -> %s: the event (%d bytes) is over Lambda's invocation payload limit",
                method, event["path"], route.function, len(payload))
            raise IntegrationError("INTEGRATION_FAILURE", 502, "event over Lambda's payload limit")
        attempts = WATCH_ATTEMPTS if method in SAFE_METHODS else 1
        lambda_timeout = IntegrationError(
            "INTEGRATION_TIMEOUT" if route.timeout >= INTEGRATION_TIMEOUT else "INTEGRATION_FAILURE",
            504 if route.timeout >= INTEGRATION_TIMEOUT else 502,
            f"no answer from {route.function} within its Timeout ({route.timeout} s)",
        )
        for attempt in range(1, attempts + 1):
            warm = route.function in self.warm
            wait = min(route.timeout, INTEGRATION_TIMEOUT) + TIMEOUT_GRACE if warm else COLD_TIMEOUT
            try:
                with self.slot(route.function):
                    status, body = self.post(route.function, payload, wait)
            except (TimeoutError, socket.timeout):
                log("%s %s -> %s: no answer from watch in %s s (attempt %d of %d)",
                    method, event["path"], route.function, wait, attempt, attempts)
                if attempt < attempts:
                    continue
                # It may be compiling after a change: the next request waits for it.
                self.warm.discard(route.function)
                raise lambda_timeout from None
            except OSError as err:
                log("%s %s -> %s: watch on port %d: %s", method, event["path"], route.function, self.port, err)
                raise IntegrationError("INTEGRATION_FAILURE", 502, f"watch: {err}") from None
            if status == 200:
                self.warm.add(route.function)
                if len(body) > LAMBDA_MAX_RESPONSE:
                    log("%s %s -> %s: the response (%d bytes) is over Lambda's payload limit",
                        method, event["path"], route.function, len(body))
                    raise IntegrationError("INTEGRATION_FAILURE", 502, "response over Lambda's payload limit")
                return body
            if status == 500 and body.startswith(WATCH_OWN_500):
                log("%s %s -> %s: cargo lambda watch's own 500 (attempt %d of %d)",
                    method, event["path"], route.function, attempt, attempts)
                if attempt < attempts:
                    continue
                raise IntegrationError("INTEGRATION_FAILURE", 502, "watch lost the function's response")
            self.warm.add(route.function)
            log("%s %s -> %s: the function failed (watch %d): %s",
                method, event["path"], route.function, status, body[:500].decode(errors="replace"))
            raise IntegrationError("INTEGRATION_FAILURE", 502, "function error")
        raise lambda_timeout  # not reached: the loop returns or raises
