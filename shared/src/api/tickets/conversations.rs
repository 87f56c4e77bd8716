//! A ticket's thread: the customer's messages, replies and internal notes.
//!
//! What an entry does to its ticket, as a desk does: a public reply by an agent or the AI is the
//! first response when there was none and puts a `new` or `open` ticket in `pending` (waiting on
//! the customer); a customer's message reopens a `pending` or `solved` ticket; internal notes and
//! system entries move nothing. A closed ticket takes no more entries (409).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

use super::model::{AuthorType, ConversationList, CreatedEntry, NewEntryRequest, Status};
use super::{find_ticket, publish_event};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response, ok};
use crate::ids::new_ulid;
use crate::outbound::Publisher;
use crate::store::attachments::AttachmentRef;
use crate::store::csat::CsatToken;
use crate::store::tickets::{Entry, EntryAuthor, EntryEffect, Ticket};

/// The attachments an entry names: each the organization's and on no other ticket (one from a
/// presigned upload counts as announced; its download checks that the file came).
async fn attachments_of(call: &Call<'_>, ticket: &Ticket, ids: &[String]) -> Result<Vec<AttachmentRef>, ApiError> {
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        let attachment = call.store().get_attachment(call.org_id(), id).await?;
        match attachment.filter(|a| a.ticket_id.as_deref().is_none_or(|on| on == ticket.ticket_id)) {
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

/// The thread, oldest first.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/conversations", operation_id = "tickets_conversations",
    tag = "Support desk", params(("id" = String, Path, description = "The ticket's id or number")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let ticket = find_ticket(&call).await?;
    let entries = call.store().list_entries(call.org_id(), &ticket.ticket_id).await?;
    ok(&ConversationList {
        success: true,
        conversations: entries.into_iter().collect(),
    })
}

/// Add a message, a reply or an internal note. A public reply by an agent or the AI publishes
/// `reply.sent`; every entry publishes `conversation.created`.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/conversations", operation_id = "tickets_add_conversation",
    tag = "Support desk", request_body = NewEntryRequest,
    params(("id" = String, Path, description = "The ticket's id or number")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedEntry), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn add(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: NewEntryRequest = call.validated_body()?;
    let ticket = find_ticket(&call).await?;
    if ticket.status == Status::Closed {
        return Err(ApiError::conflict("a closed ticket takes no more entries"));
    }
    let attachments = attachments_of(&call, &ticket, &body.attachments).await?;
    let now = rfc3339(call.now());
    let author = body.author.r#type;
    let reply = matches!(author, AuthorType::Agent | AuthorType::Ai) && !body.internal;
    let entry = Entry {
        entry_id: format!("cnv_{}", new_ulid()),
        ticket_id: ticket.ticket_id.clone(),
        author: EntryAuthor {
            role: author,
            name: body.author.name,
        },
        content_text: body.content_text,
        content: body.content,
        direction: match (author, body.internal) {
            (_, true) => "internal",
            (AuthorType::Customer, _) => "inbound",
            _ => "outbound",
        }
        .to_string(),
        channel: ticket.channel,
        internal: body.internal,
        provider_message_id: body.provider_message_id,
        attachments,
        created_at: now.clone(),
    };
    let status = next_status(ticket.status, author, body.internal);
    // Every AI reply carries a CSAT token, so that its customer can rate it.
    let csat = (reply && author == AuthorType::Ai).then(|| new_csat_token(&ticket, &entry, &call));
    let effect = EntryEffect {
        status,
        first_response: reply,
        csat: csat.as_ref().map(|(token, secret, _)| (token, secret.as_str())),
    };
    if !call.store().add_entry(&ticket, &entry, &effect).await? {
        return Err(super::crud::changed_meanwhile());
    }
    let ticket = after(ticket, &effect, &now);
    let created = json!({"ticketId": ticket.ticket_id, "ticketNumber": ticket.number, "conversation": entry});
    publish_event(&call, publisher, "conversation.created", &created).await?;
    if reply {
        // Seed 000's payload (`emailId`, `replyId`, `category`), with the ticket and channel.
        let sent = json!({
            "emailId": null, "replyId": entry.entry_id, "category": ticket.category,
            "ticketId": ticket.ticket_id, "ticketNumber": ticket.number, "channel": ticket.channel,
            "author": entry.author,
        });
        publish_event(&call, publisher, "reply.sent", &sent).await?;
    }
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedEntry {
            success: true,
            conversation: entry,
            ticket,
            csat_token: csat.map(|(_, _, shown)| shown),
        },
    ))
}

/// A CSAT token for an AI reply: the stored record, its secret, and the token shown once.
fn new_csat_token(ticket: &Ticket, reply: &Entry, call: &Call<'_>) -> (CsatToken, String, String) {
    let secret = crate::ids::random_base32(CSAT_SECRET_CHARS);
    let now = call.now();
    let token = CsatToken {
        org_id: ticket.org_id.clone(),
        ticket_id: ticket.ticket_id.clone(),
        ticket_number: ticket.number,
        reply_id: reply.entry_id.clone(),
        customer_email: ticket.customer_email.clone(),
        issued_at: rfc3339(now),
        issued_epoch: now.unix_timestamp(),
        rating: None,
    };
    let shown = format!("csat_{}_{secret}", ticket.org_id);
    (token, secret, shown)
}

/// 52 base32 characters: 260 random bits.
const CSAT_SECRET_CHARS: usize = 52;

/// The status an entry moves its ticket to, if it moves it.
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
