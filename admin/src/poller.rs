//! What Lambda's SQS event source mapping does in AWS, for the local stack: long-poll a queue,
//! invoke the function with the same `SqsEvent` shape through the local Lambda invoke API
//! (`cargo lambda watch`), and delete the messages the function did not report as failures
//! (`ReportBatchItemFailures`). Failed messages come back when their visibility ends, and the
//! queue's redrive policy applies as in AWS.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use shared::aws::sqs::Sqs;
use shared::aws::{AwsConfig, AwsError};

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

pub struct Poller {
    pub queue_url: String,
    pub function: String,
    /// Base URL of the local Lambda API, e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
}

impl Poller {
    /// Runs until the process is stopped.
    pub async fn run(&self, config: &AwsConfig) -> Result<(), String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Attributes {
            attributes: BTreeMap<String, String>,
        }
        let sqs = Sqs::from_config(config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        let request = json!({ "QueueUrl": self.queue_url, "AttributeNames": ["QueueArn"] });
        let read: Attributes = sqs
            .client()
            .call("GetQueueAttributes", &request)
            .await
            .map_err(|e| format!("reading {}: {e}", self.queue_url))?;
        let arn = read.attributes.get("QueueArn").cloned().unwrap_or_default();
        let invoke = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.invoke_url.trim_end_matches('/'),
            self.function
        );
        loop {
            let messages = match receive(&sqs, &self.queue_url).await {
                Ok(messages) => messages,
                Err(e) => {
                    eprintln!("poller: receiving: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            let event = sqs_event(&messages, &arn, &config.region);
            let response = http.post(&invoke).json(&event).send().await;
            let failed: HashSet<String> = match response {
                Ok(response) if response.status().is_success() => match response.json::<Value>().await {
                    Ok(body) => body["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_string))
                        .collect(),
                    Err(e) => {
                        eprintln!("poller: unreadable function response: {e}");
                        continue;
                    }
                },
                Ok(response) => {
                    eprintln!("poller: invoking {}: HTTP {}", self.function, response.status());
                    continue;
                }
                Err(e) => {
                    eprintln!("poller: invoking {}: {e}", self.function);
                    continue;
                }
            };
            let deleted: Vec<&str> = messages
                .iter()
                .filter(|m| !failed.contains(&m.message_id))
                .map(|m| m.receipt_handle.as_str())
                .collect();
            if deleted.is_empty() {
                continue;
            }
            match sqs.delete_message_batch(&self.queue_url, &deleted).await {
                Ok(failures) => {
                    for failure in failures {
                        eprintln!(
                            "poller: not deleted: {} {}",
                            failure.code,
                            failure.message.unwrap_or_default()
                        );
                    }
                }
                Err(e) => eprintln!("poller: deleting: {e}"),
            }
        }
    }
}

/// The event Lambda's SQS event source mapping passes for `messages` of the queue `arn`.
pub fn sqs_event(messages: &[Message], arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "md5OfBody": m.md5_of_body,
                "attributes": m.attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}
