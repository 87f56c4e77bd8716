//! `POST /api/webhooks/stripe?account=<acct_...>`: Stripe's events for a connected account.
//!
//! `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` where each `v1` is HMAC-SHA256 of
//! `"{t}.{raw body}"` under the endpoint secret (several during Stripe's secret rotation); a
//! timestamp more than 300 s from now is a replay. The account in the query (or, for a Connect
//! event, its `account` field) names the integration whose secret verifies the request (Stripe
//! lets the merchant register any URL).
//!
//! On Hookgate's own billing account (an integration the operator marks `billing`),
//! subscription events set the organization's plan and trial. Otherwise, and for invoice and
//! payment events, events are recorded; failed payments raise an alert on the operators' topic.

use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value, json};

use super::payload::parse_object;
use super::{
    Identified, InboundServices, Intake, Processed, Source, Webhook, check_age, header, integration_secret, receive,
};
use crate::clock::rfc3339;
use crate::crypto::{constant_time_eq, hmac_sha256};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, query_parameter};
use crate::store::integrations::{Integration, Provider};
use crate::store::organizations::PlanChange;
use lambda_http::http::Method;

/// Stripe's own libraries refuse signatures older than this.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The subscription events that set the plan, on Hookgate's own billing account.
const PLAN_EVENTS: [&str; 4] = [
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
];

/// Plans, cheapest first; a subscription's price names one of them.
pub const PLANS: [&str; 4] = ["free", "starter", "professional", "growth"];

/// Stripe, on `stripe-webhooks`.
pub struct Stripe;

/// A verified Stripe event under its id.
type Received = Identified<StripeEvent>;

/// A verified Stripe event.
pub struct StripeEvent {
    kind: String,
    object: Map<String, Value>,
    event: Map<String, Value>,
}

/// Receive a Stripe event.
#[utoipa::path(post, path = "/api/webhooks/stripe", operation_id = "stripe_webhooks", tag = "Provider webhooks",
    params(("account" = String, Query, description = "The connected Stripe account (acct_...)"),
           ("Stripe-Signature" = String, Header)),
    request_body(content = Object, description = "A Stripe event"),
    responses((status = 200, body = super::InboundAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn handle(services: &InboundServices, request: Request) -> Response<Body> {
    receive(services, &Stripe, &ROUTES, &request).await
}

/// `stripe-webhooks`' one route: the signature, not a key, guards it.
pub const ROUTES: [Route<()>; 1] = [Route::public(Method::POST, "/api/webhooks/stripe", ())];

impl Source for Stripe {
    type Event = StripeEvent;

    const PROVIDER: Provider = Provider::Stripe;

    /// Stripe lets the merchant register any URL: `?account=` names the connected account; a
    /// Connect event names it in its body (`account`), checked against that account's secret
    /// like any other.
    fn accounts(&self, request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError> {
        query_parameter(request, "account")
            .or_else(|| {
                let event: Value = serde_json::from_slice(body).ok()?;
                event.get("account")?.as_str().map(str::to_string)
            })
            .map(|account| vec![account])
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the account query parameter (or a Connect event's account) names the connected Stripe account",
                )
            })
    }

    async fn verify(&self, webhook: &Webhook<'_>) -> Result<(), ApiError> {
        let request = webhook.request;
        let signature =
            header(request, "stripe-signature").ok_or_else(|| ApiError::unauthorized("Stripe-Signature is missing"))?;
        let secret = integration_secret(webhook.services, webhook.integration)?;
        verify_signature(secret.as_bytes(), webhook.body, signature, webhook.now)
    }

    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<StripeEvent>, ApiError> {
        let event = parse_object(webhook.body)?;
        let id = event
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_input("id", "the event has no id"))?
            .to_string();
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let object = event
            .get("data")
            .and_then(|d| d.get("object"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Ok(Intake::event(id, StripeEvent { kind, object, event }))
    }

    /// On Hookgate's own billing account, subscription events set the plan; otherwise they,
    /// invoices and payments are recorded, and failed payments alert the operators.
    async fn process(&self, webhook: &Webhook<'_>, stripe: &Received) -> Result<Processed, ApiError> {
        let services = webhook.services;
        let kind = stripe.event.kind.as_str();
        let outbound = if webhook.integration.billing && PLAN_EVENTS.contains(&kind) {
            Some(set_plan(services, webhook.integration, stripe).await?)
        } else if ["customer.subscription.", "invoice.", "payment_intent.", "charge."]
            .iter()
            .any(|prefix| kind.starts_with(prefix))
        {
            Some(record_billing_event(services, webhook.integration, stripe).await?)
        } else {
            None
        };
        Ok(match outbound.and_then(|data| Some((outbound_event(kind)?, data))) {
            Some((name, data)) => Processed::publish(name, data),
            None => Processed::nothing(),
        })
    }
}

/// On Hookgate's own billing account: the plan the subscription names becomes the organization's.
async fn set_plan(services: &InboundServices, integration: &Integration, stripe: &Received) -> Result<Value, ApiError> {
    let StripeEvent { kind, object, event } = &stripe.event;
    let change = plan_change(kind, object, event);
    let applied = services
        .store
        .set_plan(
            &integration.org_id,
            &PlanChange {
                plan: change.plan,
                subscription_status: &change.status,
                trial_ends_at: change.trial_ends_at.as_deref(),
                changed_at: change.changed_at,
            },
        )
        .await?;
    if !applied {
        tracing::info!(event_id = %stripe.id, "an older subscription change arrived late; not applied");
    }
    Ok(json!({
        "plan": change.plan, "subscription_status": change.status,
        "trial_ends_at": change.trial_ends_at, "subscription": object.get("id"),
    }))
}

/// Subscription, invoice and payment events are recorded as sent; a failed payment alerts the
/// operators.
async fn record_billing_event(
    services: &InboundServices,
    integration: &Integration,
    stripe: &Received,
) -> Result<Value, ApiError> {
    let StripeEvent { kind, object, event } = &stripe.event;
    let (org_id, event_id) = (integration.org_id.as_str(), stripe.id.as_str());
    let at = rfc3339(services.clock.now());
    services
        .store
        .record_other(org_id, "stripe_event", event_id, &Value::Object(event.clone()), &at)
        .await?;
    if kind.ends_with("payment_failed") || kind == "charge.failed" {
        let detail = format!(
            "{kind} for customer {} ({} {})",
            object.get("customer").and_then(Value::as_str).unwrap_or("unknown"),
            object
                .get("amount_due")
                .or_else(|| object.get("amount"))
                .unwrap_or(&Value::Null),
            object.get("currency").and_then(Value::as_str).unwrap_or_default(),
        );
        services
            .alerts
            .publish_about("stripe.payment_failed", org_id, "stripe_event", event_id, &detail, &at)
            .await;
    }
    Ok(Value::Object(object.clone()))
}

/// Checks `Stripe-Signature` as Stripe's libraries do: any `v1` matching, within the tolerance.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str, now: time::OffsetDateTime) -> Result<(), ApiError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v1)) => signatures.push(v1),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| ApiError::unauthorized("Stripe-Signature has no timestamp"))?;
    let expected = hex::encode(hmac_sha256(secret, &[timestamp.to_string().as_bytes(), b".", body]));
    if !signatures
        .iter()
        .any(|v1| constant_time_eq(expected.as_bytes(), v1.as_bytes()))
    {
        return Err(ApiError::unauthorized("no Stripe signature matches the body"));
    }
    let sent = time::OffsetDateTime::from_unix_timestamp(timestamp)
        .map_err(|_| ApiError::unauthorized("Stripe-Signature's timestamp is out of range"))?;
    check_age(sent, now, TOLERANCE_SECONDS)
}

struct Change {
    plan: &'static str,
    status: String,
    trial_ends_at: Option<String>,
    changed_at: i64,
}

/// The plan a subscription event puts the organization on: the plan its price names (lookup
/// key, nickname, then metadata), or `free` once the subscription has ended.
fn plan_change(kind: &str, subscription: &Map<String, Value>, event: &Map<String, Value>) -> Change {
    let status = subscription
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("active")
        .to_string();
    let ended = kind == "customer.subscription.deleted"
        || matches!(status.as_str(), "canceled" | "incomplete_expired" | "unpaid");
    let price = subscription
        .get("items")
        .and_then(|i| i.get("data"))
        .and_then(|d| d.get(0))
        .and_then(|item| item.get("price"));
    let names = [
        price.and_then(|p| p.get("lookup_key")),
        price.and_then(|p| p.get("nickname")),
        subscription.get("metadata").and_then(|m| m.get("plan")),
        price.and_then(|p| p.get("metadata")).and_then(|m| m.get("plan")),
    ];
    let named = names
        .iter()
        .filter_map(|name| name.and_then(Value::as_str))
        .find_map(|name| {
            let name = name.to_lowercase();
            // The dearest plan the name mentions ("growth_monthly", "Professional (yearly)").
            PLANS.iter().rev().find(|plan| name.contains(*plan)).copied()
        });
    let plan = if ended { "free" } else { named.unwrap_or("starter") };
    let trial_ends_at = subscription
        .get("trial_end")
        .and_then(Value::as_i64)
        .filter(|_| !ended)
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(rfc3339);
    Change {
        plan,
        status,
        trial_ends_at,
        changed_at: event.get("created").and_then(Value::as_i64).unwrap_or(0),
    }
}

/// The outbound event for a Stripe event type, when it is one subscribers can choose.
fn outbound_event(kind: &str) -> Option<&'static str> {
    crate::outbound::catalog::EVENT_TYPES
        .iter()
        .map(|(name, _)| *name)
        .find(|name| name.strip_prefix("stripe.") == Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_comes_from_the_price_and_ends_with_the_subscription() {
        let subscription = json!({"status": "trialing", "trial_end": 1_738_159_600,
            "items": {"data": [{"price": {"lookup_key": "professional_monthly", "nickname": "Pro"}}]}});
        let event = json!({"created": 1_736_950_000});
        let change = plan_change(
            "customer.subscription.created",
            subscription.as_object().unwrap(),
            event.as_object().unwrap(),
        );
        assert_eq!((change.plan, change.status.as_str()), ("professional", "trialing"));
        assert_eq!(change.trial_ends_at.as_deref(), Some("2025-01-29T14:06:40.000Z"));
        let ended = plan_change(
            "customer.subscription.deleted",
            subscription.as_object().unwrap(),
            event.as_object().unwrap(),
        );
        assert_eq!((ended.plan, ended.trial_ends_at), ("free", None));
    }
}
