//! Inbound webhooks from commerce providers (Shopify, Stripe, Amazon via SNS): verified on the
//! raw bytes, matched to an organization through its integration, deduplicated, written to the
//! same store `/api/webhook` writes, and fanned out as outbound events.

pub mod sns;
