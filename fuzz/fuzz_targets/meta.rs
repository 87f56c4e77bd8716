//! Meta's webhooks (WhatsApp, Messenger): the accounts they name, and `X-Hub-Signature-256`.
#![no_main]

use hookgate_fuzz::{META_APP_SECRET, request};
use libfuzzer_sys::fuzz_target;
use shared::crypto::hmac_sha256;
use shared::inbound::messenger::Messenger;
use shared::inbound::meta::signature_matches;
use shared::inbound::whatsapp::phone_number_ids;
use shared::inbound::{Source, header};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/whatsapp");
    let body = request.body().as_ref();
    let _ = phone_number_ids(body);
    let _ = Messenger.accounts(&request, body);
    if let Some(signature) = header(&request, "x-hub-signature-256") {
        let _ = signature_matches(META_APP_SECRET.as_bytes(), body, signature);
    }
    let signed = format!(
        "sha256={}",
        hex::encode(hmac_sha256(META_APP_SECRET.as_bytes(), &[body]))
    );
    assert!(signature_matches(META_APP_SECRET.as_bytes(), body, &signed));
});
