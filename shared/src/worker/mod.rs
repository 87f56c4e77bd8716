//! The queue consumers and scheduled jobs. Each consumer runs every message of its SQS batch
//! concurrently ([`process_batch`]; the delivery worker, which reads and writes for the whole
//! batch around it, calls [`settle`] itself) and reports failures per item (Lambda's partial
//! batch response), so one bad message never makes SQS redeliver the whole batch.
//!
//! - [`delivery`]: the delivery queue (`delivery-worker`): signs, sends, retries, dead-letters.
//! - [`reply_sender`]: the reply queue (`reply-sender`): sends replies on email tickets.
//! - [`sla_breaches`]: every minute (`sla-breaches`): publishes the SLA targets that passed.

pub mod delivery;
pub mod reply_sender;
pub mod sla_breaches;

use crate::aws::sqs::Sqs;
use crate::runtime::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};

use std::future::Future;

/// The longest SQS lets a message stay invisible in one step.
pub const MAX_VISIBILITY_SECONDS: u64 = 43_200;

/// What to do with a message after processing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Delete it.
    Done,
    /// Keep it invisible this many seconds (at most [`MAX_VISIBILITY_SECONDS`]), then again.
    Wait(u64),
    /// Release it at once and refuse it until SQS moves it to the dead-letter queue.
    DeadLetter,
    /// Something on our side failed: let the visibility timeout bring it back.
    Retry,
}

/// Keep a message invisible until `due_ms` (epoch milliseconds).
pub fn wait_until(due_ms: i64, now_ms: i64) -> Disposition {
    Disposition::Wait(((due_ms - now_ms).max(1) as u64).div_ceil(1000))
}

/// Runs `process` on every message of the batch at once, then [`settle`]s their dispositions.
pub async fn process_batch<'a, F, Fut>(sqs: &Sqs, queue_url: &str, event: &'a SqsEvent, process: F) -> SqsBatchResponse
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Disposition> + 'a,
{
    let dispositions = futures_util::future::join_all(event.records.iter().map(&process)).await;
    settle(sqs, queue_url, event, dispositions).await
}

/// Reports every message not `Done` as a failure, after its visibility is set as its
/// disposition (in the order of the batch's records) asks.
pub async fn settle(sqs: &Sqs, queue_url: &str, event: &SqsEvent, dispositions: Vec<Disposition>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (record, disposition) in event.records.iter().zip(dispositions) {
        let message_id = record.message_id.clone().unwrap_or_default();
        let visibility = match disposition {
            Disposition::Done => continue,
            Disposition::Wait(seconds) => Some(seconds.clamp(1, MAX_VISIBILITY_SECONDS)),
            Disposition::DeadLetter => Some(0),
            Disposition::Retry => None,
        };
        if let (Some(seconds), Some(receipt)) = (visibility, record.receipt_handle.as_deref())
            && let Err(e) = sqs.change_message_visibility(queue_url, receipt, seconds as u32).await
        {
            tracing::error!(message_id, error = %e, "changing visibility");
        }
        response.add_failure(message_id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_rounds_up_to_whole_seconds_and_never_to_zero() {
        assert_eq!(wait_until(10_001, 0), Disposition::Wait(11));
        assert_eq!(wait_until(10_000, 0), Disposition::Wait(10));
        assert_eq!(wait_until(5, 10), Disposition::Wait(1));
    }
}
