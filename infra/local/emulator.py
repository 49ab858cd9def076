#!/usr/bin/env python3
"""moto's AWS emulator server, with every request serialized behind one lock.

moto's backends are not thread-safe: under parallel requests its TransactWriteItems (which
deep-copies tables to roll back) fails with "dictionary changed size during iteration" and answers
500. Real DynamoDB applies each conditional write and transaction atomically, so serializing
requests gives the emulator AWS's semantics for the concurrency tests (50 parallel signups,
20 parallel refreshes). Connections are still accepted concurrently.

It also serves, under /_local/ (paths no AWS service uses):

- GET /_local/ses/messages: the mails SES accepted, without the cost of /moto-api/data.json
  (which dumps every backend);
- a test seam to make SES fail for chosen recipients, per address, so tests running in parallel
  do not disturb each other:
      POST /_local/ses/refuse  {"address": "a@example.com", "refuse": true}
      POST /_local/ses/refuse  {"address": "a@example.com", "refuse": false}   (accepted again)
      GET  /_local/ses/refuse  (the refused addresses and their errors)
  While an address is refused, an SES v2 SendEmail (POST /v2/email/outbound-emails) with it among
  its Destination's To, Cc or Bcc addresses is answered with an error and records no message.
  The error is SendEmail's modeled TooManyRequestsException (429), the REST-JSON way
  (`x-amzn-ErrorType` header, `{"message": ...}` body), which the Rust SDK reads as that service
  error (and, being a throttling error, retries within its retry config before giving up); a
  refusal may name another error instead, e.g. `"error": "MessageRejected"` (400, not retried)
  or `"error": "SendingPausedException"` (400). The answer to POST is the address's new state.

Usage: emulator.py --host 127.0.0.1 --port 5000
"""

import argparse
import io
import json
import os
import signal
import sys
import threading
import uuid

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import run_simple
from werkzeug.wsgi import get_input_stream


MAIL_PATH = "/_local/ses/messages"
REFUSE_PATH = "/_local/ses/refuse"
# SES v2 SendEmail's path (moto serves it as sesv2, found by the request's signing scope).
SEND_EMAIL_PATH = "/v2/email/outbound-emails"
# The errors a refusal can give: SendEmail's modeled ones (name -> HTTP status), so the SDK
# reads each as that service error.
SES_ERRORS = {
    "TooManyRequestsException": 429,
    "MessageRejected": 400,
    "SendingPausedException": 400,
    "MailFromDomainNotVerifiedException": 400,
    "AccountSuspendedException": 400,
    "LimitExceededException": 400,
    "BadRequestException": 400,
    "NotFoundException": 404,
}
DEFAULT_SES_ERROR = "TooManyRequestsException"
# Refused address (lowercase) -> the error its mails get.
refused: dict[str, str] = {}


def sent_mail() -> list:
    """Every message SES accepted, in every account and region, oldest first.

    moto's /moto-api/data.json has the same under ses -> Message, but serializes every backend
    (megabytes once tests have run), which is slow; this reads only SES.
    """
    from moto.ses.models import ses_backends

    out = []
    for account in ses_backends.values():
        for backend in account.values():
            for m in backend.sent_messages:
                out.append(
                    {
                        "id": getattr(m, "id", None),
                        "source": getattr(m, "source", None),
                        "subject": getattr(m, "subject", None),
                        "body": getattr(m, "body", None),
                        "destinations": getattr(m, "destinations", {}),
                    }
                )
    return out


def reply(start_response, status: str, payload, headers=()) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers])
    return [body]


def refuse(environ, start_response) -> list[bytes]:
    """GET: the refused addresses; POST {"address", "refuse", "error"?}: refuse one, or not."""
    if environ.get("REQUEST_METHOD") == "GET":
        return reply(start_response, "200 OK", refused)
    if environ.get("REQUEST_METHOD") != "POST":
        return reply(start_response, "405 Method Not Allowed", {"message": "GET or POST"}, [("Allow", "GET, POST")])
    try:
        request = json.loads(get_input_stream(environ).read() or b"null")
        address = request["address"].strip().lower()
        on = request.get("refuse", True)
        error = request.get("error", DEFAULT_SES_ERROR)
        if not address or not isinstance(on, bool) or error not in SES_ERRORS:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        return reply(start_response, "400 Bad Request", {
            "message": 'expected {"address": "...", "refuse": true|false, "error": one of '
                       f"{sorted(SES_ERRORS)} (default {DEFAULT_SES_ERROR})}}"
        })
    if on:
        refused[address] = error
    else:
        refused.pop(address, None)
    return reply(start_response, "200 OK", {"address": address, "refused": on, "error": error if on else None})


def refused_recipient(body: bytes) -> tuple[str, str] | None:
    """(address, error) when a SendEmail request's Destination names a refused address."""
    if not refused:
        return None
    try:
        destination = json.loads(body or b"{}").get("Destination") or {}
    except (ValueError, AttributeError):
        return None  # moto answers a malformed request itself
    for field in ("ToAddresses", "CcAddresses", "BccAddresses"):
        for address in destination.get(field) or []:
            if isinstance(address, str):
                # "Name <a@example.com>" names a@example.com.
                bare = address.rsplit("<", 1)[-1].rstrip(">").strip().lower()
                if bare in refused:
                    return bare, refused[bare]
    return None


def serialized(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        path = environ.get("PATH_INFO")
        if path == MAIL_PATH:
            with lock:
                body = json.dumps(sent_mail()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == REFUSE_PATH:
            with lock:
                return refuse(environ, start_response)
        if path == SEND_EMAIL_PATH and environ.get("REQUEST_METHOD") == "POST":
            # Read once, then handed on to moto as a fresh stream.
            request = get_input_stream(environ).read()
            environ["wsgi.input"] = io.BytesIO(request)
            environ["CONTENT_LENGTH"] = str(len(request))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            environ["wsgi.input_terminated"] = False
            with lock:
                hit = refused_recipient(request)
            if hit:
                address, error = hit
                status = SES_ERRORS[error]
                return reply(
                    start_response,
                    f"{status} {HTTP_STATUS_CODES.get(status, 'Error')}",
                    {"message": f"refused locally for {address} (infra/local/emulator.py {REFUSE_PATH})"},
                    [("x-amzn-ErrorType", error), ("x-amzn-RequestId", str(uuid.uuid4()))],
                )
        with lock:
            # Materialize the body inside the lock: the app may be lazy.
            return list(app(environ, start_response))

    return wrapped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, args.port, serialized(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
