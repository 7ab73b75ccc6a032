//! Private keys: generation off the async runtime, import from PEM, AES-256-GCM at rest.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngExt as _;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::PkiError;
use super::pem;
use super::work::{CpuLimiter, WorkGauges};

const NONCE_LEN: usize = 12;

/// Histogram of the time one key generation takes, labelled `key_type` and `source` (see
/// [`GenerationSource`]). The names live here, where the values are recorded; the HTTP layer
/// describes them and sets the buckets.
pub const KEY_GENERATION_SECONDS: &str = "edgecert_key_generation_seconds";
/// Gauge: key generations running now (each holds one of the `--keygen-concurrency` permits).
pub const KEY_GENERATIONS_IN_FLIGHT: &str = "edgecert_key_generations_in_flight";
/// Gauge: key generations waiting for a permit. Above zero for long means the limit is too low
/// for the load, and requests wait.
pub const KEY_GENERATIONS_QUEUED: &str = "edgecert_key_generations_queued";
/// Gauge: the `--keygen-concurrency` limit, to compare the in-flight gauge with. Set from
/// [`KeyFactory::limit`] when metrics are scraped.
pub const KEY_GENERATION_CONCURRENCY: &str = "edgecert_key_generation_concurrency";

/// The key algorithms edgecert holds keys of, named as on the wire and in the database. A CSR
/// can be created with those in [`KeyType::CSR_KEY_TYPES`]; the larger RSA sizes come only
/// from imported customer keys (see [`KeyType::STORED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyType {
    /// The API's default when a request names no key type.
    #[default]
    Rsa2048,
    P256v1,
    Rsa3072,
    Rsa4096,
    Rsa8192,
}

impl KeyType {
    /// The key types a CSR request may name in `key_type`; edgecert generates the key itself.
    pub const CSR_KEY_TYPES: [KeyType; 2] = [KeyType::Rsa2048, KeyType::P256v1];

    /// Every key type a stored key can have, generated or imported.
    pub const STORED: [KeyType; 5] = [
        KeyType::Rsa2048,
        KeyType::P256v1,
        KeyType::Rsa3072,
        KeyType::Rsa4096,
        KeyType::Rsa8192,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::P256v1 => "p256v1",
            KeyType::Rsa3072 => "rsa3072",
            KeyType::Rsa4096 => "rsa4096",
            KeyType::Rsa8192 => "rsa8192",
        }
    }

    /// The modulus size of an RSA key type; `None` for elliptic curves.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyType::Rsa2048 => Some(2048),
            KeyType::Rsa3072 => Some(3072),
            KeyType::Rsa4096 => Some(4096),
            KeyType::Rsa8192 => Some(8192),
            KeyType::P256v1 => None,
        }
    }

    /// Parses a wire name from a CSR request: only the [`KeyType::CSR_KEY_TYPES`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::CSR_KEY_TYPES
            .into_iter()
            .find(|kt| kt.as_str() == name)
    }

    /// Parses a key type read back from the database, which also holds imported keys.
    pub fn from_stored(name: &str) -> Option<Self> {
        Self::STORED.into_iter().find(|kt| kt.as_str() == name)
    }
}

/// RSA sizes an imported key may have, with the key type each is stored as.
const IMPORTABLE_RSA: &[(u32, KeyType)] = &[
    (2048, KeyType::Rsa2048),
    (3072, KeyType::Rsa3072),
    (4096, KeyType::Rsa4096),
    (8192, KeyType::Rsa8192),
];

const RSA_OID: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY_OID: &str = "1.2.840.10045.2.1";
const P256_OID: &str = "1.2.840.10045.3.1.7";

/// DER of a P-256 SubjectPublicKeyInfo up to its 65-byte uncompressed point: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) }.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A refused import: `problem` says what is wrong, the rest what would be accepted.
fn unsupported_key(problem: impl fmt::Display) -> PkiError {
    let sizes: Vec<String> = IMPORTABLE_RSA
        .iter()
        .map(|(bits, _)| bits.to_string())
        .collect();
    PkiError::UnsupportedKey(format!(
        "{problem}. Accepted: one unencrypted PEM private key, RSA ({} bits) or ECDSA P-256, \
         as PKCS#8 (BEGIN PRIVATE KEY), PKCS#1 (BEGIN RSA PRIVATE KEY) or SEC1 \
         (BEGIN EC PRIVATE KEY).",
        sizes.join(", ")
    ))
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
        // Recorded on every return path, so slow failures show up too.
        let _timer = GenerationTimer {
            key_type,
            started: std::time::Instant::now(),
        };
        let mut rng = rand::rng();
        let (pkcs8, spki) = match key_type {
            KeyType::Rsa2048 | KeyType::Rsa3072 | KeyType::Rsa4096 | KeyType::Rsa8192 => {
                let bits = key_type.rsa_bits().unwrap_or(2048);
                let key = rsa::PrivateKey::new(&mut rng, bits)
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
            KeyType::P256v1 => return Self::generate_p256(),
        };
        Ok(Self {
            key_type,
            pkcs8_der: Zeroizing::new(pkcs8.as_bytes().to_vec()),
            spki_der: spki.into_vec(),
        })
    }

    /// Takes a P-256 key that ring generated elsewhere (an ACME account key), keeping its
    /// PKCS#8 bytes exactly as they are so ring can load them again.
    pub fn from_ring_p256_pkcs8(pkcs8: &[u8]) -> Result<Self, PkiError> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

        let rng = ring::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
            .map_err(|_| unsupported_key("The P-256 key cannot be decoded"))?;
        let point = pair.public_key().as_ref();
        let mut spki_der = Vec::with_capacity(P256_SPKI_PREFIX.len() + point.len());
        spki_der.extend_from_slice(&P256_SPKI_PREFIX);
        spki_der.extend_from_slice(point);
        Ok(Self {
            key_type: KeyType::P256v1,
            pkcs8_der: Zeroizing::new(pkcs8.to_vec()),
            spki_der,
        })
    }

    /// P-256 keys are the hot path of CSR creation; ring's key generation (assembly, the same
    /// code that later signs the CSR) costs a fraction of the p256 crate's portable arithmetic.
    fn generate_p256() -> Result<Self, PkiError> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

        let failed = |what: &str| PkiError::KeyGeneration(format!("P-256 {what} failed"));
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| failed("key generation"))?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| failed("key decoding"))?;
        let point = pair.public_key().as_ref();
        let mut spki_der = Vec::with_capacity(P256_SPKI_PREFIX.len() + point.len());
        spki_der.extend_from_slice(&P256_SPKI_PREFIX);
        spki_der.extend_from_slice(point);
        Ok(Self {
            key_type: KeyType::P256v1,
            pkcs8_der: Zeroizing::new(pkcs8.as_ref().to_vec()),
            spki_der,
        })
    }

    /// Imports a customer's private key from PEM text as received in JSON (literal `\n` escapes
    /// and CRLF tolerated). The key is re-encoded as PKCS#8, the form every stored key has,
    /// so the rest of edgecert cannot tell the two apart. Encrypted keys are refused: there is
    /// no passphrase to open them with.
    pub fn from_pem(text: &str) -> Result<Self, PkiError> {
        let blocks = pem::blocks(text).map_err(|e| match e {
            pem::PemError::Empty => unsupported_key("The private key is empty"),
            other => unsupported_key(format_args!("The private key is not valid PEM: {other}")),
        })?;
        // openssl writes the curve as an EC PARAMETERS block before a SEC1 key; it adds nothing
        // the key does not say itself.
        let keys: Vec<&pem::Block> = blocks
            .iter()
            .filter(|b| b.label != "EC PARAMETERS")
            .collect();
        let block = match keys.as_slice() {
            [one] => *one,
            [] => return Err(unsupported_key("No private key block was found")),
            several => {
                return Err(unsupported_key(format_args!(
                    "Found {} PEM blocks where one private key was expected",
                    several.len()
                )));
            }
        };
        if block.label == "ENCRYPTED PRIVATE KEY"
            || block.headers.iter().any(|h| h.contains("ENCRYPTED"))
        {
            return Err(unsupported_key(
                "The private key is encrypted; remove its passphrase first",
            ));
        }
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8(&block.der),
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey as _;
                let key = rsa::PrivateKey::from_pkcs1_der(&block.der).map_err(|e| {
                    unsupported_key(format_args!("The RSA key cannot be read ({e})"))
                })?;
                Self::from_rsa(&key)
            }
            "EC PRIVATE KEY" => {
                let key = p256::SecretKey::from_sec1_der(&block.der)
                    .map_err(|_| unsupported_key("The EC key cannot be read as a P-256 key"))?;
                Self::from_p256(&key)
            }
            other => Err(unsupported_key(format_args!(
                "A {other} block is not a private key"
            ))),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, PkiError> {
        use rsa::pkcs8::DecodePrivateKey as _;

        let info = rsa::pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| unsupported_key(format_args!("The PKCS#8 key cannot be read ({e})")))?;
        match info.algorithm.oid.to_string().as_str() {
            RSA_OID => {
                let key = rsa::PrivateKey::from_pkcs8_der(der).map_err(|e| {
                    unsupported_key(format_args!("The RSA key cannot be read ({e})"))
                })?;
                Self::from_rsa(&key)
            }
            EC_PUBLIC_KEY_OID => {
                let curve = info.algorithm.parameters_oid().map(|oid| oid.to_string());
                if curve.as_deref() != Ok(P256_OID) {
                    return Err(unsupported_key(format_args!(
                        "The EC key uses curve {}, not P-256",
                        curve.unwrap_or_else(|_| "(unnamed)".into())
                    )));
                }
                let key = p256::SecretKey::from_pkcs8_der(der).map_err(|e| {
                    unsupported_key(format_args!("The P-256 key cannot be read ({e})"))
                })?;
                Self::from_p256(&key)
            }
            other => Err(unsupported_key(format_args!(
                "Keys of algorithm {other} are not supported"
            ))),
        }
    }

    /// Decoding has already checked the key's numbers (p * q = n, d inverts e), so only the
    /// size remains to check.
    fn from_rsa(key: &rsa::PrivateKey) -> Result<Self, PkiError> {
        use rsa::traits::PublicKeyParts as _;

        let bits = key.n().bit_width_vartime();
        let key_type = IMPORTABLE_RSA
            .iter()
            .find(|(size, _)| *size == bits)
            .map(|(_, key_type)| *key_type)
            .ok_or_else(|| unsupported_key(format_args!("The RSA key has {bits} bits")))?;
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| unsupported_key(format_args!("The RSA key cannot be encoded ({e})")))?;
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| unsupported_key(format_args!("The RSA key cannot be encoded ({e})")))?;
        Ok(Self {
            key_type,
            pkcs8_der: Zeroizing::new(pkcs8.as_bytes().to_vec()),
            spki_der: spki.into_vec(),
        })
    }

    fn from_p256(key: &p256::SecretKey) -> Result<Self, PkiError> {
        let pkcs8 = key
            .to_pkcs8_der()
            .map_err(|e| unsupported_key(format_args!("The P-256 key cannot be encoded ({e})")))?;
        let spki = key
            .public_key()
            .to_public_key_der()
            .map_err(|e| unsupported_key(format_args!("The P-256 key cannot be encoded ({e})")))?;
        Ok(Self {
            key_type: KeyType::P256v1,
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

/// HMAC-SHA-256(master key, label): a key for one other purpose that reveals nothing of the
/// master key (HMAC is a PRF keyed by it; the label separates the purposes).
fn derive_subkey(master: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::Mac as _;
    let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(master)
        .expect("HMAC accepts a key of any length");
    mac.update(label);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The 256-bit key that encrypts every stored private key.
pub struct MasterKey {
    cipher: Aes256Gcm,
    check: [u8; 32],
    /// Keys the hash of stored API tokens, so a copy of the database alone cannot be used to
    /// test guesses of a token offline.
    token_key: Zeroizing<[u8; 32]>,
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
        let token_key = derive_subkey(bytes, b"edgecert api token hashing v1");
        Ok(Self {
            cipher,
            check: check.finalize().into(),
            token_key,
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

    /// The key API tokens are hashed with (HMAC-SHA-256), derived from the master key for that
    /// purpose only.
    pub fn token_hash_key(&self) -> &[u8; 32] {
        &self.token_key
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

/// Who a key generation is for, the `source` label of [`KEY_GENERATION_SECONDS`]: a request
/// waits for its generation, the pool's background work delays nobody, so an operator reading
/// request latency must be able to tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationSource {
    /// Generated while a request waits (the default on every thread).
    Request,
    /// Generated ahead of demand by the key pool's refill thread.
    Pool,
}

impl GenerationSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Pool => "pool",
        }
    }

    /// Labels every later generation on the calling thread with `self`. Per thread, because the
    /// pool owns a dedicated thread, so [`PrivateKey::generate`] keeps one signature for all.
    pub fn apply_to_this_thread(self) {
        GENERATION_SOURCE.with(|source| source.set(self));
    }
}

thread_local! {
    static GENERATION_SOURCE: std::cell::Cell<GenerationSource> =
        const { std::cell::Cell::new(GenerationSource::Request) };
}

/// Records how long one [`PrivateKey::generate`] took when dropped.
struct GenerationTimer {
    key_type: KeyType,
    started: std::time::Instant,
}

impl Drop for GenerationTimer {
    fn drop(&mut self) {
        let source = GENERATION_SOURCE.with(std::cell::Cell::get);
        metrics::histogram!(
            KEY_GENERATION_SECONDS,
            "key_type" => self.key_type.as_str(),
            "source" => source.as_str()
        )
        .record(self.started.elapsed().as_secs_f64());
    }
}

/// Runs CPU-heavy key work on blocking threads, at most `limit` at a time, so request
/// handling on the async runtime never waits behind a key generation.
#[derive(Clone, Debug)]
pub struct KeyFactory {
    limiter: CpuLimiter,
}

impl KeyFactory {
    pub fn new(limit: usize) -> Self {
        Self {
            limiter: CpuLimiter::new(
                limit,
                WorkGauges {
                    in_flight: KEY_GENERATIONS_IN_FLIGHT,
                    queued: KEY_GENERATIONS_QUEUED,
                },
            ),
        }
    }

    /// How many keys may be generated at once.
    pub fn limit(&self) -> usize {
        self.limiter.limit()
    }

    /// The limiter the key work runs under, to read or await its load.
    pub fn limiter(&self) -> &CpuLimiter {
        &self.limiter
    }

    /// Runs `work` with a fresh key of `key_type` on a blocking thread and returns its result.
    pub async fn with_new_key<T, F>(&self, key_type: KeyType, work: F) -> Result<T, PkiError>
    where
        T: Send + 'static,
        F: FnOnce(PrivateKey) -> Result<T, PkiError> + Send + 'static,
    {
        self.limiter
            .run(move || work(PrivateKey::generate(key_type)?))
            .await?
    }

    /// Runs other CPU-bound key work (signing with a stored key, say) on a blocking thread,
    /// under the same limit as generations.
    pub async fn run<T, F>(&self, work: F) -> Result<T, PkiError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PkiError> + Send + 'static,
    {
        self.limiter.run(work).await?
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

    /// The hand-built SubjectPublicKeyInfo must be the one the p256 crate derives from the
    /// private key itself.
    #[test]
    fn generated_p256_keys_carry_their_own_public_key() {
        use p256::pkcs8::DecodePrivateKey as _;
        for _ in 0..4 {
            let key = PrivateKey::generate(KeyType::P256v1).unwrap();
            let parsed = p256::SecretKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
            let spki = parsed.public_key().to_public_key_der().unwrap();
            assert_eq!(key.spki_der(), spki.as_bytes());
        }
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

    /// The secret numbers inside a key: the P-256 scalar, or RSA's private exponent and primes.
    /// The rest of a PKCS#8 key (algorithm identifier, public key) may be shown.
    fn secret_parts(key: &PrivateKey) -> Vec<Vec<u8>> {
        use rsa::pkcs8::DecodePrivateKey as _;
        use rsa::traits::PrivateKeyParts as _;

        match key.key_type().rsa_bits() {
            None => {
                let secret = p256::SecretKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
                vec![secret.to_bytes().to_vec()]
            }
            Some(_) => {
                let rsa = rsa::PrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
                let mut parts = vec![rsa.d().to_be_bytes_trimmed_vartime().to_vec()];
                for prime in rsa.primes() {
                    parts.push(prime.to_be_bytes_trimmed_vartime().to_vec());
                }
                parts
            }
        }
    }

    /// Every way the `secrets` could leak into text: 12-byte windows of them as a derived
    /// `Debug` prints bytes (`48, 130, 4, 189`) and as hex, and the 16-character pieces of the
    /// base64 (and so of the PEM) of each of the `encodings` that stand for secret bytes.
    fn renderings(secrets: &[Vec<u8>], encodings: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        for window in secrets.iter().flat_map(|s| s.windows(12).step_by(6)) {
            let decimal: Vec<String> = window.iter().map(u8::to_string).collect();
            out.push(decimal.join(", "));
            let hex: String = window.iter().map(|b| format!("{b:02x}")).collect();
            out.push(hex.to_uppercase());
            out.push(hex);
        }
        for encoding in encodings {
            let base64 = BASE64.encode(encoding);
            for (piece, bytes) in base64.as_bytes().chunks(16).zip(encoding.chunks(12)) {
                if bytes.len() == 12 && secrets.iter().any(|s| s.windows(12).any(|w| w == bytes)) {
                    out.push(String::from_utf8_lossy(piece).into_owned());
                }
            }
        }
        assert!(out.len() > 10, "too little to look for: {out:?}");
        out
    }

    #[track_caller]
    fn assert_hides(debug: &str, secrets: &[Vec<u8>], encodings: &[&[u8]], what: &str) {
        for rendering in renderings(secrets, encodings) {
            assert!(
                !debug.contains(&rendering),
                "{what} shows {rendering:?}: {debug}"
            );
        }
    }

    /// What logs and panics print must not reveal a key, in any encoding: not the PKCS#8 bytes
    /// kept, nor the PEM (and PKCS#1 bytes) a customer uploaded.
    #[test]
    fn debug_output_never_shows_key_material() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;

        let generated = [
            PrivateKey::generate(KeyType::P256v1).unwrap(),
            PrivateKey::generate(KeyType::Rsa2048).unwrap(),
        ];
        for key in &generated {
            let debug = format!("{key:?}");
            assert_hides(&debug, &secret_parts(key), &[key.pkcs8_der()], "PrivateKey");
            assert!(debug.contains(&format!("{:?}", key.key_type())), "{debug}");
        }

        let pkcs1 = rsa::PrivateKey::from_pkcs8_der(generated[1].pkcs8_der())
            .unwrap()
            .to_pkcs1_der()
            .unwrap();
        let pem = pem_of("RSA PRIVATE KEY", pkcs1.as_bytes());
        let imported = PrivateKey::from_pem(&pem).unwrap();
        let debug = format!("{imported:?}");
        let encodings = [pkcs1.as_bytes(), imported.pkcs8_der()];
        assert_hides(&debug, &secret_parts(&imported), &encodings, "imported key");
        // The pieces above are PEM-aligned: 64-character lines hold four 16-character pieces.
        assert!(pem.lines().nth(1).is_some_and(|line| line.len() == 64));

        let (master, text) = MasterKey::generate().unwrap();
        let debug = format!("{master:?}");
        let bytes = BASE64.decode(text.as_bytes()).unwrap();
        assert_hides(&debug, std::slice::from_ref(&bytes), &[&bytes], "MasterKey");
        assert!(!debug.contains(text.as_str()), "{debug}");
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        let body = BASE64.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    fn import_error(pem: &str) -> String {
        match PrivateKey::from_pem(pem) {
            Err(PkiError::UnsupportedKey(message)) => {
                assert!(message.contains("Accepted: "), "{message}");
                message
            }
            other => panic!("expected UnsupportedKey, got {other:?}"),
        }
    }

    #[test]
    fn imported_keys_match_generated_ones_in_every_encoding() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;

        let rsa_key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        let inner = rsa::PrivateKey::from_pkcs8_der(rsa_key.pkcs8_der()).unwrap();
        let pkcs1 = inner.to_pkcs1_der().unwrap();
        let p256_key = PrivateKey::generate(KeyType::P256v1).unwrap();
        let secret = p256::SecretKey::from_pkcs8_der(p256_key.pkcs8_der()).unwrap();
        let sec1 = secret.to_sec1_der().unwrap();

        let cases = [
            (&rsa_key, pem_of("PRIVATE KEY", rsa_key.pkcs8_der())),
            (&rsa_key, pem_of("RSA PRIVATE KEY", pkcs1.as_bytes())),
            (&p256_key, pem_of("PRIVATE KEY", p256_key.pkcs8_der())),
            (&p256_key, pem_of("EC PRIVATE KEY", &sec1)),
            // openssl ecparam -genkey writes the curve first.
            (
                &p256_key,
                format!(
                    "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
                    pem_of("EC PRIVATE KEY", &sec1)
                ),
            ),
            // As JSON clients send it.
            (
                &p256_key,
                pem_of("PRIVATE KEY", p256_key.pkcs8_der()).replace('\n', "\\n"),
            ),
            (
                &rsa_key,
                pem_of("RSA PRIVATE KEY", pkcs1.as_bytes()).replace('\n', "\r\n"),
            ),
        ];
        for (original, pem) in cases {
            let imported = PrivateKey::from_pem(&pem).unwrap_or_else(|e| panic!("{e}: {pem}"));
            assert_eq!(imported.key_type(), original.key_type());
            assert_eq!(imported.pkcs8_der(), original.pkcs8_der(), "{pem}");
            assert_eq!(imported.spki_der(), original.spki_der());
        }
    }

    /// Keys written by openssl, an independent implementation, in each format it offers; the
    /// public key edgecert derives must equal the one openssl derives.
    #[test]
    fn keys_written_by_openssl_import_with_the_same_public_key() {
        use std::process::Command;

        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .current_dir(dir.path())
                .args(args)
                .output()
                .expect("the openssl CLI is installed");
            assert!(
                output.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            output.stdout
        };
        let generators: [&[&str]; 3] = [
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                "key.pem",
            ],
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "key.pem",
            ],
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-out",
                "key.pem",
            ],
        ];
        for generate in generators {
            openssl(generate);
            let spki = openssl(&["pkey", "-in", "key.pem", "-pubout", "-outform", "DER"]);
            let pkcs8 = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
            assert_eq!(
                PrivateKey::from_pem(&pkcs8).unwrap().spki_der(),
                spki.as_slice(),
                "{generate:?}"
            );
            if generate[0] == "genpkey" && generate[2] == "RSA" {
                openssl(&[
                    "pkey",
                    "-in",
                    "key.pem",
                    "-traditional",
                    "-out",
                    "legacy.pem",
                ]);
            } else {
                openssl(&["ec", "-in", "key.pem", "-out", "legacy.pem"]);
            }
            let legacy = std::fs::read_to_string(dir.path().join("legacy.pem")).unwrap();
            assert!(
                legacy.contains(" PRIVATE KEY-----") && !legacy.contains("BEGIN PRIVATE KEY"),
                "{legacy}"
            );
            assert_eq!(
                PrivateKey::from_pem(&legacy).unwrap().spki_der(),
                spki.as_slice()
            );

            openssl(&[
                "pkcs8",
                "-topk8",
                "-in",
                "key.pem",
                "-passout",
                "pass:secret",
                "-out",
                "encrypted.pem",
            ]);
            let encrypted = std::fs::read_to_string(dir.path().join("encrypted.pem")).unwrap();
            assert!(import_error(&encrypted).contains("is encrypted"));
        }
    }

    /// Larger RSA keys are imported under their own key type; sizes in between are refused.
    #[test]
    fn larger_rsa_keys_import_with_their_size() {
        let dir = tempfile::tempdir().unwrap();
        for (bits, expected) in [
            ("3072", Some(KeyType::Rsa3072)),
            ("4096", Some(KeyType::Rsa4096)),
            ("2560", None),
        ] {
            let output = std::process::Command::new("openssl")
                .current_dir(dir.path())
                .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
                .arg(format!("rsa_keygen_bits:{bits}"))
                .output()
                .expect("the openssl CLI is installed");
            assert!(output.status.success());
            let pem = String::from_utf8(output.stdout).unwrap();
            match expected {
                Some(key_type) => {
                    let key = PrivateKey::from_pem(&pem).unwrap();
                    assert_eq!(key.key_type(), key_type);
                    assert_eq!(
                        key_type.rsa_bits().map(|b| b.to_string()).as_deref(),
                        Some(bits)
                    );
                }
                None => {
                    let message = import_error(&pem);
                    assert!(message.contains("has 2560 bits"), "{message}");
                    assert!(message.contains("2048, 3072, 4096, 8192"), "{message}");
                }
            }
        }
    }

    #[test]
    fn unusable_keys_are_refused_with_what_is_accepted() {
        assert!(import_error("").contains("empty"));
        assert!(import_error("\\n  ").contains("empty"));
        assert!(import_error("not a key").contains("not valid PEM"));
        assert!(
            import_error(&pem_of("CERTIFICATE", b"x"))
                .contains("CERTIFICATE block is not a private key")
        );
        let p256 = PrivateKey::generate(KeyType::P256v1).unwrap();
        let one = pem_of("PRIVATE KEY", p256.pkcs8_der());
        assert!(import_error(&format!("{one}{one}")).contains("Found 2 PEM blocks"));
        assert!(import_error(&pem_of("ENCRYPTED PRIVATE KEY", b"opaque")).contains("is encrypted"));
        let legacy_encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\
             DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n\
             -----END RSA PRIVATE KEY-----\n";
        assert!(import_error(legacy_encrypted).contains("is encrypted"));
        assert!(import_error(&pem_of("PRIVATE KEY", b"\x30\x00")).contains("cannot be read"));

        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        assert!(import_error(&p384.serialize_pem()).contains("1.3.132.0.34, not P-256"));
        let ed25519 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        assert!(import_error(&ed25519.serialize_pem()).contains("1.3.101.112"));

        // A PKCS#1 key whose modulus no longer equals p * q.
        let rsa_key = PrivateKey::generate(KeyType::Rsa2048).unwrap();
        let mut pkcs1 = {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            use rsa::pkcs8::DecodePrivateKey as _;
            rsa::PrivateKey::from_pkcs8_der(rsa_key.pkcs8_der())
                .unwrap()
                .to_pkcs1_der()
                .unwrap()
                .as_bytes()
                .to_vec()
        };
        // SEQUENCE header (4), version (3), modulus header (4) and its leading zero, then 10 bytes in.
        pkcs1[4 + 3 + 5 + 10] ^= 0x01;
        let message = import_error(&pem_of("RSA PRIVATE KEY", &pkcs1));
        assert!(message.contains("RSA key"), "{message}");

        let small = rsa::PrivateKey::new(&mut rand::rng(), 1024).unwrap();
        let small_pem = pem_of("PRIVATE KEY", small.to_pkcs8_der().unwrap().as_bytes());
        let message = import_error(&small_pem);
        assert!(
            message.contains("has 1024 bits") && message.contains("2048"),
            "{message}"
        );
    }

    /// The names are in stored rows and on the wire: renaming one would strand existing keys.
    #[test]
    fn stored_key_types_keep_their_names_and_include_every_csr_key_type() {
        let names = [
            ("rsa2048", KeyType::Rsa2048),
            ("p256v1", KeyType::P256v1),
            ("rsa3072", KeyType::Rsa3072),
            ("rsa4096", KeyType::Rsa4096),
            ("rsa8192", KeyType::Rsa8192),
        ];
        assert_eq!(KeyType::STORED.len(), names.len());
        for (name, key_type) in names {
            assert_eq!(KeyType::from_stored(name), Some(key_type), "{name}");
            assert_eq!(key_type.as_str(), name);
            assert!(KeyType::STORED.contains(&key_type), "{name}");
        }
        for key_type in KeyType::CSR_KEY_TYPES {
            assert!(KeyType::STORED.contains(&key_type), "{key_type}");
        }
        assert_eq!(KeyType::from_stored("rsa1024"), None);
        assert_eq!(KeyType::from_stored("RSA2048"), None);
    }

    #[test]
    fn key_types_parse_only_wire_names() {
        assert_eq!(KeyType::parse("rsa2048"), Some(KeyType::Rsa2048));
        assert_eq!(KeyType::parse("p256v1"), Some(KeyType::P256v1));
        assert_eq!(KeyType::parse("RSA2048"), None);
        assert_eq!(KeyType::parse("rsa4096"), None);
        assert_eq!(KeyType::parse("rsa3072"), None);
        assert_eq!(KeyType::parse("rsa8192"), None);
    }
}
