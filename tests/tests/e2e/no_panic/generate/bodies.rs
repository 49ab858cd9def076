//! Bodies: JSON objects shaped like the route's (plausible, one edge case, or anything), forms,
//! multipart, text, bytes, truncated and deeply nested JSON, bodies around the size limit; and
//! the values of their named fields.

use std::fmt::Write as _;

use super::{BodyKind, Gen, Mode, cut};
use crate::no_panic::{
    BODY_LIMIT,
    accounts::{USER_EMAIL, USER_NAME, USER_PASSWORD, USER_REFRESH},
};

impl Gen<'_> {
    pub(super) fn body(&mut self, template: &str) -> (Vec<u8>, BodyKind) {
        let fields = Self::fields_for(template);
        let roll = self.rng.below(100);
        let (text, kind) = match roll {
            0..=44 => (self.object(fields), BodyKind::Json),
            45..=47 => {
                let garbage = self
                    .rng
                    .pick(&["x", "}", "]", ",", "{}", "\0", " 1", "\n{\"a\":1}"]);
                (format!("{}{garbage}", self.object(fields)), BodyKind::Json)
            }
            48..=51 => {
                let text = if self.rng.percent(50) {
                    self.deep()
                } else {
                    let field = fields[self.rng.below(fields.len())];
                    format!("{{\"{field}\":{}}}", self.deep())
                };
                (text, BodyKind::Json)
            }
            52..=55 => {
                let mut text = self.object(fields);
                let at = self.rng.below(text.len());
                cut(&mut text, at);
                (text, BodyKind::Json)
            }
            56..=59 => (self.json(0), BodyKind::Json),
            60..=71 => return (self.form(fields), BodyKind::Form),
            72..=79 => {
                let n = self.rng.between(1, 512);
                return (self.rng.bytes(n), BodyKind::Bytes);
            }
            80..=84 => {
                let field = fields[self.rng.below(fields.len())];
                let value = self.field_text(field, Mode::Chaos);
                let end = if self.rng.percent(70) {
                    "--x--\r\n"
                } else {
                    ""
                };
                (
                    format!(
                        "--x\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n{end}"
                    ),
                    BodyKind::Multipart,
                )
            }
            85..=87 => (self.text(200), BodyKind::Text),
            88..=89 => {
                // Just over the limit (413) or just under it (parsed: one huge field).
                let field = fields[self.rng.below(fields.len())];
                let size = if self.rng.percent(50) {
                    BODY_LIMIT + self.rng.between(1, 4096)
                } else {
                    BODY_LIMIT - 64
                };
                let filler = "a".repeat(size);
                (format!("{{\"{field}\":\"{filler}\"}}"), BodyKind::Json)
            }
            _ => (String::new(), BodyKind::Empty),
        };
        (text.into_bytes(), kind)
    }

    fn fields_for(template: &str) -> &'static [&'static str] {
        match template {
            "/api/v1/auth/signup" => &["username", "email", "password", "first_name", "last_name"],
            "/api/v1/auth/login" => &[
                "username",
                "password",
                "grant_type",
                "scope",
                "client_id",
                "client_secret",
            ],
            "/api/v1/auth/refresh" => &["refresh_token"],
            "/api/v1/auth/verify-email" => &["token"],
            "/api/v1/auth/password/reset" => &["token", "new_password"],
            "/api/v1/auth/verify-email/resend" | "/api/v1/auth/password/forgot" => &["email"],
            "/api/v1/auth/password/change" => &["current_password", "new_password"],
            "/api/v1/users/me" => &["first_name", "last_name", "username"],
            "/api/v1/users/{id}" => &["roles", "tier", "disabled"],
            _ => &["name", "id", "value"],
        }
    }

    /// How bodies are filled: a quarter plausible (validation passes and the handlers' own code
    /// runs), a third plausible but for one edge case or wrong type, the rest anything.
    fn modes(&mut self, fields: &[&str]) -> Vec<Mode> {
        match self.rng.below(100) {
            0..=24 => vec![Mode::Plausible; fields.len()],
            25..=54 => {
                let odd = self.rng.below(fields.len());
                (0..fields.len())
                    .map(|i| {
                        if i == odd {
                            Mode::Edge
                        } else {
                            Mode::Plausible
                        }
                    })
                    .collect()
            }
            _ => vec![Mode::Chaos; fields.len()],
        }
    }

    fn object(&mut self, fields: &[&str]) -> String {
        let modes = self.modes(fields);
        let plausible = modes.iter().all(|m| *m != Mode::Chaos);
        let mut members = Vec::new();
        for (field, mode) in fields.iter().zip(modes) {
            if self.rng.percent(if plausible { 3 } else { 12 }) {
                continue;
            }
            members.push(format!("\"{field}\":{}", self.field_json(field, mode)));
            if self.rng.percent(4) {
                members.push(format!("\"{field}\":{}", self.field_json(field, mode)));
            }
        }
        if self.rng.percent(if plausible { 3 } else { 12 }) {
            let key = Self::json_string(&self.text(10));
            members.push(format!("{key}:{}", self.json(1)));
        }
        format!("{{{}}}", members.join(","))
    }

    fn form_encode(text: &str) -> String {
        let mut out = String::new();
        for b in text.bytes() {
            match b {
                b' ' => out.push('+'),
                b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => out.push(b as char),
                b => {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        out
    }

    fn form(&mut self, fields: &[&str]) -> Vec<u8> {
        let modes = self.modes(fields);
        let plausible = modes.iter().all(|m| *m != Mode::Chaos);
        let mut pairs: Vec<String> = Vec::new();
        for (field, mode) in fields.iter().zip(modes) {
            if self.rng.percent(if plausible { 3 } else { 12 }) {
                continue;
            }
            let mut value = Self::form_encode(&self.field_text(field, mode));
            if self.rng.percent(if plausible { 5 } else { 20 }) {
                let odd = self.rng.pick(&[
                    "%",
                    "%z",
                    "%zz",
                    "%0",
                    "%00",
                    "%FF",
                    "%C3%28",
                    "%E2%82",
                    "+",
                    "%2B",
                    "==",
                    "&",
                    "%ED%A0%80",
                ]);
                let at = self.rng.below(value.len() + 1);
                if value.is_char_boundary(at) {
                    value.insert_str(at, odd);
                }
            }
            pairs.push(match self.rng.below(20) {
                0 => (*field).to_owned(),
                1 => format!("{field}={value}&{field}={value}"),
                _ => format!("{field}={value}"),
            });
        }
        if self.rng.percent(15) {
            pairs.push(format!(
                "{}={}",
                Self::form_encode(&self.text(8)),
                self.alnum(4)
            ));
        }
        let separator = self.rng.pick(&["&", "&", "&", "&&", ";"]);
        let mut body = pairs.join(separator).into_bytes();
        if self.rng.percent(10) {
            let n = self.rng.between(1, 20);
            body.extend(self.rng.bytes(n));
        }
        body
    }

    // ---------------------------------------------------------------- field values

    /// A string value for the field: plausible (it passes validation), an edge case of its
    /// kind, or anything (`Mode::Chaos` mixes the three).
    fn field_text(&mut self, field: &str, mode: Mode) -> String {
        match mode {
            Mode::Plausible => self.plausible_text(field),
            Mode::Edge => self.edge_text(field),
            Mode::Chaos => match self.rng.below(10) {
                0..=3 => self.hostile(),
                4..=6 => self.plausible_text(field),
                _ => self.edge_text(field),
            },
        }
    }

    fn plausible_text(&mut self, field: &str) -> String {
        match field {
            "username" => match self.rng.below(4) {
                0 => USER_NAME.to_owned(),
                _ => format!("user_{}", self.alnum(10)),
            },
            "email" => match self.rng.below(4) {
                0 => USER_EMAIL.to_owned(),
                _ => format!("{}@example.com", self.alnum(10)),
            },
            "password" | "current_password" => match self.rng.below(2) {
                0 => USER_PASSWORD.to_owned(),
                _ => format!("lantern {} orbit", self.alnum(8)),
            },
            "new_password" | "client_secret" => format!("lantern {} orbit", self.alnum(8)),
            "first_name" | "last_name" => {
                self.rng.pick(&["Test", "Ana María", "O'Brien"]).to_owned()
            }
            "token" | "refresh_token" => match self.rng.below(3) {
                0 => USER_REFRESH.to_owned(),
                _ => self.jwt(),
            },
            "grant_type" => "password".to_owned(),
            "tier" => self.rng.pick(&["free", "pro"]).to_owned(),
            _ => self.alnum(8),
        }
    }

    fn edge_text(&mut self, field: &str) -> String {
        match field {
            "username" => self
                .rng
                .pick(&[
                    "ab",
                    "abc",
                    &"a".repeat(50),
                    &"a".repeat(51),
                    "admin",
                    "user name",
                    "ü_ser",
                    "ＵＳＥＲ_x",
                    "İstanbul",
                    "user\u{200b}x",
                    "___",
                    "---",
                    "user@x",
                    &"ﬃ".repeat(20),
                    &"İ".repeat(40),
                    "  user_x  ",
                    "u\u{0301}ser",
                    &format!(" {USER_NAME} "),
                ])
                .to_owned(),
            "email" => self
                .rng
                .pick(&[
                    "",
                    "@",
                    "a@",
                    "@b",
                    "a@b",
                    "a@b.c",
                    "a@@b.c",
                    "a@b..c",
                    "a@.b.c",
                    "a@-b.c",
                    "a@b-.c",
                    "a@xn--.com",
                    "a@xn--zz.com",
                    "a@xn--ls8h.la",
                    "a@xn--80ak6aa92e.com",
                    "ä@b.de",
                    "a@ü.de",
                    "a@ß.de",
                    "a@ＥＸＡＭＰＬＥ．ｃｏｍ",
                    "a＠b.co",
                    "a@[127.0.0.1]",
                    "\"a b\"@c.de",
                    "a@b.co\u{0}",
                    "a@b.co.",
                    "a@b.co\u{202e}",
                    "A@B.CO",
                    "a+tag@b.co",
                    "a@localhost",
                    "a@1.2.3.4",
                    "ΑΒΓ@δ.gr",
                    "a@b.c@d.e",
                    " a@b.co ",
                    "a@\u{00ad}b.com",
                    "a@\u{212a}.com",
                    "a@b.co\u{fe0f}",
                    "a@\u{200b}.com",
                    "a@İ.com",
                    &format!("{}@b.co", "a".repeat(65)),
                    &format!("a@{}.com", "b".repeat(64)),
                    &format!("a@{}com", "b.".repeat(130)),
                    &format!("a@{}.com", "ü".repeat(300)),
                    &format!("{}@b.co", "İ".repeat(300)),
                ])
                .to_owned(),
            "password" | "new_password" | "current_password" | "client_secret" => self
                .rng
                .pick(&[
                    "",
                    "a",
                    "password",
                    "12345678",
                    "correct horse battery staple",
                    &"x".repeat(10_000),
                    &"🔒".repeat(100),
                    &"\u{0}".repeat(20),
                    &"İ".repeat(200),
                    &"aA1!".repeat(300),
                    USER_NAME,
                    &format!("{USER_PASSWORD} "),
                ])
                .to_owned(),
            "first_name" | "last_name" => self
                .rng
                .pick(&[
                    "Ⅻ",
                    "\u{202e}evil",
                    "a\nb",
                    "",
                    " ",
                    &"é".repeat(200),
                    "ǅemal",
                    "\u{0301}",
                    &"İ".repeat(100),
                ])
                .to_owned(),
            "token" | "refresh_token" => match self.rng.below(3) {
                0 => self.tampered(),
                1 => format!("{USER_REFRESH}x"),
                _ => self.jwt(),
            },
            "grant_type" => self
                .rng
                .pick(&["", "client_credentials", "PASSWORD"])
                .to_owned(),
            "tier" => self
                .rng
                .pick(&["enterprise", "", "FREE", "free "])
                .to_owned(),
            _ => self.hostile(),
        }
    }

    /// A JSON value for the field: plausible, an edge case, or anything (often a wrong type).
    fn field_json(&mut self, field: &str, mode: Mode) -> String {
        let any = match mode {
            Mode::Plausible => false,
            Mode::Edge => self.rng.percent(30),
            Mode::Chaos => self.rng.percent(35),
        };
        if any {
            return self.json(1);
        }
        match (field, mode) {
            ("roles", Mode::Plausible) => self
                .rng
                .pick(&[r#"["user"]"#, r#"["admin","user"]"#])
                .to_owned(),
            ("roles", _) => self
                .rng
                .pick(&[
                    "[]",
                    r#"["admin"]"#,
                    r#"["superuser"]"#,
                    r#"["user","user"]"#,
                    r#"["ADMIN"]"#,
                    "[null]",
                    "[1]",
                    r#""admin""#,
                    r#"[["admin"]]"#,
                    &format!("[{}]", vec![r#""user""#; 1_000].join(",")),
                ])
                .to_owned(),
            ("disabled", Mode::Plausible) => self.rng.pick(&["true", "false"]).to_owned(),
            ("disabled", _) => self.rng.pick(&["\"true\"", "1", "null"]).to_owned(),
            _ => Self::json_string(&self.field_text(field, mode)),
        }
    }
}
