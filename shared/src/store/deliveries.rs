//! Deliveries of outbound events: `PK = ORG#<org>#DELIVERY#<id>`, `SK = DELIVERY`, listed per
//! endpoint, newest first, through `GSI1PK = ORG#<org>#ENDPOINT#<endpoint>#DELIVERIES`,
//! `GSI1SK = <id>` (ids are ULIDs, so they sort by time). Written by the delivery worker after
//! each attempt; expire through `TTL` after [`DELIVERY_RETENTION_SECONDS`].

use std::collections::HashMap;

use super::dynamodb::AttributeValueExt;
use super::dynamodb::{AttributeValue, Operation};
use serde::Serialize;

use super::endpoints::{Endpoint, endpoint_pk};
use super::{Item, Store, StoreError, get_n, get_s, n, newest_first, org_prefix, query_all, s, send_write};

pub const DELIVERY_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

fn delivery_pk(org_id: &str, delivery_id: &str) -> String {
    format!("{}#DELIVERY#{delivery_id}", org_prefix(org_id))
}

pub(crate) fn deliveries_index_pk(org_id: &str, endpoint_id: &str) -> String {
    format!("{}#DELIVERIES", endpoint_pk(org_id, endpoint_id))
}

/// The outcome of one attempt, as logged.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: String,
    /// The receiver's status code; absent when no response came.
    pub response_code: Option<u16>,
    pub response_time_ms: u64,
    pub error: Option<String>,
    /// The first 4 KB of the receiver's answer (as text, invalid UTF-8 replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// A delivery's state after an attempt.
pub struct DeliveryUpdate<'a> {
    pub org_id: &'a str,
    pub endpoint_id: &'a str,
    pub delivery_id: &'a str,
    pub event: &'a str,
    /// `succeeded`, `retrying` or `failed`.
    pub status: &'a str,
    pub attempts: u32,
    /// Epoch milliseconds of the next attempt, when retrying.
    pub next_attempt_at: Option<i64>,
    pub payload_size: usize,
    pub attempt: &'a Attempt,
    /// Kept on a final failure so that the delivery can be recovered later.
    pub message_body: Option<&'a str>,
    pub now: &'a str,
    pub now_epoch: i64,
}

/// A delivery as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub event: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<i64>,
    pub payload_size: u64,
    pub last_attempt: Option<Attempt>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<Attempt>,
    pub message_body: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn attempt_value(attempt: &Attempt) -> AttributeValue {
    let mut map = HashMap::from([
        ("at".to_string(), s(&attempt.at)),
        ("ms".to_string(), n(attempt.response_time_ms)),
    ]);
    if let Some(code) = attempt.response_code {
        map.insert("code".to_string(), n(code));
    }
    if let Some(error) = &attempt.error {
        map.insert("error".to_string(), s(error));
    }
    if let Some(body) = &attempt.response_body {
        map.insert("body".to_string(), s(body));
    }
    AttributeValue::M(map)
}

fn attempt_from(value: &AttributeValue) -> Option<Attempt> {
    let map = value.as_m().ok()?;
    Some(Attempt {
        at: get_s(map, "at")?.to_string(),
        response_code: get_n(map, "code"),
        response_time_ms: get_n(map, "ms").unwrap_or(0),
        error: get_s(map, "error").map(str::to_string),
        response_body: get_s(map, "body").map(str::to_string),
    })
}

fn delivery_from(item: &Item) -> Option<Delivery> {
    let pk = get_s(item, super::PK)?;
    let attempt_log: Vec<Attempt> = item
        .get("attempt_log")
        .and_then(|log| log.as_l().ok())
        .map(|log| log.iter().filter_map(attempt_from).collect())
        .unwrap_or_default();
    Some(Delivery {
        delivery_id: pk.rsplit_once("#DELIVERY#")?.1.to_string(),
        endpoint_id: get_s(item, "endpoint_id")?.to_string(),
        event: get_s(item, "event").unwrap_or_default().to_string(),
        status: get_s(item, "status").unwrap_or_default().to_string(),
        attempts: get_n(item, "attempts").unwrap_or(0),
        next_attempt_at: get_n(item, "next_attempt_at"),
        payload_size: get_n(item, "payload_size").unwrap_or(0),
        last_attempt: attempt_log.last().cloned(),
        attempt_log,
        message_body: get_s(item, "message_body").map(str::to_string),
        created_at: get_s(item, "created_at").unwrap_or_default().to_string(),
        updated_at: get_s(item, "updated_at").unwrap_or_default().to_string(),
    })
}

/// The attributes a delivery holds after the attempt, its log being that attempt alone.
fn delivery_attributes(update: &DeliveryUpdate<'_>) -> Item {
    let mut attributes = HashMap::from([
        ("endpoint_id".to_string(), s(update.endpoint_id)),
        ("event".to_string(), s(update.event)),
        ("status".to_string(), s(update.status)),
        ("attempts".to_string(), n(update.attempts)),
        ("payload_size".to_string(), n(update.payload_size)),
        (
            "attempt_log".to_string(),
            AttributeValue::L(vec![attempt_value(update.attempt)]),
        ),
        ("updated_at".to_string(), s(update.now)),
        ("created_at".to_string(), s(update.now)),
        (
            "GSI1PK".to_string(),
            s(deliveries_index_pk(update.org_id, update.endpoint_id)),
        ),
        ("GSI1SK".to_string(), s(update.delivery_id)),
        (super::TTL.to_string(), n(update.now_epoch + DELIVERY_RETENTION_SECONDS)),
    ]);
    if let Some(at) = update.next_attempt_at {
        attributes.insert("next_attempt_at".to_string(), n(at));
    }
    if let Some(body) = update.message_body {
        attributes.insert("message_body".to_string(), s(body));
    }
    attributes
}

/// The attributes a delivery may lack (removed when an attempt does not set them).
const OPTIONAL_ATTRIBUTES: [&str; 2] = ["next_attempt_at", "message_body"];

/// The whole item of a delivery recorded for the first time: what [`delivery_update`] leaves
/// where there was no item.
pub fn new_delivery_item(update: &DeliveryUpdate<'_>) -> Item {
    let mut item = delivery_attributes(update);
    item.extend(super::key(delivery_pk(update.org_id, update.delivery_id), "DELIVERY"));
    item
}

/// The `UpdateItem` that records an attempt on the delivery item, whether or not it exists: the
/// attempt is appended to the log, and `created_at` is kept.
fn delivery_update(store: &Store, update: &DeliveryUpdate<'_>) -> Operation {
    let attributes = delivery_attributes(update);
    let mut sets = Vec::with_capacity(attributes.len());
    let mut names = HashMap::with_capacity(attributes.len() + OPTIONAL_ATTRIBUTES.len());
    let mut values = HashMap::with_capacity(attributes.len() + 1);
    let mut removals = Vec::new();
    for name in OPTIONAL_ATTRIBUTES
        .into_iter()
        .filter(|name| !attributes.contains_key(*name))
    {
        removals.push(format!("#{name}"));
        names.insert(format!("#{name}"), name.to_string());
    }
    for (name, value) in attributes {
        sets.push(match name.as_str() {
            // The delivery's attempts are bounded by its retry policy (at most 9) and its
            // redrives, each under 5 KB.
            "attempt_log" => format!("#{name} = list_append(if_not_exists(#{name}, :no_attempts), :{name})"),
            "created_at" => format!("#{name} = if_not_exists(#{name}, :{name})"),
            _ => format!("#{name} = :{name}"),
        });
        values.insert(format!(":{name}"), value);
        names.insert(format!("#{name}"), name);
    }
    values.insert(":no_attempts".to_string(), AttributeValue::L(Vec::new()));
    // Sorted, so that the same attempt always makes the same request.
    sets.sort_unstable();
    let mut expression = format!("SET {}", sets.join(", "));
    if !removals.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removals.join(", ")));
    }
    store
        .update_item(delivery_pk(update.org_id, update.delivery_id), "DELIVERY")
        .update_expression(expression)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
}

pub use super::encode_cursor;

/// Page of an endpoint's delivery log.
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next: Option<Item>,
}

impl Store {
    /// Records an attempt on the delivery.
    pub async fn record_delivery(&self, update: &DeliveryUpdate<'_>) -> Result<(), StoreError> {
        send_write(delivery_update(self, update)).await
    }

    /// Records the first attempt of deliveries that had no item when read ([`new_delivery_item`]),
    /// 25 to a `BatchWriteItem`, which has no conditions: each item is written whole, so one
    /// stored since the read is replaced.
    pub async fn record_new_deliveries(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.put_items(items).await
    }

    /// The deliveries stored under `keys` (organization, delivery id), by delivery id, as last
    /// written; absent ones are left out.
    pub async fn deliveries_by_id(&self, keys: &[(&str, &str)]) -> Result<HashMap<String, Delivery>, StoreError> {
        let mut item_keys: Vec<Item> = Vec::with_capacity(keys.len());
        for (org_id, delivery_id) in keys {
            let key = super::key(delivery_pk(org_id, delivery_id), "DELIVERY");
            // BatchGetItem refuses a key asked for twice.
            if !item_keys.contains(&key) {
                item_keys.push(key);
            }
        }
        let reads = item_keys
            .chunks(100)
            .map(|chunk| self.batch_get_consistent(chunk.to_vec()));
        let found = futures_util::future::try_join_all(reads).await?;
        Ok(found
            .iter()
            .flatten()
            .filter_map(delivery_from)
            .map(|delivery| (delivery.delivery_id.clone(), delivery))
            .collect())
    }

    /// Opens a failed delivery again once its message is back on the delivery queue (a redrive
    /// or a recovery): `retrying`, no attempts made on its fresh schedule. Without it, a second
    /// receive of the message (its first new attempt cut short) would read `failed` and
    /// dead-letter it unsent. Only a `failed` delivery changes, so a worker that has already
    /// attempted it again is never overwritten.
    pub async fn reopen_failed_delivery(&self, org_id: &str, delivery_id: &str, now: &str) -> Result<(), StoreError> {
        let result = self
            .update_item(delivery_pk(org_id, delivery_id), "DELIVERY")
            .condition_expression("#status = :failed")
            .update_expression("SET #status = :retrying, attempts = :zero, updated_at = :now REMOVE next_attempt_at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":retrying", s("retrying"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", s(now))
            .send()
            .await;
        super::unless_condition_failed(result)?;
        Ok(())
    }

    pub async fn get_delivery(&self, org_id: &str, delivery_id: &str) -> Result<Option<Delivery>, StoreError> {
        let item = self
            .get_item_consistent(delivery_pk(org_id, delivery_id), "DELIVERY")
            .await?;
        Ok(item.as_ref().and_then(delivery_from))
    }

    /// An endpoint's deliveries, newest first.
    pub async fn list_deliveries(
        &self,
        org_id: &str,
        endpoint_id: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<DeliveryPage, StoreError> {
        let output = newest_first(self.query_index(deliveries_index_pk(org_id, endpoint_id)), limit, start).await?;
        Ok(DeliveryPage {
            deliveries: output.items().iter().filter_map(delivery_from).collect(),
            next: output.last_evaluated_key,
        })
    }

    /// Every failed delivery of an endpoint whose id (a ULID) is at or after `since` (a ULID).
    pub async fn failed_deliveries_since(&self, endpoint: &Endpoint, since: &str) -> Result<Vec<Delivery>, StoreError> {
        let index_pk = deliveries_index_pk(&endpoint.org_id, &endpoint.endpoint_id);
        let query = self
            .query_index_where(index_pk, "GSI1SK >= :since")
            .filter_expression("#status = :failed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":since", s(since))
            .expression_attribute_values(":failed", s("failed"));
        Ok(query_all(query).await?.iter().filter_map(delivery_from).collect())
    }
}
