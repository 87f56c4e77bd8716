//! Hookgate's shared crate: what every function binary uses, laid out by role.
//!
//! Entry points, one module per function, named exactly like `functions/<name>` (`-` → `_`):
//! - [`api`]: the HTTP functions. `/api/v1/webhooks/{id}/test` is served by `webhook-sends`,
//!   so its code is in [`api::webhook_sends`]; each module writes its route table next to its
//!   handlers.
//! - [`inbound`]: provider webhooks on one pipeline (find the connected account, verify the
//!   raw bytes, claim the provider's event id, process, publish), one module per source.
//! - [`worker`]: the queue consumers (`delivery-worker`) and scheduled jobs (`sla-breaches`).
//!
//! Beneath them, used by all and importing none of them:
//! - [`outbound`]: the event catalog, condition matching and field filters, queue messages,
//!   signing, the SSRF guard, fan-out and batching, operational alerts.
//! - [`store`] (the single DynamoDB table; imports nothing above it), [`auth`] (keys, scopes,
//!   rate limits), [`http`] (route tables, body extraction, JSON responses), [`error`],
//!   [`runtime`] (per-container wiring), [`blob`] (files in S3), [`cache`], [`clock`],
//!   [`crypto`], [`secrets`], [`ids`].
//!
//! Entry modules never import one another; a test (`tests/layering.rs`) holds that.

pub mod api;
pub mod auth;
pub mod aws;
pub mod blob;
pub mod cache;
pub mod clock;
pub mod crypto;
pub mod desk;
pub mod error;
pub mod http;
pub mod ids;
pub mod inbound;
pub mod mail;
pub mod outbound;
pub mod random;
pub mod runtime;
pub mod secrets;
pub mod store;
pub mod worker;

pub use error::ApiError;

/// Every binary linking this crate (each function, the tests, the bench) allocates with
/// mimalloc instead of the C library's malloc: a request allocates for each JSON value it parses
/// and each string it builds, and glibc's malloc and free were a tenth of an ingest's CPU
/// (`make bench`, README). The fuzz targets build without it (`default-features = false`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version reported by `/api/health` and the OpenAPI document.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
