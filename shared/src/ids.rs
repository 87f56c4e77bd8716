//! Random identifiers and secrets.
//!
//! Organization ids and key ids are lowercase Crockford base32, so they are safe in URLs, in
//! DynamoDB keys (no `#`) and inside the `hg_live_<id>_<secret>` key format (no `_`).

use ulid::Ulid;

const CROCKFORD_LOWER: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// `len` random characters from the lowercase Crockford alphabet (5 bits of entropy each).
pub fn random_base32(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    crate::random::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| CROCKFORD_LOWER[(b & 31) as usize] as char)
        .collect()
}

/// True when `s` is made only of the alphabet [`random_base32`] draws from.
pub fn is_base32(s: &str) -> bool {
    s.bytes().all(|b| CROCKFORD_LOWER.contains(&b))
}

/// Length of an organization id.
pub const ORG_ID_LEN: usize = 12;

pub fn new_org_id() -> String {
    random_base32(ORG_ID_LEN)
}

/// A time-ordered id (ULID) for records whose order matters, such as merchant events.
pub fn new_ulid() -> String {
    Ulid::new().to_string()
}
