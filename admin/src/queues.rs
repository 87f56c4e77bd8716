//! What the local stack's tools ask of SQS beyond what the functions do: long-polled receives
//! with every attribute (the local event source and the demo runtime) and a queue's ARN (a
//! redrive policy names its dead-letter queue by it, an SQS event its queue).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::json;
use shared::aws::AwsError;
use shared::aws::sqs::Sqs;

/// A message as `ReceiveMessage` hands it out with its system attributes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    /// `SentTimestamp`, `ApproximateReceiveCount` and the rest.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Up to ten messages of the queue at `queue_url`, waiting up to a second for one (long
/// polling, as Lambda's pollers do), with every system attribute.
pub async fn receive(sqs: &Sqs, queue_url: &str) -> Result<Vec<Message>, AwsError> {
    #[derive(Deserialize)]
    struct Received {
        #[serde(rename = "Messages", default)]
        messages: Vec<Message>,
    }
    let request = json!({
        "QueueUrl": queue_url,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 1,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    });
    let received: Received = sqs.client().call("ReceiveMessage", &request).await?;
    Ok(received.messages)
}

/// The ARN of the queue at `queue_url`.
pub async fn queue_arn(sqs: &Sqs, queue_url: &str) -> Result<String, AwsError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Read {
        attributes: BTreeMap<String, String>,
    }
    let request = json!({ "QueueUrl": queue_url, "AttributeNames": ["QueueArn"] });
    let read: Read = sqs.client().call("GetQueueAttributes", &request).await?;
    Ok(read.attributes.get("QueueArn").cloned().unwrap_or_default())
}
