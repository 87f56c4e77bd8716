//! `make bench`: figures for the foundation slice, printed, not judged.
//!
//! - cold start of each function binary: exec until it asks the Lambda runtime API for its
//!   first invocation (configuration read, AWS clients built, pepper fetched);
//! - handler CPU and wall time per ingest of a 2 KB order, in process against the emulator;
//! - AWS calls per ingest, counted by an SDK interceptor;
//! - the delivery worker: deliveries per second to a local receiver, CPU and AWS calls per
//!   successful delivery (SQS batches of ten built in process, as the event source passes them);
//! - the support desk: handler CPU and AWS calls per ticket opened and per reply.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{emulator, fixture, function_env, new_key, new_org, read, repo_root, services_counting_calls};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

const FUNCTIONS: [&str; 7] = [
    "api-keys",
    "ingest",
    "agent-context",
    "health",
    "openapi",
    "tickets",
    "csat",
];
const COLD_STARTS: usize = 7;
const INGESTS: u32 = 300;

fn process_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Exec until the binary's first `GET /runtime/invocation/next` on a stand-in runtime API.
async fn cold_start(binary: &std::path::Path, name: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = Command::new(binary)
        .envs(function_env(emulator()))
        .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let elapsed = loop {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
            .await
            .expect("runtime API call")
            .unwrap();
        let mut request_line = String::new();
        BufReader::new(stream).read_line(&mut request_line).await.unwrap();
        if request_line.contains("/runtime/invocation/next") {
            break started.elapsed();
        }
    };
    child.kill().ok();
    child.wait().ok();
    elapsed
}

fn two_kb_order() -> String {
    let items: Vec<_> = (0..22)
        .map(|i| json!({"name": format!("Wireless Headphones Pro, colour {i}"), "sku": format!("WHP-{i:03}"), "qty": 1 + i % 3, "price": 59.95}))
        .collect();
    let order = json!({"type": "order", "order": {
        "order_number": "4521", "status": "shipped", "tracking_number": "DE-2026-4521-89", "carrier": "DHL",
        "customer_email": "max@example.com", "customer_name": "Max Müller", "items": items, "total": 149.89,
        "currency": "EUR", "ordered_at": "2026-03-12T10:30:00Z", "shipped_at": "2026-03-14T06:42:00Z"}});
    order.to_string()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let release = repo_root().join("target/release");
    println!("Hookgate foundation benchmark (emulated AWS on 127.0.0.1; release build without LTO)\n");

    println!("cold start, exec to ready ({COLD_STARTS} runs each):");
    for name in FUNCTIONS {
        let binary = release.join(name);
        if !binary.exists() {
            println!("  {name:<14} skipped: build it with `cargo build --release -p {name}`");
            continue;
        }
        let mut runs = Vec::new();
        for _ in 0..COLD_STARTS {
            runs.push(cold_start(&binary, name).await);
        }
        let fastest = *runs.iter().min().unwrap();
        println!("  {name:<14} median {:>9}   min {:>9}", ms(median(runs)), ms(fastest));
    }

    let (services, calls) = services_counting_calls().await;
    let org = new_org(&services).await;
    let key = new_key(&services, &org, &["webhook:write"], 10_000).await;
    let body = two_kb_order();
    // Endpoints cached per container, as in production; this organization has none.
    let publisher = shared::outbound::Publisher {
        cache: shared::outbound::EndpointCache::new(Duration::from_secs(600)),
        ..harness::publisher().await
    };
    let request = || fixture("ingest-order.json").key(&key).body(body.clone()).build();
    for _ in 0..20 {
        assert_eq!(
            read(shared::api::ingest::handle(&services, &publisher, request()).await).0,
            200
        );
    }
    calls.take();
    let mut requests: Vec<_> = (0..INGESTS).map(|_| request()).collect();
    let (cpu, wall) = (process_cpu(), Instant::now());
    for request in requests.drain(..) {
        let response = shared::api::ingest::handle(&services, &publisher, request).await;
        assert_eq!(response.status().as_u16(), 200);
    }
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    let aws_calls = calls.take() as f64 / INGESTS as f64;
    println!(
        "\ningest of a {} byte order ({INGESTS} sequential requests, one process):",
        body.len()
    );
    println!(
        "  handler CPU per request   {:>9}  (handler, SDK serialization and signing, HTTP client)",
        ms(cpu / INGESTS)
    );
    println!(
        "  wall time per request     {:>9}  (includes the emulator's own time)",
        ms(wall / INGESTS)
    );
    println!(
        "  AWS calls per request     {aws_calls:>9.2}  (key check + write; +1 on a key's first request of a minute)"
    );

    deliveries(&services, &calls).await;
    desk(&services, &calls).await;
}

const TICKETS: u32 = 100;

/// Opening tickets and replying to them, in process, for an organization whose (cached) endpoint
/// list is empty: the figures leave the fan-out out.
async fn desk(services: &shared::runtime::Services, calls: &harness::CallCounter) {
    let org = new_org(services).await;
    let key = new_key(services, &org, &["tickets:write"], 10_000).await;
    let publisher = shared::outbound::Publisher {
        cache: shared::outbound::EndpointCache::new(Duration::from_secs(600)),
        ..harness::publisher().await
    };
    let body = json!({"subject": "Where is my order #4521?", "customer_email": "max@example.com",
        "order_numbers": ["4521"], "message": {"content_text": "My headphones have not arrived yet."}})
    .to_string();
    let open = || fixture("tickets-create.json").key(&key).body(body.clone()).build();
    let warm = read(shared::api::tickets::handle(services, &publisher, &harness::reply_queue().await, open()).await);
    assert_eq!(warm.0, 201, "{}", warm.1);
    calls.take();
    let (cpu, mut ids) = (process_cpu(), Vec::new());
    for _ in 0..TICKETS {
        let (status, opened) =
            read(shared::api::tickets::handle(services, &publisher, &harness::reply_queue().await, open()).await);
        assert_eq!(status, 201, "{opened}");
        ids.push(opened["ticket"]["id"].as_str().unwrap().to_string());
    }
    let (open_cpu, open_calls) = (process_cpu() - cpu, calls.take() as f64 / TICKETS as f64);
    let reply = json!({"author": {"type": "agent"}, "content_text": "It left our warehouse yesterday."}).to_string();
    let cpu = process_cpu();
    for id in &ids {
        let request = fixture("tickets-reply.json")
            .key(&key)
            .method("POST", &format!("/api/v1/tickets/{id}/conversations"))
            .path_parameter("id", id)
            .body(reply.clone())
            .build();
        let (status, replied) =
            read(shared::api::tickets::handle(services, &publisher, &harness::reply_queue().await, request).await);
        assert_eq!(status, 201, "{replied}");
    }
    let (reply_cpu, reply_calls) = (process_cpu() - cpu, calls.take() as f64 / TICKETS as f64);
    println!(
        "
support desk ({TICKETS} tickets, then a reply to each, one process; fan-out excluded):"
    );
    println!(
        "  ticket opened   CPU {:>9}   AWS calls {open_calls:.2}  (key check, number, SLA policies, one transaction)",
        ms(open_cpu / TICKETS)
    );
    println!(
        "  reply added     CPU {:>9}   AWS calls {reply_calls:.2}  (key check, ticket read, one transaction)",
        ms(reply_cpu / TICKETS)
    );
}

const DELIVERIES: usize = 500;

async fn deliveries(services: &shared::runtime::Services, calls: &harness::CallCounter) {
    let port = harness::free_port();
    let root = repo_root();
    let mut receiver = harness::spawn_tied_to_this_process(
        &format!(
            "exec {} {} {port}",
            root.join(".venv/bin/python").display(),
            root.join("tests/receiver.py").display()
        ),
        &[],
        &root.join("target/test-logs/bench-receiver.log"),
    );
    let worker = harness::delivery_worker(
        services.store.clone(),
        std::sync::Arc::new(shared::clock::SystemClock),
        1.0,
        86_400,
        // As in production (ENDPOINT_CACHE_SECONDS): the endpoint is read once, not per delivery.
        Duration::from_secs(10),
    )
    .await;
    let org = new_org(services).await;
    let now = shared::clock::rfc3339(time::OffsetDateTime::now_utc());
    let url = format!("http://127.0.0.1:{port}/bench");
    let endpoint = harness::stored_endpoint(&services.store, &worker.secrets, &org.org_id, &url, vec![60]).await;
    harness::wait_for_port(port, Duration::from_secs(30));
    let data: serde_json::Value = serde_json::from_str::<serde_json::Value>(&two_kb_order()).unwrap()["order"].clone();
    let batch = |n: usize| {
        let bodies: Vec<String> = (0..n)
            .map(|_| {
                let message = shared::outbound::DeliveryMessage::new(&endpoint, "order.upserted", &now, data.clone());
                serde_json::to_string(&message).unwrap()
            })
            .collect();
        harness::sqs_event(&bodies, 1)
    };
    // Warm up connections.
    assert!(
        shared::worker::delivery::handle(&worker, batch(10))
            .await
            .batch_item_failures
            .is_empty()
    );
    calls.take();
    let batches: Vec<_> = (0..DELIVERIES / 10).map(|_| batch(10)).collect();
    let (cpu, wall) = (process_cpu(), Instant::now());
    for event in batches {
        let response = shared::worker::delivery::handle(&worker, event).await;
        assert!(response.batch_item_failures.is_empty(), "a delivery failed");
    }
    let (cpu, wall) = (process_cpu() - cpu, wall.elapsed());
    println!("\ndelivery worker, {DELIVERIES} signed deliveries of a 2 KB order to a local receiver (batches of 10):");
    println!(
        "  deliveries per second     {:>9.0}  (one worker; includes the emulator and the receiver)",
        DELIVERIES as f64 / wall.as_secs_f64()
    );
    println!("  worker CPU per delivery   {:>9}", ms(cpu / DELIVERIES as u32));
    println!(
        "  AWS calls per delivery    {:>9.2}  (the delivery's log entry + the endpoint's counters, sent together; endpoint read cached)",
        calls.take() as f64 / DELIVERIES as f64
    );
    receiver.kill().ok();
    receiver.wait().ok();
}
