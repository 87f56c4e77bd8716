//! Outbound deliveries end to end: merchants' requests over HTTP through `cargo lambda watch`,
//! the delivery queue fed to the delivery worker by the local poller, and a real receiving
//! server (tests/receiver.py) that verifies signatures with independent implementations.
//! Retry delays run at 1/60 scale: a scheduled minute lasts a second. Mail comes in through the
//! email door and replies go out to a local stand-in for Resend's API, fed by the reply poller.

use std::time::{Duration, Instant};

use harness::{LocalStack, alerts_queue, emulator, free_port, repo_root, spawn_tied_to_this_process, wait_for_alert};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

struct Setup {
    api: LocalStack,
    resend: harness::StandIn,
    chat: harness::StandIn,
    receiver: String,
    _receiver: harness::TiedProcess,
}

async fn setup() -> &'static Setup {
    static SETUP: OnceCell<Setup> = OnceCell::const_new();
    SETUP
        .get_or_init(|| async {
            let port = free_port();
            let root = repo_root();
            let receiver = spawn_tied_to_this_process(
                &format!(
                    "exec {} {} {port}",
                    root.join(".venv/bin/python").display(),
                    root.join("tests/receiver.py").display()
                ),
                &[],
                &root.join(format!("target/test-logs/receiver-{port}.log")),
            );
            let (resend, chat) = (harness::StandIn::resend(), harness::StandIn::chat());
            let apis = harness::provider_apis(&resend.url, &chat.url);
            let env = [
                ("RESEND_API_URL", apis.resend),
                ("META_GRAPH_URL", apis.graph),
                ("SLACK_API_URL", apis.slack),
                ("TWILIO_API_URL", apis.twilio),
                ("RETRY_DELAY_SCALE", (1.0f64 / 60.0).to_string()),
                ("ENDPOINT_CACHE_SECONDS", "0".to_string()),
                ("DELIVERY_TIMEOUT_SECONDS", "5".to_string()),
                ("SECRET_ROTATION_GRACE_SECONDS", "3600".to_string()),
            ];
            let api = LocalStack::start(&env, true).await;
            Setup {
                api,
                resend,
                chat,
                receiver: format!("http://127.0.0.1:{port}"),
                _receiver: receiver,
            }
        })
        .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(240))
        .build()
        .unwrap()
}

async fn call(method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let setup = setup().await;
    let mut request = client()
        .request(method, format!("{}{path}", setup.api.base))
        .header("x-api-key", &setup.api.admin_key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Scripts the receiver at `path` and returns the endpoint URL for it.
async fn receiver(path: &str, statuses: &[u16], secrets: &[&str], retry_after: Option<u64>) -> String {
    let setup = setup().await;
    let config = json!({"path": path, "statuses": statuses, "secrets": secrets, "retry_after": retry_after});
    let response = client()
        .post(format!("{}/_configure", setup.receiver))
        .json(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    format!("{}{path}", setup.receiver)
}

async fn seen(path: &str) -> Vec<Value> {
    let setup = setup().await;
    client()
        .get(format!("{}/_seen?path={path}", setup.receiver))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the receiver at `path` saw `count` requests.
async fn wait_for(path: &str, count: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let arrived = seen(path).await;
        if arrived.len() >= count {
            return arrived;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: {} of {count} deliveries arrived: {arrived:?}",
            arrived.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create_endpoint(body: Value) -> (String, String) {
    let (status, created) = call(reqwest::Method::POST, "/api/v1/webhooks", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (
        created["webhook"]["id"].as_str().unwrap().to_string(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

async fn wait_for_log(endpoint: &str, status: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (_, logs) = call(reqwest::Method::GET, &format!("/api/v1/webhooks/{endpoint}/logs"), None).await;
        if logs["logs"][0]["status"] == status {
            return logs["logs"][0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {status} delivery logged for {endpoint}: {logs}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn ingested_orders_reach_subscribers_signed_filtered_and_with_bearer_auth() {
    // The secret is registered by the merchant, as in the seed's SDK example.
    let secret = "whsec_dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LTMyLWJ5dGVz";
    let url = receiver("/orders", &[200], &[secret], None).await;
    let (endpoint, returned) = create_endpoint(json!({
        "name": "Orders", "url": url, "events": ["order.upserted"], "secret": secret,
        "authentication": {"type": "bearer", "token": "receiver-token"},
        "filters": {"include_fields": ["order_number", "status", "tracking_number"]}
    }))
    .await;
    assert_eq!(returned, secret);
    let unmatched = receiver("/cancelled-only", &[200], &[], None).await;
    create_endpoint(json!({"name": "Cancellations", "url": unmatched, "events": ["order.upserted"], "conditions": {"status": {"eq": "cancelled"}}})).await;

    let order = json!({"type": "order", "order": {"order_number": "E-1", "status": "shipped", "tracking_number": "DE-1", "customer_email": "eve@example.com", "total": 10}});
    assert_eq!(
        call(reqwest::Method::POST, "/api/webhook", Some(order)).await.0,
        StatusCode::OK
    );

    let arrived = wait_for("/orders", 1, Duration::from_secs(60)).await;
    let delivery = &arrived[0];
    assert_eq!(
        delivery["verified"]["standard"],
        json!([secret]),
        "Standard Webhooks signature: {delivery}"
    );
    assert_eq!(
        delivery["verified"]["sha256"],
        json!([secret]),
        "sha256= signature: {delivery}"
    );
    assert_eq!(delivery["headers"]["authorization"], "Bearer receiver-token");
    assert_eq!(delivery["headers"]["x-hookgate-event"], "order.upserted");
    assert!(delivery["headers"]["webhook-id"].as_str().unwrap().starts_with("msg_"));
    let body = &delivery["body"];
    assert_eq!(body["event"], "order.upserted");
    assert_eq!(body["webhook_id"], endpoint.as_str());
    assert!(body["timestamp"].is_string());
    assert_eq!(
        body["data"],
        json!({"order_number": "E-1", "status": "shipped", "tracking_number": "DE-1"})
    );

    let log = wait_for_log(&endpoint, "success", Duration::from_secs(20)).await;
    assert_eq!(
        (log["attempts"].as_u64(), log["response_code"].as_u64()),
        (Some(1), Some(200))
    );
    let payload: Vec<u8> = serde_json::to_vec(body).unwrap();
    assert!(log["payload_size"].as_u64().unwrap() as usize >= payload.len() - 5);
    let (_, stats) = call(
        reqwest::Method::GET,
        &format!("/api/v1/webhooks/{endpoint}/stats"),
        None,
    )
    .await;
    assert_eq!(
        (
            stats["successful_deliveries"].as_u64(),
            stats["failed_deliveries"].as_u64()
        ),
        (Some(1), Some(0))
    );
    assert!(
        seen("/cancelled-only").await.is_empty(),
        "the condition did not hold: nothing may arrive"
    );
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_until_the_receiver_answers() {
    let url = receiver("/flaky", &[500, 503, 200], &[], None).await;
    let (endpoint, _) = create_endpoint(json!({"name": "Flaky", "url": url, "events": ["webhook.test"]})).await;
    let (status, queued) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({"test_data": {"n": 1}})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");

    let arrived = wait_for("/flaky", 3, Duration::from_secs(60)).await;
    let at: Vec<f64> = arrived.iter().map(|d| d["at"].as_f64().unwrap()).collect();
    // Schedule 1 min then 5 min, at 1/60: about 1 s then 5 s (jitter ±10%, ceil to whole
    // seconds, plus the poller's long-poll latency).
    let (first_gap, second_gap) = (at[1] - at[0], at[2] - at[1]);
    assert!((0.9..=3.5).contains(&first_gap), "first retry after {first_gap} s");
    assert!((4.5..=7.5).contains(&second_gap), "second retry after {second_gap} s");
    let ids: Vec<&str> = arrived
        .iter()
        .map(|d| d["headers"]["webhook-id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| *id == queued["delivery_id"].as_str().unwrap()),
        "one webhook-id across retries"
    );

    let log = wait_for_log(&endpoint, "success", Duration::from_secs(20)).await;
    assert_eq!(log["attempts"], 3);
    // Every attempt is kept under its log entry, with the start of what the receiver answered.
    let attempts = log["attempt_log"].as_array().expect("the attempts");
    let codes: Vec<u64> = attempts.iter().map(|a| a["response_code"].as_u64().unwrap()).collect();
    assert_eq!(codes, [500, 503, 200], "{log}");
    assert_eq!(attempts[0]["response_body"], r#"{"received": false}"#, "{log}");
    assert!(
        attempts
            .iter()
            .all(|a| a["at"].is_string() && a["response_time_ms"].is_u64())
    );
    let (_, stats) = call(
        reqwest::Method::GET,
        &format!("/api/v1/webhooks/{endpoint}/stats"),
        None,
    )
    .await;
    assert_eq!(stats["total_attempts"], 3);
    assert_eq!(stats["successful_deliveries"], 1);
}

#[tokio::test]
async fn an_exhausted_delivery_lands_in_the_dead_letter_queue_and_redrive_delivers_it() {
    let (sqs, alerts) = alerts_queue("alerts-for-down").await;
    let url = receiver("/down", &[500, 500, 500, 200], &[], None).await;
    let (endpoint, _) = create_endpoint(json!({
        "name": "Down", "url": url, "events": ["webhook.test"], "retry_policy": {"max_retries": 2, "backoff_multiplier": 1}
    }))
    .await;
    let (_, queued) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({})),
    )
    .await;
    wait_for("/down", 3, Duration::from_secs(60)).await;
    let log = wait_for_log(&endpoint, "failed", Duration::from_secs(30)).await;
    assert_eq!(log["attempts"], 3);
    wait_for_alert(
        &sqs,
        &alerts,
        "message.attempt.exhausted",
        queued["delivery_id"].as_str().unwrap(),
    )
    .await;
    assert_eq!(seen("/down").await.len(), 3, "no attempt beyond the policy");

    // The receiver is back (its script answers 200 from now on): redrive. The message moves to
    // the dead-letter queue on its next receive after the alert, and other tests of the same
    // organization may dead-letter theirs meanwhile, so redrive until ours is among them.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, redriven) = call(reqwest::Method::POST, "/api/v1/deliveries/redrive", None).await;
        assert_eq!(status, StatusCode::OK, "{redriven}");
        if redriven["delivery_ids"]
            .as_array()
            .unwrap()
            .contains(&queued["delivery_id"])
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the exhausted delivery never reached the dead-letter queue: {redriven}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let arrived = wait_for("/down", 4, Duration::from_secs(30)).await;
    assert_eq!(arrived[3]["headers"]["webhook-id"], queued["delivery_id"]);
    wait_for_log(&endpoint, "success", Duration::from_secs(20)).await;
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_alerts_the_operators() {
    let (sqs, alerts) = alerts_queue("alerts-for-gone").await;
    let url = receiver("/gone", &[410], &[], None).await;
    let (endpoint, _) = create_endpoint(json!({"name": "Gone", "url": url, "events": ["webhook.test"]})).await;
    call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({})),
    )
    .await;
    wait_for("/gone", 1, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, found) = call(reqwest::Method::GET, &format!("/api/v1/webhooks/{endpoint}"), None).await;
        if found["webhook"]["status"] == "disabled" {
            assert!(found["webhook"]["disabled_reason"].as_str().unwrap().contains("410"));
            break;
        }
        assert!(Instant::now() < deadline, "the endpoint was not disabled: {found}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(seen("/gone").await.len(), 1, "a 410 is not retried");
    wait_for_alert(&sqs, &alerts, "endpoint.disabled", &endpoint).await;
}

#[tokio::test]
async fn retry_after_on_429_overrides_the_schedule() {
    // Schedule: 1 min then 5 min; the receiver's 429 asks for 60 s instead of 5 min.
    let url = receiver("/busy", &[500, 429, 200], &[], Some(60)).await;
    let (endpoint, _) = create_endpoint(json!({"name": "Busy", "url": url, "events": ["webhook.test"]})).await;
    call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({})),
    )
    .await;
    let arrived = wait_for("/busy", 3, Duration::from_secs(60)).await;
    let second_gap = arrived[2]["at"].as_f64().unwrap() - arrived[1]["at"].as_f64().unwrap();
    assert!(
        (0.9..=3.5).contains(&second_gap),
        "retried after {second_gap} s, not after Retry-After"
    );
}

#[tokio::test]
async fn during_rotation_both_secrets_sign() {
    let url = receiver("/rotating", &[200], &[], None).await;
    let (endpoint, old) = create_endpoint(json!({"name": "Rotating", "url": url, "events": ["webhook.test"]})).await;
    let (status, rotated) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    receiver("/rotating", &[200], &[&old, &new], None).await;
    call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({})),
    )
    .await;
    let arrived = wait_for("/rotating", 1, Duration::from_secs(60)).await;
    let verified = &arrived[0]["verified"];
    assert_eq!(
        verified["standard"],
        json!([old, new]),
        "both secrets verify webhook-signature: {verified}"
    );
    assert_eq!(verified["sha256"], json!([new]));
    assert_eq!(verified["sha256_previous"], json!([old]));
}

#[tokio::test]
async fn literal_private_and_metadata_destinations_are_refused_when_created_or_changed() {
    // The local stack allow-lists 127.0.0.0/8 only.
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/internal",
        "http://10.0.0.7/hook",
    ] {
        let (status, refused) = call(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(json!({"name": "Internal", "url": url, "events": ["webhook.test"]})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {refused}");
        assert_eq!(refused["error"]["details"]["field"], "url");
    }
    let (endpoint, _) =
        create_endpoint(json!({"name": "Local", "url": "http://127.0.0.1:9/ok", "events": ["webhook.test"]})).await;
    let (status, refused) = call(
        reqwest::Method::PUT,
        &format!("/api/v1/webhooks/{endpoint}"),
        Some(json!({"url": "http://169.254.169.254/latest/meta-data"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
}

async fn ingest_product(sku: &str) {
    let product = json!({"type": "product", "product": {"sku": sku, "name": format!("Product {sku}"), "price": 10}});
    let (status, answer) = call(reqwest::Method::POST, "/api/webhook", Some(product)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn batches_go_out_as_one_signed_array_when_full_or_when_the_oldest_has_waited() {
    // Full: three events go together long before their ten-minute window could end.
    let url = receiver("/batched", &[200], &[], None).await;
    let (endpoint, secret) = create_endpoint(json!({
        "name": "Catalogue", "url": url, "events": ["product.upserted"],
        "batch_settings": {"max_events": 3, "max_wait_seconds": 600},
        "conditions": {"sku": {"in": ["B-1", "B-2", "B-3"]}},
        "filters": {"include_fields": ["sku"]}
    }))
    .await;
    receiver("/batched", &[200], &[&secret], None).await;
    for sku in ["B-1", "B-2", "B-3"] {
        ingest_product(sku).await;
    }
    // Waiting at most a fifth of the window: only a batch sent because it was full arrives.
    let arrived = wait_for("/batched", 1, Duration::from_secs(120)).await;
    let batch = &arrived[0];
    assert_eq!(batch["verified"]["standard"], json!([secret]), "{batch}");
    assert_eq!(batch["verified"]["sha256"], json!([secret]), "{batch}");
    let events = batch["body"].as_array().expect("a batch is a JSON array");
    let skus: Vec<&Value> = events.iter().map(|e| &e["data"]["sku"]).collect();
    assert_eq!(skus, [&json!("B-1"), &json!("B-2"), &json!("B-3")]);
    for event in events {
        assert_eq!(event["event"], "product.upserted");
        assert_eq!(event["webhook_id"], endpoint.as_str());
        assert_eq!(event["data"].as_object().unwrap().len(), 1, "filters apply: {event}");
    }

    // Not full: one event goes when it has waited max_wait_seconds, alone.
    let url = receiver("/batched-lone", &[200], &[], None).await;
    let (lone_endpoint, lone_secret) = create_endpoint(json!({
        "name": "Catalogue, slow", "url": url, "events": ["product.upserted"],
        "batch_settings": {"max_events": 3, "max_wait_seconds": 4},
        "conditions": {"sku": {"eq": "B-4"}},
        "filters": {"include_fields": ["sku"]}
    }))
    .await;
    receiver("/batched-lone", &[200], &[&lone_secret], None).await;
    let started = Instant::now();
    ingest_product("B-4").await;
    let arrived = wait_for("/batched-lone", 1, Duration::from_secs(60)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(3500),
        "a lone event was delivered after {waited:?}, before its 4 s window ended"
    );
    assert_eq!(arrived[0]["body"].as_array().unwrap().len(), 1);
    assert_eq!(arrived[0]["body"][0]["data"], json!({"sku": "B-4"}));
    assert_eq!(arrived[0]["verified"]["standard"], json!([lone_secret]));

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(seen("/batched").await.len(), 1, "each event is delivered once");
    assert_eq!(seen("/batched-lone").await.len(), 1, "each event is delivered once");
    for endpoint in [&endpoint, &lone_endpoint] {
        let (_, logs) = call(reqwest::Method::GET, &format!("/api/v1/webhooks/{endpoint}/logs"), None).await;
        let logged: Vec<(&Value, &Value)> = logs["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (&l["event"], &l["status"]))
            .collect();
        assert_eq!(logged, [(&json!("batch"), &json!("success"))], "{logs}");
    }
}

#[tokio::test]
async fn recover_resends_what_failed_since_a_time_under_the_same_ids() {
    let url = receiver("/recovering", &[500, 200], &[], None).await;
    let (endpoint, _) = create_endpoint(json!({
        "name": "Recovering", "url": url, "events": ["webhook.test"], "retry_policy": {"max_retries": 0}
    }))
    .await;
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let (_, queued) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({"test_data": {"n": 7}})),
    )
    .await;
    wait_for_log(&endpoint, "failed", Duration::from_secs(60)).await;

    let since = since.format(&time::format_description::well_known::Rfc3339).unwrap();
    let (status, recovered) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/recover"),
        Some(json!({"since": since})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovered}");
    assert_eq!(recovered["delivery_ids"], json!([queued["delivery_id"]]));
    let arrived = wait_for("/recovering", 2, Duration::from_secs(60)).await;
    assert_eq!(arrived[1]["headers"]["webhook-id"], queued["delivery_id"]);
    assert_eq!(arrived[1]["body"]["data"], json!({"n": 7}));
    wait_for_log(&endpoint, "success", Duration::from_secs(20)).await;

    // Nothing failed after this instant: nothing to recover.
    let (status, none) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/recover"),
        Some(json!({"since": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()})),
    )
    .await;
    assert_eq!((status, &none["recovered"]), (StatusCode::ACCEPTED, &json!(0)));
}

#[tokio::test]
async fn a_ticket_lifecycle_reaches_the_receiver_as_signed_events() {
    let url = receiver("/desk", &[200], &[], None).await;
    let (_, secret) = create_endpoint(json!({
        "name": "Desk", "url": url,
        "events": ["ticket.created", "conversation.created", "reply.sent", "ticket.updated", "ticket.solved",
                   "ticket.escalated", "email.escalated"]
    }))
    .await;
    receiver("/desk", &[200], &[&secret], None).await;

    let ticket = json!({"subject": "E2E desk lifecycle", "channel": "email", "customer_email": "eve@example.com",
        "message": {"content_text": "My parcel is lost."}});
    let (status, opened) = call(reqwest::Method::POST, "/api/v1/tickets", Some(ticket)).await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let number = opened["ticket"]["ticketNumber"].as_u64().unwrap();
    let reply = json!({"author": {"type": "agent", "name": "Lena"}, "content_text": "We are on it."});
    let (status, replied) = call(
        reqwest::Method::POST,
        &format!("/api/v1/tickets/{number}/conversations"),
        Some(reply),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{replied}");
    let escalate = json!({"team": "Logistics", "reason": "Carrier claim needed"});
    let path = format!("/api/v1/tickets/{number}/escalate");
    assert_eq!(
        call(reqwest::Method::POST, &path, Some(escalate)).await.0,
        StatusCode::OK
    );
    let solve = json!({"status": "solved"});
    let path = format!("/api/v1/tickets/{number}");
    assert_eq!(call(reqwest::Method::PATCH, &path, Some(solve)).await.0, StatusCode::OK);

    // No other test of this run opens tickets: every desk event here is this lifecycle's.
    let arrived = wait_for("/desk", 8, Duration::from_secs(120)).await;
    let mut events: Vec<&str> = arrived.iter().map(|d| d["body"]["event"].as_str().unwrap()).collect();
    events.sort_unstable();
    assert_eq!(
        events,
        [
            "conversation.created",
            "conversation.created",
            "email.escalated",
            "reply.sent",
            "ticket.created",
            "ticket.escalated",
            "ticket.solved",
            "ticket.updated"
        ],
        "{arrived:?}"
    );
    for delivery in &arrived {
        assert_eq!(delivery["verified"]["standard"], json!([secret]), "{delivery}");
        assert_eq!(delivery["verified"]["sha256"], json!([secret]), "{delivery}");
    }
    let solved = arrived.iter().find(|d| d["body"]["event"] == "ticket.solved").unwrap();
    assert_eq!(solved["body"]["data"]["ticketNumber"], number);
    assert_eq!(solved["body"]["data"]["team"], "Logistics");
}

/// An organization of its own and its admin key, bootstrapped as an operator would.
fn another_org(name: &str) -> String {
    let output = std::process::Command::new(harness::workspace_binary("hookgate-admin"))
        .args(["bootstrap", "--org-name", name])
        .envs(harness::function_env(emulator()))
        .output()
        .expect("running hookgate-admin");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    stdout
        .split_whitespace()
        .find(|word| word.starts_with("hg_live_"))
        .expect("the key is printed")
        .to_string()
}

/// A request of the organization whose key is `key`.
async fn call_as(key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let setup = setup().await;
    let mut request = client()
        .request(method, format!("{}{path}", setup.api.base))
        .header("x-api-key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_mail_reaches_the_desk_and_the_receiver_and_the_reply_reaches_the_customer() {
    let setup = setup().await;
    // Its own organization: the desk lifecycle test counts every desk event of the other.
    let key = another_org("E2E mail shop");
    let mailbox = json!({"provider": "email", "api_key": harness::RESEND_KEY,
        "from_address": "Mail Shop <support@mail-shop.example>"});
    let (status, created) = call_as(&key, reqwest::Method::POST, "/api/v1/integrations", Some(mailbox)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let address = created["integration"]["mailbox"]["inbound_address"]
        .as_str()
        .unwrap()
        .to_string();
    let token = created["integration"]["mailbox"]["inbound_token"]
        .as_str()
        .unwrap()
        .to_string();
    let url = receiver("/mail", &[200], &[], None).await;
    let endpoint = json!({"name": "Mail", "url": url, "events": ["email.received"]});
    let (status, subscribed) = call_as(&key, reqwest::Method::POST, "/api/v1/webhooks", Some(endpoint)).await;
    assert_eq!(status, StatusCode::CREATED, "{subscribed}");

    let mail = format!(
        "From: Ola Nordmann <ola@example.com>\r\nTo: {address}\r\nSubject: Wrong size\r\n\
         Message-ID: <e2e-mail-1@example.com>\r\nContent-Type: text/plain\r\n\r\nThe shoes are too small.\r\n"
    );
    let response = client()
        .post(format!("{}/api/webhooks/inbound-email", setup.api.base))
        .header("content-type", "message/rfc822")
        .bearer_auth(&token)
        .body(mail)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let arrived = wait_for("/mail", 1, Duration::from_secs(120)).await;
    let received = &arrived[0]["body"];
    assert_eq!(received["event"], "email.received", "{received}");
    assert_eq!(received["data"]["from"], "ola@example.com");
    let ticket_id = received["data"]["ticketId"].as_str().unwrap().to_string();

    let reply = json!({"author": {"type": "agent", "name": "Kari"}, "content_text": "We will send a larger pair."});
    let path = format!("/api/v1/tickets/{ticket_id}/conversations");
    let (status, replied) = call_as(&key, reqwest::Method::POST, &path, Some(reply)).await;
    assert_eq!(status, StatusCode::CREATED, "{replied}");
    let entry_id = replied["conversation"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let sent = loop {
        let sent = setup.resend.sent_with_key(&entry_id).await;
        if !sent.is_empty() {
            break sent;
        }
        assert!(Instant::now() < deadline, "the reply never reached Resend");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["body"]["to"], json!(["ola@example.com"]));
    assert_eq!(sent[0]["body"]["subject"], "Re: Wrong size");
    assert_eq!(sent[0]["body"]["headers"]["In-Reply-To"], "<e2e-mail-1@example.com>");
    // The entry says it was sent, once the worker has recorded it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, thread) = call_as(&key, reqwest::Method::GET, &path, None).await;
        let entry = thread["conversations"]
            .as_array()
            .and_then(|entries| entries.iter().find(|e| e["id"] == entry_id.as_str()).cloned());
        if entry.as_ref().is_some_and(|e| e["delivery"]["status"] == "sent") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reply's status never became sent: {thread}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_whatsapp_message_reaches_the_desk_and_the_receiver_and_the_reply_reaches_whatsapp() {
    let setup = setup().await;
    let key = another_org("E2E chat shop");
    let (app_secret, verify_token, phone_number_id) = ("e2e-meta-app-secret", "e2e-verify-token", "109876543210987");
    let connect = json!({"provider": "whatsapp", "account_id": phone_number_id, "secret": app_secret,
        "access_token": "EAAtest", "verify_token": verify_token});
    let (status, created) = call_as(&key, reqwest::Method::POST, "/api/v1/integrations", Some(connect)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let handshake = client()
        .get(format!(
            "{}/api/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token={verify_token}&hub.challenge=42",
            setup.api.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(handshake.status(), StatusCode::OK);
    assert_eq!(handshake.text().await.unwrap(), "42");
    let url = receiver("/chat", &[200], &[], None).await;
    let endpoint = json!({"name": "Chat", "url": url, "events": ["message.received"]});
    let (status, _) = call_as(&key, reqwest::Method::POST, "/api/v1/webhooks", Some(endpoint)).await;
    assert_eq!(status, StatusCode::CREATED);

    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        "contacts": [{"profile": {"name": "Kari"}, "wa_id": "4791234567"}],
        "messages": [{"from": "4791234567", "id": "wamid.e2e1", "timestamp": "1", "type": "text", "text": {"body": "Hei, where is my order?"}}]}}]}]})
    .to_string();
    // Meta's documented recipe (it publishes no signing library).
    let signature = std::process::Command::new(harness::venv_bin("python"))
        .arg(repo_root().join("tests/sign_channel.py"))
        .args(["meta", app_secret, &body])
        .output()
        .unwrap();
    let signature = String::from_utf8(signature.stdout).unwrap().trim().to_string();
    let response = client()
        .post(format!("{}/api/webhooks/whatsapp", setup.api.base))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    let arrived = wait_for("/chat", 1, Duration::from_secs(120)).await;
    let received = &arrived[0]["body"];
    assert_eq!(
        (received["event"].as_str(), received["data"]["channel"].as_str()),
        (Some("message.received"), Some("whatsapp"))
    );
    let ticket_id = received["data"]["ticketId"].as_str().unwrap().to_string();

    let path = format!("/api/v1/tickets/{ticket_id}/conversations");
    let reply = json!({"author": {"type": "agent", "name": "Ola"}, "content_text": "It left the warehouse today."});
    let (status, replied) = call_as(&key, reqwest::Method::POST, &path, Some(reply)).await;
    assert_eq!(status, StatusCode::CREATED, "{replied}");
    let deadline = Instant::now() + Duration::from_secs(120);
    let sent = loop {
        let sent: Vec<Value> = setup
            .chat
            .sent("?provider=whatsapp")
            .await
            .into_iter()
            .filter(|s| s["body"]["text"]["body"] == "It left the warehouse today.")
            .collect();
        if !sent.is_empty() {
            break sent;
        }
        assert!(Instant::now() < deadline, "the reply never reached WhatsApp");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(sent[0]["body"]["to"], "4791234567");
    assert_eq!(sent[0]["path"], format!("/v21.0/{phone_number_id}/messages"));
}

#[tokio::test]
async fn a_hex_style_endpoint_is_verified_by_seed_004s_recipe() {
    let secret = "whsec_c2VlZC0wMDQtc3R5bGUtcmVjZWl2ZXItc2VjcmV0";
    let url = receiver("/hex", &[200], &[secret], None).await;
    let (endpoint, _) = create_endpoint(json!({
        "name": "Seed 004 receiver", "url": url, "events": ["webhook.test"], "secret": secret,
        "signature_style": "hex"
    }))
    .await;
    let (status, sent) = call(
        reqwest::Method::POST,
        &format!("/api/v1/webhooks/{endpoint}/test"),
        Some(json!({})),
    )
    .await;
    assert!(status.is_success(), "{sent}");
    let arrived = wait_for("/hex", 1, Duration::from_secs(60)).await;
    let verified = &arrived[0]["verified"];
    assert_eq!(verified["hex"], json!([secret]), "seed 004's bare hex: {}", arrived[0]);
    assert_eq!(verified["standard"], json!([secret]), "Standard Webhooks too");
    assert_eq!(verified["sha256"], json!([]), "no sha256= prefix in this style");
}

/// Seed 001's incoming webhooks end to end: a trigger's token in each of its three places, a
/// wrong one refused, a retry with the same `Idempotency-Key` answered with the first
/// execution, and the demo runtime's reports reaching a receiver as
/// `workflow.execution.completed`, verified with the Standard Webhooks library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_trigger_runs_through_the_runtime_to_a_receiver() {
    use base64::Engine;
    let setup = setup().await;
    let url = receiver("/workflow-completed", &[200], &[], None).await;
    let (_, secret) =
        create_endpoint(json!({"name": "Workflows", "url": url, "events": ["workflow.execution.completed"]})).await;
    receiver("/workflow-completed", &[200], &[&secret], None).await;
    let (status, created) = call(
        reqwest::Method::POST,
        "/api/v1/triggers",
        Some(json!({"name": "Contact form", "workflow_id": "wf_e2e"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("wh_"));
    let door = format!("{}/webhooks/workflows/wf_e2e", setup.api.base);
    let body =
        json!({"input_data": {"name": "John Doe", "email": "john@example.com"}, "trigger_source": "contact_form"});

    let basic = base64::engine::general_purpose::STANDARD.encode(format!("anyone:{token}"));
    let styles = [
        client().post(format!("{door}?token={token}")),
        client().post(&door).bearer_auth(&token),
        client().post(&door).header("authorization", format!("Basic {basic}")),
    ];
    let mut executions = Vec::new();
    for (i, request) in styles.into_iter().enumerate() {
        let response = request
            .header("idempotency-key", format!("form-{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::ACCEPTED, "style {i}");
        let accepted: Value = response.json().await.unwrap();
        assert_eq!(accepted["success"], true);
        assert_eq!(accepted["status"], "queued");
        assert_eq!(accepted["message"], "Webhook processed successfully");
        assert!(accepted["estimated_completion"].is_string());
        executions.push(accepted["execution_id"].as_str().unwrap().to_string());
    }
    // The form's retry: the first execution again, not a fourth.
    let retried: Value = client()
        .post(format!("{door}?token={token}"))
        .header("idempotency-key", "form-0")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(retried["execution_id"], executions[0].as_str());
    // The same token with its last character changed to another of the alphabet.
    let last = if token.ends_with('0') { '1' } else { '0' };
    let wrong = client()
        .post(format!("{door}?token={}{last}", &token[..token.len() - 1]))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let arrived = wait_for("/workflow-completed", 3, Duration::from_secs(120)).await;
    let mut completed: Vec<String> = Vec::new();
    for delivery in &arrived {
        assert_eq!(delivery["verified"]["standard"], json!([secret]), "{delivery}");
        let event = &delivery["body"];
        assert_eq!(event["event"], "workflow.execution.completed");
        assert_eq!(event["data"]["workflow_id"], "wf_e2e");
        assert_eq!(event["data"]["status"], "success");
        assert_eq!(event["data"]["steps_completed"], 2);
        assert_eq!(event["data"]["input_data"]["name"], "John Doe");
        assert!(event["data"]["duration_seconds"].is_number());
        completed.push(event["data"]["execution_id"].as_str().unwrap().to_string());
    }
    completed.sort();
    executions.sort();
    assert_eq!(completed, executions);
    let (_, listed) = call(reqwest::Method::GET, "/api/v1/executions?workflow_id=wf_e2e", None).await;
    assert_eq!(listed["executions"].as_array().unwrap().len(), 3, "{listed}");
    assert!(
        listed["executions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["status"] == "success")
    );
}
