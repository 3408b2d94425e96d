//! Accounts: password hashing, signed-in users and role extractors, CSRF protection.

pub mod csrf;
pub mod email_link;
pub mod oidc;
pub mod password;
pub mod session;
pub mod two_factor;

pub use session::{AdminUser, ArtistUser, ClientUser, CurrentUser, MaybeUser};

/// SHA-256 of `data` as lower-case hex: the stored form of throttle keys, reset bindings and
/// recovery codes (values that are either high-entropy or only compared, never reversed).
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
