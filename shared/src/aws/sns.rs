//! SNS's client: the one call the functions make (`Publish`, for operators' alerts), over SNS's
//! query protocol.

use super::{AwsClient, AwsError, SNS, xml_element};

/// Handle on SNS, built once per container and cloned freely.
#[derive(Clone, Debug)]
pub struct Sns(AwsClient);

impl Sns {
    /// The client of the AWS configuration's endpoint (`AWS_ENDPOINT_URL_SNS` or
    /// `AWS_ENDPOINT_URL` for a local emulator), region and credentials.
    pub fn from_config(config: &crate::aws::AwsConfig) -> Result<Self, String> {
        AwsClient::from_config(SNS, config).map(Self)
    }

    /// Publishes `message` to the topic `topic_arn` under `subject` (what an email subscription
    /// puts in its subject line), with string message attributes (`attributes`, names and
    /// values) that subscriptions may filter on; answers SNS's message id.
    pub async fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &str,
        attributes: &[(&str, &str)],
    ) -> Result<String, AwsError> {
        let mut parameters = vec![("TopicArn", topic_arn), ("Subject", subject), ("Message", message)];
        // `MessageAttributes.entry.N.Name`, `.Value.DataType`, `.Value.StringValue`, from 1.
        let names: Vec<[String; 3]> = (1..=attributes.len())
            .map(|n| {
                let entry = format!("MessageAttributes.entry.{n}");
                [
                    format!("{entry}.Name"),
                    format!("{entry}.Value.DataType"),
                    format!("{entry}.Value.StringValue"),
                ]
            })
            .collect();
        for ([name, data_type, value], (attribute, text)) in names.iter().zip(attributes) {
            parameters.extend([(name.as_str(), *attribute), (data_type, "String"), (value, *text)]);
        }
        let answer = self.0.call_query("Publish", &parameters).await?;
        let answer = String::from_utf8_lossy(&answer);
        Ok(xml_element(&answer, "MessageId").unwrap_or_default().trim().to_string())
    }
}
