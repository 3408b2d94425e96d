//! Signed, expiring links in account emails: `user.expiry.mac`, where the MAC (HMAC-SHA-256 with a
//! key derived from the session secret) also covers the purpose and the address the link was sent
//! to, so a link stops working when the account's address changes, and no personal data is in it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a link is for; part of what is signed, so one kind can never be used as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    /// Bound to (a digest of) the current password hash, so it works once.
    ResetPassword,
    /// Bound to the current and the new address, so it works only while the account still has
    /// the first and for the second as sent.
    ChangeEmail,
    /// Bound to one optional kind of email: the link in its `List-Unsubscribe` header.
    Unsubscribe,
    /// Bound to one erasure request: the link that calls it off during the grace period.
    KeepAccount,
}

impl Purpose {
    fn tag(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify-email",
            Purpose::ResetPassword => "reset-password",
            Purpose::ChangeEmail => "change-email",
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::KeepAccount => "keep-account",
        }
    }
}

/// Signs and checks links. The key is derived, so the session secret itself never signs links.
#[derive(Clone)]
pub struct LinkSigner {
    key: [u8; 32],
}

/// Why a link was refused; the page says only that the link is not valid or has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature does not match")]
    BadSignature,
}

impl LinkSigner {
    pub fn new(secret: &[u8]) -> Self {
        use sha2::Digest;
        let mut h = Sha256::new();
        h.update(b"tattoo-marketplace email links v1\0");
        h.update(secret);
        Self {
            key: h.finalize().into(),
        }
    }

    fn mac(&self, purpose: Purpose, user: i64, expires: i64, email: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{}\0{user}\0{expires}\0{email}", purpose.tag()).as_bytes());
        mac
    }

    /// A token for `user`, whose address is `email`, valid until `expires` (unix seconds).
    pub fn sign(&self, purpose: Purpose, user: i64, email: &str, expires: i64) -> String {
        let tag = self
            .mac(purpose, user, expires, email)
            .finalize()
            .into_bytes();
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        format!("{user}.{expires}.{hex}")
    }

    /// The user id a token names, before its signature is checked against that user's address.
    pub fn user_of(token: &str) -> Result<i64, LinkError> {
        token
            .split('.')
            .next()
            .and_then(|u| u.parse().ok())
            .ok_or(LinkError::Malformed)
    }

    /// Checks `token` for `purpose`, the user's current `email`, at time `now`.
    pub fn check(
        &self,
        purpose: Purpose,
        token: &str,
        email: &str,
        now: i64,
    ) -> Result<i64, LinkError> {
        let mut parts = token.split('.');
        let (Some(user), Some(expires), Some(hex), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(LinkError::Malformed);
        };
        let user: i64 = user.parse().map_err(|_| LinkError::Malformed)?;
        let expires: i64 = expires.parse().map_err(|_| LinkError::Malformed)?;
        if hex.len() != 64 || !hex.is_ascii() {
            return Err(LinkError::Malformed);
        }
        let tag = (0..32)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| LinkError::Malformed)?;
        // Constant-time comparison, inside `verify_slice`.
        self.mac(purpose, user, expires, email)
            .verify_slice(&tag)
            .map_err(|_| LinkError::BadSignature)?;
        if now >= expires {
            return Err(LinkError::Expired);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_link_works_for_its_user_and_address_until_it_expires() {
        let s = LinkSigner::new(b"a session secret of some length");
        let t = s.sign(Purpose::VerifyEmail, 42, "ink@example.com", NOW + 60);
        assert_eq!(LinkSigner::user_of(&t), Ok(42));
        assert_eq!(
            s.check(Purpose::VerifyEmail, &t, "ink@example.com", NOW),
            Ok(42)
        );
        assert_eq!(
            s.check(Purpose::VerifyEmail, &t, "ink@example.com", NOW + 60),
            Err(LinkError::Expired)
        );
        assert_eq!(
            s.check(Purpose::VerifyEmail, &t, "new@example.com", NOW),
            Err(LinkError::BadSignature),
            "the address changed"
        );
        assert_eq!(
            s.check(Purpose::ResetPassword, &t, "ink@example.com", NOW),
            Err(LinkError::BadSignature),
            "a verification link is not a reset link"
        );
        let other = LinkSigner::new(b"another secret entirely");
        assert_eq!(
            other.check(Purpose::VerifyEmail, &t, "ink@example.com", NOW),
            Err(LinkError::BadSignature)
        );
        // Another user id or a later expiry with the same MAC is refused.
        let (_, rest) = t.split_once('.').unwrap();
        assert_eq!(
            s.check(
                Purpose::VerifyEmail,
                &format!("43.{rest}"),
                "ink@example.com",
                NOW
            ),
            Err(LinkError::BadSignature)
        );
        let mac = t.rsplit('.').next().unwrap();
        assert_eq!(
            s.check(
                Purpose::VerifyEmail,
                &format!("42.{}.{mac}", NOW + 999_999),
                "ink@example.com",
                NOW
            ),
            Err(LinkError::BadSignature)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_tokens_are_refused_without_panicking(t in "\\PC{0,120}") {
            let s = LinkSigner::new(b"k");
            prop_assert!(s.check(Purpose::VerifyEmail, &t, "ink@example.com", NOW).is_err());
        }
    }
}
