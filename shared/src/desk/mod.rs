//! What every door into the desk does the same way: open a ticket with its first message, and
//! add an entry to a ticket, each stored and published (a reply on an email ticket also queued
//! for sending); and store the files they carry ([`files`]). `/api/v1/tickets`, the widget and
//! the email doors (and the channels to come) call these, so a ticket is opened and a reply
//! published one way only.

pub mod files;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::ids::new_ulid;
use crate::outbound::{Publisher, ReplyMessage, ReplyQueue, publish};
use crate::store::Store;
use crate::store::attachments::AttachmentRef;
use crate::store::chat::EntryChat;
use crate::store::csat::CsatToken;
use crate::store::mail::{EntryDelivery, EntryEmail};
use crate::store::sla::ticket_sla;
use crate::store::tickets::{AuthorType, Channel, Priority, Status};
use crate::store::tickets::{Entry, EntryAuthor, EntryEffect, Ticket};

/// The organization's desk at one instant.
pub struct Desk<'a> {
    pub store: &'a Store,
    pub publisher: &'a Publisher,
    /// Where replies on email tickets go to be sent; doors that write no replies have none.
    pub replies: Option<&'a ReplyQueue>,
    pub org_id: &'a str,
    pub now: OffsetDateTime,
}

/// A ticket to open.
#[derive(Default)]
pub struct NewTicket {
    /// Its id when the caller chose it (a door that claims it first); else a new one.
    pub ticket_id: Option<String>,
    pub subject: String,
    pub priority: Priority,
    pub channel: Channel,
    pub customer_email: Option<String>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub custom_fields: Map<String, Value>,
    pub order_numbers: Vec<String>,
    /// The customer's first message.
    pub first: Option<NewEntry>,
}

/// An entry to add.
pub struct NewEntry {
    /// Its id when the caller chose it (a door that de-duplicates claims it first).
    pub entry_id: Option<String>,
    pub role: AuthorType,
    pub author_name: Option<String>,
    pub content_text: String,
    pub content: Option<Value>,
    pub internal: bool,
    pub provider_message_id: Option<String>,
    pub attachments: Vec<AttachmentRef>,
    /// A mail's addressing and threading.
    pub email: Option<EntryEmail>,
    /// A chat message's origin.
    pub chat: Option<EntryChat>,
}

impl NewEntry {
    /// A customer's message.
    pub fn from_customer(name: Option<String>, text: String) -> Self {
        Self {
            entry_id: None,
            role: AuthorType::Customer,
            author_name: name,
            content_text: text,
            content: None,
            internal: false,
            provider_message_id: None,
            attachments: Vec::new(),
            email: None,
            chat: None,
        }
    }
}

/// An entry added, and what it did.
pub struct Added {
    pub entry: Entry,
    /// The ticket as the entry left it.
    pub ticket: Ticket,
    /// An AI reply's CSAT token, to show once.
    pub csat_token: Option<String>,
}

/// A ticket whose status changed between its read and a write: nothing was written.
pub fn changed_meanwhile() -> ApiError {
    ApiError::conflict("the ticket changed meanwhile; read it again and retry")
}

/// A ticket's subject from its first message: its first line, at most 80 characters.
pub fn subject_of(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    let mut subject: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        subject.push('…');
    }
    subject
}

/// A new ticket's id.
pub fn new_ticket_id() -> String {
    format!("tkt_{}", new_ulid())
}

/// A new entry's id.
pub fn new_entry_id() -> String {
    format!("cnv_{}", new_ulid())
}

/// 52 base32 characters: 260 random bits.
const CSAT_SECRET_CHARS: usize = 52;

/// A ticket claimed for a conversation (a chat channel's, a widget session's) is opened within
/// this many seconds of the claim, or its opening failed and another message may claim anew.
pub const CLAIM_OPENS_WITHIN_SECONDS: i64 = 30;

impl Desk<'_> {
    fn at(&self) -> String {
        rfc3339(self.now)
    }

    /// The attachments an entry on `ticket_id` names: each the organization's and on no other
    /// ticket (one from a presigned upload counts as announced; its download checks that the
    /// file came).
    pub async fn attachments(&self, ticket_id: &str, ids: &[String]) -> Result<Vec<AttachmentRef>, ApiError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let attachment = self.store.get_attachment(self.org_id, id).await?;
            match attachment.filter(|a| a.ticket_id.as_deref().is_none_or(|on| on == ticket_id)) {
                Some(attachment) => found.push(attachment.into()),
                None => {
                    return Err(ApiError::invalid_input(
                        "attachments",
                        format!("no attachment {id} for this ticket"),
                    ));
                }
            }
        }
        Ok(found)
    }

    /// Publishes one of the desk's events.
    pub async fn publish(&self, event: &str, data: &Value) -> Result<(), ApiError> {
        publish(self.store, self.publisher, self.org_id, event, &self.at(), data).await?;
        Ok(())
    }

    fn entry(&self, ticket_id: &str, channel: Channel, new: NewEntry) -> Entry {
        let direction = match (new.role, new.internal) {
            (_, true) => "internal",
            (AuthorType::Customer, _) => "inbound",
            _ => "outbound",
        };
        Entry {
            entry_id: new.entry_id.unwrap_or_else(new_entry_id),
            ticket_id: ticket_id.to_string(),
            author: EntryAuthor {
                role: new.role,
                name: new.author_name,
            },
            content_text: new.content_text,
            content: new.content,
            direction: direction.into(),
            channel,
            internal: new.internal,
            provider_message_id: new.provider_message_id,
            attachments: new.attachments,
            email: new.email,
            chat: new.chat,
            delivery: None,
            created_at: self.at(),
        }
    }

    /// Opens a ticket (numbered, with the SLA targets its policy gives) with its first message,
    /// and publishes `ticket.created` and `conversation.created`.
    pub async fn open(&self, new: NewTicket) -> Result<(Ticket, Option<Entry>), ApiError> {
        let ticket_id = new.ticket_id.unwrap_or_else(new_ticket_id);
        let first = new.first.map(|first| self.entry(&ticket_id, new.channel, first));
        // Two independent reads, one round trip.
        let (policies, number) = futures_util::future::try_join(
            self.store.list_sla_policies(self.org_id),
            self.store.next_ticket_number(self.org_id),
        )
        .await?;
        let ticket = Ticket {
            org_id: self.org_id.to_string(),
            number,
            ticket_id,
            subject: new.subject,
            status: Status::New,
            priority: new.priority,
            channel: new.channel,
            customer_email: new.customer_email,
            assignee: new.assignee,
            team: new.team,
            category: new.category,
            tags: new.tags,
            custom_fields: new.custom_fields,
            order_numbers: new.order_numbers,
            message_count: u32::from(first.is_some()),
            escalation: None,
            sla: ticket_sla(&policies, new.channel, new.priority, self.now),
            csat: None,
            created_at: self.at(),
            updated_at: self.at(),
            first_response_at: None,
            solved_at: None,
        };
        self.store.create_ticket(&ticket, first.as_ref()).await?;
        self.publish("ticket.created", &json!(ticket)).await?;
        if let Some(first) = &first {
            let created = json!({"ticketId": ticket.ticket_id, "ticketNumber": ticket.number, "conversation": first});
            self.publish("conversation.created", &created).await?;
        }
        Ok((ticket, first))
    }

    /// Adds an entry to a ticket, moving it as a desk does, and publishes `conversation.created`
    /// and, for a public reply by an agent or the AI, `reply.sent` (and `chat.message.sent` on a
    /// widget ticket). Every AI reply carries a CSAT token. A closed ticket, or one whose status
    /// changed meanwhile, takes nothing (409).
    pub async fn add(&self, ticket: Ticket, new: NewEntry) -> Result<Added, ApiError> {
        if ticket.status == Status::Closed {
            return Err(ApiError::conflict("a closed ticket takes no more entries"));
        }
        let (role, internal) = (new.role, new.internal);
        let reply = matches!(role, AuthorType::Agent | AuthorType::Ai) && !internal;
        let mut entry = self.entry(&ticket.ticket_id, ticket.channel, new);
        let sent_by_provider = reply && sends_replies(ticket.channel);
        if sent_by_provider {
            if self.replies.is_none() {
                tracing::error!(
                    channel = ticket.channel.as_str(),
                    "a reply to send, and no reply queue to send it"
                );
                return Err(ApiError::internal());
            }
            entry.delivery = Some(EntryDelivery::queued(&self.at()));
        }
        let csat = (reply && role == AuthorType::Ai).then(|| self.csat_token(&ticket, &entry));
        let effect = EntryEffect {
            status: next_status(ticket.status, role, internal),
            first_response: reply,
            csat: csat.as_ref().map(|(token, secret, _)| (token, secret.as_str())),
        };
        if !self.store.add_entry(&ticket, &entry, &effect).await? {
            return Err(changed_meanwhile());
        }
        let ticket = after(ticket, &effect, &entry.created_at);
        if let (true, Some(replies)) = (sent_by_provider, self.replies) {
            self.queue_reply(replies, &mut entry).await;
        }
        let created = json!({"ticketId": ticket.ticket_id, "ticketNumber": ticket.number, "conversation": entry});
        self.publish("conversation.created", &created).await?;
        if reply {
            // Seed 000's payload (`emailId`, `replyId`, `category`), with the ticket and channel;
            // `emailId` is the customer's mail the reply answers, on email tickets.
            let answered = match ticket.channel == Channel::Email {
                true => self.answered_mail(&ticket.ticket_id, &entry.created_at).await?,
                false => None,
            };
            let sent = json!({
                "emailId": answered, "replyId": entry.entry_id, "category": ticket.category,
                "ticketId": ticket.ticket_id, "ticketNumber": ticket.number, "channel": ticket.channel,
                "author": entry.author,
            });
            self.publish("reply.sent", &sent).await?;
            if ticket.channel == Channel::Widget {
                let chat = json!({"ticketId": ticket.ticket_id, "messageId": entry.entry_id,
                    "message": entry.content_text, "author": entry.author, "sentAt": entry.created_at});
                self.publish("chat.message.sent", &chat).await?;
            }
        }
        Ok(Added {
            entry,
            ticket,
            csat_token: csat.map(|(_, _, shown)| shown),
        })
    }

    /// Solves a ticket that is not solved or closed yet, and publishes `ticket.updated` and
    /// `ticket.solved`; a ticket already solved or closed is answered as it is.
    pub async fn solve(&self, ticket: Ticket) -> Result<Ticket, ApiError> {
        if matches!(ticket.status, Status::Solved | Status::Closed) {
            return Ok(ticket);
        }
        let previous = ticket.status;
        let solved = Ticket {
            status: Status::Solved,
            solved_at: Some(self.at()),
            ..ticket
        };
        let solved = self
            .store
            .update_ticket(&solved, previous, false)
            .await?
            .ok_or_else(changed_meanwhile)?;
        self.publish("ticket.updated", &json!(solved)).await?;
        self.publish("ticket.solved", &json!(solved)).await?;
        Ok(solved)
    }

    /// The entry id of the customer's latest mail on the ticket up to `until`.
    async fn answered_mail(&self, ticket_id: &str, until: &str) -> Result<Option<String>, ApiError> {
        let entries = self.store.list_entries(self.org_id, ticket_id).await?;
        Ok(answered_message(&entries, until).map(|e| e.entry_id.clone()))
    }

    /// Queues a reply for sending; a reply that cannot be queued is marked failed at once, so
    /// that its status never says `queued` for a message no worker will see.
    async fn queue_reply(&self, replies: &ReplyQueue, entry: &mut Entry) {
        let message = ReplyMessage {
            org_id: self.org_id.to_string(),
            ticket_id: entry.ticket_id.clone(),
            entry_id: entry.entry_id.clone(),
        };
        if replies.enqueue(&message).await.is_ok() {
            return;
        }
        let failed = EntryDelivery {
            status: "failed".into(),
            error: Some("the reply could not be queued for sending".into()),
            ..EntryDelivery::queued(&self.at())
        };
        if let Err(e) = self
            .store
            .set_entry_delivery(self.org_id, &entry.ticket_id, &entry.entry_id, &failed)
            .await
        {
            tracing::error!(error = ?e, entry_id = %entry.entry_id, "marking an unqueued reply failed");
        }
        entry.delivery = Some(failed);
    }

    /// A CSAT token for an AI reply: the stored record, its secret, and the token shown once.
    fn csat_token(&self, ticket: &Ticket, reply: &Entry) -> (CsatToken, String, String) {
        let secret = crate::ids::random_base32(CSAT_SECRET_CHARS);
        let token = CsatToken {
            org_id: ticket.org_id.clone(),
            ticket_id: ticket.ticket_id.clone(),
            ticket_number: ticket.number,
            reply_id: reply.entry_id.clone(),
            customer_email: ticket.customer_email.clone(),
            issued_at: self.at(),
            issued_epoch: self.now.unix_timestamp(),
            rating: None,
        };
        let shown = format!("csat_{}_{secret}", ticket.org_id);
        (token, secret, shown)
    }
}

/// The customer's latest mail or chat message in `entries` up to `until`: what a reply written
/// then answers, and where it goes.
pub fn answered_message<'a>(entries: &'a [Entry], until: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .filter(|e| e.direction == "inbound" && (e.email.is_some() || e.chat.is_some()))
        .filter(|e| e.created_at.as_str() <= until)
        .max_by(|a, b| a.created_at.cmp(&b.created_at))
}

/// Whether replies on a channel's tickets are sent through a provider (the widget's show in the
/// visitor's history; a phone ticket's are for the agent's notes of the call).
pub fn sends_replies(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Email | Channel::Whatsapp | Channel::Messenger | Channel::Slack | Channel::Sms
    )
}

/// The status an entry moves its ticket to, if it moves it: a public reply by an agent or the
/// AI puts a `new` or `open` ticket in `pending`; a customer's message reopens a `pending` or
/// `solved` one; notes and system entries move nothing.
fn next_status(current: Status, author: AuthorType, internal: bool) -> Option<Status> {
    match (author, internal, current) {
        (_, true, _) | (AuthorType::System, _, _) => None,
        (AuthorType::Agent | AuthorType::Ai, false, Status::New | Status::Open) => Some(Status::Pending),
        (AuthorType::Customer, false, Status::Pending | Status::Solved) => Some(Status::Open),
        _ => None,
    }
}

/// The ticket as the entry left it (what the store's update did), without reading it again.
fn after(mut ticket: Ticket, effect: &EntryEffect<'_>, now: &str) -> Ticket {
    ticket.message_count += 1;
    ticket.updated_at = now.to_string();
    if let Some(status) = effect.status {
        ticket.status = status;
        if status == Status::Open {
            ticket.solved_at = None;
        }
    }
    if effect.first_response && ticket.first_response_at.is_none() {
        ticket.first_response_at = Some(now.to_string());
    }
    ticket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_the_first_line_shortened() {
        assert_eq!(subject_of("Where is my order?\nIt is late."), "Where is my order?");
        let long = "x".repeat(100);
        assert_eq!(subject_of(&long).chars().count(), 81);
    }

    #[test]
    fn replies_wait_on_the_customer_and_customers_reopen() {
        assert_eq!(
            next_status(Status::New, AuthorType::Agent, false),
            Some(Status::Pending)
        );
        assert_eq!(next_status(Status::Open, AuthorType::Ai, false), Some(Status::Pending));
        assert_eq!(next_status(Status::Pending, AuthorType::Agent, false), None);
        assert_eq!(
            next_status(Status::Pending, AuthorType::Customer, false),
            Some(Status::Open)
        );
        assert_eq!(
            next_status(Status::Solved, AuthorType::Customer, false),
            Some(Status::Open)
        );
        assert_eq!(next_status(Status::New, AuthorType::Customer, false), None);
        assert_eq!(
            next_status(Status::Open, AuthorType::Agent, true),
            None,
            "internal notes move nothing"
        );
        assert_eq!(next_status(Status::Pending, AuthorType::System, false), None);
    }
}
