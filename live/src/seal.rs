//! What one node tells another through NATS, sealed with the key every
//! node of a deployment shares (`NODE_SHARED_SECRET`): an HMAC-SHA256 of
//! the message's bytes in the [`HEADER`] header. Events on the bus and
//! forwarded commands and their answers carry one; a message without a
//! seal that checks is dropped, so whoever else can publish on the
//! deployment's NATS can neither put an event in front of a subscriber
//! nor run a command as anyone.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries a message's seal (hex).
pub const HEADER: &str = "Meetings-Seal";

/// The nodes' shared key, ready to seal and check.
#[derive(Clone)]
pub struct Seal {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(..)")
    }
}

impl Seal {
    /// A seal under `key` (any length; the settings ask for at least 32
    /// bytes).
    pub fn new(key: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(key).expect("HMAC takes a key of any length"),
        }
    }

    /// The seal of the concatenated `parts`, as hex.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        hex::encode(self.mac_of(parts).finalize().into_bytes())
    }

    /// Whether `seal` (hex) is the seal of `parts` (compared in constant
    /// time).
    pub fn verify(&self, parts: &[&[u8]], seal: &str) -> bool {
        match hex::decode(seal) {
            Ok(tag) => self.mac_of(parts).verify_slice(&tag).is_ok(),
            Err(_) => false,
        }
    }

    fn mac_of(&self, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        for part in parts {
            // Each part's length first, so ("ab", "c") and ("a", "bc")
            // seal differently.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seal_checks_only_for_its_key_and_its_exact_parts() {
        let seal = Seal::new(b"a key every node of the deployment shares");
        let tag = seal.sign(&[b"position 7", b"payload"]);
        assert!(seal.verify(&[b"position 7", b"payload"], &tag));
        assert!(!seal.verify(&[b"position 8", b"payload"], &tag));
        assert!(!seal.verify(&[b"position 7payload"], &tag));
        assert!(!seal.verify(&[b"position ", b"7payload"], &tag));
        let other = Seal::new(b"another deployment's key");
        assert!(!other.verify(&[b"position 7", b"payload"], &tag));
        assert!(!seal.verify(&[b"position 7", b"payload"], "not hex"));
        assert!(!seal.verify(&[b"position 7", b"payload"], ""));
    }
}
