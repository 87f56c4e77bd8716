//! Queues of work for consumers outside this API: agent and workflow executions for the
//! platform's runtime, orders to confirm by call for the voice agent. Each has a dead-letter
//! queue in `template.yaml`; the consumer reports back through the API, not through the queue.

use serde::Serialize;

use super::queue::sqs_failure;
use crate::aws::sqs::Sqs;
use crate::error::ApiError;

/// One job queue, built once per container.
#[derive(Clone, Debug)]
pub struct JobQueue {
    pub sqs: Sqs,
    pub queue_url: String,
}

impl JobQueue {
    /// The queue the environment variable `variable` names, reached through `sqs` (a
    /// function's one SQS client, whose connection its queues share).
    pub fn from_env(sqs: &Sqs, variable: &str) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            sqs: sqs.clone(),
            queue_url: crate::runtime::required_env(variable)?,
        })
    }

    /// Queues `job` as JSON, visible to the consumer after `delay_seconds` (at most SQS's 15
    /// minutes).
    pub async fn enqueue(&self, job: &impl Serialize, delay_seconds: u32) -> Result<(), ApiError> {
        let body = serde_json::to_string(job).map_err(|_| ApiError::internal())?;
        self.sqs
            .send_message(&self.queue_url, &body, delay_seconds)
            .await
            .map_err(sqs_failure("queueing a job"))?;
        Ok(())
    }
}
