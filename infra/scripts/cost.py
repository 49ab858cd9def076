#!/usr/bin/env python3
"""The README's cost model: dollars per million requests, per route, from `make bench`'s CPU
figures and the AWS calls each route makes. Prints markdown; `--auth-sizes` prints the login
cost and latency at several memory sizes.

The model, per request:
- Lambda: CPU time / vCPU share + waits on AWS. A function gets memory / 1,769 MB of a vCPU
  (one full vCPU at 1,769 MB; a single thread gains nothing above it). Each AWS call on the path
  adds `AWS_CALL_MS` of waiting, in sequence. Billed per ms (rounded up), at the memory size,
  plus the per-request charge.
- API Gateway REST: per request. DynamoDB on-demand: per RRU and WRU. SES: per message sent.

The CPU figures are this machine's (x86_64, release build, `make bench`, Lambda mode); Graviton
cores differ by tens of percent, which moves the Lambda column, not the others.
"""

from __future__ import annotations

import argparse
import math

# Public prices, us-east-1, as listed on the AWS pricing pages on 2026-11-21.
PRICES_TAKEN = "2026-11-21"
LAMBDA_ARM_GB_S = 0.0000133334  # arm64, first 7.5 billion GB-s a month
LAMBDA_REQUEST = 0.20 / 1e6
APIGW_REST_REQUEST = 3.50 / 1e6  # first 333 million a month
DYNAMO_RRU = 0.125 / 1e6  # on-demand, since the November 2024 reduction
DYNAMO_WRU = 0.625 / 1e6
SES_MESSAGE = 0.10 / 1000
FULL_VCPU_MB = 1769
# An in-region DynamoDB call, request to response, as the SDK sees it: single-digit ms; 4 ms here.
AWS_CALL_MS = 4.0

# route: function, CPU µs per request (make bench, Lambda mode, median, 2026-11-22), sequential
# AWS calls, RRU, WRU, SES messages. AWS calls and units from the code (see README "Cost per route").
ROUTES = [
    ("GET /health/liveness", "health", 140, 0, 0, 0, 0),
    ("GET /health/readiness (cached)", "health", 150, 0, 0, 0, 0),
    ("GET /users/me", "users", 1060, 2, 3, 1, 0),
    ("POST /auth/refresh", "auth", 2000, 4, 2, 2, 0),
    ("POST /auth/login", "auth", 19000, 8, 2, 10, 0),
    ("POST /auth/signup", "auth", 19000, 5, 0, 14, 1),
    ("GET /uploads", "uploads", 1450, 3, 4, 1, 0),
    # A delivery = the ping's 150 µs + two SDK calls (claim, finish) at ~0.45 ms each: estimated.
    ("POST /webhooks/github (push)", "webhooks", 1050, 2, 0, 2, 0),
    ("GET /openapi.json", "docs", 400, 0, 0, 0, 0),
]


def per_request(cpu_us: float, calls: int, rru: float, wru: float, ses: int, memory_mb: int) -> dict[str, float]:
    share = min(memory_mb / FULL_VCPU_MB, 1.0)
    duration_ms = cpu_us / 1000 / share + calls * AWS_CALL_MS
    billed_ms = max(1, math.ceil(duration_ms))
    lam = billed_ms / 1000 * memory_mb / 1024 * LAMBDA_ARM_GB_S + LAMBDA_REQUEST
    return {
        "duration_ms": duration_ms,
        "billed_ms": billed_ms,
        "lambda": lam,
        "apigw": APIGW_REST_REQUEST,
        "dynamo": rru * DYNAMO_RRU + wru * DYNAMO_WRU,
        "ses": ses * SES_MESSAGE,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", action="append", default=[], help="ROUTE=µs, overriding the table")
    parser.add_argument("--memory", action="append", default=[], help="FUNCTION=MB")
    parser.add_argument("--auth-sizes", action="store_true")
    args = parser.parse_args()
    memory = {"health": 128, "users": 256, "auth": 1024, "uploads": 256, "webhooks": 256, "docs": 128}
    memory.update({k: int(v) for k, v in (m.split("=") for m in args.memory)})
    cpu = dict(c.rsplit("=", 1) for c in args.cpu)

    print(f"Prices: us-east-1, arm64, taken {PRICES_TAKEN}. $ per million requests.\n")
    print("| route | MB | CPU | AWS calls | RRU | WRU | billed | Lambda | API GW | DynamoDB | SES | total |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for route, fn, cpu_us, calls, rru, wru, ses in ROUTES:
        cpu_us = float(cpu.get(route, cpu_us))
        c = per_request(cpu_us, calls, rru, wru, ses, memory[fn])
        total = c["lambda"] + c["apigw"] + c["dynamo"] + c["ses"]
        print(
            f"| `{route}` | {memory[fn]} | {cpu_us / 1000:.2f} ms | {calls} | {rru:g} | {wru:g} | {c['billed_ms']} ms "
            f"| {c['lambda'] * 1e6:.2f} | {c['apigw'] * 1e6:.2f} | {c['dynamo'] * 1e6:.2f} | {c['ses'] * 1e6:.2f} | **{total * 1e6:.2f}** |"
        )
    if args.auth_sizes:
        print("\nauth at other memory sizes (Lambda $ per million; the rest does not change):\n")
        print("| MB | vCPU | login billed | login Lambda $ | refresh billed | refresh Lambda $ |")
        print("|---|---|---|---|---|---|")
        login = next(r for r in ROUTES if r[0] == "POST /auth/login")
        refresh = next(r for r in ROUTES if r[0] == "POST /auth/refresh")
        for mb in (256, 512, 1024, 1769, 3008):
            lo = per_request(float(cpu.get(login[0], login[2])), *login[3:], mb)
            re = per_request(float(cpu.get(refresh[0], refresh[2])), *refresh[3:], mb)
            print(
                f"| {mb} | {min(mb / FULL_VCPU_MB, 1):.2f} | {lo['billed_ms']} ms | {lo['lambda'] * 1e6:.2f} "
                f"| {re['billed_ms']} ms | {re['lambda'] * 1e6:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
