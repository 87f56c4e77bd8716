//! Escalation: a ticket handed to a team, with the reason. Every channel's escalation publishes
//! `ticket.escalated`; an email ticket's also publishes seed 000's `email.escalated`.

use lambda_http::{Body, Response};
use serde_json::json;

use super::model::{Channel, EscalateRequest, Status, TicketResponse};
use super::{find_ticket, publish_event};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, ok};
use crate::outbound::Publisher;
use crate::store::tickets::Escalation;

/// Escalate a ticket to a team.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/escalate", operation_id = "tickets_escalate", tag = "Support desk",
    request_body = EscalateRequest, params(("id" = String, Path, description = "The ticket's id or number")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = TicketResponse), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn escalate(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: EscalateRequest = call.validated_body()?;
    let mut ticket = find_ticket(&call).await?;
    let status = ticket.status;
    if ticket.status == Status::Closed {
        return Err(ApiError::conflict("a closed ticket is not escalated"));
    }
    let now = rfc3339(call.now());
    let team = body.team.trim().to_string();
    ticket.team = Some(team.clone());
    ticket.escalation = Some(Escalation {
        team,
        reason: body.reason.trim().to_string(),
        escalated_at: now.clone(),
    });
    ticket.updated_at = now;
    let updated = call
        .store()
        .update_ticket(&ticket, status, false)
        .await?
        .ok_or_else(crate::desk::changed_meanwhile)?;
    let view = updated;
    let escalation = json!({
        "ticketId": view.ticket_id, "ticketNumber": view.number, "channel": view.channel,
        "team": view.team, "reason": view.escalation.as_ref().map(|e| &e.reason),
        "customer_email": view.customer_email,
    });
    publish_event(&call, publisher, "ticket.escalated", &escalation).await?;
    if view.channel == Channel::Email {
        publish_event(&call, publisher, "email.escalated", &escalation).await?;
    }
    ok(&TicketResponse {
        success: true,
        ticket: view,
    })
}
