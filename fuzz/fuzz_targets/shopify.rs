//! Shopify's webhooks: the shop header, `X-Shopify-Hmac-Sha256` over the raw body,
//! `X-Shopify-Triggered-At`, and the order and customer payloads mapped as the desk keeps them.
#![no_main]

use base64::Engine;
use hookgate_fuzz::{SHOPIFY_SECRET, request};
use libfuzzer_sys::fuzz_target;
use shared::clock::parse_rfc3339;
use shared::crypto::hmac_sha256;
use shared::inbound::payload::parse_object;
use shared::inbound::shopify::{Shopify, map_customer, map_order, signature_matches};
use shared::inbound::{Source, header};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/shopify");
    let body = request.body().as_ref();
    let _ = Shopify.accounts(&request, body);
    if let Some(signature) = header(&request, "x-shopify-hmac-sha256") {
        let _ = signature_matches(SHOPIFY_SECRET.as_bytes(), body, signature);
    }
    let signed = base64::engine::general_purpose::STANDARD.encode(hmac_sha256(SHOPIFY_SECRET.as_bytes(), &[body]));
    assert!(signature_matches(SHOPIFY_SECRET.as_bytes(), body, &signed));
    if let Some(triggered_at) = header(&request, "x-shopify-triggered-at") {
        let _ = parse_rfc3339(triggered_at);
    }
    if let Ok(payload) = parse_object(body) {
        let _ = map_order(&payload);
        let _ = map_customer(&payload);
    }
});
