//! What Lambda's SQS event source mapping does in AWS, for the local stack: long-poll a queue,
//! invoke the function with the same `SqsEvent` shape through the local Lambda invoke API
//! (`cargo lambda watch`), and delete the messages the function did not report as failures
//! (`ReportBatchItemFailures`). Failed messages come back when their visibility ends, and the
//! queue's redrive policy applies as in AWS.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use shared::aws::AwsConfig;
use shared::aws::sqs::Sqs;

use crate::queues::{Message, queue_arn, receive};

pub struct Poller {
    pub queue_url: String,
    pub function: String,
    /// Base URL of the local Lambda API, e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
}

impl Poller {
    /// Runs until the process is stopped.
    pub async fn run(&self, config: &AwsConfig) -> Result<(), String> {
        let sqs = Sqs::from_config(config)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        let arn = queue_arn(&sqs, &self.queue_url)
            .await
            .map_err(|e| format!("reading {}: {e}", self.queue_url))?;
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
