//! The cases: [`Gen`] makes one request per index from the seeded [`Rng`], with the live
//! accounts' credentials as markers. This module picks the route, the method and the parts, and
//! holds the hostile values every part draws on; [`uri`], [`headers`] and [`bodies`] make the
//! parts.

mod bodies;
mod headers;
mod uri;

use http::Method;
use shared::routes::Route;

use crate::no_panic::{
    MAX_PATH,
    accounts::{Samples, TO_VICTIM, contains, replace_all},
    rng::Rng,
};

/// One generated request, markers unresolved.
pub(crate) struct Case {
    pub(crate) index: usize,
    pub(crate) function: &'static str,
    pub(crate) method: Method,
    /// Path and query, already URI-safe.
    pub(crate) target: String,
    pub(crate) headers: Vec<(&'static str, Vec<u8>)>,
    pub(crate) body: Vec<u8>,
}

impl Case {
    /// Moves the user's markers to the victim (see [`TO_VICTIM`]).
    fn move_to_victim(&mut self) {
        for (from, to) in TO_VICTIM {
            self.target = self.target.replace(from, to);
            let (from, to) = (from.as_bytes(), to.as_bytes());
            self.body = replace_all(&self.body, from, to);
            for (_, value) in &mut self.headers {
                *value = replace_all(value, from, to);
            }
        }
    }

    pub(crate) fn uses(&self, markers: &[&str]) -> bool {
        markers.iter().any(|m| {
            let m = m.as_bytes();
            contains(self.target.as_bytes(), m)
                || contains(&self.body, m)
                || self.headers.iter().any(|(_, v)| contains(v, m))
        })
    }
}

/// Whether `method template` can end a session or an account (whichever route the method meets).
fn ends_sessions(method: &str, template: Option<&str>) -> bool {
    match (method, template) {
        ("DELETE", Some("/api/v1/users/me")) | ("PATCH" | "DELETE", Some("/api/v1/users/{id}")) => {
            true
        }
        ("POST", Some(t)) => ["/logout", "/logout-all", "/password/change", "/refresh"]
            .iter()
            .any(|end| t.ends_with(end)),
        _ => false,
    }
}

/// How a body field is filled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// A value that passes validation.
    Plausible,
    /// A known edge case of the field's kind (or a wrong type).
    Edge,
    /// Anything.
    Chaos,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Json,
    Form,
    Multipart,
    Text,
    Bytes,
    Empty,
}

/// Characters that break naive code: case mappings that change length (`İ`), NFKC expansions
/// and look-alikes (`ﬃ`, `＠`, `K`), invisible and bidi controls, combining marks, astral
/// characters, separators, quotes and URL syntax.
const ODD: &[&str] = &[
    "a",
    "Z",
    "0",
    "9",
    " ",
    "-",
    "_",
    ".",
    "@",
    "/",
    "\\",
    "\"",
    "'",
    "%",
    "+",
    "&",
    "=",
    "?",
    "#",
    ";",
    ",",
    ":",
    "*",
    "<",
    ">",
    "{",
    "}",
    "[",
    "]",
    "|",
    "`",
    "~",
    "$",
    "!",
    "(",
    ")",
    "\0",
    "\t",
    "\n",
    "\r",
    "\u{7f}",
    "é",
    "ß",
    "İ",
    "ı",
    "ﬃ",
    "K",
    "Ⅻ",
    "＠",
    "．",
    "ＡＢ",
    "\u{200b}",
    "\u{200d}",
    "\u{202e}",
    "\u{feff}",
    "\u{0301}",
    "\u{00ad}",
    "\u{2028}",
    "\u{85}",
    "😀",
    "👩\u{200d}👩\u{200d}👧",
    "\u{10ffff}",
    "\u{fffd}",
    "\u{e000}",
    "ǅ",
    "Σ",
    "ς",
    "한",
    "中",
    "ا",
    "\u{3000}",
    "xn--",
    "..",
    "null",
];

const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT", "PURGE", "get",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "3.5",
    "-0.0",
    "1e400",
    "-1e400",
    "1E-400",
    "2147483648",
    "-2147483649",
    "4294967296",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "123456789012345678901234567890123456789",
    "1.7976931348623157e308",
    "0.000000000000000000001",
];

/// Shortens `text` to at most `max` bytes, on a character boundary.
fn cut(text: &mut String, max: usize) {
    let mut at = max.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
}

pub(crate) struct Gen<'a> {
    rng: Rng,
    routes: &'a [(&'static str, Route)],
    functions: &'a [&'static str],
    samples: &'a Samples,
}

impl<'a> Gen<'a> {
    pub(crate) fn new(
        seed: u64,
        routes: &'a [(&'static str, Route)],
        functions: &'a [&'static str],
        samples: &'a Samples,
    ) -> Self {
        Self {
            rng: Rng::new(seed),
            routes,
            functions,
            samples,
        }
    }

    pub(crate) fn case(&mut self, index: usize) -> Case {
        let roll = self.rng.below(100);
        let (function, method, template) = if roll < 90 {
            let (owner, route) = self.routes[self.rng.below(self.routes.len())];
            if roll < 72 {
                (owner, route.method.to_owned(), Some(route.path))
            } else if roll < 87 {
                (owner, self.rng.pick(METHODS).to_owned(), Some(route.path))
            } else {
                let other = self.functions[self.rng.below(self.functions.len())];
                (other, route.method.to_owned(), Some(route.path))
            }
        } else {
            let function = self.functions[self.rng.below(self.functions.len())];
            let method = if self.rng.percent(60) {
                self.rng.pick(&["GET", "POST"]).to_owned()
            } else {
                self.rng.pick(METHODS).to_owned()
            };
            (function, method, None)
        };
        let mut target = match template {
            Some(template) => self.fill(template),
            None => self.random_path(),
        };
        // API Gateway refuses request lines over ~10 KB: keep path and query within that (a cut
        // escape is one more odd escape).
        cut(&mut target, MAX_PATH);
        let list = template == Some("/api/v1/users");
        if self.rng.percent(if list { 80 } else { 20 }) {
            let mut query = self.query();
            cut(&mut query, MAX_PATH / 2);
            target.push('?');
            target.push_str(&query);
        }
        let bodied = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        let (body, kind) = if self.rng.percent(if bodied { 85 } else { 15 }) {
            self.body(template.unwrap_or("/"))
        } else {
            (Vec::new(), BodyKind::Empty)
        };
        let headers = self.headers(kind, &method, template);
        let mut case = Case {
            index,
            function,
            method: Method::from_bytes(method.as_bytes()).expect("generated method"),
            target,
            headers,
            body,
        };
        if ends_sessions(&method, template) {
            case.move_to_victim();
        }
        case
    }

    // ---------------------------------------------------------------- text

    fn text(&mut self, max: usize) -> String {
        let n = self.rng.below(max + 1);
        (0..n).map(|_| self.rng.pick(ODD)).collect()
    }

    fn alnum(&mut self, n: usize) -> String {
        const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| ALNUM[self.rng.below(ALNUM.len())] as char)
            .collect()
    }

    fn alnum_in(&mut self, lo: usize, hi: usize) -> String {
        let n = self.rng.between(lo, hi);
        self.alnum(n)
    }

    /// Long text: one odd piece repeated, or random pieces.
    fn long_text(&mut self) -> String {
        let n = *self.rng.pick(&[&129, &300, &1_000, &5_000, &20_000]);
        if self.rng.percent(50) {
            self.rng.pick(ODD).repeat(n)
        } else {
            (0..n).map(|_| self.rng.pick(ODD)).collect()
        }
    }

    /// A hostile string for any text field.
    fn hostile(&mut self) -> String {
        match self.rng.below(6) {
            0 => String::new(),
            1 => self.long_text(),
            2 => self.rng.pick(ODD).to_owned(),
            _ => self.text(40),
        }
    }

    /// Flips one character of an ASCII `text` (a real token or cursor) to another.
    fn flip(&mut self, text: &mut String) {
        let i = self.rng.below(text.len());
        let flipped = if text.as_bytes()[i] == b'A' { "B" } else { "A" };
        text.replace_range(i..=i, flipped);
    }

    // ---------------------------------------------------------------- JSON

    fn json_string(text: &str) -> String {
        serde_json::Value::String(text.to_owned()).to_string()
    }

    /// Any JSON value as text, some of it not quite JSON (lone surrogates, numbers out of range).
    fn json(&mut self, depth: usize) -> String {
        let leaf = depth >= 4;
        match self.rng.below(if leaf { 6 } else { 9 }) {
            0 => Self::json_string(&self.hostile()),
            1 => self.rng.pick(NUMBERS).to_owned(),
            2 => self.rng.pick(&["true", "false", "null"]).to_owned(),
            3 => format!("\"a\\ud800{}\"", self.alnum(2)),
            4 => Self::json_string(&self.alnum(8)),
            5 => "{}".to_owned(),
            6 => {
                let n = self.rng.below(5);
                let items: Vec<String> = (0..n).map(|_| self.json(depth + 1)).collect();
                format!("[{}]", items.join(","))
            }
            7 => {
                let n = self.rng.below(5);
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let key = Self::json_string(&self.text(6));
                        format!("{key}:{}", self.json(depth + 1))
                    })
                    .collect();
                format!("{{{}}}", items.join(","))
            }
            _ => self.deep(),
        }
    }

    /// Nesting around 200 levels deep (serde_json's limit is 128).
    fn deep(&mut self) -> String {
        let n = self.rng.between(120, 260);
        if self.rng.percent(50) {
            format!("{}1{}", "[".repeat(n), "]".repeat(n))
        } else {
            format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n))
        }
    }
}
