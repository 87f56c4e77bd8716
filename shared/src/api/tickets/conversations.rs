//! A ticket's thread: the customer's messages, replies and internal notes. What an entry does
//! to its ticket is the desk's (see [`crate::desk`]).

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::model::{ConversationList, CreatedEntry, NewEntryRequest};
use super::{desk, find_ticket};
use crate::desk::NewEntry;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response, ok};
use crate::outbound::{Publisher, ReplyQueue};

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
pub async fn add(call: Call<'_>, publisher: &Publisher, replies: &ReplyQueue) -> Result<Response<Body>, ApiError> {
    let body: NewEntryRequest = call.validated_body()?;
    let ticket = find_ticket(&call).await?;
    let desk = desk(&call, publisher, Some(replies));
    let attachments = desk.attachments(&ticket.ticket_id, &body.attachments).await?;
    let new = NewEntry {
        entry_id: None,
        role: body.author.r#type,
        author_name: body.author.name,
        content_text: body.content_text,
        content: body.content,
        internal: body.internal,
        provider_message_id: body.provider_message_id,
        attachments,
        email: None,
        chat: None,
    };
    let added = desk.add(ticket, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedEntry {
            success: true,
            conversation: added.entry,
            ticket: added.ticket,
            csat_token: added.csat_token,
        },
    ))
}
