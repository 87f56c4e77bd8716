//! `GET /api/context/orders/{order_number}` and `GET /api/context/customers/{email}` (scope
//! `context:read`): what the support agent reads to answer "where is order #4521?".

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::tickets::find_ticket;
use crate::auth::Scope;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_response, serve_routes};
use crate::runtime::Services;
use crate::store::Document;
use crate::store::call_orders::OrderWithCalls;
use crate::store::csat::TicketCsat;
use crate::store::customers::customer_pk;
use crate::store::encode_cursor;
use crate::store::events::OrderEvent;
use crate::store::tickets::{Entry, Ticket, TicketFilter};

/// Events returned with an order, newest first.
const MAX_ORDER_EVENTS: i32 = 100;
const DEFAULT_PAGE_SIZE: usize = 20;
const MAX_PAGE_SIZE: usize = 100;

/// A stored record: the fields as the merchant sent them, and when Hookgate stored them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl From<Document> for Record {
    fn from(document: Document) -> Self {
        Self {
            data: document.fields,
            created_at: document.created_at,
            updated_at: document.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContextEvent {
    pub id: String,
    /// The event's name, e.g. `shipping_delay`.
    pub event: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub received_at: String,
}

impl From<OrderEvent> for ContextEvent {
    fn from(event: OrderEvent) -> Self {
        Self {
            id: event.event_id,
            event: event.event,
            data: event.data,
            received_at: event.received_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderContext {
    pub success: bool,
    pub order_number: String,
    /// Null when only events, or an order confirmed by call, name this number.
    pub order: Option<Record>,
    /// The customer of `order.customer_email`, when that customer was sent.
    pub customer: Option<Record>,
    /// Events that affect this order (e.g. a shipping delay), newest first.
    pub events: Vec<ContextEvent>,
    /// The order confirmed by call (`/api/v1/orders`) whose id or `externalId` this number is,
    /// with its status and calls; null when there is none.
    pub call_order: Option<OrderWithCalls>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CustomerContext {
    pub success: bool,
    pub email: String,
    /// Null when only orders name this customer.
    pub customer: Option<Record>,
    /// The customer's orders, newest first.
    pub orders: Vec<Record>,
    /// Pass as `cursor` to read the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// The customer's tickets not yet solved (`new`, `open`, `pending`), newest first; on the
    /// first page only.
    pub open_tickets: Vec<Ticket>,
    /// The customer's latest rating of a reply, if any; on the first page only.
    pub last_csat: Option<TicketCsat>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketContext {
    pub success: bool,
    pub ticket: Ticket,
    /// The thread, oldest first, internal notes included.
    pub conversations: Vec<Entry>,
    /// The orders the ticket is about, as stored (null where an order number is unknown).
    pub orders: Vec<Option<Record>>,
    /// The ticket's customer, when that customer was sent.
    pub customer: Option<Record>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
pub struct CustomerPageParams {
    /// Orders per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `nextCursor` from the previous page.
    cursor: Option<String>,
}

#[derive(Clone, Copy)]
pub enum Context {
    Order,
    Customer,
    Ticket,
}

/// `agent-context`'s routes.
pub const ROUTES: [Route<Context>; 3] = [
    Route::new(
        Method::GET,
        "/api/context/orders/{order_number}",
        Scope::ContextRead,
        Context::Order,
    ),
    Route::new(
        Method::GET,
        "/api/context/customers/{email}",
        Scope::ContextRead,
        Context::Customer,
    ),
    Route::new(
        Method::GET,
        "/api/context/tickets/{id}",
        Scope::ContextRead,
        Context::Ticket,
    ),
];

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            Context::Order => order_context(call).await,
            Context::Customer => customer_context(call).await,
            Context::Ticket => ticket_context(call).await,
        }
    })
    .await
}

/// The order, its customer and every event that affects it; and the order confirmed by call
/// that the number names (by its `ord_` id or its `externalId`), with its confirmation status.
#[utoipa::path(get, path = "/api/context/orders/{order_number}", operation_id = "agent_context_order", tag = "Agent context",
    security(("apiKey" = []), ("bearer" = [])),
    params(("order_number" = String, Path, description = "The merchant's order number")),
    responses((status = 200, body = OrderContext), (status = "4XX", body = ErrorBody)))]
async fn order_context(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let Call { services, caller, .. } = &call;
    let order_number = call.path("order_number")?;
    let (found, call_order) = tokio::join!(
        services
            .store
            .order_with_events(&caller.org_id, &order_number, MAX_ORDER_EVENTS),
        services.store.call_order_by_number(&caller.org_id, &order_number)
    );
    let (found, call_order) = (found?, call_order?);
    if found.order.is_none() && found.events.is_empty() && call_order.is_none() {
        return Err(ApiError::not_found(format!("no order {order_number}")));
    }
    let email = found
        .order
        .as_ref()
        .and_then(|order| order.fields.get("customer_email"))
        .and_then(Value::as_str);
    let customer = match email {
        Some(email) => services.store.get_customer(&caller.org_id, email).await?,
        None => None,
    };
    let context = OrderContext {
        success: true,
        order_number,
        order: found.order.map(Into::into),
        customer: customer.map(Into::into),
        events: found.events.into_iter().map(Into::into).collect(),
        call_order,
    };
    Ok(json_response(StatusCode::OK, &context))
}

/// The customer and their orders, newest first, one page at a time.
#[utoipa::path(get, path = "/api/context/customers/{email}", operation_id = "agent_context_customer", tag = "Agent context",
    security(("apiKey" = []), ("bearer" = [])),
    params(("email" = String, Path, description = "The customer's email"), CustomerPageParams),
    responses((status = 200, body = CustomerContext), (status = "4XX", body = ErrorBody)))]
async fn customer_context(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let Call { services, caller, .. } = &call;
    let email = call.path("email")?.trim().to_lowercase();
    let (limit, start) = call.page(DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, &customer_pk(&caller.org_id, &email))?;
    let first_page = start.is_none();
    // The tickets are read beside the profile and orders, not after them.
    let (page, tickets) = tokio::join!(
        services
            .store
            .customer_page(&caller.org_id, &email, limit as i32, start),
        async {
            match first_page {
                true => customer_tickets(&call, &email).await,
                false => Ok((Vec::new(), None)),
            }
        }
    );
    let (page, (open_tickets, last_csat)) = (page?, tickets?);
    if first_page && page.customer.is_none() && page.orders.is_empty() && open_tickets.is_empty() {
        return Err(ApiError::not_found(format!("no customer {email}")));
    }
    let context = CustomerContext {
        success: true,
        email,
        customer: page.customer.map(Into::into),
        orders: page.orders.into_iter().map(Into::into).collect(),
        next_cursor: page.next.as_ref().map(encode_cursor),
        open_tickets,
        last_csat,
    };
    Ok(json_response(StatusCode::OK, &context))
}

/// Tickets a customer context reads, newest first: the open ones are shown, the rated ones give
/// the last CSAT.
const CUSTOMER_TICKETS: usize = 50;

/// The customer's unsolved tickets and latest rating.
async fn customer_tickets(call: &Call<'_>, email: &str) -> Result<(Vec<Ticket>, Option<TicketCsat>), ApiError> {
    let filter = TicketFilter {
        customer_email: Some(email.to_string()),
        ..TicketFilter::default()
    };
    let tickets = call
        .store()
        .list_tickets(call.org_id(), &filter, CUSTOMER_TICKETS, None)
        .await?
        .tickets;
    let last_csat = tickets
        .iter()
        .filter_map(|ticket| ticket.csat.clone())
        .max_by(|a, b| a.rated_at.cmp(&b.rated_at));
    let open = tickets
        .into_iter()
        .filter(|ticket| ticket.status.is_unsolved())
        .collect();
    Ok((open, last_csat))
}

/// The ticket, its thread, the orders it is about and its customer: what the agent needs to
/// answer it, in one call.
#[utoipa::path(get, path = "/api/context/tickets/{id}", operation_id = "agent_context_ticket", tag = "Agent context",
    security(("apiKey" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The ticket's id or number")),
    responses((status = 200, body = TicketContext), (status = "4XX", body = ErrorBody)))]
async fn ticket_context(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let ticket = find_ticket(&call).await?;
    let store = call.store();
    let org_id = call.org_id();
    let (entries, customer) = tokio::join!(store.list_entries(org_id, &ticket.ticket_id), async {
        match &ticket.customer_email {
            Some(email) => store.get_customer(org_id, email).await,
            None => Ok(None),
        }
    });
    let orders = futures_util::future::join_all(
        ticket
            .order_numbers
            .iter()
            .map(|number| store.order_with_events(org_id, number, 0)),
    )
    .await
    .into_iter()
    .map(|found| found.map(|found| found.order.map(Into::into)))
    .collect::<Result<_, _>>()?;
    let context = TicketContext {
        success: true,
        conversations: entries?.into_iter().collect(),
        customer: customer?.map(Into::into),
        orders,
        ticket,
    };
    Ok(json_response(StatusCode::OK, &context))
}
