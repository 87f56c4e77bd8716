//! `delivery-worker`: the consumer of the delivery queue. It signs and POSTs each delivery,
//! applies the retry backoff itself and lets the queue's redrive policy move what finally fails
//! to the dead-letter queue.
//!
//! A delivery reads top to bottom in [`deliver`]: receive (how many attempts were made) → load
//! the endpoint → filter, sign and send ([`send`]) → plan what follows ([`retry::plan`], pure)
//! → record the attempt, disable the endpoint and alert where the plan says so. Successful
//! deliveries are recorded and counted on their endpoint once per batch ([`Delivered`]).
//!
//! The batch reads its deliveries' records first, in one request ([`Recorded`]; not for a
//! lone delivery on its first receive). The first receive is attempt 1 whatever the record
//! says; a later receive takes from the record how many attempts were made and when the next is
//! due (a message can come back early when the delay exceeds the 12 h SQS allows per visibility
//! change: it is then put back for the rest). After a failed attempt the message's visibility is set to the next delay; after
//! the last one it is released at once and the worker keeps refusing it until SQS moves it to
//! the dead-letter queue (`maxReceiveCount`).

pub mod batches;
pub mod retry;
pub mod send;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::runtime::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use time::OffsetDateTime;

use super::{Disposition, settle, wait_until};
use crate::aws::sqs::Sqs;
use crate::cache::TtlCache;
use crate::clock::{Clock, SystemClock, epoch_ms};
use crate::crypto::SecretBox;
use crate::outbound::ssrf::AddressPolicy;
use crate::outbound::{Alerts, DeliveryMessage, DeliveryQueue, QueueMessage};
use crate::runtime::{Error, env_or, required_env};
use crate::store::deliveries::{Delivery, DeliveryUpdate, new_delivery_item};
use crate::store::endpoints::{AttemptOutcome, Endpoint};
use crate::store::{Item, Store, StoreError};
use retry::{Attempted, Plan, Timing};
use send::Sent;

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

impl DeliveryWorker {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        let policy = Arc::new(AddressPolicy::parse(
            &std::env::var("DELIVERY_ALLOWED_CIDRS").unwrap_or_default(),
        )?);
        let timeout = Duration::from_secs(env_or("DELIVERY_TIMEOUT_SECONDS", 15)?);
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            queue: DeliveryQueue::from_env(&Sqs::from_config(config)?)?,
            alerts: Alerts::from_env(config)?,
            secrets: crate::runtime::secret_box(config).await?,
            http: send::delivery_http_client(policy.clone(), timeout),
            policy,
            retry_delay_scale: env_or("RETRY_DELAY_SCALE", 1.0)?,
            disable_after_seconds: env_or("ENDPOINT_DISABLE_AFTER_SECONDS", 5 * 86_400)?,
            clock: Arc::new(SystemClock),
            endpoints: TtlCache::from_env(),
        })
    }

    /// The endpoint, from the container's cache when it was read lately.
    async fn endpoint(&self, org_id: &str, endpoint_id: &str) -> Result<Option<Endpoint>, StoreError> {
        let key = format!("{org_id}/{endpoint_id}");
        let cached = self
            .endpoints
            .get_or_load(&key, || self.store.get_endpoint(org_id, endpoint_id))
            .await?;
        Ok(cached.as_ref().clone())
    }
}

/// One SQS batch of the delivery queue: deliveries and batch flushes, concurrently. The batch
/// reads its deliveries' records in one request first and writes its successes after, so that
/// in a batch of ten a delivery costs a tenth of two calls, not one call of its own.
pub async fn handle(worker: &DeliveryWorker, event: SqsEvent) -> SqsBatchResponse {
    let messages: Vec<Option<QueueMessage>> = event
        .records
        .iter()
        .map(|record| serde_json::from_str(record.body.as_deref()?).ok())
        .collect();
    let recorded = Recorded::read(&worker.store, &event.records, &messages).await;
    let delivered = Delivered::default();
    let processing = event
        .records
        .iter()
        .zip(&messages)
        .map(|(record, message)| process(worker, &recorded, &delivered, record, message.as_ref()));
    let dispositions = futures_util::future::join_all(processing).await;
    let (response, ()) = futures_util::future::join(
        settle(&worker.queue.sqs, &worker.queue.queue_url, &event, dispositions),
        delivered.write(&worker.store),
    )
    .await;
    response
}

/// The batch's deliveries as stored before it, read once for the whole batch; `None` when that
/// read failed, or was not made because the batch is a lone delivery on its first receive (its
/// success appended by one `UpdateItem` costs one call, a read and a write two).
struct Recorded(Option<HashMap<String, Delivery>>);

/// What the batch's read found of one delivery.
#[derive(Debug, Clone, Copy)]
enum Prior<'a> {
    /// Not read.
    Unknown,
    /// Never recorded: no attempt was made, or none was recorded.
    Absent,
    Recorded(&'a Delivery),
}

impl Recorded {
    async fn read(store: &Store, records: &[SqsMessage], messages: &[Option<QueueMessage>]) -> Self {
        let deliveries: Vec<(&SqsMessage, &DeliveryMessage)> = records
            .iter()
            .zip(messages)
            .filter_map(|(record, message)| match message {
                Some(QueueMessage::Delivery(m)) => Some((record, m)),
                _ => None,
            })
            .collect();
        match deliveries.as_slice() {
            [] => return Self(Some(HashMap::new())),
            [(record, _)] if receive_count(record) <= 1 => return Self(None),
            _ => {}
        }
        let keys: Vec<(&str, &str)> = deliveries
            .iter()
            .map(|(_, m)| (m.org_id.as_str(), m.delivery_id.as_str()))
            .collect();
        match store.deliveries_by_id(&keys).await {
            Ok(found) => Self(Some(found)),
            Err(e) => {
                tracing::error!(error = ?e, "reading the batch's deliveries");
                Self(None)
            }
        }
    }

    fn prior(&self, delivery_id: &str) -> Prior<'_> {
        match &self.0 {
            None => Prior::Unknown,
            Some(found) => found.get(delivery_id).map_or(Prior::Absent, Prior::Recorded),
        }
    }
}

/// What the batch's successful deliveries write once it is done: the record of each delivery
/// that had none (whole items, 25 to a write), and their count on each endpoint (one write per
/// endpoint). Counters are statistics (a lost count never loses or repeats a delivery), and
/// failures are still counted one by one, because each failure's answer (`failing_since`)
/// decides whether the endpoint is disabled.
///
/// A whole item replaces what was stored after the batch's read: that happens only when two
/// copies of one delivery are in flight at once (SQS delivering a message twice), and then the
/// record keeps this success and loses the other copy's attempt entry, never the outcome. A
/// run that dies before the write leaves its successes unrecorded: their messages come back
/// and are sent again, under the same `webhook-id`, as SQS's at-least-once delivery allows.
#[derive(Default)]
struct Delivered {
    /// Delivery id → the delivery's first record (a message received twice in one batch is
    /// recorded once).
    new_records: Mutex<HashMap<String, Item>>,
    /// (organization, endpoint) → deliveries and the latest attempt's time (RFC 3339).
    endpoints: Mutex<HashMap<(String, String), (u32, String)>>,
}

impl Delivered {
    fn add(&self, update: &DeliveryUpdate<'_>, first_record: bool) {
        if first_record {
            let mut records = self.new_records.lock().unwrap_or_else(PoisonError::into_inner);
            records.insert(update.delivery_id.to_string(), new_delivery_item(update));
        }
        let mut endpoints = self.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
        let (deliveries, latest) = endpoints
            .entry((update.org_id.to_string(), update.endpoint_id.to_string()))
            .or_default();
        *deliveries += 1;
        if update.now > latest.as_str() {
            *latest = update.now.to_string();
        }
    }

    /// Writes the new records and adds the tally to each endpoint's counters, all concurrently.
    async fn write(self, store: &Store) {
        let records: Vec<Item> = self
            .new_records
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .into_values()
            .collect();
        let endpoints = self.endpoints.into_inner().unwrap_or_else(PoisonError::into_inner);
        let recording = async {
            if records.is_empty() {
                return;
            }
            let count = records.len();
            if let Err(e) = store.record_new_deliveries(records).await {
                // Delivered but not recorded: deleting the messages is still right.
                tracing::error!(error = ?e, count, "recording successful deliveries");
            }
        };
        let counting = endpoints
            .iter()
            .map(|((org_id, endpoint_id), (deliveries, latest))| async move {
                let outcome = AttemptOutcome::Delivered {
                    deliveries: *deliveries,
                };
                if let Err(e) = store
                    .record_endpoint_attempt(org_id, endpoint_id, outcome, latest)
                    .await
                {
                    tracing::error!(error = ?e, endpoint_id, deliveries, "counting successful deliveries");
                }
            });
        futures_util::future::join(recording, futures_util::future::join_all(counting)).await;
    }
}

async fn process(
    worker: &DeliveryWorker,
    recorded: &Recorded,
    delivered: &Delivered,
    record: &SqsMessage,
    message: Option<&QueueMessage>,
) -> Disposition {
    match message {
        Some(QueueMessage::Delivery(message)) => {
            let prior = recorded.prior(&message.delivery_id);
            deliver(worker, delivered, record, message, prior).await
        }
        Some(QueueMessage::Flush(flush)) => batches::flush(worker, &flush.flush_batch).await,
        None => {
            tracing::error!(message_id = ?record.message_id, "unreadable delivery message");
            Disposition::DeadLetter
        }
    }
}

async fn deliver(
    worker: &DeliveryWorker,
    delivered: &Delivered,
    record: &SqsMessage,
    message: &DeliveryMessage,
    prior: Prior<'_>,
) -> Disposition {
    let now = worker.clock.now();
    let attempts_made = match attempts_made(receive_count(record), prior, epoch_ms(now)) {
        Ok(attempts) => attempts,
        Err(disposition) => return disposition,
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
    let active = endpoint.status == "active";
    let sent = if active {
        send::send(worker, &endpoint, message).await
    } else {
        Sent::not_sent(now, "endpoint is disabled", 0)
    };
    let attempted = Attempted {
        number: attempts_made + 1,
        status: sent.attempt.response_code,
        retry_after: sent.retry_after,
        endpoint_active: active,
        retryable: !sent.destination_refused,
    };
    let timing = Timing {
        jitter: retry::jitter(),
        scale: worker.retry_delay_scale,
    };
    let outcome = Outcome {
        plan: retry::plan(
            attempted,
            &endpoint.config.retry_policy.delays_seconds,
            timing,
            epoch_ms(now),
        ),
        number: attempted.number,
        sent,
        now,
        first_record: matches!(prior, Prior::Absent),
    };
    record_attempt(worker, delivered, record, message, &endpoint, &outcome).await
}

/// One attempt and what follows it.
struct Outcome {
    sent: Sent,
    /// 1 for the first attempt.
    number: u32,
    plan: Plan,
    now: OffsetDateTime,
    /// The delivery had no record before this attempt.
    first_record: bool,
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// Attempts made before this receive: none on a message's first receive (the first ever, or
/// the first after a redrive or recovery); otherwise from the delivery's record, which may also
/// say the delivery is finished or not due yet (`Err`: the disposition).
fn attempts_made(receives: u32, prior: Prior<'_>, now_ms: i64) -> Result<u32, Disposition> {
    if receives <= 1 {
        return Ok(0);
    }
    match prior {
        Prior::Unknown => Err(Disposition::Retry),
        Prior::Absent => Ok(0),
        Prior::Recorded(delivery) => match delivery.status.as_str() {
            "succeeded" => Err(Disposition::Done),
            "failed" => Err(Disposition::DeadLetter),
            _ => match delivery.next_attempt_at {
                Some(due) if due > now_ms + 500 => Err(wait_until(due, now_ms)),
                _ => Ok(delivery.attempts),
            },
        },
    }
}

/// Records the attempt as the plan decided and answers what the queue should do with the
/// message.
async fn record_attempt(
    worker: &DeliveryWorker,
    delivered: &Delivered,
    record: &SqsMessage,
    message: &DeliveryMessage,
    endpoint: &Endpoint,
    outcome: &Outcome,
) -> Disposition {
    let (status, next_attempt_at, disposition) = match outcome.plan {
        Plan::Delivered => ("succeeded", None, Disposition::Done),
        Plan::Retry {
            due_at_ms,
            visibility_seconds,
        } => ("retrying", Some(due_at_ms), Disposition::Wait(visibility_seconds)),
        Plan::GiveUp { .. } => ("failed", None, Disposition::DeadLetter),
    };
    let final_failure = matches!(outcome.plan, Plan::GiveUp { .. });
    let update = DeliveryUpdate {
        org_id: &message.org_id,
        endpoint_id: &message.endpoint_id,
        delivery_id: &message.delivery_id,
        event: &message.event,
        status,
        attempts: outcome.number,
        next_attempt_at,
        payload_size: outcome.sent.payload_size,
        attempt: &outcome.sent.attempt,
        // Kept on a final failure, so that the delivery can be recovered later.
        message_body: record.body.as_deref().filter(|_| final_failure),
        now: &outcome.sent.attempt.at,
        now_epoch: outcome.now.unix_timestamp(),
    };
    if let Plan::Delivered = outcome.plan {
        // A delivery with a record (its attempts before, or a redrive's) has the attempt
        // appended now; a new one is written whole with the batch's.
        if !outcome.first_record
            && let Err(e) = worker.store.record_delivery(&update).await
        {
            // Delivered but not recorded: deleting the message is still right.
            tracing::error!(error = ?e, delivery_id = %message.delivery_id, "recording a successful delivery");
        }
        delivered.add(&update, outcome.first_record);
        return Disposition::Done;
    }
    if let Err(e) = worker.store.record_delivery(&update).await {
        tracing::error!(error = ?e, "recording a failed attempt");
        return Disposition::Retry;
    }
    after_failure(worker, message, endpoint, outcome).await;
    disposition
}

/// Counts the failed attempt on the endpoint, disables it when it is gone or has failed for too
/// long, and alerts when the delivery has run out of attempts.
async fn after_failure(worker: &DeliveryWorker, message: &DeliveryMessage, endpoint: &Endpoint, outcome: &Outcome) {
    let final_failure = matches!(outcome.plan, Plan::GiveUp { .. });
    let now = outcome.now.unix_timestamp();
    let at = outcome.sent.attempt.at.as_str();
    let failed = AttemptOutcome::Failed {
        final_failure,
        at_epoch: now,
    };
    let failing_since = worker
        .store
        .record_endpoint_attempt(&message.org_id, &message.endpoint_id, failed, at)
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = ?e, "counting a failed attempt");
            None
        });
    if let Plan::GiveUp { disable: Some(reason) } = outcome.plan {
        disable(worker, endpoint, reason, at).await;
    } else if retry::failing_too_long(failing_since, now, worker.disable_after_seconds) {
        let reason = format!("failing for more than {} seconds", worker.disable_after_seconds);
        disable(worker, endpoint, &reason, at).await;
    }
    if final_failure && endpoint.status == "active" {
        let detail = format!(
            "delivery {} of {} failed after {} attempts",
            message.delivery_id, message.event, outcome.number
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

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(status: &str, attempts: u32, next_attempt_at: Option<i64>) -> Delivery {
        Delivery {
            delivery_id: "dlv_1".into(),
            endpoint_id: "ep_1".into(),
            event: "order.upserted".into(),
            status: status.into(),
            attempts,
            next_attempt_at,
            payload_size: 10,
            last_attempt: None,
            attempt_log: Vec::new(),
            message_body: None,
            created_at: "2026-01-15T10:30:00Z".into(),
            updated_at: "2026-01-15T10:30:00Z".into(),
        }
    }

    #[test]
    fn a_first_receive_is_the_first_attempt_whatever_was_recorded() {
        let failed = recorded("failed", 9, None);
        for prior in [Prior::Unknown, Prior::Absent, Prior::Recorded(&failed)] {
            assert_eq!(attempts_made(1, prior, 0), Ok(0), "{prior:?}");
        }
    }

    #[test]
    fn a_later_receive_follows_the_record() {
        let now = 1_000_000;
        let succeeded = recorded("succeeded", 2, None);
        let failed = recorded("failed", 3, None);
        let due = recorded("retrying", 2, Some(now + 400));
        let not_due = recorded("retrying", 2, Some(now + 10_000));
        assert_eq!(attempts_made(2, Prior::Unknown, now), Err(Disposition::Retry));
        assert_eq!(attempts_made(2, Prior::Absent, now), Ok(0), "an attempt not recorded");
        assert_eq!(
            attempts_made(2, Prior::Recorded(&succeeded), now),
            Err(Disposition::Done)
        );
        assert_eq!(
            attempts_made(3, Prior::Recorded(&failed), now),
            Err(Disposition::DeadLetter)
        );
        assert_eq!(attempts_made(2, Prior::Recorded(&due), now), Ok(2));
        assert_eq!(
            attempts_made(2, Prior::Recorded(&not_due), now),
            Err(Disposition::Wait(10))
        );
    }
}
