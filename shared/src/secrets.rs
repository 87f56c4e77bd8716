//! Server-side secrets, read from Secrets Manager once per container.

use aws_sdk_secretsmanager::Client as SecretsClient;

/// The secret that API-key secrets are hashed under (HMAC-SHA256). Never logged.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads the pepper from Secrets Manager (`secret_id` is a name or an ARN).
    pub async fn load(client: &SecretsClient, secret_id: &str) -> Result<Self, String> {
        let output = client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "reading secret {secret_id}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                )
            })?;
        let value = output
            .secret_string()
            .ok_or_else(|| format!("secret {secret_id} has no string value"))?;
        if value.len() < 32 {
            return Err(format!("secret {secret_id} is shorter than 32 characters"));
        }
        Ok(Self(value.as_bytes().to_vec()))
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}
