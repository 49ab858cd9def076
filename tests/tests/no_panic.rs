//! No client input can make a function answer 500: a seeded property test over every route.
//!
//! A panic is a bug whatever the build does with it (release builds unwind, and the shared layer
//! stack's `CatchPanicLayer` answers it as a 500 envelope while the sandbox lives on): the
//! extractors and handlers must turn *anything* a client sends into a 4xx envelope. So "no
//! panic" is observable here as "no 500 from any request".
//!
//! The test builds every function's router the way its `main` does and sends it `NO_PANIC_CASES`
//! (default 600) generated requests: real routes with their `{param}`s filled with hostile
//! strings, wrong methods, random paths; hostile `Content-Type`, `Authorization` (forged JWTs,
//! bent real tokens, opaque bytes), `Cookie` and `X-Request-ID` headers; bodies shaped like the
//! route's with wrong types, edge-case values, huge numbers, deep nesting, trailing garbage, odd
//! form escapes, invalid UTF-8; hostile query strings. To get past authentication and validation
//! too, some requests carry the tokens of live accounts (a user, an admin, and a victim for the
//! routes that end sessions or accounts, replaced when a case ends it) and plausible bodies.
//!
//! Every answer must be below 500 (503 is tolerated: a dependency being down is not a client's
//! doing; the summary lists the cases that got one), and every error answer must be the JSON
//! envelope with `error_code` and `request_id` (health's own 503 bodies, and HEAD answers, which
//! have no body, excepted). A request that gets no answer within 30 s fails too.
//!
//! The generator is a fixed-seed xorshift64* PRNG, so a run is reproducible: a failure prints
//! the seed, the case index, the request and the answer. `NO_PANIC_SEED` (decimal or `0x` hex)
//! explores other seeds, `NO_PANIC_CASE=<index>` replays one case (the same request, but for the
//! live accounts' ids and tokens), `NO_PANIC_CONCURRENCY` (default 8; 1 for strictly sequential
//! runs) bounds the requests in flight. Case `i` is the same for any `NO_PANIC_CASES > i`.

// Helpers outside the #[test] fn: a broken set-up must stop the test loudly, and the summary is
// what `--nocapture` is for.
#![allow(clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use axum::{Router, body::Body};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use e2e::{Account, Identity};
use futures::{StreamExt as _, lock::Mutex};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use shared::routes::Route;
use tower::ServiceExt as _;

/// The fixed seed: change it only on purpose (and then keep the new one).
const DEFAULT_SEED: u64 = 0x5EED_0BAD_F00D_0001;
const DEFAULT_CASES: usize = 600;
const DEFAULT_CONCURRENCY: usize = 8;
/// A request that takes this long is a finding too (a hang is as bad as a crash).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many failures are printed in full.
const SHOWN_FAILURES: usize = 5;
/// Longest generated path (before the query string).
const MAX_PATH: usize = 8 * 1024;
/// `MAX_BODY_BYTES` default (`shared::config::DEFAULT_MAX_BODY_BYTES`): bodies around it.
const BODY_LIMIT: usize = 1024 * 1024;

// ------------------------------------------------------------------------------------ PRNG

/// xorshift64* (Vigna): tiny, fast, and good enough to pick among cases deterministically.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so nearby seeds start far apart; the state must not be zero.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p` percent.
    fn percent(&mut self, p: u64) -> bool {
        self.next_u64() % 100 < p
    }

    fn pick<'a, T: ?Sized>(&mut self, items: &'a [&'a T]) -> &'a T {
        items[self.below(items.len())]
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

// ------------------------------------------------------------------- live accounts, markers

/// Real credentials are only known (and may change) while the test runs: cases carry these
/// markers, replaced with the live values when the request is sent. Each is made of URL-,
/// header-, JSON- and form-safe characters, and no generator produces them by chance.
const USER_ID: &str = "ZQXUSERIDZQX";
const USER_ACCESS: &str = "ZQXUSERACCESSZQX";
const USER_REFRESH: &str = "ZQXUSERREFRESHZQX";
const USER_NAME: &str = "ZQXUSERNAMEZQX";
const USER_EMAIL: &str = "ZQXUSEREMAILZQX";
const USER_PASSWORD: &str = "ZQXUSERPASSWORDZQX";
const VICTIM_ID: &str = "ZQXVICTIMIDZQX";
const VICTIM_ACCESS: &str = "ZQXVICTIMACCESSZQX";
const VICTIM_REFRESH: &str = "ZQXVICTIMREFRESHZQX";
const VICTIM_PASSWORD: &str = "ZQXVICTIMPASSWORDZQX";
const ADMIN_ID: &str = "ZQXADMINIDZQX";
const ADMIN_ACCESS: &str = "ZQXADMINACCESSZQX";
/// Each marker, whose account it names, and which of its values.
const MARKERS: [(&str, Who, Field); 12] = [
    (USER_ID, Who::User, Field::Id),
    (USER_ACCESS, Who::User, Field::Access),
    (USER_REFRESH, Who::User, Field::Refresh),
    (USER_NAME, Who::User, Field::Username),
    (USER_EMAIL, Who::User, Field::Email),
    (USER_PASSWORD, Who::User, Field::Password),
    (VICTIM_ID, Who::Victim, Field::Id),
    (VICTIM_ACCESS, Who::Victim, Field::Access),
    (VICTIM_REFRESH, Who::Victim, Field::Refresh),
    (VICTIM_PASSWORD, Who::Victim, Field::Password),
    (ADMIN_ID, Who::Admin, Field::Id),
    (ADMIN_ACCESS, Who::Admin, Field::Access),
];
/// On the routes that end sessions or accounts, the user's markers become the victim's: the
/// user and the admin then stay alive for the routes behind them (one check replaces the victim).
const TO_VICTIM: [(&str, &str); 4] = [
    (USER_ID, VICTIM_ID),
    (USER_ACCESS, VICTIM_ACCESS),
    (USER_REFRESH, VICTIM_REFRESH),
    (USER_PASSWORD, VICTIM_PASSWORD),
];

/// The live accounts: a plain user, a victim for the routes that end sessions or accounts, and
/// an admin.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    User = 0,
    Victim = 1,
    Admin = 2,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Id,
    Access,
    Refresh,
    Username,
    Email,
    Password,
}

/// The accounts by [`Who`], replaced when a case logs one out, deletes, disables or demotes it,
/// so later cases keep reaching the handlers behind authentication.
struct Accounts([Account; 3]);

impl Accounts {
    fn value(&self, who: Who, field: Field) -> &str {
        let account = &self.0[who as usize];
        match field {
            Field::Id => &account.id,
            Field::Access => &account.access,
            Field::Refresh => &account.refresh,
            Field::Username => &account.username,
            Field::Email => &account.email,
            Field::Password => &account.password,
        }
    }

    fn resolve(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (marker, who, field) in MARKERS {
            if contains(&out, marker.as_bytes()) {
                out = replace_all(&out, marker.as_bytes(), self.value(who, field).as_bytes());
            }
        }
        out
    }
}

/// Shortens `text` to at most `max` bytes, on a character boundary.
fn cut(text: &mut String, max: usize) {
    let mut at = max.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    text.truncate(at);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// A fresh account (an admin when `admin`), or `None` while the emulator is too busy to make one
/// (unlike `Identity::signup`, which fails the test: a busy emulator answers 503, which is fine).
async fn try_account(id: &Identity, admin: bool) -> Option<Account> {
    let tag = e2e::unique();
    let username = format!("fuzz_{tag}");
    let email = format!("{tag}@example.com");
    let password = format!("lantern {tag} orbit");
    let body = serde_json::json!({
        "username": username, "email": email, "password": password,
        "first_name": "Fuzz", "last_name": "Target"
    });
    let reply = id.post_auth("signup", &body, None).await;
    if reply.status != 201 {
        return None;
    }
    let tokens = reply.json();
    let access = tokens["access_token"].as_str()?.to_owned();
    let refresh = tokens["refresh_token"].as_str()?.to_owned();
    let user_id = id.me(&access).await.json()["id"].as_str()?.to_owned();
    if admin {
        let roles = vec!["admin".to_owned(), "user".to_owned()];
        let changes = identity::store::users::AdminChanges {
            roles: Some(roles),
            ..Default::default()
        };
        id.identity
            .store
            .users
            .admin_update(&user_id, &changes, None)
            .await
            .ok()?;
    }
    Some(Account {
        id: user_id,
        username,
        email,
        password,
        access,
        refresh,
    })
}

/// The live accounts, read by every request (never waiting on a check), and which of them a
/// case may have taken away since the last check.
struct Live {
    accounts: std::sync::Mutex<Accounts>,
    checking: Mutex<()>,
    suspects: [AtomicBool; 3],
}

impl Live {
    fn accounts(&self) -> std::sync::MutexGuard<'_, Accounts> {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `who`'s access token still works (as an admin for the admin); `None` when the
/// emulator does not say.
async fn alive(id: &Identity, who: Who, access: &str) -> Option<bool> {
    let status = match who {
        Who::Admin => {
            id.users_call(Method::GET, "?limit=1", Some(access), None)
                .await
                .status
        }
        Who::User | Who::Victim => id.me(access).await.status,
    };
    match status {
        200 => Some(true),
        401 | 403 => Some(false),
        _ => None,
    }
}

/// Replaces the suspected accounts that a case logged out, deleted, disabled, demoted or whose
/// password it changed (when the emulator answers; a 503 leaves them as they are). One check runs
/// at a time, and runs again while cases keep raising suspicions; requests in flight keep the
/// old credentials meanwhile (a 401 is as good an answer as any for this test).
async fn heal(id: &Identity, live: &Live, suspects: &[Who]) {
    for who in suspects {
        live.suspects[*who as usize].store(true, Ordering::SeqCst);
    }
    loop {
        let Some(checking) = live.checking.try_lock() else {
            return; // The running check will see the suspicion.
        };
        loop {
            let due: Vec<Who> = [Who::User, Who::Victim, Who::Admin]
                .into_iter()
                .filter(|who| live.suspects[*who as usize].swap(false, Ordering::SeqCst))
                .collect();
            if due.is_empty() {
                break;
            }
            for who in due {
                let access = live.accounts().value(who, Field::Access).to_owned();
                if alive(id, who, &access).await == Some(false)
                    && let Some(account) = try_account(id, who == Who::Admin).await
                {
                    live.accounts().0[who as usize] = account;
                }
            }
        }
        drop(checking);
        // A suspicion raised between the last swap and the unlock found the lock taken.
        if !live.suspects.iter().any(|s| s.load(Ordering::SeqCst)) {
            return;
        }
    }
}

/// Pieces of real tokens and cursors, for forgeries that get past the first checks.
struct Samples {
    /// A real token's header segment (right `alg`, `typ`, `kid`).
    header: String,
    /// A real access token's payload segment.
    payload: String,
    /// A real token's signature segment.
    signature: String,
    /// The real signing key id.
    kid: String,
    /// A real access token (its account may be gone by the time it is used: fine).
    token: String,
    /// A real pagination cursor, when the users table has more than one page of one.
    cursor: Option<String>,
}

impl Samples {
    async fn take(id: &Identity, accounts: &Accounts) -> Self {
        let token = accounts.value(Who::Admin, Field::Access).to_owned();
        let mut parts = token.split('.').map(str::to_owned);
        let header = parts.next().expect("JWT header");
        let payload = parts.next().expect("JWT payload");
        let signature = parts.next().expect("JWT signature");
        let kid = URL_SAFE_NO_PAD
            .decode(&header)
            .ok()
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
            .and_then(|h| h["kid"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let page = id
            .users_call(Method::GET, "?limit=1", Some(&token), None)
            .await
            .json();
        Self {
            header,
            payload,
            signature,
            kid,
            token,
            cursor: page["next_cursor"].as_str().map(str::to_owned),
        }
    }
}

// ------------------------------------------------------------------------------- the cases

/// One generated request, markers unresolved.
struct Case {
    index: usize,
    function: &'static str,
    method: Method,
    /// Path and query, already URI-safe.
    target: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
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

    fn uses(&self, markers: &[&str]) -> bool {
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

struct Gen<'a> {
    rng: Rng,
    routes: &'a [(&'static str, Route)],
    functions: &'a [&'static str],
    samples: &'a Samples,
}

impl Gen<'_> {
    fn case(&mut self, index: usize) -> Case {
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

    // ---------------------------------------------------------------- URIs

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
    fn fill(&mut self, template: &str) -> String {
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

    fn random_path(&mut self) -> String {
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
                    let i = self.rng.below(cursor.len());
                    let flipped = if cursor.as_bytes()[i] == b'A' {
                        "B"
                    } else {
                        "A"
                    };
                    cursor.replace_range(i..=i, flipped);
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

    fn query(&mut self) -> String {
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

    /// A forged JWT: real or random header, random claims, real or random signature.
    fn jwt(&mut self) -> String {
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
    fn tampered(&mut self) -> String {
        let mut token = self.samples.token.clone();
        match self.rng.below(4) {
            0 if !token.is_empty() => {
                let i = self.rng.below(token.len());
                let flipped = if token.as_bytes()[i] == b'A' {
                    "B"
                } else {
                    "A"
                };
                token.replace_range(i..=i, flipped);
            }
            1 => token.truncate(self.rng.below(token.len() + 1)),
            2 => token.push_str(&self.alnum(3)),
            _ => token = token.replace('.', ".."),
        }
        token
    }

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
        if mode == Mode::Chaos && self.rng.percent(35) {
            return self.json(1);
        }
        if mode == Mode::Edge && self.rng.percent(30) {
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

    // ---------------------------------------------------------------- bodies

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

    fn body(&mut self, template: &str) -> (Vec<u8>, BodyKind) {
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
                let mut cut = self.rng.below(text.len());
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
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

    // ---------------------------------------------------------------- headers

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

    fn headers(
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
}

// --------------------------------------------------------------------------- running them

/// What happened to one case, when it broke the property.
struct Failure {
    index: usize,
    report: String,
}

struct Outcome {
    index: usize,
    status: Option<u16>,
    elapsed: Duration,
    failure: Option<Failure>,
}

fn preview(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let more = if bytes.len() > max {
        format!(" … ({} bytes in all)", bytes.len())
    } else {
        String::new()
    };
    format!("{:?}{more}", String::from_utf8_lossy(shown))
}

async fn run(
    case: &Case,
    routers: &[(&'static str, Router)],
    id: &Identity,
    live: &Live,
) -> Outcome {
    let (target, headers, body) = {
        let accounts = live.accounts();
        (
            String::from_utf8_lossy(&accounts.resolve(case.target.as_bytes())).into_owned(),
            case.headers
                .iter()
                .map(|(name, value)| (*name, accounts.resolve(value)))
                .collect::<Vec<_>>(),
            accounts.resolve(&case.body),
        )
    };
    let mut request = format!(
        "{} {}  (function {})\n",
        case.method,
        preview(target.as_bytes(), 300),
        case.function
    );
    for (name, value) in &headers {
        let _ = writeln!(request, "    {name}: {}", preview(value, 200));
    }
    let _ = writeln!(request, "    body: {}", preview(&body, 300));
    let fail = |elapsed, status, why: String, response: &str| Outcome {
        index: case.index,
        status,
        elapsed,
        failure: Some(Failure {
            index: case.index,
            report: format!("{why}\n  request: {request}{response}"),
        }),
    };

    let router = routers
        .iter()
        .find(|(name, _)| *name == case.function)
        .map(|(_, router)| router.clone())
        .expect("router of the case's function");
    let mut builder = Request::builder()
        .method(case.method.clone())
        .uri(target.as_str());
    for (name, value) in &headers {
        match HeaderValue::from_bytes(value) {
            Ok(value) => builder = builder.header(*name, value),
            Err(e) => {
                return fail(
                    Duration::ZERO,
                    None,
                    format!("test bug: header {name}: {e}"),
                    "",
                );
            }
        }
    }
    let request_value = match builder.body(Body::from(body)) {
        Ok(request) => request,
        Err(e) => return fail(Duration::ZERO, None, format!("test bug: request: {e}"), ""),
    };

    let started = Instant::now();
    let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let response = router.oneshot(request_value).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes());
        (parts, bytes)
    })
    .await;
    let elapsed = started.elapsed();
    // Only a write that succeeded, or a refused refresh token (a reused one revokes its
    // session), can take an account away; the check costs a request or two, so only those
    // cases pay it.
    let status = sent.as_ref().map(|(parts, _)| parts.status).ok();
    let write = !matches!(case.method, Method::GET | Method::HEAD);
    let refresh_refused =
        status == Some(StatusCode::UNAUTHORIZED) && case.uses(&[USER_REFRESH, VICTIM_REFRESH]);
    if write && (status.is_some_and(|s| s.is_success()) || refresh_refused) {
        let suspects: Vec<Who> = [Who::User, Who::Victim, Who::Admin]
            .into_iter()
            .filter(|who| {
                MARKERS
                    .iter()
                    .any(|(marker, owner, _)| owner == who && case.uses(&[*marker]))
            })
            .collect();
        if !suspects.is_empty() {
            heal(id, live, &suspects).await;
        }
    }
    let Ok((parts, bytes)) = sent else {
        return fail(
            elapsed,
            None,
            format!("no answer within {REQUEST_TIMEOUT:?}"),
            "",
        );
    };
    let status = parts.status;
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) => {
            return fail(
                elapsed,
                Some(status.as_u16()),
                format!("{status}, and its body could not be read: {e}"),
                "",
            );
        }
    };
    let path = target.split('?').next().unwrap_or_default();
    if let Err(why) = verdict(&case.method, path, status, &bytes) {
        let response = format!(
            "  response: {status}\n    headers: {:?}\n    body: {}\n",
            parts.headers,
            preview(&bytes, 600)
        );
        return fail(elapsed, Some(status.as_u16()), why, &response);
    }
    Outcome {
        index: case.index,
        status: Some(status.as_u16()),
        elapsed,
        failure: None,
    }
}

/// The property, for one answer: no 5xx but 503 (a 500 is a caught panic or an unhandled
/// error), and every error is the envelope (health's own 503 bodies and HEAD answers, which
/// have no body, excepted).
fn verdict(method: &Method, path: &str, status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
        return Err(format!(
            "answered {status} (a handler's panic message and location, if it panicked, are on \
             stderr above)"
        ));
    }
    let health_body = status == StatusCode::SERVICE_UNAVAILABLE
        && matches!(path, "/health" | "/health/readiness");
    if status.as_u16() >= 400 && method != Method::HEAD && !health_body {
        let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        if !json["error_code"].is_string() || !json["request_id"].is_string() {
            return Err("an error without the envelope (error_code, request_id)".to_owned());
        }
    }
    Ok(())
}

fn env_number(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    let raw = raw.trim();
    let parsed = match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => raw.replace('_', "").parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{name}={raw}: not a number: {e}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_input_makes_any_function_answer_500() {
    let seed = env_number("NO_PANIC_SEED").unwrap_or(DEFAULT_SEED);
    let count = env_number("NO_PANIC_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let only = env_number("NO_PANIC_CASE").map(|n| n as usize);
    let concurrency = env_number("NO_PANIC_CONCURRENCY")
        .map_or(DEFAULT_CONCURRENCY, |n| n as usize)
        .max(1);
    let started = Instant::now();

    let mut routers = Vec::new();
    let mut routes = Vec::new();
    for &name in e2e::FUNCTIONS {
        let router =
            e2e::router_for(name, e2e::emulator_state().await, e2e::emulator_env(&[])).await;
        routers.push((name, router));
        let table = e2e::routes_for(name).expect("route table of every function");
        routes.extend(table.into_iter().map(|route| (name, route)));
    }
    let id = Identity::start().await;
    let mut made = Vec::new();
    for admin in [false, false, true] {
        let mut account = None;
        for _ in 0..3 {
            account = try_account(&id, admin).await;
            if account.is_some() {
                break;
            }
        }
        made.push(account.expect("accounts on the emulator (is it up?)"));
    }
    let accounts = Accounts(made.try_into().expect("three accounts"));
    let samples = Samples::take(&id, &accounts).await;
    let live = Live {
        accounts: std::sync::Mutex::new(accounts),
        checking: Mutex::new(()),
        suspects: Default::default(),
    };

    let mut generator = Gen {
        rng: Rng::new(seed),
        routes: &routes,
        functions: e2e::FUNCTIONS,
        samples: &samples,
    };
    let last = only.map_or(count, |i| i + 1);
    let cases: Vec<Case> = (0..last)
        .map(|i| generator.case(i))
        .filter(|case| only.is_none_or(|i| case.index == i))
        .collect();
    let set_up = started.elapsed();

    let outcomes: Vec<Outcome> =
        futures::stream::iter(cases.iter().map(|case| run(case, &routers, &id, &live)))
            .buffer_unordered(concurrency)
            .collect()
            .await;

    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for status in outcomes.iter().filter_map(|o| o.status) {
        *statuses.entry(status).or_default() += 1;
    }
    let slowest = outcomes.iter().map(|o| o.elapsed).max().unwrap_or_default();
    let mut failures: Vec<&Failure> = outcomes.iter().filter_map(|o| o.failure.as_ref()).collect();
    failures.sort_by_key(|f| f.index);
    // Tolerated, but worth a look when they repeat on a replay: only a busy emulator should say it.
    let mut unavailable: Vec<usize> = outcomes
        .iter()
        .filter(|o| o.status == Some(503))
        .map(|o| o.index)
        .collect();
    unavailable.sort_unstable();
    println!(
        "no_panic: seed {seed:#x}, {} cases over {} routes of {:?} in {:.1?} (set-up {:.1?}, \
         slowest request {slowest:.1?}, {concurrency} in flight); statuses {statuses:?}; 503 at \
         cases {unavailable:?}; {} failures",
        cases.len(),
        routes.len(),
        e2e::FUNCTIONS,
        started.elapsed(),
        set_up,
        failures.len()
    );
    if failures.is_empty() {
        return;
    }
    let mut report = format!(
        "{} of {} generated requests broke \"no client input gets a 5xx, every error is the \
         envelope\" (seed {seed:#x}; replay one with NO_PANIC_SEED={seed:#x} NO_PANIC_CASE=<case>):\n",
        failures.len(),
        cases.len()
    );
    for failure in failures.iter().take(SHOWN_FAILURES) {
        let _ = writeln!(report, "\ncase {}: {}", failure.index, failure.report);
    }
    if failures.len() > SHOWN_FAILURES {
        let rest: Vec<usize> = failures
            .iter()
            .skip(SHOWN_FAILURES)
            .map(|f| f.index)
            .collect();
        let _ = writeln!(report, "\nother failing cases: {rest:?}");
    }
    panic!("{report}");
}

/// The check itself: a handler that panics on some input is caught (so a green run means
/// something), and the shared layers' own errors pass it.
#[tokio::test]
async fn the_check_catches_a_handler_that_panics_on_its_input() {
    let routes = Router::new().route(
        "/echo/{text}",
        axum::routing::get(
            |axum::extract::Path(text): axum::extract::Path<String>| async move {
                // Trusts its input: slicing a short string panics.
                text[..4].to_owned()
            },
        ),
    );
    let app = shared::AppState::init(e2e::dead_emulator_config()).await;
    let limiter = std::sync::Arc::new(shared::ratelimit::RateLimiter::exempt(app.dynamo.clone()));
    let router = shared::layers::apply(routes, &app.config, limiter);
    for (path, caught) in [
        ("/echo/long-enough", false),
        ("/echo/ab", true),
        ("/nowhere", false),
    ] {
        let request = Request::get(path).body(Body::empty()).expect("request");
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let verdict = verdict(&Method::GET, path, status, &body);
        assert_eq!(verdict.is_err(), caught, "{path}: {status} {verdict:?}");
    }
}
