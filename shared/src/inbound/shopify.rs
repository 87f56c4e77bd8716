//! `POST /api/webhooks/shopify` and `POST /api/webhooks/shopify/gdpr`: Shopify's webhooks for a
//! connected shop. `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the raw body under the app
//! secret) is checked before the body is parsed; the shop is `X-Shopify-Shop-Domain`; a
//! redelivery is recognised by `X-Shopify-Event-Id` (or `X-Shopify-Webhook-Id`).
//!
//! Orders and customers land where `/api/webhook` puts them, mapped from Shopify's payloads, so
//! the agent context answers from either source. The compliance topics are real: a data request
//! produces a report the merchant fetches, a redaction erases.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use lambda_http::http::Method;

use super::payload::{decimal, parse_object, text, without_nulls};
use super::{
    Identified, InboundServices, Intake, Processed, Source, Webhook, check_age, header, integration_secret, receive,
};
use crate::clock::{normalized_rfc3339, parse_rfc3339, rfc3339};
use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, find_route};
use crate::store::customers::customer_pk;
use crate::store::integrations::{Integration, Provider};
use crate::store::orders::{OrderCustomerLink, order_pk};

/// Shopify retries a failed webhook for 4 hours with its original `X-Shopify-Triggered-At`.
const MAX_AGE_SECONDS: i64 = 6 * 3600;

/// Shopify's webhooks, on `shopify-webhooks`.
pub struct Shopify;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ShopifyRoute {
    /// Orders and customers.
    Webhooks,
    /// The mandatory compliance topics.
    Compliance,
}

/// `shopify-webhooks`' routes: the signature, not a key, guards them.
pub const ROUTES: [Route<ShopifyRoute>; 2] = [
    Route::public(Method::POST, "/api/webhooks/shopify", ShopifyRoute::Webhooks),
    Route::public(Method::POST, "/api/webhooks/shopify/gdpr", ShopifyRoute::Compliance),
];

/// A verified Shopify webhook.
pub struct ShopifyEvent {
    route: ShopifyRoute,
    topic: String,
    body: Map<String, Value>,
}

/// Receive a Shopify webhook (orders, customers).
#[utoipa::path(post, path = "/api/webhooks/shopify", operation_id = "shopify_webhooks", tag = "Provider webhooks",
    params(("X-Shopify-Hmac-Sha256" = String, Header), ("X-Shopify-Shop-Domain" = String, Header),
           ("X-Shopify-Topic" = String, Header), ("X-Shopify-Event-Id" = Option<String>, Header)),
    request_body(content = Object, description = "Shopify's payload for the topic"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, request: Request) -> Response<Body> {
    receive(services, &Shopify, &ROUTES, &request).await
}

/// Receive Shopify's mandatory compliance webhooks.
#[utoipa::path(post, path = "/api/webhooks/shopify/gdpr", operation_id = "shopify_webhooks_compliance", tag = "Provider webhooks",
    params(("X-Shopify-Hmac-Sha256" = String, Header), ("X-Shopify-Shop-Domain" = String, Header),
           ("X-Shopify-Topic" = String, Header, description = "customers/data_request, customers/redact or shop/redact")),
    request_body(content = Object, description = "Shopify's compliance payload"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
#[allow(dead_code)] // documents the compliance route, which `handle` serves
fn compliance_document() {}

impl Source for Shopify {
    type Event = ShopifyEvent;

    const PROVIDER: Provider = Provider::Shopify;

    fn accounts(&self, request: &Request, _body: &[u8]) -> Result<Vec<String>, ApiError> {
        header(request, "x-shopify-shop-domain")
            .map(|shop| vec![shop.to_string()])
            .ok_or_else(|| ApiError::unauthorized("X-Shopify-Shop-Domain is missing"))
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let (request, body) = (webhook.request, webhook.body);
        let signature = header(request, "x-shopify-hmac-sha256")
            .ok_or_else(|| ApiError::unauthorized("X-Shopify-Hmac-Sha256 is missing"))?;
        let secret = integration_secret(webhook.services, webhook.integration)?;
        if !signature_matches(secret.as_bytes(), body, signature) {
            return Err(ApiError::unauthorized("the Shopify signature does not match the body"));
        }
        let triggered_at = header(request, "x-shopify-triggered-at")
            .and_then(parse_rfc3339)
            .ok_or_else(|| ApiError::unauthorized("X-Shopify-Triggered-At is missing or not a timestamp"))?;
        check_age(triggered_at, webhook.now, MAX_AGE_SECONDS)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<ShopifyEvent>, ApiError> {
        let (request, integration) = (webhook.request, webhook.integration);
        let route = find_route(&ROUTES, request)?.route;
        let topic = header(request, "x-shopify-topic")
            .ok_or_else(|| ApiError::bad_request("X-Shopify-Topic is missing"))?
            .to_string();
        let id = header(request, "x-shopify-event-id")
            .or_else(|| header(request, "x-shopify-webhook-id"))
            .ok_or_else(|| ApiError::bad_request("X-Shopify-Event-Id or X-Shopify-Webhook-Id is required"))?
            .to_string();
        let body = parse_object(webhook.body)?;
        if route == ShopifyRoute::Compliance {
            // The topic header is not signed: the body must be a compliance payload for this
            // shop, so that a captured order webhook replayed as `shop/redact` erases nothing.
            let body_shop = body.get("shop_domain").and_then(Value::as_str).map(str::to_lowercase);
            if body_shop.as_deref() != Some(integration.account.as_str()) {
                return Err(ApiError::unauthorized(
                    "the payload's shop_domain is not the shop the webhook comes from",
                ));
            }
        }
        Ok(Intake::event(id, ShopifyEvent { route, topic, body }))
    }

    async fn process(&self, webhook: &Webhook<'_>, event: &Identified<ShopifyEvent>) -> Result<Processed, ApiError> {
        let (services, integration) = (webhook.services, webhook.integration);
        match event.event.route {
            ShopifyRoute::Webhooks => commerce(services, integration, &event.event).await,
            ShopifyRoute::Compliance => compliance(services, integration, &event.id, &event.event).await,
        }
    }
}

/// Orders and customers land where `/api/webhook` puts them.
async fn commerce(
    services: &InboundServices,
    integration: &Integration,
    event: &ShopifyEvent,
) -> Result<Processed, ApiError> {
    let body = &event.body;
    match event.topic.as_str() {
        "orders/create" | "orders/updated" | "orders/fulfilled" | "orders/partially_fulfilled" => {
            upsert_order(services, integration, body).await?;
            let name = match event.topic.as_str() {
                "orders/create" => "shopify.order.created",
                "orders/updated" => "shopify.order.updated",
                "orders/fulfilled" => "shopify.order.fulfilled",
                _ => "shopify.order.partially_fulfilled",
            };
            Ok(Processed::publish(name, Value::Object(map_order(body))))
        }
        "customers/create" | "customers/update" => {
            // Customers are kept by email: one without (a phone-only customer) is
            // acknowledged, or Shopify would retry it and finally drop the subscription.
            let Some(customer) = map_customer(body) else {
                tracing::info!("Shopify customer without an email; acknowledged");
                return Ok(Processed::nothing());
            };
            upsert_customer(services, integration, &customer).await?;
            let name = if event.topic == "customers/create" {
                "shopify.customer.created"
            } else {
                "shopify.customer.updated"
            };
            Ok(Processed::publish(name, Value::Object(customer)))
        }
        other => {
            tracing::info!(topic = other, "Shopify topic not handled; acknowledged");
            Ok(Processed::nothing())
        }
    }
}

/// The compliance topics are real: a data request produces a report the merchant fetches, a
/// redaction erases.
async fn compliance(
    services: &InboundServices,
    integration: &Integration,
    event_id: &str,
    event: &ShopifyEvent,
) -> Result<Processed, ApiError> {
    let body = &event.body;
    let email = body
        .get("customer")
        .and_then(|c| c.get("email"))
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let now = services.clock.now();
    match event.topic.as_str() {
        "customers/data_request" => {
            // Without an email Hookgate holds nothing on the customer: the report says so.
            let email = email.unwrap_or_default();
            let request_id =
                text(body.get("data_request").and_then(|r| r.get("id"))).unwrap_or_else(|| event_id.to_string());
            let report = data_report(services, integration, &email, body, &rfc3339(now)).await?;
            services
                .store
                .put_data_request(integration, &request_id, &email, &report, now.unix_timestamp())
                .await?;
            Ok(Processed::publish(
                "shopify.customers.data_request",
                json!({
                    "data_request_id": request_id,
                    "shop_domain": integration.account,
                    "report": format!("/api/v1/integrations/{}/data-requests/{request_id}", integration.integration_id),
                }),
            ))
        }
        "customers/redact" => {
            // Without an email nothing was stored for the customer: nothing to erase.
            let mut erased = 0;
            if let Some(email) = &email {
                erased = services.store.erase_customer(&integration.org_id, email).await?;
                services.store.forget_data_requests_about(integration, email).await?;
            }
            Ok(Processed::publish(
                "shopify.customers.redact",
                json!({"shop_domain": integration.account, "customer_id": body.get("customer").and_then(|c| c.get("id")), "items_erased": erased}),
            ))
        }
        "shop/redact" => {
            let mut erased = 0;
            for pk in services.store.written_by(integration).await? {
                erased += services.store.delete_partition(&pk).await?;
            }
            services.store.forget_integration_data(integration).await?;
            Ok(Processed::publish(
                "shopify.shop.redact",
                json!({"shop_domain": integration.account, "items_erased": erased}),
            ))
        }
        other => Err(ApiError::invalid_input(
            "X-Shopify-Topic",
            format!("{other:?} is not a compliance topic"),
        )),
    }
}

/// `X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256 of the raw body under the app secret.
pub fn signature_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let expected = BASE64.encode(hmac_sha256(secret, &[body]));
    constant_time_eq(expected.as_bytes(), signature.as_bytes())
}

/// Shopify's order as Hookgate's order: the fields `/api/webhook` documents, tracking from the
/// latest fulfillment that has it.
pub fn map_order(order: &Map<String, Value>) -> Map<String, Value> {
    let order_number = text(order.get("name"))
        .map(|name| name.trim_start_matches('#').to_string())
        .or_else(|| text(order.get("order_number")));
    let email = order
        .get("email")
        .or_else(|| order.get("customer").and_then(|c| c.get("email")))
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    let customer = order.get("customer");
    let customer_name = customer.and_then(|c| full_name(c.get("first_name"), c.get("last_name")));
    let fulfillment = order.get("fulfillments").and_then(Value::as_array).and_then(|all| {
        all.iter()
            .filter(|f| f.get("status").and_then(Value::as_str) != Some("cancelled"))
            .filter(|f| f.get("tracking_number").is_some_and(|t| !t.is_null()))
            .max_by_key(|f| {
                f.get("created_at")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
    });
    let from_fulfillment = |field| fulfillment.and_then(|f| f.get(field)).cloned().unwrap_or(Value::Null);
    let status = if order.get("cancelled_at").is_some_and(|c| !c.is_null()) {
        Some("cancelled".to_string())
    } else {
        match order.get("fulfillment_status").and_then(Value::as_str) {
            Some("fulfilled") => Some("shipped".to_string()),
            Some("partial") => Some("partially_shipped".to_string()),
            _ => order
                .get("financial_status")
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    };
    let items: Vec<Value> = order
        .get("line_items")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .map(|line| {
                    Value::Object(without_nulls(Map::from_iter([
                        ("name".to_string(), line.get("title").cloned().unwrap_or(Value::Null)),
                        ("sku".to_string(), line.get("sku").cloned().unwrap_or(Value::Null)),
                        ("qty".to_string(), line.get("quantity").cloned().unwrap_or(Value::Null)),
                        ("price".to_string(), json!(decimal(line.get("price")))),
                    ])))
                })
                .collect()
        })
        .unwrap_or_default();
    without_nulls(Map::from_iter([
        ("order_number".to_string(), json!(order_number)),
        ("status".to_string(), json!(status)),
        (
            "financial_status".to_string(),
            order.get("financial_status").cloned().unwrap_or(Value::Null),
        ),
        (
            "fulfillment_status".to_string(),
            order.get("fulfillment_status").cloned().unwrap_or(Value::Null),
        ),
        ("customer_email".to_string(), json!(email)),
        ("customer_name".to_string(), json!(customer_name)),
        ("items".to_string(), json!(items)),
        ("total".to_string(), json!(decimal(order.get("total_price")))),
        (
            "currency".to_string(),
            order.get("currency").cloned().unwrap_or(Value::Null),
        ),
        (
            "ordered_at".to_string(),
            json!(
                order
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(normalized_rfc3339)
            ),
        ),
        ("tracking_number".to_string(), from_fulfillment("tracking_number")),
        ("carrier".to_string(), from_fulfillment("tracking_company")),
        ("tracking_url".to_string(), from_fulfillment("tracking_url")),
        (
            "shipped_at".to_string(),
            json!(
                fulfillment
                    .and_then(|f| f.get("created_at"))
                    .and_then(Value::as_str)
                    .and_then(normalized_rfc3339)
            ),
        ),
        ("source".to_string(), json!("shopify")),
        ("shopify_order_id".to_string(), json!(text(order.get("id")))),
    ]))
}

/// Shopify's customer as Hookgate's customer; `None` without an email (the customer's key).
pub fn map_customer(customer: &Map<String, Value>) -> Option<Map<String, Value>> {
    let email = customer.get("email").and_then(Value::as_str)?.to_lowercase();
    Some(without_nulls(Map::from_iter([
        ("email".to_string(), json!(email)),
        (
            "name".to_string(),
            json!(full_name(customer.get("first_name"), customer.get("last_name"))),
        ),
        (
            "phone".to_string(),
            customer.get("phone").cloned().unwrap_or(Value::Null),
        ),
        (
            "orders_count".to_string(),
            customer.get("orders_count").cloned().unwrap_or(Value::Null),
        ),
        ("tags".to_string(), customer.get("tags").cloned().unwrap_or(Value::Null)),
        ("source".to_string(), json!("shopify")),
        ("shopify_customer_id".to_string(), json!(text(customer.get("id")))),
    ])))
}

fn full_name(first: Option<&Value>, last: Option<&Value>) -> Option<String> {
    let parts: Vec<&str> = [first, last]
        .into_iter()
        .filter_map(|p| p.and_then(Value::as_str))
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

async fn upsert_order(
    services: &InboundServices,
    integration: &Integration,
    body: &Map<String, Value>,
) -> Result<(), ApiError> {
    let order = map_order(body);
    let Some(order_number) = order.get("order_number").and_then(Value::as_str) else {
        return Err(ApiError::invalid_input("name", "the order has no name or order_number"));
    };
    let org_id = &integration.org_id;
    let now = rfc3339(services.clock.now());
    let email = order.get("customer_email").and_then(Value::as_str);
    let link = OrderCustomerLink {
        customer_email: email,
        ordered_at: order.get("ordered_at").and_then(Value::as_str),
    };
    services
        .store
        .note_written(integration, &order_pk(org_id, order_number))
        .await?;
    services
        .store
        .upsert_order(org_id, order_number, &order, link, &now)
        .await?;
    // The order's customer too, so that "what did jane@ order?" has a profile to answer with.
    if let Some(customer) = body.get("customer").and_then(Value::as_object).and_then(map_customer) {
        upsert_customer(services, integration, &customer).await?;
    }
    Ok(())
}

async fn upsert_customer(
    services: &InboundServices,
    integration: &Integration,
    customer: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(email) = customer.get("email").and_then(Value::as_str) else {
        return Ok(());
    };
    let now = rfc3339(services.clock.now());
    // Noted before writing: an erasure must never miss something written.
    services
        .store
        .note_written(integration, &customer_pk(&integration.org_id, email))
        .await?;
    services
        .store
        .upsert_customer(&integration.org_id, email, customer, &now)
        .await?;
    Ok(())
}

/// Everything Hookgate holds on a customer: their profile, orders and the events on them.
async fn data_report(
    services: &InboundServices,
    integration: &Integration,
    email: &str,
    request: &Map<String, Value>,
    now: &str,
) -> Result<Value, ApiError> {
    let org_id = &integration.org_id;
    let page = services.store.customer_page(org_id, email, 1000, None).await?;
    let mut orders = Vec::with_capacity(page.orders.len());
    for order in &page.orders {
        let number = order
            .fields
            .get("order_number")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let with_events = services.store.order_with_events(org_id, number, 1000).await?;
        let events: Vec<Value> = with_events
            .events
            .iter()
            .map(|e| json!({"event": e.event, "data": e.data, "received_at": e.received_at}))
            .collect();
        orders.push(json!({"order": order.fields, "events": events}));
    }
    Ok(json!({
        "shop_domain": integration.account,
        "data_request": request.get("data_request"),
        "customer_requested": request.get("customer"),
        "orders_requested": request.get("orders_requested"),
        "generated_at": now,
        "customer": page.customer.map(|c| c.fields),
        "orders": orders,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_takes_tracking_from_its_latest_fulfillment() {
        let order = json!({
            "id": 5678901234567u64, "name": "#1001", "email": "Jane@Example.com",
            "created_at": "2025-01-15T09:12:33-05:00", "financial_status": "paid", "fulfillment_status": "fulfilled",
            "total_price": "59.00", "currency": "USD",
            "customer": {"id": 1, "email": "jane@example.com", "first_name": "Jane", "last_name": "Doe"},
            "line_items": [{"sku": "SERUM-30ML", "title": "Vitamin C Serum", "quantity": 1, "price": "49.00"}],
            "fulfillments": [
                {"status": "success", "created_at": "2025-01-16T10:00:00-05:00", "tracking_company": "UPS", "tracking_number": "1Z1", "tracking_url": "https://ups.example/1Z1"},
                {"status": "success", "created_at": "2025-01-17T10:00:00-05:00", "tracking_company": "DHL", "tracking_number": "DE2", "tracking_url": null}
            ]
        });
        let mapped = map_order(order.as_object().unwrap());
        assert_eq!(mapped["order_number"], "1001");
        assert_eq!(mapped["status"], "shipped");
        assert_eq!(mapped["customer_email"], "jane@example.com");
        assert_eq!(mapped["customer_name"], "Jane Doe");
        assert_eq!(mapped["ordered_at"], "2025-01-15T14:12:33.000Z");
        assert_eq!(
            (&mapped["tracking_number"], &mapped["carrier"]),
            (&json!("DE2"), &json!("DHL"))
        );
        assert!(!mapped.contains_key("tracking_url"), "nulls are left out");
        assert_eq!(
            mapped["items"],
            json!([{"name": "Vitamin C Serum", "sku": "SERUM-30ML", "qty": 1, "price": 49.0}])
        );
        assert_eq!(mapped["total"], 59.0);
        assert_eq!(mapped["shopify_order_id"], "5678901234567");
    }

    #[test]
    fn the_signature_is_base64_hmac_of_the_raw_body() {
        // Computed independently: printf '{"a":1}' | openssl dgst -sha256 -hmac secret -binary | base64
        assert!(signature_matches(
            b"secret",
            br#"{"a":1}"#,
            "qp4uNXX11wmLbKzNeQiIw21f22M0KnO62i1qUXR6hJQ="
        ));
        assert!(!signature_matches(
            b"secret",
            br#"{"a":2}"#,
            "qp4uNXX11wmLbKzNeQiIw21f22M0KnO62i1qUXR6hJQ="
        ));
    }
}
