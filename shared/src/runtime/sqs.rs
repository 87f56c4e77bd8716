//! The SQS event a queue consumer is invoked with, and its partial batch response, as Lambda's
//! SQS event source mapping documents them. Only the fields the consumers read are kept; the
//! others (`md5OfBody`, `eventSourceARN`, ...) are ignored.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One invocation's batch: `{"Records": [...]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct SqsEvent {
    #[serde(rename = "Records")]
    pub records: Vec<SqsMessage>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub receipt_handle: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    /// System attributes: `ApproximateReceiveCount`, `SentTimestamp`, ...
    #[serde(default)]
    pub attributes: HashMap<String, String>,
}

/// The messages of the batch that failed (`ReportBatchItemFailures`): SQS deletes the others.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsBatchResponse {
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    pub item_identifier: String,
}

impl SqsBatchResponse {
    pub fn add_failure(&mut self, message_id: impl Into<String>) {
        self.batch_item_failures.push(BatchItemFailure {
            item_identifier: message_id.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_event_and_writes_the_documented_response() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [{
            "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
            "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
            "body": "{\"a\":1}",
            "attributes": {"ApproximateReceiveCount": "3", "SentTimestamp": "1545082649183"},
            "messageAttributes": {},
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
            "awsRegion": "us-east-2"
        }]}))
        .unwrap();
        let record = &event.records[0];
        assert_eq!(
            record.message_id.as_deref(),
            Some("059f36b4-87a3-44ab-83d2-661975830a7d")
        );
        assert_eq!(
            record.receipt_handle.as_deref(),
            Some("AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a")
        );
        assert_eq!(record.body.as_deref(), Some("{\"a\":1}"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "3");

        let mut response = SqsBatchResponse::default();
        response.add_failure("059f36b4-87a3-44ab-83d2-661975830a7d");
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]})
        );
    }
}
