//! `POST /api/v1/integrations`, `GET /api/v1/integrations[/{id}]`, `DELETE /api/v1/integrations/{id}`
//! and `GET /api/v1/integrations/{id}/data-requests/{request_id}` (scope `integrations:manage`):
//! connecting a provider account (a Shopify shop, a Stripe account, Amazon SNS topics, a mailbox)
//! to the organization, so that its webhooks are accepted. Secrets are stored sealed and never
//! returned.
//!
//! A mailbox (`email`) gets an inbound address of its own (`<random>@<INBOUND_EMAIL_DOMAIN>`) and
//! a token for `/api/webhooks/inbound-email`, shown once; the merchant's own support addresses
//! can route to it too (mail received by Resend names them as recipients).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::crypto::SecretBox;
use crate::error::{ApiError, ErrorBody};
use crate::http::normalized_email;
use crate::http::{Call, Route, json_response, ok, serve_routes};
use crate::mail::{mailbox_address, sender_or_domain};
use crate::runtime::Services;
use crate::store::customers::normalized_identity;
use crate::store::integrations::{ChannelAccount, Connected, Integration, Mailbox, Provider};

const MAX_TOPICS: usize = 10;
/// Of a provider's account id (a shop's domain, a Stripe account, an Amazon seller), which keys
/// the account's claim in the table: far above any real one, far below a key's 2048 bytes.
const MAX_ACCOUNT_CHARS: usize = 255;
/// Of an SNS topic's ARN: its name is at most 256 characters, the rest is short.
const MAX_TOPIC_ARN_CHARS: usize = 512;
const MAX_ADDRESSES: usize = 10;
const MAX_OWN_SENDERS: usize = 50;
/// Where inbound addresses live when the deployment names no domain.
const DEFAULT_INBOUND_DOMAIN: &str = "inbound.hookgate.local";

/// Body of `POST /api/v1/integrations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationRequest {
    pub provider: Provider,
    /// Shopify: the shop domain (`acme.myshopify.com`).
    pub shop_domain: Option<String>,
    /// The provider's id of the account: Stripe's `acct_...` (named by `?account=` on the webhook
    /// URL); WhatsApp's phone number id; Messenger's page id; Slack's team id (`T...`); the
    /// Twilio number taking the SMS (E.164, `+15551234567`); for Dialpad, a name of your choice
    /// that the webhook URL carries as `?account=`.
    pub account_id: Option<String>,
    /// Amazon: the seller id.
    pub seller_id: Option<String>,
    /// Amazon: the SNS topics whose notifications are accepted (1 to 10).
    pub topic_arns: Option<Vec<String>>,
    /// Shopify: the app's client secret; Stripe: the endpoint's signing secret (`whsec_...`);
    /// email: the signing secret (`whsec_...`) of the Resend webhook, when Resend receives the mail;
    /// WhatsApp and Messenger: the app secret; Slack: the signing secret; SMS: the Twilio auth
    /// token; Dialpad: the webhook's secret.
    pub secret: Option<String>,
    /// Email: the merchant's own support addresses whose mail lands here (up to 10).
    pub addresses: Option<Vec<String>>,
    /// Email: the Resend API key (`re_...`) that fetches received mail and sends replies.
    pub api_key: Option<String>,
    /// Email: the sender of replies, `support@acme.com` or `Acme Support <support@acme.com>`.
    pub from_address: Option<String>,
    /// Email: addresses and domains (`acme.com`) whose mail is the organization's own and never
    /// becomes a ticket (up to 50). The mailbox's addresses and sender count as own already.
    pub own_senders: Option<Vec<String>>,
    /// WhatsApp and Messenger: the Graph API access token; Slack: the bot token (`xoxb-...`).
    pub access_token: Option<String>,
    /// WhatsApp and Messenger: the verify token of the webhook handshake (`hub.verify_token`).
    pub verify_token: Option<String>,
    /// SMS: the Twilio account SID (`AC...`).
    pub account_sid: Option<String>,
}

/// An integration as its owner sees it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: String,
    pub provider: Provider,
    /// The shop domain, Stripe account or Amazon seller id.
    pub account: String,
    pub topic_arns: Vec<String>,
    /// Where the provider sends its webhooks.
    pub webhook_paths: Vec<String>,
    pub has_secret: bool,
    /// The chat channels: whether replies can be sent (an access token, or Twilio's SID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_reply: Option<bool>,
    /// Hookgate's billing account for this organization (connected by the operator).
    pub billing: bool,
    /// Email: the mailbox's settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<MailboxView>,
    pub created_at: String,
}

/// A mailbox as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxView {
    /// The address Hookgate gave this mailbox: forward mail here.
    pub inbound_address: String,
    /// Every address whose mail lands here.
    pub addresses: Vec<String>,
    pub from_address: Option<String>,
    pub own_senders: Vec<String>,
    pub has_api_key: bool,
    /// The token of `POST /api/webhooks/inbound-email` (`Authorization: Bearer`): shown once,
    /// when the mailbox is connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_token: Option<String>,
}

impl From<Integration> for IntegrationView {
    fn from(integration: Integration) -> Self {
        let webhook_paths = match integration.provider {
            Provider::Shopify => vec!["/api/webhooks/shopify".into(), "/api/webhooks/shopify/gdpr".into()],
            Provider::Stripe => vec![format!("/api/webhooks/stripe?account={}", integration.account)],
            Provider::Amazon => vec!["/api/amazon/webhook".into()],
            Provider::Email => vec!["/api/webhooks/resend".into(), "/api/webhooks/inbound-email".into()],
            Provider::Whatsapp => vec!["/api/webhooks/whatsapp".into()],
            Provider::Messenger => vec!["/api/webhooks/messenger".into()],
            Provider::Slack => vec!["/api/webhooks/slack".into()],
            Provider::Sms => vec!["/api/webhooks/sms".into()],
            Provider::Dialpad => vec![format!("/api/webhooks/dialpad?account={}", integration.account)],
        };
        let can_reply = integration
            .channel
            .as_ref()
            .map(|c| c.sealed_access_token.is_some() || c.account_sid.is_some());
        let mailbox = integration.mailbox.map(|mailbox| MailboxView {
            inbound_address: mailbox.addresses.first().cloned().unwrap_or_default(),
            addresses: mailbox.addresses,
            from_address: mailbox.from_address,
            own_senders: mailbox.own_senders,
            has_api_key: mailbox.sealed_api_key.is_some(),
            inbound_token: None,
        });
        Self {
            id: integration.integration_id,
            provider: integration.provider,
            account: integration.account,
            topic_arns: integration.topic_arns,
            webhook_paths,
            has_secret: integration.sealed_secret.is_some(),
            can_reply,
            billing: integration.billing,
            mailbox,
            created_at: integration.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationResponse {
    pub success: bool,
    pub integration: IntegrationView,
}

#[derive(Serialize, ToSchema)]
pub struct IntegrationList {
    pub success: bool,
    pub integrations: Vec<IntegrationView>,
}

#[derive(Serialize, ToSchema)]
pub struct DataRequestReport {
    pub success: bool,
    /// Everything Hookgate held on the customer when the request arrived.
    #[schema(value_type = Object)]
    pub report: Value,
}

#[derive(Clone, Copy)]
pub enum IntegrationRoute {
    Create,
    List,
    Get,
    Delete,
    DataRequest,
}

/// `integrations`' routes.
pub const ROUTES: [Route<IntegrationRoute>; 5] = [
    Route::new(
        Method::POST,
        "/api/v1/integrations",
        Scope::IntegrationsManage,
        IntegrationRoute::Create,
    ),
    Route::new(
        Method::GET,
        "/api/v1/integrations",
        Scope::IntegrationsManage,
        IntegrationRoute::List,
    ),
    Route::new(
        Method::GET,
        "/api/v1/integrations/{id}",
        Scope::IntegrationsManage,
        IntegrationRoute::Get,
    ),
    Route::new(
        Method::DELETE,
        "/api/v1/integrations/{id}",
        Scope::IntegrationsManage,
        IntegrationRoute::Delete,
    ),
    Route::new(
        Method::GET,
        "/api/v1/integrations/{id}/data-requests/{request_id}",
        Scope::IntegrationsManage,
        IntegrationRoute::DataRequest,
    ),
];

pub async fn handle(services: &Services, secrets: &SecretBox, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            IntegrationRoute::Create => create(call, secrets).await,
            IntegrationRoute::List => list(call).await,
            IntegrationRoute::Get => get(call).await,
            IntegrationRoute::Delete => delete(call).await,
            IntegrationRoute::DataRequest => data_request(call).await,
        }
    })
    .await
}

fn required<'a>(value: &'a Option<String>, field: &str, what: &str) -> Result<&'a str, ApiError> {
    let value = value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::invalid_input(field, format!("{field} is required for {what}")))?;
    if value.chars().count() > MAX_ACCOUNT_CHARS {
        return Err(ApiError::invalid_input(
            field,
            format!("{field} is at most {MAX_ACCOUNT_CHARS} characters"),
        ));
    }
    Ok(value)
}

/// What a valid request connects: the account, its topics and its secret.
type Validated<'a> = (String, Vec<String>, Option<&'a str>);

fn validate(request: &IntegrationRequest) -> Result<Validated<'_>, ApiError> {
    let secret = request.secret.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if secret.is_some_and(|s| s.chars().count() > 256) {
        return Err(ApiError::invalid_input(
            "secret",
            "secret is longer than 256 characters",
        ));
    }
    match request.provider {
        Provider::Shopify => {
            let shop = required(&request.shop_domain, "shop_domain", "Shopify")?.to_lowercase();
            let valid = shop.ends_with(".myshopify.com")
                && shop
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid {
                return Err(ApiError::invalid_input(
                    "shop_domain",
                    "shop_domain is the shop's myshopify.com domain, e.g. acme.myshopify.com",
                ));
            }
            let secret =
                secret.ok_or_else(|| ApiError::invalid_input("secret", "the Shopify app secret is required"))?;
            Ok((shop, Vec::new(), Some(secret)))
        }
        Provider::Stripe => {
            let account = required(&request.account_id, "account_id", "Stripe")?;
            if !account.starts_with("acct_") || !account.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(ApiError::invalid_input(
                    "account_id",
                    "account_id is a Stripe account id (acct_...)",
                ));
            }
            let secret = secret.filter(|s| s.starts_with("whsec_")).ok_or_else(|| {
                ApiError::invalid_input("secret", "the Stripe endpoint secret (whsec_...) is required")
            })?;
            Ok((account.to_string(), Vec::new(), Some(secret)))
        }
        Provider::Amazon => {
            let seller = required(&request.seller_id, "seller_id", "Amazon")?;
            let topics = request.topic_arns.clone().unwrap_or_default();
            let valid = |arn: &String| {
                let parts: Vec<&str> = arn.split(':').collect();
                parts.len() == 6
                    && parts[0] == "arn"
                    && parts[2] == "sns"
                    && !parts[5].is_empty()
                    && arn.chars().count() <= MAX_TOPIC_ARN_CHARS
            };
            if topics.is_empty() || topics.len() > MAX_TOPICS || !topics.iter().all(valid) {
                return Err(ApiError::invalid_input(
                    "topic_arns",
                    format!(
                        "topic_arns lists 1 to {MAX_TOPICS} SNS topic ARNs (arn:aws:sns:<region>:<account>:<name>)"
                    ),
                ));
            }
            if !crate::http::all_distinct(&topics) {
                return Err(ApiError::invalid_input(
                    "topic_arns",
                    "topic_arns lists each topic once",
                ));
            }
            Ok((seller.to_string(), topics, None))
        }
        Provider::Email => {
            if secret.is_some_and(|s| !s.starts_with("whsec_")) {
                return Err(ApiError::invalid_input(
                    "secret",
                    "secret is the Resend webhook's signing secret (whsec_...)",
                ));
            }
            // The account is the inbound address, chosen when the mailbox is made.
            Ok((String::new(), Vec::new(), secret))
        }
        channel => {
            let account = channel_account(channel, required(&request.account_id, "account_id", channel.as_str())?)?;
            let secret = secret.ok_or_else(|| {
                ApiError::invalid_input("secret", format!("secret is required for {}", channel.as_str()))
            })?;
            Ok((account, Vec::new(), Some(secret)))
        }
    }
}

/// A chat channel's account id, checked and normalized.
fn channel_account(provider: Provider, account: &str) -> Result<String, ApiError> {
    let invalid = |what: &str| ApiError::invalid_input("account_id", format!("account_id is {what}"));
    let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
    match provider {
        Provider::Whatsapp if digits(account) => Ok(account.to_string()),
        Provider::Whatsapp => Err(invalid("the WhatsApp phone number id (digits)")),
        Provider::Messenger if digits(account) => Ok(account.to_string()),
        Provider::Messenger => Err(invalid("the Facebook page id (digits)")),
        Provider::Slack
            if account.starts_with(['T', 'E'])
                && account.len() <= 32
                && account.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) =>
        {
            Ok(account.to_string())
        }
        Provider::Slack => Err(invalid("the Slack team id (T...)")),
        Provider::Sms => normalized_identity("phone", account)
            .ok_or_else(|| invalid("the Twilio number in E.164 form (+15551234567)")),
        _ if account.len() <= 64
            && account
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Ok(account.to_string())
        }
        _ => Err(invalid("1 to 64 letters, digits, - and _")),
    }
}

/// A chat channel's credentials from the request: what replying and the handshake need.
fn channel_credentials(request: &IntegrationRequest, secrets: &SecretBox) -> Result<Option<ChannelAccount>, ApiError> {
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let access_token = text(&request.access_token);
    if access_token.as_ref().is_some_and(|t| t.chars().count() > 1024) {
        return Err(ApiError::invalid_input(
            "access_token",
            "access_token is at most 1024 characters",
        ));
    }
    let mut account = ChannelAccount {
        sealed_access_token: access_token.as_deref().map(|token| secrets.seal(token)),
        ..ChannelAccount::default()
    };
    match request.provider {
        Provider::Whatsapp | Provider::Messenger => {
            let verify = text(&request.verify_token)
                .filter(|v| v.chars().count() <= 256)
                .ok_or_else(|| {
                    ApiError::invalid_input(
                        "verify_token",
                        "verify_token (the webhook handshake's, up to 256 characters) is required",
                    )
                })?;
            account.verify_token_hash = Some(crate::crypto::sha256_hex(verify.as_bytes()));
        }
        Provider::Slack => {
            if access_token.as_ref().is_some_and(|t| !t.starts_with("xoxb-")) {
                return Err(ApiError::invalid_input(
                    "access_token",
                    "access_token is the bot token (xoxb-...)",
                ));
            }
        }
        Provider::Sms => {
            let sid = text(&request.account_sid).ok_or_else(|| {
                ApiError::invalid_input("account_sid", "account_sid (AC...) is required to send replies")
            })?;
            let valid = sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !valid {
                return Err(ApiError::invalid_input(
                    "account_sid",
                    "account_sid is the Twilio account SID (AC and 32 hex digits)",
                ));
            }
            account.account_sid = Some(sid);
        }
        Provider::Dialpad => {}
        _ => return Ok(None),
    }
    Ok(Some(account))
}

/// A new mailbox from the request: its inbound address first, the token shown once.
fn new_mailbox(
    request: &IntegrationRequest,
    secrets: &SecretBox,
    inbound_domain: &str,
) -> Result<(Mailbox, String), ApiError> {
    let list = |field: &str, values: &Option<Vec<String>>, max: usize, valid: fn(&str) -> Option<String>| {
        let values = values.clone().unwrap_or_default();
        if values.len() > max {
            return Err(ApiError::invalid_input(
                field,
                format!("{field} lists at most {max} values"),
            ));
        }
        let mut normalized: Vec<String> = Vec::with_capacity(values.len());
        for value in &values {
            let value = valid(value).ok_or_else(|| {
                ApiError::invalid_input(field, format!("{field}: {value:?} is not an email address or domain"))
            })?;
            if !normalized.contains(&value) {
                normalized.push(value);
            }
        }
        Ok(normalized)
    };
    let inbound = format!("{}@{inbound_domain}", crate::ids::random_base32(16).to_lowercase());
    let mut addresses = vec![inbound];
    addresses.extend(list("addresses", &request.addresses, MAX_ADDRESSES, normalized_email)?);
    let own_senders = list("own_senders", &request.own_senders, MAX_OWN_SENDERS, sender_or_domain)?;
    let from_address = match request.from_address.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(from) => Some(mailbox_address(from).map(|_| from.to_string()).ok_or_else(|| {
            ApiError::invalid_input(
                "from_address",
                "from_address is an address, or a name and an address: Acme Support <support@acme.com>",
            )
        })?),
    };
    let api_key = request.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if api_key.is_some_and(|key| !key.starts_with("re_") || key.chars().count() > 256) {
        return Err(ApiError::invalid_input(
            "api_key",
            "api_key is a Resend API key (re_...)",
        ));
    }
    let token = format!("hg_in_{}", crate::ids::random_base32(40));
    let mailbox = Mailbox {
        addresses,
        from_address,
        own_senders,
        sealed_api_key: api_key.map(|key| secrets.seal(key)),
        token_hash: crate::crypto::sha256_hex(token.as_bytes()),
    };
    Ok((mailbox, token))
}

/// Connect a provider account.
#[utoipa::path(post, path = "/api/v1/integrations", operation_id = "integrations_create", tag = "Integrations", request_body = IntegrationRequest,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = IntegrationResponse), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
async fn create(call: Call<'_>, secrets: &SecretBox) -> Result<Response<Body>, ApiError> {
    let body: IntegrationRequest = call.body()?;
    let (mut account, topic_arns, secret) = validate(&body)?;
    let (mailbox, token) = match body.provider {
        Provider::Email => {
            let domain = std::env::var("INBOUND_EMAIL_DOMAIN").unwrap_or_else(|_| DEFAULT_INBOUND_DOMAIN.into());
            let (mailbox, token) = new_mailbox(&body, secrets, &domain)?;
            account = mailbox.addresses[0].clone();
            (Some(mailbox), Some(token))
        }
        _ => (None, None),
    };
    let channel = channel_credentials(&body, secrets)?;
    let integration = Integration {
        org_id: call.org_id().to_string(),
        integration_id: format!("int_{}", crate::ids::random_base32(20)),
        provider: body.provider,
        account,
        topic_arns,
        sealed_secret: secret.map(|s| secrets.seal(s)),
        created_at: rfc3339(call.now()),
        billing: false,
        mailbox,
        channel,
    };
    match call.store().create_integration(&integration).await? {
        Connected::Created => {
            let mut view = IntegrationView::from(integration);
            if let Some(mailbox) = view.mailbox.as_mut() {
                mailbox.inbound_token = token;
            }
            Ok(json_response(
                StatusCode::CREATED,
                &IntegrationResponse {
                    success: true,
                    integration: view,
                },
            ))
        }
        Connected::AccountTaken => Err(ApiError::conflict(
            "this provider account (or one of its topics or addresses) is already connected",
        )),
    }
}

/// List the organization's integrations.
#[utoipa::path(get, path = "/api/v1/integrations", operation_id = "integrations_list", tag = "Integrations",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = IntegrationList), (status = "4XX", body = ErrorBody)))]
async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let integrations = call.store().list_integrations(call.org_id()).await?.into_iter();
    ok(&IntegrationList {
        success: true,
        integrations: integrations.map(Into::into).collect(),
    })
}

/// The integration the path names, the caller's (404 otherwise, another organization's too).
async fn find(call: &Call<'_>) -> Result<Integration, ApiError> {
    call.store()
        .get_integration(call.org_id(), &call.path("id")?)
        .await?
        .ok_or_else(|| ApiError::not_found("no integration with this id"))
}

/// One integration.
#[utoipa::path(get, path = "/api/v1/integrations/{id}", operation_id = "integrations_get", tag = "Integrations",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = IntegrationResponse), (status = "4XX", body = ErrorBody)))]
async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let integration = find(&call).await?;
    Ok(json_response(
        StatusCode::OK,
        &IntegrationResponse {
            success: true,
            integration: integration.into(),
        },
    ))
}

/// Disconnect: the provider's webhooks are refused from now on. Data already received stays.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", operation_id = "integrations_delete", tag = "Integrations",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = IntegrationResponse), (status = "4XX", body = ErrorBody)))]
async fn delete(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let integration = find(&call).await?;
    call.store().delete_integration(&integration).await?;
    Ok(json_response(
        StatusCode::OK,
        &IntegrationResponse {
            success: true,
            integration: integration.into(),
        },
    ))
}

/// The report produced for a Shopify `customers/data_request`.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/data-requests/{request_id}", operation_id = "integrations_data_request", tag = "Integrations",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path), ("request_id" = String, Path)),
    responses((status = 200, body = DataRequestReport), (status = "4XX", body = ErrorBody)))]
async fn data_request(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let integration = find(&call).await?;
    let report = call
        .store()
        .get_data_request(&integration, &call.path("request_id")?)
        .await?
        .ok_or_else(|| ApiError::not_found("no data request with this id"))?;
    Ok(json_response(
        StatusCode::OK,
        &DataRequestReport { success: true, report },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> IntegrationRequest {
        serde_json::from_value(body).unwrap()
    }

    /// The document bounds text in characters, as JSON Schema counts them: so does the server.
    #[test]
    fn secrets_and_tokens_are_bounded_in_characters_not_bytes() {
        let dialpad = |secret: String| {
            request(serde_json::json!({"provider": "dialpad", "account_id": "main", "secret": secret}))
        };
        assert!(validate(&dialpad("é".repeat(256))).is_ok());
        assert!(validate(&dialpad("é".repeat(257))).is_err());

        let secrets = SecretBox::from_secret(b"a test key of any length");
        let slack = |token: String| {
            request(serde_json::json!({"provider": "slack", "account_id": "T1", "secret": "s", "access_token": token}))
        };
        assert!(channel_credentials(&slack(format!("xoxb-{}", "é".repeat(1019))), &secrets).is_ok());
        assert!(channel_credentials(&slack(format!("xoxb-{}", "é".repeat(1020))), &secrets).is_err());
        let whatsapp = |verify: String| {
            request(
                serde_json::json!({"provider": "whatsapp", "account_id": "1", "secret": "s", "verify_token": verify}),
            )
        };
        assert!(channel_credentials(&whatsapp("é".repeat(256)), &secrets).is_ok());
        assert!(channel_credentials(&whatsapp("é".repeat(257)), &secrets).is_err());
    }
}
