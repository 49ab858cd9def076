//! Request targets: route paths with hostile `{param}`s, random paths, and query strings.

use std::fmt::Write as _;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{Gen, cut};
use crate::no_panic::{
    MAX_PATH,
    accounts::{ADMIN_ID, USER_ID},
};

impl Gen<'_> {
    /// Percent-encodes all but unreserved characters and sub-delimiters.
    fn encode(text: &str) -> String {
        let mut out = String::new();
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
                out.push(b as char);
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    }

    /// An already encoded path parameter.
    fn param(&mut self) -> String {
        match self.rng.below(15) {
            0 => USER_ID.to_owned(),
            1 => ADMIN_ID.to_owned(),
            // A well-formed id that names nobody (it reaches the store), or one that is not hex.
            2 => {
                let id = format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    self.rng.next_u64() as u32,
                    self.rng.next_u64() as u16,
                    self.rng.next_u64() & 0xfff,
                    self.rng.next_u64() & 0xfff,
                    self.rng.next_u64() & 0xffff_ffff_ffff
                );
                if self.rng.percent(20) {
                    id.replace('a', "g").to_uppercase()
                } else {
                    id
                }
            }
            3 => String::new(),
            4 => "me".to_owned(),
            5 => {
                let mut long = Self::encode(&self.long_text());
                cut(&mut long, MAX_PATH / 2);
                long
            }
            6 => Self::encode(&self.text(20)),
            7 => self
                .rng
                .pick(&[
                    "..",
                    ".",
                    "%2e%2e",
                    "..%2F..%2Fetc%2Fpasswd",
                    "%2F",
                    "..;",
                    "%5C..%5C",
                ])
                .to_owned(),
            8 => {
                let n = self.rng.between(1, 12);
                self.rng
                    .bytes(n)
                    .iter()
                    .map(|b| format!("%{b:02x}"))
                    .collect()
            }
            9 => self
                .rng
                .pick(&[
                    "%",
                    "%z",
                    "%zz",
                    "%0",
                    "%00",
                    "%FF%FE",
                    "%C3%28",
                    "%E2%82",
                    "%ED%A0%80",
                    "a%",
                    "%%",
                    "%u0041",
                ])
                .to_owned(),
            10 => format!("{}/{}", self.alnum(3), self.alnum(3)),
            11 => Self::encode(self.rng.pick(&[
                "USER#1",
                "#",
                "*",
                "' OR '1'='1",
                "${id}",
                "null",
                "undefined",
                "0",
                "-1",
                "ÿ",
                "USER#",
                "SESSION#x",
            ])),
            12 => "a".repeat(*self.rng.pick(&[&255, &1_024, &4_096, &8_000])),
            _ => self.alnum_in(1, 40),
        }
    }

    /// The route's path with every `{param}` filled, sometimes bent out of shape.
    pub(super) fn fill(&mut self, template: &str) -> String {
        let mut path = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') {
                    self.param()
                } else {
                    segment.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        if self.rng.percent(12) {
            match self.rng.below(6) {
                0 => path.push('/'),
                1 => path.insert(0, '/'),
                2 => path = path.to_uppercase(),
                3 => {
                    path.push('/');
                    path.push_str(&self.param());
                }
                4 => path.push_str("/.."),
                _ => path = path.replace('/', "//"),
            }
        }
        path
    }

    pub(super) fn random_path(&mut self) -> String {
        match self.rng.below(9) {
            0 => "/".to_owned(),
            1 => format!("/api/v1/{}", self.param()),
            2 => format!("/health/{}", self.param()),
            3 => format!("/api/v1/users/{}/{}", self.param(), self.param()),
            4 => format!("/api/v1/auth/{}", self.param()),
            5 => format!("//{}", self.param()),
            6 => {
                let n = self.rng.between(1, 8);
                (0..n).map(|_| format!("/{}", self.param())).collect()
            }
            7 => "/health".to_owned(),
            _ => format!("/{}", self.param()),
        }
    }

    fn cursor(&mut self) -> String {
        match self.rng.below(9) {
            0 => {
                let n = self.rng.between(1, 200);
                let bytes = self.rng.bytes(n);
                URL_SAFE_NO_PAD.encode(bytes)
            }
            1 => URL_SAFE_NO_PAD.encode(self.json(0)),
            2 => match self.samples.cursor.clone() {
                Some(mut cursor) if !cursor.is_empty() => {
                    self.flip(&mut cursor);
                    cursor
                }
                _ => self.alnum(40),
            },
            3 => self.samples.cursor.clone().unwrap_or_default(),
            4 => "A".repeat(5_000),
            5 => Self::encode(&self.text(30)),
            6 => self
                .rng
                .pick(&["%", "%zz", "%FF", "==", "%2B%2F"])
                .to_owned(),
            7 => String::new(),
            _ => self.alnum_in(1, 60),
        }
    }

    pub(super) fn query(&mut self) -> String {
        let n = self.rng.between(1, 4);
        let mut pairs = Vec::new();
        for _ in 0..n {
            let pair = match self.rng.below(8) {
                0..=2 => format!(
                    "limit={}",
                    self.rng.pick(&[
                        "-1",
                        "0",
                        "1",
                        "100",
                        "101",
                        "2147483647",
                        "2147483648",
                        "-2147483649",
                        "99999999999999999999",
                        "abc",
                        "",
                        "1.5",
                        "1e3",
                        "%201",
                        "%31",
                        "0x10",
                        "+5",
                        "%00",
                        "%zz",
                        "NaN",
                    ])
                ),
                3..=5 => format!("cursor={}", self.cursor()),
                6 => self
                    .rng
                    .pick(&[
                        "limit",
                        "cursor",
                        "&&",
                        "=",
                        "=x",
                        "limit=1&limit=2",
                        "%",
                        "a[]=1",
                    ])
                    .to_owned(),
                _ => format!("{}={}", Self::encode(&self.text(8)), self.param()),
            };
            pairs.push(pair);
        }
        pairs.join("&")
    }
}
