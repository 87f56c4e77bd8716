//! The worker's side of batching: a due flush takes the endpoint's buffered events under a
//! lease and queues them as batch deliveries once `max_events` are waiting or the oldest has
//! waited `max_wait_seconds`, then schedules the next flush when more are waiting.

use time::OffsetDateTime;

use super::DeliveryWorker;
use crate::clock::{epoch_ms, rfc3339};
use crate::outbound::{DeliveryMessage, FlushTarget};
use crate::worker::{Disposition, wait_until};

/// How long a flush may hold an endpoint's buffer before another may take it over.
const LEASE_MS: i64 = 60_000;

/// When a batch goes: full at `max_events`, or once its oldest event has waited `max_wait_ms`.
#[derive(Clone, Copy)]
struct Window {
    max_events: usize,
    max_wait_ms: i64,
}

/// Flushes one endpoint's buffer: due → lease → take what is ready → queue it → remove it.
/// Every step that fails before the events are removed leaves them buffered for the retried
/// flush; batch ids are stable, so a repeated send is recognisable.
pub async fn flush(worker: &DeliveryWorker, target: &FlushTarget) -> Disposition {
    let now = worker.clock.now();
    let now_ms = epoch_ms(now);
    if target.due_at_ms > now_ms + 500 {
        return wait_until(target.due_at_ms, now_ms);
    }
    let (org_id, endpoint_id) = (target.org_id.as_str(), target.endpoint_id.as_str());
    let settings = match worker.store.get_endpoint(org_id, endpoint_id).await {
        Ok(Some(endpoint)) => endpoint.config.batch_settings,
        // Deleted: its buffer expires through TTL.
        Ok(None) => return Disposition::Done,
        Err(e) => {
            tracing::error!(error = ?e, "reading a batching endpoint");
            return Disposition::Retry;
        }
    };
    // Batching turned off meanwhile: what was buffered still goes, in batches of the most allowed.
    let window = settings.map_or(
        Window {
            max_events: 100,
            max_wait_ms: 0,
        },
        |s| Window {
            max_events: s.max_events as usize,
            max_wait_ms: s.max_wait_seconds as i64 * 1000,
        },
    );
    match worker
        .store
        .lease_batch_flush(org_id, endpoint_id, now_ms, now_ms + LEASE_MS)
        .await
    {
        Ok(Ok(())) => flush_leased(worker, target, window, now).await,
        // Another flush is running; come back when its lease ends, in case it stopped.
        Ok(Err(held_until)) => wait_until(held_until.max(now_ms + 1000), now_ms),
        Err(e) => {
            tracing::error!(error = ?e, "leasing a batch flush");
            Disposition::Retry
        }
    }
}

/// Under the lease: queues what is ready as batch deliveries, or waits for the window.
async fn flush_leased(
    worker: &DeliveryWorker,
    target: &FlushTarget,
    window: Window,
    now: OffsetDateTime,
) -> Disposition {
    let now_ms = epoch_ms(now);
    let (org_id, endpoint_id) = (target.org_id.as_str(), target.endpoint_id.as_str());
    let buffered = match worker
        .store
        .buffered_events(org_id, endpoint_id, window.max_events)
        .await
    {
        Ok(buffered) => buffered,
        Err(e) => {
            tracing::error!(error = ?e, "reading buffered events");
            abandon(worker, org_id, endpoint_id).await;
            return Disposition::Retry;
        }
    };
    let oldest_ms = buffered.first().map(|b| buffered_at_ms(&b.event.id));
    if let Some(oldest_ms) = oldest_ms
        && buffered.len() < window.max_events
        && oldest_ms + window.max_wait_ms > now_ms + 500
    {
        // Neither full nor old enough (the timer of an earlier window): wait for this one's.
        abandon(worker, org_id, endpoint_id).await;
        return wait_until(oldest_ms + window.max_wait_ms, now_ms);
    }
    let (sort_keys, events): (Vec<String>, Vec<_>) = buffered.into_iter().map(|b| (b.sort_key, b.event)).unzip();
    let batches = DeliveryMessage::batches(org_id, endpoint_id, &rfc3339(now), events);
    if let Err(e) = worker.queue.enqueue(&batches).await {
        tracing::error!(error = ?e, "queueing batch deliveries");
        abandon(worker, org_id, endpoint_id).await;
        return Disposition::Retry;
    }
    remove_flushed(worker, target, &sort_keys, now_ms).await
}

/// Removes the queued events and releases the lease; schedules the next flush when more wait.
async fn remove_flushed(
    worker: &DeliveryWorker,
    target: &FlushTarget,
    sort_keys: &[String],
    now_ms: i64,
) -> Disposition {
    let (org_id, endpoint_id) = (target.org_id.as_str(), target.endpoint_id.as_str());
    let pending = match worker.store.complete_batch_flush(org_id, endpoint_id, sort_keys).await {
        Ok(pending) => pending,
        Err(e) => {
            // Queued but still buffered: the retried flush sends them again under the same ids.
            tracing::error!(error = ?e, "removing flushed events");
            return Disposition::Retry;
        }
    };
    // Events buffered during this flush opened no window: a flush now waits for their oldest.
    if pending > 0
        && let Err(e) = worker.queue.schedule_flush(org_id, endpoint_id, now_ms, 0).await
    {
        tracing::error!(error = ?e, "scheduling the next batch flush");
        return Disposition::Retry;
    }
    Disposition::Done
}

/// When a buffered event was buffered: its id is a ULID.
fn buffered_at_ms(id: &str) -> i64 {
    ulid::Ulid::from_string(id).map_or(0, |id| id.timestamp_ms() as i64)
}

async fn abandon(worker: &DeliveryWorker, org_id: &str, endpoint_id: &str) {
    if let Err(e) = worker.store.abandon_batch_flush(org_id, endpoint_id).await {
        tracing::error!(error = ?e, "releasing a batch flush lease");
    }
}
