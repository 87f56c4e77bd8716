//! The HTTP functions, one module per function binary (`functions/webhook-endpoints` →
//! [`webhook_endpoints`]). Each module's `handle` is what the binary serves; its route table
//! (`ROUTES`) sits next to the handlers it names.

pub mod activate;
pub mod agent_context;
pub mod api_keys;
pub mod attachments;
pub mod blocked_senders;
pub mod conversations;
pub mod csat;
pub mod customers;
pub mod deliveries_redrive;
pub mod executions;
pub mod health;
pub mod ingest;
pub mod integrations;
pub mod openapi;
pub mod orders;
pub mod sla_policies;
pub mod tickets;
pub mod trigger_webhooks;
pub mod triggers;
pub mod webhook_endpoints;
pub mod webhook_sends;
pub mod widget;
pub mod widget_settings;
