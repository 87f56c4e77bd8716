//! Twilio's SMS webhooks: the form parameters, the numbers they name, and the signature over
//! the URL Twilio called and the parameters.
#![no_main]

use hookgate_fuzz::{TWILIO_TOKEN, request};
use libfuzzer_sys::fuzz_target;
use shared::crypto::constant_time_eq;
use shared::inbound::sms::{Sms, parameters, signature};
use shared::inbound::{Source, header};

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhooks/sms");
    let body = request.body().as_ref();
    let sms = Sms {
        public_base_url: "https://api.example.com".to_string(),
    };
    let _ = sms.accounts(&request, body);
    let url = format!("{}{}", sms.public_base_url, request.uri());
    let expected = signature(TWILIO_TOKEN, &url, &parameters(body));
    if let Some(presented) = header(&request, "x-twilio-signature") {
        let _ = constant_time_eq(presented.as_bytes(), expected.as_bytes());
    }
});
