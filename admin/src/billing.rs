//! `hookgate-admin connect-billing`: connects Hookgate's own Stripe account to an organization,
//! so that the subscription events Stripe sends for it set the organization's plan. Merchants
//! connect their own Stripe accounts through the API; only this marks one as billing.

use shared::clock::rfc3339;
use shared::crypto::SecretBox;
use shared::store::Store;
use shared::store::integrations::{Connected, Integration, Provider};

/// Connects the billing account; returns the integration.
pub async fn connect_billing(
    store: &Store,
    secrets: &SecretBox,
    org_id: &str,
    account_id: &str,
    endpoint_secret: &str,
) -> Result<Integration, String> {
    if !account_id.starts_with("acct_") {
        return Err("the account id is a Stripe account id (acct_...)".into());
    }
    if !endpoint_secret.starts_with("whsec_") {
        return Err("the endpoint secret is Stripe's whsec_... signing secret".into());
    }
    store
        .get_organization(org_id)
        .await
        .map_err(|e| format!("{e:?}"))?
        .ok_or_else(|| format!("no organization {org_id}"))?;
    let integration = Integration {
        org_id: org_id.to_string(),
        integration_id: format!("int_{}", shared::ids::random_base32(20)),
        provider: Provider::Stripe,
        account: account_id.to_string(),
        topic_arns: Vec::new(),
        sealed_secret: Some(secrets.seal(endpoint_secret)),
        created_at: rfc3339(time::OffsetDateTime::now_utc()),
        billing: true,
        mailbox: None,
        channel: None,
    };
    match store
        .create_integration(&integration)
        .await
        .map_err(|e| format!("{e:?}"))?
    {
        Connected::Created => Ok(integration),
        Connected::AccountTaken => Err(format!("{account_id} is already connected")),
    }
}
