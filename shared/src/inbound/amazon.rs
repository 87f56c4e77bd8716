//! Amazon notifications over SNS, through two doors into the one inbound pipeline:
//! - over HTTPS: `POST /api/amazon/webhook` with SNS's JSON ([`handle`], `amazon-webhooks`);
//! - natively: the SNS topic subscribed to the `amazon-notifications` Lambda, which receives
//!   `SnsEvent` records ([`handle_sns_event`]), each passed on as the HTTPS door receives it.
//!
//! Either way the topic must be one an integration connected (else refused, nothing stored),
//! the SNS signature must verify against the certificate fetched from Amazon (see `sns`), and
//! the message must be recent. `SubscriptionConfirmation` is confirmed by fetching its
//! `SubscribeURL` only after that. Notifications are deduplicated by `MessageId`; ORDER_CHANGE,
//! MFN_ORDER_STATUS_CHANGE and RETURN_STATUS_CHANGE update the order and add an event the agent
//! context shows; FEED_PROCESSING_FINISHED and any other notification are stored as sent.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::sns::{SnsRefusal, SnsVerifier, trusted_sns_url};

use super::payload::{parse_object, text, without_nulls};
use super::{Identified, InboundServices, Intake, Processed, Source, Webhook, check_age, receive};
use crate::clock::{normalized_rfc3339, parse_rfc3339, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, json_response};
use crate::ids::new_ulid;
use crate::store::events::NewEvent;
use crate::store::integrations::{Integration, Provider};
use crate::store::orders::OrderCustomerLink;

/// SNS retries an HTTPS delivery for up to an hour by default; a message older than this is a replay.
const MAX_AGE_SECONDS: i64 = 6 * 3600;

/// The Amazon source: the SNS verifier (its certificate cache lives as long as the container)
/// and the client that confirms subscriptions, beside the inbound services.
pub struct AmazonServices {
    pub inbound: InboundServices,
    pub verifier: SnsVerifier,
    pub http: reqwest::Client,
}

impl AmazonServices {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, crate::runtime::Error> {
        let http = SnsVerifier::https_client();
        Ok(Self {
            inbound: InboundServices::from_env(config).await?,
            verifier: SnsVerifier::new(http.clone()),
            http,
        })
    }
}

/// Receive an Amazon SNS message (subscription confirmation or notification).
#[utoipa::path(post, path = "/api/amazon/webhook", operation_id = "amazon_webhooks", tag = "Provider webhooks",
    request_body(content = Object, description = "The JSON SNS posts (sent as text/plain)"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &AmazonServices, request: Request) -> Response<Body> {
    receive(&services.inbound, services, &ROUTES, &request).await
}

/// `amazon-webhooks`' one route: the SNS signature guards it.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::POST, HTTPS_DOOR, ())];

/// The native door: every record of an SNS event, as the HTTPS door would have received it.
/// A refused message is logged and dropped (a retry would be refused again); a failure on our
/// side fails the invocation so that Lambda retries.
pub async fn handle_sns_event(services: &AmazonServices, event: Value) -> Result<(), crate::runtime::Error> {
    let records = event
        .get("Records")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for record in records {
        let Some(message) = record.get("Sns").and_then(Value::as_object) else {
            tracing::warn!("an SNS event record without an Sns message; dropped");
            continue;
        };
        let request = lambda_http::http::Request::builder()
            .method(Method::POST)
            .uri(HTTPS_DOOR)
            .body(Body::from(Value::Object(message.clone()).to_string()))?;
        match super::accept(&services.inbound, services, &request).await {
            Ok(_) => {}
            Err(error) if error.status.is_server_error() => return Err(error.message.into()),
            Err(error) => tracing::warn!(code = error.code, message = %error.message, "SNS message refused"),
        }
    }
    Ok(())
}

/// Where SNS posts over HTTPS.
const HTTPS_DOOR: &str = "/api/amazon/webhook";

/// A verified SNS message.
pub struct SnsMessage(Map<String, Value>);

/// The topic an SNS message comes from.
pub fn topic_arn(body: &[u8]) -> Result<String, ApiError> {
    // SNS sends `text/plain`: the body is read as JSON whatever the content type says.
    parse_object(body)?
        .get("TopicArn")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_request("not an SNS message: TopicArn is missing"))
}

impl Source for AmazonServices {
    type Event = SnsMessage;

    const PROVIDER: Provider = Provider::Amazon;

    /// The topic: an integration lists the topics whose messages it accepts.
    fn accounts(&self, _request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        topic_arn(body).map(|topic| vec![topic])
    }

    /// SNS signs the message's fields, not its bytes: the signature checks out against the
    /// certificate fetched from Amazon, and the message must be recent.
    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let message = parse_object(webhook.body)?;
        self.verifier.verify(&message).await.map_err(refused)?;
        let sent = message
            .get("Timestamp")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .ok_or_else(|| ApiError::unauthorized("the SNS Timestamp is missing or invalid"))?;
        check_age(sent, webhook.now, MAX_AGE_SECONDS)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<SnsMessage>, ApiError> {
        let message = parse_object(webhook.body)?;
        let id = message
            .get("MessageId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("not an SNS message: MessageId is missing"))?
            .to_string();
        match message.get("Type").and_then(Value::as_str) {
            Some("Notification") => Ok(Intake::event(id, SnsMessage(message))),
            Some("SubscriptionConfirmation" | "UnsubscribeConfirmation") => Ok(Intake::Control(SnsMessage(message))),
            _ => Err(ApiError::bad_request("unknown SNS message Type")),
        }
    }

    async fn process(&self, webhook: &Webhook<'_>, message: &Identified<SnsMessage>) -> Result<Processed, ApiError> {
        let body = message.event.0.get("Message").and_then(Value::as_str);
        notification(
            webhook.services,
            webhook.integration,
            &message.id,
            body.unwrap_or_default(),
        )
        .await
    }

    async fn control(&self, webhook: &Webhook<'_>, message: &SnsMessage) -> Result<Response<Body>, ApiError> {
        let integration = webhook.integration;
        if message.0.get("Type").and_then(Value::as_str) == Some("SubscriptionConfirmation") {
            return confirm(self, &message.0).await;
        }
        tracing::warn!(topic_arn = %integration.account, org_id = %integration.org_id, "the topic unsubscribed Hookgate");
        Ok(json_response(
            StatusCode::OK,
            &json!({"success": true, "unsubscribed": true}),
        ))
    }
}

fn refused(refusal: SnsRefusal) -> ApiError {
    match refusal {
        SnsRefusal::CertificateUnavailable(reason) => {
            tracing::error!(reason, "SNS signing certificate unavailable");
            ApiError::unauthorized("the SNS signing certificate could not be fetched")
        }
        other => ApiError::unauthorized(other.to_string()),
    }
}

/// Confirms a subscription by fetching its `SubscribeURL` (only an SNS URL; the signature was
/// checked before).
async fn confirm(services: &AmazonServices, message: &Map<String, Value>) -> Result<Response<Body>, ApiError> {
    let url = message
        .get("SubscribeURL")
        .or_else(|| message.get("SubscribeUrl"))
        .and_then(Value::as_str)
        .filter(|url| trusted_sns_url(url))
        .ok_or_else(|| ApiError::unauthorized("SubscribeURL is not an Amazon SNS URL"))?;
    let response = services.http.get(url).send().await.map_err(|e| {
        tracing::error!(error = %e, "confirming an SNS subscription");
        ApiError::internal()
    })?;
    if !response.status().is_success() {
        tracing::error!(status = %response.status(), "SNS refused the subscription confirmation");
        return Err(ApiError::internal());
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"success": true, "confirmed": true}),
    ))
}

/// A field in PascalCase (ORDER_CHANGE) or camelCase (FEED_PROCESSING_FINISHED): SP-API uses both.
fn field<'a>(object: &'a Value, pascal: &str) -> Option<&'a Value> {
    object.get(pascal).or_else(|| {
        let mut camel = pascal.to_string();
        camel[..1].make_ascii_lowercase();
        object.get(camel.as_str())
    })
}

/// The first object inside `Payload` (`OrderChangeNotification`, ...).
fn payload_body(notification: &Value) -> Option<&Value> {
    field(notification, "Payload")?
        .as_object()?
        .values()
        .find(|v| v.is_object())
}

async fn notification(
    services: &InboundServices,
    integration: &Integration,
    message_id: &str,
    body: &str,
) -> Result<Processed, ApiError> {
    let org_id = &integration.org_id;
    let now = rfc3339(services.clock.now());
    let notification: Value = serde_json::from_str(body).unwrap_or_else(|_| json!({"message": body}));
    let kind = field(&notification, "NotificationType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = payload_body(&notification).cloned().unwrap_or(Value::Null);
    let (event, order_fields) = match kind.as_str() {
        "ORDER_CHANGE" => {
            let summary = field(&payload, "Summary").cloned().unwrap_or(Value::Null);
            let items: Vec<Value> = field(&summary, "OrderItems")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|i| json!({"sku": i.get("SellerSKU"), "qty": i.get("Quantity"), "status": i.get("OrderItemStatus")}))
                        .collect()
                })
                .unwrap_or_default();
            let fields = json!({
                "status": field(&summary, "OrderStatus").and_then(Value::as_str).map(str::to_lowercase),
                "fulfillment_type": field(&summary, "FulfillmentType"),
                "marketplace_id": field(&summary, "MarketplaceId"),
                "ordered_at": field(&summary, "PurchaseDate").and_then(Value::as_str).and_then(normalized_rfc3339),
                "items": (!items.is_empty()).then_some(items),
            });
            ("amazon.order_change", Some(fields))
        }
        "MFN_ORDER_STATUS_CHANGE" => (
            "amazon.mfn_order_status_change",
            Some(json!({"status": field(&payload, "OrderStatus").and_then(Value::as_str).map(str::to_lowercase)})),
        ),
        "RETURN_STATUS_CHANGE" => (
            "amazon.return_status_change",
            Some(json!({"return_status": field(&payload, "ReturnStatus").or_else(|| field(&payload, "Status"))})),
        ),
        "FEED_PROCESSING_FINISHED" => ("amazon.feed_processing_finished", None),
        _ => ("amazon.notification", None),
    };
    let order_number = text(field(&payload, "AmazonOrderId"));
    match (order_fields, order_number) {
        (Some(fields), Some(order_number)) => {
            let mut fields = without_nulls(fields.as_object().cloned().unwrap_or_default());
            fields.insert("order_number".into(), json!(order_number));
            fields.insert("channel".into(), json!("amazon"));
            if let Some(seller) = field(&payload, "SellerId") {
                fields.insert("amazon_seller_id".into(), seller.clone());
            }
            let link = OrderCustomerLink {
                customer_email: None,
                ordered_at: fields.get("ordered_at").and_then(Value::as_str),
            };
            services
                .store
                .note_written(integration, &crate::store::orders::order_pk(org_id, &order_number))
                .await?;
            services
                .store
                .upsert_order(org_id, &order_number, &fields, link, &now)
                .await?;
            // The change itself, on the order: the agent tells what happened and when.
            let event_id = new_ulid();
            services
                .store
                .record_event(
                    org_id,
                    &NewEvent {
                        event_id: &event_id,
                        event,
                        data: &payload,
                        affected_orders: std::slice::from_ref(&order_number),
                        received_at: &now,
                    },
                )
                .await?;
        }
        _ => {
            services
                .store
                .record_other(org_id, "amazon_notification", message_id, &notification, &now)
                .await?;
        }
    }
    Ok(Processed::publish(
        event,
        json!({"notification_type": kind, "notification": notification}),
    ))
}
