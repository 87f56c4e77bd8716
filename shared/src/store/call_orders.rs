//! Orders confirmed by call (`/api/v1/orders`, seed 004): an order waits `pending` while the
//! voice agent calls the customer, and each call's outcome is recorded until the order is
//! `confirmed`, `cancelled` or, after its last attempt, `no_answer`.
//!
//! | item            | PK                                | SK                    | GSI1PK                  | GSI1SK               | GSI2PK                           | GSI2SK               |
//! |-----------------|-----------------------------------|-----------------------|-------------------------|----------------------|----------------------------------|----------------------|
//! | call order      | `ORG#<org>#ORDER#<ord_id>`        | `CALLORDER`           | `ORG#<org>#CALLORDERS`  | `<createdAt>#<id>`   | `ORG#<org>#CALLORDERS#<status>`  | `<createdAt>#<id>`   |
//! | call attempt    | `ORG#<org>#ORDER#<ord_id>`        | `CALLORDER#CALL#<nnn>`| –                       | –                    | –                                | –                    |
//! | externalId link | `ORG#<org>#ORDER#<externalId>`    | `CALLORDER#LINK`      | –                       | –                    | –                                | –                    |
//!
//! The order lives in the order-number partition of its own id, and its `externalId` (the
//! merchant's order number) has a link item in the partition of that number, beside what
//! `/api/webhook` stores for the same number. So the agent context of a number, whichever of
//! the two it is, finds the order with one `Query PK = ORG#<org>#ORDER#<n>, begins_with(SK,
//! CALLORDER)` (and one `GetItem` when it finds the link). The link's key makes an `externalId`
//! unique within the organization.
//!
//! Access patterns:
//! - Create: one `TransactWriteItems` putting the order and its link, each only if absent.
//! - One order with its attempts: the same `Query` on its own partition (≤ 10 attempts).
//! - List, newest first: `Query GSI1` on `ORG#<org>#CALLORDERS`; by status, `Query GSI2` on
//!   `ORG#<org>#CALLORDERS#<status>` (a status change moves `GSI2PK` in the same write).
//! - Report a call: one `TransactWriteItems` updating the order's state and putting the
//!   attempt, on condition that the order is still `pending` with the attempt count read, so
//!   that racing reports make one transition.
//! - Change (while pending): one `UpdateItem` of the merchant's fields, or a transaction moving
//!   the link too when `externalId` changes; delete: one transaction removing the order, its
//!   attempts and its link, on condition that no attempt came meanwhile.

use std::collections::HashMap;

use super::dynamodb::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    GSI1PK, GSI1SK, GSI2PK, GSI2SK, Item, NOT_STORED, PK, SK, Store, StoreError, entity_item, get_s, key, n,
    newest_first, org_prefix, s,
};

/// Sort key of the order item.
const ORDER_SK: &str = "CALLORDER";
/// Sort key of the link from an `externalId` to its order.
const LINK_SK: &str = "CALLORDER#LINK";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Waiting for the customer to answer a call.
    Pending,
    Confirmed,
    Cancelled,
    /// Every call attempt went unanswered.
    NoAnswer,
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::NoAnswer => "no_answer",
        }
    }
}

/// What one call came to, as the voice agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Confirmed,
    Cancelled,
    NoAnswer,
    Busy,
    Failed,
    Voicemail,
}

impl CallOutcome {
    /// The customer was not reached: the order is called again, or given up on.
    pub const fn is_unanswered(self) -> bool {
        matches!(
            self,
            CallOutcome::NoAnswer | CallOutcome::Busy | CallOutcome::Failed | CallOutcome::Voicemail
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderProduct {
    pub name: String,
    pub quantity: u32,
    #[schema(value_type = f64)]
    pub price: serde_json::Number,
}

/// An order to confirm by call, as the API shows it (seed 004's camelCase fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallOrder {
    /// `ord_...`
    pub id: String,
    pub status: OrderStatus,
    /// The merchant's own order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub customer_name: String,
    /// International form, `+` and digits.
    pub customer_phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_city: Option<String>,
    #[serde(default)]
    pub products: Vec<OrderProduct>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>)]
    pub total_amount: Option<serde_json::Number>,
    /// ISO 4217, e.g. `MAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Where the order came from, e.g. `shopify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub max_call_attempts: u32,
    /// Calls made so far, the answered one included.
    pub call_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_call_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
    /// Why the customer cancelled, when the voice agent said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// One reported call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallAttempt {
    /// 1 for the first call.
    pub attempt: u32,
    /// The voice agent's id of this report; a report repeated with it is recorded once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<String>,
    pub outcome: CallOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u32>,
    pub reported_at: String,
    /// Whether what the call set off (the next call, or the order's event) was done; only
    /// [`Store::mark_call_followed_up`] sets it, and the API does not show it.
    #[serde(default, skip_serializing)]
    pub followed_up: bool,
}

/// An order and its calls, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct OrderWithCalls {
    #[serde(flatten)]
    pub order: CallOrder,
    /// Every call reported, oldest first.
    pub calls: Vec<CallAttempt>,
}

/// One page of the list, newest first; `next` continues it.
pub struct CallOrderPage {
    pub orders: Vec<CallOrder>,
    pub next: Option<Item>,
}

/// The fields the merchant may change while the order is pending.
const CHANGEABLE: [&str; 10] = [
    "externalId",
    "customerName",
    "customerPhone",
    "customerAddress",
    "customerCity",
    "products",
    "totalAmount",
    "currency",
    "source",
    "maxCallAttempts",
];

/// The fields a reported call changes.
const CALL_STATE: [&str; 7] = [
    "status",
    "callAttempts",
    "lastCallAt",
    "confirmedAt",
    "cancelledAt",
    "cancellationReason",
    GSI2PK,
];

fn call_order_pk(org_id: &str, order_number: &str) -> String {
    // The partition `/api/webhook` keeps an order number's order and events in.
    super::orders::order_pk(org_id, order_number)
}

/// The index partition listing an organization's orders (with `status`: those in it).
pub fn call_orders_index_pk(org_id: &str, status: Option<OrderStatus>) -> String {
    match status {
        None => format!("{}#CALLORDERS", org_prefix(org_id)),
        Some(status) => format!("{}#CALLORDERS#{}", org_prefix(org_id), status.as_str()),
    }
}

fn attempt_sk(attempt: u32) -> String {
    format!("{ORDER_SK}#CALL#{attempt:03}")
}

fn order_item(org_id: &str, order: &CallOrder) -> Result<Item, StoreError> {
    let mut item = entity_item(order)?;
    let sort = format!("{}#{}", order.created_at, order.id);
    item.insert(PK.into(), s(call_order_pk(org_id, &order.id)));
    item.insert(SK.into(), s(ORDER_SK));
    item.insert(GSI1PK.into(), s(call_orders_index_pk(org_id, None)));
    item.insert(GSI1SK.into(), s(sort.clone()));
    item.insert(GSI2PK.into(), s(call_orders_index_pk(org_id, Some(order.status))));
    item.insert(GSI2SK.into(), s(sort));
    Ok(item)
}

fn link_item(org_id: &str, external_id: &str, order_id: &str) -> Item {
    HashMap::from([
        (PK.to_string(), s(call_order_pk(org_id, external_id))),
        (SK.to_string(), s(LINK_SK)),
        ("order_id".to_string(), s(order_id)),
    ])
}

fn order_from(item: Item) -> Result<CallOrder, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable order: {e}")))
}

fn attempt_from(item: Item) -> Result<CallAttempt, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable call attempt: {e}")))
}

/// The items of a partition's `CALLORDER` prefix: the order with its calls, and the order
/// the partition's link names.
fn parse(items: Vec<Item>) -> Result<(Option<OrderWithCalls>, Option<String>), StoreError> {
    let (mut order, mut calls, mut linked) = (None, Vec::new(), None);
    for item in items {
        match get_s(&item, SK) {
            Some(ORDER_SK) => order = Some(order_from(item)?),
            Some(LINK_SK) => linked = get_s(&item, "order_id").map(str::to_string),
            Some(_) => calls.push(attempt_from(item)?),
            None => {}
        }
    }
    calls.sort_by_key(|call: &CallAttempt| call.attempt);
    Ok((order.map(|order| OrderWithCalls { order, calls }), linked))
}

/// `SET` the named attributes `item` has and `REMOVE` those it lacks, in one update.
fn set_or_remove(
    item: &mut Item,
    fields: &[&str],
) -> (String, HashMap<String, String>, HashMap<String, AttributeValue>) {
    let (mut names, mut values) = (HashMap::new(), HashMap::new());
    let (mut sets, mut removals) = (Vec::new(), Vec::new());
    for (i, field) in fields.iter().enumerate() {
        names.insert(format!("#u{i}"), field.to_string());
        match item.remove(*field) {
            Some(value) => {
                sets.push(format!("#u{i} = :u{i}"));
                values.insert(format!(":u{i}"), value);
            }
            None => removals.push(format!("#u{i}")),
        }
    }
    let mut expression = format!("SET {}", sets.join(", "));
    if !removals.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removals.join(", ")));
    }
    (expression, names, values)
}

/// The condition that the order is still pending with `attempts` calls.
const STILL_PENDING: &str = "attribute_exists(PK) AND #status = :pending AND #attempts = :attempts";

impl Store {
    /// Stores a new order and the link of its `externalId`; `false` (nothing written) when
    /// another order of the organization has that `externalId`.
    pub async fn create_call_order(&self, org_id: &str, order: &CallOrder) -> Result<bool, StoreError> {
        let mut writes = vec![self.transact_put(order_item(org_id, order)?, Some(NOT_STORED))];
        if let Some(external_id) = &order.external_id {
            writes.push(self.transact_put(link_item(org_id, external_id, &order.id), Some(NOT_STORED)));
        }
        self.transact(writes).await
    }

    /// The order `order_id` of the organization and its calls, as last written.
    pub async fn get_call_order(&self, org_id: &str, order_id: &str) -> Result<Option<OrderWithCalls>, StoreError> {
        let query = self.query_prefix(call_order_pk(org_id, order_id), ORDER_SK);
        let items = super::query_all(query.consistent_read(true)).await?;
        Ok(parse(items)?.0)
    }

    /// The order a number names, for the agent context: the order whose id it is, or the one
    /// whose `externalId` it is.
    pub async fn call_order_by_number(
        &self,
        org_id: &str,
        order_number: &str,
    ) -> Result<Option<OrderWithCalls>, StoreError> {
        let items = super::query_all(self.query_prefix(call_order_pk(org_id, order_number), ORDER_SK)).await?;
        match parse(items)? {
            (Some(found), _) => Ok(Some(found)),
            (None, Some(order_id)) => self.get_call_order(org_id, &order_id).await,
            (None, None) => Ok(None),
        }
    }

    /// A page of the organization's orders, newest first, only those in `status` if given.
    pub async fn list_call_orders(
        &self,
        org_id: &str,
        status: Option<OrderStatus>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<CallOrderPage, StoreError> {
        let index_pk = call_orders_index_pk(org_id, status);
        let query = match status {
            None => self.query_index(index_pk),
            Some(_) => self.query_index2(index_pk),
        };
        // One more than asked tells whether another page exists.
        let output = newest_first(query, limit as i32 + 1, start).await?;
        let mut items = output.items.unwrap_or_default();
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|item| match status {
                None => super::index_key(item),
                Some(_) => super::index2_key(item),
            })
        } else {
            None
        };
        Ok(CallOrderPage {
            orders: items.into_iter().map(order_from).collect::<Result<_, _>>()?,
            next,
        })
    }

    /// Writes the merchant's changes of a pending order (`changed`, read with `previous`'s
    /// `externalId` and attempt count), moving the `externalId` link when it changed. `false`
    /// (nothing written): the order left `pending`, took a call or is gone meanwhile, or the new
    /// `externalId` is another order's.
    pub async fn update_call_order(
        &self,
        org_id: &str,
        changed: &CallOrder,
        previous: &CallOrder,
    ) -> Result<bool, StoreError> {
        let mut item = order_item(org_id, changed)?;
        let mut fields: Vec<&str> = CHANGEABLE.to_vec();
        fields.push("updatedAt");
        let (expression, mut names, mut values) = set_or_remove(&mut item, &fields);
        names.insert("#status".into(), "status".into());
        names.insert("#attempts".into(), "callAttempts".into());
        values.insert(":pending".into(), s(OrderStatus::Pending.as_str()));
        values.insert(":attempts".into(), n(previous.call_attempts));
        let update = self
            .update_item(call_order_pk(org_id, &changed.id), ORDER_SK)
            .update_expression(expression)
            .condition_expression(STILL_PENDING)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let mut writes = vec![update.into_update()];
        if changed.external_id != previous.external_id {
            if let Some(old) = &previous.external_id {
                writes.push(self.unlink_write(org_id, old, &changed.id));
            }
            if let Some(new) = &changed.external_id {
                writes.push(self.transact_put(link_item(org_id, new, &changed.id), Some(NOT_STORED)));
            }
        }
        self.transact(writes).await
    }

    /// Records a call on a pending order that had `previous_attempts` calls, with the state it
    /// leaves the order in (`changed`). `false` (nothing written): another report, a change or
    /// a deletion came first.
    pub async fn record_call_attempt(
        &self,
        org_id: &str,
        changed: &CallOrder,
        attempt: &CallAttempt,
        previous_attempts: u32,
    ) -> Result<bool, StoreError> {
        let mut item = order_item(org_id, changed)?;
        let mut fields: Vec<&str> = CALL_STATE.to_vec();
        fields.push("updatedAt");
        let (expression, mut names, mut values) = set_or_remove(&mut item, &fields);
        names.insert("#status".into(), "status".into());
        names.insert("#attempts".into(), "callAttempts".into());
        values.insert(":pending".into(), s(OrderStatus::Pending.as_str()));
        values.insert(":attempts".into(), n(previous_attempts));
        let update = self
            .update_item(call_order_pk(org_id, &changed.id), ORDER_SK)
            .update_expression(expression)
            .condition_expression(STILL_PENDING)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values));
        let mut attempt_item = entity_item(attempt)?;
        attempt_item.insert(PK.into(), s(call_order_pk(org_id, &changed.id)));
        attempt_item.insert(SK.into(), s(attempt_sk(attempt.attempt)));
        let writes = vec![update.into_update(), self.transact_put(attempt_item, Some(NOT_STORED))];
        self.transact(writes).await
    }

    /// Notes that what call `attempt` of the order set off was done, so that a repeated
    /// report does not do it again; nothing when the order is gone.
    pub async fn mark_call_followed_up(&self, org_id: &str, order_id: &str, attempt: u32) -> Result<(), StoreError> {
        let update = self
            .update_item(call_order_pk(org_id, order_id), &attempt_sk(attempt))
            .update_expression("SET followedUp = :done")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":done", AttributeValue::Bool(true))
            .send()
            .await;
        super::unless_condition_failed(update)?;
        Ok(())
    }

    /// Deletes the order, its calls and its link, all or nothing; `false` (nothing deleted):
    /// a call was recorded or the order deleted meanwhile.
    pub async fn delete_call_order(&self, org_id: &str, found: &OrderWithCalls) -> Result<bool, StoreError> {
        let order = &found.order;
        let pk = call_order_pk(org_id, &order.id);
        let delete = self
            .delete_item(pk.clone(), ORDER_SK)
            .condition_expression("attribute_exists(PK) AND #attempts = :attempts")
            .expression_attribute_names("#attempts", "callAttempts")
            .expression_attribute_values(":attempts", n(order.call_attempts));
        let mut writes = vec![delete.into_delete()];
        for call in &found.calls {
            writes.push(self.transact_delete(key(pk.clone(), &attempt_sk(call.attempt))));
        }
        if let Some(external_id) = &order.external_id {
            writes.push(self.unlink_write(org_id, external_id, &order.id));
        }
        self.transact(writes).await
    }

    /// Removes the link of `external_id` if it is `order_id`'s (or gone already).
    fn unlink_write(&self, org_id: &str, external_id: &str, order_id: &str) -> TransactWriteItem {
        self.delete_item(call_order_pk(org_id, external_id), LINK_SK)
            .condition_expression("attribute_not_exists(PK) OR order_id = :order")
            .expression_attribute_values(":order", s(order_id))
            .into_delete()
    }
}
