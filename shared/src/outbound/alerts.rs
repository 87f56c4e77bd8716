//! Operational alerts on the SNS alerts topic, for operators (and their pagers) to subscribe to.

use serde_json::json;

use crate::aws::sns::Sns;

#[derive(Clone, Debug)]
pub struct Alerts {
    pub sns: Sns,
    pub topic_arn: String,
}

impl Alerts {
    /// The topic `ALERTS_TOPIC_ARN` names.
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            sns: Sns::from_config(config)?,
            topic_arn: crate::runtime::required_env("ALERTS_TOPIC_ARN")?,
        })
    }

    /// An alert about an outbound endpoint: `{"type", "org_id", "webhook_id", "detail", "at"}`.
    pub async fn publish(&self, kind: &str, org_id: &str, endpoint_id: &str, detail: &str, at: &str) {
        self.publish_about(kind, org_id, "webhook_id", endpoint_id, detail, at)
            .await
    }

    /// Publishes `{"type", "org_id", <subject_field>: subject, "detail", "at"}`; a failure to
    /// alert is logged, never allowed to fail the work that raised it.
    pub async fn publish_about(
        &self,
        kind: &str,
        org_id: &str,
        subject_field: &str,
        subject: &str,
        detail: &str,
        at: &str,
    ) {
        let mut message = json!({"type": kind, "org_id": org_id, "detail": detail, "at": at});
        message[subject_field] = json!(subject);
        let result = self
            .sns
            .publish(
                &self.topic_arn,
                &format!("Hookgate {kind}"),
                &message.to_string(),
                &[("type", kind)],
            )
            .await;
        match result {
            Ok(_) => tracing::warn!(kind, org_id, subject, detail, "alert published"),
            Err(error) => tracing::error!(kind, org_id, subject, %error, "alert not published"),
        }
    }
}
