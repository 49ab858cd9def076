//! Conditional requests (RFC 9110 §13): entity tags, `If-None-Match` on reads and `If-Match` on
//! writes.
//!
//! - **Validators** are strong [`ETag`]s: `"<n>"` from a version number that every write of the
//!   resource bumps in the same conditional write (users, uploads), or a digest of bytes fixed
//!   per build (the docs function). Never a hash of a body rendered per request.
//! - **`If-None-Match`** ([`IfNoneMatch`]): `*` or a list of tags, compared weakly (a `W/` tag
//!   matches its strong twin); a match answers [`not_modified`], a 304 with no body. A
//!   malformed field is ignored, as if absent: the client gets the full 200, which is always a
//!   correct answer to a GET.
//! - **`If-Match`** ([`IfMatch`]): `*` or a list of tags, compared strongly (a `W/` tag never
//!   matches). A field that names no current tag is 412 `PRECONDITION_FAILED` and nothing is
//!   written. A malformed field is 400 `BAD_REQUEST`: the client asked for a conditional write,
//!   so it must not silently become an unconditional one, and a 412 would send it into a
//!   read-and-retry loop its broken header can never leave.
//!
//! A 304 is an ordinary response to the layers ([`crate::layers`]): it still carries
//! `X-Request-ID`, the rate-limit headers and the handler's `Cache-Control` (personal data:
//! the layers' `no-store`), as RFC 9110 §15.4.5 asks of a 304 (the headers a 200 would have).

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use utoipa::openapi::{
    ObjectBuilder, Required, Type,
    path::{Parameter, ParameterBuilder, ParameterIn},
};

use crate::error::{ApiError, ErrorCode};

/// A strong entity tag, as sent in `ETag`: `"<opaque>"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// The tag of version `n` of a resource: `"<n>"`.
    pub fn version(n: i64) -> Self {
        Self(format!("\"{n}\""))
    }

    /// A tag of `opaque` (without quotes), if every character of it may be in a tag (visible
    /// ASCII but `"`): `None` otherwise.
    pub fn opaque(opaque: &str) -> Option<Self> {
        opaque
            .bytes()
            .all(is_etagc)
            .then(|| Self(format!("\"{opaque}\"")))
    }

    /// The header's value: `"<opaque>"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Between the quotes.
    fn inner(&self) -> &[u8] {
        let bytes = self.0.as_bytes();
        bytes.get(1..bytes.len().saturating_sub(1)).unwrap_or(&[])
    }

    /// The `ETag` header's value.
    pub fn header_value(&self) -> HeaderValue {
        // Made of etagc characters only (checked by the constructors): always a valid value.
        HeaderValue::from_str(&self.0).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
    }

    /// Adds `ETag: <self>` to `response`.
    pub fn set(&self, response: &mut Response) {
        response
            .headers_mut()
            .insert(header::ETAG, self.header_value());
    }
}

/// `etagc = %x21 / %x23-7E / obs-text`.
fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80
}

/// One tag of a field: weak or not, and its opaque part (without quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag {
    weak: bool,
    opaque: Vec<u8>,
}

/// A parsed `If-Match` or `If-None-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// `*`: any current representation.
    Any,
    /// `#entity-tag`: at least one tag.
    Tags(Vec<Tag>),
}

/// The field `name` of `headers`, every line of it joined as one list (RFC 9110 §5.3); `Ok(None)`
/// when absent, `Err(())` when malformed.
fn parse(headers: &HeaderMap, name: &HeaderName) -> Result<Option<Condition>, ()> {
    let mut lines = headers.get_all(name).iter().peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    let mut joined = Vec::new();
    for (i, line) in lines.enumerate() {
        if i > 0 {
            joined.push(b',');
        }
        joined.extend_from_slice(line.as_bytes());
    }
    parse_value(&joined).map(Some)
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `"*" / #entity-tag` (empty list elements allowed, as RFC 9110 §5.6.1 asks recipients to).
fn parse_value(value: &[u8]) -> Result<Condition, ()> {
    let trimmed: &[u8] = value.trim_ascii();
    if trimmed == b"*" {
        return Ok(Condition::Any);
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        while let Some((&b, tail)) = rest.split_first() {
            if is_ows(b) || b == b',' {
                rest = tail;
            } else {
                break;
            }
        }
        if rest.is_empty() {
            break;
        }
        let weak = rest.starts_with(b"W/");
        if weak {
            rest = rest.get(2..).ok_or(())?;
        }
        let Some((b'"', tail)) = rest.split_first() else {
            return Err(());
        };
        let end = tail.iter().position(|&b| b == b'"').ok_or(())?;
        let (opaque, after) = tail.split_at(end);
        if !opaque.iter().all(|&b| is_etagc(b)) {
            return Err(());
        }
        tags.push(Tag {
            weak,
            opaque: opaque.to_vec(),
        });
        // Past the closing quote: only OWS, then a comma or the end.
        rest = after.get(1..).unwrap_or_default();
        while let Some((&b, tail)) = rest.split_first() {
            if is_ows(b) {
                rest = tail;
            } else {
                break;
            }
        }
        match rest.split_first() {
            None => break,
            Some((b',', _)) => {}
            Some(_) => return Err(()),
        }
    }
    if tags.is_empty() {
        Err(())
    } else {
        Ok(Condition::Tags(tags))
    }
}

/// `If-None-Match`, for reads. Absent or malformed, it matches nothing.
#[derive(Debug, Clone, Default)]
pub struct IfNoneMatch(Option<Condition>);

impl IfNoneMatch {
    /// From a request's headers (a malformed field reads as absent).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self(parse(headers, &header::IF_NONE_MATCH).ok().flatten())
    }

    /// Whether the client's copy is `current` (weak comparison; `*` matches any current
    /// representation, so call this only when there is one).
    pub fn matches(&self, current: &ETag) -> bool {
        match &self.0 {
            None => false,
            Some(Condition::Any) => true,
            Some(Condition::Tags(tags)) => tags.iter().any(|t| t.opaque == current.inner()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

/// `If-Match`, for writes. Absent, the write is unconditional (as before it existed); malformed,
/// the extractor refuses the request with 400.
#[derive(Debug, Clone, Default)]
pub struct IfMatch(Option<Condition>);

impl IfMatch {
    /// From a request's headers; `Err` (400 `BAD_REQUEST`) for a malformed field.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        parse(headers, &header::IF_MATCH)
            .map(Self)
            .map_err(|()| ErrorCode::BadRequest.into())
    }

    /// Whether the client sent one.
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// Checks the field against `current` (strong comparison): `Ok` when absent, `*`, or naming
    /// `current`; 412 `PRECONDITION_FAILED` otherwise.
    pub fn check(&self, current: &ETag) -> Result<(), ApiError> {
        let holds = match &self.0 {
            None | Some(Condition::Any) => true,
            Some(Condition::Tags(tags)) => {
                tags.iter().any(|t| !t.weak && t.opaque == current.inner())
            }
        };
        if holds {
            Ok(())
        } else {
            Err(ErrorCode::PreconditionFailed.into())
        }
    }

    /// For a resource read at version `current`: the version its write must be conditioned on
    /// (`Some(current)`: the field named it, and the write must find it unchanged), `None` when
    /// the write is unconditional (no field, or `*`), or 412 when the field names another.
    pub fn expect_version(&self, current: i64) -> Result<Option<i64>, ApiError> {
        self.check(&ETag::version(current))?;
        Ok(match self.0 {
            Some(Condition::Tags(_)) => Some(current),
            None | Some(Condition::Any) => None,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_headers(&parts.headers)
    }
}

/// The 304 for a client whose copy is `etag`: no body, the tag, and `cache_control` when the
/// 200 would have had one of its own (else the layers add `no-store`, as on the 200).
pub fn not_modified(etag: &ETag, cache_control: Option<HeaderValue>) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    etag.set(&mut response);
    if let Some(value) = cache_control {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// The answer to a conditional GET of a resource whose current tag is `etag`: `full()` with
/// `ETag` added, or the 304 in its place when the client's copy is current (with the
/// `Cache-Control` `full()` chose, if any; an error is never replaced).
pub fn respond<R: IntoResponse>(
    if_none_match: &IfNoneMatch,
    etag: &ETag,
    full: impl FnOnce() -> R,
) -> Response {
    let mut response = full().into_response();
    if if_none_match.matches(etag) && response.status().is_success() {
        let cache_control = response.headers().get(header::CACHE_CONTROL).cloned();
        return not_modified(etag, cache_control);
    }
    etag.set(&mut response);
    response
}

/// A header parameter of the document; `pattern`, when the server refuses what it does not match.
fn header_parameter(name: &str, description: &str, pattern: Option<&str>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(pattern),
        ))
        .build()
}

/// `"*"` or a non-empty list of entity tags, in ASCII (`parse_value` also takes obs-text): a
/// value the document allows is one the server reads, so a malformed `If-Match` (400) is never
/// schema-valid.
const ENTITY_TAGS: &str = r#"^[ \t]*(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)[ \t]*$"#;

/// Not a parameter of the document: every `GET` that answers an `ETag` declares its 304, and
/// api.md describes the field. Declared, it made schemathesis send `If-None-Match: *` and then
/// count the 304 a valid request gets as a refusal, whatever its configuration said.
impl utoipa::IntoParams for IfNoneMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        Vec::new()
    }
}

impl utoipa::IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![header_parameter(
            "If-Match",
            "`*` or a list of entity tags: unless one is the current `ETag` (strong \
             comparison), the answer is 412 `PRECONDITION_FAILED` and nothing changes. Absent: \
             unconditional. Malformed: 400 `BAD_REQUEST`.",
            Some(ENTITY_TAGS),
        )]
    }
}

#[cfg(test)]
mod tests {
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
}
