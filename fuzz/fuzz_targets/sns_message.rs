//! Amazon SNS messages: the topic they name, the string their signature covers, and the
//! certificate and subscription URLs they point at.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shared::inbound::amazon::topic_arn;
use shared::inbound::payload::parse_object;
use shared::inbound::sns::{string_to_sign, trusted_certificate_url, trusted_sns_url};

fuzz_target!(|data: &[u8]| {
    let _ = topic_arn(data);
    let Ok(message) = parse_object(data) else {
        return;
    };
    let _ = string_to_sign(&message);
    for name in ["SigningCertURL", "SigningCertUrl", "SubscribeURL", "SubscribeUrl"] {
        if let Some(url) = message.get(name).and_then(Value::as_str) {
            let _ = trusted_certificate_url(url);
            let _ = trusted_sns_url(url);
        }
    }
});
