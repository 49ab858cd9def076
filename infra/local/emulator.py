#!/usr/bin/env python3
"""moto's AWS emulator server, with every request serialized behind one lock.

moto's backends are not thread-safe: under parallel requests its TransactWriteItems (which
deep-copies tables to roll back) fails with "dictionary changed size during iteration" and answers
500. Real DynamoDB applies each conditional write and transaction atomically, so serializing
requests gives the emulator AWS's semantics for the concurrency tests (50 parallel signups,
20 parallel refreshes). Connections are still accepted concurrently.

It also serves GET /_local/ses/messages: the mails SES accepted, without the cost of
/moto-api/data.json (which dumps every backend).

Usage: emulator.py --host 127.0.0.1 --port 5000
"""

import argparse
import json
import os
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


MAIL_PATH = "/_local/ses/messages"


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


def serialized(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
        if environ.get("PATH_INFO") == MAIL_PATH:
            with lock:
                body = json.dumps(sent_mail()).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
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
