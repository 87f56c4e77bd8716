//! How the functions speak to AWS, without the SDK: the configuration Lambda sets in the
//! environment ([`AwsConfig`]), and AWS's JSON protocol (`awsJson1_0`, which DynamoDB and SQS
//! speak, and `awsJson1_1`, Secrets Manager's), its query protocol (SNS) and S3's REST over
//! HTTP/1.1 with hyper and rustls, each request signed with SigV4 and retried as the SDK's
//! standard mode retries. The store's DynamoDB client (`store::dynamodb`), [`sqs`],
//! [`secrets_manager`], [`sns`] and [`s3`] are built on it.
//!
//! Why not the AWS SDK: its per-call machinery (runtime components and a config bag per call,
//! endpoint rules, identity resolution, interceptors, a SigV4 over a generic HTTP request) cost
//! about 0.1 ms of CPU per call more than this client does (see the README's cost of a request).
//! This client does the work only: serialize, sign, POST, parse.
//!
//! Why not reqwest, which runs the same hyper client: around it, reqwest parsed the endpoint's
//! URL twice per call (for its redirect policy and for the answer's `url()`) and ran its redirect
//! and timeout services, about a tenth of the client's CPU per call. A call to AWS needs none of
//! them: one endpoint, no redirects, one deadline.

pub mod s3;
pub mod secrets_manager;
mod sigv4;
pub mod sns;
pub mod sqs;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::response::Parts;
use hyper::http::uri::{InvalidUri, Uri};
use hyper::{HeaderMap, Method, Request};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use sigv4::push_digits;

use crate::error::error_chain;

/// Attempts per call, the first included: the SDK's standard retry mode makes three too.
const ATTEMPTS: u32 = 3;
/// One attempt's deadline; AWS answers in milliseconds, a DynamoDB transaction under contention
/// in well under a second.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The error codes the SDK's standard retry mode retries, whatever the service
/// (`aws_runtime::retries::classifiers`: its throttling and transient errors).
const RETRIED_CODES: [&str; 16] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Where the AWS services are and who calls them: what every client of this module is built
/// from, once per container.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    pub region: String,
    /// `AWS_ENDPOINT_URL`: every service at one endpoint (a local emulator). A service's own
    /// variable (`AWS_ENDPOINT_URL_SQS`) outranks it.
    pub endpoint: Option<String>,
    pub credentials: Credentials,
    /// TLS trusting AWS's roots, parsed once for every client of the container.
    pub tls: rustls::ClientConfig,
}

impl AwsConfig {
    /// The configuration Lambda gives a function in its environment: `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`), the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and `AWS_SESSION_TOKEN`, which stay valid while the environment lives, and
    /// `AWS_ENDPOINT_URL` when set. A profile or instance credentials are not read: a function
    /// runs in Lambda or against the local stack, and both set these.
    pub fn from_env() -> Result<Self, String> {
        Self::from_variables(|name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], from the variables `lookup` answers.
    fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let variable = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let required = |name: &str| variable(name).ok_or_else(|| format!("environment variable {name} is not set"));
        Ok(Self {
            region: variable("AWS_REGION")
                .or_else(|| variable("AWS_DEFAULT_REGION"))
                .ok_or("no AWS region is configured (AWS_REGION)")?,
            endpoint: variable("AWS_ENDPOINT_URL"),
            credentials: Credentials::new(
                required("AWS_ACCESS_KEY_ID")?,
                required("AWS_SECRET_ACCESS_KEY")?,
                variable("AWS_SESSION_TOKEN"),
            ),
            tls: tls_trusting(AWS_ROOTS)?,
        })
    }
}

/// An access key, its secret, and the session token of temporary credentials.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
        }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The roots AWS's service endpoints chain to (Amazon Trust Services: Amazon Root CA 1 to 4 and
/// the Starfield Services G2 root that cross-signs them).
pub const AWS_ROOTS: &[u8] = include_bytes!("aws-roots.pem");

/// TLS 1.2 and 1.3 on ring, trusting only the PEM certificates of `roots`: AWS's for the
/// clients here, which talk to nothing else (a fuller bundle is more to parse at each cold start).
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

/// An AWS service the client speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Service {
    /// Its name in errors and logs.
    pub name: &'static str,
    /// Its name in SigV4's scope and in its endpoint's host.
    pub signing_name: &'static str,
    /// The environment variable that names its endpoint (`AWS_ENDPOINT_URL_SQS`).
    pub endpoint_variable: &'static str,
    pub protocol: Protocol,
}

/// How a service's requests and answers are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// AWS's JSON protocol: the operation in `X-Amz-Target` after `target_prefix`, the
    /// protocol's version in the `Content-Type`; JSON both ways.
    Json {
        target_prefix: &'static str,
        content_type: &'static str,
    },
    /// The query protocol (SNS): the operation (`Action`), the API's `Version` and the
    /// parameters as form fields; answers in XML.
    Query { version: &'static str },
    /// REST with XML errors (S3): the operation is the method and the path.
    RestXml,
}

/// The query protocol's requests: a form.
const FORM: &str = "application/x-www-form-urlencoded";

/// What URI encoding keeps as it is: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `text` URI-encoded as RFC 3986 and SigV4 encode a path segment, a query or a form value:
/// every byte but the unreserved characters.
pub fn uri_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The code of an [`AwsError`] whose endpoint's certificate was refused.
pub const CERTIFICATE_REFUSED: &str = "InvalidCertificate";

const JSON_1_0: &str = "application/x-amz-json-1.0";
const JSON_1_1: &str = "application/x-amz-json-1.1";

pub const DYNAMODB: Service = Service {
    name: "DynamoDB",
    signing_name: "dynamodb",
    endpoint_variable: "AWS_ENDPOINT_URL_DYNAMODB",
    protocol: Protocol::Json {
        target_prefix: "DynamoDB_20120810",
        content_type: JSON_1_0,
    },
};

pub const SQS: Service = Service {
    name: "SQS",
    signing_name: "sqs",
    endpoint_variable: "AWS_ENDPOINT_URL_SQS",
    protocol: Protocol::Json {
        target_prefix: "AmazonSQS",
        content_type: JSON_1_0,
    },
};

pub const SECRETS_MANAGER: Service = Service {
    name: "Secrets Manager",
    signing_name: "secretsmanager",
    endpoint_variable: "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    protocol: Protocol::Json {
        target_prefix: "secretsmanager",
        content_type: JSON_1_1,
    },
};

pub const S3: Service = Service {
    name: "S3",
    signing_name: "s3",
    endpoint_variable: "AWS_ENDPOINT_URL_S3",
    protocol: Protocol::RestXml,
};

pub const SNS: Service = Service {
    name: "SNS",
    signing_name: "sns",
    endpoint_variable: "AWS_ENDPOINT_URL_SNS",
    protocol: Protocol::Query { version: "2010-03-31" },
};

/// A call that failed: the service's error code (`ConditionalCheckFailedException`,
/// `QueueDoesNotExist`), `HTTP <status>` for an answer that names none (a proxy's 502),
/// `InvalidCertificate` when the endpoint's certificate was refused, or no code when no answer
/// came (network, timeout).
#[derive(Debug)]
pub struct AwsError {
    pub service: &'static str,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
    /// The error answer as sent, for what a service puts beside its code (DynamoDB's item).
    pub body: Bytes,
}

impl AwsError {
    fn unreachable(service: Service, message: String) -> Self {
        Self {
            service: service.name,
            status: None,
            code: None,
            message,
            body: Bytes::new(),
        }
    }

    /// The error an answer of status `status` carries. A body without the protocol's error
    /// code (a proxy's 502, say) is named by its status.
    fn answered(service: Service, status: u16, body: Bytes) -> Self {
        let named = match service.protocol {
            Protocol::Json { .. } => json_error(&body),
            Protocol::Query { .. } | Protocol::RestXml => xml_error(&body),
        };
        let (code, message) = named.unwrap_or_else(|| {
            (
                format!("HTTP {status}"),
                String::from_utf8_lossy(&body).chars().take(200).collect(),
            )
        });
        Self {
            service: service.name,
            status: Some(status),
            code: Some(code),
            message,
            body,
        }
    }

    /// The endpoint's certificate is not one the client trusts: no retry can mend that.
    fn certificate_refused(service: Service, message: String) -> Self {
        Self {
            code: Some(CERTIFICATE_REFUSED.to_string()),
            ..Self::unreachable(service, message)
        }
    }

    /// What the SDK's standard retry mode retries: no answer (but a refused certificate), the
    /// service's own faults (5xx), throttling.
    pub fn retryable(&self) -> bool {
        match (self.status, self.code.as_deref()) {
            (None, code) => code.is_none(),
            (Some(status), code) => status >= 500 || code.is_some_and(|code| RETRIED_CODES.contains(&code)),
        }
    }
}

/// The code and message of a JSON protocol's error: `{"__type":
/// "com.amazonaws.dynamodb.v20120810#Code", "message": ...}`, with `Message` in some errors and
/// both in some (SQS's through the emulator).
fn json_error(body: &[u8]) -> Option<(String, String)> {
    #[derive(Deserialize)]
    struct ErrorBody {
        #[serde(rename = "__type", default)]
        kind: String,
        message: Option<String>,
        #[serde(rename = "Message")]
        capitalized_message: Option<String>,
    }
    let error = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .filter(|error| !error.kind.is_empty())?;
    Some((
        error.kind.rsplit('#').next().unwrap_or_default().to_string(),
        error.message.or(error.capitalized_message).unwrap_or_default(),
    ))
}

/// The code and message of a query protocol's error (`<ErrorResponse><Error><Type>Sender</Type>
/// <Code>NotFound</Code><Message>...</Message></Error>...`) or S3's (`<Error><Code>...`).
fn xml_error(body: &[u8]) -> Option<(String, String)> {
    let xml = std::str::from_utf8(body).ok()?;
    let error = xml_element(xml, "Error")?;
    let code = xml_text(xml_element(error, "Code")?);
    (!code.is_empty()).then(|| (code, xml_element(error, "Message").map(xml_text).unwrap_or_default()))
}

/// The content of the first element `name` in `xml` (no attributes, not nested in itself).
pub fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = ["<", name, ">"].concat();
    let start = xml.find(&open)? + open.len();
    let length = xml[start..].find(&["</", name, ">"].concat())?;
    Some(&xml[start..start + length])
}

/// XML character data as text: the five predefined entities replaced.
fn xml_text(data: &str) -> String {
    data.trim()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} {code}: {}", self.service, self.message),
            None => write!(f, "{} unreachable: {}", self.service, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

/// HTTP/1.1 over TLS (or plain TCP for a local emulator), connections pooled per host.
type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client of one service's endpoint, built once per container and cloned freely.
#[derive(Clone)]
pub struct AwsClient(Arc<Connection>);

struct Connection {
    service: Service,
    http: HttpClient,
    url: Uri,
    /// The `Host` header as sent: the endpoint's host, and its port when not the default.
    host: String,
    region: String,
    credentials: Credentials,
    /// Requests sent, retries included: what the service bills and throttles.
    requests: AtomicU64,
}

impl std::fmt::Debug for AwsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsClient")
            .field("service", &self.0.service.name)
            .field("url", &self.0.url)
            .finish()
    }
}

impl AwsClient {
    /// A client of `service` at `url` (`https://<signing name>.<region>.amazonaws.com` in AWS)
    /// whose HTTPS trusts what `tls` trusts.
    pub fn new(
        service: Service,
        url: &str,
        region: &str,
        credentials: Credentials,
        tls: rustls::ClientConfig,
    ) -> Result<Self, String> {
        let invalid = |why: &str| format!("{} endpoint {url}: {why}", service.name);
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
            service,
            http,
            url,
            host,
            region: region.to_string(),
            credentials,
            requests: AtomicU64::new(0),
        })))
    }

    /// A client of `service` through the endpoint, region and credentials of the AWS
    /// configuration (the service's `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL` for a
    /// local emulator), with its TLS (AWS's roots).
    pub fn from_config(service: Service, config: &AwsConfig) -> Result<Self, String> {
        Self::from_config_at(service, config, |endpoint, region| {
            endpoint.unwrap_or_else(|| format!("https://{}.{region}.amazonaws.com", service.signing_name))
        })
    }

    /// As [`Self::from_config`], at the URL `url` makes of the configured endpoint (if one is)
    /// and the region: S3's bucket's URL, say.
    pub fn from_config_at(
        service: Service,
        config: &AwsConfig,
        url: impl FnOnce(Option<String>, &str) -> String,
    ) -> Result<Self, String> {
        let endpoint = std::env::var(service.endpoint_variable)
            .ok()
            .or_else(|| config.endpoint.clone());
        let url = url(endpoint, &config.region);
        Self::new(
            service,
            &url,
            &config.region,
            config.credentials.clone(),
            config.tls.clone(),
        )
    }

    /// The URL requests go to, without a trailing `/`.
    pub fn url(&self) -> String {
        self.0.url.to_string().trim_end_matches('/').to_string()
    }

    pub fn region(&self) -> &str {
        &self.0.region
    }

    /// How many requests this client (and its clones) has sent, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Sends one operation of a JSON-protocol service, retrying what the service or the network
    /// says may succeed later.
    pub async fn call<O: DeserializeOwned>(&self, operation: &str, input: &impl Serialize) -> Result<O, AwsError> {
        let service = self.0.service;
        let Protocol::Json {
            target_prefix,
            content_type,
        } = service.protocol
        else {
            return Err(AwsError::unreachable(
                service,
                format!("{operation}: not a JSON-protocol service"),
            ));
        };
        let body = Bytes::from(
            serde_json::to_vec(input)
                .map_err(|e| AwsError::unreachable(service, format!("request not serializable: {e}")))?,
        );
        let target = [target_prefix, ".", operation].concat();
        let answer = self.send(content_type, Some(&target), body).await?;
        serde_json::from_slice(&answer)
            .map_err(|e| AwsError::unreachable(service, format!("unreadable answer to {operation}: {e}")))
    }

    /// Sends one operation of a query-protocol service with its `parameters` (names and
    /// values, form-encoded here), retrying as [`Self::call`] does; answers the XML as sent.
    pub async fn call_query(&self, operation: &str, parameters: &[(&str, &str)]) -> Result<Bytes, AwsError> {
        let service = self.0.service;
        let Protocol::Query { version } = service.protocol else {
            return Err(AwsError::unreachable(
                service,
                format!("{operation}: not a query-protocol service"),
            ));
        };
        let mut form = ["Action=", operation, "&Version=", version].concat();
        for (name, value) in parameters {
            form.extend(["&", name, "=", &uri_encode(value)]);
        }
        self.send(FORM, None, Bytes::from(form)).await
    }

    /// Sends `body`, and again while the failure is one a retry may mend.
    async fn send(&self, content_type: &str, target: Option<&str>, body: Bytes) -> Result<Bytes, AwsError> {
        self.with_retries(|| self.attempt(content_type, target, body.clone()))
            .await
    }

    /// Sends a REST request (S3's) to `path` (URI-encoded, after the client's URL's own path)
    /// with `headers` (lowercase names, all signed) and `body`, retrying as [`Self::call`]
    /// does; answers a 2xx answer's headers and body.
    pub async fn rest(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&'static str, &str)],
        body: Bytes,
    ) -> Result<(HeaderMap, Bytes), AwsError> {
        let connection = &self.0;
        let service = connection.service;
        let path = [connection.url.path().trim_end_matches('/'), path].concat();
        let payload_hash = crate::crypto::sha256_hex(&body);
        let mut headers = headers.to_vec();
        headers.push(("x-amz-content-sha256", &payload_hash));
        let (headers, path, payload_hash, body) = (&headers, &path, &payload_hash, &body);
        self.with_retries(move || async move {
            let request = sigv4::RestRequest {
                method: method.as_str(),
                path,
                query: Vec::new(),
                headers: headers.clone(),
                payload_hash,
            };
            let added = self.signer().sign_in_headers(request, SystemTime::now());
            let mut request = Request::builder()
                .method(method)
                .uri(self.uri(path)?)
                .header(HOST, connection.host.as_str());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            for (name, value) in added {
                request = request.header(name, value);
            }
            let request = request
                .body(Full::new(body.clone()))
                .map_err(|e| AwsError::unreachable(service, format!("request not sendable: {e}")))?;
            let (answer, body) = self.exchange(request).await?;
            Ok((answer.headers, body))
        })
        .await
    }

    /// A URL that lets whoever holds it make a `method` request to `path` (as for
    /// [`Self::rest`]) with `query` (names and values as text) until `expires_in` after `now`,
    /// under this client's credentials: S3's presigned URLs.
    pub fn presigned_url(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, &str)],
        now: SystemTime,
        expires_in: Duration,
    ) -> Result<String, AwsError> {
        let path = [self.0.url.path().trim_end_matches('/'), path].concat();
        let request = sigv4::RestRequest {
            method: method.as_str(),
            path: &path,
            query: query
                .iter()
                .map(|(name, value)| (uri_encode(name), uri_encode(value)))
                .collect(),
            headers: Vec::new(),
            payload_hash: "UNSIGNED-PAYLOAD",
        };
        let query = self.signer().presign(request, now, expires_in.as_secs());
        Ok([self.uri(&path)?.to_string(), "?".into(), query].concat())
    }

    /// SigV4 of a REST request to this client's endpoint under its credentials.
    fn signer(&self) -> sigv4::RestSigner<'_> {
        let connection = &self.0;
        sigv4::RestSigner {
            host: &connection.host,
            service: connection.service.signing_name,
            region: &connection.region,
            credentials: &connection.credentials,
        }
    }

    /// The URI of `path` (from the root) at the client's endpoint.
    fn uri(&self, path: &str) -> Result<Uri, AwsError> {
        let url = &self.0.url;
        let (scheme, authority) = (url.scheme_str().unwrap_or("https"), url.authority().map(|a| a.as_str()));
        [scheme, "://", authority.unwrap_or_default(), path]
            .concat()
            .parse()
            .map_err(|e: InvalidUri| AwsError::unreachable(self.0.service, format!("not a URI path: {e}")))
    }

    /// Runs `attempt`, and again while its failure is one a retry may mend.
    async fn with_retries<T, F: Future<Output = Result<T, AwsError>>>(
        &self,
        mut attempt: impl FnMut() -> F,
    ) -> Result<T, AwsError> {
        let mut tried = 1;
        loop {
            match attempt().await {
                Err(error) if tried < ATTEMPTS && error.retryable() => {
                    tokio::time::sleep(retry_wait(tried)).await;
                    tried += 1;
                }
                answer => return answer,
            }
        }
    }

    async fn attempt(&self, content_type: &str, target: Option<&str>, body: Bytes) -> Result<Bytes, AwsError> {
        let connection = &self.0;
        let service = connection.service;
        let credentials = self.credentials();
        let signed = sigv4::sign(
            &sigv4::SigningInput {
                service: service.signing_name,
                content_type,
                host: &connection.host,
                region: &connection.region,
                target,
                body: &body,
                credentials,
            },
            SystemTime::now(),
        );
        let mut request = Request::post(connection.url.clone())
            .header(HOST, connection.host.as_str())
            .header(CONTENT_TYPE, content_type)
            .header("x-amz-date", signed.amz_date)
            .header(AUTHORIZATION, signed.authorization);
        if let Some(target) = target {
            request = request.header("x-amz-target", target);
        }
        if let Some(token) = credentials.session_token() {
            request = request.header("x-amz-security-token", token);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| AwsError::unreachable(service, format!("request not sendable: {e}")))?;
        Ok(self.exchange(request).await?.1)
    }

    /// Sends `request` and reads its whole answer within the attempt's deadline: a 2xx answer,
    /// or the error it carries.
    async fn exchange(&self, request: Request<Full<Bytes>>) -> Result<(Parts, Bytes), AwsError> {
        let connection = &self.0;
        let service = connection.service;
        connection.requests.fetch_add(1, Ordering::Relaxed);
        let exchange = async {
            let response = connection
                .http
                .request(request)
                .await
                .map_err(|e| transport_error(service, &e))?;
            let (answer, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| transport_error(service, &e))?;
            Ok::<_, AwsError>((answer, body.to_bytes()))
        };
        let (answer, body) = tokio::time::timeout(ATTEMPT_TIMEOUT, exchange)
            .await
            .map_err(|_| AwsError::unreachable(service, format!("no answer within {ATTEMPT_TIMEOUT:?}")))??;
        if answer.status.is_success() {
            return Ok((answer, body));
        }
        Err(AwsError::answered(service, answer.status.as_u16(), body))
    }

    /// The credentials requests are signed with.
    pub fn credentials(&self) -> &Credentials {
        &self.0.credentials
    }
}

/// A failure to connect, send or read, with its causes.
fn transport_error(service: Service, error: &(dyn std::error::Error + 'static)) -> AwsError {
    if refuses_certificate(error) {
        return AwsError::certificate_refused(service, error_chain(error));
    }
    AwsError::unreachable(service, error_chain(error))
}

/// Whether TLS refused the peer's certificate somewhere in `error`'s causes. rustls' error
/// arrives inside an `io::Error` inside another (tokio-rustls' and hyper-rustls'), and an
/// `io::Error`'s `source()` skips the error it wraps, so each is opened instead.
fn refuses_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if matches!(error.downcast_ref(), Some(rustls::Error::InvalidCertificate(_))) {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(wrapped) => Some(wrapped),
            None => error.source(),
        };
    }
    false
}

/// The wait before attempt `attempt + 1`: 50 ms doubled per attempt, times `jitter` in [0, 1)
/// ("full jitter", as the SDK does), so that throttled callers spread out.
fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    Duration::from_millis(50 << attempt.saturating_sub(1).min(10)).mul_f64(jitter)
}

/// [`retry_delay`] with a freshly drawn jitter; attempts count from 1.
pub fn retry_wait(attempt: u32) -> Duration {
    retry_delay(attempt, crate::random::fraction())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_trust_the_five_amazon_trust_services_roots() {
        let mut rest = AWS_ROOTS;
        let mut subjects = Vec::new();
        while let Ok((after, pem)) = x509_parser::pem::parse_x509_pem(rest) {
            let certificate = pem.parse_x509().expect("a certificate");
            assert!(certificate.is_ca(), "{} is a CA", certificate.subject());
            assert_eq!(certificate.subject(), certificate.issuer(), "a self-signed root");
            subjects.push(certificate.subject().to_string());
            rest = after;
        }
        let common_names: Vec<&str> = subjects
            .iter()
            .map(|subject| subject.rsplit("CN=").next().unwrap_or_default())
            .collect();
        assert_eq!(
            common_names,
            [
                "Amazon Root CA 1",
                "Amazon Root CA 2",
                "Amazon Root CA 3",
                "Amazon Root CA 4",
                "Starfield Services Root Certificate Authority - G2"
            ]
        );
        tls_trusting(AWS_ROOTS).expect("the clients' TLS configuration");
    }

    #[test]
    fn the_configuration_is_read_as_lambda_sets_it() {
        let lambda = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ];
        let from = |variables: &[(&str, &str)]| {
            let variables: Vec<(String, String)> = variables
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect();
            AwsConfig::from_variables(move |name| {
                variables
                    .iter()
                    .find(|(variable, _)| variable == name)
                    .map(|(_, value)| value.clone())
            })
        };
        let config = from(&lambda).unwrap();
        assert_eq!(
            (config.region.as_str(), config.endpoint.as_deref()),
            ("eu-west-1", None)
        );
        let credentials = &config.credentials;
        assert_eq!(
            (
                credentials.access_key_id(),
                credentials.secret_access_key(),
                credentials.session_token()
            ),
            ("ASIAEXAMPLE", "secret", Some("token"))
        );
        assert!(!format!("{config:?}").contains("secret\""), "the secret is not logged");

        let local = [
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_SESSION_TOKEN", ""),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5005"),
        ];
        let config = from(&local).unwrap();
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.endpoint.as_deref(), Some("http://127.0.0.1:5005"));
        assert_eq!(config.credentials.session_token(), None, "an empty token is none");

        let error = from(&lambda[..3]).map(|_| ()).unwrap_err();
        assert!(error.contains("AWS_SECRET_ACCESS_KEY"), "{error}");
        assert!(from(&lambda[2..]).is_err(), "no region");
    }

    #[test]
    fn errors_name_their_code_or_their_status() {
        let body = br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist.","Message":"The specified queue does not exist."}"#;
        let error = AwsError::answered(SQS, 400, Bytes::from_static(body));
        assert_eq!(error.code.as_deref(), Some("QueueDoesNotExist"));
        assert_eq!(
            error.to_string(),
            "SQS QueueDoesNotExist: The specified queue does not exist."
        );
        assert!(!error.retryable());
        for body in [&b"<html>Bad Gateway</html>"[..], br#"{"message":"upstream"}"#] {
            let error = AwsError::answered(DYNAMODB, 502, Bytes::from_static(body));
            assert_eq!(error.code.as_deref(), Some("HTTP 502"));
            assert!(error.retryable(), "a gateway's answer is retried");
        }
        let capitalized = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","Message":"bad"}"#;
        let error = AwsError::answered(DYNAMODB, 400, Bytes::from_static(capitalized));
        assert_eq!(
            (error.code.as_deref(), error.message.as_str()),
            (Some("ValidationException"), "bad")
        );
        let xml = br#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded &amp; &lt;retry&gt;</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        let error = AwsError::answered(SNS, 400, Bytes::from_static(xml));
        assert_eq!(
            (error.code.as_deref(), error.message.as_str()),
            (Some("Throttling"), "Rate exceeded & <retry>")
        );
        assert!(error.retryable());
        let error = AwsError::answered(SNS, 502, Bytes::from_static(b"<html>Bad Gateway</html>"));
        assert_eq!(error.code.as_deref(), Some("HTTP 502"));
        let unreachable = AwsError::unreachable(DYNAMODB, "connection refused".into());
        assert_eq!(unreachable.to_string(), "DynamoDB unreachable: connection refused");
    }

    #[test]
    fn a_refused_certificate_is_named_and_not_retried_wherever_it_lies_in_the_causes() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error (Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As hyper-rustls hands it over: tokio-rustls' I/O error inside one of its own.
        let refused = std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, refused));
        let error = Outer(refused);
        let error = transport_error(DYNAMODB, &error);
        assert_eq!(error.code.as_deref(), Some(CERTIFICATE_REFUSED));
        assert!(error.message.contains("UnknownIssuer"), "{}", error.message);
        assert!(!error.retryable());
        let reset = Outer(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        let error = transport_error(DYNAMODB, &reset);
        assert_eq!(error.code, None);
        assert!(error.retryable(), "a dropped connection is tried again");
        let other_tls = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(transport_error(DYNAMODB, &Outer(other_tls)).retryable());
    }

    #[test]
    fn throttling_and_faults_are_retried_with_growing_spread_out_waits() {
        let error = |status: Option<u16>, code: &str| AwsError {
            service: "DynamoDB",
            status,
            code: status.map(|_| code.to_string()),
            message: String::new(),
            body: Bytes::new(),
        };
        assert!(error(None, "").retryable());
        assert!(error(Some(400), "ProvisionedThroughputExceededException").retryable());
        assert!(error(Some(400), "RequestThrottled").retryable());
        assert!(error(Some(500), "InternalServerError").retryable());
        assert!(error(Some(503), "HTTP 503").retryable());
        assert!(!error(Some(400), "ConditionalCheckFailedException").retryable());
        assert!(!error(Some(400), "ValidationException").retryable());
        assert_eq!(retry_delay(1, 0.5), Duration::from_millis(25));
        assert_eq!(retry_delay(2, 0.5), Duration::from_millis(50));
        assert_eq!(retry_delay(1, 0.0), Duration::ZERO);
    }
}
