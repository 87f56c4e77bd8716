//! The single DynamoDB table and one module per entity over it.
//!
//! # Key schema
//! Every key starts with the organization (`ORG#<org>`), and every merchant record has a
//! partition of its own, so no partition ever holds a whole tenant (DynamoDB caps one partition
//! at ~1,000 writes/s).
//!
//! | entity          | PK                               | SK            | GSI1PK                     | GSI1SK                         |
//! |-----------------|----------------------------------|---------------|----------------------------|--------------------------------|
//! | organization    | `ORG#<org>`                      | `ORG`         | –                          | –                              |
//! | API key         | `ORG#<org>#KEY#<keyId>`          | `KEY`         | `ORG#<org>#KEYS`           | `KEY#<keyId>`                  |
//! | order           | `ORG#<org>#ORDER#<orderNumber>`  | `ORDER`       | `ORG#<org>#CUSTOMER#<email>` | `ORDER#<orderedAt>#<orderNumber>` |
//! | event on order  | `ORG#<org>#ORDER#<orderNumber>`  | `EVENT#<ulid>`| –                          | –                              |
//! | merchant event  | `ORG#<org>#EVENT#<ulid>`         | `EVENT`       | –                          | –                              |
//! | customer        | `ORG#<org>#CUSTOMER#<email>`     | `CUSTOMER`    | `ORG#<org>#CUSTOMER#<email>` | `~PROFILE`                   |
//! | product         | `ORG#<org>#PRODUCT#<sku>`        | `PRODUCT`     | –                          | –                              |
//! | other record    | `ORG#<org>#RECORD#<type>#<ulid>` | `RECORD`      | –                          | –                              |
//! | endpoint        | `ORG#<org>#ENDPOINT#<id>`        | `ENDPOINT`    | `ORG#<org>#ENDPOINTS`      | `ENDPOINT#<id>`                |
//! | delivery        | `ORG#<org>#DELIVERY#<id>`        | `DELIVERY`    | `ORG#<org>#ENDPOINT#<id>#DELIVERIES` | `<deliveryId>`       |
//! | batched event   | `ORG#<org>#ENDPOINT#<id>#BATCH`  | `EVENT#<ulid>`| –                          | –                              |
//! | batch window    | `ORG#<org>#ENDPOINT#<id>#BATCH`  | `WINDOW`      | –                          | –                              |
//! | integration     | `ORG#<org>#INTEGRATION#<id>`     | `INTEGRATION` | `ORG#<org>#INTEGRATIONS`   | `INTEGRATION#<id>`             |
//! | provider route  | `PROVIDER#<provider>#<account>`  | `PROVIDER`    | –                          | –                              |
//! | inbound seen    | `ORG#<org>#INBOUND#<provider>#<eventId>` | `INBOUND` | –                    | –                              |
//! | ticket          | `ORG#<org>#TICKET#<id>`          | `TICKET`      | `ORG#<org>#TICKETS`        | `<created_at>#<id>`            |
//!
//! GSI2 is a second view: customers by last update (`ORG#<org>#CUSTOMERS`) and a customer's
//! tickets (`ORG#<org>#CUSTOMER#<email>#TICKETS`, by creation); see `customers` and `tickets`.
//!
//! | entity          | PK                               | SK            | GSI1PK                     | GSI1SK                         |
//! |-----------------|----------------------------------|---------------|----------------------------|--------------------------------|
//! | conversation entry | `ORG#<org>#TICKET#<id>`       | `ENTRY#<ulid>`| `ORG#<org>#ENTRIES`        | `<created_at>#<entryId>`       |
//! | entry lookup    | `ORG#<org>#ENTRY#<entryId>`      | `ENTRY`       | –                          | –                              |
//! | ticket number   | `ORG#<org>#TICKETNO#<n>`         | `TICKETNO`    | –                          | –                              |
//! | ticket counter  | `ORG#<org>#COUNTER#TICKETS`      | `COUNTER`     | –                          | –                              |
//! | CSAT token      | `ORG#<org>#CSAT#<sha256>`        | `CSAT`        | –                          | –                              |
//! | SLA policy      | `ORG#<org>#SLA`                  | `POLICY#<id>` | –                          | –                              |
//! | SLA due target  | `ORG#<org>#TICKET#<id>`          | `SLADUE#<metric>` | `SLADUE#<shard>`       | `<due_at>#<org>#<ticketId>`    |
//! | attachment      | `ORG#<org>#ATTACHMENT#<id>`      | `ATTACHMENT`  | –                          | –                              |
//! | widget settings | `ORG#<org>#WIDGET`               | `SETTINGS`    | –                          | –                              |
//! | widget session  | `ORG#<org>#WIDGETSESSION#<sha256>` | `SESSION`, `MSG#<sha256>` | –                | –                              |
//! | activation code | `ACTIVATION#<CODE>`              | `CODE`        | –                          | –                              |
//! | redemption      | `ORG#<org>#ACTIVATION#<CODE>`    | `REDEMPTION`  | –                          | –                              |
//! | public use      | `PUBLIC#<route>#<client ip>`     | `<minute>`    | –                          | –                              |
//! | trigger         | `ORG#<org>#TRIGGER#<id>`         | `TRIGGER`     | `ORG#<org>#TRIGGERS`       | `<id>`                         |
//! | execution       | `ORG#<org>#EXECUTION#<id>`       | `EXECUTION`, `REPORT#<report>` | `ORG#<org>#AGENT#<agent>#EXECUTIONS` (or `WORKFLOW#`) | `<created_at>#<id>` |
//! | call order      | `ORG#<org>#ORDER#<ord_id>`       | `CALLORDER`   | `ORG#<org>#CALLORDERS`     | `<createdAt>#<id>`             |
//! | (its GSI2 view) |                                  |               | GSI2PK `ORG#<org>#CALLORDERS#<status>` | GSI2SK `<createdAt>#<id>` |
//! | call attempt    | `ORG#<org>#ORDER#<ord_id>`       | `CALLORDER#CALL#<nnn>` | –                 | –                              |
//! | externalId link | `ORG#<org>#ORDER#<externalId>`   | `CALLORDER#LINK` | –                       | –                              |
//!
//! Emails in keys are lowercased. `TTL` (epoch seconds) is the table's time-to-live attribute for
//! short-lived items.
//!
//! # Access patterns
//! - Authenticate a key and count its use in the current minute: one conditional `UpdateItem` on
//!   the key item (`api_keys::count_use`); a new minute costs one more (`api_keys::start_window`).
//! - List an organization's keys: `Query GSI1 GSI1PK = ORG#<org>#KEYS`.
//! - Revoke a key: conditional `UpdateItem` setting `revoked_at`.
//! - Upsert an order / customer / product by its natural id: one `UpdateItem` merging top-level
//!   fields (`merge_document`).
//! - Record a merchant event: `PutItem`, or one `TransactWriteItems` with a copy in each affected
//!   order's partition so that the order context is one read.
//! - Order context: `Query PK = ORG#<org>#ORDER#<n>` (the order and its events, newest first)
//!   and, at the same time, its order confirmed by call (below), then `GetItem` of its customer.
//! - Customer context: `Query GSI1 GSI1PK = ORG#<org>#CUSTOMER#<email>`, descending: the profile
//!   (`~PROFILE` sorts last, so first descending) and then the orders, newest first.
//!
//! - Orders confirmed by call (`call_orders`) live in the order-number partition of their own
//!   `ord_` id, and their `externalId` has a link item in the partition of that number, next to
//!   what `/api/webhook` keeps for it: the order context of either number also reads
//!   `begins_with(SK, CALLORDER)` there (one `Query`, one more through a link). The
//!   link's key keeps an `externalId` unique per organization. Lists: GSI1 (all, newest first)
//!   and GSI2 (one status); see the module.
//! - Endpoints, deliveries, batches, integrations, inbound deduplication, tickets (with their
//!   entries, numbers and counts), CSAT, triggers and executions: see their modules.
//!   Provider routes, public uses, the SLA due index and activation codes are the exceptions to
//!   organization-led keys: an inbound webhook names the provider's account, and its route item
//!   finds the organization in one `GetItem`; a public route counts a client address before it
//!   knows any organization; the SLA job reads what is due across organizations; codes are the
//!   operator's.
//!
//! Merchant fields are stored as top-level attributes, so the attribute names in
//! [`RESERVED_ATTRIBUTES`] are ours and refused as merchant field names.

pub mod activation;
pub mod api_keys;
pub mod attachments;
pub mod batches;
pub mod call_orders;
pub mod chat;
pub mod csat;
pub mod customers;
pub mod deliveries;
pub mod dynamodb;
pub mod endpoints;
pub mod events;
pub mod executions;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod mail;
pub mod orders;
pub mod organizations;
pub mod products;
pub mod records;
pub mod sla;
pub mod tickets;
pub mod triggers;
pub mod widget;

use std::collections::HashMap;

use serde_json::{Map, Value};

pub use dynamodb::Item;
use dynamodb::{
    AttributeValue, AttributeValueExt, DynamoDb, DynamoError, Operation, Output, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, WriteRequest,
};

use crate::error::ApiError;

/// A merchant document's top-level fields, as sent.
pub type Fields = Map<String, Value>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";
pub const TTL: &str = "TTL";
const ENTITY: &str = "ENTITY";
const CREATED_AT: &str = "CREATED_AT";
const UPDATED_AT: &str = "UPDATED_AT";

/// Attribute names Hookgate uses on items that also hold merchant fields.
pub const RESERVED_ATTRIBUTES: [&str; 10] = [
    PK, SK, GSI1PK, GSI1SK, GSI2PK, GSI2SK, TTL, ENTITY, CREATED_AT, UPDATED_AT,
];

/// Most top-level fields one merchant document may have: each becomes a term of one update
/// expression, which DynamoDB caps at 4 KB.
pub const MAX_DOCUMENT_FIELDS: usize = 100;

/// Handle on the table, built once per container.
#[derive(Clone, Debug)]
pub struct Store {
    client: DynamoDb,
    table: String,
}

#[derive(Debug)]
pub enum StoreError {
    /// DynamoDB refused the data itself (e.g. an item over 400 KB): the caller's input is at fault.
    Rejected(String),
    /// Anything else: throttling, network, permissions.
    Unavailable(String),
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Rejected(message) => {
                ApiError::invalid_input("body", format!("the data was refused by storage: {message}"))
            }
            StoreError::Unavailable(message) => {
                tracing::error!(error = %message, "store unavailable");
                ApiError::internal()
            }
        }
    }
}

/// Classifies a DynamoDB error: its validation errors are the input's fault, the rest ours.
pub(crate) fn store_error(error: DynamoError) -> StoreError {
    match error.code.as_deref() {
        Some("ValidationException") => StoreError::Rejected(error.message),
        _ => StoreError::Unavailable(error.to_string()),
    }
}

/// `Ok(None)` when a write's condition failed (the item is absent or in another state), so
/// that callers can answer 404 or 409 instead of an error.
pub(crate) fn unless_condition_failed<T>(result: Result<T, DynamoError>) -> Result<Option<T>, StoreError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.code.as_deref() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(error) => Err(store_error(error)),
    }
}

/// Every item a query matches, page after page.
pub(crate) async fn query_all(query: Operation) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = query
            .clone()
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}

/// Every single-item and query request of the entity modules starts from one of these, so that
/// each module states only its keys, conditions and item mapping.
impl Store {
    /// Reads one item by key (eventually consistent).
    pub(crate) async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read_item(pk, sk, false).await
    }

    /// Reads one item by key, seeing every write acknowledged before (for read-after-write).
    pub(crate) async fn get_item_consistent(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.read_item(pk, sk, true).await
    }

    async fn read_item(&self, pk: String, sk: &str, consistent: bool) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            // Unset rather than `false` when not consistent: the request stays as it always was.
            .set_consistent_read(consistent.then_some(true))
            .send()
            .await
            .map_err(store_error)?;
        Ok(output.item)
    }

    /// Reads up to 100 items by key in one request (eventually consistent); absent ones are
    /// left out.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        self.client
            .batch_get_item(&self.table, keys, false)
            .await
            .map_err(store_error)
    }

    /// [`Store::batch_get`] reading what was last written.
    pub(crate) async fn batch_get_consistent(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        self.client
            .batch_get_item(&self.table, keys, true)
            .await
            .map_err(store_error)
    }

    /// Writes a whole item unconditionally (last writer wins).
    pub(crate) async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.send_put(item, None).await
    }

    /// Writes a new item; one already stored under its key fails the write with an error.
    pub(crate) async fn put_new_item(&self, item: Item) -> Result<(), StoreError> {
        self.send_put(item, Some(NOT_STORED)).await
    }

    /// Writes a new item; `false` (nothing written) when one is stored under its key.
    pub(crate) async fn put_if_absent(&self, item: Item) -> Result<bool, StoreError> {
        let put = self.put_request(item, Some(NOT_STORED)).send().await;
        Ok(unless_condition_failed(put)?.is_some())
    }

    async fn send_put(&self, item: Item, condition: Option<&str>) -> Result<(), StoreError> {
        send_write(self.put_request(item, condition)).await
    }

    /// A transaction's write of a whole item, guarded by `condition` when given.
    pub(crate) fn transact_put(&self, item: Item, condition: Option<&str>) -> TransactWriteItem {
        self.put_request(item, condition).into_put()
    }

    /// A `PutItem` of a whole item, guarded by `condition` when given; the caller adds its
    /// values, and sends it or makes it a transaction's write with `into_put`.
    pub(crate) fn put_request(&self, item: Item, condition: Option<&str>) -> Operation {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_string))
    }

    /// A transaction's unconditional delete of one item.
    pub(crate) fn transact_delete(&self, key: Item) -> TransactWriteItem {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .into_delete()
    }

    /// An `UpdateItem` of one item; the caller adds its expression, condition and values, and
    /// sends it or makes it a transaction's write with `into_update`.
    pub(crate) fn update_item(&self, pk: String, sk: &str) -> Operation {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
    }

    /// A `DeleteItem` of one item; the caller adds its condition, if any, and sends it or makes
    /// it a transaction's write with `into_delete`.
    pub(crate) fn delete_item(&self, pk: String, sk: &str) -> Operation {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
    }

    /// A query of the table partition `pk`.
    pub(crate) fn query_partition(&self, pk: String) -> Operation {
        self.query_keys(None, "PK = :pk".to_string(), pk)
    }

    /// A query of the items of partition `pk` whose sort key starts with `prefix`.
    pub(crate) fn query_prefix(&self, pk: String, prefix: &str) -> Operation {
        self.query_keys(None, "PK = :pk AND begins_with(SK, :prefix)".to_string(), pk)
            .expression_attribute_values(":prefix", s(prefix))
    }

    /// A query of GSI1's partition `index_pk`.
    pub(crate) fn query_index(&self, index_pk: String) -> Operation {
        self.query_keys(Some(GSI1), "GSI1PK = :pk".to_string(), index_pk)
    }

    /// A query of GSI2's partition `index_pk`.
    pub(crate) fn query_index2(&self, index_pk: String) -> Operation {
        self.query_keys(Some(GSI2), "GSI2PK = :pk".to_string(), index_pk)
    }

    /// A query of GSI2's partition `index_pk` narrowed by `sort_condition` on `GSI2SK`.
    pub(crate) fn query_index2_where(&self, index_pk: String, sort_condition: &str) -> Operation {
        self.query_keys(Some(GSI2), format!("GSI2PK = :pk AND {sort_condition}"), index_pk)
    }

    /// A query of GSI1's partition `index_pk` narrowed by `sort_condition` on `GSI1SK`.
    pub(crate) fn query_index_where(&self, index_pk: String, sort_condition: &str) -> Operation {
        self.query_keys(Some(GSI1), format!("GSI1PK = :pk AND {sort_condition}"), index_pk)
    }

    fn query_keys(&self, index: Option<&str>, condition: String, pk: String) -> Operation {
        self.client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(condition)
            .expression_attribute_values(":pk", s(pk))
    }
}

impl Store {
    /// Runs a transaction; `false` when a condition of it failed (nothing written).
    pub(crate) async fn transact(&self, writes: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
        let result = self
            .client()
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if cancelled_by_condition(&error) => Ok(false),
            Err(error) => Err(store_error(error)),
        }
    }
}

/// Whether a transaction was cancelled because the condition of one of its writes failed.
pub(crate) fn cancelled_by_condition(error: &DynamoError) -> bool {
    error.code.as_deref() == Some("TransactionCanceledException")
        && error
            .cancellation_reasons
            .iter()
            .any(|r| r.code.as_deref() == Some("ConditionalCheckFailed"))
}

/// The condition that a write creates its item rather than replacing one.
pub(crate) const NOT_STORED: &str = "attribute_not_exists(PK)";

/// One page of a query, highest sort key first: at most `limit` items from `start` on.
pub(crate) async fn newest_first(query: Operation, limit: i32, start: Option<Item>) -> Result<Output, StoreError> {
    query
        .scan_index_forward(false)
        .limit(limit)
        .set_exclusive_start_key(start)
        .send()
        .await
        .map_err(store_error)
}

/// Sends an update that asks for the old item when its condition fails: `Ok(item)` holds the
/// attributes the update returned, `Err(item)` what the condition refused (`None` when there
/// is no item), so callers can say why.
pub(crate) async fn update_or_refused(request: Operation) -> Result<Result<Option<Item>, Option<Item>>, StoreError> {
    match request
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await
    {
        Ok(output) => Ok(Ok(output.attributes)),
        Err(error) if error.code.as_deref() == Some("ConditionalCheckFailedException") => Ok(Err(error.item)),
        Err(error) => Err(store_error(error)),
    }
}

impl Store {
    /// Deletes items by key, 25 per `BatchWriteItem`.
    pub(crate) async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        self.write_batches(
            keys.into_iter()
                .map(|key| WriteRequest::DeleteRequest { key })
                .collect(),
        )
        .await
    }

    /// Writes whole items unconditionally (last writer wins), 25 per `BatchWriteItem`.
    pub(crate) async fn put_items(&self, items: Vec<Item>) -> Result<(), StoreError> {
        self.write_batches(
            items
                .into_iter()
                .map(|item| WriteRequest::PutRequest { item })
                .collect(),
        )
        .await
    }

    /// Sends `requests` 25 to a `BatchWriteItem`, four of those at a time; every batch is sent
    /// even when one fails, and the first failure is the answer.
    async fn write_batches(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        use futures_util::StreamExt;
        let batches: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
        let results: Vec<_> = futures_util::stream::iter(batches)
            .map(|batch| self.client.batch_write_item(&self.table, batch))
            .buffer_unordered(4)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>().map_err(store_error)
    }

    /// Deletes every item of a partition.
    pub(crate) async fn delete_partition(&self, pk: &str) -> Result<usize, StoreError> {
        let keys = query_all(self.query_partition(pk.to_string()).projection_expression("PK, SK")).await?;
        let count = keys.len();
        self.delete_keys(keys).await?;
        Ok(count)
    }
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// The organization and id in an item's `PK` of the form `ORG#<org><marker><id>`.
pub(crate) fn org_and_id<'a>(item: &'a Item, marker: &str) -> Option<(&'a str, &'a str)> {
    let (org_part, id) = get_s(item, PK)?.split_once(marker)?;
    Some((org_part.strip_prefix("ORG#")?, id))
}

/// Sends a write whose answer the caller does not read.
async fn send_write(write: Operation) -> Result<(), StoreError> {
    write.send().await.map_err(store_error)?;
    Ok(())
}

pub(crate) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// An entity as an item: its fields as top-level attributes, an absent value (`None`) as no
/// attribute at all, so that conditions and `if_not_exists` see it as absent.
pub(crate) fn entity_item<T: serde::Serialize>(entity: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(entity).map_err(|e| StoreError::Rejected(e.to_string()))?;
    item.retain(|_, value| !matches!(value, AttributeValue::Null(_)));
    item.values().try_for_each(storable)?;
    Ok(item)
}

/// What DynamoDB takes: map keys of at least one character, and numbers of at most 38
/// significant digits between 1E-130 and 1E+126 in magnitude. Refused here, before a write, a
/// value gets the same answer from the emulator as from DynamoDB (the emulator takes some of
/// them and answers them back broken).
fn storable(value: &AttributeValue) -> Result<(), StoreError> {
    match value {
        AttributeValue::M(fields) => {
            if fields.keys().any(String::is_empty) {
                return Err(StoreError::Rejected(EMPTY_FIELD_NAME.into()));
            }
            fields.values().try_for_each(storable)
        }
        AttributeValue::L(items) => items.iter().try_for_each(storable),
        AttributeValue::N(number) => storable_number(number).map_err(StoreError::Rejected),
        _ => Ok(()),
    }
}

const EMPTY_FIELD_NAME: &str = "a field name is empty";

/// Why DynamoDB would refuse the number `number` (JSON's notation), if it would.
fn storable_number(number: &str) -> Result<(), String> {
    let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
    // Significant digits: those left once the sign and the zeros before and after are cut.
    let significant = mantissa
        .trim_start_matches(['-', '0', '.'])
        .trim_end_matches(['0', '.'])
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    let magnitude = number.parse::<f64>().map(f64::abs).unwrap_or(f64::INFINITY);
    let in_range = magnitude == 0.0 || (1e-130..1e126).contains(&magnitude);
    if significant > 38 || !in_range {
        return Err(format!(
            "the number {number} is beyond what can be stored (38 digits, 1E-130 to 1E+126)"
        ));
    }
    Ok(())
}

/// The key attributes that locate an item in GSI1: a page that ends with it continues there.
pub(crate) fn index_key(item: &Item) -> Item {
    key_attributes(item, [PK, SK, GSI1PK, GSI1SK])
}

/// The same in GSI2.
pub(crate) fn index2_key(item: &Item) -> Item {
    key_attributes(item, [PK, SK, GSI2PK, GSI2SK])
}

fn key_attributes(item: &Item, names: [&str; 4]) -> Item {
    names
        .iter()
        .filter_map(|name| Some((name.to_string(), item.get(*name)?.clone())))
        .collect()
}

/// A merchant's JSON value written as DynamoDB JSON, refused as [`storable`] refuses an
/// attribute value, without building the attribute value first: a 2 KB order's fields are a
/// few hundred attribute values, strings and hash maps fewer per ingest. Documents, events'
/// data and records of other types are all written so.
pub(crate) fn written_attribute(value: &Value) -> Result<Box<serde_json::value::RawValue>, StoreError> {
    // Writing to a string fails only where `AsAttribute` refuses, with its reason.
    serde_json::value::to_raw_value(&AsAttribute(value)).map_err(|e| StoreError::Rejected(e.to_string()))
}

/// Serializes a JSON value as DynamoDB JSON (`{"S": "text"}`, `{"M": {...}}`).
struct AsAttribute<'a>(&'a Value);

impl serde::Serialize for AsAttribute<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let mut typed = serializer.serialize_map(Some(1))?;
        match self.0 {
            Value::Null => typed.serialize_entry("NULL", &true)?,
            Value::Bool(flag) => typed.serialize_entry("BOOL", flag)?,
            Value::Number(number) => {
                let number = number.to_string();
                storable_number(&number).map_err(S::Error::custom)?;
                typed.serialize_entry("N", &number)?
            }
            Value::String(text) => typed.serialize_entry("S", text)?,
            Value::Array(items) => typed.serialize_entry("L", &AsList(items))?,
            Value::Object(fields) => typed.serialize_entry("M", &AsMap(fields))?,
        }
        typed.end()
    }
}

struct AsList<'a>(&'a [Value]);

impl serde::Serialize for AsList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(AsAttribute))
    }
}

struct AsMap<'a>(&'a Map<String, Value>);

impl serde::Serialize for AsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            if name.is_empty() {
                return Err(S::Error::custom(EMPTY_FIELD_NAME));
            }
            map.serialize_entry(name, &AsAttribute(value))?;
        }
        map.end()
    }
}

/// A stored merchant document: its fields as sent, and when Hookgate first and last wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub fields: Map<String, Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl Document {
    pub(crate) fn from_item(mut item: Item) -> Result<Self, StoreError> {
        let created_at = get_s(&item, CREATED_AT).map(str::to_string);
        let updated_at = get_s(&item, UPDATED_AT).map(str::to_string);
        for reserved in RESERVED_ATTRIBUTES {
            item.remove(reserved);
        }
        let fields =
            serde_dynamo::from_item(item).map_err(|e| StoreError::Unavailable(format!("unreadable item: {e}")))?;
        Ok(Self {
            fields,
            created_at,
            updated_at,
        })
    }
}

/// `update` made to merge `fields` into a document: its `SET` expression, names and values.
/// The fields are written as DynamoDB JSON straight from the merchant's JSON
/// ([`written_attribute`]).
fn document_update(
    mut update: Operation,
    entity: &str,
    fields: &Map<String, Value>,
    now: &str,
    meta: Vec<Meta>,
) -> Result<Operation, StoreError> {
    let mut expression = String::with_capacity(16 * (fields.len() + meta.len()) + 128);
    expression.push_str("SET ");
    for (i, (name, value)) in fields.iter().enumerate() {
        let (name_placeholder, value_placeholder) = (placeholder("#f", i), placeholder(":f", i));
        expression.extend([&name_placeholder, " = ", &value_placeholder, ", "]);
        update = update
            .expression_attribute_names(name_placeholder, name)
            .expression_attribute_written(value_placeholder, written_attribute(value)?);
    }
    expression.extend([ENTITY, " = :entity, ", UPDATED_AT, " = :now, "]);
    expression.extend([CREATED_AT, " = if_not_exists(", CREATED_AT, ", :now)"]);
    update = update
        .expression_attribute_values(":entity", s(entity))
        .expression_attribute_values(":now", s(now));
    for (i, m) in meta.into_iter().enumerate() {
        let value_placeholder = placeholder(":m", i);
        let value = match m {
            Meta::Set(attr, value) => {
                expression.extend([", ", attr, " = ", &value_placeholder]);
                value
            }
            Meta::SetIfAbsent(attr, value) => {
                expression.extend([", ", attr, " = if_not_exists(", attr, ", ", &value_placeholder, ")"]);
                value
            }
        };
        update = update.expression_attribute_values(value_placeholder, value);
    }
    Ok(update.update_expression(expression))
}

/// An expression's placeholder: `prefix` and the number `i` (`#f3`, `:m0`).
fn placeholder(prefix: &str, i: usize) -> String {
    let mut placeholder = String::with_capacity(prefix.len() + 3);
    placeholder.push_str(prefix);
    crate::aws::push_digits(&mut placeholder, i as u64, 1);
    placeholder
}

/// How `merge_document` sets one of Hookgate's own attributes.
pub(crate) enum Meta {
    /// Always overwrite.
    Set(&'static str, AttributeValue),
    /// Set only when the item does not have it yet.
    SetIfAbsent(&'static str, AttributeValue),
}

impl Store {
    pub fn new(client: DynamoDb, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table `table` through the endpoint, region and credentials of the AWS configuration
    /// (`AWS_ENDPOINT_URL_DYNAMODB` or `AWS_ENDPOINT_URL` for a local emulator).
    pub fn from_config(config: &crate::aws::AwsConfig, table: impl Into<String>) -> Result<Self, String> {
        Ok(Self::new(DynamoDb::from_config(config)?, table))
    }

    pub fn client(&self) -> &DynamoDb {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Upserts a merchant document in one `UpdateItem`: the given top-level fields overwrite
    /// what was stored, fields not sent are kept, so partial updates (`{order_number, status}`)
    /// do not erase a tracking number sent earlier. With `also`, the upsert and those writes
    /// are one transaction.
    pub(crate) async fn merge_document(
        &self,
        (pk, sk): (String, &str),
        entity: &str,
        fields: &Map<String, Value>,
        now: &str,
        meta: Vec<Meta>,
        also: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        let update = document_update(self.update_item(pk, sk), entity, fields, now, meta)?;
        if also.is_empty() {
            return send_write(update).await;
        }
        let mut writes = vec![update.into_update()];
        writes.extend(also);
        match self.transact(writes).await? {
            true => Ok(()),
            false => Err(StoreError::Unavailable("a document's transaction was refused".into())),
        }
    }

    /// Reads one merchant document.
    pub(crate) async fn get_document(&self, pk: String, sk: &str) -> Result<Option<Document>, StoreError> {
        self.get_item(pk, sk).await?.map(Document::from_item).transpose()
    }
}

/// The partition of everything one organization owns starts with this.
pub(crate) fn org_prefix(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

/// A query page's `LastEvaluatedKey` as an opaque cursor for clients.
pub fn encode_cursor(next: &Item) -> String {
    use base64::Engine;
    let keys: std::collections::BTreeMap<&str, &str> = next
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.as_s().ok()?.as_str())))
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&keys).unwrap_or_default())
}

/// A cursor from `encode_cursor` for a GSI1 or GSI2 query, accepted only for the same index
/// partition, so a client cannot page into another tenant's partition.
pub(crate) fn decode_cursor(expected_index_pk: &str, cursor: &str) -> Option<Item> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let keys: HashMap<String, String> = serde_json::from_slice(&bytes).ok()?;
    let of_index = |index_pk: &str, index_sk: &str| {
        keys.get(index_pk).map(String::as_str) == Some(expected_index_pk) && keys.contains_key(index_sk)
    };
    let well_formed = keys.len() == 4
        && (of_index(GSI1PK, GSI1SK) || of_index(GSI2PK, GSI2SK))
        && [PK, SK].iter().all(|name| keys.contains_key(*name));
    well_formed.then(|| keys.into_iter().map(|(name, value)| (name, s(value))).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The attribute value a JSON value makes, built value by value as the store did before it
    /// wrote merchant JSON directly: the oracle of the tests below.
    fn to_attribute(value: &Value) -> Result<AttributeValue, StoreError> {
        Ok(match value {
            Value::Null => AttributeValue::Null(true),
            Value::Bool(flag) => AttributeValue::Bool(*flag),
            Value::Number(number) => {
                let number = number.to_string();
                storable_number(&number).map_err(StoreError::Rejected)?;
                AttributeValue::N(number)
            }
            Value::String(text) => AttributeValue::S(text.clone()),
            Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect::<Result<_, _>>()?),
            Value::Object(fields) => AttributeValue::M(
                fields
                    .iter()
                    .map(|(name, value)| match name.is_empty() {
                        true => Err(StoreError::Rejected(EMPTY_FIELD_NAME.into())),
                        false => Ok((name.clone(), to_attribute(value)?)),
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }

    /// Both ways of writing a JSON value for DynamoDB, as the JSON they send.
    fn both_written(value: &Value) -> (Result<Value, String>, Result<Value, String>) {
        let built = to_attribute(value).map(|attribute| serde_json::to_value(attribute).unwrap());
        let written = written_attribute(value).map(|raw| serde_json::from_str(raw.get()).unwrap());
        let reason = |error: StoreError| match error {
            StoreError::Rejected(reason) => reason,
            StoreError::Unavailable(other) => panic!("not a refusal: {other}"),
        };
        (built.map_err(reason), written.map_err(reason))
    }

    #[test]
    fn values_dynamodb_refuses_are_refused_before_a_write() {
        for refused in [
            json!({"a": {"T": {"": null}}}),
            json!([1, {"": 1}]),
            json!({"n": 5e-324}),
            json!({"n": 1e200}),
        ] {
            let (built, written) = both_written(&refused);
            assert!(built.is_err(), "{refused}");
            assert_eq!(written, built, "{refused}");
        }
        assert!(storable_number("1234567890123456789012345678901234567890").is_err());
        assert!(storable_number("-1234567890123456789012345678901234567.8000e3").is_ok());
        assert!(storable_number("10000000000000000000000000000000000000001").is_err());
        assert!(to_attribute(&json!({"n": -4.409823114482466e32, "z": 0, "u": u64::MAX, "f": 0.5})).is_ok());
        assert!(storable_number("-0.000123").is_ok());
    }

    #[test]
    fn json_becomes_the_attribute_values_serde_dynamo_reads_back() {
        let document = json!({
            "s": "text", "empty": "", "int": -42, "big": u64::MAX, "float": 0.1, "exp": 1.5e100,
            "yes": true, "none": null, "list": [1, "a", [], {}], "map": {"nested": {"deep": [null, false]}}
        });
        let (built, written) = both_written(&document);
        assert_eq!(written.unwrap(), built.unwrap(), "the two ways write the same JSON");
        let attribute = to_attribute(&document).unwrap();
        let back: Value = serde_dynamo::from_attribute_value(attribute.clone()).unwrap();
        assert_eq!(back, document);
        let by_serde: AttributeValue = serde_dynamo::to_attribute_value(&document).unwrap();
        let AttributeValue::M(ours) = attribute else {
            panic!("an object is a map")
        };
        let AttributeValue::M(theirs) = by_serde else {
            panic!("an object is a map")
        };
        for (name, value) in &ours {
            match (value, &theirs[name]) {
                (AttributeValue::M(_), _) | (AttributeValue::L(_), _) => {}
                (AttributeValue::N(a), AttributeValue::N(b)) => {
                    assert_eq!(a.parse::<f64>().unwrap(), b.parse::<f64>().unwrap(), "{name}")
                }
                (a, b) => assert_eq!(a, b, "{name}"),
            }
        }
    }

    #[test]
    fn a_documents_update_sets_each_field_then_hookgates_own_attributes() {
        let credentials = crate::aws::Credentials::new("a", "b", None);
        let client = DynamoDb::new("http://127.0.0.1:9", "eu-west-1", credentials).unwrap();
        let store = Store::new(client, "t");
        let sent = |fields: Value, meta: Vec<Meta>| {
            let fields = fields.as_object().unwrap();
            let update = store.update_item("ORG#o#ORDER#1".into(), "ORDER");
            let update = document_update(update, "order", fields, "2026-01-05T03:04:05Z", meta).unwrap();
            serde_json::to_value(update.into_update()).unwrap()["Update"].take()
        };
        let own = "ENTITY = :entity, UPDATED_AT = :now, CREATED_AT = if_not_exists(CREATED_AT, :now)";
        let update = sent(
            json!({"status": "shipped", "total": 12.5}),
            vec![
                Meta::Set(GSI1PK, s("CUSTOMER")),
                Meta::SetIfAbsent(GSI1SK, s("ORDER#1")),
            ],
        );
        assert_eq!(
            update["UpdateExpression"],
            format!("SET #f0 = :f0, #f1 = :f1, {own}, GSI1PK = :m0, GSI1SK = if_not_exists(GSI1SK, :m1)")
        );
        assert_eq!(
            update["ExpressionAttributeNames"],
            json!({"#f0": "status", "#f1": "total"})
        );
        assert_eq!(
            update["ExpressionAttributeValues"],
            json!({":f0": {"S": "shipped"}, ":f1": {"N": "12.5"}, ":entity": {"S": "order"},
                ":now": {"S": "2026-01-05T03:04:05Z"}, ":m0": {"S": "CUSTOMER"}, ":m1": {"S": "ORDER#1"}})
        );
        assert_eq!(
            update["Key"],
            json!({"PK": {"S": "ORG#o#ORDER#1"}, "SK": {"S": "ORDER"}})
        );
        let bare = sent(json!({}), Vec::new());
        assert_eq!(bare["UpdateExpression"], format!("SET {own}"));
        assert!(bare.get("ExpressionAttributeNames").is_none(), "{bare}");
    }

    /// `storable_number`'s digits rule as it was first written (with allocations): the oracle
    /// of the property below.
    fn significant_digits_as_first_written(number: &str) -> usize {
        let mantissa = number.split(['e', 'E']).next().unwrap_or_default();
        let digits = mantissa.trim_start_matches('-').replace('.', "");
        digits.trim_start_matches('0').trim_end_matches('0').len()
    }

    /// Any JSON value: scalars of every kind (numbers mostly in DynamoDB's range, some beyond
    /// it), strings that need escaping, and maps whose names may be empty or need escaping.
    fn any_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            1 => Just(Value::Null),
            1 => any::<bool>().prop_map(Value::from),
            1 => any::<i64>().prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
            3 => (-1e12f64..1e12).prop_map(Value::from),
            1 => any::<f64>()
                .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
                .prop_map(Value::from),
            2 => "\\PC{0,12}".prop_map(Value::from),
            1 => "[\"\\\\\u{0}-\u{1f}a]{0,3}".prop_map(Value::from),
        ];
        let name = prop_oneof![6 => "[a-z]{1,3}", 1 => Just(String::new()), 1 => "[\"\\\\\u{0}-\u{1f}a]{1,3}"];
        scalar.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(name.clone(), inner, 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn a_document_is_written_as_its_attribute_value_serializes(value in any_json()) {
            let (built, written) = both_written(&value);
            proptest::prop_assert_eq!(written, built);
        }

        #[test]
        fn numbers_of_more_than_38_significant_digits_are_refused(
            number in "-?[0-9]{1,45}(\\.[0-9]{1,45})?([eE]-?[0-9]{1,2})?"
        ) {
            let significant = significant_digits_as_first_written(&number);
            if significant > 38 {
                proptest::prop_assert!(storable_number(&number).is_err(), "{}", number);
            }
            let in_range = |magnitude: f64| magnitude == 0.0 || (1e-130..1e126).contains(&magnitude);
            if significant <= 38 && in_range(number.parse::<f64>().unwrap().abs()) {
                proptest::prop_assert!(storable_number(&number).is_ok(), "{}", number);
            }
        }
    }
}
