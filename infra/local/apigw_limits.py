"""API Gateway's request limits: throttles, usage-plan quotas and API keys (for gateway.py).

A TokenBucket is a throttle: a usage plan's, per key, or the stage's `MethodSettings`, per
method. A Quota counts a key's requests per DAY, WEEK (from Monday) or MONTH, in UTC. Keys reads
the usage plans and API keys that bootstrap.py creates in the emulator, again every
`Keys.REFRESH` seconds and sooner for a key it has not seen (a test's own key works as soon as it
exists), and keeps each key's bucket and quota here: the emulator stores the plans but counts
nothing.
"""

from __future__ import annotations

import calendar
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild
# (gateway.py sets it first): set again before this module's own local imports.
sys.dont_write_bytecode = True
import cfn  # noqa: E402
from apigw_log import log  # noqa: E402


class TokenBucket:
    """API Gateway's throttle: `burst` tokens, refilled at `rate` per second, one a request."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        if self.rate < 0:  # -1: throttling off
            return True
        with self.lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


def period_start(period: str, epoch: float) -> int:
    """The UTC start of the quota period (DAY, WEEK from Monday, MONTH) holding `epoch`."""
    t = time.gmtime(epoch)
    day = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
    if period == "DAY":
        return day
    if period == "WEEK":
        return day - t.tm_wday * 86400
    return calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))


class Quota:
    """Requests per key per period."""

    def __init__(self, limit: int, period: str, clock: Callable[[], float] = time.time):
        self.limit, self.period, self.clock = limit, period, clock
        self.start, self.used = -1, 0
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            start = period_start(self.period, self.clock())
            if start != self.start:
                self.start, self.used = start, 0
            if self.used >= self.limit:
                return False
            self.used += 1
            return True


@dataclass
class Key:
    id: str
    value: str
    plan: str
    bucket: TokenBucket | None
    quota: Quota | None


class Keys:
    """The API keys of the usage plans on this API's stage, read from the emulator (where
    bootstrap.py creates them), with each key's throttle and quota kept here."""

    REFRESH = 10.0  # seconds before a key's state is read again from the emulator

    def __init__(self, endpoint: str | None, stage: str):
        self.endpoint, self.stage = endpoint, stage
        self.by_value: dict[str, Key] = {}
        self.api_id: str | None = None
        self.read_at = -1e9
        self.lock = threading.Lock()
        self._client = None

    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "apigateway",
                endpoint_url=self.endpoint,
                region_name=cfn.PSEUDO["AWS::Region"],
                aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
                config=Config(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10),
            )
        return self._client

    def refresh(self, force: bool = False) -> None:
        if not self.endpoint:
            return
        with self.lock:
            if not force and time.monotonic() - self.read_at < self.REFRESH:
                return
            self.read_at = time.monotonic()
            try:
                self._read()
            except Exception as err:  # the emulator down: keep what was read, say so
                log("API keys: cannot read them from %s (%s)", self.endpoint, err)

    def _read(self) -> None:
        c = self.client()
        apis = [a for a in c.get_rest_apis(limit=500).get("items", []) if a.get("name") == cfn.REST_API_NAME]
        if not apis:
            self.api_id, self.by_value = None, {}
            return
        self.api_id = apis[0]["id"]
        keys = {k["id"]: k for k in c.get_api_keys(includeValues=True, limit=500).get("items", [])}
        found: dict[str, Key] = {}
        for plan in c.get_usage_plans(limit=500).get("items", []):
            stages = plan.get("apiStages") or []
            if not any(s.get("apiId") == self.api_id and s.get("stage") == self.stage for s in stages):
                continue
            throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
            for plan_key in c.get_usage_plan_keys(usagePlanId=plan["id"], limit=500).get("items", []):
                key = keys.get(plan_key["id"])
                if not key or not key.get("enabled", True) or not key.get("value"):
                    continue
                old = self.by_value.get(key["value"])
                bucket = old.bucket if old else None
                limits = (float(throttle.get("rateLimit", -1)), int(throttle.get("burstLimit", -1)))
                if throttle and (bucket is None or (bucket.rate, bucket.burst) != limits):
                    bucket = TokenBucket(*limits)
                counter = old.quota if old else None
                if quota and (counter is None or (counter.limit, counter.period) != (quota["limit"], quota["period"])):
                    counter = Quota(int(quota["limit"]), str(quota["period"]))
                found[key["value"]] = Key(
                    id=key["id"],
                    value=key["value"],
                    plan=plan.get("name", plan["id"]),
                    bucket=bucket if throttle else None,
                    quota=counter if quota else None,
                )
        self.by_value = found

    def lookup(self, value: str) -> Key | None:
        self.refresh()
        key = self.by_value.get(value)
        if key is None:
            # A key created since the last read (a test's own) is valid at once.
            with self.lock:
                stale = time.monotonic() - self.read_at > 1.0
            if stale:
                self.refresh(force=True)
                key = self.by_value.get(value)
        return key

