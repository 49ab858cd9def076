//! Requests built as API Gateway (REST, v1) hands them to a function, for the tests that depend
//! on what only the gateway sets (the client's `sourceIp`).

use crate::unique;

/// A request as API Gateway (REST, v1) hands it to a function, from client `source_ip`: the
/// only way a client's address reaches our code (never a header it sets).
pub fn gateway_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    source_ip: &str,
) -> http::Request<lambda_http::Body> {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    let event = serde_json::json!({
        "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {}, "queryStringParameters": null,
        "multiValueQueryStringParameters": null, "pathParameters": null, "stageVariables": null,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": format!("/v1{path}"),
            "stage": "v1", "requestId": format!("e2e-{}", unique()), "accountId": "123456789012",
            "apiId": "abc123def4", "protocol": "HTTP/1.1", "requestTimeEpoch": 0,
            "identity": { "sourceIp": source_ip, "userAgent": "e2e" }
        },
        "body": body, "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway event")
}
