//! API tokens: only keyed hashes of them are kept, and a presented token is compared in
//! constant time.
//!
//! A token is stored as HMAC-SHA-256 under a key derived from the master key
//! ([`crate::pki::MasterKey::token_hash_key`]), so a copy of the database alone does not let
//! anyone test guesses offline. Releases before this one stored plain, unkeyed SHA-256 in the
//! same column (`api_tokens.token_sha256`); such a row still authenticates, and is rewritten to
//! the keyed form the first time its token is used (or at start-up, for the bootstrap token).
//! Both forms are 32 bytes, so no schema change was needed and the two cannot be told apart by
//! looking at a row: every presented token is checked against every stored digest in both forms.

use std::sync::{PoisonError, RwLock};

use hmac::Mac as _;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::pki::MasterKey;
use crate::store::Store;

/// A stored token digest: 32 bytes in either form.
pub type TokenDigest = [u8; 32];

/// The digests of the API tokens that may call the API, and the key to hash presented ones.
pub struct TokenSet {
    key: Zeroizing<[u8; 32]>,
    digests: RwLock<Vec<TokenDigest>>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.read().len())
    }
}

/// A presented token that matched. Its [`Verified::id`] names the token (for rate limiting)
/// without being the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    keyed: TokenDigest,
    /// The plain SHA-256 still stored for this token by an earlier release, to be rewritten.
    legacy: Option<TokenDigest>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Digests are not the token, but they are what the database holds: not for logs.
        write!(f, "Verified(legacy: {})", self.legacy.is_some())
    }
}

impl Verified {
    /// A stable name for the token within this process: its keyed digest.
    pub fn id(&self) -> &TokenDigest {
        &self.keyed
    }

    /// Whether the token is still stored in the plain SHA-256 form of earlier releases.
    pub fn is_legacy(&self) -> bool {
        self.legacy.is_some()
    }
}

impl TokenSet {
    pub fn new(master_key: &MasterKey, digests: Vec<TokenDigest>) -> Self {
        Self {
            key: Zeroizing::new(*master_key.token_hash_key()),
            digests: RwLock::new(digests),
        }
    }

    /// How new tokens are stored: HMAC-SHA-256 under the master key's token key.
    pub fn digest(&self, token: &str) -> TokenDigest {
        keyed_digest(&self.key, token)
    }

    /// Checks a presented credential against every known digest, in both forms.
    ///
    /// The work does not depend on which stored digest matches, on whether any does, or on how
    /// much of a token an attacker has guessed: both digests of the presented token are always
    /// computed (fixed 32-byte outputs whatever its length), and compared with every stored
    /// digest without an early exit.
    pub fn verify(&self, presented: &str) -> Option<Verified> {
        let keyed = self.digest(presented);
        let plain = legacy_digest(presented);
        let (keyed_found, plain_found) = self.read().iter().fold(
            (Choice::from(0), Choice::from(0)),
            |(keyed_found, plain_found), known| {
                (
                    keyed_found | known.ct_eq(&keyed),
                    plain_found | known.ct_eq(&plain),
                )
            },
        );
        let plain_found = bool::from(plain_found);
        (bool::from(keyed_found) || plain_found).then_some(Verified {
            keyed,
            legacy: plain_found.then_some(plain),
        })
    }

    /// Rewrites a token stored by an earlier release to the keyed form, in the database and
    /// here. Tried once per token and process: whatever the database says, this process then
    /// knows the token by its keyed digest, and a failure only means the plain row stays for the
    /// next start to try again (it keeps authenticating meanwhile).
    pub async fn upgrade(&self, store: &dyn Store, verified: &Verified) {
        let Some(plain) = verified.legacy else {
            return;
        };
        if let Err(error) = store.rehash_token(&plain, &verified.keyed).await {
            tracing::warn!(%error, "cannot rewrite an API token to the keyed hash; it keeps working and is retried at the next start");
        } else {
            tracing::info!("rewrote an API token stored by an earlier release to the keyed hash");
        }
        let mut digests = self.digests.write().unwrap_or_else(PoisonError::into_inner);
        digests.retain(|known| known != &plain);
        if !digests.contains(&verified.keyed) {
            digests.push(verified.keyed);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<TokenDigest>> {
        // A panic elsewhere cannot leave the list half-written (each write is one push or
        // retain), so a poisoned lock's contents are still good.
        self.digests.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn keyed_digest(key: &[u8; 32], token: &str) -> TokenDigest {
    let mut mac = <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(key)
        .expect("HMAC accepts a key of any length");
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The unkeyed SHA-256 that releases before keyed hashing stored. Only ever compared against,
/// never written.
pub fn legacy_digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The digest a token is stored under with this master key, for tools and tests that look
/// into a database.
pub fn stored_digest(master_key: &MasterKey, token: &str) -> TokenDigest {
    keyed_digest(master_key.token_hash_key(), token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master_key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).expect("32 bytes")
    }

    fn set(digests: Vec<TokenDigest>) -> TokenSet {
        TokenSet::new(&master_key(7), digests)
    }

    #[test]
    fn token_set_accepts_only_known_tokens() {
        let empty = set(vec![]);
        let tokens = set(vec![empty.digest("alpha"), empty.digest("beta")]);
        assert!(tokens.verify("alpha").is_some());
        assert!(tokens.verify("beta").is_some());
        assert!(tokens.verify("gamma").is_none());
        assert!(tokens.verify("").is_none());
        assert!(empty.verify("alpha").is_none());
    }

    #[test]
    fn new_tokens_are_keyed_by_the_master_key() {
        let token = "tok-0123456789abcdef0123456789abcdef";
        let digest = stored_digest(&master_key(7), token);
        assert_ne!(digest, legacy_digest(token), "not plain SHA-256");
        assert_ne!(
            digest,
            stored_digest(&master_key(8), token),
            "another master key gives another digest"
        );
        assert_eq!(set(vec![]).digest(token), digest);
        // Under another master key the stored digest means nothing.
        assert!(
            TokenSet::new(&master_key(8), vec![digest])
                .verify(token)
                .is_none()
        );
    }

    #[test]
    fn tokens_stored_by_earlier_releases_still_verify_and_are_marked_for_upgrade() {
        let token = "old-release-token-0123456789abcdef";
        let tokens = set(vec![legacy_digest(token)]);
        let verified = tokens
            .verify(token)
            .expect("a plain SHA-256 row still works");
        assert!(verified.is_legacy());
        assert_eq!(
            verified.id(),
            &tokens.digest(token),
            "named by its keyed digest"
        );
        let keyed = set(vec![stored_digest(&master_key(7), token)]);
        assert!(!keyed.verify(token).expect("keyed row").is_legacy());
    }

    #[test]
    fn near_misses_are_refused_whatever_their_length() {
        let token = "near-miss-token-0123456789abcdef0123";
        for stored in [set(vec![]).digest(token), legacy_digest(token)] {
            let tokens = set(vec![stored]);
            let long = token.repeat(300);
            let mut flipped = token.to_string();
            flipped.replace_range(..1, "m");
            for wrong in [
                &token[..token.len() - 1],
                &token[..1],
                &format!("{token}x"),
                &format!(" {token}"),
                &flipped,
                &long,
                "",
            ] {
                assert!(tokens.verify(wrong).is_none(), "{} chars", wrong.len());
            }
            assert!(tokens.verify(token).is_some());
        }
    }

    #[test]
    fn debug_shows_neither_tokens_nor_digests() {
        let tokens = set(vec![legacy_digest("secret-token")]);
        let verified = tokens.verify("secret-token").expect("known");
        let shown = format!("{tokens:?} {verified:?}");
        assert_eq!(shown, "TokenSet(1 tokens) Verified(legacy: true)");
    }
}
