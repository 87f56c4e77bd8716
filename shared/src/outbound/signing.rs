//! Signatures on outbound deliveries, over the exact bytes sent, in two styles at once:
//!
//! - the seeds' style: `X-Hookgate-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, the
//!   secret's text as the key; or, for an endpoint whose `signature_style` is `hex`, the bare
//!   hex, also as `x-confirmai-signature` (seed 004's receivers read that header);
//! - Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`,
//!   the key being the base64 part of a `whsec_` secret (or the secret's text otherwise).
//!
//! During a rotation's grace period the previous secret signs too: a second `v1,` entry in
//! `webhook-signature` and `X-Hookgate-Signature-Previous`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::hmac_sha256 as hmac;
use crate::store::endpoints::SignatureStyle;

pub const SECRET_PREFIX: &str = "whsec_";

/// A new signing secret: `whsec_` and 32 random bytes in base64.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    crate::random::fill(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

fn standard_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|b64| STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// `sha256=<hex>`, or the bare hex in the `hex` style.
pub fn seed_signature(secret: &str, body: &[u8], style: SignatureStyle) -> String {
    let hex = hex::encode(hmac(secret.as_bytes(), &[body]));
    match style {
        SignatureStyle::Sha256 => format!("sha256={hex}"),
        SignatureStyle::Hex => hex,
    }
}

/// `v1,<base64>` of Standard Webhooks.
pub fn standard_signature(secret: &str, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let signature = hmac(
        &standard_key(secret),
        &[message_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(signature))
}

/// The signature headers of one delivery.
pub fn signature_headers(
    current: &str,
    previous: Option<&str>,
    style: SignatureStyle,
    message_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let mut standard = standard_signature(current, message_id, timestamp, body);
    let mut headers = vec![("x-hookgate-signature", seed_signature(current, body, style))];
    if style == SignatureStyle::Hex {
        headers.push(("x-confirmai-signature", seed_signature(current, body, style)));
    }
    if let Some(previous) = previous {
        standard.push(' ');
        standard.push_str(&standard_signature(previous, message_id, timestamp, body));
        headers.push(("x-hookgate-signature-previous", seed_signature(previous, body, style)));
    }
    headers.push(("webhook-id", message_id.to_string()));
    headers.push(("webhook-timestamp", timestamp.to_string()));
    headers.push(("webhook-signature", standard));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_reference_vector() {
        // From the Standard Webhooks specification's test vectors.
        let signature = standard_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn seed_style_is_hex_hmac_of_the_body_under_the_secret_text() {
        // HMAC-SHA256 of Wikipedia's "HMAC" example: key "key", the quick brown fox.
        let body = b"The quick brown fox jumps over the lazy dog";
        let hex = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        assert_eq!(
            seed_signature("key", body, SignatureStyle::Sha256),
            format!("sha256={hex}")
        );
        assert_eq!(seed_signature("key", body, SignatureStyle::Hex), hex);
        let headers = signature_headers("key", None, SignatureStyle::Hex, "msg_1", 1, body);
        let named = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str());
        assert_eq!(named("x-hookgate-signature"), Some(hex));
        assert_eq!(named("x-confirmai-signature"), Some(hex), "seed 004's header, bare hex");
        let seed_000 = signature_headers("key", None, SignatureStyle::Sha256, "msg_1", 1, body);
        assert!(!seed_000.iter().any(|(n, _)| *n == "x-confirmai-signature"));
    }

    #[test]
    fn rotation_signs_with_both_secrets() {
        let headers = signature_headers(
            "whsec_bmV3",
            Some("whsec_b2xk"),
            SignatureStyle::Sha256,
            "msg_1",
            1,
            b"{}",
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("webhook-signature").split(' ').count(), 2);
        assert_eq!(
            get("x-hookgate-signature-previous"),
            seed_signature("whsec_b2xk", b"{}", SignatureStyle::Sha256)
        );
        let generated = generate_secret();
        assert!(generated.starts_with("whsec_") && STANDARD.decode(&generated[6..]).unwrap().len() == 32);
    }
}
