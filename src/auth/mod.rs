//! Who may do what: password hashing, login throttling, device tokens, and
//! the one table of permissions every route checks.

pub mod password;
pub mod policy;
pub mod throttle;
pub mod tickets;
pub mod tokens;

pub use policy::{Caller, Permission};
