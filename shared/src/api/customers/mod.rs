//! `customers`: the desk's customers under `/api/v1/customers` (scope `customers:write`; reads
//! also with `customers:read`). A customer is the record `/api/webhook` customer ingest writes
//! and the agent context reads, one per email: never two records for one email.
//!
//! `GET /api/v1/customers/{email}` answers the customer with their tickets (newest first),
//! their latest orders and their CSAT (each rated ticket's rating, and the average).
//! `GET /api/v1/customers` lists them, last updated first, or finds one by `email`, `phone` or a
//! channel identity (`whatsapp`, `messenger`, `slack`: the customer's `identities` field).

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
use crate::store::customers::{customers_index_pk, normalized_identity};
use crate::store::tickets::{Ticket, TicketFilter};
use crate::store::{MAX_DOCUMENT_FIELDS, RESERVED_ATTRIBUTES, encode_cursor};

/// Tickets and orders a customer answer shows, newest first.
const SHOWN: usize = 20;

#[derive(Clone, Copy)]
pub enum CustomerRoute {
    List,
    Create,
    Get,
    Update,
}

/// `customers`' routes.
pub const ROUTES: [Route<CustomerRoute>; 4] = [
    Route::new(
        Method::GET,
        "/api/v1/customers",
        Scope::CustomersRead,
        CustomerRoute::List,
    ),
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
    #[schema(format = Email)]
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
            CustomerRoute::List => list(call).await,
            CustomerRoute::Create => create(call, publisher).await,
            CustomerRoute::Get => get(call).await,
            CustomerRoute::Update => update(call, publisher).await,
        }
    })
    .await
}

#[derive(Serialize, ToSchema)]
pub struct CustomerListResponse {
    pub success: bool,
    /// Last updated first; for a lookup, the one customer found or none.
    pub customers: Vec<Record>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/customers`: a page, or a lookup by one identity.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the query string for the OpenAPI document only
struct CustomerListParams {
    /// 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Find the customer with this email.
    #[param(format = Email)]
    email: Option<String>,
    /// Find the customer with this phone number (international form, `+49 123 456789`).
    phone: Option<String>,
    /// Find the customer with this WhatsApp id (`identities.whatsapp`).
    whatsapp: Option<String>,
    /// Find the customer with this Messenger PSID (`identities.messenger`).
    messenger: Option<String>,
    /// Find the customer with this Slack user id (`identities.slack`).
    slack: Option<String>,
}

/// The organization's customers, last updated first, one page at a time; or the one customer
/// with an email, phone or channel identity.
#[utoipa::path(get, path = "/api/v1/customers", operation_id = "customers_list", tag = "Support desk",
    params(CustomerListParams), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = CustomerListResponse), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let lookups: Vec<(&str, String)> = ["email", "phone", "whatsapp", "messenger", "slack"]
        .into_iter()
        .filter_map(|kind| Some((kind, call.query(kind)?)))
        .collect();
    if lookups.len() > 1 {
        return Err(ApiError::invalid_input(
            lookups[1].0,
            "find a customer by one identity at a time",
        ));
    }
    if let Some((kind, value)) = lookups.into_iter().next() {
        let found = match kind {
            "email" => {
                let email = normalized_email(&value)
                    .ok_or_else(|| ApiError::invalid_input("email", "email must be an email address"))?;
                call.store().get_customer(call.org_id(), &email).await?
            }
            _ => {
                if normalized_identity(kind, &value).is_none() {
                    return Err(ApiError::invalid_input(
                        kind,
                        format!("{kind} is not a valid {kind} identity"),
                    ));
                }
                call.store().customer_by_identity(call.org_id(), kind, &value).await?
            }
        };
        return ok(&CustomerListResponse {
            success: true,
            customers: found.into_iter().map(Into::into).collect(),
            has_more: false,
            next_cursor: None,
        });
    }
    let (limit, start) = call.page(25, 100, &customers_index_pk(call.org_id()))?;
    let (customers, next) = call.store().list_customers(call.org_id(), limit as i32, start).await?;
    ok(&CustomerListResponse {
        success: true,
        customers: customers.into_iter().map(Into::into).collect(),
        has_more: next.is_some(),
        next_cursor: next.as_ref().map(encode_cursor),
    })
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
