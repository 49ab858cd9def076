"""Tests of the local API Gateway (gateway.py) and the template evaluation it shares (cfn.py).

Run: .venv/bin/python -B -m unittest discover -s infra/local -p 'test_*.py'

The pure parts against small templates and template.yaml itself (route table, events compared
with the fixtures in events/), then the server against a fake `cargo lambda watch` (an invoke API
whose functions crash, lose a response or hang), with 200 clients at once.
"""

from __future__ import annotations

import base64
import http.client
import json
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import apigw_watch  # noqa: E402
import cfn  # noqa: E402
import gateway as gw  # noqa: E402
from apigw_events import IntegrationError, Request, build_event, proxy_response, request_time  # noqa: E402
from apigw_limits import Key, Quota, TokenBucket, period_start  # noqa: E402
from apigw_responses import gateway_response, render_template  # noqa: E402
from apigw_routes import Api, load_api, resolve_route  # noqa: E402

EVENTS = cfn.ROOT / "events"


def fn(binary: str, events: dict, timeout: int | None = None) -> dict:
    props = {"Events": {name: {"Type": "Api", "Properties": {"RestApiId": {"Ref": "Api"}, **ev}} for name, ev in events.items()}}
    if timeout is not None:
        props["Timeout"] = timeout
    return {"Type": "AWS::Serverless::Function", "Metadata": {"BuildProperties": {"Binary": binary}}, "Properties": props}


ENVELOPE = '{"detail":$context.error.messageString,"error_code":"$context.error.responseType","request_id":"$context.requestId","timestamp":"$context.requestTime"}'
TEMPLATE = {
    "Parameters": {
        "StageName": {"Type": "String", "Default": "v1"},
        "RequireApiKey": {"Type": "String", "Default": "false", "AllowedValues": ["true", "false"]},
        "ThrottleRateLimit": {"Type": "Number", "Default": 100},
        "ThrottleBurstLimit": {"Type": "Number", "Default": 200},
    },
    "Conditions": {"ApiKeyRequired": {"Fn::Equals": [{"Ref": "RequireApiKey"}, "true"]}},
    "Globals": {"Function": {"Timeout": 10}},
    "Resources": {
        "Api": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "StageName": {"Ref": "StageName"},
                "Auth": {"ApiKeyRequired": {"Fn::If": ["ApiKeyRequired", True, False]}},
                "MethodSettings": [
                    {"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": {"Ref": "ThrottleRateLimit"},
                     "ThrottlingBurstLimit": {"Ref": "ThrottleBurstLimit"}}
                ],
                "GatewayResponses": {
                    "MISSING_AUTHENTICATION_TOKEN": {
                        "StatusCode": "404",
                        "ResponseParameters": {"Headers": {
                            "X-Request-ID": "context.requestId",
                            "Access-Control-Allow-Origin": "method.request.header.origin",
                            "Vary": "'Origin'",
                        }},
                        "ResponseTemplates": {"application/json": '{"detail":"Not found","request_id":"$context.requestId"}'},
                    },
                    "DEFAULT_4XX": {
                        "ResponseParameters": {"Headers": {"X-Request-ID": "context.requestId"}},
                        "ResponseTemplates": {"application/json": ENVELOPE},
                    },
                    "DEFAULT_5XX": {"ResponseTemplates": {"application/json": ENVELOPE}},
                },
            },
        },
        "Health": fn("health", {
            "Health": {"Path": "/health", "Method": "GET", "Auth": {"ApiKeyRequired": False}},
        }),
        "Users": fn("users", {
            "Me": {"Path": "/api/v1/users/me", "Method": "ANY"},
            "List": {"Path": "/api/v1/users", "Method": "get"},
            "ById": {"Path": "/api/v1/users/{id}", "Method": "ANY"},
        }),
        "Docs": fn("docs", {
            "Assets": {"Path": "/docs/{file+}", "Method": "GET"},
            "Special": {"Path": "/docs/{file+}", "Method": "POST"},
        }),
        "Fake": fn("fake", {"Any": {"Path": "/fake/{case}", "Method": "ANY", "Auth": {"ApiKeyRequired": False}}}, timeout=1),
    },
}


def api(**environ: str) -> Api:
    return load_api(cfn.Stack(TEMPLATE, environ=environ))


def request(method: str = "GET", target: str = "/health", headers=None, body: bytes = b"") -> Request:
    return Request(
        method=method,
        target=target,
        headers=list(headers or [("Host", "127.0.0.1:9000"), ("User-Agent", "test/1")]),
        body=body,
        source_ip="203.0.113.10",
        local_port=9000,
        request_id="f21f7e27-b7eb-576d-bc1b-d09c32b27d9c",
        epoch=1795262400.25,
    )


class TemplateEvaluation(unittest.TestCase):
    def test_a_parameter_is_named_in_the_environment_in_snake_case(self):
        self.assertEqual(cfn.env_name("RequireApiKey"), "REQUIRE_API_KEY")
        self.assertEqual(cfn.env_name("FreePlanQuotaPerDay"), "FREE_PLAN_QUOTA_PER_DAY")

    def test_an_override_beats_the_environment_which_beats_the_default(self):
        self.assertEqual(cfn.Stack(TEMPLATE, environ={}).params["ThrottleRateLimit"], "100")
        stack = cfn.Stack(TEMPLATE, environ={"THROTTLE_RATE_LIMIT": "7"})
        self.assertEqual((stack.params["ThrottleRateLimit"], stack.sources["ThrottleRateLimit"]), ("7", "THROTTLE_RATE_LIMIT"))
        stack = cfn.Stack(TEMPLATE, {"ThrottleRateLimit": "9"}, environ={"THROTTLE_RATE_LIMIT": "7"})
        self.assertEqual(stack.params["ThrottleRateLimit"], "9")

    def test_a_value_outside_allowed_values_is_refused(self):
        with self.assertRaises(cfn.TemplateError):
            cfn.Stack(TEMPLATE, environ={"REQUIRE_API_KEY": "yes"})
        with self.assertRaises(cfn.TemplateError):
            cfn.Stack(TEMPLATE, {"NoSuchParameter": "1"}, environ={})

    def test_if_follows_its_condition_and_no_value_drops_the_key(self):
        stack = cfn.Stack(TEMPLATE, environ={"REQUIRE_API_KEY": "true"})
        self.assertIs(stack.resolve({"Fn::If": ["ApiKeyRequired", True, False]}), True)
        self.assertEqual(stack.resolve({"a": {"Fn::If": ["ApiKeyRequired", {"Ref": "AWS::NoValue"}, 1]}, "b": 2}), {"b": 2})
        self.assertEqual(stack.resolve({"Fn::Sub": "${AWS::StackName}-free"}), "starter-free")
        self.assertEqual(stack.resolve({"Fn::Sub": "${Table.Arn}/index"}), {"Fn::Sub": "${Table.Arn}/index"})

    def test_gateway_errors_name_the_first_allowed_origin_of_the_real_template(self):
        stack = cfn.Stack(cfn.load(), environ={"CORS_ALLOWED_ORIGINS": "https://a.example,https://b.example"})
        api = load_api(stack)
        for kind, response in api.responses.items():
            self.assertEqual(response.headers.get("Access-Control-Allow-Origin"), "'https://a.example'", kind)
        first = {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}]}
        self.assertEqual(stack.resolve({"Fn::Sub": ["'${O}'", {"O": first}]}), "'https://a.example'")
        self.assertEqual(stack.resolve({"Fn::Sub": ["${O}", {"O": {"Ref": "Table"}}]}), {"Fn::Sub": ["${O}", {"O": {"Ref": "Table"}}]})


class Routing(unittest.TestCase):
    def setUp(self):
        self.api = api()

    def route(self, method: str, path: str):
        route, resource, params = resolve_route(self.api, method, path)
        return (route.function, route.method, resource, params) if route else (None, resource)

    def test_a_static_segment_beats_a_parameter(self):
        self.assertEqual(self.route("GET", "/api/v1/users/me"), ("users", "ANY", "/api/v1/users/me", {}))
        self.assertEqual(self.route("GET", "/api/v1/users/42"), ("users", "ANY", "/api/v1/users/{id}", {"id": "42"}))

    def test_a_greedy_parameter_takes_the_rest_decoded(self):
        self.assertEqual(self.route("GET", "/docs/a/b%20c.js"), ("docs", "GET", "/docs/{file+}", {"file": "a/b c.js"}))
        self.assertEqual(self.route("GET", "/docs"), (None, None))

    def test_a_parameter_is_decoded_and_never_empty(self):
        self.assertEqual(self.route("DELETE", "/api/v1/users/a%2Fb")[3], {"id": "a/b"})
        self.assertEqual(self.route("GET", "/api/v1/users//"), ("users", "GET", "/api/v1/users", {}))

    def test_a_trailing_slash_is_ignored(self):
        self.assertEqual(self.route("GET", "/health/")[:3], ("health", "GET", "/health"))

    def test_a_method_the_resource_lacks_is_no_route_head_and_options_included(self):
        for method in ("HEAD", "OPTIONS", "PUT", "POST", "get"):
            self.assertEqual(self.route(method, "/health"), (None, "/health"), method)
        self.assertEqual(self.route("PUT", "/api/v1/users"), (None, "/api/v1/users"))

    def test_any_takes_every_method_options_included(self):
        for method in ("GET", "OPTIONS", "HEAD", "PATCH", "QUERY"):
            self.assertEqual(self.route(method, "/api/v1/users/me")[:2], ("users", "ANY"))

    def test_an_unknown_path_is_no_route(self):
        for path in ("/", "/nope", "/favicon.ico", "/api/v1", "/healthz"):
            self.assertEqual(self.route("GET", path), (None, None), path)

    def test_the_key_requirement_is_the_apis_unless_the_event_says(self):
        required = {(r.method, r.path): r.api_key_required for r in api(REQUIRE_API_KEY="true").routes}
        self.assertTrue(required["ANY", "/api/v1/users/me"])
        self.assertFalse(required["GET", "/health"])
        self.assertFalse(required["ANY", "/fake/{case}"])
        self.assertFalse(any(r.api_key_required for r in api().routes))

    def test_template_yaml_gives_one_route_per_api_event(self):
        template = cfn.load()
        routes = load_api(cfn.Stack(template, environ={})).routes
        events = [
            (str(e["Properties"]["Method"]).upper(), e["Properties"]["Path"])
            for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
            for e in (r["Properties"].get("Events") or {}).values() if e["Type"] == "Api"
        ]
        self.assertEqual(sorted((r.method, r.path) for r in routes), sorted(events))
        by = {(r.method, r.path): r for r in routes}
        self.assertEqual(by["GET", "/health"].function, "health")
        self.assertEqual(by["GET", "/docs/{file+}"].function, "docs")
        keyed = load_api(cfn.Stack(template, environ={"REQUIRE_API_KEY": "true"})).routes
        self.assertTrue({(r.method, r.path): r.api_key_required for r in keyed}["POST", "/api/v1/auth/login"])
        self.assertFalse({(r.method, r.path): r.api_key_required for r in keyed}["POST", "/api/v1/webhooks/github"])


class Events(unittest.TestCase):
    def test_the_event_has_the_fixtures_shape(self):
        fixture = json.loads((EVENTS / "uploads" / "list.json").read_text())
        a = api()
        _, resource, params = resolve_route(a, "GET", "/api/v1/users/42")
        headers = [("Host", "abc.example"), ("Accept", "application/json"), ("User-Agent", "curl/8.5.0"),
                   ("Authorization", "Bearer x")]
        event = build_event(a, resource, params, request("GET", "/api/v1/users/42?limit=10", headers), "abc123def4")
        self.assertEqual(set(event), set(fixture))
        self.assertEqual(set(event["requestContext"]), set(fixture["requestContext"]))
        self.assertEqual(set(event["requestContext"]["identity"]), set(fixture["requestContext"]["identity"]))
        self.assertEqual(set(event["headers"]), set(fixture["headers"]))
        ctx = event["requestContext"]
        self.assertEqual((event["resource"], event["path"], event["httpMethod"]), ("/api/v1/users/{id}", "/api/v1/users/42", "GET"))
        self.assertEqual((ctx["path"], ctx["stage"], ctx["resourcePath"]), ("/v1/api/v1/users/42", "v1", "/api/v1/users/{id}"))
        self.assertEqual(ctx["requestTime"], "21/Nov/2026:12:00:00 +0000")
        self.assertEqual(ctx["requestTimeEpoch"], 1795262400250)
        self.assertEqual(ctx["identity"]["sourceIp"], "203.0.113.10")
        self.assertEqual(ctx["identity"]["userAgent"], "curl/8.5.0")
        self.assertIsNone(ctx["identity"]["apiKey"])
        self.assertEqual(event["headers"]["X-Forwarded-For"], "203.0.113.10")
        self.assertEqual(event["pathParameters"], {"id": "42"})
        self.assertEqual(event["queryStringParameters"], {"limit": "10"})
        self.assertEqual(event["multiValueQueryStringParameters"], {"limit": ["10"]})
        self.assertEqual((event["body"], event["isBase64Encoded"]), (None, False))

    def test_every_body_is_base64_and_queries_and_headers_keep_every_value(self):
        a = api()
        _, resource, params = resolve_route(a, "POST", "/api/v1/users/me")
        headers = [("Host", "h"), ("Cookie", "a=1"), ("cookie", "b=2"), ("Connection", "keep-alive"),
                   ("Content-Length", "3"), ("X-Forwarded-For", "198.51.100.1"), ("x-api-key", "k")]
        event = build_event(a, resource, params, request("POST", "/api/v1/users/me?a=1&b=x%20y+z&a=2&c", headers, b"\xff\xfe{"),
                               "id", key=("keyid", "k"))
        self.assertEqual(base64.b64decode(event["body"]), b"\xff\xfe{")
        self.assertTrue(event["isBase64Encoded"])
        self.assertEqual(event["multiValueHeaders"]["Cookie"], ["a=1", "b=2"])
        self.assertEqual(event["headers"]["Cookie"], "b=2")
        self.assertNotIn("Connection", event["headers"])
        self.assertNotIn("Content-Length", event["headers"])
        self.assertEqual(event["headers"]["X-Forwarded-For"], "198.51.100.1, 203.0.113.10")
        self.assertEqual(event["multiValueQueryStringParameters"], {"a": ["1", "2"], "b": ["x y+z"], "c": [""]})
        self.assertEqual(event["queryStringParameters"], {"a": "2", "b": "x y+z", "c": ""})
        self.assertEqual((event["requestContext"]["identity"]["apiKey"], event["requestContext"]["identity"]["apiKeyId"]), ("k", "keyid"))


class GatewayResponses(unittest.TestCase):
    def test_request_time_is_api_gateways_format(self):
        self.assertEqual(request_time(0), "01/Jan/1970:00:00:00 +0000")

    def test_the_template_renders_context_variables_and_a_quoted_message(self):
        context = {"requestId": "r1", "error.messageString": json.dumps('say "hi"'), "error.responseType": "THROTTLED"}
        self.assertEqual(
            render_template('{"d":$context.error.messageString,"t":"$context.error.responseType","r":"${context.requestId}","x":"$context.nope"}', context),
            '{"d":"say \\"hi\\"","t":"THROTTLED","r":"r1","x":""}',
        )

    def test_a_defined_type_uses_its_status_headers_and_template(self):
        req = request(headers=[("Host", "h"), ("ORIGIN", "http://localhost:3000")])
        status, headers, body = gateway_response(api(), "MISSING_AUTHENTICATION_TOKEN", req)
        self.assertEqual(status, 404)
        self.assertEqual(dict(headers), {
            "Content-Type": "application/json",
            "X-Request-ID": req.request_id,
            "Access-Control-Allow-Origin": "http://localhost:3000",
            "Vary": "Origin",
        })
        self.assertEqual(json.loads(body), {"detail": "Not found", "request_id": req.request_id})

    def test_a_header_from_a_request_header_it_lacks_is_left_out(self):
        _, headers, _ = gateway_response(api(), "MISSING_AUTHENTICATION_TOKEN", request())
        self.assertNotIn("Access-Control-Allow-Origin", dict(headers))

    def test_an_undefined_type_falls_back_with_its_own_status_and_message(self):
        req = request()
        status, headers, body = gateway_response(api(), "INVALID_API_KEY", req)
        self.assertEqual(status, 403)
        self.assertEqual(json.loads(body), {
            "detail": "Forbidden", "error_code": "INVALID_API_KEY", "request_id": req.request_id,
            "timestamp": "21/Nov/2026:12:00:00 +0000",
        })
        self.assertEqual(dict(headers)["X-Request-ID"], req.request_id)
        status, _, body = gateway_response(api(), "QUOTA_EXCEEDED", req)
        self.assertEqual((status, json.loads(body)["detail"]), (429, "Limit Exceeded"))
        status, _, body = gateway_response(api(), "REQUEST_TOO_LARGE", req)
        self.assertEqual((status, json.loads(body)["detail"]), (413, "Request Too Long"))
        status, headers, body = gateway_response(api(), "INTEGRATION_FAILURE", req, status=502)
        self.assertEqual((status, json.loads(body)["error_code"]), (502, "INTEGRATION_FAILURE"))
        self.assertNotIn("X-Request-ID", dict(headers))  # DEFAULT_5XX maps none

    def test_without_any_gateway_response_api_gateways_own_body_is_used(self):
        bare = Api(logical_id="Api", stage="v1", routes=[], responses={}, throttles=[])
        status, headers, body = gateway_response(bare, "MISSING_AUTHENTICATION_TOKEN", request())
        self.assertEqual((status, json.loads(body)), (403, {"message": "Missing Authentication Token"}))


class ProxyResponses(unittest.TestCase):
    def test_multi_value_headers_and_cookies_come_out_as_several_headers(self):
        out = {"statusCode": 201, "headers": {"X-One": "1", "set-cookie": "ignored=1"},
               "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Date": ["yesterday"], "content-length": ["3"]},
               "body": "ok!", "isBase64Encoded": False}
        status, headers, body = proxy_response(json.dumps(out).encode())
        self.assertEqual((status, body), (201, b"ok!"))
        self.assertEqual([v for k, v in headers if k.lower() == "set-cookie"], ["a=1", "b=2"])
        self.assertIn(("X-One", "1"), headers)
        self.assertIn(("Content-Type", "application/json"), headers)
        self.assertIn(("x-amzn-Remapped-Date", "yesterday"), headers)
        self.assertIn(("x-amzn-Remapped-content-length", "3"), headers)
        self.assertFalse([k for k, _ in headers if k.lower() in ("date", "content-length")])

    def test_a_base64_body_is_decoded(self):
        out = {"statusCode": 200, "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}
        self.assertEqual(proxy_response(json.dumps(out).encode())[2], b"\x89PNG")

    def test_a_malformed_response_is_an_integration_failure(self):
        for payload in (b"not json", b"[]", b'{"statusCode": 200, "extra": 1}', b'{"statusCode": "abc"}',
                        b'{"headers": {"a": 1}}', b'{"body": 3}', b'{"statusCode": 42}'):
            with self.assertRaises(IntegrationError, msg=payload) as caught:
                proxy_response(payload)
            self.assertEqual((caught.exception.kind, caught.exception.status), ("INTEGRATION_FAILURE", 502))


class Limits(unittest.TestCase):
    def test_a_bucket_allows_its_burst_then_its_rate(self):
        now = [0.0]
        bucket = TokenBucket(rate=10, burst=20, clock=lambda: now[0])
        self.assertEqual(sum(bucket.take() for _ in range(30)), 20)
        now[0] += 0.5
        self.assertEqual(sum(bucket.take() for _ in range(30)), 5)
        now[0] += 100
        self.assertEqual(sum(bucket.take() for _ in range(30)), 20)

    def test_a_negative_rate_is_no_throttle(self):
        self.assertTrue(all(TokenBucket(rate=-1, burst=-1).take() for _ in range(1000)))

    def test_a_quota_resets_with_its_period(self):
        now = [period_start("DAY", 1795262400.0) + 86400 - 1]
        quota = Quota(limit=3, period="DAY", clock=lambda: now[0])
        self.assertEqual([quota.take() for _ in range(4)], [True, True, True, False])
        now[0] += 1
        self.assertTrue(quota.take())

    def test_periods_start_at_utc_midnight_monday_and_the_first(self):
        epoch = 1795262400.0  # Saturday 21 November 2026, 12:00 UTC
        self.assertEqual(period_start("DAY", epoch), epoch - 12 * 3600)
        self.assertEqual(time.gmtime(period_start("WEEK", epoch))[:7], (2026, 11, 16, 0, 0, 0, 0))
        self.assertEqual(time.gmtime(period_start("MONTH", epoch))[:3], (2026, 11, 1))

    def test_the_stage_throttle_is_per_method_and_liftable(self):
        self.assertEqual(api().throttle_for("/health", "GET"), (100.0, 200))
        self.assertEqual(api(THROTTLE_RATE_LIMIT="1000000", THROTTLE_BURST_LIMIT="1000000").throttle_for("/x", "POST"), (1e6, 1000000))
        gateway = gw.Gateway(api(THROTTLE_BURST_LIMIT="2", THROTTLE_RATE_LIMIT="0"), None, None)
        statuses = [gateway.handle(request("GET", "/health"))[0] for _ in range(3)]
        self.assertEqual(statuses, [502, 502, 429])  # no watch here: 502, until throttled


class FakeKeys:
    def __init__(self, **keys: Key):
        self.by_value, self.api_id = keys, "fakeapi"

    def lookup(self, value):
        return self.by_value.get(value)


class KeysOnRoutes(unittest.TestCase):
    def test_a_keyed_route_refuses_no_key_and_an_unknown_one_and_throttles_a_known_one(self):
        now = [0.0]
        key = Key(id="k1", value="free-key", plan="free", bucket=TokenBucket(1, 2, clock=lambda: now[0]),
                     quota=Quota(3, "DAY", clock=lambda: 0.0))
        gateway = gw.Gateway(api(REQUIRE_API_KEY="true"), None, FakeKeys(**{"free-key": key}))
        status, _, body = gateway.handle(request("GET", "/api/v1/users/me"))
        self.assertEqual((status, json.loads(body)["error_code"]), (403, "INVALID_API_KEY"))
        status, _, _ = gateway.handle(request("GET", "/api/v1/users/me", [("Host", "h"), ("X-Api-Key", "nope")]))
        self.assertEqual(status, 403)
        keyed = [("Host", "h"), ("x-api-key", "free-key")]
        statuses = [gateway.handle(request("GET", "/api/v1/users/me", keyed))[0] for _ in range(3)]
        self.assertEqual(statuses, [502, 502, 429])  # past the burst: THROTTLED
        now[0] += 10
        statuses = [gateway.handle(request("GET", "/api/v1/users/me", keyed))[0] for _ in range(2)]
        status, _, body = gateway.handle(request("GET", "/api/v1/users/me", keyed))
        self.assertEqual((statuses, status, json.loads(body)["error_code"]), ([502, 429], 429, "THROTTLED"))
        now[0] += 10
        status, _, body = gateway.handle(request("GET", "/api/v1/users/me", keyed))
        self.assertEqual((status, json.loads(body)["error_code"]), (429, "QUOTA_EXCEEDED"))
        # An unkeyed route never looks at the key.
        self.assertEqual(gateway.handle(request("GET", "/health"))[0], 502)


# ------------------------------------------------------------------------------ with a server


class FakeWatch(BaseHTTPRequestHandler):
    """watch's invoke API: /fake/<case> decides what the function does."""

    protocol_version = "HTTP/1.1"
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_POST(self):
        event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        case = (event.get("pathParameters") or {}).get("case", "")
        with self.lock:
            FakeWatch.calls[case] = FakeWatch.calls.get(case, 0) + 1
            calls = FakeWatch.calls[case]
        if case == "crash":
            return self.answer(500, {"errorType": "Panic", "errorMessage": "boom"})
        if case == "lost" and calls == 1:
            return self.answer(500, b'{"type":"https://httpstatuses.com/500","status":500}')
        if case == "hang":
            time.sleep(3)
        if case == "malformed":
            return self.answer(200, {"statusCode": 200, "surprise": True})
        self.answer(200, {
            "statusCode": 200,
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "Date": ["Thu, 01 Jan 1970 00:00:00 GMT"], "Server": ["fn"]},
            "body": base64.b64encode(json.dumps(event).encode()).decode(),
            "isBase64Encoded": True,
        })

    def answer(self, status, payload):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class Server(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.grace = apigw_watch.TIMEOUT_GRACE
        apigw_watch.TIMEOUT_GRACE = 0.5
        cls.watch = ThreadingHTTPServer(("127.0.0.1", 0), FakeWatch)
        cls.watch.daemon_threads = True
        threading.Thread(target=cls.watch.serve_forever, daemon=True).start()
        watch = apigw_watch.Watch(cls.watch.server_address[1])
        watch.warm.add("fake")
        gw.Handler.gateway = gw.Gateway(api(THROTTLE_RATE_LIMIT="1000000", THROTTLE_BURST_LIMIT="1000000"), watch, None)
        cls.server = gw.Server(("127.0.0.1", 0), gw.Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.port = cls.server.server_address[1]

    @classmethod
    def tearDownClass(cls):
        apigw_watch.TIMEOUT_GRACE = cls.grace
        cls.server.shutdown()
        cls.watch.shutdown()

    def send(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            reply = conn.getresponse()
            return reply, reply.read()
        finally:
            if own:
                conn.close()

    def test_a_function_answer_comes_back_with_one_date_and_no_server_header(self):
        reply, body = self.send("POST", "/fake/ok?x=1", body=b"\xff\x00")
        self.assertEqual(reply.status, 200)
        self.assertEqual(len(reply.msg.get_all("Date")), 1)
        self.assertIsNone(reply.getheader("Server"))
        self.assertEqual(reply.msg.get_all("Set-Cookie"), ["a=1", "b=2"])
        self.assertEqual(reply.getheader("x-amzn-Remapped-Server"), "fn")
        event = json.loads(body)
        self.assertEqual(base64.b64decode(event["body"]), b"\xff\x00")
        self.assertEqual(event["requestContext"]["requestId"], reply.getheader("x-amzn-RequestId"))

    def test_keep_alive_carries_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for path in ("/fake/ok", "/nope", "/fake/ok"):
            reply, _ = self.send("GET", path, conn=conn)
            self.assertIsNone(reply.getheader("Connection"))
        sock = conn.sock
        self.send("GET", "/fake/ok", conn=conn)
        self.assertIs(conn.sock, sock)
        conn.close()

    def test_a_crash_and_a_malformed_answer_are_502_envelopes(self):
        for case in ("crash", "malformed"):
            reply, body = self.send("GET", f"/fake/{case}")
            self.assertEqual((reply.status, json.loads(body)["error_code"]), (502, "INTEGRATION_FAILURE"), case)

    def test_a_lost_response_is_asked_again_for_a_safe_method_only(self):
        FakeWatch.calls.pop("lost", None)
        reply, _ = self.send("GET", "/fake/lost")
        self.assertEqual((reply.status, FakeWatch.calls["lost"]), (200, 2))
        FakeWatch.calls.pop("lost", None)
        reply, _ = self.send("POST", "/fake/lost")
        self.assertEqual((reply.status, FakeWatch.calls["lost"]), (502, 1))

    def test_a_function_past_its_timeout_is_a_502(self):
        gw.Handler.gateway.watch.warm.add("fake")
        started = time.monotonic()
        reply, body = self.send("POST", "/fake/hang")
        self.assertEqual((reply.status, json.loads(body)["error_code"]), (502, "INTEGRATION_FAILURE"))
        self.assertLess(time.monotonic() - started, 2.9)
        gw.Handler.gateway.watch.warm.add("fake")

    def test_head_gets_headers_without_a_body(self):
        reply, body = self.send("HEAD", "/fake/ok")
        self.assertEqual((reply.status, body), (200, b""))
        self.assertGreater(int(reply.getheader("Content-Length")), 0)

    def test_a_body_over_10_mb_is_413_before_any_function(self):
        FakeWatch.calls.pop("big", None)
        reply, body = self.send("POST", "/fake/big", body=b"x" * (gw.MAX_BODY + 1))
        self.assertEqual((reply.status, json.loads(body)["error_code"]), (413, "REQUEST_TOO_LARGE"))
        self.assertNotIn("big", FakeWatch.calls)

    def test_a_body_lambda_cannot_take_is_a_502_before_the_function(self):
        FakeWatch.calls.pop("large", None)
        reply, body = self.send("POST", "/fake/large", body=b"x" * (5 * 1024 * 1024))
        self.assertEqual((reply.status, json.loads(body)["error_code"]), (502, "INTEGRATION_FAILURE"))
        self.assertNotIn("large", FakeWatch.calls)

    def test_200_clients_at_once_are_all_answered(self):
        results, barrier = [], threading.Barrier(200)

        def client(i):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                conn.connect()
                barrier.wait(20)
                reply, _ = self.send("GET", "/fake/ok" if i % 2 else "/nope", conn=conn)
                conn.close()
                results.append(reply.status)
            except Exception as err:  # noqa: BLE001 - counted below
                results.append(repr(err))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(set(map(str, results))), ["200", "404"], results)
        self.assertEqual(len(results), 200)


if __name__ == "__main__":
    unittest.main()
