//! What every chat channel's webhook does with a verified message, the same way: find or create
//! the customer by their channel identity, add the message to the conversation's ticket (the
//! customer's open ticket on that channel; one per thread on Slack) or open one, keep the
//! provider's message id (a provider's retry lands once), and answer `message.received`'s data.
//! Receipts of replies sent move their entries' delivery status.

use serde_json::{Value, json};

use super::Webhook;
use crate::clock::rfc3339;
use crate::desk::{CLAIM_OPENS_WITHIN_SECONDS, Desk, NewEntry, NewTicket, new_ticket_id};
use crate::error::ApiError;
use crate::store::attachments::AttachmentRef;
use crate::store::chat::EntryChat;
use crate::store::mail::chat_message_key;
use crate::store::tickets::{Channel, Status, Ticket};

/// A new ticket's subject: the first words of its first message.
const SUBJECT_CHARS: usize = 80;

/// A verified message of a chat channel.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    pub channel: Channel,
    /// The provider's id of the message (a WhatsApp `wamid`, a Messenger `mid`, a Slack `ts`, a
    /// Twilio `MessageSid`, a Dialpad call and state).
    pub provider_message_id: String,
    /// How the customer is known on the channel: `("whatsapp", wa_id)`, `("messenger", psid)`,
    /// `("phone", +number)`, `("slack", user id)`.
    pub identity: (&'static str, String),
    /// The conversation whose messages share a ticket (the sender, or a Slack thread).
    pub conversation: String,
    /// Where replies go, and (Slack) in which thread.
    pub reply_to: String,
    pub thread: Option<String>,
    /// The sender's name as the channel shows it.
    pub name: Option<String>,
    pub text: String,
    /// What the text cannot say: media, buttons, a call's details.
    pub content: Option<Value>,
    /// Files it carried, stored in the attachments bucket.
    pub attachments: Vec<AttachmentRef>,
}

/// Lands a message on the desk; `None` when it landed before (a provider's retry).
pub async fn land(webhook: &Webhook<'_>, message: ChatMessage) -> Result<Option<Value>, ApiError> {
    let services = webhook.services;
    let integration = webhook.integration;
    let org_id = integration.org_id.as_str();
    let store = &services.store;
    let key = chat_message_key(message.channel, &message.provider_message_id);
    if !store.tickets_of_messages(org_id, &[key]).await?.is_empty() {
        return Ok(None);
    }
    let customer_email = customer(webhook, &message).await?;
    let desk = Desk {
        store,
        publisher: &services.publisher,
        replies: None,
        org_id,
        now: webhook.now,
    };
    let entry = NewEntry {
        provider_message_id: Some(message.provider_message_id.clone()),
        content: message.content.clone(),
        attachments: message.attachments.clone(),
        chat: Some(EntryChat {
            integration_id: integration.integration_id.clone(),
            reply_to: message.reply_to.clone(),
            thread: message.thread.clone(),
            sender: message.identity.1.clone(),
        }),
        ..NewEntry::from_customer(message.name.clone(), message.text.clone())
    };
    let (ticket, entry, new_ticket) = match conversation_ticket(webhook, &message).await? {
        Conversation::Open(ticket) => {
            let added = desk.add(*ticket, entry).await?;
            (added.ticket, added.entry, false)
        }
        Conversation::New(ticket_id) => {
            let new = NewTicket {
                ticket_id: Some(ticket_id),
                subject: subject_of(&message),
                channel: message.channel,
                customer_email: Some(customer_email),
                first: Some(entry),
                ..NewTicket::default()
            };
            let (ticket, first) = desk.open(new).await?;
            (ticket, first.ok_or_else(ApiError::internal)?, true)
        }
    };
    Ok(Some(json!({
        "channel": message.channel,
        "ticketId": ticket.ticket_id,
        "ticketNumber": ticket.number,
        "newTicket": new_ticket,
        "messageId": entry.entry_id,
        "providerMessageId": message.provider_message_id,
        "from": {"kind": message.identity.0, "id": message.identity.1, "name": message.name},
        "text": message.text,
        "content": message.content,
        "receivedAt": entry.created_at,
    })))
}

/// Applies a provider's receipt to the reply sent under `provider_id`.
pub async fn receipt(
    webhook: &Webhook<'_>,
    channel: Channel,
    provider_id: &str,
    status: &str,
    error: Option<String>,
) -> Result<(), ApiError> {
    let found = webhook
        .services
        .store
        .apply_receipt(
            &webhook.integration.org_id,
            channel,
            provider_id,
            status,
            error,
            &rfc3339(webhook.now),
        )
        .await?;
    if !found {
        tracing::info!(channel = channel.as_str(), provider_id, "receipt for no reply of ours");
    }
    Ok(())
}

/// The customer the channel identity names, created (with an address of the reserved
/// `.invalid` domain, never sent to) when none has it; answers their email.
async fn customer(webhook: &Webhook<'_>, message: &ChatMessage) -> Result<String, ApiError> {
    let store = &webhook.services.store;
    let org_id = webhook.integration.org_id.as_str();
    let (kind, value) = (message.identity.0, message.identity.1.as_str());
    if let Some(found) = store.customer_by_identity(org_id, kind, value).await?
        && let Some(email) = found.fields.get("email").and_then(Value::as_str)
    {
        return Ok(email.to_string());
    }
    let digits_or_id: String = value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    let email = format!("{kind}-{digits_or_id}@{}.invalid", message.channel.as_str());
    let mut fields = serde_json::Map::from_iter([("email".to_string(), json!(email))]);
    if let Some(name) = &message.name {
        fields.insert("name".into(), json!(name));
    }
    match kind {
        "phone" => fields.insert("phone".into(), json!(value)),
        _ => fields.insert("identities".into(), json!({kind: value})),
    };
    store
        .upsert_customer(org_id, &email, &fields, &rfc3339(webhook.now))
        .await?;
    Ok(email)
}

/// Where a message goes.
enum Conversation {
    /// The conversation's ticket, not closed.
    Open(Box<Ticket>),
    /// A ticket to open under this id (the conversation now points to it).
    New(String),
}

/// The conversation's ticket, or the id of the one to open: claimed for the conversation first,
/// so that two first messages at once open one ticket.
async fn conversation_ticket(webhook: &Webhook<'_>, message: &ChatMessage) -> Result<Conversation, ApiError> {
    let store = &webhook.services.store;
    let org_id = webhook.integration.org_id.as_str();
    let (channel, conversation) = (message.channel, message.conversation.as_str());
    let now = webhook.now.unix_timestamp();
    // Two rounds: a claim lost to a message opening the ticket at the same instant reads again.
    for _ in 0..2 {
        let pointed = store.conversation_ticket(org_id, channel, conversation).await?;
        if let Some((ticket_id, claimed_at)) = &pointed {
            match store.get_ticket(org_id, ticket_id).await? {
                Some(ticket) if ticket.status != Status::Closed => return Ok(Conversation::Open(Box::new(ticket))),
                Some(_) => {}
                // Claimed and not there yet: another message is opening it, unless the claim is
                // so old that its opening failed.
                None if now - claimed_at < CLAIM_OPENS_WITHIN_SECONDS => break,
                None => {}
            }
        }
        let ticket_id = new_ticket_id();
        let replacing = pointed.as_ref().map(|(id, _)| id.as_str());
        if store
            .claim_conversation(org_id, channel, conversation, &ticket_id, replacing, now)
            .await?
        {
            return Ok(Conversation::New(ticket_id));
        }
    }
    // The other message is opening the ticket right now: the provider's retry will find it.
    Err(ApiError::conflict(
        "this conversation's ticket is being opened by another message; retry",
    ))
}

fn subject_of(message: &ChatMessage) -> String {
    let text = message.text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut subject: String = text.chars().take(SUBJECT_CHARS).collect();
    if text.chars().count() > SUBJECT_CHARS {
        subject.push('…');
    }
    if subject.is_empty() {
        subject = format!("{} conversation", message.channel.as_str());
    }
    subject
}
