//! Users, split by what changes together: the item and its conversions ([`item`]), the
//! uniqueness guards ([`guards`]) and the table's own reads and writes ([`repo`]).

pub mod guards;
pub mod item;
pub mod repo;

pub use item::{NewUser, User, parse_user, user_key};
pub use repo::{AdminChanges, ProfileChanges, Users};
