//! `/api/v1/webhooks...`: merchants' outbound endpoints (scope `endpoints:manage`; reads also
//! with `endpoints:read`). Test sends and recovery are in [`sends`], which also needs the queue.

pub mod events;
pub mod matching;
pub mod sends;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Scope};
use crate::clock::rfc3339;
use crate::crypto::SecretBox;
use crate::delivery::signing::generate_secret;
use crate::error::{ApiError, ErrorBody};
use crate::http::{json_body, json_response, path_parameter, query_parameter, serve_authenticated};
use crate::runtime::{Error, Services};
use crate::store::deliveries::Attempt;
use crate::store::endpoints::{BatchSettings, DeliveryStats, Endpoint, EndpointConfig, RetryPolicy, TokenChange};

/// The seeds' schedule: 1 min, 5 min, 15 min, 1 h, 6 h, 24 h.
pub const DEFAULT_RETRY_DELAYS: [u64; 6] = [60, 300, 900, 3600, 21_600, 86_400];
const MAX_DELAY_SECONDS: u64 = 86_400;
const MAX_RETRIES: usize = 8;
const MAX_BATCH_EVENTS: u32 = 100;
const MAX_BATCH_WAIT_SECONDS: u64 = 3600;
const MAX_URL_CHARS: usize = 2048;

/// Per-container settings of the endpoint routes.
pub struct WebhookSettings {
    pub secrets: SecretBox,
    /// Accept `http://` URLs (the local stack); production accepts only https.
    pub allow_http: bool,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace_seconds: i64,
}

impl WebhookSettings {
    pub async fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(Self {
            secrets: SecretBox::from_env(config).await?,
            allow_http: std::env::var("ALLOW_HTTP_ENDPOINTS").is_ok_and(|v| v == "true"),
            rotation_grace_seconds: std::env::var("SECRET_ROTATION_GRACE_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(86_400),
        })
    }
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct Authentication {
    /// `bearer`: deliveries carry `Authorization: Bearer <token>`.
    pub r#type: String,
    /// Write-only: never returned.
    #[serde(skip_serializing)]
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicyRequest {
    /// Retries after the first attempt (default 6, at most 8).
    pub max_retries: Option<usize>,
    /// Delays grow by this factor from 1 minute (default: the schedule 1 min, 5 min, 15 min, 1 h, 6 h, 24 h).
    pub backoff_multiplier: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct Filters {
    /// Dotted paths of `data` to deliver; the rest is left out.
    #[serde(default)]
    pub include_fields: Vec<String>,
}

/// Body of `POST /api/v1/webhooks` and `PUT /api/v1/webhooks/{id}` (on PUT every field is
/// optional and only what is sent changes).
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    pub name: Option<String>,
    /// https (http only where the operator allows it).
    pub url: Option<String>,
    /// Event types, or `*` for all.
    pub events: Option<Vec<String>>,
    /// Your signing secret (24 to 128 characters); generated (`whsec_...`) when absent.
    pub secret: Option<String>,
    pub authentication: Option<Authentication>,
    pub retry_policy: Option<RetryPolicyRequest>,
    /// Deliver only when `data` matches, e.g. `{"satisfaction_score": {"lt": 3}}`.
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Map<String, Value>>,
    pub filters: Option<Filters>,
    /// Deliver events together as one signed JSON array; `null` on PUT turns batching off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BatchSettings>)]
    pub batch_settings: Option<Option<BatchSettings>>,
    /// `active` or `disabled` (PUT only).
    pub status: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RetryPolicyView {
    pub delays_seconds: Vec<u64>,
}

/// An endpoint as its owner sees it: never its secret or token.
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// `active` or `disabled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub authentication: Option<Authentication>,
    pub retry_policy: RetryPolicyView,
    #[schema(value_type = Object)]
    pub conditions: Map<String, Value>,
    pub filters: Filters,
    pub batch_settings: Option<BatchSettings>,
    pub created_at: String,
    pub updated_at: String,
    pub last_delivery: Option<String>,
    pub delivery_stats: DeliveryStats,
}

impl From<Endpoint> for EndpointView {
    fn from(endpoint: Endpoint) -> Self {
        Self {
            id: endpoint.endpoint_id,
            name: endpoint.config.name,
            url: endpoint.config.url,
            events: endpoint.config.events,
            status: endpoint.status,
            disabled_reason: endpoint.disabled_reason,
            authentication: endpoint.config.authentication.map(|kind| Authentication {
                r#type: kind,
                token: None,
            }),
            retry_policy: RetryPolicyView {
                delays_seconds: endpoint.config.retry_policy.delays_seconds,
            },
            conditions: endpoint.config.conditions,
            filters: Filters {
                include_fields: endpoint.config.include_fields,
            },
            batch_settings: endpoint.config.batch_settings,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            last_delivery: endpoint.stats.last_delivery.clone(),
            delivery_stats: endpoint.stats,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    pub success: bool,
    /// The signing secret, shown this once.
    pub secret: String,
    pub webhook: EndpointView,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointResponse {
    pub success: bool,
    pub webhook: EndpointView,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub success: bool,
    pub webhooks: Vec<EndpointView>,
}

#[derive(Serialize, ToSchema)]
pub struct RotatedSecret {
    pub success: bool,
    /// The new signing secret, shown this once.
    pub secret: String,
    /// Until then the previous secret signs too.
    pub previous_secret_valid_until: String,
}

#[derive(Serialize, ToSchema)]
pub struct LogEntry {
    pub id: String,
    pub timestamp: String,
    pub event: String,
    /// `success`, `retrying` or `failed`.
    pub status: String,
    pub response_code: Option<u16>,
    pub response_time_ms: Option<u64>,
    pub attempts: u32,
    pub payload_size: u64,
    pub last_attempt: Option<Attempt>,
    pub next_attempt_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub success: bool,
    pub logs: Vec<LogEntry>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EndpointStats {
    pub success: bool,
    pub webhook_id: String,
    pub status: String,
    #[serde(flatten)]
    pub stats: DeliveryStats,
    /// Successful deliveries over finished ones, 0 to 1 (null before any finished).
    pub success_rate: Option<f64>,
    pub failing_since: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct LogParams {
    /// Entries per page, 1 to 100 (default 20).
    limit: Option<i32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Routes every `/api/v1/webhooks` path but `test` and `recover` (see [`sends`]).
pub async fn handle(services: &Services, settings: &WebhookSettings, request: Request) -> Response<Body> {
    let path = request.uri().path().to_string();
    let id = path_parameter(&request, "id");
    let reading = request.method() == Method::GET;
    let scope = if reading {
        Scope::EndpointsRead
    } else {
        Scope::EndpointsManage
    };
    serve_authenticated(services, &request, scope, |caller| async {
        match (request.method().clone(), id) {
            (Method::POST, None) => create(services, settings, &request, caller).await,
            (Method::GET, None) => list(services, caller).await,
            (Method::GET, Some(id)) if path.ends_with("/logs") => logs(services, &request, caller, &id).await,
            (Method::GET, Some(id)) if path.ends_with("/stats") => stats(services, caller, &id).await,
            (Method::POST, Some(id)) if path.ends_with("/rotate-secret") => {
                rotate(services, settings, caller, &id).await
            }
            (Method::GET, Some(id)) => get(services, caller, &id).await,
            (Method::PUT, Some(id)) => update(services, settings, &request, caller, &id).await,
            (Method::DELETE, Some(id)) => delete(services, caller, &id).await,
            _ => Err(ApiError::method_not_allowed()),
        }
    })
    .await
}

fn not_found() -> ApiError {
    ApiError::not_found("no webhook endpoint with this id")
}

/// The caller's endpoint `id`, or 404 (another organization's endpoint is not found either).
pub(crate) async fn find_endpoint(services: &Services, caller: &Caller, id: &str) -> Result<Endpoint, ApiError> {
    services
        .store
        .get_endpoint(&caller.org_id, id)
        .await?
        .ok_or_else(not_found)
}

fn parse_request(request: &Request) -> Result<(EndpointRequest, Value), ApiError> {
    let body = json_body(request)?;
    let parsed = serde_json::from_value(body.clone()).map_err(|e| ApiError::invalid_input("body", e.to_string()))?;
    Ok((parsed, body))
}

fn validate_url(url: &str, allow_http: bool) -> Result<String, ApiError> {
    let parsed =
        url::Url::parse(url.trim()).map_err(|e| ApiError::invalid_input("url", format!("url is not a URL: {e}")))?;
    let scheme_ok = parsed.scheme() == "https" || (allow_http && parsed.scheme() == "http");
    if !scheme_ok {
        return Err(ApiError::invalid_input("url", "url must use https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::invalid_input("url", "url needs a host and no credentials"));
    }
    if url.len() > MAX_URL_CHARS {
        return Err(ApiError::invalid_input(
            "url",
            format!("url is longer than {MAX_URL_CHARS} characters"),
        ));
    }
    Ok(parsed.to_string())
}

fn validate_events(events: &[String]) -> Result<Vec<String>, ApiError> {
    if events.is_empty() {
        return Err(ApiError::invalid_input(
            "events",
            "subscribe to at least one event (or \"*\")",
        ));
    }
    if let Some(unknown) = events.iter().find(|e| !events::is_known(e)) {
        let known: Vec<&str> = events::EVENT_TYPES.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::invalid_input(
            "events",
            format!("unknown event {unknown:?}; known: {}", known.join(", ")),
        ));
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    Ok(events)
}

fn retry_delays(policy: &RetryPolicyRequest) -> Result<Vec<u64>, ApiError> {
    let retries = policy.max_retries.unwrap_or(DEFAULT_RETRY_DELAYS.len());
    if retries > MAX_RETRIES {
        return Err(ApiError::invalid_input(
            "retry_policy.max_retries",
            format!("at most {MAX_RETRIES} retries"),
        ));
    }
    match policy.backoff_multiplier {
        None => Ok((0..retries)
            .map(|i| DEFAULT_RETRY_DELAYS[i.min(DEFAULT_RETRY_DELAYS.len() - 1)])
            .collect()),
        Some(factor) if (1.0..=10.0).contains(&factor) => Ok((0..retries)
            .map(|i| ((60.0 * factor.powi(i as i32)) as u64).min(MAX_DELAY_SECONDS))
            .collect()),
        Some(_) => Err(ApiError::invalid_input(
            "retry_policy.backoff_multiplier",
            "backoff_multiplier must be from 1 to 10",
        )),
    }
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent (`None`, through `default`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

fn validate_batch_settings(settings: BatchSettings) -> Result<BatchSettings, ApiError> {
    if !(1..=MAX_BATCH_EVENTS).contains(&settings.max_events) {
        return Err(ApiError::invalid_input(
            "batch_settings.max_events",
            format!("max_events must be from 1 to {MAX_BATCH_EVENTS}"),
        ));
    }
    if !(1..=MAX_BATCH_WAIT_SECONDS).contains(&settings.max_wait_seconds) {
        return Err(ApiError::invalid_input(
            "batch_settings.max_wait_seconds",
            format!("max_wait_seconds must be from 1 to {MAX_BATCH_WAIT_SECONDS}"),
        ));
    }
    Ok(settings)
}

fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid_input("name", "name must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

fn validate_token(authentication: &Authentication) -> Result<&str, ApiError> {
    if authentication.r#type != "bearer" {
        return Err(ApiError::invalid_input(
            "authentication.type",
            "the only authentication type is \"bearer\"",
        ));
    }
    match authentication.token.as_deref().map(str::trim) {
        Some(token) if !token.is_empty() && token.len() <= 1024 && token.is_ascii() => Ok(token),
        _ => Err(ApiError::invalid_input(
            "authentication.token",
            "a bearer token of 1 to 1024 ASCII characters is required",
        )),
    }
}

/// Applies a request onto `base` (a new endpoint's defaults, or the stored settings).
fn apply(request: &EndpointRequest, mut config: EndpointConfig, allow_http: bool) -> Result<EndpointConfig, ApiError> {
    if let Some(batch_settings) = request.batch_settings {
        config.batch_settings = batch_settings.map(validate_batch_settings).transpose()?;
    }
    if let Some(name) = &request.name {
        config.name = validate_name(name)?;
    }
    if let Some(url) = &request.url {
        config.url = validate_url(url, allow_http)?;
    }
    if let Some(events) = &request.events {
        config.events = validate_events(events)?;
    }
    if let Some(policy) = &request.retry_policy {
        config.retry_policy = RetryPolicy {
            delays_seconds: retry_delays(policy)?,
        };
    }
    if let Some(conditions) = &request.conditions {
        matching::validate_conditions(conditions)?;
        config.conditions = conditions.clone();
    }
    if let Some(filters) = &request.filters {
        if filters
            .include_fields
            .iter()
            .any(|f| f.is_empty() || f.split('.').any(str::is_empty))
        {
            return Err(ApiError::invalid_input(
                "filters.include_fields",
                "include_fields are dotted field names",
            ));
        }
        config.include_fields = filters.include_fields.clone();
    }
    if let Some(authentication) = &request.authentication {
        validate_token(authentication)?;
        config.authentication = Some("bearer".to_string());
    }
    Ok(config)
}

/// Register an endpoint; its signing secret is in this response only.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "Outbound webhooks", request_body = EndpointRequest,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedEndpoint), (status = "4XX", body = ErrorBody)))]
async fn create(
    services: &Services,
    settings: &WebhookSettings,
    request: &Request,
    caller: Caller,
) -> Result<Response<Body>, ApiError> {
    let (body, _) = parse_request(request)?;
    for (field, present) in [
        ("name", body.name.is_some()),
        ("url", body.url.is_some()),
        ("events", body.events.is_some()),
    ] {
        if !present {
            return Err(ApiError::invalid_input(field, format!("{field} is required")));
        }
    }
    if body.status.is_some() {
        return Err(ApiError::invalid_input(
            "status",
            "a new endpoint is active; change status with PUT",
        ));
    }
    let defaults = EndpointConfig {
        name: String::new(),
        url: String::new(),
        events: Vec::new(),
        authentication: None,
        retry_policy: RetryPolicy {
            delays_seconds: DEFAULT_RETRY_DELAYS.to_vec(),
        },
        conditions: Map::new(),
        include_fields: Vec::new(),
        batch_settings: None,
    };
    let config = apply(&body, defaults, settings.allow_http)?;
    let secret = match body.secret.as_deref().map(str::trim) {
        None => generate_secret(),
        Some(secret) if (24..=128).contains(&secret.len()) && secret.is_ascii() => secret.to_string(),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "secret",
                "secret must be 24 to 128 ASCII characters",
            ));
        }
    };
    let token = body.authentication.as_ref().map(validate_token).transpose()?;
    let now = rfc3339(services.clock.now());
    let endpoint = Endpoint {
        org_id: caller.org_id.clone(),
        endpoint_id: format!("wh_{}", crate::ids::random_base32(20)),
        config,
        status: "active".to_string(),
        disabled_reason: None,
        sealed_secret: settings.secrets.seal(&secret),
        sealed_previous_secret: None,
        previous_secret_until: None,
        sealed_token: token.map(|t| settings.secrets.seal(t)),
        failing_since: None,
        created_at: now.clone(),
        updated_at: now,
        stats: DeliveryStats::default(),
    };
    services.store.create_endpoint(&endpoint).await?;
    tracing::info!(org_id = %caller.org_id, endpoint_id = %endpoint.endpoint_id, "webhook endpoint created");
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedEndpoint {
            success: true,
            secret,
            webhook: endpoint.into(),
        },
    ))
}

/// List endpoints with their delivery statistics.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = EndpointList), (status = "4XX", body = ErrorBody)))]
async fn list(services: &Services, caller: Caller) -> Result<Response<Body>, ApiError> {
    let endpoints = services.store.list_endpoints(&caller.org_id).await?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointList {
            success: true,
            webhooks: endpoints.into_iter().map(Into::into).collect(),
        },
    ))
}

/// One endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody)))]
async fn get(services: &Services, caller: Caller, id: &str) -> Result<Response<Body>, ApiError> {
    let endpoint = find_endpoint(services, &caller, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointResponse {
            success: true,
            webhook: endpoint.into(),
        },
    ))
}

/// Change an endpoint: only the fields sent change. `"authentication": null` removes the token;
/// `"status": "active"` re-enables a disabled endpoint.
#[utoipa::path(put, path = "/api/v1/webhooks/{id}", tag = "Outbound webhooks", request_body = EndpointRequest,
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EndpointResponse), (status = "4XX", body = ErrorBody)))]
async fn update(
    services: &Services,
    settings: &WebhookSettings,
    request: &Request,
    caller: Caller,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let (body, raw) = parse_request(request)?;
    if body.secret.is_some() {
        return Err(ApiError::invalid_input(
            "secret",
            "change the secret with POST /api/v1/webhooks/{id}/rotate-secret",
        ));
    }
    let current = find_endpoint(services, &caller, id).await?;
    let mut config = apply(&body, current.config, settings.allow_http)?;
    let token = match (&body.authentication, raw.get("authentication")) {
        (Some(authentication), _) => TokenChange::Set(validate_token(authentication)?),
        (None, Some(Value::Null)) => {
            config.authentication = None;
            TokenChange::Remove
        }
        _ => TokenChange::Keep,
    };
    let sealed;
    let token = match token {
        TokenChange::Set(token) => {
            sealed = settings.secrets.seal(token);
            TokenChange::Set(&sealed)
        }
        other => other,
    };
    let status = match body.status.as_deref() {
        None => current.status,
        Some(status @ ("active" | "disabled")) => status.to_string(),
        Some(_) => {
            return Err(ApiError::invalid_input(
                "status",
                "status is \"active\" or \"disabled\"",
            ));
        }
    };
    let now = rfc3339(services.clock.now());
    let updated = services
        .store
        .update_endpoint(&caller.org_id, id, &config, token, &status, &now)
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &EndpointResponse {
            success: true,
            webhook: updated.into(),
        },
    ))
}

/// Delete an endpoint: nothing more is delivered to it.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "Outbound webhooks", security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, description = "Deleted"), (status = "4XX", body = ErrorBody)))]
async fn delete(services: &Services, caller: Caller, id: &str) -> Result<Response<Body>, ApiError> {
    if !services.store.delete_endpoint(&caller.org_id, id).await? {
        return Err(not_found());
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"success": true, "id": id}),
    ))
}

/// Replace the signing secret. The previous one keeps signing beside it for the grace period
/// (a second `v1,` entry in `webhook-signature`, and `X-Hookgate-Signature-Previous`).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = RotatedSecret), (status = "4XX", body = ErrorBody)))]
async fn rotate(
    services: &Services,
    settings: &WebhookSettings,
    caller: Caller,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let now = services.clock.now();
    let until = now + time::Duration::seconds(settings.rotation_grace_seconds);
    let secret = generate_secret();
    services
        .store
        .rotate_endpoint_secret(
            &caller.org_id,
            id,
            &settings.secrets.seal(&secret),
            until.unix_timestamp(),
            &rfc3339(now),
        )
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        &RotatedSecret {
            success: true,
            secret,
            previous_secret_valid_until: rfc3339(until),
        },
    ))
}

/// Delivery log: one entry per delivery with its latest attempt, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/logs", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path), LogParams),
    responses((status = 200, body = LogPage), (status = "4XX", body = ErrorBody)))]
async fn logs(services: &Services, request: &Request, caller: Caller, id: &str) -> Result<Response<Body>, ApiError> {
    find_endpoint(services, &caller, id).await?;
    let limit = match query_parameter(request, "limit") {
        None => 20,
        Some(text) => text
            .parse()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit must be 1 to 100"))?,
    };
    let start = match query_parameter(request, "cursor") {
        None => None,
        Some(cursor) => Some(
            crate::store::deliveries::decode_cursor(&caller.org_id, id, &cursor)
                .ok_or_else(|| ApiError::bad_request("invalid cursor"))?,
        ),
    };
    let page = services.store.list_deliveries(&caller.org_id, id, limit, start).await?;
    let logs = page
        .deliveries
        .into_iter()
        .map(|d| LogEntry {
            timestamp: d.last_attempt.as_ref().map(|a| a.at.clone()).unwrap_or(d.updated_at),
            response_code: d.last_attempt.as_ref().and_then(|a| a.response_code),
            response_time_ms: d.last_attempt.as_ref().map(|a| a.response_time_ms),
            status: if d.status == "succeeded" {
                "success".to_string()
            } else {
                d.status
            },
            next_attempt_at: d
                .next_attempt_at
                .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
                .map(rfc3339),
            id: d.delivery_id,
            event: d.event,
            attempts: d.attempts,
            payload_size: d.payload_size,
            last_attempt: d.last_attempt,
        })
        .collect();
    let next_cursor = page.next.as_ref().map(crate::store::deliveries::encode_cursor);
    Ok(json_response(
        StatusCode::OK,
        &LogPage {
            success: true,
            logs,
            next_cursor,
        },
    ))
}

/// Delivery statistics of one endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/stats", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EndpointStats), (status = "4XX", body = ErrorBody)))]
async fn stats(services: &Services, caller: Caller, id: &str) -> Result<Response<Body>, ApiError> {
    let endpoint = find_endpoint(services, &caller, id).await?;
    let finished = endpoint.stats.successful_deliveries + endpoint.stats.failed_deliveries;
    let success_rate = (finished > 0).then(|| endpoint.stats.successful_deliveries as f64 / finished as f64);
    let failing_since = endpoint
        .failing_since
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .map(rfc3339);
    Ok(json_response(
        StatusCode::OK,
        &EndpointStats {
            success: true,
            webhook_id: endpoint.endpoint_id,
            status: endpoint.status,
            stats: endpoint.stats,
            success_rate,
            failing_since,
        },
    ))
}
