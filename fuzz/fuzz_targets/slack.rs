//! Slack's events: the team they name, and `X-Slack-Signature` over the timestamp and body.
#![no_main]

use hookgate_fuzz::{SLACK_SECRET, now, request};
use libfuzzer_sys::fuzz_target;
use shared::crypto::hmac_sha256;
use shared::inbound::slack::{Slack, verify_signature};
use shared::inbound::{Source, header};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/slack");
    let body = request.body().as_ref();
    let _ = Slack.accounts(&request, body);
    let timestamp = header(&request, "x-slack-request-timestamp").unwrap_or_default();
    if let Some(signature) = header(&request, "x-slack-signature") {
        let _ = verify_signature(SLACK_SECRET.as_bytes(), timestamp, body, signature, now());
    }
    let timestamp = now().unix_timestamp().to_string();
    let signed = format!(
        "v0={}",
        hex::encode(hmac_sha256(
            SLACK_SECRET.as_bytes(),
            &[b"v0:", timestamp.as_bytes(), b":", body]
        ))
    );
    assert!(verify_signature(SLACK_SECRET.as_bytes(), &timestamp, body, &signed, now()).is_ok());
});
