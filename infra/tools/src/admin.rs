//! `make admin EMAIL=... PASSWORD=...`: creates an admin, or promotes an existing account.
//!
//! Reads the same environment as the functions (table names, signing key secret id, endpoint),
//! so it works against the local emulator and, with real credentials, against AWS.

#![allow(clippy::print_stdout)] // A command-line tool: stdout is its interface.

use anyhow::{Context as _, bail};
use identity::{
    IdentityState,
    domain::{Email, NewPassword, PersonName, Username},
    password::{HashCost, Passwords},
    store::users::{AdminChanges, NewUser},
};
use secrecy::SecretString;
use shared::{AppState, Env};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let email = std::env::var("EMAIL").context("set EMAIL=<address>")?;
    let password = SecretString::from(std::env::var("PASSWORD").unwrap_or_default());
    let email = Email::parse(&email).map_err(|e| anyhow::anyhow!("EMAIL: {}", e.msg))?;

    let env = Env::process();
    let app = AppState::from_env(&env, "admin", env!("CARGO_PKG_VERSION")).await?;
    let identity = IdentityState::from_env(&app, &env)?;
    let users = &identity.store.users;

    if let Some(user) = users.find_by_login(email.as_str()).await? {
        let mut roles = user.roles.clone();
        if !user.has_role("admin") {
            roles.push("admin".to_owned());
            roles.sort();
        }
        users
            .admin_update(
                &user.id,
                &AdminChanges {
                    roles: Some(roles),
                    ..AdminChanges::default()
                },
                // Promoting never needs the last-admin guard.
                None,
            )
            .await?;
        println!(
            "promoted existing user {} ({}) to admin",
            user.username, user.id
        );
        return Ok(());
    }

    // A username from the address's local part, made to fit the username rule.
    let local: String = email
        .as_str()
        .split('@')
        .next()
        .unwrap_or("admin")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let username =
        Username::parse(&format!("{local}_admin")).map_err(|e| anyhow::anyhow!("{}", e.msg))?;
    let password = NewPassword::parse(&password, "PASSWORD", &[email.as_str(), username.as_str()])
        .map_err(|e| anyhow::anyhow!("PASSWORD: {}", e.msg))?;
    let hash = Passwords::new(HashCost::from_env(&env)?)?
        .hash(password.secret())
        .await?;
    let name = |n: &str| PersonName::parse(n, "name").map_err(|e| anyhow::anyhow!("{}", e.msg));
    let user = match users
        .create(NewUser {
            username,
            email,
            first_name: name("Admin")?,
            last_name: name("User")?,
            password_hash: hash,
            roles: vec!["admin".to_owned(), "user".to_owned()],
        })
        .await
    {
        Ok(user) => user,
        Err(e) => bail!("could not create the admin: {e}"),
    };
    users.mark_email_verified(&user.id).await?;
    println!(
        "created admin {} ({}); log in with its email or username",
        user.username, user.id
    );
    Ok(())
}
