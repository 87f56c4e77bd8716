//! Inbound webhooks from commerce providers (Shopify, Stripe, Amazon via SNS): verified on the
//! raw bytes, matched to an organization through its integration, deduplicated, written to the
//! same store `/api/webhook` writes, and fanned out as outbound events.
//!
//! Every provider follows the same order: find the integration the request names (unknown: 401,
//! nothing stored), check the signature over the raw body and the timestamp (401), parse, claim
//! the provider's event id (seen before: 200, not processed again), process, publish.

pub mod amazon;
pub mod shopify;
pub mod sns;
pub mod stripe;

use std::future::Future;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use crate::alerts::Alerts;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::crypto::SecretBox;
use crate::error::ApiError;
use crate::http::json_response;
use crate::outbound::{Publisher, publish};
use crate::runtime::{Error, required_env};
use crate::store::Store;
use crate::store::inbound::Claim;
use crate::store::integrations::Integration;

/// Largest provider webhook accepted (Shopify orders with many lines run to hundreds of KB).
pub const MAX_PROVIDER_BODY_BYTES: usize = 1024 * 1024;

/// What the provider webhook functions need, built once per container.
pub struct InboundServices {
    pub store: Store,
    /// Opens the integrations' sealed secrets.
    pub secrets: SecretBox,
    pub publisher: Publisher,
    pub alerts: Alerts,
    pub clock: Arc<dyn Clock>,
}

impl InboundServices {
    pub async fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(config), required_env("TABLE_NAME")?),
            secrets: SecretBox::from_env(config).await?,
            publisher: Publisher::from_env(config)?,
            alerts: Alerts {
                sns: aws_sdk_sns::Client::new(config),
                topic_arn: required_env("ALERTS_TOPIC_ARN")?,
            },
            clock: Arc::new(SystemClock),
        })
    }
}

/// The answer to an accepted provider webhook.
#[derive(Serialize, ToSchema)]
pub struct InboundAccepted {
    pub success: bool,
    /// The provider's id of the event.
    pub event_id: String,
    /// True when this event was received before and not processed again.
    pub duplicate: bool,
}

/// What processing an inbound event produced: the outbound event to publish, if any.
pub struct Processed {
    pub event: Option<(&'static str, Value)>,
}

/// Answers a provider request (POST only) with `route`'s result or its JSON error.
pub async fn respond<Fut>(request: &Request, route: Fut) -> Response<Body>
where
    Fut: Future<Output = Result<Response<Body>, ApiError>>,
{
    if request.method() != lambda_http::http::Method::POST {
        return crate::http::error_response(&ApiError::method_not_allowed());
    }
    route.await.unwrap_or_else(|error| crate::http::error_response(&error))
}

/// The raw body, refused above [`MAX_PROVIDER_BODY_BYTES`].
pub fn raw_body(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_PROVIDER_BODY_BYTES {
        return Err(ApiError::payload_too_large(MAX_PROVIDER_BODY_BYTES));
    }
    Ok(bytes)
}

/// A request header as text.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A verified body as a JSON object (400 otherwise).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::invalid_json("the body must be a JSON object")),
        Err(e) => Err(ApiError::invalid_json(format!("the body is not valid JSON: {e}"))),
    }
}

/// HMAC-SHA256 of `message` under `secret`.
pub fn hmac_sha256(secret: &[u8], message: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    for part in message {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Compares without revealing where two values differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses a provider timestamp further than `max_age_seconds` from now (either way).
pub fn check_age(sent_at: OffsetDateTime, now: OffsetDateTime, max_age_seconds: i64) -> Result<(), ApiError> {
    if (now - sent_at).whole_seconds().abs() > max_age_seconds {
        return Err(ApiError::unauthorized(format!(
            "the webhook's timestamp is more than {max_age_seconds} seconds away from now; replays are refused"
        )));
    }
    Ok(())
}

/// An RFC 3339 timestamp, as providers send them (offsets allowed), in UTC.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Normalizes a provider timestamp to Hookgate's UTC format, so that it sorts as text.
pub fn normalized_time(text: Option<&str>) -> Option<String> {
    text.and_then(parse_time).map(rfc3339)
}

/// Opens an integration's sealed secret; an integration without one cannot verify anything.
pub fn integration_secret(services: &InboundServices, integration: &Integration) -> Result<String, ApiError> {
    integration
        .sealed_secret
        .as_deref()
        .and_then(|sealed| services.secrets.open(sealed))
        .ok_or_else(|| {
            tracing::error!(integration = %integration.integration_id, "integration secret cannot be opened");
            ApiError::internal()
        })
}

/// Claims the provider's event id, runs `process` once, publishes what it produced and answers
/// 200 (200 with `duplicate` when it was processed before, 409 while another invocation is
/// processing it). A failure releases the claim, so that the provider's retry is processed.
pub async fn process_once<F, Fut>(
    services: &InboundServices,
    integration: &Integration,
    event_id: &str,
    process: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Processed, ApiError>>,
{
    let org_id = integration.org_id.as_str();
    let provider = integration.provider.as_str();
    let now = services.clock.now();
    let at = rfc3339(now);
    let accepted = |duplicate: bool| {
        json_response(
            StatusCode::OK,
            &InboundAccepted {
                success: true,
                event_id: event_id.to_string(),
                duplicate,
            },
        )
    };
    match services
        .store
        .claim_inbound(org_id, provider, event_id, &at, now.unix_timestamp())
        .await?
    {
        Claim::Claimed => {}
        Claim::Done => return Ok(accepted(true)),
        Claim::InProgress => {
            return Err(ApiError::conflict(
                "this event is being processed by another delivery; retry later",
            ));
        }
    }
    let outcome = async {
        let processed = process().await?;
        if let Some((event, data)) = processed.event {
            publish(&services.store, &services.publisher, org_id, event, &at, &data).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = outcome {
        if let Err(e) = services.store.release_inbound(org_id, provider, event_id).await {
            tracing::error!(error = ?e, event_id, "releasing an inbound claim");
        }
        return Err(error);
    }
    // Not marked done: the claim expires and a redelivery processes the event again, which
    // the upserts make harmless.
    if let Err(e) = services.store.complete_inbound(org_id, provider, event_id).await {
        tracing::error!(error = ?e, event_id, "marking an inbound event processed");
    }
    Ok(accepted(false))
}

/// A JSON value's text, for ids that providers send as numbers or strings.
pub fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A decimal sent as text ("59.00") or a number.
pub fn decimal(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Drops null fields, so that a partial update never erases what an earlier one stored.
pub fn without_nulls(fields: Map<String, Value>) -> Map<String, Value> {
    fields.into_iter().filter(|(_, v)| !v.is_null()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn timestamps_too_far_either_way_are_refused() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert!(check_age(now - time::Duration::seconds(300), now, 300).is_ok());
        assert!(check_age(now - time::Duration::seconds(301), now, 300).is_err());
        assert!(check_age(now + time::Duration::seconds(301), now, 300).is_err());
    }
}
