//! The API key format and how its secret is stored; trigger tokens (`wh_<id>_<secret>`, see
//! [`TRIGGER_TOKEN_PREFIX`]) are made and checked the same way under their own prefix.
//!
//! A key reads `hg_live_<id>_<secret>`: `<id>` is 20 lowercase base32 characters whose first 12
//! are the organization id (so the key item is found with one read, under the tenant's own key),
//! `<secret>` is 40 base32 characters (200 bits). Only `HMAC-SHA256(pepper, secret)` is stored;
//! a presented secret is hashed the same way and compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::{self, ORG_ID_LEN};
use crate::secrets::Pepper;

pub const KEY_PREFIX: &str = "hg_live_";
/// The prefix of the tokens that trigger agents and workflows (seed 001's `wh_...`).
pub const TRIGGER_TOKEN_PREFIX: &str = "wh_";
const KEY_ID_LEN: usize = 20;
const SECRET_LEN: usize = 40;

/// A key as presented by a client, split into its parts. The secret is never logged.
#[derive(PartialEq, Eq)]
pub struct PresentedKey {
    pub key_id: String,
    secret: String,
}

impl std::fmt::Debug for PresentedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PresentedKey({}, <redacted>)", self.key_id)
    }
}

impl PresentedKey {
    /// Parses `hg_live_<id>_<secret>`; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::parse_prefixed(KEY_PREFIX, raw)
    }

    /// Parses `<prefix><id>_<secret>`; `None` for anything else.
    pub fn parse_prefixed(prefix: &str, raw: &str) -> Option<Self> {
        let rest = raw.trim().strip_prefix(prefix)?;
        let (key_id, secret) = rest.split_once('_')?;
        let well_formed = key_id.len() == KEY_ID_LEN
            && secret.len() == SECRET_LEN
            && ids::is_base32(key_id)
            && ids::is_base32(secret);
        well_formed.then(|| Self {
            key_id: key_id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The organization the key belongs to, encoded in its id.
    pub fn org_id(&self) -> &str {
        &self.key_id[..ORG_ID_LEN]
    }

    pub fn secret_hash(&self, pepper: &Pepper) -> String {
        hash_secret(pepper, &self.secret)
    }
}

/// A freshly generated key: `token` is shown to its owner once and never stored.
pub struct NewKey {
    pub key_id: String,
    pub token: String,
    pub secret_hash: String,
}

impl NewKey {
    pub fn generate(org_id: &str, pepper: &Pepper) -> Self {
        Self::generate_prefixed(KEY_PREFIX, org_id, pepper)
    }

    /// A credential of the same shape under another prefix.
    pub fn generate_prefixed(prefix: &str, org_id: &str, pepper: &Pepper) -> Self {
        let key_id = format!("{org_id}{}", ids::random_base32(KEY_ID_LEN - ORG_ID_LEN));
        let secret = ids::random_base32(SECRET_LEN);
        let secret_hash = hash_secret(pepper, &secret);
        Self {
            token: format!("{prefix}{key_id}_{secret}"),
            key_id,
            secret_hash,
        }
    }

    /// What listings show so a human can tell keys apart: `hg_live_<id>`.
    pub fn display_prefix(key_id: &str) -> String {
        format!("{KEY_PREFIX}{key_id}")
    }
}

fn keyed_mac(pepper: &Pepper) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).expect("HMAC takes keys of any length")
}

fn hash_secret(pepper: &Pepper, secret: &str) -> String {
    let mut mac = keyed_mac(pepper);
    mac.update(secret.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Constant-time check that `presented` hashes to the stored hex digest.
pub fn secret_matches(pepper: &Pepper, presented: &PresentedKey, stored_hash_hex: &str) -> bool {
    let Ok(stored) = hex::decode(stored_hash_hex) else {
        return false;
    };
    let mut mac = keyed_mac(pepper);
    mac.update(presented.secret.as_bytes());
    mac.verify_slice(&stored).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pepper() -> Pepper {
        Pepper::new(b"a-test-pepper-of-at-least-32-bytes!!".to_vec())
    }

    #[test]
    fn generated_key_has_the_documented_format_and_parses_back() {
        let org = ids::new_org_id();
        let key = NewKey::generate(&org, &pepper());
        assert!(key.token.starts_with("hg_live_"));
        assert_eq!(key.token.len(), KEY_PREFIX.len() + KEY_ID_LEN + 1 + SECRET_LEN);
        let parsed = PresentedKey::parse(&key.token).expect("parses");
        assert_eq!(parsed.key_id, key.key_id);
        assert_eq!(parsed.org_id(), org);
        assert_eq!(parsed.secret_hash(&pepper()), key.secret_hash);
        assert!(secret_matches(&pepper(), &parsed, &key.secret_hash));
    }

    #[test]
    fn trigger_tokens_parse_only_under_their_own_prefix() {
        let token = NewKey::generate_prefixed(TRIGGER_TOKEN_PREFIX, "000000000000", &pepper());
        assert!(token.token.starts_with("wh_"));
        let parsed = PresentedKey::parse_prefixed(TRIGGER_TOKEN_PREFIX, &token.token).expect("parses");
        assert!(secret_matches(&pepper(), &parsed, &token.secret_hash));
        assert!(PresentedKey::parse(&token.token).is_none());
        let key = NewKey::generate("000000000000", &pepper());
        assert!(PresentedKey::parse_prefixed(TRIGGER_TOKEN_PREFIX, &key.token).is_none());
    }

    #[test]
    fn two_keys_never_share_id_or_secret() {
        let a = NewKey::generate("000000000000", &pepper());
        let b = NewKey::generate("000000000000", &pepper());
        assert_ne!(a.key_id, b.key_id);
        assert_ne!(a.token, b.token);
    }

    #[test]
    fn malformed_keys_are_refused() {
        let good = NewKey::generate(&ids::new_org_id(), &pepper()).token;
        let cases = [
            String::new(),
            "hg_live_".to_string(),
            good.replace("hg_live_", "hg_test_"),
            good.replace("hg_live_", "afc_live_"),
            good[..good.len() - 1].to_string(),
            format!("{good}x"),
            good.to_uppercase(),
            good.replacen('_', "-", 3),
            format!("{}_{}", &good[..28], "!".repeat(SECRET_LEN)),
        ];
        for case in cases {
            assert!(PresentedKey::parse(&case).is_none(), "{case:?} parsed");
        }
    }

    #[test]
    fn hash_depends_on_pepper_and_secret_and_is_not_the_secret() {
        let key = NewKey::generate("000000000000", &pepper());
        let parsed = PresentedKey::parse(&key.token).unwrap();
        let other_pepper = Pepper::new(b"another-pepper-of-at-least-32-bytes!".to_vec());
        assert_ne!(parsed.secret_hash(&other_pepper), key.secret_hash);
        assert!(!secret_matches(&other_pepper, &parsed, &key.secret_hash));
        assert!(!key.secret_hash.contains(&parsed.secret));
        assert_eq!(key.secret_hash.len(), 64);
        let other = NewKey::generate("000000000000", &pepper());
        assert!(!secret_matches(&pepper(), &parsed, &other.secret_hash));
        assert!(!secret_matches(&pepper(), &parsed, "not-hex"));
    }
}
