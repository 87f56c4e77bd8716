//! What the delivery queue carries: one delivery to one endpoint (a single event or a batch),
//! or a request to flush a batching endpoint's buffer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::store::batches::BatchedEvent;
use crate::store::endpoints::Endpoint;

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
