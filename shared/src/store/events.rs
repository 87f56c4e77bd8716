//! Merchant events (`{"type": "event", "event": "shipping_delay", "data": {...}}`): the event
//! itself, and a copy in the partition of each order it affects, written in one transaction.

use serde_json::Value;

use super::orders::order_pk;
use super::{Item, PK, SK, Store, StoreError, get_s, org_prefix, s, send_write, store_error, written_attribute};

/// Most orders one event may name: DynamoDB transactions hold at most 100 items, one of which
/// is the event itself.
pub const MAX_AFFECTED_ORDERS: usize = 99;

/// DynamoDB's cap on the total size of one transaction (4 MB), less headroom for keys.
pub const MAX_TRANSACTION_BYTES: usize = 4_000_000 - 64 * 1024;

/// An event as seen from an order it affects.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    pub event_id: String,
    pub event: String,
    pub data: Value,
    pub received_at: String,
}

impl OrderEvent {
    pub(crate) fn from_item(item: Item) -> Result<Option<Self>, StoreError> {
        let (Some(event_id), Some(event), Some(received_at)) = (
            get_s(&item, "event_id"),
            get_s(&item, "event"),
            get_s(&item, "received_at"),
        ) else {
            return Ok(None);
        };
        let data = match item.get("data") {
            Some(value) => serde_dynamo::from_attribute_value(value.clone())
                .map_err(|e| StoreError::Unavailable(format!("unreadable event data: {e}")))?,
            None => Value::Null,
        };
        Ok(Some(Self {
            event_id: event_id.to_string(),
            event: event.to_string(),
            data,
            received_at: received_at.to_string(),
        }))
    }
}

/// A merchant event to record.
pub struct NewEvent<'a> {
    pub event_id: &'a str,
    pub event: &'a str,
    pub data: &'a Value,
    pub affected_orders: &'a [String],
    pub received_at: &'a str,
}

impl Store {
    /// Records the event and links it to every affected order, all or nothing.
    pub async fn record_event(&self, org_id: &str, new: &NewEvent<'_>) -> Result<(), StoreError> {
        let data = written_attribute(new.data)?;
        let body = Item::from([
            ("ENTITY".to_string(), s("event")),
            ("event_id".to_string(), s(new.event_id)),
            ("event".to_string(), s(new.event)),
            ("received_at".to_string(), s(new.received_at)),
        ]);
        let put = |pk: String, sk: String| {
            let mut item = body.clone();
            item.insert(PK.to_string(), s(pk));
            item.insert(SK.to_string(), s(sk));
            self.put_request(item, None).item_written("data", data.clone())
        };
        let event_put = put(
            format!("{}#EVENT#{}", org_prefix(org_id), new.event_id),
            "EVENT".to_string(),
        );
        if new.affected_orders.is_empty() {
            return send_write(event_put).await;
        }
        let link_sk = format!("EVENT#{}", new.event_id);
        let puts = std::iter::once(event_put).chain(
            new.affected_orders
                .iter()
                .map(|order| put(order_pk(org_id, order), link_sk.clone())),
        );
        let mut transaction = self.client().transact_write_items();
        for put in puts {
            transaction = transaction.transact_items(put.into_put());
        }
        transaction.send().await.map_err(store_error)?;
        Ok(())
    }
}
