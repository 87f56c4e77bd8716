//! `GET /api/webhooks/whatsapp` (Meta's handshake) and `POST /api/webhooks/whatsapp`: the
//! WhatsApp Cloud API's webhooks, signed as Meta signs them (see [`super::meta`]).
//!
//! The account is the business phone number (`entry[].changes[].value.metadata.phone_number_id`).
//! Each of `value.messages[]` (text, media, interactive replies, buttons, locations) lands on the
//! desk through [`super::chat`]: the customer by their WhatsApp id, their open WhatsApp ticket
//! or a new one. A media message's file is fetched from the Graph API with the account's access
//! token (`GET /{media id}` for its URL, then the URL) into the attachments bucket; a file that
//! cannot be fetched (expired at Meta, over 10 MB) lands as its reference, logged. `value.statuses[]` are receipts of our replies (`sent`, `delivered`, `read`,
//! `failed`). A webhook is claimed under the SHA-256 of its body, and each message under its
//! `wamid`, so Meta's retries land once however they are batched.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::chat::{self, ChatMessage};
use super::{Identified, InboundServices, Intake, Processed, Source, Webhook, accept, meta};
use crate::blob::FileStore;
use crate::desk::files::{FormFile, store_file};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, error_response, find_route};
use crate::inbound::payload::parse_object;
use crate::store::attachments::AttachmentRef;
use crate::store::integrations::Provider;
use crate::store::tickets::Channel;

/// WhatsApp, on `whatsapp-webhooks`, with what fetching media needs.
pub struct Whatsapp {
    pub files: FileStore,
    pub http: reqwest::Client,
    /// The Graph API, its version included (`META_GRAPH_URL`).
    pub graph_url: String,
}

impl Whatsapp {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            files: FileStore::from_env(config)?,
            http: crate::runtime::provider_client()?,
            graph_url: crate::runtime::env_or("META_GRAPH_URL", "https://graph.facebook.com/v21.0".to_string())?
                .trim_end_matches('/')
                .to_string(),
        })
    }

    /// A media message's file, stored; `None` (logged) when it cannot be had.
    async fn fetch_media(&self, webhook: &Webhook<'_>, kind: &str, media: &Value) -> Option<AttachmentRef> {
        let id = media.get("id")?.as_str()?;
        let token = webhook
            .integration
            .channel
            .as_ref()?
            .sealed_access_token
            .as_deref()
            .and_then(|sealed| webhook.services.secrets.open(sealed))?;
        let fetched = async {
            let described: Value = self
                .http
                .get(format!("{}/{id}", self.graph_url))
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let url = described
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let response = self
                .http
                .get(url)
                .bearer_auth(&token)
                .send()
                .await?
                .error_for_status()?;
            Ok::<_, reqwest::Error>((described, response.bytes().await?))
        }
        .await;
        let (described, bytes) = match fetched {
            Ok(fetched) => fetched,
            Err(e) => {
                tracing::warn!(media = id, error = %e, "a WhatsApp media file could not be fetched");
                return None;
            }
        };
        let mime = described
            .get("mime_type")
            .or_else(|| media.get("mime_type"))
            .and_then(Value::as_str)
            .unwrap_or("application/octet-stream");
        // `audio/ogg; codecs=opus` is stored as `audio/ogg`.
        let content_type = mime.split(';').next().unwrap_or(mime).trim().to_lowercase();
        let filename = media
            .get("filename")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{kind}-{id}"));
        let file = FormFile {
            filename,
            content_type,
            data: bytes.to_vec(),
        };
        let org_id = &webhook.integration.org_id;
        let now = crate::clock::rfc3339(webhook.now);
        match store_file(
            &webhook.services.store,
            &self.files,
            org_id,
            &now,
            Some(file),
            (None, None),
        )
        .await
        {
            Ok(attachment) => Some(attachment.into()),
            Err(e) => {
                tracing::warn!(media = id, error = %e.message, "a WhatsApp media file was not stored");
                None
            }
        }
    }
}

#[derive(Clone, Copy)]
pub enum WhatsappRoute {
    Handshake,
    Events,
}

/// `whatsapp-webhooks`' routes: the verify token and the signature guard them.
pub const ROUTES: [Route<WhatsappRoute>; 2] = [
    Route::public(Method::GET, "/api/webhooks/whatsapp", WhatsappRoute::Handshake),
    Route::public(Method::POST, "/api/webhooks/whatsapp", WhatsappRoute::Events),
];

/// Receive WhatsApp's messages and message statuses.
#[utoipa::path(post, path = "/api/webhooks/whatsapp", operation_id = "whatsapp_webhooks", tag = "Provider webhooks",
    params(("X-Hub-Signature-256" = String, Header)),
    request_body(content = Object, description = "A WhatsApp Cloud API webhook (`object: whatsapp_business_account`)"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, source: &Whatsapp, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request).map(|route| route.route) {
        Ok(WhatsappRoute::Handshake) => meta::handshake(services, Provider::Whatsapp, &request).await,
        Ok(WhatsappRoute::Events) => accept(services, source, &request).await,
        Err(error) => Err(error),
    };
    outcome.unwrap_or_else(|error| error_response(&error))
}

/// Answer Meta's subscription handshake.
#[utoipa::path(get, path = "/api/webhooks/whatsapp", operation_id = "whatsapp_webhooks_handshake", tag = "Provider webhooks",
    params(("hub.mode" = String, Query, pattern = "^subscribe$"), ("hub.verify_token" = String, Query, min_length = 1),
        ("hub.challenge" = String, Query, min_length = 1)),
    responses((status = 200, description = "The challenge, as text/plain"), (status = "4XX", body = ErrorBody)))]
#[allow(dead_code)] // documents the route, which `handle` serves
fn handshake_document() {}

/// The `value` objects of the webhook's changes.
fn values(body: &Map<String, Value>) -> impl Iterator<Item = &Map<String, Value>> {
    body.get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.get("changes").and_then(Value::as_array))
        .flatten()
        .filter_map(|change| change.get("value").and_then(Value::as_object))
}

fn phone_number_id(value: &Map<String, Value>) -> Option<&str> {
    value.get("metadata")?.get("phone_number_id")?.as_str()
}

/// The app's phone numbers a webhook names, in order.
pub fn phone_number_ids(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let body = parse_object(body)?;
    meta::named_accounts(values(&body).filter_map(phone_number_id), "phone_number_id")
}

impl Source for Whatsapp {
    type Event = Map<String, Value>;

    const PROVIDER: Provider = Provider::Whatsapp;

    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        phone_number_ids(body)
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        meta::verify(webhook)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError> {
        meta::parse_claimed(webhook)
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<Self::Event>) -> Result<Processed, ApiError> {
        let account = webhook.integration.account.as_str();
        let mut events = Vec::new();
        for value in values(&event.event) {
            if phone_number_id(value) != Some(account) {
                tracing::info!(account, "a change for another phone number of the app skipped");
                continue;
            }
            for message in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
                let Some(mut chat) = chat_message(value, message) else {
                    tracing::warn!("a WhatsApp message without id or sender skipped");
                    continue;
                };
                let kind = message.get("type").and_then(Value::as_str).unwrap_or_default();
                if MEDIA_KINDS.contains(&kind)
                    && let Some(media) = message.get(kind)
                    && let Some(file) = self.fetch_media(webhook, kind, media).await
                {
                    chat.attachments.push(file);
                }
                let message = chat;
                if let Some(data) = chat::land(webhook, message).await? {
                    events.push(("message.received", data));
                }
            }
            for status in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
                let (Some(id), Some(state)) = (
                    status.get("id").and_then(Value::as_str),
                    status.get("status").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let error = status
                    .get("errors")
                    .and_then(|errors| errors.get(0))
                    .map(|e| format!("{} {}", e["code"], e["title"].as_str().unwrap_or_default()));
                chat::receipt(webhook, Channel::Whatsapp, id, state, error).await?;
            }
        }
        Ok(Processed { events })
    }
}

/// A message of the webhook as the desk takes it.
fn chat_message(value: &Map<String, Value>, message: &Value) -> Option<ChatMessage> {
    let id = message.get("id")?.as_str()?;
    let from = message.get("from")?.as_str()?;
    let name = value
        .get("contacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|contact| contact.get("wa_id").and_then(Value::as_str) == Some(from))
        .and_then(|contact| contact.pointer("/profile/name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let kind = message.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let (text, content) = message_text(kind, message);
    Some(ChatMessage {
        channel: Channel::Whatsapp,
        provider_message_id: id.to_string(),
        identity: ("whatsapp", from.to_string()),
        conversation: from.to_string(),
        reply_to: from.to_string(),
        thread: None,
        name,
        text,
        content,
        attachments: Vec::new(),
    })
}

/// The message types that carry a file.
const MEDIA_KINDS: [&str; 5] = ["image", "video", "audio", "document", "sticker"];

/// The text of a message of `kind`, and what it carries besides.
fn message_text(kind: &str, message: &Value) -> (String, Option<Value>) {
    let field = |pointer: &str| {
        message
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match kind {
        "text" => (field("/text/body"), None),
        kind if MEDIA_KINDS.contains(&kind) => {
            let caption = field(&format!("/{kind}/caption"));
            let text = if caption.is_empty() {
                format!("[{kind}]")
            } else {
                format!("[{kind}] {caption}")
            };
            (text, Some(json!({"type": kind, kind: message.get(kind)})))
        }
        "interactive" => {
            let reply = message
                .pointer("/interactive/button_reply")
                .or_else(|| message.pointer("/interactive/list_reply"));
            let title = reply
                .and_then(|r| r.get("title"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            (
                title.to_string(),
                Some(json!({"type": "interactive", "interactive": message.get("interactive")})),
            )
        }
        "button" => (
            field("/button/text"),
            Some(json!({"type": "button", "button": message.get("button")})),
        ),
        "location" => {
            let name = field("/location/name");
            let text = if name.is_empty() {
                "[location]".to_string()
            } else {
                format!("[location] {name}")
            };
            (
                text,
                Some(json!({"type": "location", "location": message.get("location")})),
            )
        }
        other => (format!("[{other}]"), Some(json!({"type": other, "message": message}))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_every_kind_have_a_text() {
        let text = json!({"type": "text", "text": {"body": "Hi"}});
        assert_eq!(message_text("text", &text).0, "Hi");
        let image = json!({"type": "image", "image": {"id": "m1", "mime_type": "image/jpeg", "caption": "Broken"}});
        assert_eq!(message_text("image", &image).0, "[image] Broken");
        let button = json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Yes"}}});
        assert_eq!(message_text("interactive", &button).0, "Yes");
        let list = json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "r", "title": "Refund"}}});
        assert_eq!(message_text("interactive", &list).0, "Refund");
        assert_eq!(message_text("reaction", &json!({"type": "reaction"})).0, "[reaction]");
    }
}
