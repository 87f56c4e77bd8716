//! The reply queue: a reply written on a ticket whose channel sends through a provider (email
//! today, the chat channels next) is queued here, and `reply-sender` sends it with retries and a
//! dead-letter queue, as the delivery worker does for webhooks.

use serde::{Deserialize, Serialize};

use super::queue::sqs_failure;
use crate::aws::sqs::Sqs;
use crate::error::ApiError;

/// One reply to send: the entry is read when it is sent, so the message stays small and a
/// retry sends what is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyMessage {
    pub org_id: String,
    pub ticket_id: String,
    pub entry_id: String,
}

/// The reply queue, built once per container.
#[derive(Clone, Debug)]
pub struct ReplyQueue {
    pub sqs: Sqs,
    pub queue_url: String,
}

impl ReplyQueue {
    /// The queue `REPLY_QUEUE_URL` names, reached through `sqs` (a function's one SQS client,
    /// whose connection its queues share).
    pub fn from_env(sqs: &Sqs) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            sqs: sqs.clone(),
            queue_url: crate::runtime::required_env("REPLY_QUEUE_URL")?,
        })
    }

    pub async fn enqueue(&self, message: &ReplyMessage) -> Result<(), ApiError> {
        let body = serde_json::to_string(message).map_err(|_| ApiError::internal())?;
        self.sqs
            .send_message(&self.queue_url, &body, 0)
            .await
            .map_err(sqs_failure("queueing a reply"))?;
        Ok(())
    }
}
