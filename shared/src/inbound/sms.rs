//! `POST /api/webhooks/sms`: Twilio's SMS webhooks, form-encoded.
//!
//! `X-Twilio-Signature: base64(HMAC-SHA1(auth token, URL + each parameter's name and value,
//! sorted by name))`, where the URL is the one Twilio requested: the deployment's public base URL
//! (`PUBLIC_BASE_URL`; behind API Gateway the function cannot see it) with the request's path and
//! query. The account is the Twilio number the message was sent to (`To`). A message
//! (`MessageSid`, claimed so Twilio's retries land once) lands through [`super::chat`]: the
//! customer by phone, their open SMS ticket or a new one; a status callback (`MessageStatus`)
//! is a receipt of our reply. Twilio is answered with empty TwiML (`<Response/>`, `text/xml`):
//! nothing is sent back at once; replies go out through the reply queue.

use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use super::chat::{self, ChatMessage};
use super::{Identified, InboundServices, Intake, Processed, Source, Webhook, accept, integration_secret};
use crate::crypto::constant_time_eq;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, SMS_WEBHOOK_PATH, error_response, find_route};
use crate::store::customers::normalized_identity;
use crate::store::integrations::Provider;
use crate::store::tickets::Channel;

/// Twilio's answer that sends nothing back.
pub const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Most media a message carries (Twilio's limit).
const MAX_MEDIA: usize = 10;

/// SMS through Twilio, on `sms-webhooks`.
pub struct Sms {
    /// Where the deployment is reached (`https://api.example.com`), as Twilio signs it.
    pub public_base_url: String,
}

impl Sms {
    /// From `PUBLIC_BASE_URL`.
    pub fn from_env() -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            public_base_url: crate::runtime::public_base_url()?,
        })
    }
}

/// `sms-webhooks`' one route: the signature guards it.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::POST, SMS_WEBHOOK_PATH, ())];

/// Receive Twilio's SMS and status callbacks.
#[utoipa::path(post, path = "/api/webhooks/sms", operation_id = "sms_webhooks", tag = "Provider webhooks",
    params(("X-Twilio-Signature" = String, Header)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Twilio's message or status callback parameters"),
    responses((status = 200, description = "Empty TwiML", content_type = "text/xml"), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, source: &Sms, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request) {
        Ok(_) => accept(services, source, &request).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(response) if response.status().is_success() => twiml(),
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

fn twiml() -> Response<Body> {
    let mut response = Response::new(Body::Text(EMPTY_TWIML.to_string()));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    response
}

/// The form's parameters, in order.
pub fn parameters(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn parameter<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

/// Twilio's signature of `url` and `parameters` under `auth_token`.
pub fn signature(auth_token: &str, url: &str, parameters: &[(String, String)]) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut sorted: Vec<&(String, String)> = parameters.iter().collect();
    sorted.sort();
    let mut mac =
        <Hmac<sha1::Sha1> as Mac>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Source for Sms {
    type Event = Vec<(String, String)>;

    const PROVIDER: Provider = Provider::Sms;

    /// Our number: `To` of a customer's message, `From` of a status callback of our reply.
    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        let parameters = parameters(body);
        let numbers: Vec<String> = ["To", "From"]
            .iter()
            .filter_map(|name| parameter(&parameters, name))
            .filter_map(|number| normalized_identity("phone", number))
            .collect();
        if numbers.is_empty() {
            return Err(ApiError::unauthorized("the request names no phone number (To)"));
        }
        Ok(numbers)
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let presented = super::header(webhook.request, "x-twilio-signature")
            .ok_or_else(|| ApiError::unauthorized("X-Twilio-Signature is missing"))?;
        let auth_token = integration_secret(webhook.services, webhook.integration)?;
        let request = webhook.request;
        let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let url = format!("{}{}{query}", self.public_base_url, request.uri().path());
        let expected = signature(&auth_token, &url, &parameters(webhook.body));
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::unauthorized(
                "the Twilio signature does not match the request",
            ));
        }
        let sid = webhook
            .integration
            .channel
            .as_ref()
            .and_then(|c| c.account_sid.as_deref());
        if sid.is_some() && parameter(&parameters(webhook.body), "AccountSid") != sid {
            return Err(ApiError::unauthorized("the request is another Twilio account's"));
        }
        Ok(())
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError> {
        let parameters = parameters(webhook.body);
        let sid = parameter(&parameters, "MessageSid")
            .or_else(|| parameter(&parameters, "SmsSid"))
            .ok_or_else(|| ApiError::invalid_input("MessageSid", "the request has no MessageSid"))?
            .to_string();
        let is_message =
            parameter(&parameters, "Body").is_some() || parameter(&parameters, "NumMedia").is_some_and(|n| n != "0");
        Ok(match (is_message, parameter(&parameters, "MessageStatus")) {
            (false, Some(_)) => Intake::Control(parameters),
            _ => Intake::event(sid, parameters),
        })
    }

    /// A status callback: the receipt of our reply.
    async fn control(&self, webhook: &Webhook<'_>, parameters: &Self::Event) -> Result<Response<Body>, ApiError> {
        let sid = parameter(parameters, "MessageSid").unwrap_or_default();
        let status = match parameter(parameters, "MessageStatus").unwrap_or_default() {
            "sent" => Some("sent"),
            "delivered" => Some("delivered"),
            "read" => Some("read"),
            "undelivered" | "failed" => Some("failed"),
            _ => None,
        };
        if let Some(status) = status {
            let error = parameter(parameters, "ErrorCode").map(|code| format!("Twilio error {code}"));
            chat::receipt(webhook, Channel::Sms, sid, status, error).await?;
        }
        Ok(twiml())
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<Self::Event>) -> Result<Processed, ApiError> {
        let parameters = &event.event;
        let from = parameter(parameters, "From")
            .and_then(|from| normalized_identity("phone", from))
            .ok_or_else(|| ApiError::invalid_input("From", "From is not a phone number"))?;
        let media: Vec<Value> = (0..parameter(parameters, "NumMedia")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
            .min(MAX_MEDIA))
            .filter_map(|i| {
                let url = parameter(parameters, &format!("MediaUrl{i}"))?;
                let kind = parameter(parameters, &format!("MediaContentType{i}"));
                Some(json!({"url": url, "content_type": kind}))
            })
            .collect();
        let body = parameter(parameters, "Body").unwrap_or_default();
        let text = match (body.is_empty(), media.len()) {
            (false, _) => body.to_string(),
            (true, 0) => String::new(),
            (true, n) => format!("[{n} media]"),
        };
        let message = ChatMessage {
            channel: Channel::Sms,
            provider_message_id: event.id.clone(),
            identity: ("phone", from.clone()),
            conversation: from.clone(),
            reply_to: from,
            thread: None,
            name: None,
            text,
            content: (!media.is_empty()).then(|| json!({"media": media})),
            attachments: Vec::new(),
        };
        Ok(match chat::land(webhook, message).await? {
            Some(data) => Processed::publish("message.received", data),
            None => Processed::nothing(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Twilio's "Webhooks security" guide (its value checked with Twilio's own
    /// `RequestValidator`).
    #[test]
    fn twilio_documented_example_signs_the_same() {
        let parameters: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(signature("12345", url, &parameters), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
    }
}
