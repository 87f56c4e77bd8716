//! The delivery worker: the SQS consumer that signs and POSTs each delivery, applies the retry
//! backoff itself and lets the queue's redrive policy move what finally fails to the DLQ.
//!
//! Per message: the first receive is attempt 1 with no read; a later receive reads the
//! delivery's record to learn how many attempts were made and when the next is due (a message
//! can come back early when the delay exceeds the 12 h SQS allows per visibility change: it is
//! then put back for the rest). After a failed attempt the message's visibility is set to the
//! next delay; after the last one it is released at once and the worker keeps refusing it until
//! SQS moves it to the dead-letter queue (`maxReceiveCount`).

pub mod batches;
pub mod redrive;
pub mod signing;
pub mod ssrf;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::json;

use crate::alerts::Alerts;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::crypto::SecretBox;
use crate::outbound::{DeliveryMessage, DeliveryQueue, QueueMessage, TtlCache};
use crate::runtime::{Error, required_env};
use crate::store::Store;
use crate::store::deliveries::{Attempt, DeliveryUpdate};
use crate::store::endpoints::{AttemptOutcome, Endpoint};
use crate::webhooks::matching::include_fields;
use ssrf::{AddressPolicy, DestinationRefused, GuardedResolver};

/// The longest SQS lets a message stay invisible in one step.
const MAX_VISIBILITY_SECONDS: u64 = 43_200;
const MAX_RETRY_AFTER_SECONDS: u64 = 86_400;

/// The worker's clients and settings, built once per container.
pub struct DeliveryWorker {
    pub store: Store,
    pub queue: DeliveryQueue,
    pub alerts: Alerts,
    pub secrets: SecretBox,
    pub http: reqwest::Client,
    pub policy: Arc<AddressPolicy>,
    /// Multiplies every retry delay: 1 in production; tests run the schedule in seconds.
    pub retry_delay_scale: f64,
    /// An endpoint failing for longer than this is disabled.
    pub disable_after_seconds: i64,
    pub clock: Arc<dyn Clock>,
    /// Endpoints as last read, so that a successful delivery costs two AWS calls, not three.
    pub endpoints: TtlCache<Option<Endpoint>>,
}

/// The HTTP client for deliveries: no redirects (a redirect could point anywhere), a timeout,
/// and a resolver that refuses non-public addresses.
pub fn delivery_http_client(policy: Arc<AddressPolicy>, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("Hookgate-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a TLS backend is compiled in")
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, Error> {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("{name} is not valid: {value}").into()),
        Err(_) => Ok(default),
    }
}

impl DeliveryWorker {
    pub async fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        let policy = Arc::new(AddressPolicy::parse(
            &std::env::var("DELIVERY_ALLOWED_CIDRS").unwrap_or_default(),
        )?);
        let timeout = Duration::from_secs(env_or("DELIVERY_TIMEOUT_SECONDS", 15)?);
        Ok(Self {
            store: Store::new(aws_sdk_dynamodb::Client::new(config), required_env("TABLE_NAME")?),
            queue: DeliveryQueue {
                sqs: aws_sdk_sqs::Client::new(config),
                queue_url: required_env("DELIVERY_QUEUE_URL")?,
            },
            alerts: Alerts {
                sns: aws_sdk_sns::Client::new(config),
                topic_arn: required_env("ALERTS_TOPIC_ARN")?,
            },
            secrets: SecretBox::from_env(config).await?,
            http: delivery_http_client(policy.clone(), timeout),
            policy,
            retry_delay_scale: env_or("RETRY_DELAY_SCALE", 1.0)?,
            disable_after_seconds: env_or("ENDPOINT_DISABLE_AFTER_SECONDS", 5 * 86_400)?,
            clock: Arc::new(SystemClock),
            endpoints: TtlCache::from_env(),
        })
    }
}

impl DeliveryWorker {
    /// The endpoint, from the container's cache when it was read lately.
    async fn endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<Endpoint>, crate::store::StoreError> {
        let key = format!("{org_id}/{endpoint_id}");
        let cached = self
            .endpoints
            .get_or_load(&key, || self.store.get_endpoint(org_id, endpoint_id))
            .await?;
        Ok(cached.as_ref().clone())
    }
}

/// What to do with a message after processing it.
#[derive(Debug, PartialEq)]
enum Disposition {
    /// Delete it.
    Done,
    /// Keep it invisible this long, then try again.
    Wait(u64),
    /// Release it at once and refuse it until SQS moves it to the dead-letter queue.
    DeadLetter,
    /// Something on our side failed: let the visibility timeout bring it back.
    Retry,
}

/// One SQS batch: every message is processed concurrently; failures are reported per item.
pub async fn handle(worker: &DeliveryWorker, event: SqsEvent) -> SqsBatchResponse {
    let outcomes = futures_util::future::join_all(event.records.iter().map(|record| process(worker, record))).await;
    let mut response = SqsBatchResponse::default();
    for (record, disposition) in event.records.iter().zip(outcomes) {
        let message_id = record.message_id.clone().unwrap_or_default();
        let visibility = match disposition {
            Disposition::Done => continue,
            Disposition::Wait(seconds) => Some(seconds.clamp(1, MAX_VISIBILITY_SECONDS)),
            Disposition::DeadLetter => Some(0),
            Disposition::Retry => None,
        };
        if let (Some(seconds), Some(receipt)) = (visibility, record.receipt_handle.as_deref()) {
            let changed = worker
                .queue
                .sqs
                .change_message_visibility()
                .queue_url(&worker.queue.queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(seconds as i32)
                .send()
                .await;
            if let Err(e) = changed {
                tracing::error!(message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(e), "changing visibility");
            }
        }
        response.add_failure(message_id);
    }
    response
}

struct SendResult {
    attempt: Attempt,
    retry_after: Option<u64>,
}

async fn process(worker: &DeliveryWorker, record: &SqsMessage) -> Disposition {
    match record
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<QueueMessage>(body).ok())
    {
        Some(QueueMessage::Delivery(message)) => deliver(worker, record, &message).await,
        Some(QueueMessage::Flush(flush)) => batches::flush(worker, &flush.flush_batch).await,
        None => {
            tracing::error!(message_id = ?record.message_id, "unreadable delivery message");
            Disposition::DeadLetter
        }
    }
}

/// Milliseconds since the epoch.
fn epoch_ms(at: time::OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Keep a message invisible until `due_ms`.
fn wait_until(due_ms: i64, now_ms: i64) -> Disposition {
    Disposition::Wait(((due_ms - now_ms).max(1) as u64).div_ceil(1000))
}

async fn deliver(worker: &DeliveryWorker, record: &SqsMessage, message: &DeliveryMessage) -> Disposition {
    let receives: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let now = worker.clock.now();
    let now_ms = epoch_ms(now);
    let attempts_made = if receives <= 1 {
        0
    } else {
        match worker.store.get_delivery(&message.org_id, &message.delivery_id).await {
            Ok(None) => 0,
            Ok(Some(delivery)) if delivery.status == "succeeded" => return Disposition::Done,
            Ok(Some(delivery)) if delivery.status == "failed" => return Disposition::DeadLetter,
            Ok(Some(delivery)) => match delivery.next_attempt_at {
                Some(due) if due > now_ms + 500 => return wait_until(due, now_ms),
                _ => delivery.attempts,
            },
            Err(e) => {
                tracing::error!(error = ?e, "reading delivery state");
                return Disposition::Retry;
            }
        }
    };
    let endpoint = match worker.endpoint(&message.org_id, &message.endpoint_id).await {
        Ok(Some(endpoint)) => endpoint,
        Ok(None) => {
            tracing::info!(delivery_id = %message.delivery_id, "endpoint deleted; delivery dropped");
            return Disposition::Done;
        }
        Err(e) => {
            tracing::error!(error = ?e, "reading endpoint");
            return Disposition::Retry;
        }
    };
    let attempt_number = attempts_made + 1;
    let (result, payload_size) = if endpoint.status == "active" {
        send(worker, &endpoint, message).await
    } else {
        let at = rfc3339(now);
        (
            SendResult {
                attempt: Attempt {
                    at,
                    response_code: None,
                    response_time_ms: 0,
                    error: Some("endpoint is disabled".into()),
                },
                retry_after: None,
            },
            0,
        )
    };
    let mut update = DeliveryUpdate {
        org_id: &message.org_id,
        endpoint_id: &message.endpoint_id,
        delivery_id: &message.delivery_id,
        event: &message.event,
        status: "succeeded",
        attempts: attempt_number,
        next_attempt_at: None,
        payload_size,
        attempt: &result.attempt,
        message_body: None,
        now: &result.attempt.at,
        now_epoch: now.unix_timestamp(),
    };
    let code = result.attempt.response_code;
    if code.is_some_and(|c| (200..300).contains(&c)) {
        return match worker.store.record_successful_delivery(&update).await {
            Ok(()) => Disposition::Done,
            Err(e) => {
                // Delivered but not recorded: deleting the message is still right.
                tracing::error!(error = ?e, delivery_id = %message.delivery_id, "recording a successful delivery");
                Disposition::Done
            }
        };
    }
    let gone = code == Some(410);
    let max_attempts = endpoint.config.retry_policy.delays_seconds.len() as u32 + 1;
    let final_failure = gone || endpoint.status != "active" || attempt_number >= max_attempts;
    let delay_ms = (!final_failure).then(|| {
        let planned = endpoint.config.retry_policy.delays_seconds[(attempt_number - 1) as usize];
        let seconds = match result.retry_after {
            Some(asked) => asked.min(MAX_RETRY_AFTER_SECONDS) as f64,
            None => planned as f64 * jitter(),
        };
        (seconds * 1000.0 * worker.retry_delay_scale).max(1.0) as i64
    });
    let body_for_recovery = record.body.as_deref().filter(|_| final_failure);
    update.status = if final_failure { "failed" } else { "retrying" };
    update.next_attempt_at = delay_ms.map(|ms| now_ms + ms);
    update.message_body = body_for_recovery;
    if let Err(e) = worker.store.record_delivery(&update).await {
        tracing::error!(error = ?e, "recording a failed attempt");
        return Disposition::Retry;
    }
    let failing_since = worker
        .store
        .record_endpoint_attempt(
            &message.org_id,
            &message.endpoint_id,
            AttemptOutcome::Failed { final_failure },
            now.unix_timestamp(),
            update.now,
        )
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = ?e, "counting a failed attempt");
            None
        });
    let at = update.now;
    if gone {
        disable(worker, &endpoint, "the endpoint answered 410 Gone", at).await;
    } else if failing_since.is_some_and(|since| now.unix_timestamp() - since >= worker.disable_after_seconds) {
        disable(
            worker,
            &endpoint,
            &format!("failing for more than {} seconds", worker.disable_after_seconds),
            at,
        )
        .await;
    }
    if final_failure && endpoint.status == "active" {
        let detail = format!(
            "delivery {} of {} failed after {attempt_number} attempts",
            message.delivery_id, message.event
        );
        worker
            .alerts
            .publish(
                "message.attempt.exhausted",
                &message.org_id,
                &message.endpoint_id,
                &detail,
                at,
            )
            .await;
    }
    match delay_ms {
        Some(ms) => Disposition::Wait((ms as u64).div_ceil(1000)),
        None => Disposition::DeadLetter,
    }
}

async fn disable(worker: &DeliveryWorker, endpoint: &Endpoint, reason: &str, at: &str) {
    match worker
        .store
        .disable_endpoint(&endpoint.org_id, &endpoint.endpoint_id, reason, at)
        .await
    {
        Ok(true) => {
            worker
                .alerts
                .publish("endpoint.disabled", &endpoint.org_id, &endpoint.endpoint_id, reason, at)
                .await
        }
        Ok(false) => {}
        Err(e) => tracing::error!(error = ?e, "disabling an endpoint"),
    }
}

/// A factor in [0.9, 1.1): retries of many deliveries spread out instead of arriving together.
fn jitter() -> f64 {
    let mut byte = [0u8; 2];
    getrandom::fill(&mut byte).expect("the operating system's random source is unavailable");
    0.9 + 0.2 * (u16::from_le_bytes(byte) as f64 / 65_536.0)
}

/// Builds the envelope, signs the exact bytes and POSTs them. Returns the attempt and the
/// payload size.
async fn send(worker: &DeliveryWorker, endpoint: &Endpoint, message: &DeliveryMessage) -> (SendResult, usize) {
    let now = worker.clock.now();
    let at = rfc3339(now);
    let failed = |error: String| SendResult {
        attempt: Attempt {
            at: at.clone(),
            response_code: None,
            response_time_ms: 0,
            error: Some(error),
        },
        retry_after: None,
    };
    let envelope = |event: &str, timestamp: &str, data: &serde_json::Value| {
        json!({
            "event": event,
            "timestamp": timestamp,
            "webhook_id": endpoint.endpoint_id,
            "data": include_fields(data, &endpoint.config.include_fields),
        })
    };
    let payload = if message.batch.is_empty() {
        envelope(&message.event, &message.timestamp, &message.data)
    } else {
        message
            .batch
            .iter()
            .map(|e| envelope(&e.event, &e.timestamp, &e.data))
            .collect()
    };
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let size = body.len();
    let Some(secret) = worker.secrets.open(&endpoint.sealed_secret) else {
        return (failed("the signing secret cannot be decrypted".into()), size);
    };
    let previous = endpoint
        .sealed_previous_secret
        .as_deref()
        .filter(|_| {
            endpoint
                .previous_secret_until
                .is_some_and(|until| until > now.unix_timestamp())
        })
        .and_then(|sealed| worker.secrets.open(sealed));
    let Ok(url) = reqwest::Url::parse(&endpoint.config.url) else {
        return (failed("the endpoint URL is invalid".into()), size);
    };
    // A literal IP skips DNS, so the resolver's check is made here for it.
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
        _ => None,
    };
    if literal.is_some_and(|ip| !worker.policy.permits(ip)) {
        return (
            failed(
                DestinationRefused(format!(
                    "{} is not a public address",
                    url.host_str().unwrap_or_default()
                ))
                .to_string(),
            ),
            size,
        );
    }
    let mut request = worker
        .http
        .post(url)
        .header("content-type", "application/json")
        .header("x-hookgate-event", &message.event);
    for (name, value) in signing::signature_headers(
        &secret,
        previous.as_deref(),
        &message.delivery_id,
        now.unix_timestamp(),
        &body,
    ) {
        request = request.header(name, value);
    }
    if let Some(token) = endpoint
        .sealed_token
        .as_deref()
        .and_then(|sealed| worker.secrets.open(sealed))
    {
        request = request.bearer_auth(token);
    }
    let started = Instant::now();
    let response = request.body(body).send().await;
    let response_time_ms = started.elapsed().as_millis() as u64;
    let result = match response {
        Ok(response) => {
            let code = response.status().as_u16();
            let retry_after = matches!(code, 429 | 503)
                .then(|| {
                    response
                        .headers()
                        .get("retry-after")?
                        .to_str()
                        .ok()?
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .flatten();
            SendResult {
                attempt: Attempt {
                    at,
                    response_code: Some(code),
                    response_time_ms,
                    error: None,
                },
                retry_after,
            }
        }
        Err(error) => SendResult {
            attempt: Attempt {
                at,
                response_code: None,
                response_time_ms,
                error: Some(describe(&error)),
            },
            retry_after: None,
        },
    };
    (result, size)
}

/// A transport error in words, naming an SSRF refusal as such.
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<DestinationRefused>() {
            return refused.to_string();
        }
        source = current.source();
    }
    if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "connection failed".to_string()
    } else {
        "request failed".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..1000 {
            let factor = jitter();
            assert!((0.9..1.1).contains(&factor), "{factor}");
        }
    }
}
