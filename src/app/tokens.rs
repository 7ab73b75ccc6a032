//! API tokens: only their hashes are kept, and a presented token is compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Hashes of the API tokens that may call the API.
#[derive(Default)]
pub struct TokenSet {
    hashes: Vec<[u8; 32]>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenSet({} tokens)", self.hashes.len())
    }
}

impl TokenSet {
    pub fn new(hashes: Vec<[u8; 32]>) -> Self {
        Self { hashes }
    }

    /// Checks a presented credential against every known hash in constant time.
    pub fn verify(&self, presented: &str) -> bool {
        let candidate = hash_token(presented);
        self.hashes
            .iter()
            .fold(subtle::Choice::from(0), |found, known| {
                found | known.ct_eq(&candidate)
            })
            .into()
    }
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_set_accepts_only_known_tokens() {
        let set = TokenSet {
            hashes: vec![hash_token("alpha"), hash_token("beta")],
        };
        assert!(set.verify("alpha"));
        assert!(set.verify("beta"));
        assert!(!set.verify("gamma"));
        assert!(!set.verify(""));
        assert!(!TokenSet::default().verify("alpha"));
    }
}
