//! What the fuzz targets share: their inputs read as an HTTP request, so that seeds are plain
//! text files, and the secrets and clock the signature checks run under: those the sample events
//! in `events/` are signed with (tests/fixtures), so that the seeds pass the checks and the
//! fuzzer starts from inputs that reach past them.

use std::collections::HashMap;

use lambda_http::http::{HeaderName, HeaderValue, Request as HttpRequest, Uri};
use lambda_http::{Body, Request, RequestExt};
use time::OffsetDateTime;

pub const SHOPIFY_SECRET: &str = "hookgate-sample-shopify-app-secret";
pub const STRIPE_SECRET: &str = "whsec_hookgate_sample_endpoint_secret";
pub const RESEND_SECRET: &str = "whsec_aG9va2dhdGUtc2FtcGxlLXJlc2VuZC1zZWNyZXQ=";
pub const META_APP_SECRET: &str = "hookgate-sample-meta-app-secret";
pub const SLACK_SECRET: &str = "hookgate-sample-slack-signing-secret";
pub const TWILIO_TOKEN: &str = "hookgate-sample-twilio-auth-token";
pub const DIALPAD_SECRET: &str = "hookgate-sample-dialpad-secret";

/// The time the signature checks take as now: when the sample events were signed,
/// 2026-03-12T10:30:00Z.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_773_311_400).expect("a valid Unix time")
}

/// A request read from `data` as `name: value` header lines (`:path: /p?q=1` sets the path and
/// the query parameters, as API Gateway hands them over) up to the first empty line, then the
/// body. Lines that are no header are skipped, so that every input is some request.
pub fn request(data: &[u8], default_path: &'static str) -> Request {
    let (head, body) = match find(data, b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &data[data.len()..]),
    };
    let mut path = default_path.to_string();
    let mut builder = HttpRequest::builder().method("POST");
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':').filter(|&at| at > 0) else {
            if let Some(value) = line.strip_prefix(b":path:") {
                path = String::from_utf8_lossy(value).trim().to_string();
            }
            continue;
        };
        let value = line[colon + 1..].trim_ascii();
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(&line[..colon]), HeaderValue::from_bytes(value)) {
            builder = builder.header(name, value);
        }
    }
    let uri: Uri = path.parse().unwrap_or_else(|_| Uri::from_static(default_path));
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        query.entry(name.into_owned()).or_default().push(value.into_owned());
    }
    builder
        .uri(uri)
        .body(Body::Binary(body.to_vec()))
        .unwrap_or_else(|_| Request::new(Body::Binary(body.to_vec())))
        .with_query_string_parameters(query)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
