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
mod tests;
