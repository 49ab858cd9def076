//! Password guesses, counted so that strangers cannot lock the owner out:
//! - per login name and client (`LOGIN_MAX_FAILURES` per window), a hard limit for that client:
//!   five wrong guesses from one address stop that address for that name only. The name is the
//!   one the account is found by ([`identity::domain::LoginName`]: NFKC, case folded), so a
//!   fullwidth or upper-case spelling is the same name and gets no fresh counter; the username
//!   and the email of one account are two names, so a lock on one tells nothing about the other.
//!   An IPv6 client counts by its /64, the block one subscriber is given, so rotating through
//!   its addresses buys nothing;
//! - with a progressive delay between wrong guesses from one client (`LOGIN_BACKOFF_SECS`,
//!   doubling), answered as 429 + `Retry-After` rather than by sleeping: on Lambda a sleep is
//!   billed time, and a client that waits loses nothing;
//! - per account across all clients (`LOGIN_ACCOUNT_MAX_ATTEMPTS`, much higher): the ceiling
//!   against credential stuffing from many addresses. It cannot deny the owner: past it, a
//!   client with no attempt of its own on that name in the window still has its password
//!   checked, once. The right password logs in; a wrong one is answered 429 like the ceiling
//!   (so the ceiling still tells a stuffer nothing but "not this one"), and spends that
//!   client's one check: its next attempt on that name is refused before any check until the
//!   window ends. A botnet past the ceiling thus gets one check per address (per /64) and name
//!   per window instead of `LOGIN_MAX_FAILURES`, and the owner on any address the strangers
//!   have not used gets in.
//!
//! Each guess is *reserved* before the password is checked (one conditional `ADD`), so parallel
//! guesses cannot slip past a stale count; known and unknown names take the same steps (an
//! unknown name has an account counter of its own), so neither answers nor timing tell them
//! apart.

use std::net::{IpAddr, Ipv6Addr};

use shared::{ApiError, ErrorCode, clock::now_s, extract::ClientIp};

use crate::context::AuthContext;
use identity::store::counters::Attempt;

const CLIENT_SCOPE: &str = "guess";
const ACCOUNT_SCOPE: &str = "guess-account";

/// A reserved password guess.
#[derive(Debug)]
pub struct Guess {
    client_key: String,
    count: i64,
    now: i64,
    /// `Some(seconds until the account's window ends)` when the account's ceiling is reached
    /// and this is the client's one check past it: a wrong password is then answered 429.
    past_ceiling: Option<u64>,
}

impl AuthContext {
    /// Reserves a guess of `name` (the login name's key, or another subject of a password
    /// check) from `client` against `account` (the user id, or a key of the unknown name): 429
    /// with `Retry-After` when that client's window is full or its delay runs, or when the
    /// account's ceiling is reached and this client has made an attempt on `name` in the
    /// window already.
    pub async fn guess(
        &self,
        name: &str,
        client: &ClientIp,
        account: &str,
    ) -> Result<Guess, ApiError> {
        let now = now_s();
        let client_key = format!("{name}\n{}", client_group(client));
        let count = match self
            .counters
            .attempt(CLIENT_SCOPE, &client_key, self.settings.login_window, now)
            .await?
        {
            Attempt::Allowed { count } => count,
            Attempt::Refused { retry_after_secs } => {
                return Err(ApiError::RateLimited { retry_after_secs });
            }
        };
        let past_ceiling = match self
            .counters
            .attempt(ACCOUNT_SCOPE, account, self.settings.account_window, now)
            .await?
        {
            Attempt::Allowed { .. } => None,
            // This client's first attempt in the window: it may be the owner (see the module).
            Attempt::Refused { retry_after_secs } if count == 1 => {
                tracing::warn!("account guess ceiling reached; a new client's guess is checked");
                Some(retry_after_secs)
            }
            Attempt::Refused { retry_after_secs } => {
                tracing::warn!("account guess ceiling reached");
                return Err(ApiError::RateLimited { retry_after_secs });
            }
        };
        Ok(Guess {
            client_key,
            count,
            now,
            past_ceiling,
        })
    }

    /// A wrong guess: from the second one on, that client waits before its next guess (1 s,
    /// 2 s, 4 s... with the default base), within the window. The answer to give: 401
    /// `INVALID_CREDENTIALS`, or past the account's ceiling the ceiling's 429.
    pub async fn wrong_guess(&self, guess: &Guess) -> ApiError {
        if let Err(err) = self.hold_off(guess).await {
            return err;
        }
        match guess.past_ceiling {
            Some(retry_after_secs) => ApiError::RateLimited { retry_after_secs },
            None => ErrorCode::InvalidCredentials.into(),
        }
    }

    async fn hold_off(&self, guess: &Guess) -> Result<(), ApiError> {
        let base = self.settings.login_backoff_secs;
        if base == 0 || guess.count < 2 {
            return Ok(());
        }
        let delay = base.saturating_mul(1_i64 << (guess.count - 2).min(16));
        self.counters
            .hold_off(
                CLIENT_SCOPE,
                &guess.client_key,
                self.settings.login_window,
                guess.now,
                guess.now.saturating_add(delay),
            )
            .await?;
        Ok(())
    }

    /// A right guess clears that client's window. The account's count stays: the owner does
    /// not need it cleared (the ceiling never denies a right password from a new client), and
    /// clearing it would hand strangers a fresh budget each time the owner logs in.
    pub async fn right_guess(&self, guess: &Guess) -> Result<(), ApiError> {
        self.counters
            .reset(
                CLIENT_SCOPE,
                &guess.client_key,
                self.settings.login_window,
                guess.now,
            )
            .await?;
        Ok(())
    }
}

/// The client a guess is counted for: its address, an IPv6 one by its /64 (an IPv4-mapped one
/// as the IPv4 address it is), or what it was called when it is not an address.
pub(crate) fn client_group(client: &ClientIp) -> String {
    let raw = client.or_unknown();
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = v6.to_bits() & !(u128::MAX >> 64);
                format!("{}/64", Ipv6Addr::from_bits(prefix))
            }
        },
        Err(_) => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(ip: Option<&str>) -> String {
        client_group(&ClientIp(ip.map(str::to_owned)))
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64_block() {
        assert_eq!(group(Some("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            group(Some("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            group(Some("2001:db8:1:2::7"))
        );
        assert_ne!(
            group(Some("2001:db8:1:3::1")),
            group(Some("2001:db8:1:2::1"))
        );
    }

    #[test]
    fn an_ipv4_client_counts_by_its_address_however_written() {
        assert_eq!(group(Some("198.51.100.7")), "198.51.100.7");
        assert_eq!(group(Some("::ffff:198.51.100.7")), "198.51.100.7");
        assert_ne!(group(Some("198.51.100.8")), group(Some("198.51.100.7")));
    }

    #[test]
    fn a_client_without_an_address_keeps_its_name() {
        assert_eq!(group(None), "unknown");
        assert_eq!(group(Some("not an address")), "not an address");
    }
}
