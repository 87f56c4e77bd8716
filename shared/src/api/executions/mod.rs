//! `executions`: `/api/v1/executions` (reads with `executions:read`) and
//! `POST /api/v1/executions/{id}/events` (`executions:report`), where the platform's agent and
//! workflow runtime reports an execution's progress. Each report updates the execution once
//! ([`report`]) and publishes seed 001's event; an agent's conversation is a desk ticket
//! (channel `api`), opened with the trigger's message, so it shows in the desk and its AI
//! replies carry CSAT tokens.

pub mod report;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use self::report::{ExecutionReport, ReportType};
use crate::auth::Scope;
use crate::desk::{Desk, NewEntry, NewTicket, subject_of};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, normalized_email, ok, serve_routes};
use crate::outbound::Publisher;
use crate::runtime::Services;
use crate::store::encode_cursor;
use crate::store::executions::{Execution, ReportWrite, executions_index_pk, target_executions_index_pk};
use crate::store::tickets::{AuthorType, Channel, Ticket};
use crate::store::triggers::TriggerKind;

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;
/// Reports racing on one execution: each retry reads the other's result.
const MAX_RACES: usize = 5;

#[derive(Clone, Copy)]
pub enum ExecutionRoute {
    List,
    Get,
    Report,
}

/// `executions`' routes.
pub const ROUTES: [Route<ExecutionRoute>; 3] = [
    Route::new(
        Method::GET,
        "/api/v1/executions",
        Scope::ExecutionsRead,
        ExecutionRoute::List,
    ),
    Route::new(
        Method::GET,
        "/api/v1/executions/{id}",
        Scope::ExecutionsRead,
        ExecutionRoute::Get,
    ),
    Route::new(
        Method::POST,
        "/api/v1/executions/{id}/events",
        Scope::ExecutionsReport,
        ExecutionRoute::Report,
    ),
];

#[derive(Serialize, ToSchema)]
pub struct ExecutionResponse {
    pub success: bool,
    pub execution: Execution,
}

#[derive(Serialize, ToSchema)]
pub struct ExecutionList {
    pub success: bool,
    pub executions: Vec<Execution>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportResponse {
    pub success: bool,
    /// `false` when this report was applied before: nothing changed.
    pub applied: bool,
    pub execution: Execution,
    /// An agent reply's CSAT token (`message_sent`), to show the customer once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csat_token: Option<String>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListParams {
    /// Only this agent's executions.
    pub agent_id: Option<String>,
    /// Only this workflow's executions.
    pub workflow_id: Option<String>,
    /// 1 to 100 (25 when unsaid).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub async fn handle(services: &Services, publisher: &Publisher, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            ExecutionRoute::List => list(call).await,
            ExecutionRoute::Get => get(call).await,
            ExecutionRoute::Report => Box::pin(report(call, publisher)).await,
        }
    })
    .await
}

/// Executions, newest first: an agent's, a workflow's, or all of the organization's.
#[utoipa::path(get, path = "/api/v1/executions", operation_id = "executions_list", tag = "Agents and workflows",
    params(ExecutionListParams), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ExecutionList), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let (index_pk, by_target) = match (call.query("agent_id"), call.query("workflow_id")) {
        (Some(agent), None) => (
            target_executions_index_pk(call.org_id(), TriggerKind::Agent, &agent),
            true,
        ),
        (None, Some(workflow)) => (
            target_executions_index_pk(call.org_id(), TriggerKind::Workflow, &workflow),
            true,
        ),
        (None, None) => (executions_index_pk(call.org_id()), false),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_input(
                "agent_id",
                "filter by agent_id or workflow_id, not both",
            ));
        }
    };
    let (limit, start) = call.page(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, &index_pk)?;
    let page = call.store().list_executions(index_pk, by_target, limit, start).await?;
    ok(&ExecutionList {
        success: true,
        executions: page.executions,
        has_more: page.next.is_some(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    })
}

/// One execution.
#[utoipa::path(get, path = "/api/v1/executions/{id}", operation_id = "executions_get", tag = "Agents and workflows",
    params(("id" = String, Path, description = "`exec_...`")), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ExecutionResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    ok(&ExecutionResponse {
        success: true,
        execution: find_execution(&call).await?,
    })
}

async fn find_execution(call: &Call<'_>) -> Result<Execution, ApiError> {
    let id = call.path("id")?;
    call.store()
        .get_execution(call.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no execution with this id"))
}

/// Report an execution's progress (the agent and workflow runtime). A report repeated is
/// answered with `applied: false` and changes nothing; reports may come in any order.
#[utoipa::path(post, path = "/api/v1/executions/{id}/events", operation_id = "executions_report", tag = "Agents and workflows",
    params(("id" = String, Path, description = "`exec_...`")), request_body = ExecutionReport,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = ReportResponse), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn report(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: ExecutionReport = call.validated_body()?;
    let desk = Desk {
        store: call.store(),
        publisher,
        replies: None,
        org_id: call.org_id(),
        now: call.now(),
    };
    for _ in 0..MAX_RACES {
        let current = find_execution(&call).await?;
        // The conversation exists before any report on it is recorded, so a retry of a report
        // that failed here finds it.
        let conversation = match current.kind {
            TriggerKind::Agent => Some(conversation(&desk, &current).await?),
            TriggerKind::Workflow => None,
        };
        let applied = report::apply(&current, &body, call.now());
        let write = call
            .store()
            .apply_report(
                call.org_id(),
                &applied.execution,
                current.version,
                &body.key(),
                call.now().unix_timestamp(),
            )
            .await?;
        match write {
            ReportWrite::Raced => continue,
            ReportWrite::Seen => {
                return ok(&ReportResponse {
                    success: true,
                    applied: false,
                    execution: current,
                    csat_token: None,
                });
            }
            ReportWrite::Applied => {}
        }
        let csat_token = match conversation {
            Some(ticket) => on_conversation(&desk, ticket, &body).await?,
            None => None,
        };
        if let Some((event, data)) = &applied.event {
            desk.publish(event, data).await?;
        }
        return ok(&ReportResponse {
            success: true,
            applied: true,
            execution: applied.execution,
            csat_token,
        });
    }
    Err(ApiError::conflict("the execution keeps changing; retry the report"))
}

/// An agent execution's ticket, opened with the trigger's message when it is not yet.
async fn conversation(desk: &Desk<'_>, execution: &Execution) -> Result<Ticket, ApiError> {
    let ticket_id = execution.conversation_id.clone().ok_or_else(ApiError::internal)?;
    if let Some(ticket) = desk.store.get_ticket(desk.org_id, &ticket_id).await? {
        return Ok(ticket);
    }
    let message = execution
        .input
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let context = execution.input.get("context");
    let customer_email = context
        .and_then(|c| c.get("customer_email"))
        .and_then(Value::as_str)
        .and_then(normalized_email);
    let order_numbers = context
        .and_then(|c| c.get("order_id"))
        .and_then(Value::as_str)
        .map(|order| vec![order.to_string()])
        .unwrap_or_default();
    let mut custom_fields = serde_json::Map::new();
    custom_fields.insert("agent_id".into(), execution.agent_id.clone().into());
    custom_fields.insert("execution_id".into(), execution.execution_id.clone().into());
    let new = NewTicket {
        ticket_id: Some(ticket_id),
        subject: subject_of(message),
        channel: Channel::Api,
        customer_email,
        order_numbers,
        custom_fields,
        first: Some(NewEntry::from_customer(execution.user_id.clone(), message.to_string())),
        ..NewTicket::default()
    };
    Ok(desk.open(new).await?.0)
}

/// What a report does on the conversation's ticket: messages become entries (the agent's as AI
/// replies, with a CSAT token), the end of a conversation solves it. A failed conversation
/// stays open for a human.
async fn on_conversation(
    desk: &Desk<'_>,
    ticket: Ticket,
    report: &ExecutionReport,
) -> Result<Option<String>, ApiError> {
    let role = match report.report_type {
        ReportType::MessageReceived => AuthorType::Customer,
        ReportType::MessageSent => AuthorType::Ai,
        ReportType::Completed => {
            desk.solve(ticket).await?;
            return Ok(None);
        }
        _ => return Ok(None),
    };
    let Some(message) = &report.message else {
        return Ok(None);
    };
    let mut entry = NewEntry::from_customer(None, message.content.clone());
    entry.role = role;
    entry.provider_message_id = Some(message.id.clone());
    Ok(desk.add(ticket, entry).await?.csat_token)
}
