//! Identity for the functions that need it (`auth`, `users`, `uploads`; `webhooks` only for the
//! users store, to set a tier): tokens, passwords, the users / sessions / revoked-token stores
//! and the transactions across them, validated domain types, the authentication extractors,
//! listings with signed pagination cursors, and mail.
//!
//! Each part reads its own settings where it is used (`TokenSettings`, `HashCost`, `Mailer`,
//! `CursorKey`), so a function parses only those of the parts it uses, and `health`, which does
//! not link this crate, none.

pub mod domain;
pub mod extract;
pub mod jwt;
pub mod mail;
pub mod pagination;
pub mod password;
pub mod state;
pub mod store;

pub use extract::{Admin, AuthUser, MaybeAuthUser, RequireRole, Role};
pub use state::IdentityState;
