//! `customers`: the desk's customers under `/api/v1/customers` (scope `customers:write`; reads
//! also with `customers:read`). A customer is the record `/api/webhook` customer ingest writes
//! and the agent context reads, one per email: never two records for one email.
//!
//! `GET /api/v1/customers/{email}` answers the customer with their tickets (newest first),
//! their latest orders and their CSAT (each rated ticket's rating, and the average).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::agent_context::Record;
use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, normalized_email, ok, serve_routes};
use crate::outbound::{Publisher, publish};
use crate::runtime::Services;
use crate::store::tickets::{Ticket, TicketFilter};
use crate::store::{MAX_DOCUMENT_FIELDS, RESERVED_ATTRIBUTES};

/// Tickets and orders a customer answer shows, newest first.
const SHOWN: usize = 20;

#[derive(Clone, Copy)]
pub enum CustomerRoute {
    Create,
    Get,
    Update,
}

/// `customers`' routes.
pub const ROUTES: [Route<CustomerRoute>; 3] = [
    Route::new(
        Method::POST,
        "/api/v1/customers",
        Scope::CustomersWrite,
        CustomerRoute::Create,
    ),
    Route::new(
        Method::GET,
        "/api/v1/customers/{email}",
        Scope::CustomersRead,
        CustomerRoute::Get,
    ),
    Route::new(
        Method::PATCH,
        "/api/v1/customers/{email}",
        Scope::CustomersWrite,
        CustomerRoute::Update,
    ),
];

/// Body of `POST /api/v1/customers`: the email and any other fields, kept as sent (as
/// `/api/webhook` keeps a customer's).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomerRequest {
    pub email: String,
    /// Any other fields: `name`, `phone`, `tier`, `tags`...
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

impl Validate for CustomerRequest {
    fn validate(&self) -> Result<(), ApiError> {
        if normalized_email(&self.email).is_none() {
            return Err(ApiError::invalid_input("email", "email must be an email address"));
        }
        check_fields(&self.fields)
    }
}

fn check_fields(fields: &Map<String, Value>) -> Result<(), ApiError> {
    if fields.len() >= MAX_DOCUMENT_FIELDS {
        return Err(ApiError::invalid_input(
            "body",
            format!("a customer has fewer than {MAX_DOCUMENT_FIELDS} fields"),
        ));
    }
    if let Some(name) = fields.keys().find(|name| {
        name.is_empty() || name.len() > 255 || RESERVED_ATTRIBUTES.contains(&name.as_str()) || name.contains('\0')
    }) {
        return Err(ApiError::invalid_input(
            name,
            format!("{name:?} is not a field name a customer may have"),
        ));
    }
    Ok(())
}

#[derive(Serialize, ToSchema)]
pub struct CustomerCsat {
    /// How many of the customer's tickets were rated.
    pub ratings: usize,
    /// Their average rating, 1 to 5 (null before any).
    pub average: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerResponse {
    pub success: bool,
    pub email: String,
    pub customer: Option<Record>,
    /// The customer's latest tickets, newest first.
    pub tickets: Vec<Ticket>,
    /// The customer's latest orders, newest first.
    pub orders: Vec<Record>,
    pub csat: CustomerCsat,
}

pub async fn handle(services: &Services, publisher: &Publisher, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            CustomerRoute::Create => create(call, publisher).await,
            CustomerRoute::Get => get(call).await,
            CustomerRoute::Update => update(call, publisher).await,
        }
    })
    .await
}

/// Add a customer; 409 when one with this email exists (change it with PATCH).
#[utoipa::path(post, path = "/api/v1/customers", operation_id = "customers_create", tag = "Support desk",
    request_body = CustomerRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CustomerResponse), (status = 409, body = ErrorBody), (status = "4XX", body = ErrorBody)))]
pub async fn create(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let body: CustomerRequest = call.validated_body()?;
    let email = normalized_email(&body.email).unwrap_or_default();
    if call.store().get_customer(call.org_id(), &email).await?.is_some() {
        return Err(ApiError::conflict(
            "a customer with this email exists; change it with PATCH /api/v1/customers/{email}",
        ));
    }
    let response = save(&call, publisher, &email, body.fields).await?;
    Ok(json_response(StatusCode::CREATED, &response))
}

/// Change a customer: the fields sent replace those stored, the others are kept.
#[utoipa::path(patch, path = "/api/v1/customers/{email}", operation_id = "customers_update", tag = "Support desk",
    request_body(content = Object, description = "The fields to change"), params(("email" = String, Path)),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = CustomerResponse), (status = "4XX", body = ErrorBody)))]
pub async fn update(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let email = path_email(&call)?;
    let mut fields: Map<String, Value> = call.body()?;
    check_fields(&fields)?;
    if fields
        .get("email")
        .is_some_and(|sent| sent.as_str().and_then(normalized_email).as_deref() != Some(&email))
    {
        return Err(ApiError::invalid_input("email", "a customer's email does not change"));
    }
    fields.remove("email");
    if call.store().get_customer(call.org_id(), &email).await?.is_none() {
        return Err(ApiError::not_found(format!("no customer {email}")));
    }
    let response = save(&call, publisher, &email, fields).await?;
    ok(&response)
}

/// Stores the fields (with the email, as ingest does), publishes `customer.upserted` and
/// answers the customer as it now stands.
async fn save(
    call: &Call<'_>,
    publisher: &Publisher,
    email: &str,
    mut fields: Map<String, Value>,
) -> Result<CustomerResponse, ApiError> {
    fields.insert("email".into(), json!(email));
    let now = rfc3339(call.now());
    call.store()
        .upsert_customer(call.org_id(), email, &fields, &now)
        .await?;
    publish(
        call.store(),
        publisher,
        call.org_id(),
        "customer.upserted",
        &now,
        &Value::Object(fields),
    )
    .await?;
    customer(call, email).await
}

/// A customer with their tickets, orders and CSAT.
#[utoipa::path(get, path = "/api/v1/customers/{email}", operation_id = "customers_get", tag = "Support desk",
    params(("email" = String, Path)), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = CustomerResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let email = path_email(&call)?;
    let found = customer(&call, &email).await?;
    if found.customer.is_none() && found.tickets.is_empty() && found.orders.is_empty() {
        return Err(ApiError::not_found(format!("no customer {email}")));
    }
    ok(&found)
}

fn path_email(call: &Call<'_>) -> Result<String, ApiError> {
    normalized_email(&call.path("email")?).ok_or_else(|| ApiError::not_found("no customer with this email"))
}

async fn customer(call: &Call<'_>, email: &str) -> Result<CustomerResponse, ApiError> {
    let page = call
        .store()
        .customer_page(call.org_id(), email, SHOWN as i32, None)
        .await?;
    let filter = TicketFilter {
        customer_email: Some(email.to_string()),
        ..TicketFilter::default()
    };
    let tickets = call
        .store()
        .list_tickets(call.org_id(), &filter, SHOWN, None)
        .await?
        .tickets;
    let ratings: Vec<f64> = tickets
        .iter()
        .filter_map(|t| t.csat.as_ref().map(|c| f64::from(c.rating)))
        .collect();
    Ok(CustomerResponse {
        success: true,
        email: email.to_string(),
        customer: page.customer.map(Into::into),
        tickets: tickets.into_iter().collect(),
        orders: page.orders.into_iter().map(Into::into).collect(),
        csat: CustomerCsat {
            ratings: ratings.len(),
            average: (!ratings.is_empty()).then(|| ratings.iter().sum::<f64>() / ratings.len() as f64),
        },
    })
}
