#!/usr/bin/env python3
"""The cost model: dollars per million requests, per route, from the CPU figures `make bench`
wrote to target/bench/results.json and the AWS calls each route makes. Prints markdown;
`--auth-sizes` prints the login cost and latency at several memory sizes.

The model, per request:
- Lambda: CPU time / vCPU share + waits on AWS. A function gets memory / 1,769 MB of a vCPU
  (one full vCPU at 1,769 MB; a single thread gains nothing above it). Each AWS call on the path
  adds `AWS_CALL_MS` of waiting, in sequence (an assumption: an in-region round trip). The number
  of calls is the one `make bench` counted per invocation (its kept-alive front counts every
  request a function sends), else the `AWS` table's. Billed per ms (rounded up), at the
  function's MemorySize in template.yaml, plus the per-request charge. `make bench` prints the
  same billed duration per route (`billed()` below) and draws it in target/bench/report.html.
- API Gateway REST: per request. DynamoDB on-demand: per RRU and WRU. SES: per message sent.

The routes are the cases `make bench` timed in Lambda mode that `AWS` below describes, in the
bench's order; the other timed cases are listed as not priced. An entry of `AWS` for a case the
results lack is an error (a renamed event, a route the bench no longer times).

The CPU figures are this machine's (x86_64, release build); Graviton cores differ by tens of
percent, which moves the Lambda column, not the others.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "target" / "bench" / "results.json"
TEMPLATE = ROOT / "template.yaml"

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
# The CPU an SDK call costs the function (signing, serialization): an assumption, for routes the
# bench times only in part (a webhook delivery's claim and finish, beyond the ping it times).
SDK_CALL_CPU_US = 450.0


@dataclass(frozen=True)
class Aws:
    """What a route does besides its own CPU: sequential AWS calls, read and write units, mails
    sent, and CPU the bench cannot time (`extra_cpu_us`). From the code (see the guide's
    "Cost per route")."""

    calls: int = 0
    rru: float = 0
    wru: float = 0
    ses: int = 0
    extra_cpu_us: float = 0
    label: str = ""


# Keyed by the bench case (events/<function>/<case>.json) whose CPU the route takes.
AWS: dict[str, Aws] = {
    "health/liveness": Aws(),
    "health/readiness": Aws(label="(cached)"),
    # The access check: one UpdateItem on the user item that checks the token and counts the
    # request (ReturnValues ALL_NEW); 1 WRU while the item stays under 1 KB.
    "users/me": Aws(calls=1, wru=1),
    "auth/refresh": Aws(calls=4, rru=2, wru=2),
    "auth/login": Aws(calls=8, rru=2, wru=10),
    "auth/signup": Aws(calls=5, wru=14, ses=1),
    "uploads/list": Aws(calls=3, rru=4, wru=1),
    # A delivery: the ping's CPU plus two SDK calls (claim, finish), estimated.
    "webhooks/github-ping": Aws(calls=2, wru=2, extra_cpu_us=2 * SDK_CALL_CPU_US, label="(a push: the ping, claim and finish)"),
    "docs/openapi": Aws(),
    "docs/swagger": Aws(),
}


class CostError(Exception):
    """The results and the model disagree, or there are no results."""


# `MemorySize: 256`, or `MemorySize: !If [Condition, <when true>, <otherwise>]`: a condition
# (Managed Instances) is off by default, so its "otherwise" is the Lambda default priced here.
MEMORY = r"MemorySize: (?:(\d+)|!If \[\s*\w+\s*,\s*\d+\s*,\s*(\d+)\s*\])"


def _memory(match: re.Match[str] | None) -> int | None:
    return int(match.group(1) or match.group(2)) if match else None


def memory_sizes(template: str) -> dict[str, int]:
    """MemorySize per function binary, from template.yaml (Globals' for a function without one).
    Read as text: the template's CloudFormation tags need no YAML library here."""
    default = None
    globals_fn = re.search(r"^Globals:\n  Function:\n((?:    .*\n|\s*\n)+)", template, re.M)
    if globals_fn:
        default = _memory(re.search(r"^    " + MEMORY, globals_fn.group(1), re.M))
    sizes = {}
    # Each resource: two-space indented name, then its lines until the next one.
    for block in re.split(r"^  (?=[A-Za-z0-9]+:\s*$)", template, flags=re.M):
        if "Type: AWS::Serverless::Function" not in block:
            continue
        binary = re.search(r"^        Binary: (\S+)", block, re.M)
        memory = _memory(re.search(r"^      " + MEMORY, block, re.M))
        if binary:
            size = memory if memory is not None else default
            if size is None:
                raise CostError(f"template.yaml: {binary.group(1)} has no MemorySize and Globals sets none")
            sizes[binary.group(1)] = size
    return sizes


def billed(cpu_us: float, calls: float, memory_mb: int) -> tuple[float, int]:
    """Duration and billed ms of one invocation: CPU at the memory's share of a vCPU, plus
    `AWS_CALL_MS` per AWS call in sequence, rounded up to the ms."""
    share = min(memory_mb / FULL_VCPU_MB, 1.0)
    duration_ms = cpu_us / 1000 / share + calls * AWS_CALL_MS
    return duration_ms, max(1, math.ceil(duration_ms))


def per_request(cpu_us: float, aws: Aws, memory_mb: int, calls: float | None = None) -> dict[str, float]:
    duration_ms, billed_ms = billed(cpu_us + aws.extra_cpu_us, aws.calls if calls is None else calls, memory_mb)
    lam = billed_ms / 1000 * memory_mb / 1024 * LAMBDA_ARM_GB_S + LAMBDA_REQUEST
    return {
        "duration_ms": duration_ms,
        "billed_ms": billed_ms,
        "lambda": lam,
        "apigw": APIGW_REST_REQUEST,
        "dynamo": aws.rru * DYNAMO_RRU + aws.wru * DYNAMO_WRU,
        "ses": aws.ses * SES_MESSAGE,
    }


@dataclass
class Route:
    case: str
    function: str
    label: str
    cpu_us: float
    aws: Aws
    # AWS calls per invocation as `make bench` counted them (None: the table's `calls`).
    measured_calls: float | None = None

    @property
    def calls(self) -> float:
        return self.aws.calls if self.measured_calls is None else self.measured_calls


def routes(section: dict, cpu_overrides: dict[str, float]) -> tuple[list[Route], list[str]]:
    """The priced routes (`AWS`'s cases, in the bench's order) and the timed cases left
    unpriced; errors where the model names what the bench did not time."""
    timed = [c for c in section["cases"] if c["via"] == "lambda"]
    names = {c["case"] for c in timed}
    problems = []
    if not section.get("only"):
        problems += [f"{case}: in cost.py's AWS table, but not in the bench results" for case in AWS if case not in names]
    problems += [f"--cpu {case}: not a case of the bench results" for case in cpu_overrides if case not in names]
    if problems:
        raise CostError("; ".join(problems))
    priced, unpriced = [], []
    for c in timed:
        aws = AWS.get(c["case"])
        if aws is None:
            unpriced.append(c["case"])
            continue
        label = f"{c['label']} {aws.label}".strip()
        # A webhook delivery's claim and finish are estimated (`extra_cpu_us`): its calls too.
        measured = c.get("aws_calls") if not aws.extra_cpu_us else None
        priced.append(Route(c["case"], c["function"], label, cpu_overrides.get(c["case"], c["cpu_us"]["median"]), aws,
                            None if measured is None else round(measured, 2)))
    return priced, unpriced


def route_figures(section: dict, memory: dict[str, int]) -> dict[str, dict[str, float]]:
    """Per Lambda-mode case of a bench `cpu` section: CPU µs, AWS calls, billed ms at the
    template's memory and, for the routes the `AWS` table prices, $ per million."""
    out = {}
    for c in section.get("cases", []):
        mb = memory.get(c["function"])
        if c["via"] != "lambda" or mb is None:
            continue
        aws = AWS.get(c["case"])
        measured = c.get("aws_calls")
        calls = measured if measured is not None and not (aws and aws.extra_cpu_us) else (aws.calls if aws else 0)
        cpu = c["cpu_us"]["median"]
        row = {"cpu_us": cpu, "calls": calls, "mb": mb, "billed_ms": billed(cpu, calls, mb)[1]}
        if aws is not None:
            c_ = per_request(cpu, aws, mb, calls)
            row["usd_per_million"] = (c_["lambda"] + c_["apigw"] + c_["dynamo"] + c_["ses"]) * 1e6
            row["billed_ms"] = c_["billed_ms"]
        out[f"{c['case']} ({c['label']})"] = row
    return out


def _bars(title: str, unit: str, rows: list[tuple[str, float | None, float | None]], fmt: str) -> str:
    """An inline SVG of horizontal bars: per row the previous value (grey) above the current (blue)."""
    from html import escape

    label_w, bar_w, row_h = 420, 380, 34
    top = max([v for _, a, b in rows for v in (a, b) if v is not None] or [1.0]) or 1.0
    height = 30 + row_h * len(rows)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 110}" height="{height}" '
             f'font-family="sans-serif" font-size="12"><text x="0" y="16" font-weight="bold">{escape(title)} ({escape(unit)})</text>']
    for i, (label, before, after) in enumerate(rows):
        y = 28 + i * row_h
        parts.append(f'<text x="0" y="{y + 17}">{escape(label)}</text>')
        for j, (value, colour) in enumerate(((before, "#b0b0b0"), (after, "#3b6fd1"))):
            if value is None:
                continue
            w = max(1.0, value / top * bar_w)
            parts.append(f'<rect x="{label_w}" y="{y + j * 14}" width="{w:.1f}" height="12" fill="{colour}"/>'
                         f'<text x="{label_w + w + 4:.1f}" y="{y + j * 14 + 10}">{format(value, fmt)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(current: dict, previous: dict | None) -> str:
    """target/bench/report.html: per-route CPU, billed ms and $ per million, against the previous
    results file when there is one; the SDK breakdown when measured. Plain HTML and inline SVG."""
    from html import escape

    memory = memory_sizes(TEMPLATE.read_text())
    now_s = current.get("sections", {}).get("cpu")
    was_s = (previous or {}).get("sections", {}).get("cpu")
    now = route_figures(now_s, memory) if now_s else {}
    was = route_figures(was_s, memory) if was_s else {}
    names = list(now) + [n for n in was if n not in now]

    def stamp(sec: dict | None) -> str:
        if not sec:
            return "none"
        return escape(f"{sec['measured_at']}, commit {sec['commit']}" + (" (quick)" if sec.get("quick") else ""))

    out = ["<!doctype html><meta charset='utf-8'><title>make bench report</title>",
           "<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
           "td:first-child,th:first-child{text-align:left}table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style>",
           "<h1>make bench</h1>",
           f"<p>Current (blue): {stamp(now_s)}. Previous (grey): {stamp(was_s)}. Lambda mode, median CPU per invocation; "
           f"billed = CPU ÷ (MemorySize ÷ {FULL_VCPU_MB} MB) + AWS calls counted × {AWS_CALL_MS:g} ms (assumed in-region), "
           f"rounded up; $ per million: Lambda arm64 + API Gateway REST + DynamoDB + SES, prices of {PRICES_TAKEN}.</p>"]
    if not names:
        out.append("<p>No CPU figures: run <code>make bench MODE=cpu</code>.</p>")
    for key, title, unit, fmt in (("cpu_us", "CPU per invocation", "µs", ".0f"), ("billed_ms", "Billed duration at the template's MemorySize", "ms", ".0f"),
                                  ("usd_per_million", "Cost", "$ per million requests", ".2f")):
        rows = [(n, was.get(n, {}).get(key), now.get(n, {}).get(key)) for n in names]
        rows = [r for r in rows if r[1] is not None or r[2] is not None]
        if rows:
            out.append("<h2>" + escape(title) + "</h2>" + _bars(title, unit, rows, fmt))
    if names:
        out.append("<h2>Table</h2><table><tr><th>route</th><th>MB</th><th>AWS calls</th><th>CPU µs</th><th>before</th>"
                   "<th>billed ms</th><th>before</th><th>$ / M</th><th>before</th></tr>")
        for n in names:
            a, b = now.get(n, {}), was.get(n, {})
            cell = lambda d, k, f: "" if d.get(k) is None else format(d[k], f)  # noqa: E731
            out.append(f"<tr><td>{escape(n)}</td><td>{a.get('mb', b.get('mb', ''))}</td><td>{cell(a, 'calls', '.2f')}</td>"
                       f"<td>{cell(a, 'cpu_us', '.0f')}</td><td>{cell(b, 'cpu_us', '.0f')}</td><td>{cell(a, 'billed_ms', '.0f')}</td>"
                       f"<td>{cell(b, 'billed_ms', '.0f')}</td><td>{cell(a, 'usd_per_million', '.2f')}</td><td>{cell(b, 'usd_per_million', '.2f')}</td></tr>")
        out.append("</table>")
    sdk = current.get("sections", {}).get("sdk", {}).get("figures")
    if sdk:
        out.append("<h2>One DynamoDB call through the SDK (bench-sdk), CPU µs per call</h2>")
        for transport, ops in sdk.get("transports", {}).items():
            rows = []
            for op, cells in ops.items():
                rows.append((f"{op}: bare client", None, cells.get("bare")))
                rows.append((f"{op}: functions' client", None, cells.get("functions")))
            out.append(_bars(transport, "µs", rows, ".0f"))
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default=str(RESULTS), help="make bench's results.json")
    parser.add_argument("--cpu", action="append", default=[], help="CASE=µs, overriding the results (e.g. users/me=1060)")
    parser.add_argument("--memory", action="append", default=[], help="FUNCTION=MB, overriding template.yaml")
    parser.add_argument("--auth-sizes", action="store_true")
    args = parser.parse_args()
    try:
        try:
            results = json.loads(Path(args.results).read_text())
        except FileNotFoundError:
            raise CostError(f"no {args.results}: run `make bench` first") from None
        memory = memory_sizes(TEMPLATE.read_text())
        memory.update({k: int(v) for k, v in (m.split("=", 1) for m in args.memory)})
        cpu = {k: float(v) for k, v in (c.rsplit("=", 1) for c in args.cpu)}
        section = results.get("sections", {}).get("cpu")
        if not section:
            raise CostError(f"no CPU figures in {args.results}: run `make bench` (or `make bench MODE=cpu`)")
        table, unpriced = routes(section, cpu)
        for route in table:
            if route.function not in memory:
                raise CostError(f"{route.function}: no function with `Binary: {route.function}` in template.yaml")
    except CostError as err:
        print(f"cost: {err}", file=sys.stderr)
        return 1

    s = section
    print(f"Prices: us-east-1, arm64, taken {PRICES_TAKEN}. $ per million requests. "
          f"Billed = CPU / vCPU share + AWS calls x {AWS_CALL_MS:g} ms (assumed in-region round trip).")
    print(f"CPU: `make bench`, Lambda mode, median; {s['measured_at']}, commit {s['commit']}, {s['machine']}"
          + (" (quick run)" if s.get("quick") else "") + ".\n")
    print("| route | case | MB | CPU | AWS calls | RRU | WRU | billed | Lambda | API GW | DynamoDB | SES | total |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        mb = memory[r.function]
        c = per_request(r.cpu_us, r.aws, mb, r.calls)
        total = c["lambda"] + c["apigw"] + c["dynamo"] + c["ses"]
        counted = "" if r.measured_calls is None else " (counted)"
        print(
            f"| `{r.label}` | {r.case} | {mb} | {(r.cpu_us + r.aws.extra_cpu_us) / 1000:.2f} ms | {r.calls:g}{counted} | {r.aws.rru:g} "
            f"| {r.aws.wru:g} | {c['billed_ms']} ms | {c['lambda'] * 1e6:.2f} | {c['apigw'] * 1e6:.2f} "
            f"| {c['dynamo'] * 1e6:.2f} | {c['ses'] * 1e6:.2f} | **{total * 1e6:.2f}** |"
        )
    if unpriced:
        print(f"\nTimed but not priced (no entry in cost.py's AWS table): {', '.join(unpriced)}")
    if args.auth_sizes:
        by_case = {r.case: r for r in table}
        if "auth/login" not in by_case or "auth/refresh" not in by_case:
            print("cost: --auth-sizes needs auth/login and auth/refresh in the results", file=sys.stderr)
            return 1
        login, refresh = by_case["auth/login"], by_case["auth/refresh"]
        print("\nauth at other memory sizes (Lambda $ per million; the rest does not change):\n")
        print("| MB | vCPU | login billed | login Lambda $ | refresh billed | refresh Lambda $ |")
        print("|---|---|---|---|---|---|")
        for mb in (256, 512, 1024, 1769, 3008):
            lo = per_request(login.cpu_us, login.aws, mb, login.calls)
            re_ = per_request(refresh.cpu_us, refresh.aws, mb, refresh.calls)
            print(
                f"| {mb} | {min(mb / FULL_VCPU_MB, 1):.2f} | {lo['billed_ms']} ms | {lo['lambda'] * 1e6:.2f} "
                f"| {re_['billed_ms']} ms | {re_['lambda'] * 1e6:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
