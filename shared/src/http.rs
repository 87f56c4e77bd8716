//! Request checks and JSON responses shared by every route.

use std::future::Future;

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{self, Caller, RateLimit, Scope};
use crate::error::ApiError;
use crate::runtime::Services;

/// Largest body any JSON route accepts (seed: "Max Payload: 100 KB").
pub const MAX_BODY_BYTES: usize = 100 * 1024;

pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| br#"{"success":false}"#.to_vec());
    let mut response = Response::new(Body::Binary(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = json_response(error.status, &error.body());
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

fn with_rate_limit(mut response: Response<Body>, rate_limit: Option<RateLimit>) -> Response<Body> {
    if let Some(limit) = rate_limit {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(limit.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(limit.reset));
    }
    response
}

/// Authenticates and rate-limits the request, requires `scope`, runs `route`, and answers in
/// JSON with the rate-limit headers, whatever the outcome.
pub async fn serve_authenticated<F, Fut>(
    services: &Services,
    request: &Request,
    scope: Scope,
    route: F,
) -> Response<Body>
where
    F: FnOnce(Caller) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    let now = services.clock.now();
    let caller = match auth::authenticate(&services.store, &services.pepper, now, request.headers()).await {
        Ok(caller) => caller,
        Err(refusal) => return with_rate_limit(error_response(&refusal.error), refusal.rate_limit),
    };
    let rate_limit = caller.rate_limit;
    let result = match caller.require(scope) {
        Ok(()) => route(caller).await,
        Err(error) => Err(error),
    };
    with_rate_limit(result.unwrap_or_else(|error| error_response(&error)), Some(rate_limit))
}

/// The request body as JSON: refuses bodies over [`MAX_BODY_BYTES`] (413), bodies not declared
/// as JSON (415) and malformed JSON (400).
pub fn json_body(request: &Request) -> Result<Value, ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_BODY_BYTES));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::unsupported_media_type());
    }
    if bytes.is_empty() {
        return Err(ApiError::invalid_json("the body is empty; send a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(format!("the body is not valid JSON: {e}")))
}

/// A path parameter, percent-decoded (API Gateway passes `@` in an email through either way).
pub fn path_parameter(request: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    let raw = request
        .path_parameters_ref()
        .and_then(|params| params.first(name).map(str::to_string))?;
    let decoded = percent_encoding::percent_decode_str(&raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!decoded.is_empty()).then_some(decoded)
}

/// A query-string parameter.
pub fn query_parameter(request: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name).map(str::to_string))
}
