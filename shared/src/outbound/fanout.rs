//! Fan-out: an event that happened becomes one SQS message per endpoint that subscribes to it
//! and whose conditions its data satisfies, or an entry in a batching endpoint's buffer.

use serde_json::Value;

use super::message::{BatchedEvent, DeliveryMessage};
use super::queue::DeliveryQueue;
use super::{catalog, matching};
use crate::aws::sqs::Sqs;
use crate::cache::TtlCache;
use crate::error::ApiError;
use crate::store::Store;
use crate::store::endpoints::Endpoint;

/// Each organization's endpoints as last read, for the fan-out.
pub type EndpointCache = TtlCache<Vec<Endpoint>>;

/// Where events go: the queue, and the endpoints to match them against.
pub struct Publisher {
    pub queue: DeliveryQueue,
    pub cache: EndpointCache,
}

impl Publisher {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            queue: DeliveryQueue::from_env(&Sqs::from_config(config)?)?,
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
    let endpoints = publisher
        .cache
        .get_or_load(org_id, || store.list_endpoints(org_id))
        .await?;
    let (batching, immediate): (Vec<&Endpoint>, Vec<&Endpoint>) = endpoints
        .iter()
        .filter(|e| e.status == "active" && catalog::subscribed(&e.config.events, event))
        .filter(|e| matching::conditions_match(&e.config.conditions, data))
        .partition(|e| e.config.batch_settings.is_some());
    let messages: Vec<DeliveryMessage> = immediate
        .iter()
        .map(|e| DeliveryMessage::new(e, event, timestamp, data.clone()))
        .collect();
    publisher.queue.enqueue(&messages).await?;
    for endpoint in batching {
        buffer(store, &publisher.queue, endpoint, event, timestamp, data).await?;
    }
    Ok(messages.into_iter().map(|m| m.delivery_id).collect())
}

/// Adds an event to a batching endpoint's buffer, and queues its flush when this event opens
/// the buffer (due after `max_wait_seconds`) or fills it (due now).
async fn buffer(
    store: &Store,
    queue: &DeliveryQueue,
    endpoint: &Endpoint,
    event: &str,
    timestamp: &str,
    data: &Value,
) -> Result<(), ApiError> {
    let Some(settings) = endpoint.config.batch_settings else {
        return Ok(());
    };
    let now_ms = crate::clock::epoch_ms(time::OffsetDateTime::now_utc());
    let batched = BatchedEvent {
        id: crate::ids::new_ulid(),
        event: event.to_string(),
        timestamp: timestamp.to_string(),
        data: data.clone(),
    };
    let pending = store
        .buffer_batched_event(&endpoint.org_id, &endpoint.endpoint_id, &batched, now_ms / 1000)
        .await?;
    let delay = if pending == i64::from(settings.max_events) {
        Some(0)
    } else if pending == 1 {
        Some(settings.max_wait_seconds)
    } else {
        None
    };
    if let Some(delay) = delay
        && let Err(error) = queue
            .schedule_flush(&endpoint.org_id, &endpoint.endpoint_id, now_ms, delay)
            .await
    {
        // Unbuffered again, so that the caller's retry opens (or fills) the window anew
        // instead of leaving it without a flush.
        if let Err(e) = store
            .unbuffer_batched_event(&endpoint.org_id, &endpoint.endpoint_id, &batched.id)
            .await
        {
            tracing::error!(error = ?e, "taking back a buffered event");
        }
        return Err(error);
    }
    Ok(())
}
