//! Private keys: generation off the async runtime, and AES-256-GCM encryption at rest.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::elliptic_curve::Generate as _;
use rand::RngExt as _;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use super::PkiError;

const NONCE_LEN: usize = 12;

/// The key algorithms a CSR can be generated with, named as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyType {
    /// The API's default when a request names no key type.
    #[default]
    Rsa2048,
    P256v1,
}

impl KeyType {
    pub const ALL: [KeyType; 2] = [KeyType::Rsa2048, KeyType::P256v1];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::P256v1 => "p256v1",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kt| kt.as_str() == name)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A private key in PKCS#8 DER form. The bytes are wiped on drop and never printed.
pub struct PrivateKey {
    key_type: KeyType,
    pkcs8_der: Zeroizing<Vec<u8>>,
    spki_der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .field("pkcs8_der", &"[redacted]")
            .finish()
    }
}

impl PrivateKey {
    /// Generates a fresh key. CPU-bound (RSA takes tens of milliseconds): call from a blocking thread.
    pub fn generate(key_type: KeyType) -> Result<Self, PkiError> {
        let mut rng = rand::rng();
        let (pkcs8, spki) = match key_type {
            KeyType::Rsa2048 => {
                let key = rsa::PrivateKey::new(&mut rng, 2048)
                    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
                let pkcs8 = key
                    .to_pkcs8_der()
                    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
                let spki = key
                    .to_public_key()
                    .to_public_key_der()
                    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
                (pkcs8, spki)
            }
            KeyType::P256v1 => {
                let key = p256::SecretKey::generate_from_rng(&mut rng);
                let pkcs8 = key
                    .to_pkcs8_der()
                    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
                let spki = key
                    .public_key()
                    .to_public_key_der()
                    .map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
                (pkcs8, spki)
            }
        };
        Ok(Self {
            key_type,
            pkcs8_der: Zeroizing::new(pkcs8.as_bytes().to_vec()),
            spki_der: spki.into_vec(),
        })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The SubjectPublicKeyInfo, DER encoded. Public, safe to store in the clear.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }
}

/// SHA-256 of a SubjectPublicKeyInfo; the index under which a certificate finds its key.
pub fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// The 256-bit key that encrypts every stored private key.
pub struct MasterKey {
    cipher: Aes256Gcm,
    check: [u8; 32],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PkiError> {
        let bytes: &[u8; 32] = bytes.try_into().map_err(|_| {
            PkiError::MasterKey(format!(
                "expected 32 bytes after base64 decoding, got {}",
                bytes.len()
            ))
        })?;
        let cipher = Aes256Gcm::new(bytes.into());
        let mut check = Sha256::new();
        check.update(b"edgecert master key check v1\0");
        check.update(bytes);
        Ok(Self {
            cipher,
            check: check.finalize().into(),
        })
    }

    /// Parses the base64 text of `EDGECERT_MASTER_KEY` or the key file.
    pub fn from_base64(text: &str) -> Result<Self, PkiError> {
        let bytes = Zeroizing::new(
            BASE64
                .decode(text.trim())
                .map_err(|_| PkiError::MasterKey("not valid base64".into()))?,
        );
        Self::from_bytes(&bytes)
    }

    /// A new random key, returned with its base64 text for writing to the key file.
    pub fn generate() -> Result<(Self, Zeroizing<String>), PkiError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rng().fill(&mut bytes[..]);
        let text = Zeroizing::new(BASE64.encode(&bytes[..]));
        Ok((Self::from_bytes(&bytes[..])?, text))
    }

    /// A one-way fingerprint stored in the database so a start with the wrong master key
    /// fails at once instead of on the first decryption.
    pub fn check_value(&self) -> String {
        BASE64.encode(self.check)
    }

    /// Encrypts `plaintext` under a fresh random nonce; `context` (the key's id) is bound as
    /// associated data so a ciphertext cannot be moved to another row. Output: nonce || ciphertext.
    pub fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, PkiError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce[..]);
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .map_err(|_| PkiError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn decrypt(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, PkiError> {
        if sealed.len() < NONCE_LEN {
            return Err(PkiError::Decrypt);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| PkiError::Decrypt)
    }
}

impl MasterKey {
    /// Seals a private key for storage, bound to the id of the row that will hold it.
    pub fn seal(&self, key: &PrivateKey, key_id: &[u8]) -> Result<Vec<u8>, PkiError> {
        self.encrypt(key.pkcs8_der(), key_id)
    }

    /// Opens a key sealed by [`MasterKey::seal`].
    pub fn open(
        &self,
        key_type: KeyType,
        sealed: &[u8],
        spki_der: Vec<u8>,
        key_id: &[u8],
    ) -> Result<PrivateKey, PkiError> {
        let pkcs8_der = self.decrypt(sealed, key_id)?;
        Ok(PrivateKey {
            key_type,
            pkcs8_der,
            spki_der,
        })
    }
}

/// Runs CPU-heavy key work on blocking threads, at most `limit` at a time, so request
/// handling on the async runtime never waits behind a key generation.
#[derive(Clone, Debug)]
pub struct KeyFactory {
    permits: Arc<Semaphore>,
}

impl KeyFactory {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// Runs `work` with a fresh key of `key_type` on a blocking thread and returns its result.
    /// The permit travels with the blocking task, so a cancelled request cannot let more
    /// generations run than the limit allows.
    pub async fn with_new_key<T, F>(&self, key_type: KeyType, work: F) -> Result<T, PkiError>
    where
        T: Send + 'static,
        F: FnOnce(PrivateKey) -> Result<T, PkiError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| PkiError::TaskAborted)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(PrivateKey::generate(key_type)?)
        })
        .await
        .map_err(|_| PkiError::TaskAborted)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_and_binds_context() {
        let (key, _) = MasterKey::generate().unwrap();
        let sealed = key.encrypt(b"secret bytes", b"row-1").unwrap();
        assert_eq!(
            &key.decrypt(&sealed, b"row-1").unwrap()[..],
            b"secret bytes"
        );
        assert!(key.decrypt(&sealed, b"row-2").is_err());
        let (other, _) = MasterKey::generate().unwrap();
        assert!(other.decrypt(&sealed, b"row-1").is_err());
    }

    #[test]
    fn nonces_differ_between_encryptions() {
        let (key, _) = MasterKey::generate().unwrap();
        let a = key.encrypt(b"same", b"ctx").unwrap();
        let b = key.encrypt(b"same", b"ctx").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
        assert_ne!(a, b);
    }

    #[test]
    fn master_key_rejects_wrong_length_and_bad_base64() {
        assert!(MasterKey::from_base64("AAAA").is_err());
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
        let (_, text) = MasterKey::generate().unwrap();
        assert!(MasterKey::from_base64(&text).is_ok());
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let key = PrivateKey::generate(KeyType::P256v1).unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains("redacted"));
        let hex: String = key.pkcs8_der()[..8]
            .iter()
            .map(|b| format!("{b}"))
            .collect();
        assert!(!debug.contains(&hex));
        let (master, text) = MasterKey::generate().unwrap();
        assert!(!format!("{master:?}").contains(text.as_str()));
    }

    /// The work closure blocks its thread; the runtime (one thread here) must keep running
    /// other tasks meanwhile, and no more than `limit` closures may run at once.
    #[tokio::test(flavor = "current_thread")]
    async fn key_work_runs_off_the_runtime_with_bounded_concurrency() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::time::Duration;

        let factory = KeyFactory::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let factory = factory.clone();
                let running = Arc::clone(&running);
                let peak = Arc::clone(&peak);
                tokio::spawn(async move {
                    factory
                        .with_new_key(KeyType::P256v1, move |key| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(60));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(key.key_type())
                        })
                        .await
                })
            })
            .collect();
        let mut ticks = 0;
        while !jobs.iter().all(tokio::task::JoinHandle::is_finished) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticks += 1;
        }
        for job in jobs {
            assert_eq!(job.await.unwrap().unwrap(), KeyType::P256v1);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2, "limit respected and used");
        // Three rounds of 60 ms of blocking work: a runtime blocked by them would barely tick.
        assert!(ticks >= 10, "the runtime stalled: only {ticks} ticks");
    }

    #[test]
    fn key_types_parse_only_wire_names() {
        assert_eq!(KeyType::parse("rsa2048"), Some(KeyType::Rsa2048));
        assert_eq!(KeyType::parse("p256v1"), Some(KeyType::P256v1));
        assert_eq!(KeyType::parse("RSA2048"), None);
        assert_eq!(KeyType::parse("rsa4096"), None);
    }
}
