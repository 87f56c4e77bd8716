//! Resend's webhooks, signed the Svix way: the recipients they name, and `svix-signature`.
#![no_main]

use hookgate_fuzz::{RESEND_SECRET, now, request};
use libfuzzer_sys::fuzz_target;
use shared::inbound::email::resend::{recipients, verify_svix};
use shared::inbound::header;
use shared::outbound::signing::standard_signature;

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/resend");
    let body = request.body().as_ref();
    let _ = recipients(body);
    let id = header(&request, "svix-id").unwrap_or_default();
    let timestamp = header(&request, "svix-timestamp").unwrap_or_default();
    if let Some(signatures) = header(&request, "svix-signature") {
        let _ = verify_svix(RESEND_SECRET, id, timestamp, signatures, body, now());
    }
    let at = now().unix_timestamp();
    let signed = standard_signature(RESEND_SECRET, id, at, body);
    assert!(verify_svix(RESEND_SECRET, id, &at.to_string(), &signed, body, now()).is_ok());
});
