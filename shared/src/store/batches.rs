//! Events waiting to be delivered together to an endpoint with `batch_settings`, in the
//! endpoint's batch partition `PK = ORG#<org>#ENDPOINT#<id>#BATCH`:
//! - `SK = EVENT#<ulid>`: one buffered event (its JSON in `event`), oldest first; `TTL` drops
//!   what an endpoint deleted meanwhile leaves behind.
//! - `SK = WINDOW`: `pending` counts buffered events (so that the event that opens a window and
//!   the one that fills it are each seen by exactly one writer); `flushing_until` is the lease
//!   of the flush in progress, so that two flushes never send the same events.
//!
//! Access patterns: buffer = `PutItem` + `UpdateItem ADD pending`; flush = conditional
//! `UpdateItem` (lease), `Query` of the oldest events, `BatchWriteItem` deletes, `UpdateItem`
//! subtracting what was taken and releasing the lease.

use super::dynamodb::Operation;
use super::dynamodb::ReturnValue;

use super::endpoints::endpoint_pk;
use super::{
    Item, PK, SK, Store, StoreError, TTL, get_n, get_s, n, s, store_error, unless_condition_failed, update_or_refused,
};

/// One event waiting in a batching endpoint's buffer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchedEvent {
    /// A ULID: buffered events sort by it.
    pub id: String,
    pub event: String,
    pub timestamp: String,
    pub data: serde_json::Value,
}

/// How long a buffered event is kept when no flush takes it (its endpoint was deleted).
const BUFFER_RETENTION_SECONDS: i64 = 7 * 24 * 3600;

fn batch_pk(org_id: &str, endpoint_id: &str) -> String {
    format!("{}#BATCH", endpoint_pk(org_id, endpoint_id))
}

/// A buffered event and its sort key (the handle to remove it once sent).
pub struct BufferedEvent {
    pub sort_key: String,
    pub event: BatchedEvent,
}

impl Store {
    /// An update of the batch window item of an endpoint's batch partition `pk`.
    fn update_window(&self, pk: String) -> Operation {
        self.update_item(pk, "WINDOW")
    }

    /// Buffers an event for a batching endpoint; returns how many are pending with it.
    pub async fn buffer_batched_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event: &BatchedEvent,
        now_epoch: i64,
    ) -> Result<i64, StoreError> {
        let pk = batch_pk(org_id, endpoint_id);
        let json = serde_json::to_string(event).map_err(|e| StoreError::Rejected(e.to_string()))?;
        self.put_item(Item::from([
            (PK.to_string(), s(&pk)),
            (SK.to_string(), s(format!("EVENT#{}", event.id))),
            ("event".to_string(), s(json)),
            (TTL.to_string(), n(now_epoch + BUFFER_RETENTION_SECONDS)),
        ]))
        .await?;
        let output = self
            .update_window(pk)
            .update_expression("ADD pending :one")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.attributes().and_then(|a| get_n(a, "pending")).unwrap_or(1))
    }

    /// Takes back an event whose flush could not be scheduled.
    pub async fn unbuffer_batched_event(
        &self,
        org_id: &str,
        endpoint_id: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        let pk = batch_pk(org_id, endpoint_id);
        self.delete_item(pk.clone(), &format!("EVENT#{event_id}"))
            .send()
            .await
            .map_err(store_error)?;
        self.update_window(pk)
            .update_expression("ADD pending :minus")
            .expression_attribute_values(":minus", n(-1))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Takes the flush lease until `until_ms`; `Err(held_until)` when another flush holds it.
    pub async fn lease_batch_flush(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Result<(), i64>, StoreError> {
        let request = self
            .update_window(batch_pk(org_id, endpoint_id))
            .condition_expression("attribute_not_exists(flushing_until) OR flushing_until < :now")
            .update_expression("SET flushing_until = :until")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":until", n(until_ms));
        Ok(match update_or_refused(request).await? {
            Ok(_) => Ok(()),
            Err(held) => Err(held
                .as_ref()
                .and_then(|item| get_n(item, "flushing_until"))
                .unwrap_or(until_ms)),
        })
    }

    /// The oldest buffered events, at most `limit`.
    pub async fn buffered_events(
        &self,
        org_id: &str,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<BufferedEvent>, StoreError> {
        let output = self
            .query_prefix(batch_pk(org_id, endpoint_id), "EVENT#")
            .limit(limit.clamp(1, 1000) as i32)
            // A flush must see every event counted before it.
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        Ok(output
            .items()
            .iter()
            .filter_map(|item| {
                Some(BufferedEvent {
                    sort_key: get_s(item, SK)?.to_string(),
                    event: serde_json::from_str(get_s(item, "event")?).ok()?,
                })
            })
            .collect())
    }

    /// Removes the events a flush sent, releases its lease and returns how many are still pending.
    pub async fn complete_batch_flush(
        &self,
        org_id: &str,
        endpoint_id: &str,
        sent: &[String],
    ) -> Result<i64, StoreError> {
        let pk = batch_pk(org_id, endpoint_id);
        self.delete_keys(sent.iter().map(|sort_key| super::key(pk.clone(), sort_key)).collect())
            .await?;
        let window = self.update_window(pk);
        if sent.is_empty() {
            // Nothing was buffered, so nothing is pending whatever the count said.
            window
                .update_expression("SET pending = :zero REMOVE flushing_until")
                .expression_attribute_values(":zero", n(0))
                .send()
                .await
                .map_err(store_error)?;
            return Ok(0);
        }
        let output = window
            .clone()
            .update_expression("ADD pending :taken REMOVE flushing_until")
            .expression_attribute_values(":taken", n(-(sent.len() as i64)))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(store_error)?;
        let pending: i64 = output.attributes().and_then(|a| get_n(a, "pending")).unwrap_or(0);
        if pending < 0 {
            // An event buffered by a writer that stopped before counting it was sent with this
            // batch: without this the next event would not open a window.
            let reset = window
                .update_expression("SET pending = :zero")
                .condition_expression("pending < :zero")
                .expression_attribute_values(":zero", n(0))
                .send()
                .await;
            unless_condition_failed(reset)?;
        }
        Ok(pending.max(0))
    }

    /// Releases a flush lease without taking anything (the flush could not send).
    pub async fn abandon_batch_flush(&self, org_id: &str, endpoint_id: &str) -> Result<(), StoreError> {
        self.update_window(batch_pk(org_id, endpoint_id))
            .update_expression("REMOVE flushing_until")
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
