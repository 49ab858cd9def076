"""The Lambda proxy integration (REST, v1) both ways, as API Gateway does it (for gateway.py).

A Request (what came over HTTP, as it came) becomes the proxy event API Gateway sends a function
(`build_event`: single- and multi-value header and query maps, `pathParameters`,
`requestContext`, the body base64-encoded since the API has `BinaryMediaTypes: */*`); the
function's proxy response becomes the HTTP response (`proxy_response`: both header maps merged,
its Date, Server, Connection and Content-Length remapped to `x-amzn-Remapped-*`). A response API
Gateway could not use is an IntegrationError, which gateway.py answers with the gateway response
of its type. The fixtures in events/ have this event's shape (test_gateway.py compares them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild
# (gateway.py sets it first): set again before this module's own local imports.
sys.dont_write_bytecode = True
import cfn  # noqa: E402

if TYPE_CHECKING:
    from apigw_routes import Api

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
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ------------------------------------------------------------------------------------ requests


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
