//! `GET /api/webhooks/messenger` (Meta's handshake) and `POST /api/webhooks/messenger`: a
//! Facebook page's Messenger webhooks, signed as Meta signs them (see [`super::meta`]).
//!
//! The account is the page (`entry[].id`). Each of `entry[].messaging[]` with a `message` lands
//! through [`super::chat`]: the customer by their page-scoped id (PSID), their open Messenger
//! ticket or a new one; postbacks (buttons) land as their title. Echoes of the page's own
//! messages (`message.is_echo`) are ignored; `delivery.mids` are receipts of our replies.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::chat::{self, ChatMessage};
use super::{Identified, InboundServices, Intake, Processed, Source, Webhook, accept, meta};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, error_response, find_route};
use crate::inbound::payload::parse_object;
use crate::store::integrations::Provider;
use crate::store::tickets::Channel;

/// Messenger, on `messenger-webhooks`.
pub struct Messenger;

#[derive(Clone, Copy)]
pub enum MessengerRoute {
    Handshake,
    Events,
}

/// `messenger-webhooks`' routes: the verify token and the signature guard them.
pub const ROUTES: [Route<MessengerRoute>; 2] = [
    Route::public(Method::GET, "/api/webhooks/messenger", MessengerRoute::Handshake),
    Route::public(Method::POST, "/api/webhooks/messenger", MessengerRoute::Events),
];

/// Receive a page's Messenger events.
#[utoipa::path(post, path = "/api/webhooks/messenger", operation_id = "messenger_webhooks", tag = "Provider webhooks",
    params(("X-Hub-Signature-256" = String, Header)),
    request_body(content = Object, description = "A Messenger webhook (`object: page`)"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request).map(|route| route.route) {
        Ok(MessengerRoute::Handshake) => meta::handshake(services, Provider::Messenger, &request).await,
        Ok(MessengerRoute::Events) => accept(services, &Messenger, &request).await,
        Err(error) => Err(error),
    };
    outcome.unwrap_or_else(|error| error_response(&error))
}

/// Answer Meta's subscription handshake.
#[utoipa::path(get, path = "/api/webhooks/messenger", operation_id = "messenger_webhooks_handshake", tag = "Provider webhooks",
    params(("hub.mode" = String, Query, pattern = "^subscribe$"), ("hub.verify_token" = String, Query, min_length = 1),
        ("hub.challenge" = String, Query, min_length = 1)),
    responses((status = 200, description = "The challenge, as text/plain"), (status = "4XX", body = ErrorBody)))]
#[allow(dead_code)] // documents the route, which `handle` serves
fn handshake_document() {}

fn entries(body: &Map<String, Value>) -> impl Iterator<Item = &Value> {
    body.get("entry").and_then(Value::as_array).into_iter().flatten()
}

impl Source for Messenger {
    type Event = Map<String, Value>;

    const PROVIDER: Provider = Provider::Messenger;

    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        let body = parse_object(body)?;
        meta::named_accounts(
            entries(&body).filter_map(|entry| entry.get("id").and_then(Value::as_str)),
            "page",
        )
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        meta::verify(webhook)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError> {
        meta::parse_claimed(webhook)
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<Self::Event>) -> Result<Processed, ApiError> {
        let page = webhook.integration.account.as_str();
        let mut events = Vec::new();
        for entry in entries(&event.event) {
            if entry.get("id").and_then(Value::as_str) != Some(page) {
                tracing::info!(page, "an entry for another page of the app skipped");
                continue;
            }
            for messaging in entry.get("messaging").and_then(Value::as_array).into_iter().flatten() {
                for mid in messaging
                    .pointer("/delivery/mids")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    chat::receipt(webhook, Channel::Messenger, mid, "delivered", None).await?;
                }
                if let Some(message) = chat_message(messaging)
                    && let Some(data) = chat::land(webhook, message).await?
                {
                    events.push(("message.received", data));
                }
            }
        }
        Ok(Processed { events })
    }
}

/// A customer's message or postback as the desk takes it; `None` for echoes and the rest.
fn chat_message(messaging: &Value) -> Option<ChatMessage> {
    let sender = messaging.pointer("/sender/id")?.as_str()?;
    let (id, text, content) = if let Some(message) = messaging.get("message") {
        if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
            return None;
        }
        let id = message.get("mid")?.as_str()?;
        let attachments = message.get("attachments").and_then(Value::as_array);
        let text = match (message.get("text").and_then(Value::as_str), attachments) {
            (Some(text), _) => text.to_string(),
            (None, Some(files)) => files
                .iter()
                .map(|f| format!("[{}]", f.get("type").and_then(Value::as_str).unwrap_or("attachment")))
                .collect::<Vec<_>>()
                .join(" "),
            (None, None) => "[message]".to_string(),
        };
        let content = attachments.map(|files| json!({"attachments": files}));
        (id, text, content)
    } else if let Some(postback) = messaging.get("postback") {
        let id = postback.get("mid")?.as_str()?;
        let title = postback.get("title").and_then(Value::as_str).unwrap_or("[postback]");
        (id, title.to_string(), Some(json!({"postback": postback})))
    } else {
        return None;
    };
    Some(ChatMessage {
        channel: Channel::Messenger,
        provider_message_id: id.to_string(),
        identity: ("messenger", sender.to_string()),
        conversation: sender.to_string(),
        reply_to: sender.to_string(),
        thread: None,
        name: None,
        text,
        content,
        attachments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_not_customers_messages() {
        let echo = json!({"sender": {"id": "1"}, "message": {"mid": "m_1", "text": "ours", "is_echo": true}});
        assert!(chat_message(&echo).is_none());
        let theirs = json!({"sender": {"id": "2"}, "message": {"mid": "m_2", "text": "Hello"}});
        let message = chat_message(&theirs).unwrap();
        assert_eq!((message.text.as_str(), message.reply_to.as_str()), ("Hello", "2"));
        let photo = json!({"sender": {"id": "2"}, "message": {"mid": "m_3", "attachments": [{"type": "image", "payload": {"url": "https://x"}}]}});
        assert_eq!(chat_message(&photo).unwrap().text, "[image]");
        let read = json!({"sender": {"id": "2"}, "read": {"watermark": 1}});
        assert!(chat_message(&read).is_none());
    }
}
