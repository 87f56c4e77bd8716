//! `POST /api/webhooks/inbound-email`: one raw RFC 822 message (`message/rfc822`), as a mail
//! server's pipe, a forwarding rule or an IMAP sync hands it over.
//!
//! The mailbox is the one a recipient names: `?to=` (the envelope recipient, when the forwarder
//! knows it), then `Delivered-To`, `X-Original-To`, `Envelope-To`, `To` and `Cc`. The mailbox's
//! token (`Authorization: Bearer hg_in_...` or `?token=`) must come with it. The message is read
//! by `mail-parser` (MIME, encoded words, legacy charsets); its Message-ID is its id (a message
//! without one gets the SHA-256 of its bytes).

use lambda_http::Request;
use mail_parser::{Message, MessageParser, MimeHeaders};

use super::{EmailDoor, Mail, land};
use crate::auth::presented_key;
use crate::crypto::{constant_time_eq, sha256_hex};
use crate::desk::files::FormFile;
use crate::error::{ApiError, ErrorBody};
use crate::http::query_parameter;
use crate::inbound::{Identified, Intake, Processed, Source, Webhook};
use crate::mail::{address_list, bare_message_id, mailbox_address, message_ids, route_candidates};
use crate::store::integrations::Provider;

/// The largest message accepted: what a Lambda function can receive, less the event around it.
pub const MAX_MESSAGE_BYTES: usize = 5 * 1024 * 1024;

/// The headers that name a message's recipients, the envelope's first.
const RECIPIENT_HEADERS: [&str; 6] = [
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-forwarded-to",
    "to",
    "cc",
];

/// Raw mail, on `email-webhooks`.
pub struct RawMail<'a> {
    pub door: &'a EmailDoor,
}

/// Receive a raw RFC 822 message.
#[utoipa::path(post, path = "/api/webhooks/inbound-email", operation_id = "email_webhooks_inbound", tag = "Provider webhooks",
    params(("to" = Option<String>, Query, description = "The envelope recipient, when the forwarder knows it"),
           ("token" = Option<String>, Query, description = "The mailbox's token, when no Authorization header can be sent")),
    request_body(content = String, content_type = "message/rfc822", description = "The message as received"),
    security((), ("bearer" = [])),
    responses((status = 200, body = crate::inbound::InboundAccepted), (status = "4XX", body = ErrorBody)))]
#[allow(dead_code)] // documents the route, which `email::handle` serves
fn inbound_email_document() {}

/// The raw bytes as a mail message, refused unless it has a sender.
pub fn parse_message(body: &[u8]) -> Result<Message<'_>, ApiError> {
    is_message(MessageParser::default().parse(body))
}

/// Any bytes parse as something: a message has a sender at least.
fn is_message(parsed: Option<Message<'_>>) -> Result<Message<'_>, ApiError> {
    parsed
        .filter(|message| message.from().is_some())
        .ok_or_else(|| ApiError::bad_request("the body is not an RFC 822 message with a From header"))
}

/// The mailboxes a message may be for, by its recipients (`?to=`, then the headers), each
/// also without a `+tag`: read from the headers alone, before the token is checked.
pub fn recipients(request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
    let message = is_message(MessageParser::default().parse_headers(body))?;
    let mut recipients: Vec<String> = query_parameter(request, "to")
        .and_then(|to| mailbox_address(&to))
        .map(|(_, address)| address)
        .into_iter()
        .collect();
    for name in RECIPIENT_HEADERS {
        for header in message.headers() {
            if header.name.as_str().eq_ignore_ascii_case(name) {
                let raw = &message.raw_message[header.offset_start as usize..header.offset_end as usize];
                recipients.extend(address_list(&String::from_utf8_lossy(raw)));
            }
        }
    }
    if recipients.is_empty() {
        return Err(ApiError::unauthorized("the message names no recipient"));
    }
    Ok(route_candidates(recipients))
}

impl Source for RawMail<'_> {
    type Event = Mail;

    const PROVIDER: Provider = Provider::Email;

    const MAX_BODY_BYTES: usize = MAX_MESSAGE_BYTES;

    fn accounts(&self, request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        recipients(request, body)
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let presented = presented_key(webhook.request.headers())
            .map(str::to_string)
            .or_else(|| query_parameter(webhook.request, "token"))
            .ok_or_else(|| {
                ApiError::unauthorized("the mailbox's token is missing (Authorization: Bearer hg_in_...)")
            })?;
        let expected = webhook
            .integration
            .mailbox
            .as_ref()
            .map(|mailbox| mailbox.token_hash.as_bytes())
            .unwrap_or_default();
        if !constant_time_eq(sha256_hex(presented.as_bytes()).as_bytes(), expected) {
            return Err(ApiError::unauthorized("the token is not this mailbox's"));
        }
        Ok(())
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Mail>, ApiError> {
        let mail = read_mail(&parse_message(webhook.body)?)?;
        let id = mail
            .message_id
            .clone()
            .unwrap_or_else(|| format!("sha256:{}", sha256_hex(webhook.body)));
        Ok(Intake::event(id, mail))
    }

    async fn process(&self, webhook: &Webhook<'_>, mail: &Identified<Mail>) -> Result<Processed, ApiError> {
        land(webhook, self.door, mail.event.clone()).await
    }
}

/// A parsed message as the desk takes it.
pub fn read_mail(message: &Message<'_>) -> Result<Mail, ApiError> {
    let from = message
        .from()
        .and_then(|from| from.first())
        .ok_or_else(|| ApiError::invalid_input("From", "the message has no sender"))?;
    let address = from
        .address()
        .and_then(crate::http::normalized_email)
        .ok_or_else(|| ApiError::invalid_input("From", "the message's sender is not an address"))?;
    let addresses = |list: Option<&mail_parser::Address<'_>>| -> Vec<String> {
        list.map(|list| {
            list.iter()
                .filter_map(|addr| addr.address().and_then(crate::http::normalized_email))
                .collect()
        })
        .unwrap_or_default()
    };
    let text_list = |value: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        value
            .as_text_list()
            .map(|list| list.iter().flat_map(|id| message_ids(id)).collect())
            .unwrap_or_default()
    };
    let attachments = message
        .attachments()
        .map(|part| FormFile {
            filename: part.attachment_name().unwrap_or("attachment").to_string(),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_lowercase(),
            data: part.contents().to_vec(),
        })
        .collect();
    Ok(Mail {
        provider_id: None,
        message_id: message.message_id().and_then(bare_message_id),
        from_name: from.name().map(str::to_string),
        from: address,
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject: message.subject().unwrap_or_default().to_string(),
        in_reply_to: text_list(message.in_reply_to()),
        references: text_list(message.references()),
        text: message.body_text(0).map(|t| t.into_owned()),
        html: message.body_html(0).map(|h| h.into_owned()),
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: \"Jane Doe\" <Jane@Example.com>\r\n\
To: support@shop.com\r\n\
Subject: =?UTF-8?Q?Wo_ist_meine_Bestellung=3F?=\r\n\
Message-ID: <m2@example.com>\r\n\
In-Reply-To: <m1@shop.com>\r\n\
References: <m0@example.com> <m1@shop.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Gr=FC=DFe\r\n\
--b\r\n\
Content-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b--\r\n";

    #[test]
    fn a_mime_message_is_read_with_its_thread_charset_and_files() {
        let message = parse_message(MAIL.as_bytes()).unwrap();
        let mail = read_mail(&message).unwrap();
        assert_eq!(mail.from, "jane@example.com");
        assert_eq!(mail.from_name.as_deref(), Some("Jane Doe"));
        assert_eq!(mail.to, vec!["support@shop.com"]);
        assert_eq!(mail.subject, "Wo ist meine Bestellung?");
        assert_eq!(mail.message_id.as_deref(), Some("m2@example.com"));
        assert_eq!(mail.in_reply_to, vec!["m1@shop.com"]);
        assert_eq!(mail.references, vec!["m0@example.com", "m1@shop.com"]);
        assert_eq!(mail.text.as_deref().map(str::trim), Some("Grüße"));
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].filename, "invoice.pdf");
        assert_eq!(mail.attachments[0].content_type, "application/pdf");
        assert_eq!(mail.attachments[0].data, b"%PDF-1.4\n");
    }

    #[test]
    fn bytes_that_are_no_message_are_refused() {
        assert!(parse_message(b"").is_err());
        assert!(parse_message(b"\x00\x01\x02").is_err());
    }
}
