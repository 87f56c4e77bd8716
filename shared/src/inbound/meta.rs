//! What WhatsApp's and Messenger's webhooks share, both being Meta's: the subscription handshake
//! (`GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...`, answered with the
//! challenge when the verify token is a connected account's) and the signature,
//! `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the app secret>`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use serde_json::{Map, Value};

use super::payload::parse_object;
use super::{InboundServices, Intake, Webhook, integration_secret};
use crate::crypto::{constant_time_eq, hmac_sha256, sha256_hex};
use crate::error::ApiError;
use crate::http::query_parameter;
use crate::store::integrations::{Provider, verify_token_account};

/// Answers Meta's subscription handshake for `provider`'s accounts.
pub async fn handshake(
    services: &InboundServices,
    provider: Provider,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let (mode, token, challenge) = (
        query_parameter(request, "hub.mode"),
        query_parameter(request, "hub.verify_token"),
        query_parameter(request, "hub.challenge"),
    );
    let (Some("subscribe"), Some(token), Some(challenge)) = (mode.as_deref(), token, challenge) else {
        return Err(ApiError::bad_request(
            "the handshake needs hub.mode=subscribe, hub.verify_token and hub.challenge",
        ));
    };
    let account = verify_token_account(&sha256_hex(token.as_bytes()));
    if services.store.find_integration(provider, &account).await?.is_none() {
        return Err(ApiError::forbidden(
            "the verify token is no connected account's",
            serde_json::json!({"field": "hub.verify_token"}),
        ));
    }
    let mut response = Response::new(Body::Text(challenge));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// Checks `X-Hub-Signature-256` over the raw body under the account's app secret.
pub fn verify(webhook: &Webhook<'_>) -> Result<(), ApiError> {
    let signature = super::header(webhook.request, "x-hub-signature-256")
        .ok_or_else(|| ApiError::unauthorized("X-Hub-Signature-256 is missing"))?;
    let secret = integration_secret(webhook.services, webhook.integration)?;
    if !signature_matches(secret.as_bytes(), webhook.body, signature) {
        return Err(ApiError::unauthorized("the signature does not match the body"));
    }
    Ok(())
}

/// The distinct accounts a webhook names, in order (one webhook of an app may carry several of
/// its phone numbers or pages); 401 when it names none.
pub fn named_accounts<'a>(ids: impl Iterator<Item = &'a str>, what: &str) -> Result<Vec<String>, ApiError> {
    let mut accounts: Vec<String> = Vec::new();
    for id in ids {
        if !accounts.iter().any(|a| a == id) {
            accounts.push(id.to_string());
        }
    }
    if accounts.is_empty() {
        return Err(ApiError::unauthorized(format!("the webhook names no {what}")));
    }
    Ok(accounts)
}

/// A verified webhook, parsed and claimed under the SHA-256 of its body: Meta's webhooks carry
/// no id of their own (each message in one is de-duplicated by its own id).
pub fn parse_claimed(webhook: &Webhook<'_>) -> Result<Intake<Map<String, Value>>, ApiError> {
    Ok(Intake::event(
        format!("sha256:{}", sha256_hex(webhook.body)),
        parse_object(webhook.body)?,
    ))
}

/// Whether `header` is `sha256=<hex HMAC-SHA256 of body under app_secret>`.
pub fn signature_matches(app_secret: &[u8], body: &[u8], header: &str) -> bool {
    let expected = format!("sha256={}", hex::encode(hmac_sha256(app_secret, &[body])));
    constant_time_eq(header.trim().as_bytes(), expected.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_raw_body() {
        // The HMAC-SHA256 example of RFC 4231's neighbour, Wikipedia's "HMAC" article.
        let body = b"The quick brown fox jumps over the lazy dog";
        let header = "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
        assert!(signature_matches(b"key", body, header));
        assert!(!signature_matches(b"other", body, header));
        assert!(!signature_matches(
            b"key",
            b"The quick brown fox jumps over the lazy cog",
            header
        ));
    }
}
