//! The queues' SQS client: what the functions' request and worker paths ask of SQS
//! (`SendMessage`, `SendMessageBatch`, `ChangeMessageVisibility`) over AWS's JSON protocol, as
//! the SDK sends them, without the SDK's per-call machinery. An
//! ingest's fan-out to its subscribers is one `SendMessageBatch`, and through the SDK it had been
//! the dearest phase of an ingest (see the README's cost of a request).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{AwsError, AwsJson, SQS};

/// At most this many messages go in one `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS delays a message by at most 15 minutes.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// Handle on SQS, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct Sqs(AwsJson);

/// A message of a batch that SQS did not take (`SendMessageBatch`'s `Failed`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchFailure {
    /// The entry's place in the batch, as a string.
    pub id: String,
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
    /// The message is at fault (too large, say); else SQS is, and sending again may succeed.
    pub sender_fault: bool,
}

impl Sqs {
    /// The client of the AWS configuration's endpoint (`AWS_ENDPOINT_URL_SQS` or
    /// `AWS_ENDPOINT_URL` for a local emulator), region and credentials.
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, String> {
        AwsJson::from_config(SQS, config).map(Self)
    }

    /// Sends `body` to the queue at `queue_url`, delivered after `delay_seconds`, or after
    /// [`MAX_DELAY_SECONDS`] when that is longer than SQS delays a message.
    pub async fn send_message(&self, queue_url: &str, body: &str, delay_seconds: u32) -> Result<(), AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct SendMessage<'a> {
            queue_url: &'a str,
            message_body: &'a str,
            #[serde(skip_serializing_if = "is_zero")]
            delay_seconds: u32,
        }
        let _: IgnoredAny = self
            .0
            .call(
                "SendMessage",
                &SendMessage {
                    queue_url,
                    message_body: body,
                    delay_seconds: delay_seconds.min(MAX_DELAY_SECONDS),
                },
            )
            .await?;
        Ok(())
    }

    /// Makes the message `receipt_handle` names visible again `seconds` from now (0 to 43200):
    /// how a consumer spaces its retries and hands a message to the dead-letter queue early.
    pub async fn change_message_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ChangeMessageVisibility<'a> {
            queue_url: &'a str,
            receipt_handle: &'a str,
            visibility_timeout: u32,
        }
        let _: IgnoredAny = self
            .0
            .call(
                "ChangeMessageVisibility",
                &ChangeMessageVisibility {
                    queue_url,
                    receipt_handle,
                    visibility_timeout: seconds,
                },
            )
            .await?;
        Ok(())
    }

    /// Sends `bodies` (at most [`MAX_BATCH_ENTRIES`]) to the queue at `queue_url` in one request,
    /// each under the id of its place; answers the messages SQS did not take.
    pub async fn send_message_batch(&self, queue_url: &str, bodies: &[String]) -> Result<Vec<BatchFailure>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct SendMessageBatch<'a> {
            queue_url: &'a str,
            entries: Vec<Entry<'a>>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            id: String,
            message_body: &'a str,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Failed", default)]
            failed: Vec<BatchFailure>,
        }
        let entries = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| Entry {
                id: i.to_string(),
                message_body: body,
            })
            .collect();
        let answer: Answer = self
            .0
            .call("SendMessageBatch", &SendMessageBatch { queue_url, entries })
            .await?;
        Ok(answer.failed)
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
