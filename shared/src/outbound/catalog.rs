//! The outbound event types an endpoint can subscribe to.

/// (name, what it means). `*` subscribes to all of them.
pub const EVENT_TYPES: [(&str, &str); 52] = [
    ("order.upserted", "An order was sent to /api/webhook"),
    ("customer.upserted", "A customer was sent to /api/webhook"),
    ("product.upserted", "A product was sent to /api/webhook"),
    (
        "merchant_event.received",
        "A merchant event (e.g. shipping_delay) was sent to /api/webhook",
    ),
    ("email.received", "New email received"),
    ("reply.sent", "Reply sent"),
    ("email.escalated", "Email escalated to team"),
    ("sla.breached", "SLA deadline exceeded"),
    ("csat.received", "New CSAT rating"),
    ("ticket.created", "A support ticket was opened"),
    (
        "ticket.updated",
        "A ticket's status, priority, assignee, tags or fields changed",
    ),
    ("ticket.solved", "A ticket was solved"),
    ("ticket.escalated", "A ticket was escalated to a team (any channel)"),
    (
        "conversation.created",
        "A message, reply or internal note was added to a ticket",
    ),
    ("chat.session.created", "A visitor opened a widget chat session"),
    ("chat.message.received", "A visitor sent a message through the widget"),
    ("chat.message.sent", "An agent or the AI replied on a widget ticket"),
    (
        "message.received",
        "A customer's message came in on a chat or phone channel (WhatsApp, Messenger, Slack, SMS, Dialpad)",
    ),
    ("agent.conversation.started", "An agent began a conversation (seed 001)"),
    ("agent.conversation.completed", "An agent's conversation ended"),
    (
        "agent.message.received",
        "An agent received a message in a conversation",
    ),
    ("agent.message.sent", "An agent sent a message in a conversation"),
    ("workflow.execution.started", "A workflow execution started"),
    ("workflow.execution.completed", "A workflow execution completed"),
    ("workflow.execution.failed", "A workflow execution failed"),
    ("workflow.step.completed", "A step of a workflow execution completed"),
    (
        "order.confirmed",
        "The customer confirmed the order on the call: safe to ship",
    ),
    ("order.cancelled", "The customer cancelled the order during the call"),
    (
        "order.no_answer",
        "Every call attempt failed: decide whether to ship or cancel",
    ),
    ("webhook.test", "A test send from POST /api/v1/webhooks/{id}/test"),
    ("record.received", "Any other data type was sent to /api/webhook"),
    ("shopify.order.created", "Shopify: an order was created (orders/create)"),
    (
        "shopify.order.updated",
        "Shopify: an order was updated (orders/updated)",
    ),
    (
        "shopify.order.fulfilled",
        "Shopify: an order was fulfilled (orders/fulfilled)",
    ),
    (
        "shopify.order.partially_fulfilled",
        "Shopify: part of an order was fulfilled (orders/partially_fulfilled)",
    ),
    (
        "shopify.customer.created",
        "Shopify: a customer was created (customers/create)",
    ),
    (
        "shopify.customer.updated",
        "Shopify: a customer was updated (customers/update)",
    ),
    (
        "shopify.customers.data_request",
        "Shopify: a customer asked for their data; the report is ready",
    ),
    ("shopify.customers.redact", "Shopify: a customer's data was erased"),
    ("shopify.shop.redact", "Shopify: a shop's data was erased"),
    ("stripe.customer.subscription.created", "Stripe: a subscription started"),
    ("stripe.customer.subscription.updated", "Stripe: a subscription changed"),
    ("stripe.customer.subscription.deleted", "Stripe: a subscription ended"),
    (
        "stripe.customer.subscription.trial_will_end",
        "Stripe: a trial ends in 3 days",
    ),
    ("stripe.invoice.paid", "Stripe: an invoice was paid"),
    ("stripe.invoice.payment_failed", "Stripe: an invoice payment failed"),
    ("stripe.payment_intent.payment_failed", "Stripe: a payment failed"),
    ("amazon.order_change", "Amazon: an order changed (ORDER_CHANGE)"),
    (
        "amazon.mfn_order_status_change",
        "Amazon: a merchant-fulfilled order's status changed",
    ),
    ("amazon.return_status_change", "Amazon: a return's status changed"),
    ("amazon.feed_processing_finished", "Amazon: a feed finished processing"),
    ("amazon.notification", "Amazon: any other notification, stored as sent"),
];

pub const ALL_EVENTS: &str = "*";

pub fn is_known(event: &str) -> bool {
    event == ALL_EVENTS || EVENT_TYPES.iter().any(|(name, _)| *name == event)
}

/// Whether an endpoint subscribed to `subscribed` wants `event`. Test sends reach the endpoint
/// they were made for whatever it subscribes to.
pub fn subscribed(subscribed: &[String], event: &str) -> bool {
    subscribed.iter().any(|s| s == ALL_EVENTS || s == event)
}

/// An event type of the catalog, as the OpenAPI document names it: one of `EVENT_TYPES`.
pub struct EventType;

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        event_names(EVENT_TYPES.iter().map(|(name, _)| *name))
    }
}

impl utoipa::ToSchema for EventType {}

/// What an endpoint subscribes to, as the OpenAPI document names it: an event type or `*`.
pub struct EventSubscription;

impl utoipa::PartialSchema for EventSubscription {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        event_names(EVENT_TYPES.iter().map(|(name, _)| *name).chain([ALL_EVENTS]))
    }
}

impl utoipa::ToSchema for EventSubscription {}

fn event_names<'a>(names: impl Iterator<Item = &'a str>) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .into()
}
