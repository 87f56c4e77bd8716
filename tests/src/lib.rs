//! Test harness: the emulated AWS services (moto) on a free port with the stack's resources
//! created from template.yaml, organizations and keys, requests built from `events/` fixtures,
//! and the local HTTP stack (`cargo lambda watch`) for end-to-end tests.
//!
//! One emulator serves a whole test binary; every test works in an organization of its own, so
//! tests never see each other's data.

pub mod sns;
pub mod tls_relay;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use lambda_http::http::HeaderValue;
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use shared::clock::{Clock, SystemClock};
use shared::runtime::Services;
use shared::secrets::Pepper;
use shared::store::Store;

pub const TABLE: &str = "HookgateTable";
pub const PEPPER_SECRET: &str = "ApiKeyPepperSecret";
pub const DELIVERY_QUEUE: &str = "DeliveryQueue";
pub const DEAD_LETTER_QUEUE: &str = "DeliveryDeadLetterQueue";
pub const REPLY_QUEUE: &str = "ReplyQueue";
pub const EXECUTIONS_QUEUE: &str = "ExecutionsQueue";
pub const CALLS_QUEUE: &str = "CallsQueue";
pub const SIGNING_KEY_SECRET: &str = "SigningKeySecret";
/// The attachments bucket as provisioned locally (its logical id in lower case).
pub const ATTACHMENTS_BUCKET: &str = "attachmentsbucket";
pub const ALERTS_TOPIC: &str = "AlertsTopic";
/// Where the functions are told the deployment is reached (Twilio signs and calls back there).
pub const PUBLIC_BASE_URL: &str = "http://127.0.0.1";

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

pub fn venv_bin(tool: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (it installs the pinned tools into .venv)",
        path.display()
    );
    path
}

/// A binary of the workspace, built by `cargo build --workspace` (which `make test` runs first).
/// Never `cargo run -p`: building one package alone re-resolves features and rebuilds much.
pub fn workspace_binary(name: &str) -> PathBuf {
    let path = repo_root().join("target/debug").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (`make test` does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listened on port {port} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts `command` under a watchdog that ends it (and what it started) once this test process
/// is gone, whichever way the process ends.
pub fn spawn_tied_to_this_process(command: &str, envs: &[(&str, String)], log: &Path) -> TiedProcess {
    let script = format!(
        "{command} & child=$!; while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; \
         kill -TERM $child 2>/dev/null; wait $child",
        parent = std::process::id()
    );
    let log = std::fs::File::create(log).expect("log file");
    let shell = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(envs.iter().map(|(k, v)| (k.to_string(), v.clone())))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("spawning a background process");
    TiedProcess(shell)
}

/// A process from [`spawn_tied_to_this_process`]: its watching shell leads a process group of
/// its own with the command, so that dropping it stops both (killing the shell alone would
/// leave the command running with nothing watching it).
pub struct TiedProcess(Child);

impl Drop for TiedProcess {
    fn drop(&mut self) {
        let group = self.0.id() as libc::pid_t;
        // SAFETY: a plain system call on the group this child leads; an ended group is ESRCH.
        unsafe { libc::killpg(group, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// An HTTPS stand-in run from a Python script of `tests/` (`sns_test_ca.py`, `tls_proxy.py`):
/// it takes a free port, a directory of its own and then `arguments`, generates a test
/// authority into the directory and writes its `ca.pem` there before it listens.
pub struct TlsStandIn {
    pub port: u16,
    pub dir: PathBuf,
    pub ca_pem: Vec<u8>,
    _process: TiedProcess,
}

impl TlsStandIn {
    /// Starts `script` and waits until it listens; `name` names its directory and log.
    pub fn start(script: &str, name: &str, arguments: &str) -> Self {
        let port = free_port();
        let root = repo_root();
        let logs = root.join("target/test-logs");
        let dir = logs.join(format!("{name}-{port}"));
        std::fs::create_dir_all(&dir).expect("stand-in directory");
        let process = spawn_tied_to_this_process(
            &format!(
                "exec {} {} {port} {} {arguments}",
                venv_bin("python").display(),
                root.join("tests").join(script).display(),
                dir.display()
            ),
            &[],
            &logs.join(format!("{name}-{port}.log")),
        );
        wait_for_port(port, Duration::from_secs(60));
        let ca_pem = std::fs::read(dir.join("ca.pem")).expect("the stand-in wrote ca.pem before listening");
        Self {
            port,
            dir,
            ca_pem,
            _process: process,
        }
    }
}

/// The emulator of this test binary, started and provisioned on first use.
pub struct Emulator {
    pub endpoint: String,
    pub queue_urls: std::collections::BTreeMap<String, String>,
    pub topic_arns: std::collections::BTreeMap<String, String>,
    _process: TiedProcess,
}

pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let port = free_port();
        let logs = repo_root().join("target/test-logs");
        std::fs::create_dir_all(&logs).expect("log directory");
        // moto's server, its DynamoDB requests one at a time (see infra/emulator.py).
        let python = venv_bin("python");
        let emulator = repo_root().join("infra/emulator.py");
        let process = spawn_tied_to_this_process(
            &format!(
                "exec {} {} -H 127.0.0.1 -p {port}",
                python.display(),
                emulator.display()
            ),
            &[],
            &logs.join(format!("moto-{port}.log")),
        );
        wait_for_port(port, Duration::from_secs(60));
        let endpoint = format!("http://127.0.0.1:{port}");
        // Provisioning runs on a thread and runtime of its own: this may be called from inside a
        // test's runtime, and SDK clients must not outlive the runtime they were built on.
        let provisioned = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    runtime.block_on(async {
                        let stack = admin::template::StackDefinition::load(&repo_root().join("template.yaml"))
                            .expect("template");
                        admin::provision::provision(&aws_config(&endpoint), &stack)
                            .await
                            .expect("provisioning the emulator")
                    })
                })
                .join()
                .expect("provisioning thread")
        });
        Emulator {
            endpoint,
            queue_urls: provisioned.queue_urls,
            topic_arns: provisioned.topic_arns,
            _process: process,
        }
    })
}

/// The functions' AWS configuration for the emulator, with the dummy credentials of
/// [`sdk_config`] and of [`function_env`].
pub fn aws_config(endpoint: &str) -> shared::aws::AwsConfig {
    shared::aws::AwsConfig {
        region: "us-east-1".into(),
        endpoint: Some(endpoint.into()),
        credentials: shared::aws::Credentials::new("test", "test", None),
        tls: shared::aws::tls_trusting(shared::aws::AWS_ROOTS).expect("AWS's roots"),
    }
}

/// The attachments' bucket in the emulator, reached as the functions reach it.
pub fn file_store() -> shared::blob::FileStore {
    shared::blob::FileStore::new(&aws_config(&emulator().endpoint), ATTACHMENTS_BUCKET, true).expect("file store")
}

/// The SDK's configuration loader with its HTTPS client on rustls with ring (the TLS provider
/// the functions use; the SDK's default, aws-lc, is a second C library to build), trusting
/// AWS's roots only, as the functions' client does.
pub fn sdk_loader() -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls;
    let roots = tls::TrustStore::empty().with_pem_certificate(shared::aws::AWS_ROOTS);
    let context = tls::TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("AWS's root certificates are well-formed PEM");
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .tls_context(context)
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https)
}

/// The SDK's configuration for the emulator (the tests' independent reader), with dummy
/// credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    sdk_loader()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}

/// Environment the functions and the CLI read, pointing at the emulator.
pub fn function_env(emulator: &Emulator) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", emulator.endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("TABLE_NAME", TABLE.into()),
        ("PEPPER_SECRET_ID", PEPPER_SECRET.into()),
        ("DELIVERY_QUEUE_URL", emulator.queue_urls[DELIVERY_QUEUE].clone()),
        ("DEAD_LETTER_QUEUE_URL", emulator.queue_urls[DEAD_LETTER_QUEUE].clone()),
        ("REPLY_QUEUE_URL", emulator.queue_urls[REPLY_QUEUE].clone()),
        ("EXECUTIONS_QUEUE_URL", emulator.queue_urls[EXECUTIONS_QUEUE].clone()),
        ("CALLS_QUEUE_URL", emulator.queue_urls[CALLS_QUEUE].clone()),
        ("SIGNING_KEY_SECRET_ID", SIGNING_KEY_SECRET.into()),
        ("ALERTS_TOPIC_ARN", emulator.topic_arns[ALERTS_TOPIC].clone()),
        ("ALLOW_HTTP_ENDPOINTS", "true".into()),
        ("DELIVERY_ALLOWED_CIDRS", "127.0.0.0/8".into()),
        ("ATTACHMENTS_BUCKET", ATTACHMENTS_BUCKET.into()),
        ("S3_FORCE_PATH_STYLE", "true".into()),
        // Where Twilio is told the API is; the local stack sets its own address.
        ("PUBLIC_BASE_URL", PUBLIC_BASE_URL.into()),
    ]
}

/// Services over the emulator, built as a function's container builds them.
pub async fn services() -> Services {
    services_with_clock(Arc::new(SystemClock)).await
}

pub async fn services_with_clock(clock: Arc<dyn Clock>) -> Services {
    let config = aws_config(&emulator().endpoint);
    let pepper = Pepper::load(
        &shared::aws::secrets_manager::SecretsManager::from_config(&config).unwrap(),
        PEPPER_SECRET,
    )
    .await
    .expect("pepper");
    Services {
        store: Store::from_config(&config, TABLE).expect("store"),
        pepper,
        clock,
    }
}

/// A fresh organization with its admin key (every scope, and the highest rate limit, so that
/// tests can mint keys of any limit through the API).
pub struct Org {
    pub org_id: String,
    pub admin_key: String,
}

pub async fn new_org(services: &Services) -> Org {
    let done = admin::bootstrap::bootstrap(
        services,
        "Test shop",
        Some(shared::api::api_keys::MAX_RATE_LIMIT_PER_MINUTE),
    )
    .await
    .expect("bootstrap");
    Org {
        org_id: done.organization.org_id,
        admin_key: done.token,
    }
}

/// Creates a key in `org` with `scopes` through the API-keys handler; returns the full key.
pub async fn new_key(services: &Services, org: &Org, scopes: &[&str], rate_limit_per_minute: u32) -> String {
    let body = serde_json::json!({"name": "test key", "scopes": scopes, "rateLimitPerMinute": rate_limit_per_minute});
    let request = fixture("api-keys-create.json")
        .key(&org.admin_key)
        .body(body.to_string())
        .build();
    let (status, json) = read(shared::api::api_keys::handle(services, request).await);
    assert_eq!(status, 201, "{json}");
    json["key"].as_str().expect("key in response").to_string()
}

/// `text` as it stands in a raw query string, as API Gateway passes it: percent-encoded.
fn query_escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// An `events/` fixture as a `lambda_http::Request`, adjustable before use.
pub struct FixtureRequest {
    event: Value,
}

pub fn fixture(name: &str) -> FixtureRequest {
    let path = repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    FixtureRequest {
        event: serde_json::from_str(&text).expect("fixture is JSON"),
    }
}

impl FixtureRequest {
    /// The API key header, replacing the fixture's placeholder.
    pub fn key(mut self, key: &str) -> Self {
        self.event["headers"]["x-api-key"] = Value::String(key.to_string());
        self
    }

    pub fn without_key(self) -> Self {
        self.without_header("x-api-key")
    }

    pub fn without_header(mut self, name: &str) -> Self {
        if let Some(headers) = self.event["headers"].as_object_mut() {
            headers.remove(name);
        }
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name] = Value::String(value.to_string());
        self
    }

    /// Another method and path on the same function (path parameters set separately).
    pub fn method(mut self, method: &str, path: &str) -> Self {
        self.event["rawPath"] = Value::String(path.to_string());
        self.event["requestContext"]["http"]["method"] = Value::String(method.to_string());
        self.event["requestContext"]["http"]["path"] = Value::String(path.to_string());
        self
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.event["body"] = Value::String(body.into());
        self.event["isBase64Encoded"] = Value::Bool(false);
        self
    }

    /// A binary body, base64-encoded in the event as API Gateway sends it.
    pub fn binary_body(mut self, bytes: &[u8]) -> Self {
        use base64::Engine;
        self.event["body"] = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.event["isBase64Encoded"] = Value::Bool(true);
        self
    }

    pub fn path_parameter(mut self, name: &str, value: &str) -> Self {
        self.event["pathParameters"][name] = Value::String(value.to_string());
        self
    }

    /// The request as if sent from `ip` (API Gateway's `sourceIp`).
    pub fn client_ip(mut self, ip: &str) -> Self {
        self.event["requestContext"]["http"]["sourceIp"] = Value::String(ip.to_string());
        self
    }

    /// The fixture without its query string.
    pub fn without_query(mut self) -> Self {
        self.event["queryStringParameters"] = Value::Null;
        self.event["rawQueryString"] = Value::String(String::new());
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.event["queryStringParameters"][name] = Value::String(value.to_string());
        let raw: Vec<String> = self.event["queryStringParameters"]
            .as_object()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| format!("{k}={}", query_escaped(v.as_str().unwrap_or_default())))
                    .collect()
            })
            .unwrap_or_default();
        self.event["rawQueryString"] = Value::String(raw.join("&"));
        self
    }

    /// The body as it stands.
    pub fn body_text(&self) -> &str {
        self.event["body"].as_str().unwrap_or_default()
    }

    /// A header as it stands.
    pub fn header_value(&self, name: &str) -> &str {
        self.event["headers"][name].as_str().unwrap_or_default()
    }

    /// The API Gateway event as JSON, as the Lambda runtime API hands it to a function.
    pub fn event_json(&self) -> String {
        self.event.to_string()
    }

    pub fn build(self) -> Request {
        lambda_http::request::from_str(&self.event_json()).expect("fixture is an API Gateway v2 event")
    }
}

/// Status and JSON body of a handler's response (`Value::Null` for an empty body).
pub fn read(response: Response<Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: &[u8] = response.body().as_ref();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).expect("response is JSON")
    };
    (status, json)
}

pub fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(HeaderValue::to_str)
        .and_then(Result::ok)
}

/// Every item stored under an organization (a scan: test use only).
pub async fn stored_items(services: &Services, org_id: &str) -> Vec<shared::store::Item> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let page = services
            .store
            .client()
            .scan()
            .table_name(TABLE)
            .filter_expression("begins_with(PK, :org)")
            .expression_attribute_values(
                ":org",
                shared::store::dynamodb::AttributeValue::S(format!("ORG#{org_id}")),
            )
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items.extend(page.items().iter().cloned());
        start = page.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

/// How many items are stored under an organization.
pub async fn items_of(services: &Services, org_id: &str) -> usize {
    stored_items(services, org_id).await.len()
}

/// Counts the DynamoDB requests of one store (every attempt, retries included) since the last
/// `take`.
#[derive(Debug, Clone)]
pub struct CallCounter {
    client: shared::store::dynamodb::DynamoDb,
    counted: Arc<std::sync::atomic::AtomicU64>,
}

impl CallCounter {
    pub fn of(store: &Store) -> Self {
        let client = store.client().clone();
        let counted = Arc::new(client.requests_sent().into());
        Self { client, counted }
    }

    pub fn take(&self) -> usize {
        let sent = self.client.requests_sent();
        (sent - self.counted.swap(sent, std::sync::atomic::Ordering::SeqCst)) as usize
    }
}

/// Services and a count of their DynamoDB requests (the only AWS service on the request path:
/// the pepper is read once per container).
pub async fn services_counting_calls() -> (Services, CallCounter) {
    let services = services().await;
    let counter = CallCounter::of(&services.store);
    (services, counter)
}

/// The functions' SQS client (`shared::aws::sqs`) over the emulator. Tests read what it sent
/// with the SDK's client, an independent reader.
pub fn queue_sender() -> shared::aws::sqs::Sqs {
    shared::aws::sqs::Sqs::from_config(&aws_config(&emulator().endpoint)).expect("SQS client")
}

/// The outbound publisher over the emulator's delivery queue, without caching endpoints.
pub async fn publisher() -> shared::outbound::Publisher {
    shared::outbound::Publisher {
        queue: shared::outbound::DeliveryQueue {
            sqs: queue_sender(),
            queue_url: emulator().queue_urls[DELIVERY_QUEUE].clone(),
        },
        cache: shared::outbound::EndpointCache::new(Duration::ZERO),
    }
}

/// The API key the Resend stand-in accepts.
pub const RESEND_KEY: &str = "re_test_standin_key";

/// A local stand-in for providers' APIs: Resend's (tests/resend_standin.py) or the chat
/// channels' (tests/chat_standin.py), each checking every request as the provider documents it.
pub struct StandIn {
    pub url: String,
    _process: TiedProcess,
}

impl StandIn {
    fn start(script: &str, arguments: &str) -> Self {
        let port = free_port();
        let root = repo_root();
        let name = script.trim_end_matches(".py");
        let process = spawn_tied_to_this_process(
            &format!(
                "exec {} {} {port} {arguments}",
                venv_bin("python").display(),
                root.join("tests").join(script).display()
            ),
            &[],
            &root.join(format!("target/test-logs/{name}-{port}.log")),
        );
        wait_for_port(port, Duration::from_secs(30));
        Self {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    }

    /// Resend's API, taking [`RESEND_KEY`].
    pub fn resend() -> Self {
        Self::start("resend_standin.py", &format!("--api-key {RESEND_KEY}"))
    }

    /// WhatsApp's, Messenger's, Slack's and Twilio's send APIs, with their default credentials.
    pub fn chat() -> Self {
        Self::start("chat_standin.py", "")
    }

    /// What it accepted (`?provider=` filters the chat stand-in's).
    pub async fn sent(&self, query: &str) -> Vec<Value> {
        reqwest::get(format!("{}/_standin/sent{query}", self.url))
            .await
            .expect("the stand-in answers")
            .json()
            .await
            .expect("a JSON list")
    }

    /// What Resend's stand-in accepted on `POST /emails` under `idempotency_key`.
    pub async fn sent_with_key(&self, idempotency_key: &str) -> Vec<Value> {
        let sent = self.sent("").await;
        sent.into_iter()
            .filter(|s| s["headers"]["idempotency-key"] == idempotency_key)
            .collect()
    }
}

/// The providers' send APIs as the local stand-ins serve them: Resend at `resend`, Meta's Graph
/// API, Slack's Web API and Twilio's REST API at `chat` (tests/chat_standin.py).
pub fn provider_apis(resend: &str, chat: &str) -> shared::worker::reply_sender::ProviderApis {
    shared::worker::reply_sender::ProviderApis {
        resend: resend.to_string(),
        graph: format!("{chat}/v21.0"),
        slack: format!("{chat}/api"),
        twilio: chat.to_string(),
        public_base_url: PUBLIC_BASE_URL.into(),
    }
}

/// The reply queue of the emulator, where replies on email tickets wait for `reply-sender`.
pub async fn reply_queue() -> shared::outbound::ReplyQueue {
    shared::outbound::ReplyQueue {
        sqs: queue_sender(),
        queue_url: emulator().queue_urls[REPLY_QUEUE].clone(),
    }
}

/// The local stack as `make dev` runs it: `cargo lambda watch` serving every function over the
/// emulator, an organization bootstrapped with the admin CLI, and optionally the SQS pollers
/// feeding the delivery queue to the delivery worker and the reply queue to the reply sender,
/// and the demo runtime on the executions queue.
pub struct LocalStack {
    pub base: String,
    pub admin_key: String,
    /// The functions' environment, for the admin CLI.
    env: Vec<(String, String)>,
    _processes: Vec<TiedProcess>,
}

/// An organization made with the admin CLI (`hookgate-admin bootstrap`), as an operator makes
/// one: its admin key, holding every scope.
fn bootstrap_organization(env: &[(String, String)], name: &str, rate_limit_per_minute: Option<u32>) -> String {
    let mut command = Command::new(workspace_binary("hookgate-admin"));
    command.args(["bootstrap", "--org-name", name]);
    if let Some(limit) = rate_limit_per_minute {
        command.args(["--rate-limit-per-minute", &limit.to_string()]);
    }
    let output = command
        .current_dir(repo_root())
        .envs(env.iter().cloned())
        .output()
        .expect("running hookgate-admin");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bootstrap failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("hg_live_"))
        .expect("the key is printed")
        .to_string()
}

impl LocalStack {
    pub async fn start(extra_env: &[(&str, String)], with_poller: bool) -> LocalStack {
        let emulator = emulator();
        let root = repo_root();
        let mut env = function_env(emulator);
        env.extend(extra_env.iter().cloned());
        let owned_env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let admin_key = bootstrap_organization(&owned_env, "E2E shop", None);

        let port = free_port();
        let venv = root.join(".venv/bin");
        let mut watch_env = env.clone();
        watch_env.push(("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}")));
        watch_env.push((
            "PATH",
            format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default()),
        ));
        let log = root.join(format!("target/test-logs/watch-{port}.log"));
        let mut processes = vec![spawn_tied_to_this_process(
            &format!(
                "cd {} && exec {}/cargo-lambda lambda watch --disable-cors -A 127.0.0.1 -P {port}",
                root.display(),
                venv.display()
            ),
            &watch_env,
            &log,
        )];
        let base = format!("http://127.0.0.1:{port}");
        // Ready once a function answers through the router (the first request starts it).
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let served = reqwest::get(format!("{base}/api/openapi"))
                .await
                .map(|r| r.status() == reqwest::StatusCode::OK);
            if served.unwrap_or(false) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not serve /api/openapi; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if with_poller {
            let admin = workspace_binary("hookgate-admin");
            for (queue, function) in [(DELIVERY_QUEUE, "delivery-worker"), (REPLY_QUEUE, "reply-sender")] {
                let queue_url = &emulator.queue_urls[queue];
                processes.push(spawn_tied_to_this_process(
                    &format!(
                        "exec {} poll-queue --queue-url {queue_url} --function {function} --invoke-url {base}",
                        admin.display()
                    ),
                    &env,
                    &root.join(format!("target/test-logs/poller-{function}-{port}.log")),
                ));
            }
            // The demo agent and workflow runtime, as `make dev` runs it.
            let mut runtime_env = env.clone();
            runtime_env.push(("HOOKGATE_API_KEY", admin_key.clone()));
            processes.push(spawn_tied_to_this_process(
                &format!(
                    "exec {} demo-runtime --queue-url {} --api-url {base}",
                    admin.display(),
                    emulator.queue_urls[EXECUTIONS_QUEUE]
                ),
                &runtime_env,
                &root.join(format!("target/test-logs/demo-runtime-{port}.log")),
            ));
        }
        LocalStack {
            base,
            admin_key,
            env: owned_env,
            _processes: processes,
        }
    }

    /// Another organization of this stack, with its admin key and rate limit.
    pub fn new_organization(&self, name: &str, rate_limit_per_minute: u32) -> String {
        bootstrap_organization(&self.env, name, Some(rate_limit_per_minute))
    }
}

/// The delivery worker over the emulator, built as `DeliveryWorker::from_env` builds it but with
/// the store, clock and settings a test chooses. Deliveries may go to 127.0.0.0/8.
pub async fn delivery_worker(
    store: Store,
    clock: Arc<dyn Clock>,
    retry_delay_scale: f64,
    disable_after_seconds: i64,
    endpoint_cache: Duration,
) -> shared::worker::delivery::DeliveryWorker {
    use shared::outbound::ssrf::AddressPolicy;
    use shared::worker::delivery::send::delivery_http_client;
    let config = aws_config(&emulator().endpoint);
    let policy = Arc::new(AddressPolicy::parse("127.0.0.0/8").unwrap());
    shared::worker::delivery::DeliveryWorker {
        store,
        queue: publisher().await.queue,
        alerts: shared::outbound::Alerts {
            sns: shared::aws::sns::Sns::from_config(&config).expect("SNS"),
            topic_arn: emulator().topic_arns[ALERTS_TOPIC].clone(),
        },
        secrets: secret_box().await,
        http: delivery_http_client(policy.clone(), Duration::from_secs(5)),
        policy,
        retry_delay_scale,
        disable_after_seconds,
        clock,
        endpoints: shared::cache::TtlCache::new(endpoint_cache),
    }
}

/// An SQS event as the event source passes it: one record per message body, each received
/// `receives` times.
pub fn sqs_event(bodies: &[String], receives: u32) -> shared::runtime::sqs::SqsEvent {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({"messageId": format!("m{i}"), "receiptHandle": format!("r{i}"), "body": body,
                   "attributes": {"ApproximateReceiveCount": receives.to_string()}, "eventSource": "aws:sqs"})
        })
        .collect();
    serde_json::from_value(serde_json::json!({"Records": records})).unwrap()
}

/// A queue of its own subscribed to the alerts topic, as an operator's pager would be.
pub async fn alerts_queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let config = sdk_config(&emulator().endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    aws_sdk_sns::Client::new(&config)
        .subscribe()
        .topic_arn(&emulator().topic_arns[ALERTS_TOPIC])
        .protocol("sqs")
        .endpoint(arn)
        .send()
        .await
        .unwrap();
    (sqs, url)
}

/// Waits for an alert of `kind` naming `subject` on a queue made by [`alerts_queue`].
pub async fn wait_for_alert(sqs: &aws_sdk_sqs::Client, queue_url: &str, kind: &str, subject: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
        let alerted = received.messages().iter().any(|m| {
            let text = m.body().unwrap_or_default();
            text.contains(kind) && text.contains(subject)
        });
        if alerted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} alert for {subject} on the alerts topic"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// An active endpoint of `org_id` for `order.upserted` at `url`, stored directly, with a fresh
/// signing secret sealed by `secrets` and the given retry delays.
pub async fn stored_endpoint(
    store: &Store,
    secrets: &shared::crypto::SecretBox,
    org_id: &str,
    url: &str,
    delays_seconds: Vec<u64>,
) -> shared::store::endpoints::Endpoint {
    use shared::store::endpoints::{Endpoint, EndpointConfig, RetryPolicy};
    let now = shared::clock::rfc3339(time::OffsetDateTime::now_utc());
    let endpoint = Endpoint {
        org_id: org_id.to_string(),
        endpoint_id: format!("wh_{}", shared::ids::random_base32(20)),
        config: EndpointConfig {
            name: "test".into(),
            url: url.to_string(),
            events: vec!["order.upserted".into()],
            authentication: None,
            retry_policy: RetryPolicy { delays_seconds },
            conditions: Default::default(),
            include_fields: Vec::new(),
            batch_settings: None,
            signature_style: Default::default(),
        },
        status: "active".into(),
        disabled_reason: None,
        sealed_secret: secrets.seal(&shared::outbound::signing::generate_secret()),
        sealed_previous_secret: None,
        previous_secret_until: None,
        sealed_token: None,
        failing_since: None,
        created_at: now.clone(),
        updated_at: now,
        stats: Default::default(),
    };
    store.create_endpoint(&endpoint).await.unwrap();
    endpoint
}

/// The box that seals stored secrets, keyed as the functions key it.
pub async fn secret_box() -> shared::crypto::SecretBox {
    let config = aws_config(&emulator().endpoint);
    let key = Pepper::load(
        &shared::aws::secrets_manager::SecretsManager::from_config(&config).unwrap(),
        SIGNING_KEY_SECRET,
    )
    .await
    .unwrap();
    shared::crypto::SecretBox::from_secret(key.as_bytes())
}

/// What the provider webhook functions use, over the emulator, at `clock`'s time.
pub async fn inbound_services(clock: Arc<dyn Clock>) -> shared::inbound::InboundServices {
    let config = aws_config(&emulator().endpoint);
    shared::inbound::InboundServices {
        store: Store::from_config(&config, TABLE).expect("store"),
        secrets: secret_box().await,
        publisher: publisher().await,
        alerts: shared::outbound::Alerts {
            sns: shared::aws::sns::Sns::from_config(&config).expect("SNS"),
            topic_arn: emulator().topic_arns[ALERTS_TOPIC].clone(),
        },
        clock,
    }
}

/// An outbound endpoint of `org` subscribed to `events`, created through the endpoints handler;
/// returns its id.
pub async fn subscribe(services: &Services, org: &Org, events: &[&str]) -> String {
    let settings = shared::api::webhook_endpoints::WebhookSettings {
        secrets: secret_box().await,
        allow_http: false,
        rotation_grace_seconds: 3600,
        destinations: Default::default(),
    };
    let body =
        serde_json::json!({"name": "Test subscriber", "url": "https://receiver.example/hooks", "events": events});
    let request = fixture("webhook-endpoints-create.json")
        .key(&org.admin_key)
        .body(body.to_string())
        .build();
    let (status, created) = read(shared::api::webhook_endpoints::handle(services, &settings, request).await);
    assert_eq!(status, 201, "{created}");
    created["webhook"]["id"].as_str().expect("endpoint id").to_string()
}

/// A delivery queue of a test's own: what the test finds there is what it published.
pub struct OwnQueue {
    /// The SDK's client, which reads what `sender` sent.
    pub sqs: aws_sdk_sqs::Client,
    /// The functions' client, which sends.
    pub sender: shared::aws::sqs::Sqs,
    pub url: String,
}

impl OwnQueue {
    pub async fn new(name: &str) -> Self {
        let config = sdk_config(&emulator().endpoint).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let url = sqs
            .create_queue()
            .queue_name(format!("{name}-{}", std::process::id()))
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("queue url");
        Self {
            sqs,
            sender: queue_sender(),
            url,
        }
    }

    /// A publisher over this queue, reading endpoints afresh each time.
    pub fn publisher(&self) -> shared::outbound::Publisher {
        shared::outbound::Publisher {
            queue: shared::outbound::DeliveryQueue {
                sqs: self.sender.clone(),
                queue_url: self.url.clone(),
            },
            cache: shared::outbound::EndpointCache::new(Duration::ZERO),
        }
    }

    /// The body of every message waiting on the queue, taken off it (hidden for the queue's
    /// visibility timeout).
    pub async fn take_bodies(&self) -> Vec<String> {
        let mut found = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive");
            if received.messages().is_empty() {
                return found;
            }
            found.extend(
                received
                    .messages()
                    .iter()
                    .map(|m| m.body().unwrap_or_default().to_string()),
            );
        }
    }

    /// Every delivery queued so far (taken off the queue), in the order they were published.
    pub async fn drain(&self) -> Vec<Value> {
        let mut found: Vec<Value> = self
            .take_bodies()
            .await
            .iter()
            .map(|body| serde_json::from_str(body).expect("a JSON message"))
            .collect();
        found.sort_by(|a, b| a["delivery_id"].as_str().cmp(&b["delivery_id"].as_str()));
        found
    }
}
