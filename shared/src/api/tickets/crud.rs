//! Open, list, read and change tickets.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use super::model::{
    Channel, CreateTicketRequest, Priority, Status, TicketListParams, TicketPageResponse, TicketResponse,
    UpdateTicketRequest, normalized_tags,
};
use super::{desk, find_ticket, publish_event};
use crate::clock::{normalized_rfc3339, parse_rfc3339, rfc3339};
use crate::desk::{NewEntry, NewTicket, changed_meanwhile};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response, normalized_email, ok};
use crate::outbound::Publisher;
use crate::store::encode_cursor;
use crate::store::sla::ticket_sla;
use crate::store::tickets::{Ticket, TicketFilter, ticket_list_index_pk};

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;

/// Open a ticket, with the customer's first message when given.
#[utoipa::path(post, path = "/api/v1/tickets", operation_id = "tickets_create", tag = "Support desk",
    request_body = CreateTicketRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = TicketResponse), (status = "4XX", body = ErrorBody)))]
pub async fn create(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: CreateTicketRequest = call.validated_body()?;
    let first = body.message.map(|message| NewEntry {
        content: message.content,
        ..NewEntry::from_customer(message.author_name, message.content_text)
    });
    let new = NewTicket {
        ticket_id: None,
        subject: body.subject.trim().to_string(),
        priority: body.priority,
        channel: body.channel,
        customer_email: body.customer_email.as_deref().and_then(normalized_email),
        assignee: body.assignee,
        team: body.team,
        category: body.category,
        tags: normalized_tags(&body.tags),
        custom_fields: body.custom_fields,
        order_numbers: body.order_numbers,
        first,
    };
    let (ticket, _) = desk(&call, publisher, None).open(new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &TicketResponse { success: true, ticket },
    ))
}

/// The organization's tickets, newest first, filtered, one page at a time.
#[utoipa::path(get, path = "/api/v1/tickets", operation_id = "tickets_list", tag = "Support desk",
    params(TicketListParams), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = TicketPageResponse), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let filter = filter(&call)?;
    let (limit, start) = call.page(
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
        &ticket_list_index_pk(call.org_id(), &filter),
    )?;
    let page = call.store().list_tickets(call.org_id(), &filter, limit, start).await?;
    let counted = call.store().ticket_counts(call.org_id()).await?;
    let counts_by_status = Status::ALL
        .iter()
        .map(|status| {
            let name = status.as_str();
            (name.to_string(), counted.get(name).copied().unwrap_or(0))
        })
        .collect();
    ok(&TicketPageResponse {
        success: true,
        counts_by_status,
        has_more: page.next.is_some(),
        next_cursor: page.next.as_ref().map(encode_cursor),
        tickets: page.tickets.into_iter().collect(),
    })
}

/// The list's filters from the query string, each checked and normalized.
fn filter(call: &Call<'_>) -> Result<TicketFilter, ApiError> {
    let timestamp = |field: &str| -> Result<Option<String>, ApiError> {
        call.query(field)
            .map(|text| {
                normalized_rfc3339(&text)
                    .ok_or_else(|| ApiError::invalid_input(field, format!("{field} must be an RFC 3339 timestamp")))
            })
            .transpose()
    };
    let customer_email = call
        .query("customer")
        .map(|email| {
            normalized_email(&email).ok_or_else(|| ApiError::invalid_input("customer", "customer is an email address"))
        })
        .transpose()?;
    Ok(TicketFilter {
        status: one_of::<Status>(call, "status")?,
        priority: one_of::<Priority>(call, "priority")?,
        channel: one_of::<Channel>(call, "channel")?,
        assignee: call
            .query("assignee")
            .map(|assignee| (assignee != "unassigned").then_some(assignee)),
        tag: call.query("tag").map(|tag| tag.trim().to_lowercase()),
        text: call
            .query("q")
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty()),
        customer_email,
        created_after: timestamp("created_after")?,
        created_before: timestamp("created_before")?,
        updated_after: timestamp("updated_after")?,
        updated_before: timestamp("updated_before")?,
    })
}

/// A query parameter that must name one of `T`'s values.
fn one_of<T: serde::de::DeserializeOwned>(call: &Call<'_>, field: &str) -> Result<Option<String>, ApiError> {
    match call.query(field) {
        Some(value) if serde_json::from_value::<T>(Value::String(value.clone())).is_ok() => Ok(Some(value)),
        Some(_) => Err(ApiError::invalid_input(
            field,
            format!("{field} is not one of its values"),
        )),
        None => Ok(None),
    }
}

/// One ticket, by id (`tkt_...`) or number.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", operation_id = "tickets_get", tag = "Support desk",
    params(("id" = String, Path, description = "The ticket's id or number")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let ticket = find_ticket(&call).await?;
    ok(&TicketResponse { success: true, ticket })
}

/// Change a ticket: only the fields sent change. Solving sets `solved_at`; reopening clears it.
/// A closed ticket no longer changes (409).
#[utoipa::path(patch, path = "/api/v1/tickets/{id}", operation_id = "tickets_update", tag = "Support desk",
    request_body = UpdateTicketRequest, params(("id" = String, Path, description = "The ticket's id or number")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = "4XX", body = ErrorBody)))]
pub async fn update(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: UpdateTicketRequest = call.validated_body()?;
    let current = find_ticket(&call).await?;
    if current.status == Status::Closed {
        return Err(ApiError::conflict("a closed ticket no longer changes"));
    }
    if body.status == Some(Status::New) && current.status != Status::New {
        return Err(ApiError::invalid_input(
            "status",
            "a ticket that left `new` does not go back to it",
        ));
    }
    let now = rfc3339(call.now());
    let mut changed = apply(current.clone(), body, &now);
    let reprioritised = changed.priority != current.priority;
    if reprioritised {
        // Targets count from the ticket's opening, under the policy that covers the new priority.
        let policies = call.store().list_sla_policies(call.org_id()).await?;
        let opened = parse_rfc3339(&current.created_at).unwrap_or(call.now());
        changed.sla = ticket_sla(&policies, changed.channel, changed.priority, opened);
    }
    let solved_now = changed.status == Status::Solved && current.status != changed.status;
    let updated = call
        .store()
        .update_ticket(&changed, current.status, reprioritised)
        .await?
        .ok_or_else(changed_meanwhile)?;
    let view = updated;
    publish_event(&call, publisher, "ticket.updated", &json!(view)).await?;
    if solved_now {
        publish_event(&call, publisher, "ticket.solved", &json!(view)).await?;
    }
    ok(&TicketResponse {
        success: true,
        ticket: view,
    })
}

/// A ticket's status changed between reading and writing it: nothing was written.
/// The ticket with the request's changes.
fn apply(mut ticket: Ticket, body: UpdateTicketRequest, now: &str) -> Ticket {
    if let Some(subject) = body.subject {
        ticket.subject = subject.trim().to_string();
    }
    if let Some(status) = body.status {
        ticket.status = status;
        ticket.solved_at = match status {
            Status::Solved | Status::Closed => ticket.solved_at.or_else(|| Some(now.to_string())),
            _ => None,
        };
    }
    if let Some(priority) = body.priority {
        ticket.priority = priority;
    }
    for (field, value) in [
        (&mut ticket.assignee, body.assignee),
        (&mut ticket.team, body.team),
        (&mut ticket.category, body.category),
    ] {
        if let Some(value) = value {
            *field = value;
        }
    }
    if let Some(tags) = body.tags {
        ticket.tags = normalized_tags(&tags);
    }
    if let Some(fields) = body.custom_fields {
        for (name, value) in fields {
            if value.is_null() {
                ticket.custom_fields.remove(&name);
            } else {
                ticket.custom_fields.insert(name, value);
            }
        }
    }
    if let Some(order_numbers) = body.order_numbers {
        ticket.order_numbers = order_numbers;
    }
    ticket.updated_at = now.to_string();
    ticket
}
