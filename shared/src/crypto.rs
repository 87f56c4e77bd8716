//! Encryption of stored secrets (endpoint signing secrets, receivers' bearer tokens) under a
//! key read from Secrets Manager once per container: AES-256-GCM, a random nonce per value.
//! Stored form: `v1:<base64(nonce || ciphertext)>`.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";
const NONCE_BYTES: usize = 12;

#[derive(Clone)]
pub struct SecretBox(Aes256Gcm);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(<redacted>)")
    }
}

impl SecretBox {
    /// The AES key is SHA-256 of the secret's text, so any long random secret string serves.
    pub fn from_secret(secret: &[u8]) -> Self {
        let key = Sha256::digest(secret);
        Self(Aes256Gcm::new(&key))
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        crate::random::fill(&mut nonce);
        // Encryption with a fresh nonce and an in-memory buffer cannot fail.
        let ciphertext = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("AES-GCM encryption");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{PREFIX}{}", STANDARD.encode(sealed))
    }

    /// `None` when the value was not sealed by this key or was tampered with.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let plaintext = self.0.decrypt(Nonce::from_slice(nonce), ciphertext).ok()?;
        String::from_utf8(plaintext).ok()
    }
}

/// HMAC-SHA256 of the concatenated `message` parts under `key`: the primitive of every
/// signature scheme here (outbound deliveries, Shopify, Stripe, and the channels to come).
pub fn hmac_sha256(key: &[u8], message: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 in hex: how tokens shown once are kept (a token of 200 random bits needs no pepper).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Compares without revealing where two values differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_untampered() {
        let key = SecretBox::from_secret(b"one-long-random-secret-from-secrets-manager");
        let sealed = key.seal("whsec_c2VjcmV0");
        assert!(!sealed.contains("whsec_"));
        assert_ne!(sealed, key.seal("whsec_c2VjcmV0"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed).as_deref(), Some("whsec_c2VjcmV0"));
        let other = SecretBox::from_secret(b"another-secret");
        assert_eq!(other.open(&sealed), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open(&String::from_utf8(tampered).unwrap()), None);
        assert_eq!(key.open("plain"), None);
    }
}
