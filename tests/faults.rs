//! Scripted faults: what the outbound pipeline does when a part of it fails, checked end to end
//! over the emulated AWS services.
//!
//! - A receiver down through the whole (compressed) retry schedule: every delivery ends in the
//!   dead-letter queue, marked failed; redriven once the receiver is back, each arrives exactly
//!   once as a success. 20 deliveries here, 200 in `make soak` (ignored by `make test`).
//! - The `delivery-worker` process killed mid-batch: SQS redelivers, and the receiver sees
//!   duplicates only under the same `webhook-id`, with the same signed body.
//! - A redriven or recovered delivery whose first new attempt dies with its process: attempted
//!   again.
//! - The AWS services dying mid-ingest under load: every request answered 2xx is stored and
//!   fanned out; every other one is answered with the JSON error and is absent or complete, and
//!   the client's retry with its `Idempotency-Key` completes it.
//!
//! Where the worker runs in-process it is fed by [`EventSource`], which does what Lambda's SQS
//! event source mapping does (and `hookgate-admin poll-queue` for the local stack): receive up
//! to ten messages, invoke the worker with them, delete those it did not report as failed.
//! Where a process is killed, the real `delivery-worker` binary runs against [`RuntimeApi`], a
//! stand-in for Lambda's runtime API, and [`RuntimeApi::feed_until_drained`] does the same. The
//! queues are each test's own, configured as template.yaml configures the stack's (visibility
//! timeout, redrive policy), so the emulator's redrive policy moves what the worker gives up on.
//! Receivers verify every signature: tests/receiver.py, or [`HoldingReceiver`] in the test.
//!
//! Time: the retry schedule is compressed with the worker's `retry_delay_scale` (a day of
//! schedule lasts a second), not waited out. SQS's visibility timeouts, which the worker sets
//! to space attempts, run on the emulator's wall clock, so the worker's clock is the system's
//! too: a message comes back when the worker's plan says it is due. Idempotency claims are
//! aged with an injected clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use futures_util::StreamExt;
use harness::{DELIVERY_QUEUE, free_port, new_org, repo_root, services, spawn_tied_to_this_process};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use shared::outbound::DeliveryQueue;
use shared::outbound::schedule::DEFAULT_RETRY_DELAYS;
use shared::store::dynamodb::AttributeValueExt;
use shared::worker::delivery::DeliveryWorker;
use tokio::sync::OnceCell;

/// A delivery queue and its dead-letter queue, of one test alone, with the delivery queue's
/// visibility timeout and redrive policy as template.yaml defines them.
struct Queues {
    sqs: aws_sdk_sqs::Client,
    sender: shared::aws::sqs::Sqs,
    url: String,
    dead_letter_url: String,
}

impl Queues {
    /// `visibility_timeout` replaces the template's, for tests that wait it out.
    async fn new(name: &str, visibility_timeout: Option<u32>) -> Self {
        let stack = admin::template::StackDefinition::load(&repo_root().join("template.yaml")).expect("template");
        let defined = stack.queue(DELIVERY_QUEUE).expect("the delivery queue is defined");
        let redrive = defined
            .redrive
            .as_ref()
            .expect("the delivery queue has a redrive policy");
        let dead_letter = harness::OwnQueue::new(&format!("{name}-dlq")).await;
        let sqs = dead_letter.sqs.clone();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&dead_letter.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .expect("queue arn");
        let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": redrive.max_receive_count});
        let url = sqs
            .create_queue()
            .queue_name(format!("{name}-{}", std::process::id()))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                visibility_timeout
                    .or(defined.visibility_timeout)
                    .unwrap_or(30)
                    .to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
            .send()
            .await
            .expect("queue created")
            .queue_url
            .expect("queue url");
        Self {
            sqs,
            sender: dead_letter.sender,
            url,
            dead_letter_url: dead_letter.url,
        }
    }

    fn delivery_queue(&self) -> DeliveryQueue {
        DeliveryQueue {
            sqs: self.sender.clone(),
            queue_url: self.url.clone(),
        }
    }

    fn publisher(&self) -> shared::outbound::Publisher {
        shared::outbound::Publisher {
            queue: self.delivery_queue(),
            cache: shared::outbound::EndpointCache::new(Duration::ZERO),
        }
    }

    /// Deletes the messages of a batch the function did not report as `failed` (message ids),
    /// as the event source mapping does after the invocation.
    async fn delete_done(&self, messages: &[aws_sdk_sqs::types::Message], failed: &BTreeSet<String>) {
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("a delete entry")
            })
            .collect();
        if !done.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(done))
                .send()
                .await
                .expect("delete");
        }
    }

    /// Up to ten messages, with the attributes the event source mapping passes on.
    async fn receive(&self) -> Vec<aws_sdk_sqs::types::Message> {
        self.sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// At least `count` messages, received within 30 s (ten times what the emulator needs).
    async fn receive_at_least(&self, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut messages = Vec::new();
        while messages.len() < count {
            messages.extend(self.receive().await);
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages received",
                messages.len()
            );
        }
        messages
    }

    /// Messages on `url`: (visible, in flight).
    async fn depth(&self, url: &str) -> (u64, u64) {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let count = |name: QueueAttributeName| -> u64 {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (
            count(QueueAttributeName::ApproximateNumberOfMessages),
            count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        )
    }
}

/// The SQS event Lambda's event source mapping passes for `messages`, as the local poller builds it.
fn sqs_event_of(messages: &[aws_sdk_sqs::types::Message]) -> shared::runtime::sqs::SqsEvent {
    let messages: Vec<admin::queues::Message> = messages
        .iter()
        .map(|m| admin::queues::Message {
            message_id: m.message_id().unwrap_or_default().into(),
            receipt_handle: m.receipt_handle().unwrap_or_default().into(),
            body: m.body().unwrap_or_default().into(),
            md5_of_body: m.md5_of_body().unwrap_or_default().into(),
            attributes: (m.attributes().into_iter().flatten())
                .map(|(name, value)| (name.as_str().to_string(), value.clone()))
                .collect(),
        })
        .collect();
    let event = admin::poller::sqs_event(&messages, "arn:aws:sqs:us-east-1:123456789012:faults", "us-east-1");
    serde_json::from_value(event).expect("an SQS event")
}

/// What Lambda's SQS event source mapping does, in-process: batches of up to ten messages, a
/// few invocations at once, the messages not reported as failed deleted afterwards.
struct EventSource<'a> {
    worker: &'a DeliveryWorker,
    queues: &'a Queues,
    /// One receive at a time: moto's SQS is not safe for concurrent receives on one queue (two
    /// may take the same message, or fail moving one to the dead-letter queue and lose the
    /// others they had taken until their visibility ends). Invocations still run concurrently.
    receiving: tokio::sync::Mutex<()>,
}

impl EventSource<'_> {
    /// Invocations at once (Lambda scales out on a backlog).
    const CONCURRENCY: usize = 4;

    /// One invocation: receives up to ten messages and hands them to the worker. Returns how
    /// many were received.
    async fn invoke_once(&self) -> usize {
        let receiving = self.receiving.lock().await;
        let messages = self.queues.receive().await;
        drop(receiving);
        let messages = messages.as_slice();
        if messages.is_empty() {
            return 0;
        }
        let response = shared::worker::delivery::handle(self.worker, sqs_event_of(messages)).await;
        let failed: BTreeSet<String> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        self.queues.delete_done(messages, &failed).await;
        messages.len()
    }

    /// Invokes the worker until nothing is left on the delivery queue, visible or in flight.
    /// `within` only bounds a hang: it is far more than the run needs.
    async fn run_until_drained(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let received: usize = futures_util::stream::iter(0..Self::CONCURRENCY)
                .map(|_| async {
                    let mut total = 0;
                    loop {
                        match self.invoke_once().await {
                            0 => return total,
                            n => total += n,
                        }
                    }
                })
                .buffer_unordered(Self::CONCURRENCY)
                .fold(0, |sum, n| async move { sum + n })
                .await;
            if received == 0 {
                if self.queues.depth(&self.queues.url).await == (0, 0) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            assert!(
                Instant::now() < deadline,
                "the delivery queue was not drained within {within:?}: {:?}",
                self.queues.depth(&self.queues.url).await
            );
        }
    }
}

/// tests/receiver.py, one for this binary; each test scripts a path of its own.
struct Receiver {
    base: String,
    _process: harness::TiedProcess,
}

async fn receiver() -> &'static Receiver {
    static RECEIVER: OnceCell<Receiver> = OnceCell::const_new();
    RECEIVER
        .get_or_init(|| async {
            let port = free_port();
            let root = repo_root();
            let process = spawn_tied_to_this_process(
                &format!(
                    "exec {} {} {port}",
                    harness::venv_bin("python").display(),
                    root.join("tests/receiver.py").display()
                ),
                &[],
                &root.join(format!("target/test-logs/receiver-{port}.log")),
            );
            harness::wait_for_port(port, Duration::from_secs(30));
            Receiver {
                base: format!("http://127.0.0.1:{port}"),
                _process: process,
            }
        })
        .await
}

impl Receiver {
    /// Scripts `path` to answer `status` from now on, verifying signatures with `secret`.
    async fn answer(&self, path: &str, status: u16, secret: &str) {
        let config = json!({"path": path, "statuses": [status], "secrets": [secret]});
        let response = reqwest::Client::new()
            .post(format!("{}/_configure", self.base))
            .json(&config)
            .send()
            .await
            .expect("the receiver answers");
        assert!(response.status().is_success());
    }

    /// Every request that arrived at `path`, in order.
    async fn seen(&self, path: &str) -> Vec<Value> {
        reqwest::get(format!("{}/_seen?path={path}", self.base))
            .await
            .expect("the receiver answers")
            .json()
            .await
            .expect("a JSON list")
    }
}

/// The delivery worker over `queues`, retrying on the default schedule compressed so that a
/// day lasts a second.
async fn worker_over(queues: &Queues) -> DeliveryWorker {
    let services = services().await;
    let mut worker = harness::delivery_worker(
        services.store.clone(),
        Arc::new(SystemClock),
        1.0 / 86_400.0,
        5 * 86_400,
        Duration::from_secs(10),
    )
    .await;
    worker.queue = queues.delivery_queue();
    worker
}

/// Asserts that `found` is `expected`, naming what is missing and what is extra.
fn assert_same(found: &BTreeSet<String>, expected: &BTreeSet<String>, what: &str) {
    let missing: Vec<_> = expected.difference(found).collect();
    let extra: Vec<_> = found.difference(expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} of {} missing {missing:?}, {} extra {extra:?}",
        missing.len(),
        expected.len(),
        extra.len()
    );
}

/// An endpoint's every delivery as recorded, by id.
async fn deliveries(
    store: &shared::store::Store,
    org_id: &str,
    endpoint_id: &str,
) -> BTreeMap<String, shared::store::deliveries::Delivery> {
    let mut found = BTreeMap::new();
    let mut start = None;
    loop {
        let page = store
            .list_deliveries(org_id, endpoint_id, 100, start)
            .await
            .expect("deliveries");
        found.extend(page.deliveries.into_iter().map(|d| (d.delivery_id.clone(), d)));
        start = page.next;
        if start.is_none() {
            return found;
        }
    }
}

/// The receiver refuses (503) `n` deliveries through every attempt of the default schedule;
/// all `n` end in the dead-letter queue and are recorded failed with the whole attempt log.
/// Once it is back, a redrive delivers each exactly once as a success, verified by its
/// signature: none lost, none twice.
async fn receiver_down_through_the_whole_schedule(n: usize) {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = Queues::new(&format!("faults-down-{n}"), None).await;
    let worker = worker_over(&queues).await;
    let receiver = receiver().await;
    let path = format!("/down-{n}-{}", org.org_id);
    let url = format!("{}{path}", receiver.base);
    let endpoint = harness::stored_endpoint(
        &services.store,
        &worker.secrets,
        &org.org_id,
        &url,
        DEFAULT_RETRY_DELAYS.to_vec(),
    )
    .await;
    let secret = worker
        .secrets
        .open(&endpoint.sealed_secret)
        .expect("the signing secret");
    // Down: it answers 503 to everything until told otherwise.
    receiver.answer(&path, 503, &secret).await;

    // n events happen; each becomes one delivery to the endpoint.
    let publisher = queues.publisher();
    let published: BTreeSet<String> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (services, publisher, org_id) = (&services, &publisher, &org.org_id);
            async move {
                let data = json!({"order_number": format!("F-{i}"), "status": "shipped"});
                shared::outbound::publish(
                    &services.store,
                    publisher,
                    org_id,
                    "order.upserted",
                    "2026-01-15T10:30:00Z",
                    &data,
                )
                .await
                .expect("published")
            }
        })
        .buffer_unordered(8)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    assert_eq!(published.len(), n, "one delivery per event");

    let source = EventSource {
        worker: &worker,
        queues: &queues,
        receiving: Default::default(),
    };
    source.run_until_drained(Duration::from_secs(600)).await;

    // Down throughout: every delivery failed every attempt and waits in the dead-letter queue.
    let attempts = DEFAULT_RETRY_DELAYS.len() + 1;
    assert_eq!(
        queues.depth(&queues.dead_letter_url).await,
        (n as u64, 0),
        "every delivery is dead-lettered"
    );
    let recorded = deliveries(&services.store, &org.org_id, &endpoint.endpoint_id).await;
    assert_same(&recorded.keys().cloned().collect(), &published, "recorded deliveries");
    for delivery in recorded.values() {
        assert_eq!(
            (
                delivery.status.as_str(),
                delivery.attempts as usize,
                delivery.attempt_log.len()
            ),
            ("failed", attempts, attempts),
            "{delivery:?}"
        );
        assert!(
            delivery.attempt_log.iter().all(|a| a.response_code == Some(503)),
            "{delivery:?}"
        );
        assert!(delivery.message_body.is_some(), "kept for recovery: {delivery:?}");
    }
    let refused = receiver.seen(&path).await;
    assert_eq!(
        refused.len(),
        n * attempts,
        "each delivery tried on every step of the schedule"
    );

    // The receiver is back: the dead-letter queue is redriven and the worker runs again.
    receiver.answer(&path, 200, &secret).await;
    let redrive_queues = shared::api::deliveries_redrive::RedriveQueues {
        delivery: queues.delivery_queue(),
        dead_letter_url: queues.dead_letter_url.clone(),
    };
    // Another organization's redrive finds none of them (the dead-letter queue is shared) and
    // puts them back at once for their own organization's.
    let stranger = new_org(&services).await;
    let request = harness::fixture("deliveries-redrive.json")
        .key(&stranger.admin_key)
        .build();
    let (status, json) =
        harness::read(shared::api::deliveries_redrive::handle(&services, &redrive_queues, request).await);
    assert_eq!(
        (status, json["redriven"].as_u64(), json["delivery_ids"].clone()),
        (200, Some(0), json!([])),
        "{json}"
    );
    let mut redriven = BTreeSet::new();
    // One call moves up to a thousand; loop in case the emulator hands out fewer per call.
    for _ in 0..n.div_ceil(10) {
        let request = harness::fixture("deliveries-redrive.json").key(&org.admin_key).build();
        let (status, json) =
            harness::read(shared::api::deliveries_redrive::handle(&services, &redrive_queues, request).await);
        assert_eq!(status, 200, "{json}");
        let ids: Vec<String> = serde_json::from_value(json["delivery_ids"].clone()).unwrap();
        if ids.is_empty() {
            break;
        }
        for id in ids {
            assert!(redriven.insert(id.clone()), "{id} redriven twice");
        }
    }
    assert_same(&redriven, &published, "redriven deliveries");
    source.run_until_drained(Duration::from_secs(600)).await;

    // Each delivery reached the receiver exactly once as a success, correctly signed.
    let seen = receiver.seen(&path).await;
    let mut successes: HashMap<String, usize> = HashMap::new();
    for request in &seen[refused.len()..] {
        let webhook_id = request["headers"]["webhook-id"]
            .as_str()
            .expect("webhook-id")
            .to_string();
        assert_eq!(request["status"], 200, "{request}");
        assert_eq!(request["verified"]["standard"], json!([secret]), "{request}");
        *successes.entry(webhook_id).or_default() += 1;
    }
    let duplicates: Vec<_> = successes.iter().filter(|(_, count)| **count > 1).collect();
    assert!(duplicates.is_empty(), "delivered twice: {duplicates:?}");
    assert_same(
        &successes.keys().cloned().collect(),
        &published,
        "deliveries that arrived",
    );
    assert_eq!(queues.depth(&queues.dead_letter_url).await, (0, 0));
    let recorded = deliveries(&services.store, &org.org_id, &endpoint.endpoint_id).await;
    assert!(
        recorded.values().all(|d| d.status == "succeeded"),
        "every delivery is recorded delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_receiver_down_through_the_whole_schedule_loses_nothing_and_redrive_delivers_each_once() {
    receiver_down_through_the_whole_schedule(20).await;
}

/// The same for 200 deliveries: minutes over the emulator, so run by `make soak`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a soak test: make soak"]
async fn soak_a_receiver_down_through_the_whole_schedule_for_200_deliveries() {
    receiver_down_through_the_whole_schedule(200).await;
}

/// One HTTP/1.1 request as the small servers below read it.
struct HttpRequest {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads the next request of a connection (`None` once the peer closed it). Bodies come with
/// `content-length` or chunked.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<HttpRequest> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let mut body = Vec::new();
    if headers.get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            line.clear();
            reader.read_line(&mut line).await.ok()?;
            let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).await.ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = headers.get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(length, 0);
        reader.read_exact(&mut body).await.ok()?;
    }
    Some(HttpRequest {
        method,
        path,
        headers,
        body,
    })
}

async fn write_response<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes()).await?;
    writer.write_all(body).await?;
    writer.flush().await
}

/// A stand-in for Lambda's runtime API (what a function's runtime client polls for
/// invocations and posts its answers to), so that the real function binary runs as Lambda
/// runs it and can be killed mid-invocation.
struct RuntimeApi {
    address: String,
    invocations: tokio::sync::mpsc::UnboundedSender<(String, Value)>,
    answers: Arc<std::sync::Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>>,
}

impl RuntimeApi {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("an address").to_string();
        let (invocations, pending) = tokio::sync::mpsc::unbounded_channel::<(String, Value)>();
        let pending = Arc::new(tokio::sync::Mutex::new(pending));
        let answers: Arc<std::sync::Mutex<HashMap<String, tokio::sync::oneshot::Sender<Value>>>> = Default::default();
        let served = answers.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (pending, answers) = (pending.clone(), served.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = tokio::io::BufReader::new(read);
                    while let Some(request) = read_request(&mut read).await {
                        let path = request.path.trim_start_matches("/2018-06-01/runtime/");
                        if request.method == "GET" && path == "invocation/next" {
                            let Some((id, event)) = pending.lock().await.recv().await else {
                                return;
                            };
                            let deadline = (time::OffsetDateTime::now_utc().unix_timestamp() + 300) * 1000;
                            let headers = [
                                ("content-type", "application/json".to_string()),
                                ("lambda-runtime-aws-request-id", id),
                                ("lambda-runtime-deadline-ms", deadline.to_string()),
                                (
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:us-east-1:000000000000:function:delivery-worker".into(),
                                ),
                            ];
                            let body = event.to_string();
                            if write_response(&mut write, 200, &headers, body.as_bytes())
                                .await
                                .is_err()
                            {
                                return;
                            }
                            continue;
                        }
                        // invocation/{id}/response, invocation/{id}/error, init/error
                        let mut segments = path.split('/');
                        let answer = match (segments.next(), segments.next(), segments.next()) {
                            (Some("invocation"), Some(id), Some(kind)) => Some((id.to_string(), kind.to_string())),
                            _ => None,
                        };
                        if let Some((id, kind)) = answer {
                            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                            if let Some(waiting) = answers.lock().unwrap().remove(&id) {
                                let _ = waiting.send(if kind == "response" {
                                    body
                                } else {
                                    json!({"error": body})
                                });
                            }
                        }
                        if write_response(&mut write, 202, &[], b"{}").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            address,
            invocations,
            answers,
        }
    }

    /// What the event source mapping does: hands the queue's messages to the function, ten at
    /// a time, and deletes those it does not report as failed, until nothing is left on the
    /// queue. `within` only bounds a hang.
    async fn feed_until_drained(&self, queues: &Queues, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let messages = queues.receive().await;
            if messages.is_empty() {
                if queues.depth(&queues.url).await == (0, 0) {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the queue was not drained: {:?}",
                    queues.depth(&queues.url).await
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let answer = tokio::time::timeout(within, self.invoke(&sqs_event_of(&messages)))
                .await
                .expect("the function answers")
                .expect("an answer");
            let failed: BTreeSet<String> = answer["batchItemFailures"]
                .as_array()
                .expect("a batch response")
                .iter()
                .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                .collect();
            queues.delete_done(&messages, &failed).await;
        }
    }

    /// Invokes the function with `event`; the answer arrives when the function posts it.
    fn invoke(&self, event: &shared::runtime::sqs::SqsEvent) -> tokio::sync::oneshot::Receiver<Value> {
        let id = format!("req-{}", shared::ids::random_base32(12));
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.answers.lock().unwrap().insert(id.clone(), answer);
        self.invocations
            .send((id, serde_json::to_value(event).expect("an SQS event")))
            .expect("the runtime API runs");
        answered
    }
}

/// The `delivery-worker` binary, as Lambda runs it against the runtime API: killed when
/// dropped, whichever way the test ends.
struct FunctionProcess(std::process::Child);

impl FunctionProcess {
    fn start(api: &RuntimeApi, queues: &Queues, log: &str) -> Self {
        let binary = harness::workspace_binary("delivery-worker");
        let mut env: BTreeMap<&str, String> = harness::function_env(harness::emulator()).into_iter().collect();
        env.insert("DELIVERY_QUEUE_URL", queues.url.clone());
        env.insert("ENDPOINT_CACHE_SECONDS", "0".into());
        env.insert("DELIVERY_TIMEOUT_SECONDS", "60".into());
        env.insert("AWS_LAMBDA_RUNTIME_API", api.address.clone());
        env.insert("AWS_LAMBDA_FUNCTION_NAME", "delivery-worker".into());
        env.insert("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into());
        env.insert("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into());
        env.insert("AWS_LAMBDA_LOG_STREAM_NAME", "faults".into());
        env.insert("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/delivery-worker".into());
        let log = std::fs::File::create(repo_root().join("target/test-logs").join(log)).expect("log file");
        let child = std::process::Command::new(binary)
            .envs(env)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("starting delivery-worker");
        Self(child)
    }

    /// SIGKILL: the process ends wherever it is, as when Lambda's sandbox is torn down.
    fn kill(&mut self) {
        self.0.kill().expect("killing delivery-worker");
        self.0.wait().expect("reaping delivery-worker");
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a receiver got: one request's `webhook-id`, body and signatures.
#[derive(Debug, Clone)]
struct Received {
    webhook_id: String,
    webhook_timestamp: String,
    body: Vec<u8>,
    hookgate_signature: String,
    standard_signature: String,
}

/// A receiver that answers 200 to its first `answer_first` requests and holds every later one
/// unanswered until released; it keeps every request it got.
#[derive(Clone)]
struct HoldingReceiver {
    url: String,
    received: Arc<std::sync::Mutex<Vec<Received>>>,
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

impl HoldingReceiver {
    async fn start(answer_first: usize) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
        let received: Arc<std::sync::Mutex<Vec<Received>>> = Default::default();
        let released = Arc::new(tokio::sync::watch::channel(false).0);
        let receiver = Self {
            url,
            received: received.clone(),
            released: released.clone(),
        };
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (received, mut released) = (received.clone(), released.subscribe());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = tokio::io::BufReader::new(read);
                    while let Some(request) = read_request(&mut read).await {
                        let header = |name: &str| request.headers.get(name).cloned().unwrap_or_default();
                        let arrived = {
                            let mut received = received.lock().unwrap();
                            received.push(Received {
                                webhook_id: header("webhook-id"),
                                webhook_timestamp: header("webhook-timestamp"),
                                body: request.body.clone(),
                                hookgate_signature: header("x-hookgate-signature"),
                                standard_signature: header("webhook-signature"),
                            });
                            received.len()
                        };
                        if arrived > answer_first && released.wait_for(|r| *r).await.is_err() {
                            return;
                        }
                        if write_response(&mut write, 200, &[], b"{}").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        receiver
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Answers every held request and every later one at once.
    fn release(&self) {
        self.released.send_replace(true);
    }
}

/// Whether `received` carries valid signatures of its body under `secret`, in both styles.
fn signed_by(received: &Received, secret: &str) -> bool {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mac = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes()
    };
    let hex_ok =
        received.hookgate_signature == format!("sha256={}", hex::encode(mac(secret.as_bytes(), &received.body)));
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a Standard Webhooks secret");
    let mut signed = format!("{}.{}.", received.webhook_id, received.webhook_timestamp).into_bytes();
    signed.extend_from_slice(&received.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac(&key, &signed))
    );
    let standard_ok = received.standard_signature.split(' ').any(|s| s == expected);
    hex_ok && standard_ok
}

/// The `delivery-worker` process is killed (SIGKILL) in the middle of a batch: some of its
/// deliveries were answered 200, the others were sent and not yet answered, and the batch was
/// never acknowledged. SQS makes the messages visible again (a short visibility timeout on this
/// test's own queue) and a new process gets them: every delivery arrives, and the receiver sees
/// duplicates only under the same `webhook-id`, with the same body, validly signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_batch_redelivers_duplicates_only_under_the_same_webhook_id() {
    const BATCH: usize = 10;
    const ANSWERED_BEFORE_THE_KILL: usize = 4;
    let services = services().await;
    let org = new_org(&services).await;
    let queues = Queues::new("faults-killed-worker", Some(2)).await;
    let receiver = HoldingReceiver::start(ANSWERED_BEFORE_THE_KILL).await;
    let secrets = harness::secret_box().await;
    let endpoint = harness::stored_endpoint(
        &services.store,
        &secrets,
        &org.org_id,
        &receiver.url,
        DEFAULT_RETRY_DELAYS.to_vec(),
    )
    .await;
    let secret = secrets.open(&endpoint.sealed_secret).expect("the signing secret");
    let publisher = queues.publisher();
    let mut published = BTreeSet::new();
    for i in 0..BATCH {
        let data = json!({"order_number": format!("K-{i}"), "status": "shipped"});
        let ids = shared::outbound::publish(
            &services.store,
            &publisher,
            &org.org_id,
            "order.upserted",
            "2026-01-15T10:30:00Z",
            &data,
        )
        .await
        .expect("published");
        published.extend(ids);
    }

    // One batch of every message, handed to the real function through the runtime API.
    let api = RuntimeApi::start().await;
    let mut function = FunctionProcess::start(&api, &queues, &format!("delivery-worker-killed-{}.log", org.org_id));
    let batch = queues.receive_at_least(BATCH).await;
    let unanswered = api.invoke(&sqs_event_of(&batch));

    // Every delivery of the batch went out; some were answered. Then the process dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < BATCH {
        assert!(
            Instant::now() < deadline,
            "{} of {BATCH} deliveries sent; see target/test-logs",
            receiver.received().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    function.kill();
    drop(unanswered);
    let before_the_kill = receiver.received();
    receiver.release();

    // A new process: the event source mapping keeps feeding it until the queue is empty.
    let _function = FunctionProcess::start(&api, &queues, &format!("delivery-worker-after-{}.log", org.org_id));
    api.feed_until_drained(&queues, Duration::from_secs(120)).await;

    let received = receiver.received();
    assert!(
        received.len() > before_the_kill.len(),
        "the messages came back and were delivered again"
    );
    let mut bodies: BTreeMap<&str, &[u8]> = BTreeMap::new();
    for request in &received {
        assert!(signed_by(request, &secret), "badly signed: {request:?}");
        let first = bodies.entry(&request.webhook_id).or_insert(&request.body);
        assert_eq!(
            *first,
            request.body.as_slice(),
            "a duplicate of {} with another body",
            request.webhook_id
        );
    }
    assert_same(
        &bodies.keys().map(|id| id.to_string()).collect(),
        &published,
        "webhook-ids received",
    );
    // Those held unanswered at the kill were never recorded delivered: they went out again.
    let mut times_sent: HashMap<&str, usize> = HashMap::new();
    for request in &received {
        *times_sent.entry(&request.webhook_id).or_default() += 1;
    }
    let resent = times_sent.values().filter(|times| **times > 1).count();
    assert!(
        resent >= BATCH - ANSWERED_BEFORE_THE_KILL,
        "{resent} deliveries sent again: {times_sent:?}"
    );
    let recorded = deliveries(&services.store, &org.org_id, &endpoint.endpoint_id).await;
    assert!(
        recorded.values().all(|d| d.status == "succeeded") && recorded.len() == BATCH,
        "every delivery is recorded delivered: {recorded:?}"
    );
}

/// How a failed delivery is sent again.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SentAgain {
    /// `POST /api/v1/deliveries/redrive`: moved from the dead-letter queue.
    Redriven,
    /// `POST /api/v1/webhooks/{id}/recover`: queued again from its record.
    Recovered,
}

/// A delivery that failed every attempt is sent again, and the process making its first new
/// attempt is killed before the receiver answers. SQS brings the message back (its second
/// receive): the new process must attempt it again on its fresh schedule, not take the record
/// of the schedule before for its own and dead-letter it unsent.
async fn a_delivery_sent_again_whose_first_attempt_dies_is_still_delivered(how: SentAgain) {
    let services = services().await;
    let org = new_org(&services).await;
    let queues = Queues::new(&format!("faults-{how:?}-killed").to_lowercase(), Some(2)).await;
    // Holds every request until released: the first attempt times out, the next is cut.
    let receiver = HoldingReceiver::start(0).await;
    let secrets = harness::secret_box().await;
    // No retries: one failed attempt exhausts the schedule.
    let endpoint = harness::stored_endpoint(&services.store, &secrets, &org.org_id, &receiver.url, Vec::new()).await;
    let publisher = queues.publisher();
    let data = json!({"order_number": "R-1", "status": "shipped"});
    let published = shared::outbound::publish(
        &services.store,
        &publisher,
        &org.org_id,
        "order.upserted",
        "2026-01-15T10:30:00Z",
        &data,
    )
    .await
    .expect("published");
    let worker = worker_over(&queues).await;
    let source = EventSource {
        worker: &worker,
        queues: &queues,
        receiving: Default::default(),
    };
    source.run_until_drained(Duration::from_secs(120)).await;
    assert_eq!(queues.depth(&queues.dead_letter_url).await, (1, 0), "dead-lettered");
    let delivery_id = &published[0];
    let failed = services
        .store
        .get_delivery(&org.org_id, delivery_id)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(failed.status, "failed");

    match how {
        SentAgain::Redriven => {
            let redrive_queues = shared::api::deliveries_redrive::RedriveQueues {
                delivery: queues.delivery_queue(),
                dead_letter_url: queues.dead_letter_url.clone(),
            };
            let request = harness::fixture("deliveries-redrive.json").key(&org.admin_key).build();
            let (status, json) =
                harness::read(shared::api::deliveries_redrive::handle(&services, &redrive_queues, request).await);
            assert_eq!((status, json["redriven"].as_u64()), (200, Some(1)), "{json}");
        }
        SentAgain::Recovered => {
            let path = format!("/api/v1/webhooks/{}/recover", endpoint.endpoint_id);
            let request = harness::fixture("webhook-sends-test.json")
                .key(&org.admin_key)
                .method("POST", &path)
                .path_parameter("id", &endpoint.endpoint_id)
                .body(json!({"since": "2020-01-01T00:00:00Z"}).to_string())
                .build();
            let (status, json) =
                harness::read(shared::api::webhook_sends::handle(&services, &queues.delivery_queue(), request).await);
            assert_eq!((status, json["recovered"].as_u64()), (202, Some(1)), "{json}");
        }
    }

    // The first new attempt is sent, and its process dies before the answer.
    let api = RuntimeApi::start().await;
    let mut function = FunctionProcess::start(&api, &queues, &format!("delivery-worker-{how:?}-{}.log", org.org_id));
    let batch = queues.receive_at_least(1).await;
    let unanswered = api.invoke(&sqs_event_of(&batch));
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.received().len() < 2 {
        assert!(Instant::now() < deadline, "the redriven delivery was not sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    function.kill();
    drop(unanswered);
    receiver.release();

    let _function = FunctionProcess::start(
        &api,
        &queues,
        &format!("delivery-worker-{how:?}-after-{}.log", org.org_id),
    );
    api.feed_until_drained(&queues, Duration::from_secs(120)).await;
    let received = receiver.received();
    assert!(
        received.len() >= 3 && received.iter().all(|r| &r.webhook_id == delivery_id),
        "sent {} times (the attempt before, the one cut short, then again): {:?}",
        received.len(),
        received.iter().map(|r| &r.webhook_id).collect::<Vec<_>>()
    );
    let delivered = services
        .store
        .get_delivery(&org.org_id, delivery_id)
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(delivered.status, "succeeded", "{delivered:?}");
    assert!(
        delivered.attempt_log.len() > failed.attempt_log.len()
            && delivered.attempt_log.starts_with(&failed.attempt_log),
        "the attempts before kept: {delivered:?}"
    );
    // Recovery leaves the dead-lettered message where it is; nothing is dead-lettered again.
    let left = u64::from(how == SentAgain::Recovered);
    assert_eq!(
        queues.depth(&queues.dead_letter_url).await,
        (left, 0),
        "nothing dead-lettered again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redriven_delivery_whose_first_attempt_dies_is_still_delivered() {
    a_delivery_sent_again_whose_first_attempt_dies_is_still_delivered(SentAgain::Redriven).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recovered_delivery_whose_first_attempt_dies_is_still_delivered() {
    a_delivery_sent_again_whose_first_attempt_dies_is_still_delivered(SentAgain::Recovered).await;
}

/// A TCP proxy in front of the emulator that can be killed: every open connection is cut
/// (requests in flight may or may not have reached the emulator, answers are lost) and new
/// connections are refused, as when the AWS services' host dies. The emulator behind it keeps
/// its state, so that what was written before the kill can be inspected.
struct KillableProxy {
    endpoint: String,
    accepting: tokio::task::JoinHandle<()>,
    connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl KillableProxy {
    async fn start(target: &str) -> Self {
        let target = target.trim_start_matches("http://").to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let endpoint = format!("http://{}", listener.local_addr().expect("an address"));
        let connections: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>> = Default::default();
        let open = connections.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let piping = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open.lock().unwrap().push(piping.abort_handle());
            }
        });
        Self {
            endpoint,
            accepting,
            connections,
        }
    }

    /// Cuts every connection and refuses new ones.
    fn kill(&self) {
        self.accepting.abort();
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

/// The functions' view of AWS when it runs through `proxy`: the ingest function's services and
/// a publisher onto `queue_url`, DynamoDB and SQS both through it.
async fn services_through(
    proxy: &KillableProxy,
    queue_url: &str,
) -> (shared::runtime::Services, shared::outbound::Publisher) {
    let direct = services().await;
    let config = harness::aws_config(&proxy.endpoint);
    let services = shared::runtime::Services {
        store: shared::store::Store::from_config(&config, harness::TABLE).expect("store"),
        ..direct
    };
    let publisher = shared::outbound::Publisher {
        queue: DeliveryQueue {
            sqs: shared::aws::sqs::Sqs::from_config(&config).expect("SQS client"),
            queue_url: queue_url.to_string(),
        },
        cache: shared::outbound::EndpointCache::new(Duration::ZERO),
    };
    (services, publisher)
}

/// Every item of an organization, read from the emulator directly.
async fn org_items(org_id: &str) -> Vec<HashMap<String, shared::store::dynamodb::AttributeValue>> {
    harness::stored_items(&services().await, org_id).await
}

/// The AWS services die in the middle of a burst of concurrent ingests (the emulator's
/// connections cut and refused through [`KillableProxy`]; the emulator itself lives on, as moto
/// keeps no state across a restart, so that what was written can be read back). Half the
/// ingests are orders, half merchant events each linked to three orders, the transaction case.
/// Every request answered 2xx is stored and fanned out to both subscribed endpoints. Every
/// other one is answered with the JSON error (5xx) and no panic, and is absent or complete:
/// an event with all its links or nothing of it, and never fanned out without being stored.
/// (A failed request may be stored without its fan-out: the write and the enqueue are two
/// calls, and SQS may die between them.) Then the client retries what failed, with the same `Idempotency-Key`: every request
/// ends stored and fanned out, the claims of requests that died not holding their keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_aws_services_dying_mid_ingest_leave_each_request_absent_or_complete() {
    const REQUESTS: usize = 60;
    const ANSWERED_BEFORE_THE_KILL: usize = 15;
    let direct = services().await;
    let org = new_org(&direct).await;
    let key = harness::new_key(&direct, &org, &["webhook:write"], 1000).await;
    let queue = harness::OwnQueue::new("faults-ingest").await;
    let secrets = harness::secret_box().await;
    let mut endpoint_ids = BTreeSet::new();
    for i in 0..2 {
        let endpoint = harness::stored_endpoint(
            &direct.store,
            &secrets,
            &org.org_id,
            &format!("https://receiver.example/{i}"),
            vec![60],
        )
        .await;
        let mut config = endpoint.config.clone();
        config.events = vec!["order.upserted".into(), "merchant_event.received".into()];
        direct
            .store
            .update_endpoint(
                &org.org_id,
                &endpoint.endpoint_id,
                &config,
                shared::store::endpoints::TokenChange::Keep,
                "active",
                "2026-01-15T10:30:00.000Z",
            )
            .await
            .expect("endpoint updated");
        endpoint_ids.insert(endpoint.endpoint_id);
    }

    let proxy = KillableProxy::start(&harness::emulator().endpoint).await;
    let (services, publisher) = services_through(&proxy, &queue.url).await;
    let body = |i: usize| {
        if i.is_multiple_of(2) {
            json!({"type": "order", "order": {"order_number": format!("O-{i}"), "status": "shipped", "marker": i}})
        } else {
            let orders: Vec<String> = (0..3).map(|k| format!("E-{i}-{k}")).collect();
            json!({"type": "event", "event": "shipping_delay", "data": {"marker": i, "affected_orders": orders}})
        }
    };
    // Every request carries an Idempotency-Key, as a client that retries sends it.
    let ingest = |key: &str, i: usize, body: &Value| {
        harness::fixture("ingest-order.json")
            .key(key)
            .header("idempotency-key", &format!("ingest-{i}"))
            .body(body.to_string())
            .build()
    };
    let answered_2xx = std::sync::atomic::AtomicUsize::new(0);
    let killed = std::sync::atomic::AtomicBool::new(false);
    let answers: Vec<(usize, u16, Value)> = futures_util::stream::iter(0..REQUESTS)
        .map(|i| {
            let (services, publisher, key, proxy) = (&services, &publisher, &key, &proxy);
            let (answered_2xx, killed) = (&answered_2xx, &killed);
            async move {
                let (status, json) =
                    harness::read(shared::api::ingest::handle(services, publisher, ingest(key, i, &body(i))).await);
                if (200..300).contains(&status)
                    && answered_2xx.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == ANSWERED_BEFORE_THE_KILL
                    && !killed.swap(true, std::sync::atomic::Ordering::SeqCst)
                {
                    proxy.kill();
                }
                (i, status, json)
            }
        })
        .buffer_unordered(12)
        .collect()
        .await;
    assert!(killed.into_inner(), "the services died mid-run");

    // What the emulator holds: items by marker, and the deliveries queued, by marker.
    let items = org_items(&org.org_id).await;
    let marker_of = |item: &HashMap<String, shared::store::dynamodb::AttributeValue>| -> Option<usize> {
        match item
            .get("marker")
            .or_else(|| item.get("data").and_then(|d| d.as_m().ok()?.get("marker")))
        {
            Some(shared::store::dynamodb::AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        }
    };
    let mut stored: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for item in &items {
        if let Some(marker) = marker_of(item) {
            let pk = item.get("PK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            stored.entry(marker).or_default().push(format!("{pk} {sk}"));
        }
    }
    let mut queued: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for message in queue.drain().await {
        let data = &message["data"];
        let marker = data["marker"].as_u64().or_else(|| data["data"]["marker"].as_u64());
        let marker = marker.expect("a delivery of this test's data") as usize;
        queued
            .entry(marker)
            .or_default()
            .push(message["endpoint_id"].as_str().unwrap_or_default().to_string());
    }

    let mut failed = 0;
    for (i, status, json) in &answers {
        // An order is one item; an event is its own item and a copy on each of its 3 orders.
        let complete = if i.is_multiple_of(2) { 1 } else { 4 };
        let items = stored.get(i).map_or(0, Vec::len);
        let deliveries: BTreeSet<String> = queued.get(i).into_iter().flatten().cloned().collect();
        let times_queued = queued.get(i).map_or(0, Vec::len);
        if (200..300).contains(status) {
            assert_eq!(items, complete, "request {i} answered {status}: {:?}", stored.get(i));
            assert_eq!(
                (times_queued, &deliveries),
                (2, &endpoint_ids),
                "request {i} answered {status} is fanned out once to each endpoint"
            );
            continue;
        }
        failed += 1;
        assert!(*status >= 500, "request {i}: {status} {json}");
        assert_eq!(json["success"], false, "request {i}: {json}");
        assert!(json["error"]["code"].is_string(), "request {i}: {json}");
        assert!(
            items == 0 || items == complete,
            "request {i} ({status}) is half-written: {:?}",
            stored.get(i)
        );
        assert!(
            times_queued == 0 || (items == complete && times_queued == 2 && deliveries == endpoint_ids),
            "request {i} ({status}) fanned out without being stored whole: {:?} {:?}",
            stored.get(i),
            queued.get(i)
        );
    }
    assert!(failed > 0, "some requests met the dead services");

    // The services are back. The client retries what failed, with the same keys, a few
    // minutes later: the claims its dead requests left behind are taken over, not 409.
    let later = Arc::new(shared::clock::FixedClock(
        time::OffsetDateTime::now_utc() + time::Duration::minutes(3),
    ));
    let back = harness::services_with_clock(later).await;
    let publisher = queue.publisher();
    for (i, status, _) in &answers {
        if (200..300).contains(status) {
            continue;
        }
        let (status, json) =
            harness::read(shared::api::ingest::handle(&back, &publisher, ingest(&key, *i, &body(*i))).await);
        assert_eq!(status, 200, "request {i} retried: {json}");
    }
    let items = org_items(&org.org_id).await;
    let mut copies: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for item in &items {
        if let Some(marker) = marker_of(item) {
            let entry = copies.entry(marker).or_default();
            entry.0 += 1;
            let sk = item.get("SK").and_then(|v| v.as_s().ok()).map(String::as_str);
            if matches!(sk, Some("ORDER") | Some("EVENT")) {
                entry.1 += 1;
            }
        }
    }
    for message in queue.drain().await {
        let data = &message["data"];
        let marker = data["marker"].as_u64().or_else(|| data["data"]["marker"].as_u64());
        queued
            .entry(marker.expect("a delivery of this test's data") as usize)
            .or_default()
            .push(message["endpoint_id"].as_str().unwrap_or_default().to_string());
    }
    for i in 0..REQUESTS {
        let (items, records) = copies.get(&i).copied().unwrap_or_default();
        let whole = if i.is_multiple_of(2) { 1 } else { 4 };
        // An event stored by a request that then failed is stored again by its retry, under a
        // new id (its first copy was never fanned out): each copy is whole.
        assert!(
            records >= 1 && items == records * whole,
            "request {i} after the retry: {items} items, {records} records"
        );
        let deliveries: BTreeSet<String> = queued.get(&i).into_iter().flatten().cloned().collect();
        assert_eq!(deliveries, endpoint_ids, "request {i} is fanned out after the retry");
    }
}
