//! `POST /api/webhooks/slack`: a Slack app's Events API.
//!
//! `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw body}" under
//! the app's signing secret>`; a timestamp more than 5 minutes from now is a replay. The
//! `url_verification` handshake is answered with its challenge (it names no workspace and
//! carries nothing to store). An `event_callback` is the workspace's (`team_id`) and is claimed
//! under its `event_id`, so Slack's retries (`X-Slack-Retry-Num`) land once. Its `message`
//! events, not bots' (our own replies among them) nor edits and deletions, land through
//! [`super::chat`], one ticket per thread: a message that starts a thread opens one, its
//! replies (`thread_ts`) add to it.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::chat::{self, ChatMessage};
use super::{
    Identified, InboundServices, Intake, Processed, Source, Webhook, accept, check_age, header, integration_secret,
};
use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, error_response, find_route, json_response};
use crate::inbound::payload::parse_object;
use crate::store::integrations::Provider;
use crate::store::tickets::Channel;

/// Slack's own libraries refuse requests older than this.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Message subtypes that are a person writing; every other subtype (edits, deletions, joins,
/// bots) is not a customer's message.
const PERSON_SUBTYPES: [&str; 2] = ["file_share", "thread_broadcast"];

/// Slack, on `slack-webhooks`.
pub struct Slack;

/// `slack-webhooks`' one route: the signature guards it.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::POST, "/api/webhooks/slack", ())];

/// Receive a Slack app's events.
#[utoipa::path(post, path = "/api/webhooks/slack", operation_id = "slack_webhooks", tag = "Provider webhooks",
    params(("X-Slack-Signature" = String, Header), ("X-Slack-Request-Timestamp" = String, Header),
           ("X-Slack-Retry-Num" = Option<String>, Header)),
    request_body(content = Object, description = "A Slack Events API request (`event_callback` or `url_verification`)"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request) {
        Ok(_) => match url_verification(&request) {
            Some(challenge) => Ok(json_response(StatusCode::OK, &json!({"challenge": challenge}))),
            None => accept(services, &Slack, &request).await,
        },
        Err(error) => Err(error),
    };
    outcome.unwrap_or_else(|error| error_response(&error))
}

/// The challenge of a `url_verification` request.
fn url_verification(request: &Request) -> Option<String> {
    let body = parse_object(request.body().as_ref()).ok()?;
    (body.get("type")?.as_str()? == "url_verification")
        .then(|| body.get("challenge")?.as_str().map(str::to_string))
        .flatten()
}

impl Source for Slack {
    type Event = Map<String, Value>;

    const PROVIDER: Provider = Provider::Slack;

    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        let body = parse_object(body)?;
        body.get("team_id")
            .and_then(Value::as_str)
            .map(|team| vec![team.to_string()])
            .ok_or_else(|| ApiError::unauthorized("the event names no team_id"))
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let request = webhook.request;
        let timestamp = header(request, "x-slack-request-timestamp")
            .ok_or_else(|| ApiError::unauthorized("X-Slack-Request-Timestamp is missing"))?;
        let signature = header(request, "x-slack-signature")
            .ok_or_else(|| ApiError::unauthorized("X-Slack-Signature is missing"))?;
        let secret = integration_secret(webhook.services, webhook.integration)?;
        verify_signature(secret.as_bytes(), timestamp, webhook.body, signature, webhook.now)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError> {
        let body = parse_object(webhook.body)?;
        match body.get("type").and_then(Value::as_str) {
            Some("event_callback") => {
                let id = body
                    .get("event_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| ApiError::invalid_input("event_id", "the event has no event_id"))?
                    .to_string();
                Ok(Intake::event(id, body))
            }
            // `app_rate_limited` and the like: acknowledged.
            _ => Ok(Intake::Control(body)),
        }
    }

    async fn control(&self, _webhook: &Webhook<'_>, _event: &Self::Event) -> Result<Response<Body>, ApiError> {
        Ok(json_response(
            StatusCode::OK,
            &json!({"success": true, "ignored": true}),
        ))
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<Self::Event>) -> Result<Processed, ApiError> {
        let Some(message) = event.event.get("event").and_then(chat_message) else {
            return Ok(Processed::nothing());
        };
        Ok(match chat::land(webhook, message).await? {
            Some(data) => Processed::publish("message.received", data),
            None => Processed::nothing(),
        })
    }
}

/// Checks `v0=<hex>` over `v0:{timestamp}:{body}`, and the timestamp.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| ApiError::unauthorized("X-Slack-Request-Timestamp is not a Unix time"))?;
    let sent_at = OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| ApiError::unauthorized("X-Slack-Request-Timestamp is out of range"))?;
    check_age(sent_at, now, TOLERANCE_SECONDS)?;
    let expected = format!(
        "v0={}",
        hex::encode(hmac_sha256(secret, &[b"v0:", timestamp.as_bytes(), b":", body]))
    );
    if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::unauthorized("the Slack signature does not match the body"));
    }
    Ok(())
}

/// A person's message as the desk takes it; `None` for bots, edits, deletions and the rest.
fn chat_message(event: &Value) -> Option<ChatMessage> {
    if event.get("type")?.as_str()? != "message" || event.get("bot_id").is_some() {
        return None;
    }
    if let Some(subtype) = event.get("subtype").and_then(Value::as_str)
        && !PERSON_SUBTYPES.contains(&subtype)
    {
        return None;
    }
    let user = event.get("user")?.as_str()?;
    let channel = event.get("channel")?.as_str()?;
    let ts = event.get("ts")?.as_str()?;
    let thread = event.get("thread_ts").and_then(Value::as_str).unwrap_or(ts);
    let text = event.get("text").and_then(Value::as_str).unwrap_or_default();
    let files = event
        .get("files")
        .filter(|f| f.as_array().is_some_and(|f| !f.is_empty()));
    let name = event
        .pointer("/user_profile/real_name")
        .or_else(|| event.pointer("/user_profile/display_name"))
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string);
    Some(ChatMessage {
        channel: Channel::Slack,
        provider_message_id: format!("{channel}:{ts}"),
        identity: ("slack", user.to_string()),
        conversation: format!("{channel}:{thread}"),
        reply_to: channel.to_string(),
        thread: Some(thread.to_string()),
        name,
        text: if text.is_empty() && files.is_some() {
            "[file]".into()
        } else {
            text.to_string()
        },
        content: files.map(|files| json!({"files": files})),
        attachments: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Slack's "Verifying requests from Slack" guide.
    #[test]
    fn slack_documented_example_verifies() {
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let now = OffsetDateTime::from_unix_timestamp(1_531_420_618).unwrap();
        assert!(verify_signature(secret, "1531420618", body, signature, now).is_ok());
        assert!(verify_signature(b"another secret", "1531420618", body, signature, now).is_err());
        assert!(verify_signature(secret, "1531420619", body, signature, now).is_err());
        let later = now + time::Duration::seconds(301);
        assert!(verify_signature(secret, "1531420618", body, signature, later).is_err());
    }

    #[test]
    fn bots_edits_and_deletions_are_not_customers() {
        let person = json!({"type": "message", "user": "U1", "channel": "C1", "ts": "1.2", "text": "Help"});
        let message = chat_message(&person).unwrap();
        assert_eq!(
            (message.conversation.as_str(), message.thread.as_deref()),
            ("C1:1.2", Some("1.2"))
        );
        let reply =
            json!({"type": "message", "user": "U1", "channel": "C1", "ts": "1.3", "thread_ts": "1.2", "text": "More"});
        assert_eq!(chat_message(&reply).unwrap().conversation, "C1:1.2");
        let bot = json!({"type": "message", "bot_id": "B1", "channel": "C1", "ts": "1.4", "text": "Our reply"});
        assert!(chat_message(&bot).is_none());
        let edit = json!({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "1.5"});
        assert!(chat_message(&edit).is_none());
    }
}
