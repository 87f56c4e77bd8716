//! The store's DynamoDB client: DynamoDB's operations over AWS's JSON protocol ([`crate::aws`]),
//! with the SDK's method names, so the entity modules read as they would with the SDK. The
//! functions do not compile the DynamoDB SDK.

use std::collections::HashMap;

use crate::aws::Credentials;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::aws::{AwsClient, AwsError, DYNAMODB, retry_wait};

pub use serde_dynamo::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

/// Rounds of a batch call before what DynamoDB keeps leaving unprocessed is an error, with a
/// backoff of up to 1.55 s in all between them.
const UNPROCESSED_ROUNDS: u32 = 6;

/// The SDK's accessors on an attribute value: `Ok` with the value when it is of that type.
pub trait AttributeValueExt {
    fn as_s(&self) -> Result<&String, &Self>;
    fn as_n(&self) -> Result<&String, &Self>;
    fn as_m(&self) -> Result<&Item, &Self>;
    fn as_l(&self) -> Result<&Vec<AttributeValue>, &Self>;
    fn as_ss(&self) -> Result<&Vec<String>, &Self>;
    fn as_bool(&self) -> Result<&bool, &Self>;
}

impl AttributeValueExt for AttributeValue {
    fn as_s(&self) -> Result<&String, &Self> {
        if let AttributeValue::S(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
    fn as_n(&self) -> Result<&String, &Self> {
        if let AttributeValue::N(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
    fn as_m(&self) -> Result<&Item, &Self> {
        if let AttributeValue::M(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
    fn as_l(&self) -> Result<&Vec<AttributeValue>, &Self> {
        if let AttributeValue::L(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
    fn as_ss(&self) -> Result<&Vec<String>, &Self> {
        if let AttributeValue::Ss(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
    fn as_bool(&self) -> Result<&bool, &Self> {
        if let AttributeValue::Bool(value) = self {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

/// What a write returns of the item (`ReturnValues`).
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReturnValue {
    None,
    AllOld,
    UpdatedOld,
    AllNew,
    UpdatedNew,
}

/// What a write whose condition failed returns of the item.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReturnValuesOnConditionCheckFailure {
    AllOld,
}

/// The parameters of one request; each operation sends the ones it was given.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Input {
    #[serde(skip_serializing_if = "Option::is_none")]
    table_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<Attributes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_condition_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    update_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    condition_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    projection_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression_attribute_names: Option<HashMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expression_attribute_values: Option<Attributes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_values: Option<ReturnValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    return_values_on_condition_check_failure: Option<ReturnValuesOnConditionCheckFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scan_index_forward: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exclusive_start_key: Option<Item>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consistent_read: Option<bool>,
}

/// A map of attribute values (an `Item`, `ExpressionAttributeValues`), some of them already
/// written as DynamoDB JSON (`{"M": {...}}`): merchant JSON is written so, without building its
/// attribute values first (`store::written_attribute`).
#[derive(Clone, Debug, Default)]
struct Attributes {
    built: Item,
    written: Vec<(String, Box<RawValue>)>,
}

impl Attributes {
    fn built(built: Item) -> Self {
        Self {
            built,
            written: Vec::new(),
        }
    }

    /// Each name is given once, whichever way: JSON with a repeated key means whatever its
    /// reader makes of it.
    fn push_written(&mut self, name: String, value: Box<RawValue>) {
        debug_assert!(
            !self.built.contains_key(&name) && self.written.iter().all(|(given, _)| *given != name),
            "{name} given twice"
        );
        self.written.push((name, value));
    }
}

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.built.len() + self.written.len()))?;
        for (name, value) in &self.built {
            map.serialize_entry(name, value)?;
        }
        for (name, value) in &self.written {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// One write of a `TransactWriteItems`.
#[derive(Clone, Debug, Serialize)]
pub enum TransactWriteItem {
    Put(Input),
    Update(Input),
    Delete(Input),
}

/// One write of a `BatchWriteItem`: a whole item put, or a key deleted, without conditions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WriteRequest {
    PutRequest {
        #[serde(rename = "Item")]
        item: Item,
    },
    DeleteRequest {
        #[serde(rename = "Key")]
        key: Item,
    },
}

/// What any operation answers; each fills the fields it has.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    pub item: Option<Item>,
    pub attributes: Option<Item>,
    pub items: Option<Vec<Item>>,
    pub last_evaluated_key: Option<Item>,
}

impl Output {
    /// The items a query or scan returned (none when it returned none).
    pub fn items(&self) -> &[Item] {
        self.items.as_deref().unwrap_or_default()
    }

    /// The attributes a write returned, when it asked for some.
    pub fn attributes(&self) -> Option<&Item> {
        self.attributes.as_ref()
    }
}

/// A call that failed: DynamoDB's error code (`ConditionalCheckFailedException`), or none when
/// no answer came (network, timeout).
#[derive(Debug)]
pub struct DynamoError {
    pub code: Option<String>,
    pub message: String,
    /// The item a failed condition saw, when the write asked for it.
    pub item: Option<Item>,
    /// Why each write of a cancelled transaction failed, in the order of the writes.
    pub cancellation_reasons: Vec<CancellationReason>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancellationReason {
    pub code: Option<String>,
}

impl std::fmt::Display for DynamoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "DynamoDB {code}: {}", self.message),
            None => write!(f, "DynamoDB unreachable: {}", self.message),
        }
    }
}

impl std::error::Error for DynamoError {}

/// What DynamoDB puts beside an error's code: the item a failed condition saw, and why each
/// write of a cancelled transaction failed.
#[derive(Deserialize)]
struct ErrorDetails {
    #[serde(rename = "Item")]
    item: Option<Item>,
    #[serde(rename = "CancellationReasons", default)]
    cancellation_reasons: Vec<CancellationReason>,
}

impl From<AwsError> for DynamoError {
    fn from(error: AwsError) -> Self {
        let details = match error.code {
            Some(_) => serde_json::from_slice::<ErrorDetails>(&error.body).ok(),
            None => None,
        };
        let (item, cancellation_reasons) = details.map_or((None, Vec::new()), |d| (d.item, d.cancellation_reasons));
        DynamoError {
            code: error.code,
            message: error.message,
            item,
            cancellation_reasons,
        }
    }
}

/// Handle on DynamoDB, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct DynamoDb(AwsClient);

impl DynamoDb {
    /// A client of the endpoint at `url` (`https://dynamodb.<region>.amazonaws.com` in AWS).
    pub fn new(url: &str, region: &str, credentials: Credentials) -> Result<Self, String> {
        Self::with_tls(
            url,
            region,
            credentials,
            crate::aws::tls_trusting(crate::aws::AWS_ROOTS)?,
        )
    }

    /// A client of the endpoint at `url` whose HTTPS trusts what `tls` trusts.
    pub fn with_tls(
        url: &str,
        region: &str,
        credentials: Credentials,
        tls: rustls::ClientConfig,
    ) -> Result<Self, String> {
        AwsClient::new(DYNAMODB, url, region, credentials, tls).map(Self)
    }

    /// The client of the AWS configuration's endpoint, region and credentials.
    pub fn from_config(config: &crate::aws::AwsConfig) -> Result<Self, String> {
        AwsClient::from_config(DYNAMODB, config).map(Self)
    }

    /// How many requests this client (and its clones) has sent, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.0.requests_sent()
    }

    pub fn get_item(&self) -> Operation {
        self.operation("GetItem")
    }
    pub fn put_item(&self) -> Operation {
        self.operation("PutItem")
    }
    pub fn update_item(&self) -> Operation {
        self.operation("UpdateItem")
    }
    pub fn delete_item(&self) -> Operation {
        self.operation("DeleteItem")
    }
    pub fn query(&self) -> Operation {
        self.operation("Query")
    }
    pub fn scan(&self) -> Operation {
        self.operation("Scan")
    }

    fn operation(&self, name: &'static str) -> Operation {
        Operation {
            client: self.clone(),
            name,
            input: Input::default(),
        }
    }

    pub fn transact_write_items(&self) -> Transaction {
        Transaction {
            client: self.clone(),
            items: Vec::new(),
        }
    }

    /// Reads `keys` from `table` (at most 100) with `BatchGetItem`, asking again, after a backoff,
    /// for the keys DynamoDB leaves unprocessed: the items found, absent ones left out.
    pub async fn batch_get_item(
        &self,
        table: &str,
        keys: Vec<Item>,
        consistent: bool,
    ) -> Result<Vec<Item>, DynamoError> {
        #[derive(Serialize)]
        struct Keys {
            #[serde(rename = "Keys")]
            keys: Vec<Item>,
            #[serde(rename = "ConsistentRead", skip_serializing_if = "std::ops::Not::not")]
            consistent: bool,
        }
        #[derive(Deserialize)]
        struct Unprocessed {
            #[serde(rename = "Keys")]
            keys: Vec<Item>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            #[serde(default)]
            responses: HashMap<String, Vec<Item>>,
            #[serde(default)]
            unprocessed_keys: HashMap<String, Unprocessed>,
        }
        in_rounds("BatchGetItem", keys, |pending| async move {
            let request = HashMap::from([(
                "RequestItems",
                HashMap::from([(
                    table,
                    Keys {
                        keys: pending,
                        consistent,
                    },
                )]),
            )]);
            let mut answer: Answer = self.call("BatchGetItem", &request).await?;
            let unprocessed = answer.unprocessed_keys.remove(table).map(|rest| rest.keys);
            Ok((
                answer.responses.remove(table).unwrap_or_default(),
                unprocessed.unwrap_or_default(),
            ))
        })
        .await
    }

    /// Writes `requests` to `table` (at most 25) with `BatchWriteItem`, sending again, after a
    /// backoff, what DynamoDB leaves unprocessed.
    pub async fn batch_write_item(&self, table: &str, requests: Vec<WriteRequest>) -> Result<(), DynamoError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "UnprocessedItems", default)]
            unprocessed: HashMap<String, Vec<WriteRequest>>,
        }
        in_rounds("BatchWriteItem", requests, |pending| async move {
            let request = HashMap::from([("RequestItems", HashMap::from([(table, pending)]))]);
            let mut answer: Answer = self.call("BatchWriteItem", &request).await?;
            Ok((Vec::<()>::new(), answer.unprocessed.remove(table).unwrap_or_default()))
        })
        .await?;
        Ok(())
    }

    /// Sends one operation, retrying what DynamoDB or the network says may succeed later.
    async fn call<O: DeserializeOwned>(&self, operation: &str, input: &impl Serialize) -> Result<O, DynamoError> {
        Ok(self.0.call(operation, input).await?)
    }
}

/// Sends a batch call's `pending` requests in rounds: each round's `send` answers what it got
/// and what DynamoDB left unprocessed, which the next round sends again after a backoff. What
/// is still left after the last round is an error.
async fn in_rounds<T, O, F, Fut>(operation: &str, pending: Vec<T>, mut send: F) -> Result<Vec<O>, DynamoError>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<O>, Vec<T>), DynamoError>>,
{
    let mut got = Vec::new();
    let mut pending = pending;
    for round in 1..=UNPROCESSED_ROUNDS {
        let (answered, unprocessed) = send(pending).await?;
        got.extend(answered);
        pending = unprocessed;
        if pending.is_empty() {
            return Ok(got);
        }
        if round < UNPROCESSED_ROUNDS {
            tokio::time::sleep(retry_wait(round)).await;
        }
    }
    Err(unprocessed_error(operation, pending.len()))
}

/// A batch call whose last round still left items unprocessed: DynamoDB's throttling outlasted
/// the backoff. (`Unprocessed` is this client's code, not DynamoDB's.)
fn unprocessed_error(operation: &str, left: usize) -> DynamoError {
    DynamoError {
        code: Some("Unprocessed".to_string()),
        message: format!("{operation} left {left} unprocessed after {UNPROCESSED_ROUNDS} rounds"),
        item: None,
        cancellation_reasons: Vec::new(),
    }
}

/// A request being built; the method names are the SDK's.
#[derive(Clone, Debug)]
pub struct Operation {
    client: DynamoDb,
    name: &'static str,
    input: Input,
}

impl Operation {
    pub fn table_name(mut self, table: impl Into<String>) -> Self {
        self.input.table_name = Some(table.into());
        self
    }
    pub fn index_name(self, index: impl Into<String>) -> Self {
        self.set_index_name(Some(index.into()))
    }
    pub fn set_index_name(mut self, index: Option<String>) -> Self {
        self.input.index_name = index;
        self
    }
    pub fn key(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.input.key.get_or_insert_default().insert(name.into(), value);
        self
    }
    pub fn set_key(mut self, key: Option<Item>) -> Self {
        self.input.key = key;
        self
    }
    pub fn item(mut self, name: impl Into<String>, value: AttributeValue) -> Self {
        self.input.item.get_or_insert_default().built.insert(name.into(), value);
        self
    }
    pub fn set_item(mut self, item: Option<Item>) -> Self {
        self.input.item = item.map(Attributes::built);
        self
    }
    /// An attribute of the item already written as DynamoDB JSON; the caller vouches that it is
    /// one (`store::written_attribute`), and gives each name once. `set_item` replaces these too.
    pub(crate) fn item_written(mut self, name: impl Into<String>, value: Box<RawValue>) -> Self {
        self.input.item.get_or_insert_default().push_written(name.into(), value);
        self
    }
    pub fn key_condition_expression(mut self, expression: impl Into<String>) -> Self {
        self.input.key_condition_expression = Some(expression.into());
        self
    }
    pub fn update_expression(mut self, expression: impl Into<String>) -> Self {
        self.input.update_expression = Some(expression.into());
        self
    }
    pub fn condition_expression(self, expression: impl Into<String>) -> Self {
        self.set_condition_expression(Some(expression.into()))
    }
    pub fn set_condition_expression(mut self, expression: Option<String>) -> Self {
        self.input.condition_expression = expression;
        self
    }
    pub fn filter_expression(self, expression: impl Into<String>) -> Self {
        self.set_filter_expression(Some(expression.into()))
    }
    pub fn set_filter_expression(mut self, expression: Option<String>) -> Self {
        self.input.filter_expression = expression;
        self
    }
    pub fn projection_expression(mut self, expression: impl Into<String>) -> Self {
        self.input.projection_expression = Some(expression.into());
        self
    }
    pub fn expression_attribute_names(mut self, placeholder: impl Into<String>, name: impl Into<String>) -> Self {
        let names = self.input.expression_attribute_names.get_or_insert_default();
        names.insert(placeholder.into(), name.into());
        self
    }
    pub fn set_expression_attribute_names(mut self, names: Option<HashMap<String, String>>) -> Self {
        self.input.expression_attribute_names = names;
        self
    }
    pub fn expression_attribute_values(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        let values = self.input.expression_attribute_values.get_or_insert_default();
        values.built.insert(placeholder.into(), value);
        self
    }
    pub fn set_expression_attribute_values(mut self, values: Option<Item>) -> Self {
        self.input.expression_attribute_values = values.map(Attributes::built);
        self
    }
    /// An expression attribute value already written as DynamoDB JSON, as [`Self::item_written`]
    /// takes one. `set_expression_attribute_values` replaces these too.
    pub(crate) fn expression_attribute_written(mut self, placeholder: impl Into<String>, value: Box<RawValue>) -> Self {
        let values = self.input.expression_attribute_values.get_or_insert_default();
        values.push_written(placeholder.into(), value);
        self
    }
    pub fn return_values(mut self, returned: ReturnValue) -> Self {
        self.input.return_values = Some(returned);
        self
    }
    pub fn return_values_on_condition_check_failure(mut self, returned: ReturnValuesOnConditionCheckFailure) -> Self {
        self.input.return_values_on_condition_check_failure = Some(returned);
        self
    }
    pub fn scan_index_forward(mut self, forward: bool) -> Self {
        self.input.scan_index_forward = Some(forward);
        self
    }
    pub fn limit(mut self, limit: i32) -> Self {
        self.input.limit = Some(limit);
        self
    }
    pub fn set_exclusive_start_key(mut self, start: Option<Item>) -> Self {
        self.input.exclusive_start_key = start;
        self
    }
    pub fn consistent_read(self, consistent: bool) -> Self {
        self.set_consistent_read(Some(consistent))
    }
    pub fn set_consistent_read(mut self, consistent: Option<bool>) -> Self {
        self.input.consistent_read = consistent;
        self
    }

    pub async fn send(self) -> Result<Output, DynamoError> {
        self.client.call(self.name, &self.input).await
    }

    /// This request's parameters as one write of a transaction.
    pub fn into_put(self) -> TransactWriteItem {
        TransactWriteItem::Put(self.input)
    }
    pub fn into_update(self) -> TransactWriteItem {
        TransactWriteItem::Update(self.input)
    }
    pub fn into_delete(self) -> TransactWriteItem {
        TransactWriteItem::Delete(self.input)
    }
}

/// A `TransactWriteItems` being built.
#[derive(Debug)]
pub struct Transaction {
    client: DynamoDb,
    items: Vec<TransactWriteItem>,
}

impl Transaction {
    pub fn transact_items(mut self, item: TransactWriteItem) -> Self {
        self.items.push(item);
        self
    }
    pub fn set_transact_items(mut self, items: Option<Vec<TransactWriteItem>>) -> Self {
        self.items = items.unwrap_or_default();
        self
    }
    pub async fn send(self) -> Result<Output, DynamoError> {
        #[derive(Serialize)]
        struct Request<'a> {
            #[serde(rename = "TransactItems")]
            items: &'a [TransactWriteItem],
        }
        self.client
            .call("TransactWriteItems", &Request { items: &self.items })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_dynamodb_json() {
        let input = Input {
            table_name: Some("t".into()),
            key: Some(Item::from([("PK".into(), AttributeValue::S("a".into()))])),
            return_values: Some(ReturnValue::AllNew),
            scan_index_forward: Some(false),
            ..Input::default()
        };
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            serde_json::json!({"TableName": "t", "Key": {"PK": {"S": "a"}}, "ReturnValues": "ALL_NEW", "ScanIndexForward": false})
        );
        let write = TransactWriteItem::Delete(Input::default());
        assert_eq!(serde_json::to_value(&write).unwrap(), serde_json::json!({"Delete": {}}));
    }

    #[test]
    fn errors_carry_the_failed_condition_and_the_cancellation_reasons() {
        let answered = |body: &'static str| AwsError {
            service: "DynamoDB",
            status: Some(400),
            code: serde_json::from_str::<serde_json::Value>(body).unwrap()["__type"]
                .as_str()
                .and_then(|kind| kind.rsplit('#').next())
                .map(str::to_string),
            message: "m".into(),
            body: bytes::Bytes::from_static(body.as_bytes()),
        };
        let cancelled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed","Message":"failed"},{"Code":"None"}]}"#;
        let error = DynamoError::from(answered(cancelled));
        assert_eq!(error.code.as_deref(), Some("TransactionCanceledException"));
        let codes: Vec<_> = error.cancellation_reasons.iter().map(|r| r.code.as_deref()).collect();
        assert_eq!(codes, [Some("ConditionalCheckFailed"), Some("None")]);
        let failed = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"no","Item":{"PK":{"S":"a"}}}"#;
        let error = DynamoError::from(answered(failed));
        assert_eq!(error.code.as_deref(), Some("ConditionalCheckFailedException"));
        assert_eq!(error.item.unwrap()["PK"], AttributeValue::S("a".into()));
    }
}
