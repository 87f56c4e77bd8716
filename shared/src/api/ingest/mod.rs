//! `POST /api/webhook` (scope `webhook:write`): merchants push the data the support agent
//! answers from. `order` is upserted by `order_number`, `customer` by `email`, `product` by
//! `sku`; an `event` is appended and linked to its `affected_orders`; any other `type` is kept
//! as sent. Each is then fanned out to the merchant's subscribed endpoints (`order.upserted`,
//! ...). AWS calls per request: the key check, one write, and one SendMessageBatch when an
//! endpoint subscribes (the endpoint list is cached per container, see `EndpointCache`).

use std::borrow::Cow;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::{normalized_rfc3339, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_body, json_response, normalized_email, serve_routes};
use crate::ids::new_ulid;
use crate::outbound::{Publisher, publish};
use crate::runtime::Services;
use crate::store::events::{MAX_AFFECTED_ORDERS, MAX_TRANSACTION_BYTES, NewEvent};
use crate::store::orders::OrderCustomerLink;
use crate::store::{MAX_DOCUMENT_FIELDS, RESERVED_ATTRIBUTES};

const MAX_ID_CHARS: usize = 256;
const MAX_TYPE_CHARS: usize = 64;

/// The body of `POST /api/webhook`. Which object is required depends on `type`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the accepted JSON for the OpenAPI document only
pub struct IngestRequest {
    /// `order`, `customer`, `product`, `event`, or any other name for data stored as-is.
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,64}$")]
    r#type: String,
    /// For `order`: requires `order_number`; `customer_email` links it to its customer and
    /// `ordered_at` (RFC 3339) orders it in their history. Fields not sent are kept.
    #[schema(value_type = Option<Object>)]
    order: Option<Value>,
    /// For `customer`: requires `email`.
    #[schema(value_type = Option<Object>)]
    customer: Option<Value>,
    /// For `product`: requires `sku`.
    #[schema(value_type = Option<Object>)]
    product: Option<Value>,
    /// For `event`: the event's name, e.g. `shipping_delay`.
    event: Option<String>,
    /// For `event`: its data; `affected_orders` (up to 99 order numbers) links it to orders.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Received {
    pub success: bool,
    /// E.g. "Order data received".
    pub message: &'static str,
    /// Id of the stored record, for events and other types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Push an order, customer, product, event or any other JSON object (max 100 KB).
#[utoipa::path(post, path = "/api/webhook", operation_id = "ingest", tag = "Data ingest", request_body = IngestRequest,
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = Received), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &Services, publisher: &Publisher, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |(), call| ingest(call, publisher)).await
}

/// `ingest`'s one route.
pub const ROUTES: [Route<()>; 1] = [Route::new(Method::POST, "/api/webhook", Scope::WebhookWrite, ())];

/// What a valid ingest body asks to store, read without any AWS call.
pub enum Ingest<'a> {
    Order {
        order: &'a Map<String, Value>,
        order_number: String,
        customer_email: Option<String>,
        ordered_at: Option<String>,
    },
    Customer {
        customer: &'a Map<String, Value>,
        email: String,
    },
    Product {
        product: &'a Map<String, Value>,
        sku: String,
    },
    Event {
        event: &'a str,
        data: &'a Value,
        affected_orders: Vec<String>,
    },
    /// Any other `type`, stored as sent.
    Other { kind: &'a str },
}

/// Reads an ingest body, `body_bytes` long as sent, into what it asks to store; an error names
/// the offending field.
pub fn read(body: &Value, body_bytes: usize) -> Result<Ingest<'_>, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::invalid_input("body", "the body must be a JSON object"))?;
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(ApiError::invalid_input("type", "type must be a string")),
        None => return Err(ApiError::invalid_input("type", "type is required")),
    };
    // Each field the document names has its type whichever the type of the request.
    for field in ["order", "customer", "product", "data"] {
        if object
            .get(field)
            .is_some_and(|value| !(value.is_object() || value.is_null()))
        {
            return Err(ApiError::invalid_input(field, format!("{field} must be an object")));
        }
    }
    if object
        .get("event")
        .is_some_and(|value| !(value.is_string() || value.is_null()))
    {
        return Err(ApiError::invalid_input("event", "event must be a name"));
    }
    Ok(match kind {
        "order" => {
            let order = document(object, "order")?;
            Ingest::Order {
                order_number: natural_id(order, "order.order_number")?,
                customer_email: optional_email(order, "customer_email", "order.customer_email")?,
                ordered_at: optional_timestamp(order, "ordered_at", "order.ordered_at")?,
                order,
            }
        }
        "customer" => {
            let customer = document(object, "customer")?;
            let email = optional_email(customer, "email", "customer.email")?
                .ok_or_else(|| ApiError::invalid_input("customer.email", "customer.email is required"))?;
            Ingest::Customer { customer, email }
        }
        "product" => {
            let product = document(object, "product")?;
            Ingest::Product {
                sku: natural_id(product, "product.sku")?,
                product,
            }
        }
        "event" => read_event(object, body_bytes)?,
        other => {
            if other.is_empty()
                || other.len() > MAX_TYPE_CHARS
                || !other.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
            {
                return Err(ApiError::invalid_input(
                    "type",
                    format!("type must be 1 to {MAX_TYPE_CHARS} letters, digits or _-.:"),
                ));
            }
            Ingest::Other { kind: other }
        }
    })
}

async fn ingest(call: Call<'_>, publisher: &Publisher) -> Result<Response<Body>, ApiError> {
    let Call {
        services,
        request,
        caller,
    } = &call;
    let body = json_body(request)?;
    let ingest = read(&body, request.body().len())?;
    let store = &services.store;
    let org = caller.org_id.as_str();
    let now = rfc3339(services.clock.now());
    // What was stored, under which id, and the outbound event it makes: a stored document's
    // event carries the document as sent, borrowed from the body (the object `read` checked).
    let (message, id, (event, data)) = match ingest {
        Ingest::Order {
            order,
            order_number,
            customer_email,
            ordered_at,
        } => {
            let link = OrderCustomerLink {
                customer_email: customer_email.as_deref(),
                ordered_at: ordered_at.as_deref(),
            };
            store.upsert_order(org, &order_number, order, link, &now).await?;
            let upserted = ("order.upserted", Cow::Borrowed(&body["order"]));
            ("Order data received", None, upserted)
        }
        Ingest::Customer { customer, email } => {
            store.upsert_customer(org, &email, customer, &now).await?;
            let upserted = ("customer.upserted", Cow::Borrowed(&body["customer"]));
            ("Customer data received", None, upserted)
        }
        Ingest::Product { product, sku } => {
            store.upsert_product(org, &sku, product, &now).await?;
            let upserted = ("product.upserted", Cow::Borrowed(&body["product"]));
            ("Product data received", None, upserted)
        }
        Ingest::Event {
            event,
            data,
            affected_orders,
        } => {
            let event_id = new_ulid();
            let new = NewEvent {
                event_id: &event_id,
                event,
                data,
                affected_orders: &affected_orders,
                received_at: &now,
            };
            store.record_event(org, &new).await?;
            let data = json!({"id": event_id, "event": event, "data": data});
            (
                "Event received",
                Some(event_id),
                ("merchant_event.received", Cow::Owned(data)),
            )
        }
        Ingest::Other { kind } => {
            let record_id = new_ulid();
            store.record_other(org, kind, &record_id, &body, &now).await?;
            let data = json!({"id": record_id, "type": kind, "body": body});
            ("Data received", Some(record_id), ("record.received", Cow::Owned(data)))
        }
    };
    publish(store, publisher, org, event, &now, &data).await?;
    Ok(json_response(
        StatusCode::OK,
        &Received {
            success: true,
            message,
            id,
        },
    ))
}

/// An `event` body: its name, its data, and the orders it affects.
fn read_event(object: &Map<String, Value>, body_bytes: usize) -> Result<Ingest<'_>, ApiError> {
    let event = match object.get("event") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_TYPE_CHARS => name.as_str(),
        _ => {
            return Err(ApiError::invalid_input(
                "event",
                format!("event must be a name of 1 to {MAX_TYPE_CHARS} characters"),
            ));
        }
    };
    let data = object.get("data").unwrap_or(&Value::Null);
    if !(data.is_object() || data.is_null()) {
        return Err(ApiError::invalid_input("data", "data must be an object"));
    }
    let affected_orders = match data.get("affected_orders") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(orders)) => {
            let mut numbers = orders
                .iter()
                .map(|order| {
                    id_value(order).ok_or_else(|| {
                        ApiError::invalid_input("data.affected_orders", "affected_orders must hold order numbers")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            numbers.sort();
            numbers.dedup();
            numbers
        }
        Some(_) => {
            return Err(ApiError::invalid_input(
                "data.affected_orders",
                "affected_orders must be an array",
            ));
        }
    };
    if affected_orders.len() > MAX_AFFECTED_ORDERS {
        return Err(ApiError::invalid_input(
            "data.affected_orders",
            format!("one event may affect at most {MAX_AFFECTED_ORDERS} orders; send several events"),
        ));
    }
    // Each affected order holds a copy of the event, all written in one transaction.
    if body_bytes.saturating_mul(affected_orders.len() + 1) > MAX_TRANSACTION_BYTES {
        return Err(ApiError::invalid_input(
            "data.affected_orders",
            "this event is too large to link to this many orders; send smaller data or fewer orders",
        ));
    }
    Ok(Ingest::Event {
        event,
        data,
        affected_orders,
    })
}

/// The object under `name`, checked so it can be stored as top-level attributes.
fn document<'a>(object: &'a Map<String, Value>, name: &str) -> Result<&'a Map<String, Value>, ApiError> {
    let document = object
        .get(name)
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::invalid_input(name, format!("{name} must be an object")))?;
    if document.len() > MAX_DOCUMENT_FIELDS {
        return Err(ApiError::invalid_input(
            name,
            format!("{name} may have at most {MAX_DOCUMENT_FIELDS} top-level fields"),
        ));
    }
    if let Some(field) = document
        .keys()
        .find(|field| field.is_empty() || RESERVED_ATTRIBUTES.contains(&field.as_str()))
    {
        return Err(ApiError::invalid_input(
            &format!("{name}.{field}"),
            format!("the field name {field:?} is reserved; rename it"),
        ));
    }
    Ok(document)
}

/// A non-empty string or an integer, as a string (order numbers and SKUs come as either).
fn id_value(value: &Value) -> Option<String> {
    match value {
        Value::String(s)
            if !s.trim().is_empty() && s.chars().count() <= MAX_ID_CHARS && !s.chars().any(char::is_control) =>
        {
            Some(s.trim().to_string())
        }
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn natural_id(document: &Map<String, Value>, path: &str) -> Result<String, ApiError> {
    let field = path.rsplit('.').next().unwrap_or(path);
    match document.get(field) {
        None | Some(Value::Null) => Err(ApiError::invalid_input(path, format!("{path} is required"))),
        Some(value) => id_value(value).ok_or_else(|| {
            ApiError::invalid_input(
                path,
                format!("{path} must be a non-empty string of at most {MAX_ID_CHARS} characters without control characters, or an integer"),
            )
        }),
    }
}

fn optional_email(document: &Map<String, Value>, field: &str, path: &str) -> Result<Option<String>, ApiError> {
    match document.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(email)) if normalized_email(email).is_some() => Ok(normalized_email(email)),
        Some(_) => Err(ApiError::invalid_input(
            path,
            format!("{path} must be an email address"),
        )),
    }
}

/// An RFC 3339 timestamp, normalized to UTC so that it sorts as text.
fn optional_timestamp(document: &Map<String, Value>, field: &str, path: &str) -> Result<Option<String>, ApiError> {
    match document.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => normalized_rfc3339(text).map(Some).ok_or_else(|| {
            ApiError::invalid_input(
                path,
                format!("{path} must be an RFC 3339 timestamp such as 2026-03-12T10:30:00Z"),
            )
        }),
        Some(_) => Err(ApiError::invalid_input(
            path,
            format!("{path} must be an RFC 3339 timestamp"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_accept_strings_and_integers_only() {
        assert_eq!(id_value(&json!("4521")), Some("4521".into()));
        assert_eq!(id_value(&json!(4521)), Some("4521".into()));
        assert_eq!(id_value(&json!(" 4521 ")), Some("4521".into()));
        for bad in [
            json!(""),
            json!("  "),
            json!(1.5),
            json!(null),
            json!([1]),
            json!({"a": 1}),
            json!("x".repeat(257)),
        ] {
            assert_eq!(id_value(&bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        let doc = json!({"email": " Max@Example.com "});
        assert_eq!(
            optional_email(doc.as_object().unwrap(), "email", "x").unwrap(),
            Some("max@example.com".into())
        );
        for bad in [
            json!({"email": "max"}),
            json!({"email": "max@localhost"}),
            json!({"email": 5}),
            json!({"email": "a b@c.de"}),
        ] {
            assert!(optional_email(bad.as_object().unwrap(), "email", "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_are_normalized_to_utc() {
        let doc = json!({"at": "2026-03-12T12:30:00+02:00"});
        assert_eq!(
            optional_timestamp(doc.as_object().unwrap(), "at", "x").unwrap(),
            Some("2026-03-12T10:30:00.000Z".into())
        );
        let bad = json!({"at": "12.03.2026"});
        assert_eq!(
            optional_timestamp(bad.as_object().unwrap(), "at", "x")
                .unwrap_err()
                .status
                .as_u16(),
            422
        );
    }

    #[test]
    fn reserved_and_empty_field_names_are_refused() {
        let body = json!({"order": {"order_number": "1", "PK": "x"}});
        assert_eq!(
            document(body.as_object().unwrap(), "order").unwrap_err().code,
            "INVALID_INPUT"
        );
        let body = json!({"order": {"": 1}});
        assert!(document(body.as_object().unwrap(), "order").is_err());
        let body = json!({"order": "4521"});
        assert!(document(body.as_object().unwrap(), "order").is_err());
    }
}
