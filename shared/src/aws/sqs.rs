//! The queues' SQS client: what the functions ask of SQS (`SendMessage`, `SendMessageBatch`,
//! `ChangeMessageVisibility`; the redrive's `ReceiveMessage` and `DeleteMessageBatch`; the health
//! probe's `GetQueueAttributes`) over AWS's JSON protocol, as the SDK sends them, without the
//! SDK's per-call machinery. An
//! ingest's fan-out to its subscribers is one `SendMessageBatch`, and through the SDK it had been
//! the dearest phase of an ingest (see the README's cost of a request).

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{AwsClient, AwsError, SQS};

/// At most this many messages go in one `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// SQS delays a message by at most 15 minutes.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// Handle on SQS, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct Sqs(AwsClient);

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

/// A message as `ReceiveMessage` hands it out.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceivedMessage {
    pub message_id: String,
    /// What deletes the message or changes its visibility, for this receive only.
    pub receipt_handle: String,
    pub body: String,
}

impl Sqs {
    /// The client of the AWS configuration's endpoint (`AWS_ENDPOINT_URL_SQS` or
    /// `AWS_ENDPOINT_URL` for a local emulator), region and credentials.
    pub fn from_config(config: &crate::aws::AwsConfig) -> Result<Self, String> {
        AwsClient::from_config(SQS, config).map(Self)
    }

    /// The client underneath, for the calls the functions do not make (the local stack's
    /// poller, which long-polls with every attribute).
    pub fn client(&self) -> &AwsClient {
        &self.0
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
        struct Entry<'a> {
            message_body: &'a str,
        }
        let entries = bodies.iter().map(|body| Entry { message_body: body });
        self.batch("SendMessageBatch", queue_url, entries).await
    }

    /// Up to `max_messages` (1 to 10) messages of the queue at `queue_url`, hidden from other
    /// receivers for `visibility_seconds`; none when the queue has none to give right now (no
    /// long polling).
    pub async fn receive_message(
        &self,
        queue_url: &str,
        max_messages: u32,
        visibility_seconds: u32,
    ) -> Result<Vec<ReceivedMessage>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct ReceiveMessage<'a> {
            queue_url: &'a str,
            max_number_of_messages: u32,
            visibility_timeout: u32,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Messages", default)]
            messages: Vec<ReceivedMessage>,
        }
        let answer: Answer = self
            .0
            .call(
                "ReceiveMessage",
                &ReceiveMessage {
                    queue_url,
                    max_number_of_messages: max_messages,
                    visibility_timeout: visibility_seconds,
                },
            )
            .await?;
        Ok(answer.messages)
    }

    /// Deletes the received messages `receipt_handles` (at most [`MAX_BATCH_ENTRIES`]) in one
    /// request; answers the ones SQS did not delete, each under the id of its place.
    pub async fn delete_message_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[&str],
    ) -> Result<Vec<BatchFailure>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry<'a> {
            receipt_handle: &'a str,
        }
        let entries = receipt_handles.iter().map(|receipt_handle| Entry { receipt_handle });
        self.batch("DeleteMessageBatch", queue_url, entries).await
    }

    /// A batch `operation` on the queue at `queue_url`, each entry under the id of its place;
    /// answers the entries that failed.
    async fn batch<E: Serialize>(
        &self,
        operation: &str,
        queue_url: &str,
        entries: impl Iterator<Item = E>,
    ) -> Result<Vec<BatchFailure>, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Batch<'a, E> {
            queue_url: &'a str,
            entries: Vec<Numbered<E>>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Numbered<E> {
            id: String,
            #[serde(flatten)]
            entry: E,
        }
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Failed", default)]
            failed: Vec<BatchFailure>,
        }
        let entries = entries
            .enumerate()
            .map(|(i, entry)| Numbered {
                id: i.to_string(),
                entry,
            })
            .collect();
        let answer: Answer = self.0.call(operation, &Batch { queue_url, entries }).await?;
        Ok(answer.failed)
    }

    /// About how many messages the queue at `queue_url` holds that are ready to be received.
    pub async fn approximate_number_of_messages(&self, queue_url: &str) -> Result<u64, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct GetQueueAttributes<'a> {
            queue_url: &'a str,
            attribute_names: [&'static str; 1],
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Answer {
            #[serde(default)]
            attributes: Attributes,
        }
        #[derive(Default, Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Attributes {
            #[serde(default)]
            approximate_number_of_messages: Option<String>,
        }
        let answer: Answer = self
            .0
            .call(
                "GetQueueAttributes",
                &GetQueueAttributes {
                    queue_url,
                    attribute_names: ["ApproximateNumberOfMessages"],
                },
            )
            .await?;
        Ok(answer
            .attributes
            .approximate_number_of_messages
            .and_then(|count| count.parse().ok())
            .unwrap_or_default())
    }
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
