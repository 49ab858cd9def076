//! Unit tests of [`super`]: the entity-tag grammar, both comparisons, the 400/412 split, and
//! the 304 through the layers.

use super::*;

#[test]
fn values_of_the_if_match_pattern_parse_and_those_outside_it_do_not() {
    // Values ENTITY_TAGS allows, and values outside it (an empty field among them).
    for ok in ["*", "\"1\"", " \"1\" , W/\"2\"", "\"\""] {
        assert!(parse_value(ok.as_bytes()).is_ok(), "{ok}");
    }
    for bad in ["", " ", "1", "\"1", "W/1", "\"1\" \"2\""] {
        assert!(parse_value(bad.as_bytes()).is_err(), "{bad:?} parsed");
    }
}

fn headers(name: HeaderName, values: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for v in values {
        map.append(name.clone(), HeaderValue::from_bytes(v).unwrap());
    }
    map
}

fn none_match(values: &[&[u8]]) -> IfNoneMatch {
    IfNoneMatch::from_headers(&headers(header::IF_NONE_MATCH, values))
}

fn if_match(values: &[&[u8]]) -> Result<IfMatch, ApiError> {
    IfMatch::from_headers(&headers(header::IF_MATCH, values))
}

fn code(err: ApiError) -> ErrorCode {
    match err {
        ApiError::Code(code) => code,
        other => panic!("not a code: {other:?}"),
    }
}

#[test]
fn a_version_tag_is_its_number_in_quotes() {
    assert_eq!(ETag::version(0).as_str(), "\"0\"");
    assert_eq!(ETag::version(42).header_value(), "\"42\"");
    assert_eq!(ETag::opaque("abc-1").unwrap().as_str(), "\"abc-1\"");
    assert!(ETag::opaque("a\"b").is_none());
    assert!(ETag::opaque("a b").is_none());
}

#[test]
fn if_none_match_compares_weakly_across_lists_and_lines() {
    let v7 = ETag::version(7);
    assert!(none_match(&[b"\"7\""]).matches(&v7));
    assert!(none_match(&[b"W/\"7\""]).matches(&v7), "weak comparison");
    assert!(none_match(&[b"\"1\", \"7\""]).matches(&v7));
    assert!(none_match(&[b"\"1\"", b"\"7\""]).matches(&v7), "two lines");
    assert!(
        none_match(&[b" , \"1\" ,, \"7\" "]).matches(&v7),
        "empty elements"
    );
    assert!(none_match(&[b"*"]).matches(&v7));
    assert!(!none_match(&[b"\"8\""]).matches(&v7));
    assert!(!none_match(&[]).matches(&v7));
    // "7" is not "07", nor a tag without quotes.
    assert!(!none_match(&[b"\"07\""]).matches(&v7));
}

#[test]
fn a_malformed_if_none_match_is_ignored_as_if_absent() {
    let v7 = ETag::version(7);
    for bad in [
        &b"7"[..],
        b"\"7",
        b"\"7\" \"8\"",
        b"w/\"7\"",
        b"",
        b"*, \"7\"",
    ] {
        assert!(!none_match(&[bad]).matches(&v7), "{bad:?}");
    }
    // One malformed line spoils the whole field.
    assert!(!none_match(&[b"\"7\"", b"junk"]).matches(&v7));
}

#[test]
fn if_match_compares_strongly_and_412s_otherwise() {
    let v3 = ETag::version(3);
    assert!(if_match(&[b"\"3\""]).unwrap().check(&v3).is_ok());
    assert!(if_match(&[b"\"1\", \"3\""]).unwrap().check(&v3).is_ok());
    assert!(if_match(&[b"*"]).unwrap().check(&v3).is_ok());
    assert!(if_match(&[]).unwrap().check(&v3).is_ok(), "absent");
    let stale = if_match(&[b"\"2\""]).unwrap().check(&v3).unwrap_err();
    assert_eq!(code(stale), ErrorCode::PreconditionFailed);
    let weak = if_match(&[b"W/\"3\""]).unwrap().check(&v3).unwrap_err();
    assert_eq!(
        code(weak),
        ErrorCode::PreconditionFailed,
        "a weak tag never matches"
    );
}

#[test]
fn a_malformed_if_match_is_a_400() {
    for bad in [&b"3"[..], b"\"3", b"", b"\"3\";x", b"\"a\"b\""] {
        let err = if_match(&[bad]).unwrap_err();
        assert_eq!(code(err), ErrorCode::BadRequest, "{bad:?}");
    }
}

#[test]
fn if_match_says_which_version_the_write_must_find() {
    assert_eq!(if_match(&[]).unwrap().expect_version(5).unwrap(), None);
    assert_eq!(if_match(&[b"*"]).unwrap().expect_version(5).unwrap(), None);
    assert_eq!(
        if_match(&[b"\"4\", \"5\""])
            .unwrap()
            .expect_version(5)
            .unwrap(),
        Some(5)
    );
    assert!(if_match(&[b"\"4\""]).unwrap().expect_version(5).is_err());
    assert!(if_match(&[]).unwrap().is_present().eq(&false));
    assert!(if_match(&[b"*"]).unwrap().is_present());
}

#[tokio::test]
async fn a_matching_get_is_a_bodiless_304_that_keeps_the_cache_policy() {
    use http_body_util::BodyExt;
    let tag = ETag::version(9);
    let full = || ([(header::CACHE_CONTROL, "public, max-age=60")], "the body");
    let hit = respond(&none_match(&[b"W/\"9\""]), &tag, full);
    assert_eq!(hit.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(hit.headers()[header::ETAG], "\"9\"");
    assert_eq!(hit.headers()[header::CACHE_CONTROL], "public, max-age=60");
    assert!(!hit.headers().contains_key(header::CONTENT_TYPE));
    let body = hit.into_body().collect().await.unwrap().to_bytes();
    assert!(body.is_empty());

    let miss = respond(&none_match(&[b"\"8\""]), &tag, full);
    assert_eq!(miss.status(), StatusCode::OK);
    assert_eq!(miss.headers()[header::ETAG], "\"9\"");
    let body = miss.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"the body");
}

#[tokio::test]
async fn an_error_is_never_turned_into_a_304() {
    let tag = ETag::version(1);
    let response = respond(&none_match(&[b"*"]), &tag, || ErrorCode::NotFound);
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_304_passes_the_layers_with_request_id_and_no_store() {
    use axum::{Router, routing::get};
    use tower::ServiceExt;
    let routes = Router::new().route(
        "/me",
        get(|inm: IfNoneMatch| async move { respond(&inm, &ETag::version(2), || "me") }),
    );
    let config = crate::Config::from_env(&crate::Env::from_pairs(&[]), "test", "0").unwrap();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .build(),
    );
    let limiter = std::sync::Arc::new(crate::ratelimit::RateLimiter::exempt(client));
    let app = crate::layers::apply(routes, &config, limiter);
    let request = axum::extract::Request::get("/me")
        .header(header::IF_NONE_MATCH, "\"2\"")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(response.headers().contains_key("x-request-id"));
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    assert_eq!(response.headers()[header::ETAG], "\"2\"");
}
