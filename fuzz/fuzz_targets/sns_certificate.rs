//! The signing certificate an SNS message's `SigningCertURL` serves, as PEM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::inbound::sns::rsa_public_key;

fuzz_target!(|data: &[u8]| {
    let _ = rsa_public_key(data);
});
