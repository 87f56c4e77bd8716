//! `make bench`: figures for the foundation slice, printed, not judged. CPU figures are CPU
//! time (this thread's or this process's clock), not wall time: on a busy machine they move
//! far less than wall time does, yet still a little from run to run.
//!
//! - cold start of every function binary: exec until it asks the Lambda runtime API for its
//!   first invocation (configuration read, AWS clients built, pepper fetched), and where the
//!   start-up of a function goes (configuration, clients, first AWS call, later calls);
//! - handler CPU per ingest of a 2 KB order, in process against the emulator, split by phase:
//!   authentication and rate limit, the store's write, the fan-out, the rest of the handler, the
//!   log line, and the CPU of one bare DynamoDB call through the store's client;
//! - AWS calls per ingest, counted by the store's client;
//! - the delivery worker: deliveries per second to a local receiver, CPU and AWS calls per
//!   successful delivery (SQS batches of ten built in process, as the event source passes them),
//!   split by phase, beside the floor: a minimal sender that builds, signs and POSTs the same
//!   bytes to the same receiver with no AWS call, and the ratio of the two;
//! - the support desk: handler CPU and AWS calls per ticket opened and per reply.
//! - the ingest and delivery-worker release binaries served by a stand-in runtime API: CPU per
//!   invocation (every thread), wall time, and the process's peak memory.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{emulator, fixture, function_env, new_key, new_org, read, repo_root, services_counting_calls};
use lambda_http::tracing::subscriber;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const COLD_STARTS: usize = 7;
const INGESTS: u32 = 300;
/// Measured requests are timed in this many blocks of equal size, and the median block is the
/// figure: the spread of the blocks says how much the machine moved it.
const TIMED_BLOCKS: u32 = 5;
const _: () = assert!(INGESTS.is_multiple_of(TIMED_BLOCKS), "the ingests fill the blocks");
/// Set in the child that reports where a function's start-up goes.
const STARTUP_PHASES_ENV: &str = "HOOKGATE_BENCH_STARTUP_PHASES";

/// CPU time of the calling thread. The bench runs on a current-thread runtime, so the handler,
/// the SDK and the HTTP client's connection tasks all run on this thread.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn process_cpu() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU time of another process (a function's binary), all its threads, to the nanosecond.
fn child_cpu(pid: u32) -> Duration {
    let mut clock: libc::clockid_t = 0;
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: both calls only write the values we pass; the child is ours and alive.
    unsafe {
        assert_eq!(libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock), 0);
        assert_eq!(libc::clock_gettime(clock, &mut now), 0);
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// CPU time of the calling thread spent in the kernel (system calls: sockets, polling).
fn thread_kernel_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct we pass; all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    Duration::new(usage.ru_stime.tv_sec as u64, usage.ru_stime.tv_usec as u32 * 1000)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Finer than [`ms`], for per-request CPU.
fn ms3(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The subscriber the functions install (`lambda_http::tracing::init_default_subscriber`, JSON
/// as `template.yaml`'s `LogFormat: JSON` asks), writing to nowhere: the bench pays for the
/// formatting of every log line as a function does, without printing them.
fn production_subscriber() -> lambda_http::tracing::Dispatch {
    let collector = subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(
            subscriber::EnvFilter::builder()
                .with_default_directive(subscriber::filter::LevelFilter::INFO.into())
                .parse_lossy(""),
        )
        .with_writer(std::io::sink)
        .json()
        .finish();
    lambda_http::tracing::Dispatch::new(collector)
}

/// A function's binary with the environment Lambda gives it, its runtime API at `runtime_api`,
/// its log lines (JSON at `info`, as deployed) discarded.
fn function_process(binary: &std::path::Path, name: &str, runtime_api: &str) -> Command {
    let mut command = Command::new(binary);
    command
        .envs(function_env(emulator()))
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Exec until the binary's first `GET /runtime/invocation/next` on a stand-in runtime API.
async fn cold_start(binary: &std::path::Path, name: &str) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    let started = Instant::now();
    let mut child = function_process(binary, name, &runtime_api).spawn().unwrap();
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

/// Invocations a release binary serves before the measured ones: connections made, caches warm.
const WARM_UP: u32 = 20;

/// A function's release binary as Lambda runs it: it takes `n` invocations from a stand-in
/// runtime API (after [`WARM_UP`] unmeasured ones), each with the event `next_event` makes, and
/// answers each; its process CPU, every thread, is read at the first measured `next` and at the
/// one after the last. The runtime client's two calls per invocation, the handler, its AWS calls
/// and its log lines are all in it, as they are in what Lambda bills. Answers CPU and wall time
/// per invocation, how many measured answers `succeeded` refused, and the process's peak memory.
async fn served_invocations(
    binary: &std::path::Path,
    name: &str,
    next_event: impl FnMut() -> String,
    succeeded: fn(&serde_json::Value) -> bool,
    n: u32,
) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    let mut child = function_process(binary, name, &runtime_api).spawn().unwrap();
    let measured = serve_invocations(&listener, child.id(), name, next_event, succeeded, n).await;
    child.kill().ok();
    child.wait().ok();
    measured
}

/// What [`served_invocations`] measured: CPU and wall time per invocation, the answers refused.
struct Served {
    cpu: Duration,
    wall: Duration,
    failed: u32,
    /// The process's peak resident memory (`VmHWM`), which Lambda reports as "Max Memory Used"
    /// and bills against the function's memory size.
    peak_memory_kib: u64,
}

/// The peak resident memory of process `pid`, in KiB, as Linux keeps it.
fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The runtime API's side of [`served_invocations`].
async fn serve_invocations(
    listener: &TcpListener,
    pid: u32,
    name: &str,
    mut next_event: impl FnMut() -> String,
    succeeded: fn(&serde_json::Value) -> bool,
    n: u32,
) -> Served {
    let mut served = 0;
    let mut measured_from: Option<(Duration, Instant)> = None;
    let mut failed = 0;
    // One connection at a time: the runtime client asks for the next invocation only after it
    // answered the last, over the connection it keeps.
    'connections: loop {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(60), listener.accept())
            .await
            .expect("the function calls the runtime API")
            .unwrap();
        let mut stream = BufReader::new(stream);
        loop {
            let Some((request_line, body)) = read_http_request(&mut stream).await else {
                continue 'connections;
            };
            let answer = if request_line.contains("/runtime/invocation/next") {
                if served == WARM_UP {
                    measured_from = Some((child_cpu(pid), Instant::now()));
                }
                if served == WARM_UP + n {
                    let (cpu, wall) = measured_from.expect("measured from the warm-up's end");
                    return Served {
                        cpu: (child_cpu(pid) - cpu) / n,
                        wall: wall.elapsed() / n,
                        failed,
                        peak_memory_kib: peak_memory_kib(pid),
                    };
                }
                served += 1;
                let event = next_event();
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 900_000;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Runtime-Aws-Request-Id: bench-{served}\r\n\
                     Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                     Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-central-1:000000000000:function:{name}\r\n\
                     Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n\
                     Content-Length: {}\r\n\r\n{event}",
                    event.len()
                )
            } else {
                let answer = serde_json::from_slice(&body).unwrap_or_default();
                if served > WARM_UP && !succeeded(&answer) {
                    failed += 1;
                }
                "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_string()
            };
            stream.get_mut().write_all(answer.as_bytes()).await.unwrap();
        }
    }
}

/// One HTTP/1.1 request's line and body, or `None` once the connection closed.
async fn read_http_request(stream: &mut BufReader<tokio::net::TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if stream.read_line(&mut request_line).await.ok()? == 0 {
        return None;
    }
    let mut length = 0;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((request_line, body))
}

/// Every function of the workspace (`functions/*`), by binary name.
fn functions() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo_root().join("functions"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// In a child process of its own (statics cold, as in a new container): a function's start-up
/// step by step, on the wall clock; printed as one line of milliseconds for the parent.
async fn startup_phases_child() {
    let started = Instant::now();
    shared::runtime::init_tracing();
    let tracing = started.elapsed();
    let config = shared::runtime::aws_config().unwrap();
    let config_read = started.elapsed();
    let store = shared::store::Store::from_config(&config, harness::TABLE).unwrap();
    let secrets = shared::aws::secrets_manager::SecretsManager::from_config(&config).unwrap();
    let clients = started.elapsed();
    let secret_id = std::env::var("PEPPER_SECRET_ID").unwrap();
    shared::secrets::Pepper::load(&secrets, &secret_id).await.unwrap();
    let first_call = started.elapsed();
    shared::secrets::Pepper::load(&secrets, &secret_id).await.unwrap();
    let second_call = started.elapsed();
    drop(store);
    let steps = [
        tracing,
        config_read - tracing,
        clients - config_read,
        first_call - clients,
        second_call - first_call,
    ];
    let line: Vec<String> = steps
        .iter()
        .map(|d| format!("{:.3}", d.as_secs_f64() * 1000.0))
        .collect();
    println!("{}", line.join(" "));
}

/// Where a function's start-up goes: the median of a few fresh processes.
fn startup_phases() {
    const RUNS: usize = 7;
    let mut runs: Vec<Vec<f64>> = Vec::new();
    for _ in 0..RUNS {
        let output = Command::new(std::env::current_exe().unwrap())
            .envs(function_env(emulator()))
            .env(STARTUP_PHASES_ENV, "1")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let Some(line) = text.lines().last() else { continue };
        runs.push(line.split(' ').filter_map(|v| v.parse().ok()).collect());
    }
    if runs.is_empty() || runs.iter().any(|r| r.len() != 5) {
        println!("  (start-up steps not measured: the child process failed)");
        return;
    }
    let step = |i: usize| {
        let mut values: Vec<f64> = runs.iter().map(|r| r[i]).collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values[values.len() / 2]
    };
    println!("  where a start-up goes (median of {RUNS} fresh processes, wall clock, in this bench's binary):");
    println!("    logging set up                         {:>7.2} ms", step(0));
    println!("    AWS configuration read (aws_config)    {:>7.2} ms", step(1));
    println!("    DynamoDB and Secrets Manager clients   {:>7.2} ms", step(2));
    println!(
        "    first AWS call (the pepper)            {:>7.2} ms  (HTTP client, TLS roots, credentials, the emulator's answer)",
        step(3)
    );
    println!(
        "    the same call again                    {:>7.2} ms  (what the emulator's answer alone costs)",
        step(4)
    );
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

/// Thread CPU per run of `step`, run `n` times one after another in `TIMED_BLOCKS` blocks (one
/// if `n` is smaller): each block's, fastest first.
async fn cpu_blocks<F, Fut>(n: u32, mut step: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let blocks = if n >= TIMED_BLOCKS { TIMED_BLOCKS } else { 1 };
    let mut per_block = Vec::new();
    for _ in 0..blocks {
        let started = thread_cpu();
        for _ in 0..n / blocks {
            step().await;
        }
        per_block.push((thread_cpu() - started) / (n / blocks));
    }
    per_block.sort();
    per_block
}

/// [`cpu_blocks`]' median block: the figure the bench prints.
async fn cpu_per<F, Fut>(n: u32, step: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let blocks = cpu_blocks(n, step).await;
    blocks[blocks.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if std::env::var_os(STARTUP_PHASES_ENV).is_some() {
        runtime.block_on(startup_phases_child());
        return;
    }
    lambda_http::tracing::dispatcher::set_global_default(production_subscriber()).unwrap();
    runtime.block_on(bench());
}

/// Whether a part of the bench runs: all of them, unless `HOOKGATE_BENCH_ONLY` names some
/// (`cold-start`, `ingest`, `deliveries`, `desk`, comma-separated), as `infra/profile.sh` does.
fn selected(part: &str) -> bool {
    std::env::var("HOOKGATE_BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

async fn bench() {
    let release = repo_root().join("target/release");
    println!("Hookgate foundation benchmark (emulated AWS on 127.0.0.1; release build without LTO)");
    println!("CPU figures are CPU time of this process or thread, wall figures include the emulator.\n");

    if selected("cold-start") {
        cold_starts(&release).await;
    }
    let (services, calls) = services_counting_calls().await;
    if selected("ingest") {
        ingest(&services, &calls).await;
    }
    if selected("deliveries") {
        deliveries(&services, &calls).await;
    }
    if selected("desk") {
        desk(&services, &calls).await;
    }
}

async fn cold_starts(release: &std::path::Path) {
    println!("cold start, exec to ready ({COLD_STARTS} runs each, wall clock):");
    for name in functions() {
        let binary = release.join(&name);
        if !binary.exists() {
            println!("  {name:<22} skipped: build it with `cargo build --release --workspace`");
            continue;
        }
        let mut runs = Vec::new();
        for _ in 0..COLD_STARTS {
            runs.push(cold_start(&binary, &name).await);
        }
        let fastest = *runs.iter().min().unwrap();
        println!("  {name:<22} median {:>9}   min {:>9}", ms(median(runs)), ms(fastest));
    }
    startup_phases();
}

async fn ingest(services: &shared::runtime::Services, calls: &harness::CallCounter) {
    let org = new_org(services).await;
    let key = new_key(services, &org, &["webhook:write"], 10_000).await;
    let body = two_kb_order();
    // Endpoints cached per container, as in production; this organization has none.
    let publisher = shared::outbound::Publisher {
        cache: shared::outbound::EndpointCache::new(Duration::from_secs(600)),
        ..harness::publisher().await
    };
    let request = || fixture("ingest-order.json").key(&key).body(body.clone()).build();
    for _ in 0..20 {
        assert_eq!(
            read(shared::api::ingest::handle(services, &publisher, request()).await).0,
            200
        );
    }
    calls.take();
    let mut requests = (0..INGESTS).map(|_| request()).collect::<Vec<_>>().into_iter();
    let wall = Instant::now();
    let blocks = cpu_blocks(INGESTS, || {
        let (request, publisher) = (requests.next().expect("a request per ingest"), &publisher);
        async move {
            let response = shared::api::ingest::handle(services, publisher, request).await;
            assert_eq!(response.status().as_u16(), 200);
        }
    })
    .await;
    let wall = wall.elapsed();
    let aws_calls = calls.take() as f64 / INGESTS as f64;
    let total = blocks[blocks.len() / 2];

    // Each phase again on its own, as the handler runs it.
    let headers = request().headers().clone();
    let auth = cpu_per(INGESTS, || async {
        let now = services.clock.now();
        shared::auth::authenticate(&services.store, &services.pepper, now, &headers)
            .await
            .map_err(|_| "refused")
            .unwrap();
    })
    .await;
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let order = parsed["order"].as_object().unwrap().clone();
    let now = shared::clock::rfc3339(services.clock.now());
    let store = cpu_per(INGESTS, || async {
        let link = shared::store::orders::OrderCustomerLink {
            customer_email: Some("max@example.com"),
            ordered_at: Some("2026-03-12T10:30:00Z"),
        };
        services
            .store
            .upsert_order(&org.org_id, "4521", &order, link, &now)
            .await
            .unwrap();
    })
    .await;
    let data = serde_json::Value::Object(order.clone());
    let fan_out = cpu_per(INGESTS, || async {
        shared::outbound::publish(&services.store, &publisher, &org.org_id, "order.upserted", &now, &data)
            .await
            .unwrap();
    })
    .await;
    // The same event to an organization with one subscribed endpoint: one SendMessageBatch.
    let subscribed = new_org(services).await;
    harness::subscribe(services, &subscribed, &["order.upserted"]).await;
    let queue = harness::OwnQueue::new("bench-fan-out").await;
    let to_one_endpoint = shared::outbound::Publisher {
        cache: shared::outbound::EndpointCache::new(Duration::from_secs(600)),
        ..queue.publisher()
    };
    let fan_out_to_one = cpu_per(INGESTS, || async {
        let sent = shared::outbound::publish(
            &services.store,
            &to_one_endpoint,
            &subscribed.org_id,
            "order.upserted",
            &now,
            &data,
        )
        .await
        .unwrap();
        assert_eq!(sent.len(), 1);
    })
    .await;
    // One bare call: a GetItem of the organization's small item.
    let kernel = thread_kernel_cpu();
    let bare_call = cpu_per(INGESTS, || async {
        services.store.get_organization(&org.org_id).await.unwrap().unwrap();
    })
    .await;
    let bare_call_kernel = (thread_kernel_cpu() - kernel) / INGESTS;
    let logging = {
        let started = thread_cpu();
        for _ in 0..INGESTS {
            lambda_http::tracing::info!(org_id = %org.org_id, key_id = "k_0123456789abcdef", "authenticated");
        }
        (thread_cpu() - started) / INGESTS
    };
    let rest = total.saturating_sub(auth + store + fan_out);
    println!(
        "\ningest of a {} byte order ({INGESTS} sequential requests, one process, this thread's CPU):",
        body.len()
    );
    println!(
        "  handler CPU per request   {:>9}  (handler, DynamoDB client, HTTP client, log line)",
        ms3(total)
    );
    println!(
        "    median of {TIMED_BLOCKS} blocks of {}; the blocks {}–{}",
        INGESTS / TIMED_BLOCKS,
        ms3(blocks[0]),
        ms3(blocks[blocks.len() - 1]),
    );
    println!(
        "    authentication + rate limit   {:>9}  (one conditional UpdateItem, HMAC of the key)",
        ms3(auth)
    );
    println!("    store: the order's write      {:>9}  (one UpdateItem)", ms3(store));
    println!(
        "    fan-out                       {:>9}  (cached endpoint list: none)",
        ms3(fan_out)
    );
    println!(
        "    parsing, checks, answer       {:>9}  (the rest of the handler)",
        ms3(rest)
    );
    println!(
        "    fan-out to one endpoint       {:>9}  (cached endpoint list; one SendMessageBatch)",
        ms3(fan_out_to_one)
    );
    println!(
        "    logging: the request's line   {:>9}  (JSON, as deployed; part of authentication)",
        ms3(logging)
    );
    println!(
        "  one bare DynamoDB call    {:>9}  (GetItem of a small item: serialize, sign, POST, parse)",
        ms3(bare_call)
    );
    println!(
        "    of which in the kernel        {:>9}  (the socket's system calls; rusage, 1 ms ticks averaged)",
        ms3(bare_call_kernel)
    );
    println!(
        "  wall time per request     {:>9}  (includes the emulator's own time)",
        ms(wall / INGESTS)
    );
    println!(
        "  AWS calls per request     {aws_calls:>9.2}  (key check + write; +1 on a key's first request of a minute)"
    );
    let binary = repo_root().join("target/release/ingest");
    if binary.exists() {
        let event = fixture("ingest-order.json").key(&key).body(body.clone()).event_json();
        let answered_200 = |answer: &serde_json::Value| answer["statusCode"] == 200;
        let Served {
            cpu,
            wall,
            failed,
            peak_memory_kib,
        } = served_invocations(&binary, "ingest", || event.clone(), answered_200, INGESTS).await;
        assert_eq!(failed, 0, "ingests the binary refused");
        println!(
            "  the release binary, served by a runtime API ({INGESTS} invocations, its process's CPU, every thread):"
        );
        println!(
            "    CPU per invocation            {:>9}  (runtime client's next and response, handler, logs)",
            ms3(cpu)
        );
        println!("    wall time per invocation      {:>9}", ms(wall));
        println!(
            "    peak memory                   {:>6.1} MiB  (resident, as Lambda's Max Memory Used)",
            peak_memory_kib as f64 / 1024.0
        );
    }
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
    // Built once, as a container builds its clients: not part of a request's cost.
    let replies = harness::reply_queue().await;
    let warm = read(shared::api::tickets::handle(services, &publisher, &replies, open()).await);
    assert_eq!(warm.0, 201, "{}", warm.1);
    // Requests are built before each measured loop: reading a fixture is not a request's cost.
    let opening: Vec<_> = (0..TICKETS).map(|_| open()).collect();
    calls.take();
    let (cpu, mut ids) = (process_cpu(), Vec::new());
    for request in opening {
        let (status, opened) = read(shared::api::tickets::handle(services, &publisher, &replies, request).await);
        assert_eq!(status, 201, "{opened}");
        ids.push(opened["ticket"]["id"].as_str().unwrap().to_string());
    }
    let (open_cpu, open_calls) = (process_cpu() - cpu, calls.take() as f64 / TICKETS as f64);
    let reply = json!({"author": {"type": "agent"}, "content_text": "It left our warehouse yesterday."}).to_string();
    let replying: Vec<_> = ids
        .iter()
        .map(|id| {
            fixture("tickets-reply.json")
                .key(&key)
                .method("POST", &format!("/api/v1/tickets/{id}/conversations"))
                .path_parameter("id", id)
                .body(reply.clone())
                .build()
        })
        .collect();
    let cpu = process_cpu();
    for request in replying {
        let (status, replied) = read(shared::api::tickets::handle(services, &publisher, &replies, request).await);
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

/// Deliveries per second and CPU per delivery of one way of sending.
struct Throughput {
    per_second: f64,
    cpu: Duration,
}

async fn deliveries(services: &shared::runtime::Services, calls: &harness::CallCounter) {
    let port = harness::free_port();
    let root = repo_root();
    let receiver = harness::spawn_tied_to_this_process(
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
    let message = || shared::outbound::DeliveryMessage::new(&endpoint, "order.upserted", &now, data.clone());
    let batch = |n: usize| {
        let bodies: Vec<String> = (0..n).map(|_| serde_json::to_string(&message()).unwrap()).collect();
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
    let worker_figures = Throughput {
        cpu: (process_cpu() - cpu) / DELIVERIES as u32,
        per_second: DELIVERIES as f64 / wall.elapsed().as_secs_f64(),
    };
    let aws_calls = calls.take() as f64 / DELIVERIES as f64;

    let floor = floor_sender(&worker, &endpoint, &message).await;

    // Each phase of a delivery on its own, one after another.
    const N: u32 = 200;
    let messages: Vec<_> = (0..N).map(|_| message()).collect();
    let bodies: Vec<String> = messages.iter().map(|m| serde_json::to_string(m).unwrap()).collect();
    let mut bodies_iter = bodies.iter();
    let parse = cpu_per(N, || {
        let body = bodies_iter.next().unwrap();
        async move {
            serde_json::from_str::<shared::outbound::QueueMessage>(body).unwrap();
        }
    })
    .await;
    let mut i = 0;
    let payload = cpu_per(N, || {
        let m = &messages[i % messages.len()];
        i += 1;
        let endpoint = &endpoint;
        async move {
            std::hint::black_box(shared::worker::delivery::send::payload(endpoint, m));
        }
    })
    .await;
    let bytes = shared::worker::delivery::send::payload(&endpoint, &messages[0]);
    let sign = cpu_per(N, || {
        let (worker, endpoint, bytes) = (&worker, &endpoint, &bytes);
        async move {
            let secret = worker.secrets.open(&endpoint.sealed_secret).unwrap();
            std::hint::black_box(shared::outbound::signing::signature_headers(
                &secret,
                None,
                endpoint.config.signature_style,
                "msg_01",
                1_700_000_000,
                bytes,
            ));
        }
    })
    .await;
    let mut i = 0;
    let send = cpu_per(N, || {
        let m = &messages[i % messages.len()];
        i += 1;
        let (worker, endpoint) = (&worker, &endpoint);
        async move {
            let sent = shared::worker::delivery::send::send(worker, endpoint, m).await;
            assert_eq!(sent.attempt.response_code, Some(200));
        }
    })
    .await;
    let attempt = shared::store::deliveries::Attempt {
        at: now.clone(),
        response_code: Some(200),
        response_time_ms: 3,
        error: None,
        response_body: Some("ok".into()),
    };
    let updates: Vec<_> = messages
        .iter()
        .map(|m| shared::store::deliveries::DeliveryUpdate {
            org_id: &m.org_id,
            endpoint_id: &m.endpoint_id,
            delivery_id: &m.delivery_id,
            event: &m.event,
            status: "succeeded",
            attempts: 1,
            next_attempt_at: None,
            payload_size: 2048,
            attempt: &attempt,
            message_body: None,
            now: &now,
            now_epoch: 1_700_000_000,
        })
        .collect();
    // The batch's records, read in one request and written in one, ten deliveries each.
    let mut tens = updates.chunks(10).cycle();
    let read = cpu_per(N / 10, || {
        let keys: Vec<(&str, &str)> = tens.next().unwrap().iter().map(|u| (u.org_id, u.delivery_id)).collect();
        let worker = &worker;
        async move {
            std::hint::black_box(worker.store.deliveries_by_id(&keys).await.unwrap());
        }
    })
    .await
        / 10;
    let mut tens = updates.chunks(10);
    let record = cpu_per(N / 10, || {
        let items = tens
            .next()
            .unwrap()
            .iter()
            .map(shared::store::deliveries::new_delivery_item)
            .collect();
        let worker = &worker;
        async move {
            worker.store.record_new_deliveries(items).await.unwrap();
        }
    })
    .await
        / 10;
    // The endpoint's counters, written once per batch of 10 deliveries to it.
    let count = cpu_per(N / 10, || {
        let (worker, endpoint, now) = (&worker, &endpoint, &now);
        async move {
            let delivered = shared::store::endpoints::AttemptOutcome::Delivered { deliveries: 10 };
            worker
                .store
                .record_endpoint_attempt(&endpoint.org_id, &endpoint.endpoint_id, delivered, now)
                .await
                .unwrap();
        }
    })
    .await
        / 10;
    let http = send.saturating_sub(payload + sign);
    let rest = worker_figures.cpu.saturating_sub(parse + read + send + record + count);

    println!("\ndelivery worker, {DELIVERIES} signed deliveries of a 2 KB order to a local receiver (batches of 10):");
    println!(
        "  deliveries per second     {:>9.0}  (one worker; includes the emulator and the receiver)",
        worker_figures.per_second
    );
    println!(
        "  worker CPU per delivery   {:>9}  (this process's CPU)",
        ms3(worker_figures.cpu)
    );
    println!("    reading the SQS message       {:>9}", ms3(parse));
    println!(
        "    reading the delivery's record {:>9}  (one BatchGetItem per batch, a tenth each)",
        ms3(read)
    );
    println!("    building the payload          {:>9}", ms3(payload));
    println!("    opening the secret, signing   {:>9}", ms3(sign));
    println!("    HTTP POST, reading the answer {:>9}  (reqwest)", ms3(http));
    println!(
        "    recording the attempt         {:>9}  (one BatchWriteItem per batch, a tenth each)",
        ms3(record)
    );
    println!(
        "    counting it on the endpoint   {:>9}  (one UpdateItem per endpoint and batch, a tenth each)",
        ms3(count)
    );
    println!("    the rest (batch, cache, plan) {:>9}", ms3(rest));
    println!(
        "  AWS calls per delivery    {:>9.2}  (a tenth each of the batch's read, write and endpoint counters; endpoint read cached)",
        aws_calls
    );
    println!("  floor: a minimal sender building, signing and POSTing the same bytes, no AWS call (batches of 10):");
    println!("    deliveries per second   {:>9.0}", floor.per_second);
    println!("    CPU per delivery        {:>9}", ms3(floor.cpu));
    println!(
        "  worker / floor: CPU per delivery {:.1}x, deliveries per second {:.1}x fewer",
        worker_figures.cpu.as_secs_f64() / floor.cpu.as_secs_f64(),
        floor.per_second / worker_figures.per_second
    );
    let binary = repo_root().join("target/release/delivery-worker");
    if binary.exists() {
        const BATCHES: u32 = (DELIVERIES / 10) as u32;
        let next_batch = || serde_json::to_string(&batch(10)).unwrap();
        let none_failed =
            |answer: &serde_json::Value| answer["batchItemFailures"].as_array().is_some_and(Vec::is_empty);
        let Served {
            cpu,
            wall,
            failed,
            peak_memory_kib,
        } = served_invocations(&binary, "delivery-worker", next_batch, none_failed, BATCHES).await;
        assert_eq!(failed, 0, "batches with a failed delivery");
        println!(
            "  the release binary, served by a runtime API ({BATCHES} batches of 10, its process's CPU, every thread):"
        );
        println!(
            "    CPU per delivery              {:>9}  (runtime client's next and response, worker, logs)",
            ms3(cpu / 10)
        );
        println!(
            "    worker binary / floor         {:>8.1}x",
            (cpu / 10).as_secs_f64() / floor.cpu.as_secs_f64()
        );
        println!("    deliveries per second         {:>9.0}", 10.0 / wall.as_secs_f64());
        println!(
            "    peak memory                   {:>6.1} MiB  (resident, as Lambda's Max Memory Used)",
            peak_memory_kib as f64 / 1024.0
        );
    }
    drop(receiver);
}

/// The floor of a delivery: the same envelope, signed the same way, POSTed to the same receiver
/// by one plain HTTP client, ten at a time, with nothing recorded.
async fn floor_sender(
    worker: &shared::worker::delivery::DeliveryWorker,
    endpoint: &shared::store::endpoints::Endpoint,
    message: &impl Fn() -> shared::outbound::DeliveryMessage,
) -> Throughput {
    let client = reqwest::Client::new();
    let secret = worker.secrets.open(&endpoint.sealed_secret).unwrap();
    let send_one = |m: shared::outbound::DeliveryMessage| {
        let (client, secret) = (&client, &secret);
        async move {
            let body = shared::worker::delivery::send::payload(endpoint, &m);
            let headers = shared::outbound::signing::signature_headers(
                secret,
                None,
                endpoint.config.signature_style,
                &m.delivery_id,
                time::OffsetDateTime::now_utc().unix_timestamp(),
                &body,
            );
            let mut request = client
                .post(&endpoint.config.url)
                .header("content-type", "application/json")
                .header("x-hookgate-event", &m.event);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let response = request.body(body).send().await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            response.bytes().await.unwrap();
        }
    };
    futures_util::future::join_all((0..10).map(|_| send_one(message()))).await;
    let batches: Vec<Vec<_>> = (0..DELIVERIES / 10)
        .map(|_| (0..10).map(|_| message()).collect())
        .collect();
    let (cpu, wall) = (process_cpu(), Instant::now());
    for batch in batches {
        futures_util::future::join_all(batch.into_iter().map(send_one)).await;
    }
    Throughput {
        cpu: (process_cpu() - cpu) / DELIVERIES as u32,
        per_second: DELIVERIES as f64 / wall.elapsed().as_secs_f64(),
    }
}
