//! Stripe's webhooks: the connected account they name, and `Stripe-Signature` over the raw body.
#![no_main]

use hookgate_fuzz::{STRIPE_SECRET, now, request};
use libfuzzer_sys::fuzz_target;
use shared::crypto::hmac_sha256;
use shared::inbound::stripe::{Stripe, verify_signature};
use shared::inbound::{Source, header};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/stripe");
    let body = request.body().as_ref();
    let _ = Stripe.accounts(&request, body);
    if let Some(signature) = header(&request, "stripe-signature") {
        let _ = verify_signature(STRIPE_SECRET.as_bytes(), body, signature, now());
    }
    let timestamp = now().unix_timestamp().to_string();
    let v1 = hex::encode(hmac_sha256(
        STRIPE_SECRET.as_bytes(),
        &[timestamp.as_bytes(), b".", body],
    ));
    let signed = format!("t={timestamp},v1={v1}");
    assert!(verify_signature(STRIPE_SECRET.as_bytes(), body, &signed, now()).is_ok());
});
