//! API keys and trigger tokens as a client presents them (`X-API-Key`, `Authorization:
//! Bearer`), and the widget's public keys and session tokens.
#![no_main]

use hookgate_fuzz::request;
use libfuzzer_sys::fuzz_target;
use shared::api::widget::{key_org, token_parts};
use shared::auth::api_key::{PresentedKey, TRIGGER_TOKEN_PREFIX, secret_matches};
use shared::auth::presented_key;
use shared::secrets::Pepper;

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/webhook");
    let Some(raw) = presented_key(request.headers()) else {
        return;
    };
    let pepper = Pepper::new(b"a-fuzzing-pepper-of-at-least-32-bytes".to_vec());
    for key in [
        PresentedKey::parse(raw),
        PresentedKey::parse_prefixed(TRIGGER_TOKEN_PREFIX, raw),
    ]
    .into_iter()
    .flatten()
    {
        let _ = key.org_id();
        assert!(secret_matches(&pepper, &key, &key.secret_hash(&pepper)));
    }
    let _ = key_org(raw);
    let _ = token_parts(raw);
});
