//! Routing through the gateway and watch: readiness, the 404 envelope, request ids, and a body
//! that is not UTF-8 (which API Gateway passes base64-encoded, and so does `gateway.py`).

use http::Method;

use crate::Smoke;

/// Readiness through the stack: 200, no failed check, the users table among them.
pub(crate) async fn readiness_is_200_with_every_check_ok(s: Smoke) {
    let reply = s.http.get(&s.url("/health/readiness"), &[]).await;

    let text = reply.text();
    assert_eq!(reply.status, 200, "{text}");
    assert!(!text.contains("\"fail\""), "a failed check: {text}");
    assert!(text.contains("dynamodb:users"), "{text}");
}

/// A path no function serves reaches health's fallback: the 404 envelope, with a request id.
pub(crate) async fn an_unknown_path_is_a_404_envelope_with_a_request_id(s: Smoke) {
    let reply = s.http.get(&s.url("/nope"), &[]).await;

    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.json()["error_code"], "NOT_FOUND", "{}", reply.text());
    assert!(!reply.header("x-request-id").is_empty(), "no X-Request-ID");
}

/// A client's own request id comes back.
pub(crate) async fn a_client_request_id_is_echoed(s: Smoke) {
    let reply = s
        .http
        .get(&s.url("/health/liveness"), &[("X-Request-ID", "smoke-1")])
        .await;

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-request-id"), "smoke-1");
}

/// A body that is not UTF-8 reaches the function and gets its 400, not watch's own 500.
pub(crate) async fn a_body_that_is_not_utf8_is_the_functions_400_envelope(s: Smoke) {
    let reply = s
        .http
        .send(
            Method::POST,
            &s.api("/auth/signup"),
            &[("content-type", "application/json")],
            &b"\xff\xfe{"[..],
        )
        .await;

    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(
        reply.json()["error_code"],
        "BAD_REQUEST",
        "{}",
        reply.text()
    );
}
