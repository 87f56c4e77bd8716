//! A raw RFC 822 message (`POST /api/webhooks/inbound-email`): the recipients read from its
//! headers before the token is checked, then the whole MIME message and its text as the desk
//! takes them.
#![no_main]

use lambda_http::Body;
use lambda_http::http::Request;
use libfuzzer_sys::fuzz_target;
use shared::inbound::email::body_text;
use shared::inbound::email::raw::{parse_message, read_mail, recipients};

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method("POST")
        .uri("/api/webhooks/inbound-email")
        .body(Body::Binary(data.to_vec()))
        .expect("a valid request");
    let _ = recipients(&request, data);
    if let Ok(mail) = parse_message(data).and_then(|message| read_mail(&message)) {
        let _ = body_text(mail.text.as_deref(), mail.html.as_deref());
    }
});
