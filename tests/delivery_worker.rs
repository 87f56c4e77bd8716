//! The delivery worker called directly with SQS events, at instants a test chooses: how long an
//! endpoint has been failing decides when it is disabled, and a success clears the streak; a
//! destination the address guard refuses is never sent to; a batch's successes are recorded in
//! one write and counted on each endpoint with one, and a success never loses the attempts
//! recorded before it.

use std::sync::{Arc, Mutex};

use harness::{alerts_queue, new_org, services, wait_for_alert};
use serde_json::json;
use shared::clock::Clock;
use shared::outbound::DeliveryMessage;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A clock the test moves forward.
struct TestClock(Mutex<OffsetDateTime>);

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, seconds: i64) {
        *self.0.lock().unwrap() += time::Duration::seconds(seconds);
    }
}

/// A receiver answering every request with the status currently in `status`.
async fn receiver(status: Arc<Mutex<u16>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let status = *status.lock().unwrap();
            tokio::spawn(async move {
                let mut request = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut request).await;
                let response = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_the_window_is_disabled_and_a_success_clears_the_streak() {
    let services = services().await;
    let org = new_org(&services).await;
    let status = Arc::new(Mutex::new(500u16));
    let url = receiver(status.clone()).await;
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    // Retries are due at once (scale 0) and an endpoint is disabled after failing for 60 s.
    let worker = harness::delivery_worker(
        services.store.clone(),
        clock.clone(),
        0.0,
        60,
        std::time::Duration::ZERO,
    )
    .await;
    let endpoint = harness::stored_endpoint(&services.store, &worker.secrets, &org.org_id, &url, vec![60; 8]).await;
    let (sqs, alerts) = alerts_queue("alerts-for-failing-endpoint").await;
    let attempt = |message: &DeliveryMessage, receives: u32| {
        harness::sqs_event(&[serde_json::to_string(message).unwrap()], receives)
    };
    let failing_since = || async {
        services
            .store
            .get_endpoint(&org.org_id, &endpoint.endpoint_id)
            .await
            .unwrap()
            .unwrap()
    };

    let first = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:30:00Z", json!({}));
    shared::worker::delivery::handle(&worker, attempt(&first, 1)).await;
    let start = failing_since()
        .await
        .failing_since
        .expect("a failure starts the streak");

    // 30 s later the retry succeeds: the streak is over.
    clock.advance(30);
    *status.lock().unwrap() = 200;
    let response = shared::worker::delivery::handle(&worker, attempt(&first, 2)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "delivered: the message is done"
    );
    assert_eq!(failing_since().await.failing_since, None, "a success clears the streak");

    // A new streak: failing for 50 s is within the window, for 70 s is not.
    *status.lock().unwrap() = 503;
    let second = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:31:00Z", json!({}));
    clock.advance(10);
    shared::worker::delivery::handle(&worker, attempt(&second, 1)).await;
    let restarted = failing_since().await.failing_since.unwrap();
    assert_eq!(restarted - start, 40, "the new streak starts at its first failure");
    clock.advance(50);
    shared::worker::delivery::handle(&worker, attempt(&second, 2)).await;
    assert_eq!(
        failing_since().await.status,
        "active",
        "50 s of failures is within the window"
    );
    clock.advance(20);
    shared::worker::delivery::handle(&worker, attempt(&second, 3)).await;
    let disabled = failing_since().await;
    assert_eq!(disabled.status, "disabled");
    assert!(
        disabled
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("failing for more than 60 seconds"),
        "{:?}",
        disabled.disabled_reason
    );
    wait_for_alert(&sqs, &alerts, "endpoint.disabled", &endpoint.endpoint_id).await;
}

#[tokio::test]
async fn a_destination_the_guard_refuses_is_not_sent_to_and_fails_at_once() {
    let services = services().await;
    let org = new_org(&services).await;
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    let worker = harness::delivery_worker(services.store.clone(), clock, 0.0, 3600, std::time::Duration::ZERO).await;
    // Stored as if it had been allowed when made: the guard at delivery time still refuses it
    // (the worker allows 127.0.0.0/8 only; [::1] stands in for any private or metadata address).
    // Three retries scheduled: none is made, as none could reach it.
    let endpoint = harness::stored_endpoint(
        &services.store,
        &worker.secrets,
        &org.org_id,
        "http://[::1]:9/internal",
        vec![60; 3],
    )
    .await;
    let message = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:30:00Z", json!({}));
    shared::worker::delivery::handle(
        &worker,
        harness::sqs_event(&[serde_json::to_string(&message).unwrap()], 1),
    )
    .await;
    let delivery = services
        .store
        .get_delivery(&org.org_id, &message.delivery_id)
        .await
        .unwrap()
        .expect("the attempt is recorded");
    assert_eq!(
        (delivery.status.as_str(), delivery.attempts),
        ("failed", 1),
        "failed at once"
    );
    let attempt = delivery.last_attempt.expect("an attempt");
    assert_eq!(attempt.response_code, None);
    assert!(
        attempt
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("destination refused"),
        "{attempt:?}"
    );
}

#[tokio::test]
async fn a_batch_records_and_counts_its_successes_at_once_and_its_failures_one_by_one() {
    let (services, calls) = harness::services_counting_calls().await;
    let org = new_org(&services).await;
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    // Endpoints cached, so that the batch's calls are its writes alone.
    let worker = harness::delivery_worker(
        services.store.clone(),
        clock,
        0.0,
        3600,
        std::time::Duration::from_secs(600),
    )
    .await;
    let healthy_url = receiver(Arc::new(Mutex::new(204))).await;
    let failing_url = receiver(Arc::new(Mutex::new(500))).await;
    let healthy = harness::stored_endpoint(&services.store, &worker.secrets, &org.org_id, &healthy_url, vec![60]).await;
    let failing = harness::stored_endpoint(&services.store, &worker.secrets, &org.org_id, &failing_url, vec![60]).await;
    let message = |endpoint| {
        let message = DeliveryMessage::new(endpoint, "webhook.test", "2026-01-15T10:30:00Z", json!({}));
        serde_json::to_string(&message).unwrap()
    };
    let stats = |endpoint: &shared::store::endpoints::Endpoint| {
        let (store, org_id, endpoint_id) = (&services.store, &org.org_id, endpoint.endpoint_id.clone());
        async move {
            let endpoint = store.get_endpoint(org_id, &endpoint_id).await.unwrap().unwrap();
            (endpoint.stats, endpoint.failing_since)
        }
    };
    // One of each first, which also puts both endpoints in the worker's cache.
    shared::worker::delivery::handle(&worker, harness::sqs_event(&[message(&healthy), message(&failing)], 1)).await;
    calls.take();

    let bodies: Vec<String> = (0..10)
        .map(|i| {
            if i % 3 == 0 {
                message(&failing)
            } else {
                message(&healthy)
            }
        })
        .collect();
    let response = shared::worker::delivery::handle(&worker, harness::sqs_event(&bodies, 1)).await;

    assert_eq!(
        response.batch_item_failures.len(),
        4,
        "the four to the failing endpoint wait for a retry"
    );
    assert_eq!(
        calls.take(),
        1 + 4 + 4 + 1 + 1,
        "the batch's records read at once, each failure recorded and counted on its own, the six \
         successes recorded in one write and counted in one"
    );
    // Alone in its batch on its first receive: appended and counted, nothing read first.
    shared::worker::delivery::handle(&worker, harness::sqs_event(&[message(&healthy)], 1)).await;
    assert_eq!(calls.take(), 2, "a lone delivery's record and its count");
    let (healthy_stats, healthy_failing_since) = stats(&healthy).await;
    assert_eq!(
        (
            healthy_stats.total_attempts,
            healthy_stats.total_deliveries,
            healthy_stats.successful_deliveries
        ),
        (8, 8, 8)
    );
    assert!(healthy_stats.last_delivery.is_some());
    assert_eq!(healthy_failing_since, None);
    let (failing_stats, failing_since) = stats(&failing).await;
    assert_eq!(
        (
            failing_stats.total_attempts,
            failing_stats.total_deliveries,
            failing_stats.successful_deliveries
        ),
        (5, 0, 0),
        "attempts with one left: not yet finished deliveries"
    );
    assert!(failing_since.is_some());
}

/// A message received for the first time may belong to a delivery already recorded: a redrive
/// or a recovery sends it again. Its success is appended to the attempts before it, never
/// written over them; a delivery without a record gets one of its own in the same batch.
#[tokio::test]
async fn a_success_on_a_first_receive_keeps_the_attempts_recorded_before_it() {
    let services = services().await;
    let org = new_org(&services).await;
    let clock = Arc::new(TestClock(Mutex::new(OffsetDateTime::now_utc())));
    let worker = harness::delivery_worker(services.store.clone(), clock, 0.0, 3600, std::time::Duration::ZERO).await;
    let status = Arc::new(Mutex::new(503u16));
    let url = receiver(status.clone()).await;
    // No retries: one failed attempt is the delivery's last.
    let endpoint = harness::stored_endpoint(&services.store, &worker.secrets, &org.org_id, &url, Vec::new()).await;
    let redriven = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:30:00Z", json!({}));
    let body = |message: &DeliveryMessage| serde_json::to_string(message).unwrap();
    shared::worker::delivery::handle(&worker, harness::sqs_event(&[body(&redriven)], 1)).await;
    let delivery = |id: String| {
        let (store, org_id) = (&services.store, &org.org_id);
        async move { store.get_delivery(org_id, &id).await.unwrap().expect("recorded") }
    };
    let failed = delivery(redriven.delivery_id.clone()).await;
    assert_eq!((failed.status.as_str(), failed.attempt_log.len()), ("failed", 1));

    // Back on the queue as a redrive leaves it (its first receive), beside a new delivery.
    *status.lock().unwrap() = 200;
    let new = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:31:00Z", json!({}));
    let response =
        shared::worker::delivery::handle(&worker, harness::sqs_event(&[body(&redriven), body(&new)], 1)).await;
    assert!(response.batch_item_failures.is_empty(), "both delivered");

    let succeeded = delivery(redriven.delivery_id.clone()).await;
    let codes: Vec<_> = succeeded.attempt_log.iter().map(|a| a.response_code).collect();
    assert_eq!(succeeded.status, "succeeded");
    assert_eq!(codes, [Some(503), Some(200)], "the attempt before kept: {succeeded:?}");
    assert_eq!(succeeded.created_at, failed.created_at);
    assert_eq!(succeeded.message_body, None, "kept for recovery only while failed");
    let first = delivery(new.delivery_id.clone()).await;
    assert_eq!((first.status.as_str(), first.attempts), ("succeeded", 1));
    assert_eq!(first.attempt_log.len(), 1);
    assert_eq!(first.payload_size, succeeded.payload_size);

    // Alone in its batch, a first receive is not read before: its success is appended.
    *status.lock().unwrap() = 503;
    let alone = DeliveryMessage::new(&endpoint, "webhook.test", "2026-01-15T10:32:00Z", json!({}));
    shared::worker::delivery::handle(&worker, harness::sqs_event(&[body(&alone)], 1)).await;
    *status.lock().unwrap() = 200;
    shared::worker::delivery::handle(&worker, harness::sqs_event(&[body(&alone)], 1)).await;
    let codes: Vec<_> = delivery(alone.delivery_id.clone())
        .await
        .attempt_log
        .iter()
        .map(|a| a.response_code)
        .collect();
    assert_eq!(codes, [Some(503), Some(200)]);
    let listed = services
        .store
        .list_deliveries(&org.org_id, &endpoint.endpoint_id, 10, None)
        .await
        .unwrap();
    let ids: Vec<_> = listed.deliveries.iter().map(|d| d.delivery_id.as_str()).collect();
    assert_eq!(
        ids,
        [&alone.delivery_id, &new.delivery_id, &redriven.delivery_id],
        "listed, newest first"
    );
}
