//! Server-side secrets, read from Secrets Manager once per container.

use crate::aws::AwsError;
use crate::aws::secrets_manager::SecretsManager;

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
    pub async fn load(client: &SecretsManager, secret_id: &str) -> Result<Self, String> {
        Ok(Self(load(client, secret_id).await?.into_bytes()))
    }
}

/// Reads one secret's text (`secret_id` is a name or an ARN), at least 32 characters.
pub async fn load(client: &SecretsManager, secret_id: &str) -> Result<String, String> {
    let value = client
        .get_secret_value(secret_id)
        .await
        .map_err(|e| unreadable(secret_id, &e))?;
    long_enough(secret_id, value.secret_string.as_deref())
}

/// Reads `N` secrets' texts (names or ARNs, at most 20) in one `BatchGetSecretValue`, in the
/// order asked, each at least 32 characters: a container that needs two makes one round trip on
/// one connection, not two.
pub async fn load_all<const N: usize>(client: &SecretsManager, secret_ids: [&str; N]) -> Result<[String; N], String> {
    let output = client
        .batch_get_secret_value(&secret_ids)
        .await
        .map_err(|e| unreadable(&secret_ids.join(", "), &e))?;
    if let Some(error) = output.errors.first() {
        return Err(format!(
            "reading secret {}: {} {}",
            error.secret_id, error.error_code, error.message
        ));
    }
    let texts = secret_ids.map(|secret_id| {
        let found = output
            .secret_values
            .iter()
            .find(|value| value.name.as_deref() == Some(secret_id) || value.arn.as_deref() == Some(secret_id))
            .ok_or_else(|| format!("secret {secret_id} was not returned"))?;
        long_enough(secret_id, found.secret_string.as_deref())
    });
    if let Some(Err(refused)) = texts.iter().find(|text| text.is_err()) {
        return Err(refused.clone());
    }
    Ok(texts.map(Result::unwrap_or_default))
}

fn unreadable(secret_ids: &str, error: &AwsError) -> String {
    format!("reading secret {secret_ids}: {error}")
}

/// A secret's text, refused when absent or shorter than 32 characters.
fn long_enough(secret_id: &str, value: Option<&str>) -> Result<String, String> {
    let value = value.ok_or_else(|| format!("secret {secret_id} has no string value"))?;
    if value.len() < 32 {
        return Err(format!("secret {secret_id} is shorter than 32 characters"));
    }
    Ok(value.to_string())
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(<redacted>)")
    }
}
