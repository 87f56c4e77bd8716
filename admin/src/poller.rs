//! What Lambda's SQS event source mapping does in AWS, for the local stack: long-poll a queue,
//! invoke the function with the same `SqsEvent` shape through the local Lambda invoke API
//! (`cargo lambda watch`), and delete the messages the function did not report as failures
//! (`ReportBatchItemFailures`). Failed messages come back when their visibility ends, and the
//! queue's redrive policy applies as in AWS.

use std::collections::HashSet;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName};
use serde_json::{Value, json};

pub struct Poller {
    pub queue_url: String,
    pub function: String,
    /// Base URL of the local Lambda API, e.g. `http://127.0.0.1:9000`.
    pub invoke_url: String,
}

impl Poller {
    /// Runs until the process is stopped.
    pub async fn run(&self, config: &SdkConfig) -> Result<(), String> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| e.to_string())?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading {}: {}",
                    self.queue_url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                )
            })?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let invoke = format!(
            "{}/2015-03-31/functions/{}/invocations",
            self.invoke_url.trim_end_matches('/'),
            self.function
        );
        loop {
            let received = match sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
            {
                Ok(received) => received,
                Err(e) => {
                    eprintln!("poller: receiving: {}", aws_sdk_sqs::error::DisplayErrorContext(e));
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let messages = received.messages();
            if messages.is_empty() {
                continue;
            }
            let region = config.region().map(|r| r.to_string()).unwrap_or_default();
            let event = sqs_event(messages, &arn, &region);
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
            let entries: Vec<DeleteMessageBatchRequestEntry> = messages
                .iter()
                .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect();
            if entries.is_empty() {
                continue;
            }
            let deleted = sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            if let Err(e) = deleted {
                eprintln!("poller: deleting: {}", aws_sdk_sqs::error::DisplayErrorContext(e));
            }
        }
    }
}

/// The event Lambda's SQS event source mapping passes for `messages` of the queue `arn`.
pub fn sqs_event(messages: &[aws_sdk_sqs::types::Message], arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str().to_string(), Value::String(value.clone())))
                .collect();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "md5OfBody": m.md5_of_body(),
                "attributes": attributes,
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}
