//! Accounts: password hashing, signed-in users and role extractors, CSRF protection.

pub mod csrf;
pub mod email_link;
pub mod password;
pub mod session;
pub mod two_factor;

pub use session::{AdminUser, ArtistUser, ClientUser, CurrentUser, MaybeUser};
