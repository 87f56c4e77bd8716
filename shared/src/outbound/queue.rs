//! The delivery queue: sends deliveries and schedules batch flushes.

use super::message::{DeliveryMessage, FlushMessage, FlushTarget};
use crate::aws::AwsError;
use crate::aws::sqs::{MAX_BATCH_ENTRIES, Sqs};
use crate::error::ApiError;

/// What one SQS send request may carry in total.
const MAX_REQUEST_BYTES: usize = 256 * 1024 - 1024;

/// The delivery queue, built once per container.
#[derive(Clone, Debug)]
pub struct DeliveryQueue {
    pub sqs: Sqs,
    pub queue_url: String,
}

impl DeliveryQueue {
    /// The queue `DELIVERY_QUEUE_URL` names, reached through `sqs` (a function's one SQS
    /// client, whose connection its queues share).
    pub fn from_env(sqs: &Sqs) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            sqs: sqs.clone(),
            queue_url: crate::runtime::required_env("DELIVERY_QUEUE_URL")?,
        })
    }

    /// Sends the messages, up to ten per request and within what one request may carry in
    /// total (SQS caps a batch at the size of one message).
    pub async fn enqueue(&self, messages: &[DeliveryMessage]) -> Result<(), ApiError> {
        let bodies = messages
            .iter()
            .map(|message| serde_json::to_string(message).map_err(|_| ApiError::internal()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut start = 0;
        while start < bodies.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < bodies.len()
                && end - start < MAX_BATCH_ENTRIES
                && (end == start || bytes + bodies[end].len() <= MAX_REQUEST_BYTES)
            {
                bytes += bodies[end].len();
                end += 1;
            }
            let failed = self
                .sqs
                .send_message_batch(&self.queue_url, &bodies[start..end])
                .await
                .map_err(sqs_failure("enqueueing deliveries"))?;
            if !failed.is_empty() {
                tracing::error!(?failed, "SQS refused deliveries");
                return Err(ApiError::internal());
            }
            start = end;
        }
        Ok(())
    }

    /// Queues a flush of an endpoint's batch, due `delay_seconds` from now.
    pub async fn schedule_flush(
        &self,
        org_id: &str,
        endpoint_id: &str,
        now_ms: i64,
        delay_seconds: u64,
    ) -> Result<(), ApiError> {
        let message = FlushMessage {
            flush_batch: FlushTarget {
                org_id: org_id.to_string(),
                endpoint_id: endpoint_id.to_string(),
                due_at_ms: now_ms + delay_seconds as i64 * 1000,
            },
        };
        let body = serde_json::to_string(&message).map_err(|_| ApiError::internal())?;
        self.sqs
            .send_message(&self.queue_url, &body, u32::try_from(delay_seconds).unwrap_or(u32::MAX))
            .await
            .map_err(sqs_failure("scheduling a batch flush"))?;
        Ok(())
    }
}

/// An SQS call's failure, logged with what was being done; the caller answers 500.
pub fn sqs_failure(doing: &'static str) -> impl FnOnce(AwsError) -> ApiError {
    move |error| {
        tracing::error!(%error, doing, "SQS call failed");
        ApiError::internal()
    }
}
