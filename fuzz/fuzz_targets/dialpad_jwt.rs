//! Dialpad's call events: the account they name, and the body, a JWT signed HS256.
#![no_main]

use hookgate_fuzz::{DIALPAD_SECRET, request};
use libfuzzer_sys::fuzz_target;
use shared::inbound::Source;
use shared::inbound::dialpad::{Dialpad, claims};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/dialpad");
    let body = request.body().as_ref();
    let _ = Dialpad.accounts(&request, body);
    let _ = claims(DIALPAD_SECRET, body);
});
