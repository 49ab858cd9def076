//! Headers: `Content-Type` (matching the body or not), `Authorization` (live tokens, forged JWTs,
//! bent real tokens, opaque bytes), `Cookie`, `X-Request-ID` and a few others; and the token
//! forgeries, which bodies carry too.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};

use super::{BodyKind, Gen, NUMBERS};
use crate::no_panic::accounts::{ADMIN_ACCESS, USER_ACCESS, USER_REFRESH};

impl Gen<'_> {
    pub(super) fn headers(
        &mut self,
        kind: BodyKind,
        method: &str,
        template: Option<&str>,
    ) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers = Vec::new();
        if let Some(v) = self.content_type(kind) {
            headers.push(("content-type", v));
        }
        if let Some(v) = self.authorization(template) {
            headers.push(("authorization", v));
        }
        if let Some(v) = self.cookie() {
            headers.push(("cookie", v));
        }
        if let Some(v) = self.request_id() {
            headers.push(("x-request-id", v));
        }
        if self.rng.percent(8) {
            let origin = self.rng.pick(&[
                "https://app.example.com",
                "null",
                "http://localhost:3000",
                "*",
                "%",
            ]);
            headers.push(("origin", origin.as_bytes().to_vec()));
            if method == "OPTIONS" || self.rng.percent(30) {
                let asked = self.rng.pick(&["GET", "POST", "FOO", "", "DELETE, PATCH"]);
                headers.push(("access-control-request-method", asked.as_bytes().to_vec()));
            }
        }
        if self.rng.percent(5) {
            headers.push(("x-forwarded-for", self.text(30).into_bytes()));
        }
        if self.rng.percent(5) {
            headers.push(("accept", self.text(20).into_bytes()));
        }
        // HeaderValue takes visible ASCII, spaces, tabs and opaque bytes >= 0x80: map the rest.
        for (_, value) in &mut headers {
            for b in value.iter_mut() {
                if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
                    *b = b'?';
                }
            }
        }
        headers
    }

    fn content_type(&mut self, kind: BodyKind) -> Option<Vec<u8>> {
        if self.rng.percent(70) {
            let matching: Option<&str> = match kind {
                BodyKind::Json => Some(self.rng.pick(&[
                    "application/json",
                    "application/json",
                    "application/json; charset=utf-8",
                    "Application/JSON",
                    "application/json;charset=latin1",
                ])),
                BodyKind::Form => Some(self.rng.pick(&[
                    "application/x-www-form-urlencoded",
                    "application/x-www-form-urlencoded; charset=UTF-8",
                ])),
                BodyKind::Multipart => Some("multipart/form-data; boundary=x"),
                BodyKind::Text => Some("text/plain"),
                BodyKind::Bytes => Some("application/octet-stream"),
                BodyKind::Empty => None,
            };
            return matching.map(|v| v.as_bytes().to_vec());
        }
        match self.rng.below(12) {
            0 | 1 => None,
            2 => Some(b"application/x-www-form-urlencoded".to_vec()),
            3 => Some(b"text/plain".to_vec()),
            4 => Some(b"multipart/form-data; boundary=x".to_vec()),
            5 => Some(self.text(30).into_bytes()),
            6 => Some(b"application/json\xff\xfe".to_vec()),
            7 => Some(
                self.rng
                    .pick(&[
                        "application/jsonx",
                        "json",
                        ";",
                        "",
                        "application/json, text/plain",
                        "application/vnd.api+json",
                        " application/json ",
                        "application/json;;;",
                        "application/x-www-form-urlencoded;application/json",
                    ])
                    .as_bytes()
                    .to_vec(),
            ),
            // application/json, the most common.
            _ => Some(b"application/json".to_vec()),
        }
    }

    /// The `Authorization` header: on routes behind authentication, a live account's token
    /// half of the time (an admin's on admin routes), so the handlers behind it run too.
    fn authorization(&mut self, template: Option<&str>) -> Option<Vec<u8>> {
        let admin_route =
            template.is_some_and(|t| t == "/api/v1/users" || t == "/api/v1/users/{id}");
        let user_route = template.is_some_and(|t| {
            t == "/api/v1/users/me"
                || t.ends_with("/logout")
                || t.ends_with("/logout-all")
                || t.ends_with("/password/change")
        });
        if (admin_route || user_route) && self.rng.percent(55) {
            let token = if admin_route && self.rng.percent(80) {
                ADMIN_ACCESS
            } else {
                USER_ACCESS
            };
            let value = match self.rng.below(10) {
                0 => format!("bearer   {token}  "),
                1 => format!("BEARER {token}"),
                _ => format!("Bearer {token}"),
            };
            return Some(value.into_bytes());
        }
        let value: Vec<u8> = match self.rng.below(100) {
            0..=29 => return None,
            30..=39 => {
                let n = self.rng.between(0, 300);
                format!("Bearer {}", self.alnum(n)).into_bytes()
            }
            40..=54 => format!("Bearer {}", self.jwt()).into_bytes(),
            55..=62 => format!("Bearer {USER_ACCESS}").into_bytes(),
            63..=70 => format!("Bearer {ADMIN_ACCESS}").into_bytes(),
            71..=73 => format!("Bearer {USER_REFRESH}").into_bytes(),
            74..=77 => match self.rng.below(7) {
                0 => format!("bearer   {USER_ACCESS}  ").into_bytes(),
                1 => format!("BEARER {ADMIN_ACCESS}").into_bytes(),
                2 => format!("Bearer {ADMIN_ACCESS}x").into_bytes(),
                3 => format!("Bearer x{USER_ACCESS}").into_bytes(),
                4 => format!("Bearer {USER_ACCESS} {ADMIN_ACCESS}").into_bytes(),
                5 => format!("Bearer\t{ADMIN_ACCESS}").into_bytes(),
                _ => format!("Bearer {}", self.tampered()).into_bytes(),
            },
            78..=83 => {
                let credentials = if self.rng.percent(50) {
                    STANDARD.encode(format!("{}:{}", self.text(10), self.text(10)))
                } else {
                    self.text(20)
                };
                format!("Basic {credentials}").into_bytes()
            }
            84..=87 => {
                let mut value = b"Bearer ".to_vec();
                let n = self.rng.between(1, 40);
                value.extend(self.rng.bytes(n).iter().map(|b| b | 0x80));
                value
            }
            88..=91 => self
                .rng
                .pick(&[
                    "", "Bearer", "Bearer ", " ", "Token x", "Bearer  ", "Bearer .",
                ])
                .as_bytes()
                .to_vec(),
            92..=94 => format!("Bearer {}", "a".repeat(8_000)).into_bytes(),
            _ => {
                let n = self.rng.between(1, 100);
                self.rng.bytes(n)
            }
        };
        Some(value)
    }

    fn cookie(&mut self) -> Option<Vec<u8>> {
        let value: Vec<u8> = match self.rng.below(100) {
            0..=64 => return None,
            65..=74 => format!("refresh_token={}", self.alnum(40)).into_bytes(),
            75..=79 => format!("refresh_token={USER_REFRESH}").into_bytes(),
            80..=83 => format!("refresh_token={}", self.jwt()).into_bytes(),
            84..=87 => b"refresh_token=".to_vec(),
            88..=91 => format!("a=b; refresh_token=x; refresh_token={USER_REFRESH}").into_bytes(),
            92..=95 => {
                let n = self.rng.between(1, 60);
                self.rng.bytes(n)
            }
            _ => self
                .rng
                .pick(&["refresh_token", ";;;", "=", "refresh_token==", " ; = ; "])
                .as_bytes()
                .to_vec(),
        };
        Some(value)
    }

    fn request_id(&mut self) -> Option<Vec<u8>> {
        let value: Vec<u8> = match self.rng.below(100) {
            0..=49 => return None,
            50..=64 => {
                let n = self.rng.between(1, 64);
                self.alnum(n).into_bytes()
            }
            65..=71 => "a".repeat(129).into_bytes(),
            72..=75 => "r".repeat(10_000).into_bytes(),
            76..=83 => {
                let text = self.text(20);
                text.escape_unicode().to_string().into_bytes()
            }
            84..=89 => self.text(20).into_bytes(),
            90..=94 => self
                .rng
                .pick(&["a b", "a\"b", "<script>", "../../x", "a\tb", "%0d%0aX: y"])
                .as_bytes()
                .to_vec(),
            _ => Vec::new(),
        };
        Some(value)
    }

    // ---------------------------------------------------------------- tokens

    /// A forged JWT: real or random header, random claims, real or random signature.
    pub(super) fn jwt(&mut self) -> String {
        let kid = self.samples.kid.clone();
        let header = match self.rng.below(7) {
            0 | 1 => self.samples.header.clone(),
            2 => URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            3 => URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#)),
            4 => URL_SAFE_NO_PAD.encode(self.json(0)),
            5 => {
                let n = self.rng.between(0, 40);
                URL_SAFE_NO_PAD.encode(self.rng.bytes(n))
            }
            _ => URL_SAFE_NO_PAD.encode(format!(
                r#"{{"alg":"EdDSA","typ":"JWT","kid":{},"crit":{}}}"#,
                self.json(2),
                self.json(3)
            )),
        };
        let payload = match self.rng.below(4) {
            0 | 1 => {
                let claims = [
                    "sub", "exp", "iat", "nbf", "iss", "aud", "jti", "sid", "typ", "kind",
                ];
                let mut fields = Vec::new();
                for claim in claims {
                    if self.rng.percent(30) {
                        continue;
                    }
                    let value = if self.rng.percent(40) {
                        self.rng.pick(NUMBERS).to_owned()
                    } else {
                        self.json(2)
                    };
                    fields.push(format!("\"{claim}\":{value}"));
                }
                URL_SAFE_NO_PAD.encode(format!("{{{}}}", fields.join(",")))
            }
            2 => self.samples.payload.clone(),
            _ => {
                let n = self.rng.between(0, 60);
                URL_SAFE_NO_PAD.encode(self.rng.bytes(n))
            }
        };
        let signature = match self.rng.below(4) {
            0 => String::new(),
            1 => self.samples.signature.clone(),
            2 => URL_SAFE_NO_PAD.encode(self.rng.bytes(64)),
            _ => self.alnum_in(1, 100),
        };
        match self.rng.below(10) {
            0 => format!("{header}.{payload}"),
            1 => format!("{header}.{payload}.{signature}.{signature}"),
            2 => "..".to_owned(),
            _ => format!("{header}.{payload}.{signature}"),
        }
    }

    /// A real token, bent: one character flipped, truncated, or padded.
    pub(super) fn tampered(&mut self) -> String {
        let mut token = self.samples.token.clone();
        match self.rng.below(4) {
            0 if !token.is_empty() => self.flip(&mut token),
            1 => token.truncate(self.rng.below(token.len() + 1)),
            2 => token.push_str(&self.alnum(3)),
            _ => token = token.replace('.', ".."),
        }
        token
    }
}
