"""The local API Gateway's log (gateway.py and its apigw_* modules): a line per event, timed.

One function for every module that reports something (a failed function, watch not answering,
the API keys unreadable), so that the gateway's log (`$RUN_DIR/gateway.log` under `make dev`)
reads as one stream. Each line is flushed at once: the log is a file read while the gateway runs.
"""

from __future__ import annotations

import time
from typing import Any


def log(fmt: str, *args: Any) -> None:
    print(time.strftime("%H:%M:%S ") + (fmt % args if args else fmt), flush=True)
