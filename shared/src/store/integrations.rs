//! Integrations: a provider account connected to an organization.
//!
//! - `PK = ORG#<org>#INTEGRATION#<id>`, `SK = INTEGRATION`, listed through
//!   `GSI1PK = ORG#<org>#INTEGRATIONS`: the integration as its owner manages it.
//! - `PK = PROVIDER#<provider>#<account>`, `SK = PROVIDER`: one route per provider account (shop
//!   domain, Stripe account, SNS topic ARN), holding a copy of what verification needs. The only
//!   keys not led by an organization: an inbound webhook names the provider's account, not ours,
//!   and this makes finding its organization and secret one `GetItem`. An account routes to one
//!   organization only (conditional create).
//!
//! Both are written and deleted together in one transaction.
//!
//! Also per integration: what its webhooks wrote (`SK = WROTE#<pk>`, for erasing a shop's data)
//! and the reports of data requests (`SK = DATA_REQUEST#<id>`), in
//! `PK = ORG#<org>#INTEGRATION#<id>#DATA`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    GSI1PK, GSI1SK, Item, NOT_STORED, PK, SK, Store, StoreError, TTL, get_s, org_prefix, query_all, s, store_error,
};

/// How long a data request's report stays retrievable.
pub const DATA_REQUEST_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Shopify,
    Stripe,
    Amazon,
    /// A mailbox: mail forwarded raw (`/api/webhooks/inbound-email`) or received by Resend.
    Email,
    /// A WhatsApp Business phone number (Cloud API).
    Whatsapp,
    /// A Facebook page's Messenger.
    Messenger,
    /// A Slack workspace's app.
    Slack,
    /// A Twilio phone number's SMS.
    Sms,
    /// Dialpad's call events.
    Dialpad,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Shopify => "shopify",
            Provider::Stripe => "stripe",
            Provider::Amazon => "amazon",
            Provider::Email => "email",
            Provider::Whatsapp => "whatsapp",
            Provider::Messenger => "messenger",
            Provider::Slack => "slack",
            Provider::Sms => "sms",
            Provider::Dialpad => "dialpad",
        }
    }
}

/// A connected provider account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    pub org_id: String,
    pub integration_id: String,
    pub provider: Provider,
    /// The shop domain, the Stripe account id or the Amazon seller id.
    pub account: String,
    /// Amazon: the SNS topics whose notifications are accepted.
    #[serde(default)]
    pub topic_arns: Vec<String>,
    /// The Shopify app secret or Stripe endpoint secret, sealed (see `crypto`).
    #[serde(default)]
    pub sealed_secret: Option<String>,
    pub created_at: String,
    /// Stripe: Hookgate's own billing account, whose subscription events set the organization's
    /// plan. Only the operator connects one (`hookgate-admin connect-billing`): a merchant's
    /// own Stripe account must not choose the merchant's plan.
    #[serde(default)]
    pub billing: bool,
    /// Email: the mailbox's addresses and settings.
    #[serde(default)]
    pub mailbox: Option<Mailbox>,
    /// The chat channels: what replying and the webhook handshake need.
    #[serde(default)]
    pub channel: Option<ChannelAccount>,
}

/// A chat channel's credentials beyond the webhook secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelAccount {
    /// WhatsApp and Messenger: the access token of the Graph API; Slack: the bot token; sealed.
    pub sealed_access_token: Option<String>,
    /// WhatsApp and Messenger: SHA-256 (hex) of the webhook handshake's verify token.
    pub verify_token_hash: Option<String>,
    /// SMS: the Twilio account SID (`AC...`), the Messages API's user.
    pub account_sid: Option<String>,
}

/// The route of a Meta webhook handshake: it names no account, only the verify token.
pub fn verify_token_account(token_hash: &str) -> String {
    format!("verify:{token_hash}")
}

/// What an email integration knows beyond the common fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Every address whose mail lands here, lowercased: the inbound address Hookgate gave the
    /// organization first, then the merchant's own support addresses.
    pub addresses: Vec<String>,
    /// The sender of replies (`Acme Support <support@acme.com>`).
    pub from_address: Option<String>,
    /// Addresses and domains whose mail is the organization's own (ignored, never a ticket).
    #[serde(default)]
    pub own_senders: Vec<String>,
    /// The Resend API key (fetching received mail, sending replies), sealed.
    pub sealed_api_key: Option<String>,
    /// SHA-256 (hex) of the token that `/api/webhooks/inbound-email` requires.
    pub token_hash: String,
}

impl Integration {
    /// The provider-side names this integration answers to.
    fn routes(&self) -> Vec<String> {
        match self.provider {
            Provider::Amazon => self.topic_arns.iter().map(|arn| route_pk(self.provider, arn)).collect(),
            Provider::Email => self
                .mailbox
                .iter()
                .flat_map(|mailbox| &mailbox.addresses)
                .map(|address| route_pk(self.provider, address))
                .collect(),
            provider => std::iter::once(route_pk(provider, &self.account))
                .chain(
                    self.channel
                        .iter()
                        .filter_map(|channel| channel.verify_token_hash.as_deref())
                        .map(|hash| route_pk(provider, &verify_token_account(hash))),
                )
                .collect(),
        }
    }
}

/// The route key of a provider account; shop domains, accounts and addresses compare
/// case-insensitively.
fn route_pk(provider: Provider, account: &str) -> String {
    let account = match provider {
        Provider::Amazon => account.to_string(),
        _ => account.to_lowercase(),
    };
    format!("PROVIDER#{}#{account}", provider.as_str())
}

pub(crate) fn integration_pk(org_id: &str, integration_id: &str) -> String {
    format!("{}#INTEGRATION#{integration_id}", org_prefix(org_id))
}

fn data_pk(org_id: &str, integration_id: &str) -> String {
    format!("{}#DATA", integration_pk(org_id, integration_id))
}

fn integration_json(integration: &Integration) -> Result<String, StoreError> {
    serde_json::to_string(integration).map_err(|e| StoreError::Rejected(e.to_string()))
}

fn integration_from(item: &Item) -> Option<Integration> {
    serde_json::from_str(get_s(item, "integration")?).ok()
}

/// What happened to a create.
pub enum Connected {
    Created,
    /// One of the provider accounts already routes to an organization.
    AccountTaken,
}

impl Store {
    pub async fn create_integration(&self, integration: &Integration) -> Result<Connected, StoreError> {
        let json = integration_json(integration)?;
        let mut items = vec![Item::from([
            (
                PK.to_string(),
                s(integration_pk(&integration.org_id, &integration.integration_id)),
            ),
            (SK.to_string(), s("INTEGRATION")),
            (
                GSI1PK.to_string(),
                s(format!("{}#INTEGRATIONS", org_prefix(&integration.org_id))),
            ),
            (
                GSI1SK.to_string(),
                s(format!("INTEGRATION#{}", integration.integration_id)),
            ),
            ("integration".to_string(), s(&json)),
        ])];
        for route in integration.routes() {
            items.push(Item::from([
                (PK.to_string(), s(route)),
                (SK.to_string(), s("PROVIDER")),
                ("integration".to_string(), s(&json)),
            ]));
        }
        let writes = items
            .into_iter()
            .map(|item| self.transact_put(item, Some(NOT_STORED)))
            .collect();
        Ok(match self.transact(writes).await? {
            true => Connected::Created,
            false => Connected::AccountTaken,
        })
    }

    pub async fn get_integration(&self, org_id: &str, integration_id: &str) -> Result<Option<Integration>, StoreError> {
        let item = self
            .get_item(integration_pk(org_id, integration_id), "INTEGRATION")
            .await?;
        Ok(item.as_ref().and_then(integration_from))
    }

    /// The integration a provider account routes to.
    pub async fn find_integration(&self, provider: Provider, account: &str) -> Result<Option<Integration>, StoreError> {
        let item = self.get_item(route_pk(provider, account), "PROVIDER").await?;
        Ok(item.as_ref().and_then(integration_from))
    }

    pub async fn list_integrations(&self, org_id: &str) -> Result<Vec<Integration>, StoreError> {
        let query = self.query_index(format!("{}#INTEGRATIONS", org_prefix(org_id)));
        Ok(query_all(query).await?.iter().filter_map(integration_from).collect())
    }

    /// Disconnects an integration: its routes go with it, so its webhooks are refused from now.
    pub async fn delete_integration(&self, integration: &Integration) -> Result<(), StoreError> {
        let mut keys = vec![super::key(
            integration_pk(&integration.org_id, &integration.integration_id),
            "INTEGRATION",
        )];
        keys.extend(
            integration
                .routes()
                .into_iter()
                .map(|route| super::key(route, "PROVIDER")),
        );
        let deletes = keys.into_iter().map(|key| self.transact_delete(key)).collect();
        self.client()
            .transact_write_items()
            .set_transact_items(Some(deletes))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    /// Remembers that an integration's webhook wrote the partition `pk`.
    pub async fn note_written(&self, integration: &Integration, pk: &str) -> Result<(), StoreError> {
        let data = data_pk(&integration.org_id, &integration.integration_id);
        self.put_item(super::key(data, &format!("WROTE#{pk}"))).await
    }

    /// Every partition an integration's webhooks wrote.
    pub async fn written_by(&self, integration: &Integration) -> Result<Vec<String>, StoreError> {
        let query = self.query_prefix(data_pk(&integration.org_id, &integration.integration_id), "WROTE#");
        Ok(query_all(query)
            .await?
            .iter()
            .filter_map(|item| get_s(item, SK)?.strip_prefix("WROTE#").map(str::to_string))
            .collect())
    }

    /// Forgets every note and report of an integration (after its shop's data was erased).
    pub async fn forget_integration_data(&self, integration: &Integration) -> Result<(), StoreError> {
        self.delete_partition(&data_pk(&integration.org_id, &integration.integration_id))
            .await?;
        Ok(())
    }

    /// Stores the report of a data request about the customer `email`.
    pub async fn put_data_request(
        &self,
        integration: &Integration,
        request_id: &str,
        email: &str,
        report: &Value,
        now_epoch: i64,
    ) -> Result<(), StoreError> {
        let mut item = super::key(
            data_pk(&integration.org_id, &integration.integration_id),
            &format!("DATA_REQUEST#{request_id}"),
        );
        item.extend([
            ("email".to_string(), s(email)),
            ("report".to_string(), s(report.to_string())),
            (TTL.to_string(), super::n(now_epoch + DATA_REQUEST_RETENTION_SECONDS)),
        ]);
        self.put_item(item).await
    }

    /// Deletes the data-request reports about `email`: they hold the customer's data too.
    pub async fn forget_data_requests_about(&self, integration: &Integration, email: &str) -> Result<(), StoreError> {
        let query = self
            .query_prefix(
                data_pk(&integration.org_id, &integration.integration_id),
                "DATA_REQUEST#",
            )
            .filter_expression("email = :email")
            .expression_attribute_values(":email", s(email))
            .projection_expression("PK, SK");
        self.delete_keys(query_all(query).await?).await
    }

    /// The report of the integration's data request `id`.
    pub async fn get_data_request(&self, integration: &Integration, id: &str) -> Result<Option<Value>, StoreError> {
        let pk = data_pk(&integration.org_id, &integration.integration_id);
        let item = self.get_item(pk, &format!("DATA_REQUEST#{id}")).await?;
        Ok(item
            .as_ref()
            .and_then(|item| serde_json::from_str(get_s(item, "report")?).ok()))
    }
}
