//! Request checks and JSON responses shared by every route.

use std::future::Future;

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::{self, Caller, RateLimit, Scope};
use crate::error::ApiError;
use crate::runtime::Services;
use crate::store::{Item, Store};
use time::OffsetDateTime;

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

/// A handler's 200 answer.
pub fn ok(body: &impl Serialize) -> Result<Response<Body>, ApiError> {
    Ok(json_response(StatusCode::OK, body))
}

/// The JSON error, with the headers it calls for (`Retry-After`, `Allow`).
pub fn error_response(error: &ApiError) -> Response<Body> {
    let mut response = json_response(error.status, &error.body());
    if let Some(seconds) = error.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(allow) = error.allowed_methods().and_then(|a| HeaderValue::from_str(&a).ok()) {
        response.headers_mut().insert(header::ALLOW, allow);
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

/// Twilio's webhook for SMS and its status callbacks: `sms-webhooks` serves it, and replies
/// sent through Twilio name it (under the public base URL) as their `StatusCallback`.
pub const SMS_WEBHOOK_PATH: &str = "/api/webhooks/sms";

/// One line of a function's route table: method and path pattern (API Gateway's `{name}`
/// segments, as in `template.yaml`) → the route, with the scope an API key needs for it
/// (`None`: a public route, or one a provider's signature guards).
pub struct Route<R> {
    pub method: Method,
    pub path: &'static str,
    pub scope: Option<Scope>,
    pub route: R,
}

impl<R> Route<R> {
    pub const fn new(method: Method, path: &'static str, scope: Scope, route: R) -> Self {
        Self {
            method,
            path,
            scope: Some(scope),
            route,
        }
    }

    pub const fn public(method: Method, path: &'static str, route: R) -> Self {
        Self {
            method,
            path,
            scope: None,
            route,
        }
    }
}

/// Whether `path` fits `pattern`, segment by segment; `{name}` fits any non-empty segment.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut segments = path.split('/');
    let fits = pattern.split('/').all(|expected| match segments.next() {
        Some(actual) if expected.starts_with('{') && expected.ends_with('}') => !actual.is_empty(),
        Some(actual) => actual == expected,
        None => false,
    });
    fits && segments.next().is_none()
}

/// The table's line for the request: 404 when no pattern fits the path, 405 (with `Allow`) when
/// one does but not for this method.
pub fn find_route<'a, R>(routes: &'a [Route<R>], request: &Request) -> Result<&'a Route<R>, ApiError> {
    let path = request.uri().path();
    let mut allowed: Vec<&str> = Vec::new();
    for route in routes.iter().filter(|route| path_matches(route.path, path)) {
        if route.method == request.method() {
            return Ok(route);
        }
        allowed.push(route.method.as_str());
    }
    if allowed.is_empty() {
        Err(ApiError::not_found("no such route"))
    } else {
        Err(ApiError::method_not_allowed(&allowed))
    }
}

/// One authenticated request on its way to its handler: what it may use, what it asks, who asks.
pub struct Call<'a> {
    pub services: &'a Services,
    pub request: &'a Request,
    pub caller: Caller,
}

impl Call<'_> {
    /// The caller's organization: every read and write is within it.
    pub fn org_id(&self) -> &str {
        &self.caller.org_id
    }

    pub fn store(&self) -> &Store {
        &self.services.store
    }

    pub fn now(&self) -> OffsetDateTime {
        self.services.clock.now()
    }

    /// A path parameter the route's pattern promises (404 when a request bypassed the router).
    pub fn path(&self, name: &str) -> Result<String, ApiError> {
        required_path_parameter(self.request, name)
    }

    pub fn query(&self, name: &str) -> Option<String> {
        query_parameter(self.request, name)
    }

    /// A page request's `limit`: 1 to `max`, `default` when unsaid, else refused with 422.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        match self.query("limit") {
            None => Ok(default),
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| ApiError::invalid_input("limit", format!("limit must be 1 to {max}"))),
        }
    }

    /// A page request's [`Self::limit`] and `cursor` (one that the list over the index
    /// partition `index_pk` returned), refused with 422 naming either.
    pub fn page(&self, default: usize, max: usize, index_pk: &str) -> Result<(usize, Option<Item>), ApiError> {
        let limit = self.limit(default, max)?;
        let start = self
            .query("cursor")
            .map(|cursor| {
                crate::store::decode_cursor(index_pk, &cursor)
                    .ok_or_else(|| ApiError::invalid_input("cursor", "cursor is not one this list returned"))
            })
            .transpose()?;
        Ok((limit, start))
    }

    /// The body as `T`: see [`typed_body`].
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        typed_body(self.request)
    }

    /// The body as `T`, checked by its own rules: see [`validated_body`].
    pub fn validated_body<T: DeserializeOwned + Validate>(&self) -> Result<T, ApiError> {
        validated_body(self.request)
    }

    /// The body as `T` (`T::default()` when empty), checked by its own rules.
    pub fn validated_body_or_default<T: DeserializeOwned + Validate + Default>(&self) -> Result<T, ApiError> {
        validated_body_or_default(self.request)
    }
}

/// Finds the request's route in `routes`, authenticates the key for the route's scope, runs
/// `handler` and answers in JSON with the rate-limit headers, whatever the outcome.
pub async fn serve_routes<'a, R, F, Fut>(
    services: &'a Services,
    request: &'a Request,
    routes: &[Route<R>],
    handler: F,
) -> Response<Body>
where
    R: Copy,
    F: FnOnce(R, Call<'a>) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    match find_route(routes, request) {
        Ok(Route {
            scope: Some(scope),
            route,
            ..
        }) => {
            let route = *route;
            let call = |caller| {
                handler(
                    route,
                    Call {
                        services,
                        request,
                        caller,
                    },
                )
            };
            serve_authenticated(services, request, *scope, call).await
        }
        Ok(_) => {
            tracing::error!("a public route was served as an authenticated one");
            error_response(&ApiError::internal())
        }
        Err(error) => error_response(&error),
    }
}

/// Authenticates and rate-limits the request, requires `scope`, runs `route`, and answers in
/// JSON with the rate-limit headers, whatever the outcome.
async fn serve_authenticated<F, Fut>(services: &Services, request: &Request, scope: Scope, route: F) -> Response<Body>
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
    let result = match (caller.require(scope), idempotency_key(request)) {
        (Err(error), _) | (Ok(()), Err(error)) => Err(error),
        (Ok(()), Ok(Some(key))) => {
            let org_id = caller.org_id.clone();
            // On the heap: handlers' futures are large, and this one would hold it twice over.
            once_per_key(services, &org_id, &key, request, Box::pin(route(caller))).await
        }
        (Ok(()), Ok(None)) => Box::pin(route(caller)).await,
    };
    with_rate_limit(result.unwrap_or_else(|error| error_response(&error)), Some(rate_limit))
}

/// A POST's `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(request: &Request) -> Result<Option<String>, ApiError> {
    if request.method() != Method::POST {
        return Ok(None);
    }
    let Some(value) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid_input(
            "Idempotency-Key",
            "Idempotency-Key is 1 to 255 visible ASCII characters",
        ));
    }
    Ok(Some(key.to_string()))
}

/// Runs a POST once per `Idempotency-Key` and organization for 24 hours: a repeat of the same
/// request gets the first answer (`Idempotent-Replayed: true`), the key on another request is
/// 422, a repeat while the first runs 409. An answer of ours that failed (5xx, 429) is not
/// kept, so the retry runs again.
pub(crate) async fn once_per_key<Fut>(
    services: &Services,
    org_id: &str,
    key: &str,
    request: &Request,
    run: Fut,
) -> Result<Response<Body>, ApiError>
where
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    use crate::store::idempotency::{IdempotencyClaim, KeptResponse};
    let fingerprint = crate::crypto::sha256_hex(
        &[
            request.method().as_str().as_bytes(),
            b"\n",
            request.uri().path().as_bytes(),
            b"?",
            request.uri().query().unwrap_or_default().as_bytes(),
            b"\n",
            request.body().as_ref(),
        ]
        .concat(),
    );
    let now = services.clock.now().unix_timestamp();
    match services
        .store
        .claim_idempotency_key(org_id, key, &fingerprint, now)
        .await?
    {
        IdempotencyClaim::Claimed => {}
        IdempotencyClaim::Replay(kept) => {
            let mut response = Response::new(Body::Text(kept.body));
            *response.status_mut() = StatusCode::from_u16(kept.status).unwrap_or(StatusCode::OK);
            if let Some(value) = kept.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, value);
            }
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
        IdempotencyClaim::InProgress => {
            return Err(ApiError::conflict(
                "a request with this Idempotency-Key is still running; retry later",
            ));
        }
        IdempotencyClaim::Mismatch => {
            return Err(ApiError::invalid_input(
                "Idempotency-Key",
                "this Idempotency-Key was used for a different request in the last 24 hours",
            )
            .with_code("IDEMPOTENCY_KEY_REUSED"));
        }
    }
    let response = run.await.unwrap_or_else(|error| error_response(&error));
    let status = response.status();
    let kept = (!status.is_server_error() && status != StatusCode::TOO_MANY_REQUESTS).then(|| KeptResponse {
        status: status.as_u16(),
        content_type: response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(response.body().as_ref()).into_owned(),
    });
    let settled = match &kept {
        Some(kept) => services.store.keep_idempotent_response(org_id, key, kept).await,
        None => services.store.release_idempotency_key(org_id, key).await,
    };
    if let Err(e) = settled {
        tracing::error!(error = ?e, "settling an idempotency key");
    }
    Ok(response)
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

/// Whether no item of a list a request names stands in it twice (scopes, events, channels,
/// topics: a handful each, so comparing each with those before it is cheapest).
pub fn all_distinct<T: PartialEq>(items: &[T]) -> bool {
    items.iter().enumerate().all(|(i, item)| !items[..i].contains(item))
}

/// Rules a request body must satisfy beyond its JSON shape; the error names the field.
pub trait Validate {
    fn validate(&self) -> Result<(), ApiError>;
}

/// The request body as `T`: the checks of [`json_body`], then `T`'s shape, refused with 422
/// `INVALID_INPUT` naming the offending field by its dotted path.
pub fn typed_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    from_json(json_body(request)?)
}

/// [`typed_body`], then `T`'s own [`Validate`] rules.
pub fn validated_body<T: DeserializeOwned + Validate>(request: &Request) -> Result<T, ApiError> {
    let parsed: T = typed_body(request)?;
    parsed.validate()?;
    Ok(parsed)
}

/// [`validated_body`], where an empty body means `T::default()` (bodies of optional fields).
pub fn validated_body_or_default<T: DeserializeOwned + Validate + Default>(request: &Request) -> Result<T, ApiError> {
    // No body and a JSON `null` both leave every field to its default.
    if request.body().is_empty() || request.body().as_ref().trim_ascii() == b"null" {
        let parsed = T::default();
        parsed.validate()?;
        return Ok(parsed);
    }
    validated_body(request)
}

/// A JSON value as `T`, naming the field serde choked on: `retry_policy.max_retries` for a wrong
/// type, `name` for a missing or unknown one.
pub fn from_json<T: DeserializeOwned>(mut value: Value) -> Result<T, ApiError> {
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // A missing field is named only in serde's message (`missing field `name``), its path
        // being its parent's; an unknown field's path already ends with it.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_string(),
            (".", None) => "body".to_string(),
            (parent, Some(name)) => format!("{parent}.{name}"),
            (path, None) => path.to_string(),
        };
        ApiError::invalid_input(&field, message)
    })
}

/// JSON does not tell `2` from `2.0` (JSON Schema's `integer` admits both); serde's integer
/// fields take only the first, so a float without a fraction becomes the integer it is.
fn whole_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(number) if number.is_f64() => {
            let float = number.as_f64().unwrap_or(f64::NAN);
            // 2^53: beyond it a float no longer holds every integer exactly.
            if float.fract() == 0.0 && float.abs() <= 9_007_199_254_740_992.0 {
                *value = Value::from(float as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
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

/// A path parameter the route pattern promises; absent (a request that bypassed the router),
/// the resource is not found.
pub fn required_path_parameter(request: &Request, name: &str) -> Result<String, ApiError> {
    path_parameter(request, name).ok_or_else(|| ApiError::not_found(format!("no {name} in the path")))
}

/// An email address as stored: trimmed and lowercased; `None` when it is not plausibly one.
pub fn normalized_email(text: &str) -> Option<String> {
    let email = text.trim();
    let (local, domain) = email.split_once('@')?;
    let plausible =
        !local.is_empty() && domain.contains('.') && email.len() <= 254 && !email.contains(char::is_whitespace);
    plausible.then(|| email.to_lowercase())
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, through `default`):
/// `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// A query string parameter; an empty value counts as unsaid (`?customer=` filters nothing), as a
/// form sends the fields left blank.
pub fn query_parameter(request: &Request, name: &str) -> Option<String> {
    use lambda_http::RequestExt;
    request
        .query_string_parameters_ref()
        .and_then(|params| params.first(name))
        .filter(|value| !value.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug
    struct Outer {
        name: String,
        policy: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        max_retries: u32,
    }

    fn field_of(value: serde_json::Value) -> String {
        let error = from_json::<Outer>(value).unwrap_err();
        assert_eq!((error.status.as_u16(), error.code), (422, "INVALID_INPUT"));
        error.details.unwrap()["field"].as_str().unwrap().to_string()
    }

    #[test]
    fn invalid_input_names_the_field_by_its_dotted_path() {
        assert_eq!(field_of(json!({})), "name");
        assert_eq!(field_of(json!({"name": 5})), "name");
        assert_eq!(field_of(json!({"name": "x", "extra": 1})), "extra");
        assert_eq!(field_of(json!({"name": "x", "policy": {}})), "policy.max_retries");
        assert_eq!(
            field_of(json!({"name": "x", "policy": {"max_retries": "8"}})),
            "policy.max_retries"
        );
        assert_eq!(
            field_of(json!({"name": "x", "policy": {"max_retries": 1, "more": 2}})),
            "policy.more"
        );
        assert_eq!(field_of(json!("a string")), "body");
    }

    #[test]
    fn route_patterns_match_whole_segments() {
        assert!(path_matches("/api/v1/tickets/{id}", "/api/v1/tickets/42"));
        assert!(!path_matches("/api/v1/tickets/{id}", "/api/v1/tickets/"));
        assert!(!path_matches(
            "/api/v1/tickets/{id}",
            "/api/v1/tickets/42/conversations"
        ));
        assert!(!path_matches("/api/v1/tickets", "/api/v1/tickets/42"));
        assert!(path_matches("/api/health", "/api/health"));
    }
}
