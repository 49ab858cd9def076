#!/usr/bin/env python3
"""moto's AWS emulator server, with every request serialized behind one lock.

moto's backends are not thread-safe: under parallel requests its TransactWriteItems (which
deep-copies tables to roll back) fails with "dictionary changed size during iteration" and answers
500. Real DynamoDB applies each conditional write and transaction atomically, so serializing
requests gives the emulator AWS's semantics for the concurrency tests (50 parallel signups,
20 parallel refreshes). Connections are still accepted concurrently.

Usage: emulator.py --host 127.0.0.1 --port 5000
"""

import argparse
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


def serialized(app):
    lock = threading.Lock()

    def wrapped(environ, start_response):
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
