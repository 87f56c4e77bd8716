//! `tickets`: the support desk's tickets and their threads under `/api/v1/tickets` (scope
//! `tickets:write`; reads also with `tickets:read`). Every change is published as an outbound
//! event (`ticket.created`, `ticket.updated`, `ticket.solved`, `ticket.escalated` and, for email
//! tickets, `email.escalated`, `conversation.created`, `reply.sent`).
//!
//! - [`crud`]: open, list (filters, cursor pages), read (by id or number), change;
//! - [`conversations`]: the thread, and replies and internal notes;
//! - [`escalation`]: handing a ticket to a team;
//!
//! Opening a ticket and adding an entry are the desk's ([`crate::desk`]), as for every door.
//! - [`model`]: the request and response bodies and their rules.

pub mod conversations;
pub mod crud;
pub mod escalation;
pub mod model;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::auth::Scope;
use crate::error::ApiError;
use crate::http::{Call, Route, serve_routes};
use crate::outbound::{Publisher, ReplyQueue};
use crate::runtime::Services;
use crate::store::tickets::Ticket;

#[derive(Clone, Copy)]
pub enum TicketRoute {
    Create,
    List,
    Get,
    Update,
    Conversations,
    AddEntry,
    Escalate,
}

const WRITE: Scope = Scope::TicketsWrite;
const READ: Scope = Scope::TicketsRead;

/// `tickets`' routes.
pub const ROUTES: [Route<TicketRoute>; 7] = [
    Route::new(Method::POST, "/api/v1/tickets", WRITE, TicketRoute::Create),
    Route::new(Method::GET, "/api/v1/tickets", READ, TicketRoute::List),
    Route::new(Method::GET, "/api/v1/tickets/{id}", READ, TicketRoute::Get),
    Route::new(Method::PATCH, "/api/v1/tickets/{id}", WRITE, TicketRoute::Update),
    Route::new(
        Method::GET,
        "/api/v1/tickets/{id}/conversations",
        READ,
        TicketRoute::Conversations,
    ),
    Route::new(
        Method::POST,
        "/api/v1/tickets/{id}/conversations",
        WRITE,
        TicketRoute::AddEntry,
    ),
    Route::new(
        Method::POST,
        "/api/v1/tickets/{id}/escalate",
        WRITE,
        TicketRoute::Escalate,
    ),
];

pub async fn handle(
    services: &Services,
    publisher: &Publisher,
    replies: &ReplyQueue,
    request: Request,
) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            TicketRoute::Create => crud::create(call, publisher).await,
            TicketRoute::List => crud::list(call).await,
            TicketRoute::Get => crud::get(call).await,
            TicketRoute::Update => crud::update(call, publisher).await,
            TicketRoute::Conversations => conversations::list(call).await,
            TicketRoute::AddEntry => conversations::add(call, publisher, replies).await,
            TicketRoute::Escalate => escalation::escalate(call, publisher).await,
        }
    })
    .await
}

/// The ticket the path's `{id}` names, by id (`tkt_...`) or number, the caller's (404
/// otherwise, another organization's too).
pub async fn find_ticket(call: &Call<'_>) -> Result<Ticket, ApiError> {
    let id = call.path("id")?;
    let found = match id.parse::<u64>() {
        Ok(number) => call.store().get_ticket_by_number(call.org_id(), number).await?,
        Err(_) => call.store().get_ticket(call.org_id(), &id).await?,
    };
    found.ok_or_else(|| ApiError::not_found("no ticket with this id or number"))
}

/// The caller's organization's desk, now.
fn desk<'a>(call: &'a Call<'_>, publisher: &'a Publisher, replies: Option<&'a ReplyQueue>) -> crate::desk::Desk<'a> {
    crate::desk::Desk {
        store: call.store(),
        publisher,
        replies,
        org_id: call.org_id(),
        now: call.now(),
    }
}

/// Publishes one of the desk's events for the caller's organization.
async fn publish_event(
    call: &Call<'_>,
    publisher: &Publisher,
    event: &str,
    data: &serde_json::Value,
) -> Result<(), ApiError> {
    let at = crate::clock::rfc3339(call.now());
    crate::outbound::publish(call.store(), publisher, call.org_id(), event, &at, data).await?;
    Ok(())
}
