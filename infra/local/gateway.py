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

Usage: gateway.py --port 9000 --watch-port 9001 [--endpoint URL] [--template PATH]
       gateway.py --routes     (the route table, JSON, then exit)
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import http.client
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit

# Imported from this directory; no bytecode next to the sources, where a new file would make
# `cargo lambda watch` rebuild.
sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import cfn  # noqa: E402

# API Gateway's payload limit (REST): a larger body is REQUEST_TOO_LARGE before any function runs.
MAX_BODY = 10 * 1024 * 1024
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
LISTEN_BACKLOG = 1024
# An idle kept-alive client connection is closed after this many seconds.
IDLE_TIMEOUT = 75

# Request headers API Gateway never passes to an integration.
DROPPED_REQUEST_HEADERS = {
    "connection", "content-length", "content-md5", "expect", "max-forwards",
    "proxy-authenticate", "server", "te", "transfer-encoding", "trailer", "upgrade",
    "www-authenticate", "keep-alive", "proxy-connection",
}
# Response headers of a Lambda proxy integration API Gateway renames to x-amzn-Remapped-<name>
# (it sets its own), and those it drops.
REMAPPED_RESPONSE_HEADERS = {"connection", "content-length", "date", "server"}
DROPPED_RESPONSE_HEADERS = {"transfer-encoding"}
PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}

# Gateway response types: API Gateway's default status, default message, and the fallback type.
RESPONSE_TYPES = {
    "MISSING_AUTHENTICATION_TOKEN": (403, "Missing Authentication Token"),
    "INVALID_API_KEY": (403, "Forbidden"),
    "THROTTLED": (429, "Too Many Requests"),
    "QUOTA_EXCEEDED": (429, "Limit Exceeded"),
    "REQUEST_TOO_LARGE": (413, "Request Too Long"),
    "INTEGRATION_FAILURE": (504, "Internal server error"),
    "INTEGRATION_TIMEOUT": (504, "Endpoint request timed out"),
    "API_CONFIGURATION_ERROR": (500, "Internal server error"),
}
DEFAULT_TEMPLATE = '{"message":$context.error.messageString}'
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def log(fmt: str, *args: Any) -> None:
    print(time.strftime("%H:%M:%S ") + (fmt % args if args else fmt), flush=True)


# ------------------------------------------------------------------------------------ the API


@dataclass(frozen=True)
class Route:
    method: str  # GET, POST, ..., or ANY
    path: str  # /api/v1/users/{id}
    function: str  # the binary watch runs: Metadata.BuildProperties.Binary
    api_key_required: bool
    timeout: int  # the function's Timeout, seconds
    source: str  # LogicalId.EventName, for messages

    def table_row(self) -> dict:
        return {
            "method": self.method,
            "path": self.path,
            "function": self.function,
            "api_key_required": self.api_key_required,
        }


@dataclass
class GatewayResponse:
    status: int | None
    headers: dict[str, str]  # response header -> source ('literal', context.x, method.request.header.x)
    templates: dict[str, str]  # content type -> template


@dataclass
class Api:
    logical_id: str
    stage: str
    routes: list[Route]
    responses: dict[str, GatewayResponse]
    # (resource path, method) patterns, "*" for any: (rate per second, burst); the first that
    # applies wins, so specific settings come before the stage-wide "/*" "*".
    throttles: list[tuple[str, str, float, int]]
    tracing: bool = False
    by_path: dict[str, dict[str, Route]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for route in self.routes:
            self.by_path.setdefault(route.path, {})[route.method] = route

    def throttle_for(self, path: str, method: str) -> tuple[float, int] | None:
        for rpath, rmethod, rate, burst in self.throttles:
            if rpath in ("/*", path) and rmethod in ("*", method):
                return rate, burst
        return None


def load_api(stack: cfn.Stack, api_id: str | None = None) -> Api:
    """The REST API template.yaml deploys: its routes, gateway responses and throttles."""
    template = stack.template
    apis = stack.resources("AWS::Serverless::Api")
    if api_id is None:
        if len(apis) != 1:
            raise cfn.TemplateError(f"{len(apis)} AWS::Serverless::Api resources; name one with --api")
        api_id = next(iter(apis))
    if api_id not in apis:
        raise cfn.TemplateError(f"no AWS::Serverless::Api {api_id!r}")
    globals_ = template.get("Globals") or {}
    props = stack.resolve({**(globals_.get("Api") or {}), **(apis[api_id].get("Properties") or {})})
    for unsupported in ("Cors", "DefinitionBody", "DefinitionUri"):
        if unsupported in props:
            raise cfn.TemplateError(f"{api_id}.{unsupported} is not emulated by infra/local/gateway.py")
    auth = props.get("Auth") or {}
    for unsupported in ("Authorizers", "DefaultAuthorizer", "UsagePlan", "ResourcePolicy"):
        if unsupported in auth:
            raise cfn.TemplateError(f"{api_id}.Auth.{unsupported} is not emulated by infra/local/gateway.py")
    key_default = cfn.truthy(auth.get("ApiKeyRequired", False))

    fn_globals = stack.resolve(globals_.get("Function") or {})
    routes: list[Route] = []
    seen: dict[tuple[str, str], str] = {}
    for logical_id, resource in stack.resources("AWS::Serverless::Function").items():
        binary = ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
        fn_props = resource.get("Properties") or {}
        timeout = int(stack.resolve(fn_props.get("Timeout", fn_globals.get("Timeout", 3))))
        for name, event in (fn_props.get("Events") or {}).items():
            event = stack.resolve(event)
            if event.get("Type") != "Api":
                continue
            where = f"{logical_id}.{name}"
            ev = event.get("Properties") or {}
            if ev.get("RestApiId") != {"Ref": api_id}:
                raise cfn.TemplateError(f"{where}: RestApiId is not !Ref {api_id} (not emulated)")
            if not binary:
                raise cfn.TemplateError(f"{logical_id}: no Metadata.BuildProperties.Binary to run")
            ev_auth = ev.get("Auth") or {}
            if ev_auth.get("Authorizer", "NONE") != "NONE":
                raise cfn.TemplateError(f"{where}: authorizers are not emulated")
            method = str(ev["Method"]).upper()
            path = str(ev["Path"])
            if (path, method) in seen:
                raise cfn.TemplateError(f"{where}: {method} {path} already served by {seen[path, method]}")
            seen[path, method] = where
            routes.append(
                Route(
                    method=method,
                    path=path,
                    function=str(binary),
                    api_key_required=cfn.truthy(ev_auth.get("ApiKeyRequired", key_default)),
                    timeout=timeout,
                    source=where,
                )
            )
    routes.sort(key=lambda r: (r.path, r.method))

    responses: dict[str, GatewayResponse] = {}
    for kind, spec in (props.get("GatewayResponses") or {}).items():
        params = spec.get("ResponseParameters") or {}
        responses[kind] = GatewayResponse(
            status=int(spec["StatusCode"]) if spec.get("StatusCode") else None,
            headers={str(k): str(v) for k, v in (params.get("Headers") or {}).items()},
            templates={str(k): str(v) for k, v in (spec.get("ResponseTemplates") or {}).items()},
        )
    # The same, as plain CloudFormation resources attached to this API.
    for logical_id, resource in stack.resources("AWS::ApiGateway::GatewayResponse").items():
        spec = stack.resolve(resource.get("Properties") or {})
        if spec.get("RestApiId") != {"Ref": api_id}:
            continue
        prefix = "gatewayresponse.header."
        responses[spec["ResponseType"]] = GatewayResponse(
            status=int(spec["StatusCode"]) if spec.get("StatusCode") else None,
            headers={k[len(prefix):]: str(v) for k, v in (spec.get("ResponseParameters") or {}).items() if k.startswith(prefix)},
            templates={str(k): str(v) for k, v in (spec.get("ResponseTemplates") or {}).items()},
        )
    for kind, response in responses.items():
        for name, source in response.headers.items():
            if not valid_source(source):
                raise cfn.TemplateError(f"GatewayResponses.{kind}: header {name} from {source!r} is not emulated")

    throttles = []
    for setting in props.get("MethodSettings") or []:
        rate, burst = setting.get("ThrottlingRateLimit"), setting.get("ThrottlingBurstLimit")
        if rate is None and burst is None:
            continue
        resource_path = str(setting.get("ResourcePath", "/*")).replace("~1", "/")
        throttles.append(
            (
                resource_path,
                str(setting.get("HttpMethod", "*")).upper(),
                float(rate if rate is not None else -1),
                int(float(burst if burst is not None else -1)),
            )
        )
    throttles.sort(key=lambda t: (t[0] == "/*", t[1] == "*"))
    return Api(
        logical_id=api_id,
        stage=str(props["StageName"]),
        routes=routes,
        responses=responses,
        throttles=throttles,
        tracing=cfn.truthy(props.get("TracingEnabled", False)),
    )


# ------------------------------------------------------------------------------------ routing


def segments(path: str) -> list[str]:
    """/a/b/ -> ["a", "b"]; API Gateway ignores a trailing slash."""
    path = path.rstrip("/")
    return path[1:].split("/") if path else []


def match_resource(resource: str, path: str) -> tuple[list[int], dict[str, str]] | None:
    """Whether `path` (raw, percent-encoded) is on `resource`: per segment its rank (static 0,
    {param} 1, {greedy+} 2) and the path parameters (decoded), or None."""
    pattern, parts = segments(resource), segments(path)
    ranks: list[int] = []
    params: dict[str, str] = {}
    for i, part in enumerate(pattern):
        if part.startswith("{") and part.endswith("+}"):
            rest = "/".join(parts[i:])
            if not rest:
                return None
            params[part[1:-2]] = unquote(rest)
            ranks.append(2)
            return ranks, params
        if i >= len(parts):
            return None
        if part.startswith("{") and part.endswith("}"):
            if not parts[i]:
                return None
            params[part[1:-1]] = unquote(parts[i])
            ranks.append(1)
        elif unquote(parts[i]) == part:
            ranks.append(0)
        else:
            return None
    if len(pattern) != len(parts):
        return None
    return ranks, params


def resolve_route(api: Api, method: str, path: str) -> tuple[Route | None, str | None, dict[str, str]]:
    """The route for a request: (route or None, the resource path it matched or None, path
    parameters). The resource is chosen first, then its method: a resource without that method
    (nor ANY) is no route, whatever a less specific resource has."""
    best: tuple[list[int], str, dict[str, str]] | None = None
    for resource in api.by_path:
        found = match_resource(resource, path)
        if found and (best is None or found[0] < best[0]):
            best = (found[0], resource, found[1])
    if best is None:
        return None, None, {}
    methods = api.by_path[best[1]]
    return methods.get(method) or methods.get("ANY"), best[1], best[2]


# ------------------------------------------------------------------------------------ events


def request_time(epoch: float) -> str:
    """API Gateway's $context.requestTime: 21/Nov/2026:12:00:00 +0000 (English months, UTC)."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def trace_id(epoch: float) -> str:
    return f"Root=1-{int(epoch):08x}-{secrets.token_hex(12)}"


def parse_query(raw: str) -> list[tuple[str, str]]:
    """a=1&b=x%20y&a=2 -> [(a, 1), (b, x y), (a, 2)]: percent-decoded, a `+` kept (API Gateway
    does not read it as a space), a key without `=` has the empty value."""
    out = []
    for piece in raw.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        out.append((unquote(key), unquote(value)))
    return out


@dataclass
class Request:
    method: str
    target: str  # as on the request line: /path?query
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    local_port: int
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    epoch: float = field(default_factory=time.time)

    @property
    def raw_path(self) -> str:
        target = self.target
        if not target.startswith("/"):  # absolute-form: http://host/path
            target = urlsplit(target).path or "/"
            return target
        return target.split("?", 1)[0].split("#", 1)[0] or "/"

    @property
    def raw_query(self) -> str:
        return self.target.split("#", 1)[0].partition("?")[2]

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def host(self) -> str:
        return self.header("Host") or f"127.0.0.1:{self.local_port}"


def group_headers(items: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Single-value (the last value) and multi-value maps, names grouped case-insensitively
    under their first spelling."""
    names: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for key, value in items:
        name = names.setdefault(key.lower(), key)
        multi.setdefault(name, []).append(value)
    return {k: v[-1] for k, v in multi.items()}, multi


def build_event(
    api: Api,
    resource: str,
    path_params: Mapping[str, str],
    request: Request,
    api_id: str,
    key: tuple[str, str] | None = None,
) -> dict:
    """The REST (v1) proxy event API Gateway sends the function for this request."""
    items = [(k, v) for k, v in request.headers if k.lower() not in DROPPED_REQUEST_HEADERS]
    forwarded = request.header("X-Forwarded-For")
    items = [(k, v) for k, v in items if k.lower() not in ("x-forwarded-for", "x-forwarded-port", "x-forwarded-proto")]
    items.append(("X-Forwarded-For", f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip))
    items.append(("X-Forwarded-Port", str(request.local_port)))
    items.append(("X-Forwarded-Proto", "http"))
    if request.header("X-Amzn-Trace-Id") is None:
        items.append(("X-Amzn-Trace-Id", trace_id(request.epoch)))
    headers, multi_headers = group_headers(items)
    query = parse_query(request.raw_query)
    multi_query: dict[str, list[str]] = {}
    for k, v in query:
        multi_query.setdefault(k, []).append(v)
    host = request.host
    domain = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return {
        "resource": resource,
        "path": request.raw_path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_params) or None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": hashlib.sha256(resource.encode()).hexdigest()[:6],
            "resourcePath": resource,
            "httpMethod": request.method,
            "extendedRequestId": base64.b64encode(secrets.token_bytes(12)).decode()[:15] + "=",
            "requestTime": request_time(request.epoch),
            "path": f"/{api.stage}{request.raw_path}",
            "accountId": cfn.PSEUDO["AWS::AccountId"],
            "protocol": "HTTP/1.1",
            "stage": api.stage,
            "domainPrefix": domain.split(".", 1)[0],
            "requestTimeEpoch": int(request.epoch * 1000),
            "requestId": request.request_id,
            "identity": {
                "cognitoIdentityPoolId": None,
                "accountId": None,
                "cognitoIdentityId": None,
                "caller": None,
                "sourceIp": request.source_ip,
                "principalOrgId": None,
                "accessKey": None,
                "cognitoAuthenticationType": None,
                "cognitoAuthenticationProvider": None,
                "userArn": None,
                "userAgent": request.header("User-Agent"),
                "user": None,
                "apiKey": key[1] if key else None,
                "apiKeyId": key[0] if key else None,
            },
            "domainName": domain,
            "apiId": api_id,
        },
        # BinaryMediaTypes */*: every body reaches the function base64-encoded, as sent.
        "body": base64.b64encode(request.body).decode() if request.body else None,
        "isBase64Encoded": bool(request.body),
    }


# ------------------------------------------------------------------------------------ responses


class IntegrationError(Exception):
    """The function did not give a usable answer: a gateway response of `kind`."""

    def __init__(self, kind: str, status: int, why: str):
        super().__init__(why)
        self.kind, self.status, self.why = kind, status, why


def header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        raise IntegrationError("INTEGRATION_FAILURE", 502, f"header value {value!r} is not a string")
    if "\r" in value or "\n" in value:
        raise IntegrationError("INTEGRATION_FAILURE", 502, f"header value {value!r} spans lines")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as err:
        raise IntegrationError("INTEGRATION_FAILURE", 502, f"header value {value!r}: {err}") from None
    return value


def proxy_response(payload: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """A Lambda proxy (v1) response as API Gateway turns it into HTTP: status, headers (both maps
    merged, multiValueHeaders winning a name both have; Content-Type application/json unless
    set; Date, Server, Connection, Content-Length remapped), body (base64 decoded when marked)."""

    def malformed(why: str) -> IntegrationError:
        return IntegrationError("INTEGRATION_FAILURE", 502, f"Malformed Lambda proxy response: {why}")

    try:
        out = json.loads(payload)
    except ValueError:
        raise malformed("not JSON") from None
    if not isinstance(out, dict):
        raise malformed("not an object")
    extra = set(out) - PROXY_RESPONSE_KEYS
    if extra:
        raise malformed(f"unexpected fields {sorted(extra)}")
    try:
        status = int(out.get("statusCode") or 200)
    except (TypeError, ValueError):
        raise malformed(f"statusCode {out.get('statusCode')!r}") from None
    if not 100 <= status <= 599:
        raise malformed(f"statusCode {status}")
    single = out.get("headers") or {}
    multi = out.get("multiValueHeaders") or {}
    if not isinstance(single, dict) or not isinstance(multi, dict):
        raise malformed("headers are not objects")
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in single.items():
        merged[name.lower()] = (name, [header_value(value)])
    for name, values in multi.items():
        values = values if isinstance(values, list) else [values]
        merged[name.lower()] = (name, [header_value(v) for v in values])
    if "content-type" not in merged:
        merged["content-type"] = ("Content-Type", ["application/json"])
    headers = []
    for lower, (name, values) in merged.items():
        if lower in DROPPED_RESPONSE_HEADERS:
            continue
        if lower in REMAPPED_RESPONSE_HEADERS:
            name = f"x-amzn-Remapped-{name}"
        headers.extend((name, v) for v in values)
    body = out.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise malformed("body is not a string")
    elif out.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except ValueError:
            raise IntegrationError("API_CONFIGURATION_ERROR", 500, "body is not valid base64") from None
    else:
        data = body.encode()
    return status, headers, data


CONTEXT_REFERENCE = re.compile(r"\$!?(\{)?context((?:\.[A-Za-z0-9_]+)+)(?(1)\})")


def render_template(template: str, context: Mapping[str, Any]) -> str:
    """A gateway response template's $context references (and ${context...}); what the context
    does not have renders empty, as in API Gateway."""

    def replace(match: re.Match) -> str:
        value = context.get(match.group(2)[1:])
        return "" if value is None else str(value)

    return CONTEXT_REFERENCE.sub(replace, template)


def valid_source(source: str) -> bool:
    return bool(
        re.fullmatch(r"'[^']*'", source)
        or re.fullmatch(r"context(\.[A-Za-z0-9_]+)+", source)
        or re.fullmatch(r"method\.request\.(header|querystring|path)\.[^.\s]+", source)
        or re.fullmatch(r"stageVariables\.[A-Za-z0-9_]+", source)
    )


def mapped_header(source: str, request: Request, context: Mapping[str, Any], path_params: Mapping[str, str]) -> str | None:
    """A gateway response header's value from its mapping, None when the source has none."""
    if source.startswith("'") and source.endswith("'"):
        return source[1:-1]
    if source.startswith("context."):
        value = context.get(source[len("context."):])
        return None if value is None else str(value)
    if source.startswith("method.request.header."):
        return request.header(source[len("method.request.header."):])
    if source.startswith("method.request.querystring."):
        name = source[len("method.request.querystring."):]
        values = [v for k, v in parse_query(request.raw_query) if k == name]
        return values[-1] if values else None
    if source.startswith("method.request.path."):
        return path_params.get(source[len("method.request.path."):])
    return None  # stageVariables: the stage has none


def gateway_response(
    api: Api,
    kind: str,
    request: Request,
    *,
    status: int | None = None,
    message: str | None = None,
    resource: str | None = None,
    path_params: Mapping[str, str] | None = None,
    key: tuple[str, str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    """What API Gateway answers itself: the template's response of that type, else its
    DEFAULT_4XX / DEFAULT_5XX, else API Gateway's own; the status is the response's StatusCode,
    else the one of the error (its type's default unless the failure says otherwise)."""
    default_status, default_message = RESPONSE_TYPES[kind]
    status = status or default_status
    message = message or default_message
    spec = api.responses.get(kind) or api.responses.get("DEFAULT_5XX" if status >= 500 else "DEFAULT_4XX")
    spec = spec or GatewayResponse(status=None, headers={}, templates={})
    status = spec.status or status
    context = {
        "requestId": request.request_id,
        "extendedRequestId": request.request_id,
        "requestTime": request_time(request.epoch),
        "requestTimeEpoch": int(request.epoch * 1000),
        "httpMethod": request.method,
        "path": f"/{api.stage}{request.raw_path}",
        "resourcePath": resource,
        "stage": api.stage,
        "protocol": "HTTP/1.1",
        "domainName": request.host.rsplit(":", 1)[0],
        "accountId": cfn.PSEUDO["AWS::AccountId"],
        "identity.sourceIp": request.source_ip,
        "identity.userAgent": request.header("User-Agent"),
        "identity.apiKey": key[1] if key else None,
        "identity.apiKeyId": key[0] if key else None,
        "error.message": message,
        "error.messageString": json.dumps(message),
        "error.responseType": kind,
    }
    templates = spec.templates or {"application/json": DEFAULT_TEMPLATE}
    content_type = "application/json" if "application/json" in templates else next(iter(templates))
    body = render_template(templates[content_type], context).encode()
    headers = [("Content-Type", content_type)]
    for name, source in spec.headers.items():
        value = mapped_header(source, request, context, path_params or {})
        if value is not None:
            headers.append((name, value))
    return status, headers, body


# ------------------------------------------------------------------------------------ limits


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


# ------------------------------------------------------------------------------------ watch


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
