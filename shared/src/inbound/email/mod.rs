//! The mailbox doors into the desk, on `email-webhooks`:
//!
//! - `POST /api/webhooks/resend` (and its alias `/api/webhooks/email`): Resend's `email.received`
//!   webhook, signed the Svix way; the mail itself is fetched from Resend's API ([`resend`]).
//! - `POST /api/webhooks/inbound-email`: a raw RFC 822 message, as a mail server or an IMAP sync
//!   forwards it, with the mailbox's token ([`raw`]).
//!
//! Both find the mailbox by a recipient address, then [`land`] the mail the same way: the
//! organization's own senders are ignored, blocked senders dropped; the mail threads onto the
//! ticket whose mail its `In-Reply-To`/`References` name, else the customer's email ticket with
//! the same subject (`Re:`, `AW:`, `Fwd:`, `WG:` stripped) updated within 14 days, else a new
//! ticket; its attachments go to the attachments bucket; `email.received` is published. A mail
//! lands once: the provider's id is claimed by the pipeline, and its Message-ID is stored with its
//! entry, so the same mail through both doors is one entry too.

pub mod raw;
pub mod resend;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::json;
use time::Duration;

use super::{InboundServices, Processed, Webhook, accept};
use crate::blob::FileStore;
use crate::clock::rfc3339;
use crate::desk::files::{FormFile, store_file};
use crate::desk::{Desk, NewEntry, NewTicket, new_entry_id, new_ticket_id};
use crate::error::ApiError;
use crate::http::{Route, error_response, find_route};
use crate::mail::{html_to_text, is_own_sender, normalized_subject, resend_api_url};
use crate::runtime::Error;
use crate::store::attachments::AttachmentRef;
use crate::store::mail::EntryEmail;
use crate::store::tickets::{Channel, Status, Ticket};

/// A mail threads by subject onto a ticket of the same customer updated this recently.
const SUBJECT_THREAD_DAYS: i64 = 14;

/// A mail's text is kept up to this many characters (the rest is cut, and the cut is said).
const MAX_TEXT_CHARS: usize = 100_000;

/// At most this many attachments of a mail are kept.
const MAX_ATTACHMENTS: usize = 20;

/// What the email doors need besides the pipeline's services.
pub struct EmailDoor {
    pub files: FileStore,
    /// Calls Resend's API.
    pub http: reqwest::Client,
    /// Resend's API (`https://api.resend.com`; tests point it at a local stand-in).
    pub resend_api_url: String,
}

impl EmailDoor {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            files: FileStore::from_env(config)?,
            http: crate::runtime::provider_client()?,
            resend_api_url: resend_api_url()?,
        })
    }
}

#[derive(Clone, Copy)]
pub enum EmailRoute {
    Resend,
    Raw,
}

/// `email-webhooks`' routes: signatures and tokens, not keys, guard them.
pub const ROUTES: [Route<EmailRoute>; 3] = [
    Route::public(Method::POST, "/api/webhooks/resend", EmailRoute::Resend),
    Route::public(Method::POST, "/api/webhooks/email", EmailRoute::Resend),
    Route::public(Method::POST, "/api/webhooks/inbound-email", EmailRoute::Raw),
];

pub async fn handle(services: &InboundServices, door: &EmailDoor, request: Request) -> Response<Body> {
    let outcome = match find_route(&ROUTES, &request).map(|route| route.route) {
        Ok(EmailRoute::Resend) => accept(services, &resend::Resend { door }, &request).await,
        Ok(EmailRoute::Raw) => accept(services, &raw::RawMail { door }, &request).await,
        Err(error) => Err(error),
    };
    outcome.unwrap_or_else(|error| error_response(&error))
}

/// A received mail, from either door.
#[derive(Debug, Default, Clone)]
pub struct Mail {
    /// The provider's id (Resend's email id).
    pub provider_id: Option<String>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub from_name: Option<String>,
    /// Lowercased.
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<FormFile>,
}

/// Lands a verified mail on the desk (see the module's documentation).
pub async fn land(webhook: &Webhook<'_>, door: &EmailDoor, mail: Mail) -> Result<Processed, ApiError> {
    let services = webhook.services;
    let integration = webhook.integration;
    let org_id = integration.org_id.as_str();
    let mailbox = integration.mailbox.as_ref().ok_or_else(ApiError::internal)?;
    if is_own_sender(mailbox, &mail.from) {
        tracing::info!(org_id, "mail from the organization's own sender ignored");
        return Ok(Processed::nothing());
    }
    if let Some(blocked) = services.store.blocking_entry(org_id, &mail.from).await? {
        tracing::info!(org_id, blocked_by = %blocked.sender, "mail from a blocked sender dropped");
        return Ok(Processed::nothing());
    }
    let message_id = mail
        .message_id
        .clone()
        .unwrap_or_else(|| format!("{}@hookgate.invalid", new_entry_id()));
    let desk = Desk {
        store: &services.store,
        publisher: &services.publisher,
        org_id,
        now: webhook.now,
        replies: None,
    };
    let threaded = thread_of(&desk, &mail, &message_id).await?;
    let Some(thread) = threaded else {
        tracing::info!(org_id, "mail stored before (its Message-ID is known): not stored again");
        return Ok(Processed::nothing());
    };
    services
        .store
        .upsert_customer(
            org_id,
            &mail.from,
            &serde_json::Map::from_iter([("email".to_string(), json!(mail.from))]),
            &rfc3339(webhook.now),
        )
        .await?;
    let ticket_id = thread.as_ref().map_or_else(new_ticket_id, |t| t.ticket_id.clone());
    let entry_id = new_entry_id();
    let attachments = keep_attachments(webhook, door, &ticket_id, &entry_id, mail.attachments).await?;
    let email = EntryEmail {
        from: mail.from.clone(),
        to: mail.to,
        cc: mail.cc,
        subject: mail.subject.clone(),
        in_reply_to: mail.in_reply_to,
        references: mail.references,
        mailbox_id: integration.integration_id.clone(),
        provider_id: mail.provider_id.clone(),
    };
    let entry = NewEntry {
        entry_id: Some(entry_id),
        provider_message_id: Some(message_id.clone()),
        email: Some(email),
        attachments,
        content: mail.html.as_ref().map(|html| json!({"html": html})),
        ..NewEntry::from_customer(
            mail.from_name.clone(),
            body_text(mail.text.as_deref(), mail.html.as_deref()),
        )
    };
    let (ticket, entry, new_ticket) = match thread {
        Some(ticket) => {
            let added = desk.add(ticket, entry).await?;
            (added.ticket, added.entry, false)
        }
        None => {
            let new = NewTicket {
                ticket_id: Some(ticket_id),
                subject: subject_or_default(&mail.subject),
                channel: Channel::Email,
                customer_email: Some(mail.from.clone()),
                first: Some(entry),
                ..NewTicket::default()
            };
            let (ticket, first) = desk.open(new).await?;
            (ticket, first.ok_or_else(ApiError::internal)?, true)
        }
    };
    Ok(Processed::publish(
        "email.received",
        json!({
            "emailId": entry.entry_id,
            "providerEmailId": mail.provider_id,
            "messageId": message_id,
            "ticketId": ticket.ticket_id,
            "ticketNumber": ticket.number,
            "newTicket": new_ticket,
            "from": mail.from,
            "fromName": mail.from_name,
            "to": entry.email.as_ref().map(|e| &e.to),
            "subject": mail.subject,
            "attachments": entry.attachments,
            "receivedAt": entry.created_at,
        }),
    ))
}

/// The ticket a mail belongs to: `Some(None)` for a new one, `None` when the mail itself was
/// stored before.
async fn thread_of(desk: &Desk<'_>, mail: &Mail, message_id: &str) -> Result<Option<Option<Ticket>>, ApiError> {
    let mut ids = vec![message_id.to_string()];
    ids.extend(mail.in_reply_to.iter().cloned());
    // The newest references first: the closest mail in the thread decides.
    ids.extend(mail.references.iter().rev().cloned());
    let known = desk.store.tickets_of_messages(desk.org_id, &ids).await?;
    if known.contains_key(message_id) {
        return Ok(None);
    }
    let by_reference = ids[1..].iter().find_map(|id| known.get(id));
    if let Some(ticket_id) = by_reference
        && let Some(ticket) = desk.store.get_ticket(desk.org_id, ticket_id).await?
        && ticket.status != Status::Closed
    {
        return Ok(Some(Some(ticket)));
    }
    let subject = normalized_subject(&mail.subject);
    if subject.is_empty() {
        return Ok(Some(None));
    }
    let since = rfc3339(desk.now - Duration::days(SUBJECT_THREAD_DAYS));
    let recent = desk.store.recent_email_tickets(desk.org_id, &mail.from, &since).await?;
    Ok(Some(recent.into_iter().find(|ticket| {
        ticket.status != Status::Closed && normalized_subject(&ticket.subject) == subject
    })))
}

/// Stores a mail's attachments in the bucket, linked to its ticket and entry. A file the desk
/// cannot take (a malformed type or name) is skipped and logged, not the whole mail.
async fn keep_attachments(
    webhook: &Webhook<'_>,
    door: &EmailDoor,
    ticket_id: &str,
    entry_id: &str,
    files: Vec<FormFile>,
) -> Result<Vec<AttachmentRef>, ApiError> {
    let org_id = webhook.integration.org_id.as_str();
    let now = rfc3339(webhook.now);
    let mut kept = Vec::new();
    for file in files.into_iter().take(MAX_ATTACHMENTS) {
        let links = (Some(ticket_id.to_string()), Some(entry_id.to_string()));
        match store_file(&webhook.services.store, &door.files, org_id, &now, Some(file), links).await {
            Ok(attachment) => kept.push(attachment.into()),
            Err(error) if error.status.is_client_error() => {
                tracing::warn!(org_id, error = %error.message, "a mail's attachment skipped");
            }
            Err(error) => return Err(error),
        }
    }
    Ok(kept)
}

fn subject_or_default(subject: &str) -> String {
    let subject = subject.trim();
    if subject.is_empty() {
        "(no subject)".to_string()
    } else {
        subject.chars().take(250).collect()
    }
}

/// The entry's text: the plain part, else the HTML part's text; cut at [`MAX_TEXT_CHARS`].
pub fn body_text(text: Option<&str>, html: Option<&str>) -> String {
    let text = match (text.map(str::trim).filter(|t| !t.is_empty()), html) {
        (Some(text), _) => text.to_string(),
        (None, Some(html)) => html_to_text(html),
        (None, None) => String::new(),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        let mut cut: String = text.chars().take(MAX_TEXT_CHARS).collect();
        cut.push_str("\n[message cut: it was longer than 100000 characters]");
        return cut;
    }
    text
}
