//! What `/api/v1/webhooks` takes and answers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::store::deliveries::Attempt;
use crate::store::endpoints::{BatchSettings, DeliveryStats, Endpoint, SignatureStyle};

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
    #[schema(maximum = 8)]
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

// `max_retries`' `maximum` above.
const _: () = assert!(crate::outbound::schedule::MAX_RETRIES == 8);

// `events`' `max_items` below: every event type and `*`, once each.
const _: () = assert!(crate::outbound::catalog::EVENT_TYPES.len() + 1 == 53);

/// Body of `POST /api/v1/webhooks` and `PUT /api/v1/webhooks/{id}` (on PUT every field is
/// optional and only what is sent changes).
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// https (http only where the operator allows it).
    #[schema(max_length = 2048, pattern = r"^https?://[^\s/?#@]+")]
    pub url: Option<String>,
    /// Event types, or `*` for all; each once.
    #[schema(min_items = 1, max_items = 53, value_type = Option<Vec<crate::outbound::catalog::EventSubscription>>)]
    pub events: Option<Vec<String>>,
    /// Your signing secret (24 to 128 characters); generated (`whsec_...`) when absent.
    #[schema(pattern = "^[!-~]{24,128}$")]
    pub secret: Option<String>,
    /// A bearer token for your receiver; `null` on PUT removes it.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<Authentication>)]
    pub authentication: Option<Option<Authentication>>,
    pub retry_policy: Option<RetryPolicyRequest>,
    /// Deliver only when `data` matches, e.g. `{"satisfaction_score": {"lt": 3}}`.
    #[schema(value_type = Option<Object>)]
    pub conditions: Option<Map<String, Value>>,
    pub filters: Option<Filters>,
    /// Deliver events together as one signed JSON array; `null` on PUT turns batching off.
    #[serde(default, deserialize_with = "crate::http::present")]
    #[schema(value_type = Option<BatchSettings>)]
    pub batch_settings: Option<Option<BatchSettings>>,
    /// `sha256` (default: `X-Hookgate-Signature: sha256=<hex>`) or `hex` (bare hex, also as
    /// `x-confirmai-signature`, for receivers written against seed 004's code). Standard
    /// Webhooks' `webhook-signature` comes with either.
    pub signature_style: Option<SignatureStyle>,
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
    pub signature_style: SignatureStyle,
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
            signature_style: endpoint.config.signature_style,
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
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
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
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}
