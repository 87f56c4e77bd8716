//! The rules of an endpoint request, applied onto a new endpoint's defaults or the stored settings.

use serde_json::Map;

use super::WebhookSettings;
use super::model::{Authentication, EndpointRequest, RetryPolicyRequest};
use crate::error::ApiError;
use crate::outbound::schedule::{self, BACKOFF_MULTIPLIERS, DEFAULT_RETRY_DELAYS, MAX_RETRIES};
use crate::outbound::{catalog, matching};
use crate::store::endpoints::{BatchSettings, EndpointConfig, RetryPolicy, SignatureStyle};

const MAX_BATCH_EVENTS: u32 = 100;
const MAX_BATCH_WAIT_SECONDS: u64 = 3600;
const MAX_URL_CHARS: usize = 2048;

/// A new endpoint's settings before the request's are applied.
pub(super) fn defaults() -> EndpointConfig {
    EndpointConfig {
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
        signature_style: SignatureStyle::default(),
    }
}

fn validate_url(url: &str, settings: &WebhookSettings) -> Result<String, ApiError> {
    // The URL parser would percent-encode them: a NUL or a line break is no one's address.
    if url.chars().any(char::is_control) {
        return Err(ApiError::invalid_input("url", "url contains control characters"));
    }
    let parsed =
        url::Url::parse(url.trim()).map_err(|e| ApiError::invalid_input("url", format!("url is not a URL: {e}")))?;
    let scheme_ok = parsed.scheme() == "https" || (settings.allow_http && parsed.scheme() == "http");
    if !scheme_ok {
        return Err(ApiError::invalid_input("url", "url must use https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::invalid_input("url", "url needs a host and no credentials"));
    }
    // A literal address is judged now; a name is judged when the delivery resolves it.
    let literal = match parsed.host() {
        Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
        _ => None,
    };
    if literal.is_some_and(|address| !settings.destinations.permits(address)) {
        return Err(ApiError::invalid_input(
            "url",
            "url is a private, loopback, link-local or metadata address: deliveries there are refused",
        ));
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
    if events.len() > catalog::EVENT_TYPES.len() + 1 {
        return Err(ApiError::invalid_input(
            "events",
            format!(
                "an endpoint subscribes to at most {} events",
                catalog::EVENT_TYPES.len() + 1
            ),
        ));
    }
    if let Some(unknown) = events.iter().find(|e| !catalog::is_known(e)) {
        let known: Vec<&str> = catalog::EVENT_TYPES.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::invalid_input(
            "events",
            format!("unknown event {unknown:?}; known: {}", known.join(", ")),
        ));
    }
    if !crate::http::all_distinct(events) {
        return Err(ApiError::invalid_input("events", "name each event once"));
    }
    let mut events = events.to_vec();
    events.sort();
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
    if policy
        .backoff_multiplier
        .is_some_and(|factor| !BACKOFF_MULTIPLIERS.contains(&factor))
    {
        return Err(ApiError::invalid_input(
            "retry_policy.backoff_multiplier",
            "backoff_multiplier must be from 1 to 10",
        ));
    }
    Ok(schedule::retry_delays(retries, policy.backoff_multiplier))
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

pub(super) fn validate_token(authentication: &Authentication) -> Result<&str, ApiError> {
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
pub(super) fn apply(
    request: &EndpointRequest,
    mut config: EndpointConfig,
    settings: &WebhookSettings,
) -> Result<EndpointConfig, ApiError> {
    if let Some(batch_settings) = request.batch_settings {
        config.batch_settings = batch_settings.map(validate_batch_settings).transpose()?;
    }
    if let Some(name) = &request.name {
        config.name = validate_name(name)?;
    }
    if let Some(url) = &request.url {
        config.url = validate_url(url, settings)?;
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
    if let Some(style) = request.signature_style {
        config.signature_style = style;
    }
    match &request.authentication {
        Some(Some(authentication)) => {
            validate_token(authentication)?;
            config.authentication = Some("bearer".to_string());
        }
        Some(None) => config.authentication = None,
        None => {}
    }
    Ok(config)
}
