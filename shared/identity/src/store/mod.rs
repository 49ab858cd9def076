//! DynamoDB stores of identity. Every write that must not clobber state is conditional; every
//! change that spans tables is one transaction in [`transactions`].

pub mod access;
pub mod counters;
pub mod revoked;
pub mod sessions;
pub mod transactions;
pub mod users;

pub use transactions::IdentityStore;
