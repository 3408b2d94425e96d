//! TOTP second factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock skew) with
//! single-use recovery codes. A code's time step is accepted once, on any instance, so a code seen
//! over a shoulder cannot be replayed.

use crate::error::AppError;
use rand::RngCore;
use totp_rs::{Algorithm, Secret, TOTP};

/// Recovery codes handed out when the second factor is turned on.
pub const RECOVERY_CODES: usize = 10;
const STEP: u64 = 30;
const ISSUER: &str = "Tattoo Marketplace";

/// A new random secret (160 bits, as RFC 4226 recommends), base32 for authenticator apps.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    Secret::Raw(bytes.to_vec()).to_encoded().to_string()
}

fn totp(secret: &str, account: &str) -> Result<TOTP, AppError> {
    let bytes = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("stored TOTP secret: {e:?}")))?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        bytes,
        Some(ISSUER.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| AppError::Internal(anyhow::anyhow!("TOTP parameters: {e}")))
}

/// The `otpauth://` URL an authenticator app enrols from.
pub fn enrolment_url(secret: &str, account: &str) -> Result<String, AppError> {
    Ok(totp(secret, account)?.get_url())
}

/// The time step `code` is valid for at `now` (within one step of skew), if any.
pub fn matching_step(secret: &str, code: &str, now: u64) -> Result<Option<i64>, AppError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let t = totp(secret, "")?;
    let current = now / STEP;
    Ok([current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| {
            constant_time_eq::constant_time_eq(t.generate(step * STEP).as_bytes(), code.as_bytes())
        })
        .and_then(|s| i64::try_from(s).ok()))
}

pub fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// A recovery code's stored form. Codes carry 50 random bits, so a fast hash suffices.
pub fn hash_recovery(code: &str) -> String {
    crate::auth::sha256_hex(normalise(code).as_bytes())
}

/// Fresh recovery codes, as shown once (`xxxxx-xxxxx`), and their hashes, as stored.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let mut pick = || {
                (0..5)
                    .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
                    .collect::<String>()
            };
            format!("{}-{}", pick(), pick())
        })
        .collect();
    let hashes = codes.iter().map(|c| hash_recovery(c)).collect();
    (codes, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_one_step_either_side_only() {
        let secret = new_secret();
        let t = totp(&secret, "").unwrap();
        let now = 1_800_000_000u64;
        let step = (now / STEP) as i64;
        let code = t.generate(now);
        assert_eq!(matching_step(&secret, &code, now).unwrap(), Some(step));
        assert_eq!(
            matching_step(&secret, &format!(" {} {} ", &code[..3], &code[3..]), now).unwrap(),
            Some(step),
            "spaces are ignored"
        );
        assert_eq!(
            matching_step(&secret, &code, now + STEP).unwrap(),
            Some(step)
        );
        assert_eq!(matching_step(&secret, &code, now + 3 * STEP).unwrap(), None);
        for bad in ["", "12345", "1234567", "abcdef", "12345x"] {
            assert_eq!(matching_step(&secret, bad, now).unwrap(), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_distinct_and_hashed_however_they_are_typed() {
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        assert_eq!(hash_recovery(&codes[0]), hashes[0]);
        assert_eq!(
            hash_recovery(&codes[0].to_uppercase().replace('-', " ")),
            hashes[0]
        );
        assert!(!hashes[0].contains(&codes[0]));
    }
}
