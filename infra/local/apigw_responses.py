"""Gateway responses: what API Gateway answers itself, as template.yaml defines them (for gateway.py).

A refused request (no route, a missing or unknown API key, throttled, a quota spent, a body over
10 MB, a failed integration) never reaches a function: API Gateway answers it with the API's
gateway response of that type, else DEFAULT_4XX / DEFAULT_5XX, else its own
`{"message": ...}` (RESPONSE_TYPES has each type's status and message). A response template is
rendered with its `$context` variables only (no other mapping-template language), and the header
mappings (a 'literal', `context.x`, `method.request.header|querystring|path.x`) are filled from
the request. load_api (apigw_routes.py) checks every mapping with `valid_source` as it reads it,
so a mapping this module cannot fill is refused when the gateway starts, not left out later.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild
# (gateway.py sets it first): set again before this module's own local imports.
sys.dont_write_bytecode = True
import cfn  # noqa: E402
from apigw_events import Request, parse_query, request_time  # noqa: E402

if TYPE_CHECKING:
    from apigw_routes import Api

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


@dataclass
class GatewayResponse:
    status: int | None
    headers: dict[str, str]  # response header -> source ('literal', context.x, method.request.header.x)
    templates: dict[str, str]  # content type -> template



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
