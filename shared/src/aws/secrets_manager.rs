//! Secrets Manager's client: what the functions read at start (`GetSecretValue`,
//! `BatchGetSecretValue`) and what the health probe asks (`DescribeSecret`), over the JSON
//! protocol (`awsJson1_1`). `crate::secrets` says which secrets and what a usable one is.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::{AwsClient, AwsError, SECRETS_MANAGER};

/// Handle on Secrets Manager, built once per container.
#[derive(Clone, Debug)]
pub struct SecretsManager(AwsClient);

/// A secret's current version as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretValue {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "ARN", default)]
    pub arn: Option<String>,
    /// Absent for a secret stored as binary.
    #[serde(default)]
    pub secret_string: Option<String>,
}

/// A secret of a batch that could not be read (`BatchGetSecretValue`'s `Errors`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretError {
    #[serde(default)]
    pub secret_id: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
}

/// `BatchGetSecretValue`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretValues {
    #[serde(default)]
    pub secret_values: Vec<SecretValue>,
    #[serde(default)]
    pub errors: Vec<SecretError>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SecretId<'a> {
    secret_id: &'a str,
}

impl SecretsManager {
    /// The client of the AWS configuration's endpoint (`AWS_ENDPOINT_URL_SECRETS_MANAGER` or
    /// `AWS_ENDPOINT_URL` for a local emulator), region and credentials.
    pub fn from_config(config: &crate::aws::AwsConfig) -> Result<Self, String> {
        AwsClient::from_config(SECRETS_MANAGER, config).map(Self)
    }

    /// The current version of the secret `secret_id` (a name or an ARN).
    pub async fn get_secret_value(&self, secret_id: &str) -> Result<SecretValue, AwsError> {
        self.0.call("GetSecretValue", &SecretId { secret_id }).await
    }

    /// The current versions of `secret_ids` (at most 20) in one request, in no set order.
    pub async fn batch_get_secret_value(&self, secret_ids: &[&str]) -> Result<SecretValues, AwsError> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct BatchGetSecretValue<'a> {
            secret_id_list: &'a [&'a str],
        }
        self.0
            .call(
                "BatchGetSecretValue",
                &BatchGetSecretValue {
                    secret_id_list: secret_ids,
                },
            )
            .await
    }

    /// Whether the secret `secret_id` exists and may be read, without reading its value.
    pub async fn describe_secret(&self, secret_id: &str) -> Result<(), AwsError> {
        let _: IgnoredAny = self.0.call("DescribeSecret", &SecretId { secret_id }).await?;
        Ok(())
    }
}
