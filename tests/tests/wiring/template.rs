//! The operational settings of `template.yaml` that no request can observe locally: access logs
//! with the request id, a retention for every log group, reserved concurrency for `auth` (so an
//! argon2 flood cannot starve the other functions). cfn-lint checks the syntax; this checks that
//! they are there, for every function, and stay there.

use crate::repo::{self, Yaml, text};

/// The resources of the template, by logical id.
fn resources(t: &Yaml) -> Vec<(String, Yaml)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), v.clone()))
        .collect()
}

#[test]
fn the_stage_writes_access_logs_with_the_request_id() {
    let t = repo::template();
    let api = &t["Resources"]["Api"]["Properties"];
    let format = text(&api["AccessLogSetting"]["Format"]);
    assert!(format.contains("$context.requestId"), "{format}");
    assert!(format.contains("$context.identity.sourceIp"), "{format}");
    let destination = &api["AccessLogSetting"]["DestinationArn"];
    assert!(!destination.is_null(), "an access log destination");
}

#[test]
fn every_function_and_the_access_log_have_a_log_group_with_a_retention() {
    let t = repo::template();
    let all = resources(&t);
    let groups: Vec<String> = all
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Logs::LogGroup")
        .map(|(_, r)| {
            assert!(
                !r["Properties"]["RetentionInDays"].is_null(),
                "log group without a retention: {r:?}"
            );
            text(&r["Properties"]["LogGroupName"])
        })
        .collect();
    for (name, _) in all
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
    {
        let expected = format!("/aws/lambda/${{{name}}}");
        assert!(
            groups.contains(&expected),
            "{name} has no log group {expected} with a retention: {groups:?}"
        );
    }
    assert!(groups.iter().any(|g| g.contains("/aws/apigateway/")));
}

#[test]
fn auth_has_reserved_concurrency_from_a_parameter() {
    let t = repo::template();
    let reserved = &t["Resources"]["AuthFunction"]["Properties"]["ReservedConcurrentExecutions"];
    let rendered = format!("{reserved:?}");
    assert!(
        rendered.contains("AuthReservedConcurrency"),
        "AuthFunction's ReservedConcurrentExecutions comes from the parameter: {rendered}"
    );
    assert!(!t["Parameters"]["AuthReservedConcurrency"].is_null());
}

#[test]
fn the_uploads_bucket_refuses_every_request_not_made_over_tls() {
    let t = repo::template();
    let policies: Vec<(String, Yaml)> = resources(&t)
        .into_iter()
        .filter(|(_, r)| r["Type"] == "AWS::S3::BucketPolicy")
        .collect();
    let denies_plain_http = policies.iter().any(|(_, p)| {
        let on_bucket = repo::shown(&p["Properties"]["Bucket"]).contains("UploadsBucket");
        let statements = p["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        on_bucket
            && statements.iter().any(|s| {
                let resources = repo::shown(&s["Resource"]);
                s["Effect"] == "Deny"
                    && s["Principal"] == "*"
                    && s["Action"] == "s3:*"
                    && text(&s["Condition"]["Bool"]["aws:SecureTransport"]) == "false"
                    && resources.contains("UploadsBucket.Arn}/*")
            })
    });
    assert!(
        denies_plain_http,
        "a bucket policy on UploadsBucket denies s3:* to everyone when aws:SecureTransport is \
         false, on the bucket and its objects: {policies:?}"
    );
}

/// A gateway response that names a fixed `error_code` answers it with the status and message the
/// functions' one table (`shared::ErrorCode`) gives it, so a client handles a gateway-made
/// error exactly as the same error from a function. The others name `$context` variables.
#[test]
fn every_gateway_response_speaks_the_error_table() {
    let t = repo::template();
    let responses = t["Resources"]["Api"]["Properties"]["GatewayResponses"]
        .as_mapping()
        .expect("Api.Properties.GatewayResponses");
    let mut fixed = 0;
    for (kind, response) in responses {
        let kind = kind.as_str().unwrap_or_default();
        let body = text(&response["ResponseTemplates"]["application/json"]);
        // Every gateway response is the envelope, with the CORS headers a browser needs.
        for field in [
            "\"detail\":",
            "\"error_code\":",
            "\"timestamp\":",
            "\"request_id\":",
        ] {
            assert!(body.contains(field), "{kind}: no {field} in {body}");
        }
        let headers = &response["ResponseParameters"]["Headers"];
        for header in [
            "X-Request-ID",
            "Access-Control-Allow-Origin",
            "Access-Control-Expose-Headers",
        ] {
            assert!(!headers[header].is_null(), "{kind}: no {header} header");
        }
        // Never the request's own Origin echoed back: any site could then read the answer,
        // with the refresh cookie in cookie mode.
        let allow = format!("{:?}", headers["Access-Control-Allow-Origin"]);
        assert!(
            !allow.contains("method.request"),
            "{kind}: Access-Control-Allow-Origin {allow}"
        );
        let Some(code) = body
            .split("\"error_code\":\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .filter(|code| !code.starts_with('$'))
        else {
            continue;
        };
        let entry = shared::ErrorCode::ALL
            .iter()
            .find(|c| c.as_str() == code)
            .unwrap_or_else(|| panic!("{kind}: {code} is not in shared::ErrorCode"));
        let message = format!("\"detail\":\"{}\"", entry.message());
        assert!(
            body.contains(&message),
            "{kind}: {body} does not say {message}"
        );
        if let Some(status) = response["StatusCode"].as_str() {
            assert_eq!(status, entry.status().as_str(), "{kind}: {code}");
        }
        fixed += 1;
    }
    assert!(
        fixed >= 4,
        "only {fixed} gateway responses with a fixed code"
    );
}
