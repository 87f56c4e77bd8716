//! Outbound events: an event that happened is fanned out as one SQS message per endpoint that
//! subscribes to it and whose conditions its data satisfies. The delivery worker does the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;
use crate::store::Store;
use crate::store::endpoints::Endpoint;
use crate::webhooks::{events, matching};

/// One delivery to one endpoint: the SQS message body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub org_id: String,
    pub endpoint_id: String,
    /// Also the Standard Webhooks `webhook-id`: the same across retries.
    pub delivery_id: String,
    pub event: String,
    /// When the event happened (RFC 3339).
    pub timestamp: String,
    pub data: Value,
}

impl DeliveryMessage {
    pub fn new(endpoint: &Endpoint, event: &str, timestamp: &str, data: Value) -> Self {
        Self {
            org_id: endpoint.org_id.clone(),
            endpoint_id: endpoint.endpoint_id.clone(),
            delivery_id: format!("msg_{}", crate::ids::new_ulid()),
            event: event.to_string(),
            timestamp: timestamp.to_string(),
            data,
        }
    }
}

/// The delivery queue, built once per container.
#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeliveryQueue {
    /// Sends the messages, ten per request (SQS's batch size).
    pub async fn enqueue(&self, messages: &[DeliveryMessage]) -> Result<(), ApiError> {
        for chunk in messages.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, message)| {
                    let body = serde_json::to_string(message).map_err(|_| ApiError::internal())?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(|_| ApiError::internal())
                })
                .collect::<Result<Vec<_>, _>>()?;
            let output = self
                .sqs
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "enqueueing deliveries");
                    ApiError::internal()
                })?;
            if !output.failed().is_empty() {
                tracing::error!(failed = ?output.failed(), "SQS refused deliveries");
                return Err(ApiError::internal());
            }
        }
        Ok(())
    }
}

/// When an organization's endpoints were read, and what they were.
type CachedEndpoints = (Instant, Arc<Vec<Endpoint>>);

/// Each organization's endpoints as last read, so that ingest does not query them on every
/// request: a change to an endpoint reaches the fan-out within `ttl` (0 disables the cache).
pub struct EndpointCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, CachedEndpoints>>,
}

impl EndpointCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `ENDPOINT_CACHE_SECONDS` (default 10).
    pub fn from_env() -> Self {
        let seconds = std::env::var("ENDPOINT_CACHE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10);
        Self::new(Duration::from_secs(seconds))
    }

    async fn endpoints(&self, store: &Store, org_id: &str) -> Result<Arc<Vec<Endpoint>>, ApiError> {
        let cached = self
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(org_id).cloned());
        if let Some((_, endpoints)) = cached.filter(|(read_at, _)| read_at.elapsed() < self.ttl) {
            return Ok(endpoints);
        }
        let endpoints = Arc::new(store.list_endpoints(org_id).await?);
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.lock()
        {
            entries.insert(org_id.to_string(), (Instant::now(), endpoints.clone()));
        }
        Ok(endpoints)
    }
}

/// Where events go: the queue, and the endpoints to match them against.
pub struct Publisher {
    pub queue: DeliveryQueue,
    pub cache: EndpointCache,
}

impl Publisher {
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            queue: DeliveryQueue {
                sqs: aws_sdk_sqs::Client::new(config),
                queue_url: crate::runtime::required_env("DELIVERY_QUEUE_URL")?,
            },
            cache: EndpointCache::from_env(),
        })
    }
}

/// Fans an event out to the organization's matching, active endpoints; returns the delivery ids.
pub async fn publish(
    store: &Store,
    publisher: &Publisher,
    org_id: &str,
    event: &str,
    timestamp: &str,
    data: &Value,
) -> Result<Vec<String>, ApiError> {
    let endpoints = publisher.cache.endpoints(store, org_id).await?;
    let messages: Vec<DeliveryMessage> = endpoints
        .iter()
        .filter(|e| e.status == "active" && events::subscribed(&e.config.events, event))
        .filter(|e| matching::conditions_match(&e.config.conditions, data))
        .map(|e| DeliveryMessage::new(e, event, timestamp, data.clone()))
        .collect();
    publisher.queue.enqueue(&messages).await?;
    Ok(messages.into_iter().map(|m| m.delivery_id).collect())
}
