//! `POST /api/webhooks/resend` (and the legacy `/api/webhooks/email`): Resend's webhooks.
//!
//! Resend signs with Svix: `svix-id`, `svix-timestamp` (Unix seconds) and `svix-signature`, a
//! space-separated list of `v1,<base64 HMAC-SHA256("{id}.{timestamp}.{raw body}")>` under the
//! base64 key after the `whsec_` prefix of the webhook's signing secret; several `v1,` values
//! during a rotation; a timestamp more than 5 minutes from now is a replay.
//!
//! `email.received` carries the mail's metadata only: the body, headers and attachments are
//! fetched from Resend's received-email API with the mailbox's API key
//! (`GET /emails/receiving/{id}`, `GET /emails/receiving/{id}/attachments`, each attachment's
//! `download_url`). The mailbox is the first recipient that routes to one. Other event types are
//! acknowledged and not processed.

use lambda_http::Request;
use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::{EmailDoor, Mail, land};
use crate::aws::uri_encode;
use crate::crypto::constant_time_eq;
use crate::desk::files::{FormFile, MAX_FILE_BYTES};
use crate::error::{ApiError, ErrorBody};
use crate::inbound::payload::parse_object;
use crate::inbound::{Identified, Intake, Processed, Source, Webhook, check_age, header};
use crate::mail::{address_list, bare_message_id, mailbox_address, message_ids, route_candidates};
use crate::outbound::signing::standard_signature;
use crate::store::integrations::Provider;

/// Svix refuses signatures older (or newer) than this.
pub const TOLERANCE_SECONDS: i64 = 300;

/// At most this many `v1,` values of one header are compared.
const MAX_SIGNATURES: usize = 8;

/// Resend, on `email-webhooks`.
pub struct Resend<'a> {
    pub door: &'a EmailDoor,
}

/// Receive Resend's webhooks (`email.received`).
#[utoipa::path(post, path = "/api/webhooks/resend", operation_id = "email_webhooks_resend", tag = "Provider webhooks",
    params(("svix-id" = String, Header), ("svix-timestamp" = String, Header), ("svix-signature" = String, Header)),
    request_body(content = Object, description = "A Resend webhook event (`email.received`)"),
    responses((status = 200, body = crate::inbound::InboundAccepted), (status = "4XX", body = ErrorBody), (status = 502, body = ErrorBody)))]
#[allow(dead_code)] // documents the route, which `email::handle` serves
fn resend_document() {}

/// Receive Resend's webhooks: the legacy path of `/api/webhooks/resend`.
#[utoipa::path(post, path = "/api/webhooks/email", operation_id = "email_webhooks_legacy", tag = "Provider webhooks",
    params(("svix-id" = String, Header), ("svix-timestamp" = String, Header), ("svix-signature" = String, Header)),
    request_body(content = Object, description = "A Resend webhook event (`email.received`)"),
    responses((status = 200, body = crate::inbound::InboundAccepted), (status = "4XX", body = ErrorBody), (status = 502, body = ErrorBody)))]
#[allow(dead_code)] // documents the route, which `email::handle` serves
fn legacy_document() {}

/// A verified Resend event.
pub struct ResendEvent {
    /// The received mail's id (`data.email_id`).
    email_id: String,
}

/// The mail's recipients (`to`, `cc`, `bcc`) an event names, each also without a `+tag`.
pub fn recipients(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let event = parse_object(body)?;
    let data = event.get("data").and_then(Value::as_object);
    let mut recipients = Vec::new();
    for field in ["to", "cc", "bcc"] {
        match data.and_then(|d| d.get(field)) {
            Some(Value::Array(list)) => recipients.extend(
                list.iter()
                    .filter_map(Value::as_str)
                    .filter_map(|a| mailbox_address(a).map(|(_, address)| address)),
            ),
            Some(Value::String(list)) => recipients.extend(address_list(list)),
            _ => {}
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::unauthorized("the event names no recipient"));
    }
    Ok(route_candidates(recipients))
}

impl Source for Resend<'_> {
    type Event = ResendEvent;

    const PROVIDER: Provider = Provider::Email;

    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        recipients(body)
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let request = webhook.request;
        let missing = |name: &str| ApiError::unauthorized(format!("{name} is missing"));
        let id = header(request, "svix-id").ok_or_else(|| missing("svix-id"))?;
        let timestamp = header(request, "svix-timestamp").ok_or_else(|| missing("svix-timestamp"))?;
        let signatures = header(request, "svix-signature").ok_or_else(|| missing("svix-signature"))?;
        let secret = webhook
            .integration
            .sealed_secret
            .as_deref()
            .and_then(|sealed| webhook.services.secrets.open(sealed))
            .ok_or_else(|| ApiError::unauthorized("this mailbox has no Resend webhook secret"))?;
        verify_svix(&secret, id, timestamp, signatures, webhook.body, webhook.now)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<ResendEvent>, ApiError> {
        let event = parse_object(webhook.body)?;
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        let email_id = event
            .get("data")
            .and_then(|data| data.get("email_id"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .ok_or_else(|| ApiError::invalid_input("data.email_id", "the event has no email_id"))?
            .to_string();
        Ok(match kind {
            "email.received" => Intake::event(email_id.clone(), ResendEvent { email_id }),
            _ => Intake::Control(ResendEvent { email_id }),
        })
    }

    /// Events other than `email.received` (Resend's sending events) are acknowledged only.
    async fn control(
        &self,
        _webhook: &Webhook<'_>,
        event: &ResendEvent,
    ) -> Result<lambda_http::Response<lambda_http::Body>, ApiError> {
        Ok(crate::http::json_response(
            lambda_http::http::StatusCode::OK,
            &serde_json::json!({"success": true, "event_id": event.email_id, "duplicate": false, "ignored": true}),
        ))
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<ResendEvent>) -> Result<Processed, ApiError> {
        let api_key = webhook
            .integration
            .mailbox
            .as_ref()
            .and_then(|mailbox| mailbox.sealed_api_key.as_deref())
            .and_then(|sealed| webhook.services.secrets.open(sealed))
            .ok_or_else(|| {
                ApiError::provider_unavailable("this mailbox has no Resend API key to fetch the mail with")
            })?;
        let client = ReceivingApi {
            door: self.door,
            api_key: &api_key,
        };
        let mail = client.received_mail(&event.event.email_id).await?;
        land(webhook, self.door, mail).await
    }
}

/// Checks a Svix signature over the raw body: any of the header's `v1,` values under `secret`.
pub fn verify_svix(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let seconds: i64 = timestamp
        .parse()
        .map_err(|_| ApiError::unauthorized("svix-timestamp is not a Unix time in seconds"))?;
    let sent_at = OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| ApiError::unauthorized("svix-timestamp is out of range"))?;
    check_age(sent_at, now, TOLERANCE_SECONDS)?;
    let expected = standard_signature(secret, id, seconds, body);
    let matches = signatures
        .split_whitespace()
        .take(MAX_SIGNATURES)
        .any(|candidate| constant_time_eq(candidate.as_bytes(), expected.as_bytes()));
    if !matches {
        return Err(ApiError::unauthorized("the Svix signature does not match the body"));
    }
    Ok(())
}

/// Resend's received-email API under one mailbox's key.
struct ReceivingApi<'a> {
    door: &'a EmailDoor,
    api_key: &'a str,
}

/// `GET /emails/receiving/{id}`, the fields the desk uses.
#[derive(Deserialize)]
struct ReceivedEmail {
    from: String,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    cc: Option<Vec<String>>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    html: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    attachments: Vec<Value>,
}

/// `GET /emails/receiving/{id}/attachments`.
#[derive(Deserialize)]
struct AttachmentList {
    data: Vec<ReceivedAttachment>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct ReceivedAttachment {
    id: String,
    filename: Option<String>,
    content_type: Option<String>,
    size: Option<u64>,
    download_url: String,
}

impl ReceivingApi<'_> {
    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.door.resend_api_url);
        let response = self
            .door
            .http
            .get(&url)
            .bearer_auth(self.api_key)
            .send()
            .await
            .map_err(|e| ApiError::provider_unavailable(format!("Resend could not be reached: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            tracing::warn!(%status, body = %body.chars().take(500).collect::<String>(), path, "Resend refused a request");
            return Err(ApiError::provider_unavailable(format!(
                "Resend answered {status} to GET {path}"
            )));
        }
        response
            .json()
            .await
            .map_err(|e| ApiError::provider_unavailable(format!("Resend's answer to GET {path} is unreadable: {e}")))
    }

    /// The mail, with its attachments' bytes.
    async fn received_mail(&self, email_id: &str) -> Result<Mail, ApiError> {
        let id = uri_encode(email_id);
        let email: ReceivedEmail = self.get_json(&format!("/emails/receiving/{id}")).await?;
        let (from_name, from) = mailbox_address(&email.from)
            .ok_or_else(|| ApiError::invalid_input("from", "the mail's sender is not an address"))?;
        let header = |name: &str| -> Vec<String> {
            email
                .headers
                .as_ref()
                .and_then(|headers| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                .map(message_ids)
                .unwrap_or_default()
        };
        let attachments = if email.attachments.is_empty() {
            Vec::new()
        } else {
            self.attachments(&id).await?
        };
        Ok(Mail {
            provider_id: Some(email_id.to_string()),
            message_id: email.message_id.as_deref().and_then(bare_message_id),
            from_name,
            from,
            to: email
                .to
                .iter()
                .filter_map(|a| mailbox_address(a).map(|(_, a)| a))
                .collect(),
            cc: email
                .cc
                .unwrap_or_default()
                .iter()
                .filter_map(|a| mailbox_address(a).map(|(_, a)| a))
                .collect(),
            subject: email.subject.unwrap_or_default(),
            in_reply_to: header("in-reply-to"),
            references: header("references"),
            text: email.text,
            html: email.html,
            attachments,
        })
    }

    /// Every attachment's bytes; a file over the desk's size limit is skipped.
    async fn attachments(&self, id: &str) -> Result<Vec<FormFile>, ApiError> {
        let mut files = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let cursor = after.as_deref().map(|a| format!("&after={a}")).unwrap_or_default();
            let page: AttachmentList = self
                .get_json(&format!("/emails/receiving/{id}/attachments?limit=100{cursor}"))
                .await?;
            for attachment in &page.data {
                if attachment.size.is_some_and(|size| size > MAX_FILE_BYTES) {
                    tracing::warn!(attachment = %attachment.id, "a mail's attachment over the size limit skipped");
                    continue;
                }
                if let Some(data) = self.download(&attachment.download_url).await? {
                    files.push(FormFile {
                        filename: attachment.filename.clone().unwrap_or_else(|| "attachment".into()),
                        content_type: attachment
                            .content_type
                            .clone()
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        data,
                    });
                }
            }
            match (page.has_more, page.data.last()) {
                (true, Some(last)) if files.len() < 100 => after = Some(last.id.clone()),
                _ => return Ok(files),
            }
        }
    }

    /// An attachment's bytes from its signed URL (no API key: the URL is the credential);
    /// `None` when it is over the size limit.
    async fn download(&self, url: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let unreachable =
            |e: reqwest::Error| ApiError::provider_unavailable(format!("an attachment could not be fetched: {e}"));
        let response = self.door.http.get(url).send().await.map_err(unreachable)?;
        if !response.status().is_success() {
            return Err(ApiError::provider_unavailable(format!(
                "an attachment's download answered {}",
                response.status()
            )));
        }
        if response.content_length().is_some_and(|length| length > MAX_FILE_BYTES) {
            return Ok(None);
        }
        let bytes = response.bytes().await.map_err(unreachable)?;
        Ok((bytes.len() as u64 <= MAX_FILE_BYTES).then(|| bytes.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Svix's documentation
    /// (<https://docs.svix.com/receiving/verifying-payloads/how-manual>).
    #[test]
    fn svix_documented_example_verifies() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        let timestamp = "1614265330";
        let signature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        let now = OffsetDateTime::from_unix_timestamp(1_614_265_330).unwrap();
        assert!(verify_svix(secret, id, timestamp, signature, body, now).is_ok());
        let several = format!("v1,bm90IGl0 {signature}");
        assert!(verify_svix(secret, id, timestamp, &several, body, now).is_ok());
        assert!(verify_svix(secret, id, timestamp, signature, br#"{"test": 2432232315}"#, now).is_err());
        assert!(verify_svix("whsec_bm90IHRoZSBzZWNyZXQ=", id, timestamp, signature, body, now).is_err());
        let later = now + time::Duration::seconds(301);
        assert!(verify_svix(secret, id, timestamp, signature, body, later).is_err());
    }
}
