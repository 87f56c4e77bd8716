//! The body of `POST /api/webhook`, as the ingest function reads it before storing anything.
#![no_main]

use lambda_http::Body;
use lambda_http::http::Request;
use libfuzzer_sys::fuzz_target;
use shared::api::ingest::read;
use shared::http::json_body;

fuzz_target!(|data: &[u8]| {
    let request = Request::builder()
        .method("POST")
        .uri("/api/webhook")
        .header("content-type", "application/json")
        .body(Body::Binary(data.to_vec()))
        .expect("a valid request");
    if let Ok(body) = json_body(&request) {
        let _ = read(&body, data.len());
    }
});
