#!/usr/bin/env python3
"""Real-browser checks against a running local stack (headless Chromium through Playwright).

What curl and schemathesis cannot see: that the docs pages render client-side from the local
schema with nothing fetched off the machine, and that a browser page on another origin can run
the auth flow through CORS (preflights, exposed headers, the credentialed refresh cookie) while a
page on an origin not in CORS_ALLOWED_ORIGINS is refused by the browser. Passkeys: a virtual
authenticator added through CDP's WebAuthn domain lets the page register a passkey, log out and
log in with it (parse*OptionsFromJSON, credential.toJSON()); and a TOTP login runs through the
same page, its codes computed here from the otpauth URI.

    run.py --api http://localhost:9000 --page http://localhost:8001/ \
           --other http://127.0.0.1:8002/ --mode token|cookie [--no-docs] \
           [--api-key KEY --throttled-key KEY]

With --api-key (a stage with RequireApiKey=true) the page sends the key on every call, and reads
the gateway's own 403 (no key) and, with --throttled-key (a key whose plan allows less than a
burst of 12), its 429: a browser can read them only if the gateway responses carry CORS headers.

--page (origin A) must be in CORS_ALLOWED_ORIGINS, --other (origin B) must not; both serve
tests/browser/index.html. Started by infra/scripts/browser.sh, which sets the stack up.
Prints `ok   NAME` / `FAIL NAME` per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import struct
import sys
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium-headless-shell"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
PASSWORD = "correct horse battery staple"
TIMEOUT_MS = 30_000


class Report:
    """Counts checks; every check prints one line, the failures with why."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, condition: bool, detail: object = "") -> bool:
        if condition:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed.append(name)
            print(f"FAIL {name}" + (f": {detail}" if detail != "" else ""), flush=True)
        return condition

    def crashed(self, name: str, error: BaseException) -> None:
        self.check(name, False, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def local_only_page(browser: Browser) -> tuple[Page, list[str]]:
    """A page that records every URL it requests and aborts those that would leave the machine.

    Recording (page.on("request")) is what the checks assert on; aborting keeps an offline run
    from waiting for a CDN timeout before it can report the request. The page's console, its
    errors and every response or failed request are kept too, in `page.trace`, so that a check
    that times out can say what the page saw (see `traced`).
    """
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    requested: list[str] = []
    trace: list[str] = []
    t0 = time.monotonic()

    def note(line: str) -> None:
        trace.append(f"{time.monotonic() - t0:6.2f}s {line}")

    page.trace = trace  # type: ignore[attr-defined]
    page.on("request", lambda request: requested.append(request.url))
    page.on("request", lambda request: note(f"-> {request.method} {request.url}"))
    page.on("response", lambda response: note(f"<- {response.status} {response.url}"))
    page.on("requestfailed", lambda request: note(f"!! {request.url}: {request.failure}"))
    page.on("console", lambda message: note(f"console.{message.type}: {message.text}"))
    page.on("pageerror", lambda error: note(f"pageerror: {error}"))

    def only_local(route):
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
            route.abort()
        else:
            route.continue_()

    page.route("**/*", only_local)
    return page, requested


def traced(page: Page, wait) -> None:
    """Run a wait; if it fails, print what the page saw before re-raising."""
    try:
        wait()
    except Exception:
        print("     page trace:\n" + "\n".join(f"       {line}" for line in page.trace), flush=True)  # type: ignore[attr-defined]
        raise


def external(requested: list[str]) -> list[str]:
    # data:, blob: and about: URLs have no host and never leave the process.
    return [
        u for u in requested
        if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname not in LOCAL_HOSTS
    ]


def check_swagger_ui(report: Report, browser: Browser, api: str) -> None:
    """/docs: Swagger UI builds its operations list in the browser from ../openapi.json."""
    page, requested = local_only_page(browser)
    try:
        traced(page, lambda: page.goto(f"{api}/docs"))
        traced(page, lambda: page.wait_for_selector(".opblock"))
        # Wait for late requests too (fonts, the online validator badge) before judging them.
        page.wait_for_load_state("networkidle")
        count = page.locator(".opblock").count()
        report.check(f"/docs renders the operations list ({count} .opblock)", count > 30, f"only {count}")
        signup = page.locator(".opblock", has_text="/api/v1/auth/signup").count()
        report.check("/docs lists /api/v1/auth/signup", signup >= 1)
        report.check("/docs fetches nothing off the machine", not external(requested), external(requested))
        report.check(
            "/docs loaded the local schema",
            any(urlsplit(u).path.endswith("/openapi.json") for u in requested),
            requested,
        )
    finally:
        page.close()


def check_redoc(report: Report, browser: Browser, api: str) -> None:
    """/redoc: ReDoc's standalone bundle renders the same document."""
    page, requested = local_only_page(browser)
    try:
        traced(page, lambda: page.goto(f"{api}/redoc"))
        traced(page, lambda: page.wait_for_selector("[data-section-id]"))
        page.wait_for_load_state("networkidle")
        sections = page.locator("[data-section-id]").count()
        report.check(f"/redoc renders ({sections} sections)", sections > 30, f"only {sections}")
        report.check(
            "/redoc shows the API title",
            page.get_by_text("Rust Serverless Starter API").count() >= 1,
        )
        report.check("/redoc fetches nothing off the machine", not external(requested), external(requested))
    finally:
        page.close()


def check_app_flow(report: Report, browser: Browser, api: str, page_url: str, mode: str, api_key: str | None) -> None:
    """The auth flow from origin A's page, with fetch, as a single-page app would run it."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(page_url)
        username = f"browser_{mode}_{uuid.uuid4().hex[:12]}"
        out = page.evaluate(
            "args => appFlow(args)",
            {"api": api, "mode": mode, "username": username, "password": PASSWORD, "apiKey": api_key},
        )
        brief = lambda r: {"status": r["status"], "body": str(r["body"])[:300]}  # noqa: E731
        report.check("signup 201 (cross-origin, preflighted JSON)", out["signup"]["status"] == 201, brief(out["signup"]))
        report.check("login (form) 200", out["login"]["status"] == 200, brief(out["login"]))
        report.check("users/me 200 with the Bearer", out["me"]["status"] == 200, brief(out["me"]))
        if mode == "cookie":
            report.check("refresh with body {} 200 (the cookie)", out["refresh"]["status"] == 200, brief(out["refresh"]))
            report.check(
                "refresh with no body 200 (the cookie)",
                out["refreshNoBody"]["status"] == 200,
                brief(out["refreshNoBody"]),
            )
            check_refresh_cookie(report, context, api, out)
        else:
            report.check("refresh with {refresh_token} 200", out["refresh"]["status"] == 200, brief(out["refresh"]))
        report.check(
            "the refreshed access token works on users/me",
            out["meAfterRefresh"]["status"] == 200,
            brief(out["meAfterRefresh"]),
        )
        check_exposed_headers(report, out)
    finally:
        context.close()


def add_virtual_authenticator(context, page: Page):
    """A platform authenticator for `page`, through CDP's WebAuthn domain: CTAP2 over the
    internal transport, resident keys, user verification that always succeeds, presence
    simulated (no prompt to click)."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True,
    }})
    return cdp, added["authenticatorId"]


def check_passkey_flow(report: Report, browser: Browser, api: str, page_url: str, mode: str, api_key: str | None) -> None:
    """Register a passkey on origin A's page, log out, log in with the passkey alone."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        cdp, authenticator = add_virtual_authenticator(context, page)
        page.goto(page_url)
        username = f"passkey_{mode}_{uuid.uuid4().hex[:12]}"
        out = page.evaluate(
            "args => passkeyFlow(args)",
            {"api": api, "mode": mode, "username": username, "password": PASSWORD, "apiKey": api_key},
        )
        brief = lambda r: {"status": r["status"], "body": str(r["body"])[:300]}  # noqa: E731
        report.check("passkeys: parseCreationOptionsFromJSON/parseRequestOptionsFromJSON exist", out["supported"])
        if out.get("error"):
            steps = {k: brief(v) for k, v in out.items() if isinstance(v, dict)}
            report.check("passkeys: the browser ran both ceremonies", False, f"{out['error']}; {steps}")
            return
        report.check("passkeys: register/start 200", out["registerStart"]["status"] == 200, brief(out["registerStart"]))
        finish = out["registerFinish"]
        report.check(
            "passkeys: register/finish 201 with credential.toJSON() as sent",
            finish["status"] == 201 and finish["body"].get("transports") == ["internal"],
            brief(finish),
        )
        held = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
        report.check(
            "passkeys: the authenticator holds one resident credential",
            len(held) == 1 and held[0]["isResidentCredential"],
            held,
        )
        report.check("passkeys: logout 200, then the old token is 401",
                     out["logout"]["status"] == 200 and out["meAfterLogout"]["status"] == 401,
                     (brief(out["logout"]), brief(out["meAfterLogout"])))
        allow = ((out["loginStart"]["body"] or {}).get("publicKey") or {}).get("allowCredentials")
        report.check("passkeys: login/start 200, allowCredentials empty",
                     out["loginStart"]["status"] == 200 and allow == [], brief(out["loginStart"]))
        login = out["loginFinish"]
        report.check(
            "passkeys: login/finish 200 with a token pair, no second step",
            login["status"] == 200 and "access_token" in login["body"] and "mfa_required" not in login["body"],
            brief(login),
        )
        report.check("passkeys: users/me 200 with the passkey login's token", out["me"]["status"] == 200, brief(out["me"]))
        items = (out["list"]["body"] or {}).get("items") or []
        report.check("passkeys: the list shows it used once",
                     len(items) == 1 and items[0]["last_used_at"] is not None, brief(out["list"]))
        if mode == "cookie":
            report.check("passkeys: the login set the refresh cookie (refresh with no body 200)",
                         out["refresh"]["status"] == 200, brief(out["refresh"]))
    finally:
        context.close()


def totp(secret_b32: str, step: int) -> str:
    """RFC 6238 with the app defaults (HMAC-SHA-1, 6 digits)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8), casefold=True)
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def check_totp_login(report: Report, browser: Browser, api: str, page_url: str, mode: str, api_key: str | None) -> None:
    """Enrol an authenticator app from the page, then log in through the step-up: the password
    answers an mfa_token only, which a code (computed here from the otpauth URI) exchanges."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    credentials = "include" if mode == "cookie" else "same-origin"
    try:
        page.goto(page_url)
        username = f"totp_{mode}_{uuid.uuid4().hex[:12]}"

        def js(path: str, method: str = "POST", body=None, token: str | None = None) -> dict:
            return page.evaluate("args => jsonCall(args)", {
                "url": f"{api}{path}", "method": method, "body": body, "token": token,
                "apiKey": api_key, "credentials": credentials,
            })

        signup = js("/api/v1/auth/signup", body={
            "username": username, "email": f"{username}@example.com", "password": PASSWORD,
            "first_name": "Time", "last_name": "Based",
        })
        token = (signup["body"] or {}).get("access_token")
        enrol = js("/api/v1/auth/mfa/totp", body={"password": PASSWORD}, token=token)
        uri = (enrol["body"] or {}).get("otpauth_uri", "") if isinstance(enrol["body"], dict) else ""
        secret = parse_qs(urlsplit(uri).query).get("secret", [""])[0]
        report.check("totp: enrolment 201 answers an otpauth:// URI", enrol["status"] == 201 and uri.startswith("otpauth://totp/"), enrol)
        step = int(time.time()) // 30
        confirm = js("/api/v1/auth/mfa/totp/confirm", body={"code": totp(secret, step)}, token=token)
        report.check("totp: confirm 200 with ten recovery codes",
                     confirm["status"] == 200 and len((confirm["body"] or {}).get("recovery_codes", [])) == 10, confirm)
        login = js("/api/v1/auth/login", body={"username": username, "password": PASSWORD})
        body = login["body"] if isinstance(login["body"], dict) else {}
        report.check("totp: the password alone answers mfa_required and no tokens",
                     login["status"] == 200 and body.get("mfa_required") is True and "access_token" not in body, login)
        # The confirm spent this step's code: the next step's is within the ±1 drift.
        done = js("/api/v1/auth/login/mfa", body={"mfa_token": body.get("mfa_token"), "code": totp(secret, step + 1)})
        tokens = done["body"] if isinstance(done["body"], dict) else {}
        report.check("totp: /login/mfa with a computed code 200 with tokens",
                     done["status"] == 200 and "access_token" in tokens, done)
        me = js("/api/v1/users/me", method="GET", token=tokens.get("access_token"))
        report.check("totp: users/me 200 with the step-up's token", me["status"] == 200, me)
    finally:
        context.close()


def check_gateway_errors(report: Report, browser: Browser, api: str, page_url: str, api_key: str | None, throttled_key: str | None) -> None:
    """The gateway's own answers, read by the page on origin A: status, envelope, request id."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(page_url)
        out = page.evaluate(
            "args => gatewayErrors(args)", {"api": api, "apiKey": api_key, "throttledKey": throttled_key}
        )

        def envelope(reply: dict, status: int, code: str) -> bool:
            body = reply["body"] if isinstance(reply["body"], dict) else {}
            return reply["status"] == status and body.get("error_code") == code and bool(reply["requestId"])

        report.check(
            "JS reads the gateway's 404 envelope for a method the API does not deploy (PUT signup)",
            envelope(out["unknownMethod"], 404, "NOT_FOUND"),
            out["unknownMethod"],
        )
        if api_key:
            report.check(
                "JS reads the gateway's 403 envelope for a call without an API key",
                envelope(out["noKey"], 403, "INVALID_API_KEY"),
                out["noKey"],
            )
        if throttled_key:
            statuses = [r["status"] for r in out["burst"]]
            throttled = [r for r in out["burst"] if r["status"] == 429]
            report.check(
                "JS reads the gateway's 429 envelope when a key's plan throttles a burst",
                bool(throttled) and all(envelope(r, 429, "RATE_LIMITED") for r in throttled)
                and all(s in (401, 429) for s in statuses),
                {"statuses": statuses, "first 429": throttled[0] if throttled else None},
            )
    finally:
        page.close()


def check_refresh_cookie(report: Report, context, api: str, out: dict) -> None:
    """The browser kept the cookie as set (HttpOnly, Secure, Strict) and the page cannot read it."""
    # Not context.cookies(api): that filters by the URL's path too, and the cookie's path is
    # /api/v1/auth. Cookies ignore ports: the API's host is the only thing to match.
    host = urlsplit(api).hostname
    cookies = [c for c in context.cookies() if c["name"] == "refresh_token" and c["domain"] == host]
    cookie = cookies[0] if cookies else {}
    report.check(
        "refresh_token cookie stored HttpOnly, Secure, SameSite=Strict, Path=/api/v1/auth",
        bool(cookie) and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict"
        and cookie["path"] == "/api/v1/auth",
        cookie or f"no refresh_token cookie for {host} in {context.cookies()}",
    )
    # The last refresh rotated it: the cookie holds the token the last response returned.
    last = out["refreshNoBody"]["body"] or {}
    report.check(
        "the cookie was rotated by the last refresh",
        bool(cookie) and isinstance(last, dict) and cookie.get("value") == last.get("refresh_token"),
    )
    report.check("document.cookie does not show the refresh token", "refresh_token" not in out["documentCookie"])


def check_exposed_headers(report: Report, out: dict) -> None:
    """Headers read from JavaScript on cross-origin responses: non-null only if CORS exposes them."""
    for step in ("signup", "login"):
        seen = out[step]
        for header, key in (
            ("X-Request-ID", "requestId"),
            ("X-RateLimit-Limit", "limit"),
            ("X-RateLimit-Remaining", "remaining"),
            ("RateLimit", "ratelimit"),
        ):
            report.check(f"JS reads {header} on the {step} response", bool(seen[key]), seen)
    report.check("JS reads X-Request-ID on users/me", bool(out["me"]["requestId"]), out["me"])


def check_disallowed_origin(report: Report, browser: Browser, api: str, other_url: str) -> None:
    """From origin B (not in CORS_ALLOWED_ORIGINS) the browser must refuse to hand over responses."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(other_url)
        # Preflighted (Authorization header): the preflight answer does not allow origin B.
        preflighted = page.evaluate(
            "url => tryFetch(url, {headers: {Authorization: 'Bearer x'}})", f"{api}/api/v1/users/me"
        )
        report.check(
            "origin B: preflighted fetch to users/me rejected with TypeError",
            not preflighted["ok"] and preflighted["name"] == "TypeError",
            preflighted,
        )
        # Simple request (no preflight): the request is sent, the response has no
        # Access-Control-Allow-Origin for B, so the browser withholds it.
        simple = page.evaluate(
            "url => tryFetch(url, {method: 'POST', body: new URLSearchParams({username: 'x', password: 'y'})})",
            f"{api}/api/v1/auth/login",
        )
        report.check(
            "origin B: simple POST to login rejected with TypeError",
            not simple["ok"] and simple["name"] == "TypeError",
            simple,
        )
    finally:
        page.close()


def cors_headers(url: str, method: str, request_origin: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The response headers (lower-cased) of a raw request carrying an Origin, whatever the status."""
    request = urllib.request.Request(url, method=method, headers={"Origin": request_origin, **(extra or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return {k.lower(): v for k, v in error.headers.items()}


def check_origin_reflection(report: Report, api: str, page_url: str, other_url: str, mode: str) -> None:
    """Outside the browser: the API must not reflect origin B (with credentials that would let any
    site read a victim's responses), and must answer origin A exactly."""
    a, b = origin(page_url), origin(other_url)
    url = f"{api}/api/v1/auth/refresh"
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    for label, method, extra in (("preflight", "OPTIONS", preflight), ("POST", "POST", None)):
        headers = cors_headers(url, method, b, extra)
        acao = headers.get("access-control-allow-origin")
        report.check(f"origin B not reflected in Access-Control-Allow-Origin ({label})", acao != b and acao != "*", acao)
    headers = cors_headers(url, "OPTIONS", a, preflight)
    report.check("origin A answered exactly on preflight", headers.get("access-control-allow-origin") == a, headers)
    if mode == "cookie":
        report.check(
            "origin A preflight allows credentials",
            headers.get("access-control-allow-credentials") == "true",
            headers,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", required=True, help="API base, e.g. http://localhost:9000")
    parser.add_argument("--page", required=True, help="origin A's page (allowed by CORS)")
    parser.add_argument("--other", required=True, help="origin B's page (not allowed)")
    parser.add_argument("--mode", choices=("token", "cookie"), required=True)
    parser.add_argument("--no-docs", action="store_true", help="skip /docs and /redoc")
    parser.add_argument("--api-key", help="send this key (x-api-key) on every call")
    parser.add_argument("--throttled-key", help="a key whose plan throttles a burst of 12")
    args = parser.parse_args()
    api = args.api.rstrip("/")

    report = Report()
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            steps = []
            if not args.no_docs:
                steps += [
                    ("/docs", lambda: check_swagger_ui(report, browser, api)),
                    ("/redoc", lambda: check_redoc(report, browser, api)),
                ]
            steps += [
                ("app flow", lambda: check_app_flow(report, browser, api, args.page, args.mode, args.api_key)),
                ("passkeys", lambda: check_passkey_flow(report, browser, api, args.page, args.mode, args.api_key)),
                ("totp login", lambda: check_totp_login(report, browser, api, args.page, args.mode, args.api_key)),
                ("gateway errors", lambda: check_gateway_errors(report, browser, api, args.page, args.api_key, args.throttled_key)),
                ("origin B", lambda: check_disallowed_origin(report, browser, api, args.other)),
                ("origin reflection", lambda: check_origin_reflection(report, api, args.page, args.other, args.mode)),
            ]
            for name, step in steps:
                t0 = time.monotonic()
                try:
                    step()
                except Exception as error:  # a timeout or a page error fails the step, not the run
                    report.crashed(name, error)
                print(f"     ({name}: {time.monotonic() - t0:.1f} s)", flush=True)
        finally:
            browser.close()
    elapsed = time.monotonic() - started
    keys = ", API key" if args.api_key else ""
    print(f"browser ({args.mode} mode{keys}): {report.passed} passed, {len(report.failed)} failed in {elapsed:.1f} s")
    for name in report.failed:
        print(f"  failed: {name}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
