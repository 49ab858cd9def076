"""The REST API template.yaml deploys, and which of its routes a request is on (for gateway.py).

`load_api` reads the template's one `AWS::Serverless::Api` as cfn.py evaluates it: a Route per
`Type: Api` event of every function (the binary watch runs, whether it needs an API key, its
Timeout), the gateway responses (`GatewayResponses`, or `AWS::ApiGateway::GatewayResponse`
resources on the API) and the stage's `MethodSettings` throttles. What the gateway does not
emulate (CORS, an OpenAPI body, authorizers, a SAM-made usage plan) is refused as a
TemplateError rather than served otherwise than it deploys.

`resolve_route` matches a path as API Gateway does: the resource first (a static segment beats
`{param}`, which beats `{greedy+}`; a trailing slash is ignored), then its method or `ANY`.
The table is a module of its own because `gateway.py --routes` (and the wiring test reading it)
must print the very table the server routes by.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from urllib.parse import unquote

# No bytecode next to the sources, where a new file would make `cargo lambda watch` rebuild
# (gateway.py sets it first): set again before this module's own local imports.
sys.dont_write_bytecode = True
import cfn  # noqa: E402
from apigw_responses import GatewayResponse, valid_source  # noqa: E402


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
