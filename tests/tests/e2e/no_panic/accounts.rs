//! The live accounts: the markers that stand for their credentials in a case, their live values,
//! their replacement when a case ends one, and the pieces of real tokens the forgeries start from.

use std::sync::atomic::{AtomicBool, Ordering};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e::{Account, Identity};
use futures::lock::Mutex;
use http::{Method, StatusCode};

use crate::no_panic::generate::Case;

/// Real credentials are only known (and may change) while the test runs: cases carry these
/// markers, replaced with the live values when the request is sent. Each is made of URL-,
/// header-, JSON- and form-safe characters, and no generator produces them by chance.
pub(crate) const USER_ID: &str = "ZQXUSERIDZQX";
pub(crate) const USER_ACCESS: &str = "ZQXUSERACCESSZQX";
pub(crate) const USER_REFRESH: &str = "ZQXUSERREFRESHZQX";
pub(crate) const USER_NAME: &str = "ZQXUSERNAMEZQX";
pub(crate) const USER_EMAIL: &str = "ZQXUSEREMAILZQX";
pub(crate) const USER_PASSWORD: &str = "ZQXUSERPASSWORDZQX";
const VICTIM_ID: &str = "ZQXVICTIMIDZQX";
const VICTIM_ACCESS: &str = "ZQXVICTIMACCESSZQX";
const VICTIM_REFRESH: &str = "ZQXVICTIMREFRESHZQX";
const VICTIM_PASSWORD: &str = "ZQXVICTIMPASSWORDZQX";
pub(crate) const ADMIN_ID: &str = "ZQXADMINIDZQX";
pub(crate) const ADMIN_ACCESS: &str = "ZQXADMINACCESSZQX";
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
pub(crate) const TO_VICTIM: [(&str, &str); 4] = [
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

impl Who {
    const ALL: [Self; 3] = [Self::User, Self::Victim, Self::Admin];
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
pub(crate) struct Accounts([Account; 3]);

impl Accounts {
    /// The user, the victim and the admin, made on the emulator (a set-up that cannot make them
    /// stops the test).
    pub(crate) async fn make(id: &Identity) -> Self {
        let mut made = Vec::new();
        for admin in [false, false, true] {
            let mut account = None;
            for _ in 0..3 {
                account = try_account(id, admin).await;
                if account.is_some() {
                    break;
                }
            }
            made.push(account.expect("accounts on the emulator (is it up?)"));
        }
        Self(made.try_into().expect("three accounts"))
    }

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

    /// `bytes` with every marker replaced by its live value.
    pub(crate) fn resolve(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (marker, who, field) in MARKERS {
            if contains(&out, marker.as_bytes()) {
                out = replace_all(&out, marker.as_bytes(), self.value(who, field).as_bytes());
            }
        }
        out
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
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
pub(crate) struct Live {
    accounts: std::sync::Mutex<Accounts>,
    checking: Mutex<()>,
    suspects: [AtomicBool; 3],
}

impl Live {
    pub(crate) fn new(accounts: Accounts) -> Self {
        Self {
            accounts: std::sync::Mutex::new(accounts),
            checking: Mutex::new(()),
            suspects: Default::default(),
        }
    }

    pub(crate) fn accounts(&self) -> std::sync::MutexGuard<'_, Accounts> {
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

/// After `case` got `status` (`None`: no answer), replaces the accounts it may have taken away.
/// Only a write that succeeded, or a refused refresh token (a reused one revokes its session),
/// can take an account away; the check costs a request or two, so only those cases pay it.
pub(crate) async fn heal_after(
    id: &Identity,
    live: &Live,
    case: &Case,
    status: Option<StatusCode>,
) {
    let write = !matches!(case.method, Method::GET | Method::HEAD);
    let refresh_refused =
        status == Some(StatusCode::UNAUTHORIZED) && case.uses(&[USER_REFRESH, VICTIM_REFRESH]);
    if write && (status.is_some_and(|s| s.is_success()) || refresh_refused) {
        let suspects: Vec<Who> = Who::ALL
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
            let due: Vec<Who> = Who::ALL
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
pub(crate) struct Samples {
    /// A real token's header segment (right `alg`, `typ`, `kid`).
    pub(crate) header: String,
    /// A real access token's payload segment.
    pub(crate) payload: String,
    /// A real token's signature segment.
    pub(crate) signature: String,
    /// The real signing key id.
    pub(crate) kid: String,
    /// A real access token (its account may be gone by the time it is used: fine).
    pub(crate) token: String,
    /// A real pagination cursor, when the users table has more than one page of one.
    pub(crate) cursor: Option<String>,
}

impl Samples {
    pub(crate) async fn take(id: &Identity, accounts: &Accounts) -> Self {
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
