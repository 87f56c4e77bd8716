//! Outbound events: an event that happened is fanned out as one SQS message per endpoint that
//! subscribes to it and whose conditions its data satisfies. The delivery worker does the rest.
//!
//! An endpoint with `batch_settings` gets no message per event: the event is buffered in the
//! store and a [`FlushMessage`] is queued when the buffer opens (delayed by `max_wait_seconds`)
//! and when it fills (at once). The worker's flush turns the buffer into batch deliveries, which
//! are then signed, retried and dead-lettered like any other.

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
    /// A batch delivery's events (its `event` is then [`BATCH_EVENT`] and `data` null).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch: Vec<BatchedEvent>,
}

/// The `event` of a batch delivery, as logged.
pub const BATCH_EVENT: &str = "batch";

/// Largest batch delivery message: SQS takes 256 KB, and the envelope adds a little.
const MAX_BATCH_MESSAGE_BYTES: usize = 200 * 1024;

/// What one SQS send request may carry in total.
const MAX_REQUEST_BYTES: usize = 256 * 1024 - 1024;

impl DeliveryMessage {
    pub fn new(endpoint: &Endpoint, event: &str, timestamp: &str, data: Value) -> Self {
        Self {
            org_id: endpoint.org_id.clone(),
            endpoint_id: endpoint.endpoint_id.clone(),
            delivery_id: format!("msg_{}", crate::ids::new_ulid()),
            event: event.to_string(),
            timestamp: timestamp.to_string(),
            data,
            batch: Vec::new(),
        }
    }

    /// Batch deliveries of `events` (oldest first), each within what one SQS message holds. A
    /// batch's id is its first event's, so a flush that is repeated sends the same ids again
    /// and receivers can deduplicate.
    pub fn batches(org_id: &str, endpoint_id: &str, timestamp: &str, events: Vec<BatchedEvent>) -> Vec<Self> {
        let mut batches: Vec<Self> = Vec::new();
        let mut bytes = 0;
        for event in events {
            let size = event.data.to_string().len() + 200;
            let start_new = match batches.last() {
                None => true,
                Some(_) => bytes + size > MAX_BATCH_MESSAGE_BYTES,
            };
            if start_new {
                bytes = 0;
                batches.push(Self {
                    org_id: org_id.to_string(),
                    endpoint_id: endpoint_id.to_string(),
                    delivery_id: String::new(),
                    event: BATCH_EVENT.to_string(),
                    timestamp: timestamp.to_string(),
                    data: Value::Null,
                    batch: Vec::new(),
                });
            }
            bytes += size;
            if let Some(batch) = batches.last_mut() {
                batch.batch.push(event);
            }
        }
        for batch in &mut batches {
            batch.delivery_id = batch_id(&batch.batch);
        }
        batches
    }
}

/// `msg_<first event's ULID>_<digest of every event id>`: sorts by time like other delivery
/// ids, is the same when a flush is repeated with the same events, and differs when a repeated
/// flush carries other events, so receivers deduplicating on `webhook-id` lose nothing.
fn batch_id(events: &[BatchedEvent]) -> String {
    use sha2::{Digest, Sha256};
    let mut digest = Sha256::new();
    for event in events {
        digest.update(event.id.as_bytes());
        digest.update(b",");
    }
    let first = events.first().map_or("", |e| e.id.as_str());
    format!("msg_{first}_{}", &hex::encode(digest.finalize())[..12])
}

/// One event waiting in a batching endpoint's buffer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchedEvent {
    /// A ULID: buffered events sort by it.
    pub id: String,
    pub event: String,
    pub timestamp: String,
    pub data: Value,
}

/// Asks the worker to deliver what a batching endpoint has buffered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlushMessage {
    pub flush_batch: FlushTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlushTarget {
    pub org_id: String,
    pub endpoint_id: String,
    /// Epoch milliseconds before which the flush waits (SQS delays at most 15 minutes).
    pub due_at_ms: i64,
}

/// What the delivery queue carries.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum QueueMessage {
    Flush(FlushMessage),
    Delivery(DeliveryMessage),
}

/// The delivery queue, built once per container.
#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl DeliveryQueue {
    /// Sends the messages, up to ten per request and within what one request may carry in
    /// total (SQS caps a batch at the size of one message).
    pub async fn enqueue(&self, messages: &[DeliveryMessage]) -> Result<(), ApiError> {
        let bodies = messages
            .iter()
            .map(|message| serde_json::to_string(message).map_err(|_| ApiError::internal()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut start = 0;
        while start < bodies.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < bodies.len()
                && end - start < 10
                && (end == start || bytes + bodies[end].len() <= MAX_REQUEST_BYTES)
            {
                bytes += bodies[end].len();
                end += 1;
            }
            self.send_batch(&bodies[start..end]).await?;
            start = end;
        }
        Ok(())
    }

    async fn send_batch(&self, bodies: &[String]) -> Result<(), ApiError> {
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| {
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
        Ok(())
    }

    /// Queues a flush of an endpoint's batch, due `delay_seconds` from now.
    pub async fn schedule_flush(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now_ms: i64,
        delay_seconds: u64,
    ) -> Result<(), ApiError> {
        let message = FlushMessage {
            flush_batch: FlushTarget {
                org_id: org_id.to_string(),
                endpoint_id: endpoint_id.to_string(),
                due_at_ms: now_ms + delay_seconds as i64 * 1000,
            },
        };
        let body = serde_json::to_string(&message).map_err(|_| ApiError::internal())?;
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay_seconds.min(MAX_SQS_DELAY_SECONDS) as i32)
            .send()
            .await
            .map_err(|e| {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "scheduling a batch flush");
                ApiError::internal()
            })?;
        Ok(())
    }
}

/// The longest SQS delays a message it is sent.
const MAX_SQS_DELAY_SECONDS: u64 = 900;

/// Values read from the store, kept for `ttl` per container so that hot paths do not read
/// them on every request: a change reaches them within `ttl` (0 disables the cache).
pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<V>)>>,
}

impl<V> TtlCache<V> {
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

    /// The cached value of `key`, or `load`'s, cached.
    pub async fn get_or_load<F, Fut, E>(&self, key: &str, load: F) -> Result<Arc<V>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let cached = self.entries.lock().ok().and_then(|entries| entries.get(key).cloned());
        if let Some((_, value)) = cached.filter(|(read_at, _)| read_at.elapsed() < self.ttl) {
            return Ok(value);
        }
        let value = Arc::new(load().await?);
        if !self.ttl.is_zero()
            && let Ok(mut entries) = self.entries.lock()
        {
            entries.insert(key.to_string(), (Instant::now(), value.clone()));
        }
        Ok(value)
    }
}

/// Each organization's endpoints as last read, for the fan-out.
pub type EndpointCache = TtlCache<Vec<Endpoint>>;

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
    let endpoints = publisher
        .cache
        .get_or_load(org_id, || store.list_endpoints(org_id))
        .await?;
    let (batching, immediate): (Vec<&Endpoint>, Vec<&Endpoint>) = endpoints
        .iter()
        .filter(|e| e.status == "active" && events::subscribed(&e.config.events, event))
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
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, data: Value) -> BatchedEvent {
        BatchedEvent {
            id: id.to_string(),
            event: "order.upserted".to_string(),
            timestamp: "2026-01-15T10:30:00Z".to_string(),
            data,
        }
    }

    #[test]
    fn a_batch_is_named_by_its_events_and_keeps_their_order() {
        let events = vec![event("01A", Value::from(1)), event("01B", Value::from(2))];
        let batches = DeliveryMessage::batches("org", "ep", "2026-01-15T10:35:00Z", events.clone());
        assert_eq!(batches.len(), 1);
        assert!(batches[0].delivery_id.starts_with("msg_01A_"));
        let fewer = DeliveryMessage::batches("org", "ep", "t", events[..1].to_vec());
        assert_ne!(fewer[0].delivery_id, batches[0].delivery_id, "other content, other id");
        assert_eq!(batches[0].event, BATCH_EVENT);
        assert_eq!(batches[0].batch, events);
    }

    #[test]
    fn batches_are_split_to_fit_a_queue_message() {
        let big = Value::String("x".repeat(90 * 1024));
        let events: Vec<BatchedEvent> = (0..5).map(|i| event(&format!("01{i}"), big.clone())).collect();
        let batches = DeliveryMessage::batches("org", "ep", "2026-01-15T10:35:00Z", events);
        let sizes: Vec<usize> = batches.iter().map(|b| b.batch.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        for batch in &batches {
            assert!(serde_json::to_vec(batch).unwrap().len() < 256 * 1024);
        }
        assert!(batches[1].delivery_id.starts_with("msg_012_"));
    }

    #[test]
    fn the_queue_tells_flushes_from_deliveries() {
        let flush = r#"{"flush_batch": {"org_id": "o", "endpoint_id": "e", "due_at_ms": 5}}"#;
        assert!(matches!(serde_json::from_str(flush), Ok(QueueMessage::Flush(_))));
        let delivery = r#"{"org_id": "o", "endpoint_id": "e", "delivery_id": "msg_1", "event": "webhook.test", "timestamp": "t", "data": {}}"#;
        assert!(matches!(serde_json::from_str(delivery), Ok(QueueMessage::Delivery(m)) if m.batch.is_empty()));
    }
}
