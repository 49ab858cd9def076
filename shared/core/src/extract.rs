//! Body extractors whose rejections are the project's envelope, not axum's plain text.

use axum::{
    extract::{FromRequest, Request},
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, ErrorCode, FieldError};

/// A JSON body, in and out. Extracted: 415 without a JSON content type, 400 for malformed JSON,
/// 422 for a wrong shape. Answered: axum's `Json` (the value serialized, `application/json`), so
/// that a handler names one `Json` for both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_content_type(&req, "application/json") {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be absent: an empty (or all-whitespace) body is `None` whatever the
/// content type; any other body must be `application/json` (415 otherwise) and parse (400/422).
#[derive(Debug, Clone, Copy, Default)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T, S> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = has_content_type(&req, "application/json");
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json {
            return Err(ErrorCode::UnsupportedMediaType.into());
        }
        parse_json(&bytes).map(|value| Self(Some(value)))
    }
}

/// Either a JSON or an `application/x-www-form-urlencoded` body, decided by the content type.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrForm<T>(pub T);

impl<T, S> FromRequest<S> for JsonOrForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if has_content_type(&req, "application/json") {
            let bytes = body_bytes(req, state).await?;
            return parse_json(&bytes).map(JsonOrForm);
        }
        if has_content_type(&req, "application/x-www-form-urlencoded") {
            let bytes = body_bytes(req, state).await?;
            let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(&bytes));
            return serde_path_to_error::deserialize(de)
                .map(JsonOrForm)
                .map_err(|err| field_error(&err.path().to_string(), &err.inner().to_string()));
        }
        Err(ErrorCode::UnsupportedMediaType.into())
    }
}

/// The client's IP address as API Gateway saw it: `requestContext.identity.sourceIp` (REST),
/// `requestContext.http.sourceIp` (HTTP APIs, `cargo lambda watch`), else the TCP peer when
/// served as plain HTTP with connect info. Never a header the client can set
/// (`X-Forwarded-For`). `None` when nothing says (in-process tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub Option<String>);

impl ClientIp {
    /// The address, or `unknown` (one shared bucket for requests that carry none).
    pub fn or_unknown(&self) -> &str {
        self.0.as_deref().unwrap_or("unknown")
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        use lambda_http::request::RequestContext;
        let gateway = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
            Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
            _ => None,
        };
        let peer = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip().to_string())
        };
        Ok(Self(gateway.filter(|ip| !ip.is_empty()).or_else(peer)))
    }
}

/// Query string: a wrong value is a 422 located at `["query", name]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|err| {
                let path = err.path().to_string();
                let mut loc = vec!["query".to_owned()];
                if path != "." {
                    loc.push(path);
                }
                ApiError::Validation(vec![FieldError {
                    loc,
                    msg: strip_position(&err.inner().to_string()),
                    kind: "value_error".to_owned(),
                }])
            })
    }
}

fn has_content_type(req: &Request, expected: &str) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case(expected))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            ErrorCode::PayloadTooLarge.into()
        } else {
            ErrorCode::BadRequest.into()
        }
    })
}

/// Parses JSON: syntax errors are 400, type/shape errors are 422 with the field's location.
/// Malformed wins: the whole document is read before any field is judged, so a body with an
/// unknown field and trailing bytes is a 400, not a 422 about the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    use serde_json::error::Category;
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|_| ErrorCode::BadRequest)?;
    // Well-formed, so its first byte that is not whitespace says what it is. Every body is an
    // object: serde would read an array into a struct by field position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_an_object());
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        match err.inner().classify() {
            Category::Syntax | Category::Eof | Category::Io => ErrorCode::BadRequest.into(),
            Category::Data => field_error(&err.path().to_string(), &err.inner().to_string()),
        }
    })?;
    // Trailing bytes after the value mean the body is not one JSON document.
    de.end().map_err(|_| ErrorCode::BadRequest)?;
    Ok(value)
}

/// The 422 of a well-formed body that is not a JSON object (an array, a string, a number,
/// `true`, `null`).
fn not_an_object() -> ApiError {
    ApiError::invalid_field(&["body"], "the body must be a JSON object", "value_error")
}

fn field_error(path: &str, message: &str) -> ApiError {
    // serde reports a missing field at the parent path, naming it in the message.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let mut loc: Vec<String> = vec!["body".to_owned()];
    if path != "." {
        loc.extend(path.split('.').map(str::to_owned));
    }
    let (msg, kind) = match missing {
        Some(field) => {
            loc.push(field.to_owned());
            ("Field required".to_owned(), "missing")
        }
        None if message.starts_with("unknown field") => {
            (strip_position(message), "extra_forbidden")
        }
        None => (strip_position(message), "value_error"),
    };
    ApiError::Validation(vec![FieldError {
        loc,
        msg,
        kind: kind.to_owned(),
    }])
}

fn strip_position(message: &str) -> String {
    // serde_json appends " at line 1 column 17"; it helps nobody reading an API response.
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
    }

    #[test]
    fn malformed_json_is_a_400() {
        let err = parse_json::<Signup>(b"{\"email\":").unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn trailing_garbage_is_a_400() {
        let err = parse_json::<Signup>(br#"{"email":"a@b.c","age":3} x"#).unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn an_unknown_field_then_trailing_bytes_is_a_400_not_a_422() {
        for body in [
            &br#"{"roles":["admin"]} x"#[..],
            br#"{"roles":1}{}"#,
            b"[1] ]",
        ] {
            let err = parse_json::<Signup>(body).unwrap_err();
            assert_eq!(err.status(), 400, "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_422_at_the_body() {
        for body in [
            &br#"["a@b.c", 3]"#[..],
            b" []",
            br#""text""#,
            b"5",
            b"true",
            b"null",
        ] {
            let ApiError::Validation(fields) = parse_json::<Signup>(body).unwrap_err() else {
                panic!("expected validation error")
            };
            assert_eq!(
                fields,
                [FieldError::new(
                    &["body"],
                    "the body must be a JSON object",
                    "value_error"
                )]
            );
        }
    }

    #[test]
    fn a_missing_field_is_a_422_naming_it() {
        let err = parse_json::<Signup>(br#"{"age":3}"#).unwrap_err();
        let ApiError::Validation(fields) = err else {
            panic!("expected validation error")
        };
        assert_eq!(fields[0].loc, ["body", "email"]);
        assert_eq!(fields[0].kind, "missing");
    }

    #[test]
    fn a_wrong_type_is_a_422_at_its_path() {
        let err = parse_json::<Signup>(br#"{"email":"a@b.c","age":"old"}"#).unwrap_err();
        let ApiError::Validation(fields) = err else {
            panic!("expected validation error")
        };
        assert_eq!(fields[0].loc, ["body", "age"]);
        assert!(!fields[0].msg.contains("line"));
    }

    #[test]
    fn an_unknown_field_is_a_422() {
        let err =
            parse_json::<Signup>(br#"{"email":"a@b.c","age":3,"roles":["admin"]}"#).unwrap_err();
        let ApiError::Validation(fields) = err else {
            panic!("expected validation error")
        };
        assert_eq!(fields[0].kind, "extra_forbidden");
    }
}
