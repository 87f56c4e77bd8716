//! Orders, upserted by order number; their partition also holds a copy of every merchant event
//! that affects them, so the order context is one query.

use serde_json::{Map, Value};

use super::customers::customer_pk;
use super::events::OrderEvent;
use super::{Document, GSI1PK, GSI1SK, Meta, Store, StoreError, get_s, newest_first, org_prefix, s};

pub(crate) fn order_pk(org_id: &str, order_number: &str) -> String {
    format!("{}#ORDER#{order_number}", org_prefix(org_id))
}

/// An order and the events that affect it, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderWithEvents {
    pub order: Option<Document>,
    pub events: Vec<OrderEvent>,
}

/// What places an order in its customer's history.
pub struct OrderCustomerLink<'a> {
    pub customer_email: Option<&'a str>,
    /// `ordered_at` normalized to UTC RFC 3339, so that it sorts.
    pub ordered_at: Option<&'a str>,
}

impl Store {
    pub async fn upsert_order(
        &self,
        org_id: &str,
        order_number: &str,
        fields: &Map<String, Value>,
        link: OrderCustomerLink<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        let mut meta = Vec::new();
        if let Some(email) = link.customer_email {
            meta.push(Meta::Set(GSI1PK, s(customer_pk(org_id, email))));
        }
        // The history sorts by when the order was placed; an order sent without `ordered_at`
        // sorts by when Hookgate first saw it, and keeps that place on later partial updates.
        match link.ordered_at {
            Some(at) => meta.push(Meta::Set(GSI1SK, s(format!("ORDER#{at}#{order_number}")))),
            None => meta.push(Meta::SetIfAbsent(GSI1SK, s(format!("ORDER#{now}#{order_number}")))),
        }
        self.merge_document(
            (order_pk(org_id, order_number), "ORDER"),
            "order",
            fields,
            now,
            meta,
            Vec::new(),
        )
        .await
    }

    /// The order (if it was sent) and up to `max_events` events on it, newest first.
    pub async fn order_with_events(
        &self,
        org_id: &str,
        order_number: &str,
        max_events: i32,
    ) -> Result<OrderWithEvents, StoreError> {
        // Descending: `ORDER` sorts after every `EVENT#<ulid>`, so it comes first, then the
        // events from the newest.
        let query = self.query_partition(order_pk(org_id, order_number));
        let output = newest_first(query, max_events + 1, None).await?;
        let mut result = OrderWithEvents {
            order: None,
            events: Vec::new(),
        };
        for item in output.items.unwrap_or_default() {
            if get_s(&item, super::SK) == Some("ORDER") {
                result.order = Some(Document::from_item(item)?);
            } else if let Some(event) = OrderEvent::from_item(item)? {
                result.events.push(event);
            }
        }
        result.events.truncate(max_events as usize);
        Ok(result)
    }
}
