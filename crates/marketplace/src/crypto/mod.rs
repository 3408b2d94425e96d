//! Field-level envelope encryption of special-category data: AES-256-GCM under data keys that a
//! key-encryption key (AWS KMS, or a local key file in development) wraps.

mod wrap;

pub use wrap::{KeyWrapper, KmsKeyWrapper, LocalKeyWrapper};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use storage::Store;

/// Text values start with this; anything else was written before encryption and reads as is.
const TEXT_PREFIX: &str = "enc:v1:";
/// Encrypted objects (images) start with these bytes.
const BYTES_MAGIC: &[u8; 6] = b"TMENC1";
const NONCE_LEN: usize = 12;
/// How long an instance writes with one data key before looking for a newer one (a rotation).
const CURRENT_KEY_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key service could not be reached or refused: writes and reads of encrypted fields
    /// wait for it, and nothing is stored half-done.
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    /// A stored value does not decrypt (changed, or made with a key we do not have).
    #[error("encrypted data does not decrypt: {0}")]
    Corrupt(String),
    #[error("the data keys cannot be read or saved: {0}")]
    Store(#[from] storage::StoreError),
}

/// Seals and opens fields and objects; holds the unwrapped data keys in memory only.
pub struct FieldCipher {
    wrapper: Arc<dyn KeyWrapper>,
    store: Arc<dyn Store>,
    current: tokio::sync::Mutex<Option<(i64, Key<Aes256Gcm>, Instant)>>,
    keys: RwLock<HashMap<i64, Key<Aes256Gcm>>>,
}

impl FieldCipher {
    pub fn new(wrapper: Arc<dyn KeyWrapper>, store: Arc<dyn Store>) -> Self {
        Self {
            wrapper,
            store,
            current: tokio::sync::Mutex::new(None),
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// The data key new data is sealed with: the newest stored one, or a new one on first use.
    async fn current_key(&self) -> Result<(i64, Key<Aes256Gcm>), CryptoError> {
        let mut current = self.current.lock().await;
        if let Some((id, key, at)) = current.as_ref()
            && at.elapsed() < CURRENT_KEY_TTL
        {
            return Ok((*id, *key));
        }
        let (id, key) = match self.store.newest_data_key().await? {
            Some(k) => (k.id, self.unwrap_stored(&k).await?),
            None => {
                let (key, wrapped) = self.wrapper.generate().await?;
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let stored = self
                    .store
                    .insert_data_key(&B64.encode(wrapped), &self.wrapper.key_ref(), now)
                    .await?;
                (stored.id, key)
            }
        };
        self.remember(id, key);
        *current = Some((id, key, Instant::now()));
        Ok((id, key))
    }

    fn remember(&self, id: i64, key: Key<Aes256Gcm>) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(id, key);
        }
    }

    async fn unwrap_stored(&self, k: &storage::DataKey) -> Result<Key<Aes256Gcm>, CryptoError> {
        let wrapped = B64
            .decode(&k.wrapped)
            .map_err(|e| CryptoError::Corrupt(format!("data key {}: {e}", k.id)))?;
        self.wrapper.unwrap(&wrapped).await
    }

    async fn key(&self, id: i64) -> Result<Key<Aes256Gcm>, CryptoError> {
        if let Some(k) = self.keys.read().ok().and_then(|m| m.get(&id).copied()) {
            return Ok(k);
        }
        let stored = self
            .store
            .data_key(id)
            .await?
            .ok_or_else(|| CryptoError::Corrupt(format!("data key {id} does not exist")))?;
        let key = self.unwrap_stored(&stored).await?;
        self.remember(id, key);
        Ok(key)
    }

    /// Encrypts `plaintext`, bound to `context` (the column or object key), so a value copied
    /// to another field or object does not decrypt there.
    async fn seal_raw(
        &self,
        context: &str,
        plaintext: &[u8],
    ) -> Result<(i64, Vec<u8>), CryptoError> {
        let (id, key) = self.current_key().await?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = Aes256Gcm::new(&key)
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok((id, out))
    }

    async fn open_raw(
        &self,
        id: i64,
        context: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt("too short".into()));
        }
        let key = self.key(id).await?;
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        Aes256Gcm::new(&key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt(format!("{context}: authentication failed")))
    }

    /// Seals a text field as `enc:v1:KEY:BASE64`.
    pub async fn seal_text(&self, context: &str, plaintext: &str) -> Result<String, CryptoError> {
        let (id, sealed) = self.seal_raw(context, plaintext.as_bytes()).await?;
        Ok(format!("{TEXT_PREFIX}{id}:{}", B64.encode(sealed)))
    }

    /// Opens a sealed text field; a value written before encryption comes back as it is.
    pub async fn open_text(&self, context: &str, stored: &str) -> Result<String, CryptoError> {
        let Some(rest) = stored.strip_prefix(TEXT_PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, body) = rest
            .split_once(':')
            .and_then(|(id, b)| Some((id.parse::<i64>().ok()?, B64.decode(b).ok()?)))
            .ok_or_else(|| CryptoError::Corrupt(format!("{context}: malformed")))?;
        let plain = self.open_raw(id, context, &body).await?;
        String::from_utf8(plain).map_err(|_| CryptoError::Corrupt(format!("{context}: not text")))
    }

    /// Seals an object (an image) as `TMENC1`, the data key's id (8 bytes), nonce and ciphertext.
    pub async fn seal_bytes(
        &self,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let (id, sealed) = self.seal_raw(context, plaintext).await?;
        let mut out = Vec::with_capacity(BYTES_MAGIC.len() + 8 + sealed.len());
        out.extend_from_slice(BYTES_MAGIC);
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a sealed object; one stored before encryption comes back as it is.
    pub async fn open_bytes(&self, context: &str, stored: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some(rest) = stored.strip_prefix(BYTES_MAGIC.as_slice()) else {
            return Ok(stored.to_vec());
        };
        if rest.len() < 8 {
            return Err(CryptoError::Corrupt(format!("{context}: too short")));
        }
        let (id, body) = rest.split_at(8);
        let id = i64::from_be_bytes(id.try_into().unwrap_or_default());
        self.open_raw(id, context, body).await
    }

    /// Re-wraps every data key under the current key-encryption key (after a KMS key rotation
    /// or a move to another key), then starts a new data key for new data. The data keys
    /// themselves do not change, so nothing is re-encrypted and running instances carry on.
    pub async fn rotate(&self) -> Result<Rotation, CryptoError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut rewrapped = 0;
        for k in self.store.data_keys().await? {
            let wrapped = B64
                .decode(&k.wrapped)
                .map_err(|e| CryptoError::Corrupt(format!("data key {}: {e}", k.id)))?;
            let fresh = self.wrapper.rewrap(&wrapped).await?;
            if self
                .store
                .rewrap_data_key(
                    k.id,
                    &k.wrapped,
                    &B64.encode(fresh),
                    &self.wrapper.key_ref(),
                    now,
                )
                .await?
            {
                rewrapped += 1;
            }
        }
        let (key, wrapped) = self.wrapper.generate().await?;
        let stored = self
            .store
            .insert_data_key(&B64.encode(wrapped), &self.wrapper.key_ref(), now)
            .await?;
        self.remember(stored.id, key);
        *self.current.lock().await = Some((stored.id, key, Instant::now()));
        Ok(Rotation {
            rewrapped,
            new_key: stored.id,
            key_ref: self.wrapper.key_ref(),
        })
    }
}

/// What `marketplace keys rotate` did.
#[derive(Debug)]
pub struct Rotation {
    pub rewrapped: usize,
    pub new_key: i64,
    pub key_ref: String,
}

/// Whether a stored text value is sealed (for tests and the plaintext scan).
pub fn is_sealed_text(stored: &str) -> bool {
    stored.starts_with(TEXT_PREFIX)
}

impl From<CryptoError> for crate::error::AppError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Unavailable(why) => {
                tracing::error!(error = %why, "key service unavailable");
                crate::error::AppError::Unavailable(
                    "Health details, dates of birth and skin photos are stored encrypted, and the \
                     key service is not answering just now. Nothing was saved or lost: please try \
                     again in a minute."
                        .into(),
                )
            }
            CryptoError::Store(e) => e.into(),
            CryptoError::Corrupt(why) => {
                crate::error::AppError::Internal(anyhow::anyhow!("decryption: {why}"))
            }
        }
    }
}

/// The wrapper the settings name: KMS when a key is set, otherwise development's key file.
pub async fn wrapper_from(
    settings: &crate::config::EncryptionSettings,
) -> anyhow::Result<Arc<dyn KeyWrapper>> {
    match settings
        .kms_key_id
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        Some(key) => Ok(Arc::new(
            KmsKeyWrapper::from_environment(key, settings.kms_endpoint.as_deref()).await,
        )),
        None => Ok(Arc::new(LocalKeyWrapper::open_or_create(Path::new(
            &settings.local_key_file,
        ))?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storage::testing::TestDb;

    async fn cipher(dir: &Path) -> (FieldCipher, TestDb) {
        let db = TestDb::sqlite();
        let store = db.store().await;
        let wrapper = LocalKeyWrapper::open_or_create(&dir.join("k")).unwrap();
        (FieldCipher::new(Arc::new(wrapper), store), db)
    }

    #[tokio::test]
    async fn sealed_values_open_only_in_their_own_place_and_unsealed_ones_pass_through() {
        let dir = tempfile::tempdir().unwrap();
        let (c, _db) = cipher(dir.path()).await;
        let sealed = c.seal_text("consents.allergies", "latex").await.unwrap();
        assert!(is_sealed_text(&sealed) && !sealed.contains("latex"));
        assert_eq!(
            c.open_text("consents.allergies", &sealed).await.unwrap(),
            "latex"
        );
        // Copied into another column, it does not open.
        assert!(matches!(
            c.open_text("consents.medical_notes", &sealed).await,
            Err(CryptoError::Corrupt(_))
        ));
        // Any changed character is caught.
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(c.open_text("consents.allergies", &tampered).await.is_err());
        for bad in [
            "enc:v1:",
            "enc:v1:x:AAAA",
            "enc:v1:99:AAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert!(
                c.open_text("consents.allergies", bad).await.is_err(),
                "{bad}"
            );
        }
        // Written before encryption: read as it is.
        assert_eq!(
            c.open_text("consents.allergies", "none").await.unwrap(),
            "none"
        );
        let photo = c
            .seal_bytes("references/1/a.jpg", b"\xFF\xD8\xFFjpeg")
            .await
            .unwrap();
        assert!(photo.starts_with(BYTES_MAGIC));
        assert!(c.open_bytes("references/1/b.jpg", &photo).await.is_err());
        assert_eq!(
            c.open_bytes("references/1/a.jpg", &photo).await.unwrap(),
            b"\xFF\xD8\xFFjpeg"
        );
    }

    #[tokio::test]
    async fn rotation_rewraps_every_key_and_old_data_still_opens_with_a_fresh_cipher() {
        let dir = tempfile::tempdir().unwrap();
        let (c, db) = cipher(dir.path()).await;
        let before = c.seal_text("f", "before").await.unwrap();
        let r = c.rotate().await.unwrap();
        assert_eq!(r.rewrapped, 1);
        let after = c.seal_text("f", "after").await.unwrap();
        assert_ne!(
            before.split(':').nth(2),
            after.split(':').nth(2),
            "a new data key"
        );
        // Another instance, with nothing cached, opens both.
        let wrapper = LocalKeyWrapper::open_or_create(&dir.path().join("k")).unwrap();
        let fresh = FieldCipher::new(Arc::new(wrapper), db.store().await);
        assert_eq!(fresh.open_text("f", &before).await.unwrap(), "before");
        assert_eq!(fresh.open_text("f", &after).await.unwrap(), "after");
        // A different local key file cannot open them: the data keys are bound to their wrapper.
        let other = LocalKeyWrapper::open_or_create(&dir.path().join("other")).unwrap();
        let stranger = FieldCipher::new(Arc::new(other), db.store().await);
        assert!(matches!(
            stranger.open_text("f", &before).await,
            Err(CryptoError::Corrupt(_))
        ));
    }

    #[test]
    fn a_local_key_file_is_made_private_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key");
        let a = LocalKeyWrapper::open_or_create(&path).unwrap();
        let b = LocalKeyWrapper::open_or_create(&path).unwrap();
        assert_eq!(a.key_ref(), b.key_ref(), "made once, then read");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Instances starting together agree on one key.
        let shared = dir.path().join("shared");
        let refs: Vec<String> = (0..8)
            .map(|_| {
                let p = shared.clone();
                std::thread::spawn(move || LocalKeyWrapper::open_or_create(&p).unwrap().key_ref())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(refs.iter().all(|r| *r == refs[0]), "{refs:?}");
        std::fs::write(dir.path().join("bad"), "not hex").unwrap();
        let err = LocalKeyWrapper::open_or_create(&dir.path().join("bad"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("64 hexadecimal"), "{err}");
    }
}
