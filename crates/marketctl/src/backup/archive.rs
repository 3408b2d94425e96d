//! The backup file format: gzip inside age (X25519) encryption, with a SHA-256 of the sealed bytes.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

/// Why a sealed backup could not be opened. Each names what to do; none leaves a partial file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the backup is corrupted: its SHA-256 is {actual}, the manifest recorded {expected}")]
    Checksum { expected: String, actual: String },
    #[error("the backup is not encrypted to this identity (wrong key): {0}")]
    WrongKey(String),
    #[error("the backup is corrupted: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The public key backups are sealed to. Only the agent's public key is needed to take backups;
/// the identity (secret) stays with the people who verify and restore.
pub fn recipient(text: &str) -> Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(text.trim())
        .map_err(|e| format!("backup.recipient is not an age public key (age1…): {e}"))
}

pub fn identity(text: &str) -> Result<age::x25519::Identity, String> {
    age::x25519::Identity::from_str(text.trim())
        .map_err(|e| format!("not an age identity (AGE-SECRET-KEY-1…): {e}"))
}

/// A writer that hashes what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What sealing produced.
pub struct Sealed {
    pub bytes: u64,
    pub sha256: String,
}

/// Compresses and encrypts `plain` into `sealed`, streaming, and hashes the result.
pub fn seal(
    plain: &Path,
    sealed: &Path,
    to: &age::x25519::Recipient,
) -> Result<Sealed, std::io::Error> {
    let out = Hashing {
        inner: std::io::BufWriter::new(std::fs::File::create(sealed)?),
        hash: Sha256::new(),
        bytes: 0,
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient))
        .map_err(std::io::Error::other)?;
    let encrypted = encryptor.wrap_output(out)?;
    // Fast compression: SQLite pages compress well even at level 1, and a snapshot a minute must
    // not spend the minute compressing.
    let mut gz = flate2::write::GzEncoder::new(encrypted, flate2::Compression::fast());
    std::io::copy(&mut std::fs::File::open(plain)?, &mut gz)?;
    let encrypted = gz.finish()?;
    let mut out = encrypted.finish()?;
    out.flush()?;
    Ok(Sealed {
        bytes: out.bytes,
        sha256: hex(&out.hash.finalize()),
    })
}

/// Checks `sealed` against `expected_sha256`, then decrypts and decompresses it into `plain`.
/// On any failure `plain` is removed.
pub fn open(
    sealed: &Path,
    expected_sha256: &str,
    with: &age::x25519::Identity,
    plain: &Path,
) -> Result<(), OpenError> {
    let actual = sha256_file(sealed)?;
    if actual != expected_sha256 {
        return Err(OpenError::Checksum {
            expected: expected_sha256.to_owned(),
            actual,
        });
    }
    let result = (|| {
        let input = std::io::BufReader::new(std::fs::File::open(sealed)?);
        let decryptor =
            age::Decryptor::new(input).map_err(|e| OpenError::Corrupt(e.to_string()))?;
        let decrypted = decryptor
            .decrypt(std::iter::once(with as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => OpenError::WrongKey(e.to_string()),
                other => OpenError::Corrupt(other.to_string()),
            })?;
        let mut gz = flate2::read::GzDecoder::new(decrypted);
        let mut out = std::io::BufWriter::new(std::fs::File::create(plain)?);
        std::io::copy(&mut gz, &mut out).map_err(|e| OpenError::Corrupt(e.to_string()))?;
        out.flush()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(plain);
    }
    result
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(hex(&hash.finalize()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (age::x25519::Identity, age::x25519::Recipient) {
        let id = age::x25519::Identity::generate();
        let to = id.to_public();
        (id, to)
    }

    #[test]
    fn sealing_then_opening_gives_the_same_bytes_and_the_sealed_file_hides_them() {
        let dir = tempfile::tempdir().unwrap();
        let (id, to) = keys();
        let plain = dir.path().join("plain");
        let content: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 97).to_le_bytes())
            .collect();
        std::fs::write(&plain, &content).unwrap();
        let sealed = dir.path().join("sealed");
        let s = seal(&plain, &sealed, &to).unwrap();
        assert_eq!(s.bytes, std::fs::metadata(&sealed).unwrap().len());
        assert!(
            s.bytes < content.len() as u64 / 4,
            "compressed: {}",
            s.bytes
        );
        let raw = std::fs::read(&sealed).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1"));
        assert!(!raw.windows(8).any(|w| w == &content[4..12]), "encrypted");
        let back = dir.path().join("back");
        open(&sealed, &s.sha256, &id, &back).unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), content);
    }

    #[test]
    fn a_flipped_byte_a_wrong_key_and_a_truncated_file_are_refused_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (id, to) = keys();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, vec![7u8; 50_000]).unwrap();
        let sealed = dir.path().join("sealed");
        let s = seal(&plain, &sealed, &to).unwrap();
        let back = dir.path().join("back");

        let (other, _) = keys();
        let e = open(&sealed, &s.sha256, &other, &back).unwrap_err();
        assert!(matches!(e, OpenError::WrongKey(_)), "{e}");
        assert!(!back.exists());

        let mut bytes = std::fs::read(&sealed).unwrap();
        let last = bytes.len() - 10;
        bytes[last] ^= 0x40;
        std::fs::write(&sealed, &bytes).unwrap();
        let e = open(&sealed, &s.sha256, &id, &back).unwrap_err();
        assert!(matches!(e, OpenError::Checksum { .. }), "{e}");
        // Even with a matching checksum (a manifest written for the damaged file), the
        // authenticated encryption refuses it.
        let damaged = sha256_file(&sealed).unwrap();
        let e = open(&sealed, &damaged, &id, &back).unwrap_err();
        assert!(matches!(e, OpenError::Corrupt(_)), "{e}");
        assert!(!back.exists());

        std::fs::write(&sealed, &bytes[..bytes.len() / 2]).unwrap();
        let half = sha256_file(&sealed).unwrap();
        let e = open(&sealed, &half, &id, &back).unwrap_err();
        assert!(matches!(e, OpenError::Corrupt(_)), "{e}");
        assert!(!back.exists());
    }

    #[test]
    fn keys_that_are_not_age_keys_are_named_as_such() {
        assert!(recipient("ssh-ed25519 AAAA").unwrap_err().contains("age1"));
        assert!(
            identity("hunter2")
                .err()
                .unwrap()
                .contains("AGE-SECRET-KEY-1")
        );
        let id = age::x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        assert!(identity(id.to_string().expose_secret()).is_ok());
        assert!(recipient(&id.to_public().to_string()).is_ok());
    }
}
