//! `POST /api/webhooks/dialpad?account=<name>`: Dialpad's call events.
//!
//! A webhook with a secret sends its event as a JWT signed HS256 with that secret: the body is
//! the token, verified (HS256 only: a token naming another algorithm, `none` included, is
//! refused; an `exp` in the past too) before anything is read. Dialpad lets the merchant register
//! any URL, so `?account=` names the integration, as Stripe's does. A call lands through
//! [`super::chat`] on the caller's open phone ticket (or a new one) when it has something to
//! keep: a voicemail, a transcript, an AI recap. Each call and state is claimed, so a retried
//! event lands once; other states (ringing, connected, ...) are acknowledged.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::chat::{self, ChatMessage};
use super::{Identified, InboundServices, Intake, Processed, Source, Webhook, integration_secret, receive};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, json_response, query_parameter};
use crate::store::customers::normalized_identity;
use crate::store::integrations::Provider;
use crate::store::tickets::Channel;

/// Dialpad, on `dialpad-webhooks`.
pub struct Dialpad;

/// `dialpad-webhooks`' one route: the token's signature guards it.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::POST, "/api/webhooks/dialpad", ())];

/// Receive Dialpad's call events.
#[utoipa::path(post, path = "/api/webhooks/dialpad", operation_id = "dialpad_webhooks", tag = "Provider webhooks",
    params(("account" = String, Query, description = "The integration's account name")),
    request_body(content = String, content_type = "application/jwt", description = "The call event as a JWT signed HS256 with the webhook's secret"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, request: Request) -> Response<Body> {
    receive(services, &Dialpad, &ROUTES, &request).await
}

/// The event in the verified token.
pub fn claims(secret: &str, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
    let token = std::str::from_utf8(body)
        .map(str::trim)
        .map_err(|_| ApiError::unauthorized("the body is not a JWT"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    // Dialpad's events carry no audience or expiry of their own; an expiry present is checked.
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    let data = decode::<Map<String, Value>>(token, &DecodingKey::from_secret(secret.as_bytes()), &validation)
        .map_err(|e| ApiError::unauthorized(format!("the JWT does not verify: {e}")))?;
    Ok(data.claims)
}

impl Source for Dialpad {
    type Event = Map<String, Value>;

    const PROVIDER: Provider = Provider::Dialpad;

    fn accounts(&self, request: &Request, _body: &[u8]) -> Result<Vec<String>, ApiError> {
        query_parameter(request, "account")
            .map(|account| vec![account])
            .ok_or_else(|| ApiError::unauthorized("the account query parameter names the Dialpad integration"))
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        claims(
            &integration_secret(webhook.services, webhook.integration)?,
            webhook.body,
        )
        .map(|_| ())
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError> {
        let secret = integration_secret(webhook.services, webhook.integration)?;
        let event = claims(&secret, webhook.body)?;
        let call = event
            .get("call_id")
            .map(|id| id.to_string().trim_matches('"').to_string())
            .ok_or_else(|| ApiError::invalid_input("call_id", "the event has no call_id"))?;
        let state = event
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok(match kept(&event).is_some() {
            true => Intake::event(format!("{call}:{state}"), event),
            false => Intake::Control(event),
        })
    }

    /// States with nothing to keep are acknowledged.
    async fn control(&self, _webhook: &Webhook<'_>, _event: &Self::Event) -> Result<Response<Body>, ApiError> {
        Ok(json_response(
            lambda_http::http::StatusCode::OK,
            &json!({"success": true, "ignored": true}),
        ))
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<Self::Event>) -> Result<Processed, ApiError> {
        let call = &event.event;
        let Some(text) = kept(call) else {
            return Ok(Processed::nothing());
        };
        let caller = ["external_number", "contact/phone"]
            .iter()
            .filter_map(|field| call.get(*field).or_else(|| pointer(call, field)))
            .filter_map(Value::as_str)
            .find_map(|number| normalized_identity("phone", number))
            .ok_or_else(|| ApiError::invalid_input("external_number", "the call names no caller's number"))?;
        let name = pointer(call, "contact/name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let details: Map<String, Value> = [
            "call_id",
            "state",
            "direction",
            "duration",
            "date_started",
            "date_ended",
            "voicemail_link",
            "voicemail_share_link",
            "recording_details",
            "internal_number",
            "target",
        ]
        .iter()
        .filter_map(|field| Some((field.to_string(), call.get(*field)?.clone())))
        .collect();
        let message = ChatMessage {
            channel: Channel::Phone,
            provider_message_id: event.id.clone(),
            identity: ("phone", caller.clone()),
            conversation: caller.clone(),
            reply_to: caller,
            thread: None,
            name,
            text,
            content: Some(json!({"call": details})),
            attachments: Vec::new(),
        };
        Ok(match chat::land(webhook, message).await? {
            Some(data) => Processed::publish("message.received", data),
            None => Processed::nothing(),
        })
    }
}

fn pointer<'a>(event: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (head, tail) = path.split_once('/')?;
    event.get(head)?.get(tail)
}

/// What a call event leaves on the ticket: its voicemail, transcript or recap; `None` for the
/// states that leave nothing.
fn kept(call: &Map<String, Value>) -> Option<String> {
    let text = |field: &str| {
        call.get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let state = call.get("state").and_then(Value::as_str).unwrap_or_default();
    if state.starts_with("voicemail") {
        let transcript = text("voicemail_transcription").or_else(|| text("transcription_text"));
        let link = text("voicemail_share_link").or_else(|| text("voicemail_link"));
        return Some(match (transcript, link) {
            (Some(words), _) => format!("Voicemail: {words}"),
            (None, Some(link)) => format!("Voicemail: {link}"),
            (None, None) => "Voicemail".to_string(),
        });
    }
    if let Some(recap) = text("recap_summary") {
        return Some(format!("Call recap: {recap}"));
    }
    text("transcription_text").map(|words| format!("Call transcript: {words}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn only_voicemails_transcripts_and_recaps_are_kept() {
        assert_eq!(kept(&event(json!({"state": "ringing"}))), None);
        assert_eq!(kept(&event(json!({"state": "hangup"}))), None);
        assert_eq!(
            kept(&event(json!({"state": "hangup", "transcription_text": "Hi, my order"}))).as_deref(),
            Some("Call transcript: Hi, my order")
        );
        assert_eq!(
            kept(&event(
                json!({"state": "recap_summary", "recap_summary": "Wants a refund"})
            ))
            .as_deref(),
            Some("Call recap: Wants a refund")
        );
        assert_eq!(
            kept(&event(json!({"state": "voicemail", "voicemail_link": "https://v/1"}))).as_deref(),
            Some("Voicemail: https://v/1")
        );
    }

    #[test]
    fn tokens_under_another_algorithm_or_secret_are_refused() {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let payload = json!({"call_id": 1, "state": "hangup"});
        let hs256 = encode(
            &Header::new(Algorithm::HS256),
            &payload,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(claims("s", hs256.as_bytes()).is_ok());
        assert!(claims("t", hs256.as_bytes()).is_err());
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &payload,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(claims("s", hs512.as_bytes()).is_err(), "the algorithm is pinned");
        // `alg: none`, unsigned.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJjYWxsX2lkIjoxLCJzdGF0ZSI6Imhhbmd1cCJ9.";
        assert!(claims("s", none.as_bytes()).is_err());
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &json!({"call_id": 1, "exp": 1_000_000_000}),
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(claims("s", expired.as_bytes()).is_err(), "an expiry present is checked");
    }
}
