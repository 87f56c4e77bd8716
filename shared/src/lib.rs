//! Hookgate's shared crate: what every function binary uses.
//!
//! One module per capability; a route's handler lives in the module named after its path:
//! - `/api/api-keys[/{id}]`          → [`api_keys`]
//! - `/api/webhook`                  → [`ingest`]
//! - `/api/context/...`              → [`context`]
//! - `/api/health`                   → [`health`]
//! - `/api/openapi`                  → [`openapi`]
//! - `/api/v1/webhooks[/{id}[/...]]`  → [`webhooks`] (`test`, `recover`: [`webhooks::sends`])
//! - `/api/v1/deliveries/redrive`    → [`delivery::redrive`]
//! - the SQS delivery consumer       → [`delivery`]
//! - `/api/v1/integrations[/...]`    → [`integrations`]
//! - `/api/webhooks/shopify[/gdpr]`  → [`providers::shopify`]
//! - `/api/webhooks/stripe`          → [`providers::stripe`]
//! - `/api/amazon/webhook`, the Amazon SNS topic → [`providers::amazon`]
//!
//! Below them: [`auth`] (key format, hashing, scopes, per-key rate limit), [`store`] (the single
//! DynamoDB table, one module per entity), [`http`] (request checks and JSON responses),
//! [`error`] (the JSON error shape), [`clock`], [`secrets`] and [`runtime`] (per-container wiring).

pub mod alerts;
pub mod api_keys;
pub mod auth;
pub mod clock;
pub mod context;
pub mod crypto;
pub mod delivery;
pub mod error;
pub mod health;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod integrations;
pub mod openapi;
pub mod outbound;
pub mod providers;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod webhooks;

pub use error::ApiError;

/// The version reported by `/api/health` and the OpenAPI document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
