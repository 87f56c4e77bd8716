//! The outbound event types an endpoint can subscribe to.

/// (name, what it means). `*` subscribes to all of them.
pub const EVENT_TYPES: [(&str, &str); 11] = [
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
    ("webhook.test", "A test send from POST /api/v1/webhooks/{id}/test"),
    ("record.received", "Any other data type was sent to /api/webhook"),
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
