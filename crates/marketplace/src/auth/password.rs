//! argon2id password hashing with bounded memory: a fixed number of hashes run at once, each in
//! a work area allocated once at start, behind a short queue that refuses the rest.
//!
//! Each argon2id hash needs 19 MiB. Unbounded, a few hundred parallel sign-ins (no account needed)
//! would take gigabytes, and the allocator would keep them. Here memory is `workers × 19 MiB`,
//! whatever the load; a request that finds the queue full is told to retry.

use crate::error::AppError;
use argon2::password_hash::{Output, PasswordHash, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How much hashing may run and wait at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes computed at once; each holds one 19 MiB work area. 0 means one per CPU core.
    pub workers: usize,
    /// Requests that may wait for a worker; beyond this they are refused with 429.
    pub queue: usize,
    /// The longest a request waits for a worker before it is refused.
    pub max_wait_ms: u64,
}

impl From<&crate::config::AuthSettings> for HashLimits {
    fn from(auth: &crate::config::AuthSettings) -> Self {
        Self {
            workers: auth.password_hash_workers,
            queue: auth.password_hash_queue,
            max_wait_ms: auth.password_hash_max_wait_ms,
        }
    }
}

impl Default for HashLimits {
    fn default() -> Self {
        Self {
            workers: 0,
            queue: 64,
            max_wait_ms: 3000,
        }
    }
}

/// What a refused request is told: retry after this many seconds.
const RETRY_AFTER_SECS: u64 = 2;

/// The password hasher every request shares.
pub struct Passwords {
    params: Params,
    /// Admission: workers plus queue. `try_acquire` fails fast when both are full.
    admitted: Arc<Semaphore>,
    /// Work areas, one per worker; a permit of `available` is the right to take one.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
    available: Arc<Semaphore>,
    max_wait: Duration,
}

impl Passwords {
    /// argon2id with the crate's defaults: 19 MiB, 2 passes, 1 lane (OWASP's recommendation).
    pub fn new(limits: HashLimits) -> Arc<Self> {
        let workers = if limits.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            limits.workers
        };
        let params = Params::default();
        let areas = (0..workers)
            .map(|_| vec![Block::default(); params.block_count()])
            .collect();
        Arc::new(Self {
            params,
            admitted: Arc::new(Semaphore::new(workers + limits.queue)),
            areas: Arc::new(Mutex::new(areas)),
            available: Arc::new(Semaphore::new(workers)),
            max_wait: Duration::from_millis(limits.max_wait_ms),
        })
    }

    /// Hashes `password` as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
    pub async fn hash(&self, password: String) -> Result<String, AppError> {
        let salt = SaltString::generate(&mut OsRng);
        let params = self.params.clone();
        let salt_for_work = salt.clone();
        let out = self
            .run(params.clone(), move |argon, area| {
                let mut raw = vec![0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
                let mut salt_bytes = [0u8; 64];
                let salt = salt_for_work
                    .decode_b64(&mut salt_bytes)
                    .map_err(|e| anyhow::anyhow!("decoding salt: {e}"))?;
                argon
                    .hash_password_into_with_memory(password.as_bytes(), salt, &mut raw, area)
                    .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
                Ok(raw)
            })
            .await?;
        let output = Output::new(&out).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params)
                .try_into()
                .map_err(|e| AppError::Internal(anyhow::anyhow!("argon2 params: {e}")))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    }

    /// True only when `password` matches `stored`. A malformed stored hash counts as a mismatch
    /// and is logged, so one bad row cannot lock the service.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, AppError> {
        let Some((params, salt, expected)) = parse_stored(&stored) else {
            tracing::error!("stored password hash is malformed");
            return Ok(false);
        };
        self.run(params, move |argon, area| {
            let mut raw = vec![0u8; expected.len()];
            argon
                .hash_password_into_with_memory(password.as_bytes(), &salt, &mut raw, area)
                .map_err(|e| anyhow::anyhow!("verifying password: {e}"))?;
            // `Output`'s equality is constant-time.
            Ok(Output::new(&raw).is_ok_and(|o| o == expected))
        })
        .await
    }

    /// Waits for a work area (refusing when the queue is full or the wait too long), then runs
    /// `work` on a blocking thread with it. The blocking task owns the permits and the area and
    /// gives them back itself, so a request abandoned mid-hash loses nothing.
    async fn run<T: Send + 'static>(
        &self,
        params: Params,
        work: impl FnOnce(&Argon2<'static>, &mut [Block]) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, AppError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy())?;
        let worker = tokio::time::timeout(self.max_wait, self.available.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let areas = self.areas.clone();
        tokio::task::spawn_blocking(move || {
            let _permits = (admitted, worker);
            let mut area = areas
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
                .unwrap_or_default();
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            // A stored hash with a bigger cost than ours gets its own, temporary area.
            let result = if params.block_count() <= area.len() {
                work(&argon, &mut area[..params.block_count()])
            } else {
                let mut bigger = vec![Block::default(); params.block_count()];
                work(&argon, &mut bigger)
            };
            areas.lock().unwrap_or_else(|p| p.into_inner()).push(area);
            result
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
        .map_err(AppError::Internal)
    }
}

fn busy() -> AppError {
    AppError::Busy {
        message: "Too many sign-ins are being checked right now. Please try again in a moment."
            .into(),
        retry_after_secs: RETRY_AFTER_SECS,
    }
}

/// The parameters, salt and expected output of a stored argon2id PHC string.
fn parse_stored(stored: &str) -> Option<(Params, Vec<u8>, Output)> {
    let parsed = PasswordHash::new(stored).ok()?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return None;
    }
    let expected = parsed.hash?;
    let params = Params::try_from(&parsed).ok()?;
    // Never let a row's parameters make us allocate without bound.
    if params.m_cost() > 256 * 1024 || params.p_cost() != 1 {
        return None;
    }
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?.to_vec();
    Some((params, salt, expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordVerifier;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify_only_the_right_password() {
        let p = Passwords::new(HashLimits::default());
        let a = p.hash("koi carp sleeve 1998".into()).await.unwrap();
        let b = p.hash("koi carp sleeve 1998".into()).await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(
            p.verify("koi carp sleeve 1998".into(), a.clone())
                .await
                .unwrap()
        );
        assert!(!p.verify("koi carp sleeve 1999".into(), a).await.unwrap());
        assert!(
            !p.verify("anything".into(), "not a hash".into())
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_are_the_standard_phc_format_both_ways() {
        let p = Passwords::new(HashLimits::default());
        // Ours verify with the reference implementation's own verifier...
        let ours = p.hash("koi carp sleeve 1998".into()).await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"koi carp sleeve 1998", &parsed)
                .is_ok()
        );
        // ...and hashes it made (every existing account) verify with ours.
        use argon2::password_hash::PasswordHasher;
        let theirs = Argon2::default()
            .hash_password(b"tiger", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(p.verify("tiger".into(), theirs.clone()).await.unwrap());
        assert!(!p.verify("Tiger".into(), theirs).await.unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_instead_of_growing() {
        let p = Passwords::new(HashLimits {
            workers: 1,
            queue: 1,
            max_wait_ms: 60_000,
        });
        let stored = p.hash("x".into()).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let p = p.clone();
                let stored = stored.clone();
                tokio::spawn(async move { p.verify("y".into(), stored).await })
            })
            .collect();
        let mut refused = 0;
        let mut checked = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(false) => checked += 1,
                Err(AppError::Busy {
                    retry_after_secs, ..
                }) => {
                    assert!(retry_after_secs > 0);
                    refused += 1
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(
            checked >= 1 && refused >= 1,
            "{checked} checked, {refused} refused"
        );
        assert_eq!(checked + refused, 8);
        // The work areas all came back.
        assert_eq!(p.areas.lock().unwrap().len(), 1);
    }

    #[test]
    fn stored_hashes_that_would_allocate_without_bound_are_refused() {
        assert!(
            parse_stored("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
                .is_none()
        );
        assert!(
            parse_stored("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
                .is_none()
        );
        assert!(
            parse_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
                .is_some()
        );
    }
}
