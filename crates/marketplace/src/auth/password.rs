//! argon2id password hashing, run off the async threads because it is deliberately slow.

use crate::error::AppError;
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// Hashes with argon2id and the crate's defaults (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing password: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))?
}

/// True only when `password` matches `stored`. A malformed stored hash counts as a mismatch and
/// is logged, so one bad row cannot lock the service.
pub async fn verify(password: String, stored: String) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || match PasswordHash::new(&stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash is malformed");
            false
        }
    })
    .await
    .map_err(|e| AppError::Internal(e.into()))
}

/// A hash of a random throwaway password, for equal-time sign-in failures.
pub async fn dummy_hash() -> Result<String, AppError> {
    hash(uuid::Uuid::new_v4().to_string()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let a = hash("koi carp sleeve 1998".into()).await.unwrap();
        let b = hash("koi carp sleeve 1998".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            verify("koi carp sleeve 1998".into(), a.clone())
                .await
                .unwrap()
        );
        assert!(!verify("koi carp sleeve 1999".into(), a).await.unwrap());
        assert!(
            !verify("anything".into(), "not a hash".into())
                .await
                .unwrap()
        );
    }
}
