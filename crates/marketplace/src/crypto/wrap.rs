//! Key-encryption keys: AWS KMS in staging and production, a local key file in development.

use super::CryptoError;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use std::path::Path;

/// What data keys are wrapped with.
#[async_trait]
pub trait KeyWrapper: Send + Sync {
    /// A new data key, in the clear (kept in memory only) and wrapped (stored).
    async fn generate(&self) -> Result<(Key<Aes256Gcm>, Vec<u8>), CryptoError>;
    async fn unwrap(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, CryptoError>;
    /// The same data key, wrapped again under the current key-encryption key.
    async fn rewrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError>;
    /// Names the key-encryption key, stored beside each data key.
    fn key_ref(&self) -> String;
}

fn key_from(bytes: &[u8]) -> Result<Key<Aes256Gcm>, CryptoError> {
    if bytes.len() != 32 {
        return Err(CryptoError::Corrupt(format!(
            "a data key is 32 bytes, not {}",
            bytes.len()
        )));
    }
    Ok(*Key::<Aes256Gcm>::from_slice(bytes))
}

/// Development's key-encryption key: 32 random bytes in a file (hex), made on first start.
pub struct LocalKeyWrapper {
    key: Key<Aes256Gcm>,
    fingerprint: String,
}

const LOCAL_AAD: &[u8] = b"tm-data-key";

impl LocalKeyWrapper {
    /// Reads the key file, creating it (readable by its owner only) when it does not exist.
    pub fn open_or_create(path: &Path) -> anyhow::Result<Self> {
        let hex = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key_file(path)?,
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let bytes = (0..hex.trim().len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.trim().get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: not a key (64 hexadecimal characters expected)",
                    path.display()
                )
            })?;
        let fingerprint = crate::auth::sha256_hex(&bytes)[..16].to_owned();
        Ok(Self {
            key: *Key::<Aes256Gcm>::from_slice(&bytes),
            fingerprint,
        })
    }

    fn wrap(&self, key: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = Aes256Gcm::new(&self.key)
            .encrypt(
                &nonce,
                Payload {
                    msg: key,
                    aad: LOCAL_AAD,
                },
            )
            .map_err(|_| CryptoError::Corrupt("wrapping failed".into()))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }
}

/// Makes the key file whole or not at all: written beside it, then linked into place, which fails
/// if another instance starting at the same moment got there first (its key is then used).
fn create_key_file(path: &Path) -> anyhow::Result<String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let key = Aes256Gcm::generate_key(OsRng);
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    write_private(&tmp, &hex).map_err(|e| anyhow::anyhow!("{}: {e}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(hex),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[async_trait]
impl KeyWrapper for LocalKeyWrapper {
    async fn generate(&self) -> Result<(Key<Aes256Gcm>, Vec<u8>), CryptoError> {
        let key = Aes256Gcm::generate_key(OsRng);
        Ok((key, self.wrap(&key)?))
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, CryptoError> {
        if wrapped.len() < 12 {
            return Err(CryptoError::Corrupt("wrapped key too short".into()));
        }
        let (nonce, body) = wrapped.split_at(12);
        let plain = Aes256Gcm::new(&self.key)
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: LOCAL_AAD,
                },
            )
            .map_err(|_| {
                CryptoError::Corrupt(
                    "a data key was wrapped by another local key file (encryption.local_key_file)"
                        .into(),
                )
            })?;
        key_from(&plain)
    }

    async fn rewrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.unwrap(wrapped).await?;
        self.wrap(&key)
    }

    fn key_ref(&self) -> String {
        format!("local:{}", self.fingerprint)
    }
}

/// AWS KMS: data keys from `GenerateDataKey`, opened with `Decrypt`, rewrapped with `ReEncrypt`,
/// each bound to an encryption context that names their use (and that IAM conditions check).
pub struct KmsKeyWrapper {
    client: aws_sdk_kms::Client,
    key_id: String,
}

const CONTEXT_KEY: &str = "purpose";
const CONTEXT_VALUE: &str = "tm-field-encryption";

fn unavailable(e: impl std::error::Error) -> CryptoError {
    CryptoError::Unavailable(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
}

impl KmsKeyWrapper {
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }

    /// A client from the standard AWS configuration (the ECS task role), or for a local AWS API
    /// (`endpoint`, such as moto) with placeholder credentials when none are configured. Calls
    /// give up after a few seconds, so an outage answers 503 rather than hanging requests.
    pub async fn from_environment(key_id: &str, endpoint: Option<&str>) -> Self {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(std::time::Duration::from_secs(2))
                    .operation_timeout(std::time::Duration::from_secs(5))
                    .build(),
            );
        if let Some(endpoint) = endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let mut builder = aws_sdk_kms::config::Builder::from(&config);
        if endpoint.is_some() {
            if config.region().is_none() {
                builder = builder.region(aws_config::Region::new("us-east-1"));
            }
            // A local AWS API does not check signatures; the default chain would otherwise
            // look for an instance role that is not there.
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                builder = builder.credentials_provider(aws_credential_types::Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "local-endpoint",
                ));
            }
        }
        Self::new(aws_sdk_kms::Client::from_conf(builder.build()), key_id)
    }
}

#[async_trait]
impl KeyWrapper for KmsKeyWrapper {
    async fn generate(&self) -> Result<(Key<Aes256Gcm>, Vec<u8>), CryptoError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(unavailable)?;
        let plain = out
            .plaintext()
            .ok_or_else(|| CryptoError::Unavailable("KMS returned no data key".into()))?;
        let wrapped = out
            .ciphertext_blob()
            .ok_or_else(|| CryptoError::Unavailable("KMS returned no wrapped key".into()))?;
        Ok((key_from(plain.as_ref())?, wrapped.as_ref().to_vec()))
    }

    async fn unwrap(&self, wrapped: &[u8]) -> Result<Key<Aes256Gcm>, CryptoError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(unavailable)?;
        let plain = out
            .plaintext()
            .ok_or_else(|| CryptoError::Unavailable("KMS returned no data key".into()))?;
        key_from(plain.as_ref())
    }

    async fn rewrap(&self, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(wrapped))
            .source_encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .destination_key_id(&self.key_id)
            .destination_encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(unavailable)?;
        out.ciphertext_blob()
            .map(|b| b.as_ref().to_vec())
            .ok_or_else(|| CryptoError::Unavailable("KMS returned no wrapped key".into()))
    }

    fn key_ref(&self) -> String {
        self.key_id.clone()
    }
}
