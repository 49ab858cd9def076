//! Body extractors whose rejections are the project's envelope, not axum's plain text.

use axum::{
    extract::{FromRequest, Request},
    http::header,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ApiError, ErrorCode, FieldError};

mod fields;

/// A request body's own rules beyond its shape, so that one 422 names every failing field: when
/// some fields have the wrong shape (a wrong type, missing, unknown, repeated), the extractors add
/// what these rules say about the others. A body with no rule the extractor can judge alone
/// (every rule needs a store, a token or the caller) implements it empty.
pub trait Validate {
    /// Every rule the body breaks, judged from the body alone: the failures its handler's own
    /// check reports (usually that check's [`failures`]). Only asked when the shape failed; the
    /// handler checks the rules itself otherwise.
    fn rule_errors(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

/// The field errors of a check's outcome: its 422's list, none when it passed (or failed with
/// anything but a 422).
pub fn failures<T>(checked: Result<T, ApiError>) -> Vec<FieldError> {
    match checked {
        Err(ApiError::Validation(errors)) => errors,
        _ => Vec::new(),
    }
}

/// A JSON body, in and out. Extracted: 415 without a JSON content type, 400 for malformed JSON,
/// 422 for a body that is not an object or has the wrong shape, naming every failing field
/// ([`Validate`]). Answered: axum's `Json` (the value serialized, `application/json`), so
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
    T: DeserializeOwned + Validate,
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
    T: DeserializeOwned + Validate,
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
/// A form's fields are text: the struct a form fills holds strings.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrForm<T>(pub T);

impl<T, S> FromRequest<S> for JsonOrForm<T>
where
    T: DeserializeOwned + Validate,
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
            return parse_form(&bytes).map(JsonOrForm);
        }
        Err(ErrorCode::UnsupportedMediaType.into())
    }
}

/// The client's IP address as API Gateway saw it: `requestContext.identity.sourceIp` of the
/// REST v1 event (deployed, and from the local gateway), else the TCP peer when served as plain
/// HTTP with connect info. Never a header the client can set
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
                    msg: fields::strip_position(&err.inner().to_string()),
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

/// Parses a JSON body: 400 when it does not parse (malformed wins: the whole document is read
/// before any field is judged, so an unknown field followed by trailing bytes is a 400), 422 at
/// `["body"]` when it is not an object (serde would read an array into a struct by field
/// position), 422 naming every failing field otherwise.
pub fn parse_json<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    fields::read(&fields::parse_object(bytes)?)
}

/// Parses an `application/x-www-form-urlencoded` body, every field a string; a 422 names every
/// failing field, as for JSON.
pub fn parse_form<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, ApiError> {
    let members = form_urlencoded::parse(bytes)
        .map(|(name, value)| {
            (
                name.into_owned(),
                serde_json::Value::String(value.into_owned()),
            )
        })
        .collect();
    fields::read(&members)
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

    /// `email` must hold an `@`.
    impl Validate for Signup {
        fn rule_errors(&self) -> Vec<FieldError> {
            if self.email.contains('@') {
                Vec::new()
            } else {
                vec![FieldError::new(
                    &["body", "email"],
                    "no @",
                    "value_error.email",
                )]
            }
        }
    }

    /// Ignores unknown fields; `tags` is a list, `nickname` optional.
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Lenient {
        name: String,
        tags: Vec<String>,
        nickname: Option<String>,
    }

    impl Validate for Lenient {}

    /// The `(loc, type)` of every failure, in order.
    fn failures_of<T: DeserializeOwned + Validate + std::fmt::Debug>(
        body: &[u8],
    ) -> Vec<(Vec<String>, String)> {
        let ApiError::Validation(fields) = parse_json::<T>(body).unwrap_err() else {
            panic!("expected validation error")
        };
        fields.into_iter().map(|f| (f.loc, f.kind)).collect()
    }

    fn at(loc: &[&str], kind: &str) -> (Vec<String>, String) {
        (
            loc.iter().map(|s| (*s).to_owned()).collect(),
            kind.to_owned(),
        )
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

    #[test]
    fn every_failing_field_is_named_in_the_order_the_type_declares_them() {
        assert_eq!(
            failures_of::<Signup>(br#"{"age":"old","roles":1,"x":2}"#),
            [
                at(&["body", "email"], "missing"),
                at(&["body", "age"], "value_error"),
                at(&["body", "roles"], "extra_forbidden"),
                at(&["body", "x"], "extra_forbidden"),
            ]
        );
        assert_eq!(
            failures_of::<Signup>(b"{}"),
            [
                at(&["body", "email"], "missing"),
                at(&["body", "age"], "missing")
            ]
        );
    }

    #[test]
    fn the_rules_of_the_fields_whose_shape_was_right_follow_the_shapes_failures() {
        assert_eq!(
            failures_of::<Signup>(br#"{"email":"nowhere","age":-1}"#),
            [
                at(&["body", "age"], "value_error"),
                at(&["body", "email"], "value_error.email"),
            ]
        );
        // A field whose shape failed is not judged by the rules too.
        assert_eq!(
            failures_of::<Signup>(br#"{"email":5,"age":300}"#),
            [
                at(&["body", "email"], "value_error"),
                at(&["body", "age"], "value_error"),
            ]
        );
    }

    #[test]
    fn a_repeated_field_is_refused_and_the_others_still_read() {
        let ApiError::Validation(fields) =
            parse_json::<Signup>(br#"{"email":"a@b.c","email":"d@e.f","age":"x"}"#).unwrap_err()
        else {
            panic!("expected validation error")
        };
        assert_eq!(
            fields,
            [
                FieldError::new(&["body", "email"], "duplicate field `email`", "value_error"),
                FieldError::new(
                    &["body", "age"],
                    "invalid type: string \"x\", expected u8",
                    "value_error"
                ),
            ]
        );
    }

    #[test]
    fn a_type_that_ignores_unknown_fields_still_ignores_them() {
        let body: Lenient =
            parse_json(br#"{"name":"a","tags":["b"],"other":1,"other":2}"#).unwrap();
        assert_eq!(body.tags, ["b"]);
        assert_eq!(
            failures_of::<Lenient>(br#"{"tags":[1,"b",2],"nickname":3,"other":1}"#),
            [
                at(&["body", "name"], "missing"),
                at(&["body", "tags[0]"], "value_error"),
                at(&["body", "nickname"], "value_error"),
            ]
        );
    }

    #[test]
    fn a_body_of_many_unknown_fields_names_the_first_32() {
        let mut body = String::from(r#"{"email":"a@b.c","age":3"#);
        for i in 0..10_000 {
            body.push_str(&format!(r#","x{i}":{i}"#));
        }
        body.push('}');
        let ApiError::Validation(fields) = parse_json::<Signup>(body.as_bytes()).unwrap_err()
        else {
            panic!("expected validation error")
        };
        assert_eq!(fields.len(), 32);
        assert_eq!(fields[0].loc, ["body", "x0"]);
        assert_eq!(fields[31].loc, ["body", "x31"]);
    }

    #[test]
    fn the_messages_are_serdes_without_the_position() {
        let ApiError::Validation(fields) =
            parse_json::<Signup>(br#"{"email":"a@b.c","age":3,"roles":1}"#).unwrap_err()
        else {
            panic!("expected validation error")
        };
        assert_eq!(
            fields[0].msg,
            "unknown field `roles`, expected `email` or `age`"
        );
    }

    #[test]
    fn a_form_names_every_failing_field_too() {
        let ApiError::Validation(fields) =
            parse_form::<Signup>(b"age=x&email=a&email=b&z=1").unwrap_err()
        else {
            panic!("expected validation error")
        };
        let kinds: Vec<_> = fields.into_iter().map(|f| (f.loc, f.kind)).collect();
        assert_eq!(
            kinds,
            [
                at(&["body", "email"], "value_error"),
                at(&["body", "age"], "value_error"),
                at(&["body", "z"], "extra_forbidden"),
            ]
        );
    }
}
