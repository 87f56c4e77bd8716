//! The store's DynamoDB client: DynamoDB's JSON protocol (`awsJson1_0`) over HTTP/1.1 with
//! hyper and rustls, each request signed with SigV4.
//!
//! Why not the AWS SDK: its per-call machinery (runtime components and a config bag per call,
//! endpoint rules, identity resolution, interceptors, retry bookkeeping) cost about 0.1 ms of
//! CPU per call more than this client does (`make bench`: the key check's `UpdateItem` 0.38
//! against 0.27 ms), and the functions no longer compile the DynamoDB SDK. This client does the
//! work only: serialize, sign, POST, parse. Its builders keep the SDK's method names,
//! so the entity modules read as they would with the SDK.
//!
//! Why not reqwest, which runs the same hyper client: around it, reqwest parsed the endpoint's
//! URL twice per call (for its redirect policy and for the answer's `url()`) and ran its redirect
//! and timeout services, about a tenth of the client's CPU per call (see the README's cost of a
//! request). A DynamoDB call needs none of them: one endpoint, no redirects, one deadline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE as CONTENT_TYPE_HEADER, HOST};
use hyper::http::uri::{InvalidUri, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

pub use serde_dynamo::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

const SERVICE: &str = "dynamodb";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// Attempts per call, the first included: the SDK's standard retry mode makes three too.
const ATTEMPTS: u32 = 3;
/// One attempt's deadline; DynamoDB answers in milliseconds, a transaction under contention in
/// well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Credentials are fetched again this long before they expire (Lambda's come from the
/// environment and do not expire while the container lives).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);
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

/// DynamoDB's error body: `{"__type": "com.amazonaws.dynamodb.v20120810#Code", "message": ...}`
/// (`Message` in some errors).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type", default)]
    kind: String,
    #[serde(alias = "Message", default)]
    message: String,
    #[serde(rename = "Item")]
    item: Option<Item>,
    #[serde(rename = "CancellationReasons", default)]
    cancellation_reasons: Vec<CancellationReason>,
}

/// Handle on DynamoDB, built once per container and cloned freely.
#[derive(Clone)]
pub struct DynamoDb(Arc<Connection>);

/// HTTP/1.1 over TLS (or plain TCP for a local emulator), connections pooled per host.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Connection {
    http: HttpClient,
    url: Uri,
    /// The `Host` header as sent: the endpoint's host, and its port when not the default.
    host: String,
    region: String,
    credentials: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
    /// Requests sent, retries included: what DynamoDB bills and throttles.
    requests: AtomicU64,
}

impl std::fmt::Debug for DynamoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoDb").field("url", &self.0.url).finish()
    }
}

/// The roots AWS's service endpoints chain to (Amazon Trust Services: Amazon Root CA 1 to 4 and
/// the Starfield Services G2 root that cross-signs them).
pub const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// TLS 1.2 and 1.3 on ring, trusting only the PEM certificates of `roots`: AWS's for the store,
/// which talks to nothing else (a fuller bundle is more to parse at each cold start).
pub fn tls_trusting(roots: &[u8]) -> Result<rustls::ClientConfig, String> {
    let mut store = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(roots) {
        let certificate = certificate.map_err(|e| format!("a root certificate is not PEM: {e}"))?;
        store
            .add(certificate)
            .map_err(|e| format!("a root certificate is unusable: {e}"))?;
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(store)
            .with_no_client_auth(),
    )
}

impl DynamoDb {
    /// A client of the endpoint at `url` (`https://dynamodb.<region>.amazonaws.com` in AWS).
    pub fn new(url: &str, region: &str, credentials: SharedCredentialsProvider) -> Result<Self, String> {
        Self::with_tls(url, region, credentials, tls_trusting(AWS_ROOTS)?)
    }

    /// A client of the endpoint at `url` whose HTTPS trusts what `tls` trusts.
    pub fn with_tls(
        url: &str,
        region: &str,
        credentials: SharedCredentialsProvider,
        tls: rustls::ClientConfig,
    ) -> Result<Self, String> {
        let invalid = |why: &str| format!("DynamoDB endpoint {url}: {why}");
        let url: Uri = url.parse().map_err(|e: InvalidUri| invalid(&e.to_string()))?;
        let default_port = match url.scheme_str() {
            Some("https") => 443,
            Some("http") => 80,
            _ => return Err(invalid("not an http or https URL")),
        };
        let host = match (url.host(), url.port_u16()) {
            (Some(host), Some(port)) if port != default_port => format!("{host}:{port}"),
            (Some(host), _) => host.to_string(),
            (None, _) => return Err(invalid("no host")),
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        // A request is written in one go and waited for: Nagle's delay would only hold it back.
        tcp.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        // The pool's timer closes connections idle for 90 s (hyper's default, as reqwest's).
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(https);
        Ok(Self(Arc::new(Connection {
            http,
            url,
            host,
            region: region.to_string(),
            credentials,
            cached: Mutex::new(None),
            requests: AtomicU64::new(0),
        })))
    }

    /// How many requests this client (and its clones) has sent, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
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
        let body = Bytes::from(
            serde_json::to_vec(input).map_err(|e| unreachable_error(format!("request not serializable: {e}")))?,
        );
        let target = format!("DynamoDB_20120810.{operation}");
        let mut attempt = 1;
        loop {
            match self.attempt(&target, body.clone()).await {
                Err(error) if attempt < ATTEMPTS && retryable(&error) => {
                    tokio::time::sleep(retry_delay(attempt, retry_jitter())).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
                Ok(answer) => {
                    return serde_json::from_slice(&answer)
                        .map_err(|e| unreachable_error(format!("unreadable answer to {operation}: {e}")));
                }
            }
        }
    }

    async fn attempt(&self, target: &str, body: Bytes) -> Result<Bytes, DynamoError> {
        let connection = &self.0;
        let credentials = self.credentials().await?;
        let signed = sign(
            &SigningInput {
                host: &connection.host,
                region: &connection.region,
                target,
                body: &body,
                credentials: &credentials,
            },
            SystemTime::now(),
        );
        let mut request = Request::post(connection.url.clone())
            .header(HOST, connection.host.as_str())
            .header(CONTENT_TYPE_HEADER, CONTENT_TYPE)
            .header("x-amz-target", target)
            .header("x-amz-date", signed.amz_date)
            .header(AUTHORIZATION, signed.authorization);
        if let Some(token) = credentials.session_token() {
            request = request.header("x-amz-security-token", token);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| unreachable_error(format!("request not sendable: {e}")))?;
        connection.requests.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let response = connection
                .http
                .request(request)
                .await
                .map_err(|e| transport_error(&e))?;
            let status = response.status();
            let answer = response.into_body().collect().await.map_err(|e| transport_error(&e))?;
            Ok::<_, DynamoError>((status, answer.to_bytes()))
        };
        let (status, answer) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| unreachable_error(format!("no answer within {ATTEMPT_TIMEOUT:?}")))??;
        if status.is_success() {
            return Ok(answer);
        }
        Err(answer_error(status.as_u16(), &answer))
    }

    /// The credentials, fetched once and again only shortly before they expire.
    async fn credentials(&self) -> Result<Credentials, DynamoError> {
        let fresh = |credentials: &Credentials| {
            credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_BEFORE_EXPIRY)
        };
        if let Some(credentials) = self.0.cached.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && fresh(credentials)
        {
            return Ok(credentials.clone());
        }
        let credentials = self
            .0
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| unreachable_error(format!("no AWS credentials: {e}")))?;
        *self.0.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(credentials.clone());
        Ok(credentials)
    }
}

/// The error an answer of status `status` carries. A body without DynamoDB's `__type` (a proxy's
/// 502, say) is named by its status, which is what decides whether it is retried.
fn answer_error(status: u16, body: &[u8]) -> DynamoError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) if !error.kind.is_empty() => DynamoError {
            code: Some(error.kind.rsplit('#').next().unwrap_or_default().to_string()),
            message: error.message,
            item: error.item,
            cancellation_reasons: error.cancellation_reasons,
        },
        _ => DynamoError {
            code: Some(format!("HTTP {status}")),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
            item: None,
            cancellation_reasons: Vec::new(),
        },
    }
}

/// A failure to connect, send or read, with its causes: hyper's own message alone says little
/// ("client error (Connect)").
fn transport_error(error: &(dyn std::error::Error + 'static)) -> DynamoError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message.push_str(": ");
        message.push_str(&error.to_string());
        cause = error.source();
    }
    unreachable_error(message)
}

fn unreachable_error(message: String) -> DynamoError {
    DynamoError {
        code: None,
        message,
        item: None,
        cancellation_reasons: Vec::new(),
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
            tokio::time::sleep(retry_delay(round, retry_jitter())).await;
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

/// What the SDK's standard retry mode retries: no answer, throttling, and DynamoDB's own faults.
fn retryable(error: &DynamoError) -> bool {
    match error.code.as_deref() {
        None => true,
        Some(code) => {
            code.starts_with("HTTP 5")
                || matches!(
                    code,
                    "ThrottlingException"
                        | "ProvisionedThroughputExceededException"
                        | "RequestLimitExceeded"
                        | "InternalServerError"
                        | "ServiceUnavailable"
                )
        }
    }
}

/// The wait before attempt `attempt + 1`: 50 ms doubled per attempt, times `jitter` in [0, 1)
/// ("full jitter", as the SDK does), so that throttled callers spread out.
fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    Duration::from_millis(50 << (attempt - 1).min(10)).mul_f64(jitter)
}

fn retry_jitter() -> f64 {
    let mut bytes = [0u8; 2];
    getrandom::fill(&mut bytes).expect("the operating system's random source is unavailable");
    f64::from(u16::from_le_bytes(bytes)) / 65536.0
}

/// One request as SigV4 signs it.
struct SigningInput<'a> {
    host: &'a str,
    region: &'a str,
    target: &'a str,
    body: &'a [u8],
    credentials: &'a Credentials,
}

struct Signed {
    amz_date: String,
    authorization: String,
}

/// SigV4 of a DynamoDB request: `POST /` with the headers this client sends, all signed.
/// The unit test checks it against AWS's own signer (`aws-sigv4`). Its strings are put
/// together piece by piece: with `format!` they were most of the signing's own instructions.
fn sign(input: &SigningInput<'_>, now: SystemTime) -> Signed {
    let now = time::OffsetDateTime::from(now);
    let mut amz_date = String::with_capacity(16);
    push_digits(&mut amz_date, now.year().unsigned_abs().into(), 4);
    push_digits(&mut amz_date, u8::from(now.month()).into(), 2);
    push_digits(&mut amz_date, now.day().into(), 2);
    amz_date.push('T');
    for part in [now.hour(), now.minute(), now.second()] {
        push_digits(&mut amz_date, part.into(), 2);
    }
    amz_date.push('Z');
    let date = &amz_date[..8];
    let token = input.credentials.session_token();
    let signed_headers = match token {
        Some(_) => "content-type;host;x-amz-date;x-amz-security-token;x-amz-target",
        None => "content-type;host;x-amz-date;x-amz-target",
    };
    let mut canonical_request = String::with_capacity(512);
    canonical_request.extend(["POST\n/\n\ncontent-type:", CONTENT_TYPE, "\nhost:", input.host]);
    canonical_request.extend(["\nx-amz-date:", &amz_date, "\n"]);
    if let Some(token) = token {
        canonical_request.extend(["x-amz-security-token:", token.trim(), "\n"]);
    }
    canonical_request.extend(["x-amz-target:", input.target, "\n\n", signed_headers, "\n"]);
    push_hex(&mut canonical_request, &Sha256::digest(input.body));
    let scope = [date, "/", input.region, "/", SERVICE, "/aws4_request"].concat();
    let mut string_to_sign = ["AWS4-HMAC-SHA256\n", &amz_date, "\n", &scope, "\n"].concat();
    push_hex(&mut string_to_sign, &Sha256::digest(canonical_request.as_bytes()));
    let secret = ["AWS4", input.credentials.secret_access_key()].concat();
    let mut key = hmac(secret.as_bytes(), date.as_bytes());
    for part in [input.region, SERVICE, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let mut authorization = [
        "AWS4-HMAC-SHA256 Credential=",
        input.credentials.access_key_id(),
        "/",
        &scope,
        ", SignedHeaders=",
        signed_headers,
        ", Signature=",
    ]
    .concat();
    push_hex(&mut authorization, &hmac(&key, string_to_sign.as_bytes()));
    Signed {
        authorization,
        amz_date,
    }
}

/// `value` in decimal, padded with zeros to `width` digits (1 to 20), without `format!`'s
/// machinery.
pub(crate) fn push_digits(out: &mut String, value: u64, width: usize) {
    let (mut digits, mut at, mut rest) = ([b'0'; 20], 20, value);
    while rest > 0 {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.extend(
        digits[at.min(20 - width.min(20))..]
            .iter()
            .map(|&digit| char::from(digit)),
    );
}

/// `bytes` in lowercase hexadecimal.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
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

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    /// The same request signed by AWS's own SigV4 implementation.
    fn signed_by_aws(host: &str, target: &str, body: &[u8], credentials: &Credentials, now: SystemTime) -> String {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as aws_sign};
        use aws_sigv4::sign::v4::SigningParams;
        let identity = credentials.clone().into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(SERVICE)
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [("content-type", CONTENT_TYPE), ("host", host), ("x-amz-target", target)];
        let request = SignableRequest::new(
            "POST",
            format!("http://{host}/"),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = aws_sign(request, &params).unwrap().into_parts();
        let (headers, _) = instructions.into_parts();
        headers
            .iter()
            .find(|header| header.name() == "authorization")
            .map(|header| header.value().to_string())
            .unwrap()
    }

    #[test]
    fn signatures_match_aws_own_signer() {
        let body = br#"{"TableName":"hookgate","Key":{"PK":{"S":"ORG#o"},"SK":{"S":"ORG"}}}"#;
        // 2025-11-24T16:00:00Z, and a time whose every part is one digit: 2026-01-05T03:04:05Z.
        for (seconds, amz_date) in [(1_764_000_000, "20251124T160000Z"), (1_767_582_245, "20260105T030405Z")] {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
            for token in [None, Some("FwoGZXIvYXdzEXAMPLETOKEN")] {
                for host in ["dynamodb.eu-west-1.amazonaws.com", "127.0.0.1:5100"] {
                    let credentials = credentials(token);
                    let ours = sign(
                        &SigningInput {
                            host,
                            region: "eu-west-1",
                            target: "DynamoDB_20120810.GetItem",
                            body,
                            credentials: &credentials,
                        },
                        now,
                    );
                    assert_eq!(
                        ours.authorization,
                        signed_by_aws(host, "DynamoDB_20120810.GetItem", body, &credentials, now)
                    );
                    assert_eq!(ours.amz_date, amz_date);
                }
            }
        }
    }

    #[test]
    fn digits_are_padded_and_hex_is_lowercase() {
        let mut out = String::new();
        push_digits(&mut out, 7, 2);
        push_digits(&mut out, 0, 2);
        push_digits(&mut out, 2026, 4);
        push_digits(&mut out, 12345, 2);
        push_digits(&mut out, u64::MAX, 1);
        push_hex(&mut out, &[0x00, 0x9f, 0xa0, 0xff]);
        assert_eq!(out, "070020261234518446744073709551615009fa0ff");
    }

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
    fn errors_name_their_code_and_what_failed() {
        let body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed","Message":"failed"},{"Code":"None"}]}"#;
        let error = answer_error(400, body);
        assert_eq!(error.code.as_deref(), Some("TransactionCanceledException"));
        assert_eq!(error.message, "cancelled");
        let codes: Vec<_> = error.cancellation_reasons.iter().map(|r| r.code.as_deref()).collect();
        assert_eq!(codes, [Some("ConditionalCheckFailed"), Some("None")]);
        let failed = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"no","Item":{"PK":{"S":"a"}}}"#;
        let error = answer_error(400, failed);
        assert_eq!(error.code.as_deref(), Some("ConditionalCheckFailedException"));
        assert_eq!(error.item.unwrap()["PK"], AttributeValue::S("a".into()));
        for body in [&b"<html>Bad Gateway</html>"[..], br#"{"message":"upstream"}"#] {
            let error = answer_error(502, body);
            assert_eq!(error.code.as_deref(), Some("HTTP 502"));
            assert!(retryable(&error), "a gateway's answer is retried");
        }
    }

    #[test]
    fn throttling_and_faults_are_retried_with_growing_spread_out_waits() {
        let error = |code: Option<&str>| DynamoError {
            code: code.map(str::to_string),
            message: String::new(),
            item: None,
            cancellation_reasons: Vec::new(),
        };
        assert!(retryable(&error(None)));
        assert!(retryable(&error(Some("ProvisionedThroughputExceededException"))));
        assert!(retryable(&error(Some("HTTP 503"))));
        assert!(!retryable(&error(Some("ConditionalCheckFailedException"))));
        assert!(!retryable(&error(Some("ValidationException"))));
        assert_eq!(retry_delay(1, 0.5), Duration::from_millis(25));
        assert_eq!(retry_delay(2, 0.5), Duration::from_millis(50));
        assert_eq!(retry_delay(1, 0.0), Duration::ZERO);
        assert!((0..1000).all(|_| (0.0..1.0).contains(&retry_jitter())));
    }
}
