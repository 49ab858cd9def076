//! Password guesses, counted so that a stranger cannot lock the owner out:
//! - per identifier *as typed* and client IP (`LOGIN_MAX_FAILURES` per window): five wrong
//!   guesses from one address stop that address for that identifier only, and the username and
//!   the email of one account count apart, so a lock on one tells nothing about the other;
//! - per account across all clients (`LOGIN_ACCOUNT_MAX_ATTEMPTS`, much higher): the ceiling
//!   against credential stuffing from many addresses;
//! - with a progressive delay between wrong guesses from one client (`LOGIN_BACKOFF_SECS`,
//!   doubling), answered as 429 + `Retry-After` rather than by sleeping: on Lambda a sleep is
//!   billed time, and a client that waits loses nothing.
//!
//! Each guess is *reserved* before the password is checked (one conditional `ADD`), so parallel
//! guesses cannot slip past a stale count.

use shared::{ApiError, clock::now_s, extract::ClientIp};

use crate::context::AuthContext;
use identity::store::counters::Attempt;

const CLIENT_SCOPE: &str = "guess";
const ACCOUNT_SCOPE: &str = "guess-account";

/// A reserved password guess.
#[derive(Debug)]
pub struct Guess {
    client_key: String,
    account_key: String,
    count: i64,
    now: i64,
}

impl AuthContext {
    /// Reserves a guess of `typed` (the identifier as the client sent it, normalized) from
    /// `client` against `account` (the user id, or a key of the unknown name): 429 with
    /// `Retry-After` when that client's window is full or its delay runs, or the account's
    /// ceiling is reached.
    pub async fn guess(
        &self,
        typed: &str,
        client: &ClientIp,
        account: &str,
    ) -> Result<Guess, ApiError> {
        let now = now_s();
        let client_key = format!("{typed}\n{}", client.or_unknown());
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
        if let Attempt::Refused { retry_after_secs } = self
            .counters
            .attempt(ACCOUNT_SCOPE, account, self.settings.account_window, now)
            .await?
        {
            tracing::warn!("account guess ceiling reached");
            return Err(ApiError::RateLimited { retry_after_secs });
        }
        Ok(Guess {
            client_key,
            account_key: account.to_owned(),
            count,
            now,
        })
    }

    /// A wrong guess: from the second one on, that client waits before its next guess (1 s,
    /// 2 s, 4 s... with the default base), within the window.
    pub async fn wrong_guess(&self, guess: &Guess) -> Result<(), ApiError> {
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

    /// A right guess clears that client's window and the account's count.
    pub async fn right_guess(&self, guess: &Guess) -> Result<(), ApiError> {
        let s = &self.settings;
        self.counters
            .reset(CLIENT_SCOPE, &guess.client_key, s.login_window, guess.now)
            .await?;
        self.counters
            .reset(
                ACCOUNT_SCOPE,
                &guess.account_key,
                s.account_window,
                guess.now,
            )
            .await?;
        Ok(())
    }
}
