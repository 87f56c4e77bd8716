//! `webhook-endpoints`: merchants' outbound endpoints under `/api/v1/webhooks` (scope
//! `endpoints:manage`; reads also with `endpoints:read`). Test sends and recovery need the
//! queue and are another function's (`webhook-sends`).
//!
//! - [`crud`]: create, list, read, change, delete;
//! - [`secrets`]: secret rotation;
//! - [`logs`]: the delivery log and statistics;
//! - [`model`] the request and response bodies, [`validate`] the rules of a request.

pub mod crud;
pub mod logs;
pub mod model;
pub mod secrets;
mod validate;

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::auth::Scope;
use crate::crypto::SecretBox;
use crate::error::ApiError;
use crate::http::{Call, Route, serve_routes};
use crate::outbound::ssrf::AddressPolicy;
use crate::runtime::{Error, Services};
use crate::store::endpoints::Endpoint;

/// Per-container settings of the endpoint routes.
pub struct WebhookSettings {
    pub secrets: SecretBox,
    /// Accept `http://` URLs (the local stack); production accepts only https.
    pub allow_http: bool,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace_seconds: i64,
    /// Which literal addresses an endpoint may name: public ones and `DELIVERY_ALLOWED_CIDRS`,
    /// as the delivery worker allows them.
    pub destinations: AddressPolicy,
}

impl WebhookSettings {
    /// The settings from the environment, with the container's signing key.
    pub fn from_env(secrets: SecretBox) -> Result<Self, Error> {
        Ok(Self {
            secrets,
            allow_http: std::env::var("ALLOW_HTTP_ENDPOINTS").is_ok_and(|v| v == "true"),
            rotation_grace_seconds: std::env::var("SECRET_ROTATION_GRACE_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(86_400),
            destinations: AddressPolicy::parse(&std::env::var("DELIVERY_ALLOWED_CIDRS").unwrap_or_default())?,
        })
    }
}

#[derive(Clone, Copy)]
pub enum EndpointRoute {
    Create,
    List,
    Get,
    Update,
    Delete,
    RotateSecret,
    Logs,
    Stats,
}

const MANAGE: Scope = Scope::EndpointsManage;
const READ: Scope = Scope::EndpointsRead;

/// `webhook-endpoints`' routes.
pub const ROUTES: [Route<EndpointRoute>; 8] = [
    Route::new(Method::POST, "/api/v1/webhooks", MANAGE, EndpointRoute::Create),
    Route::new(Method::GET, "/api/v1/webhooks", READ, EndpointRoute::List),
    Route::new(Method::GET, "/api/v1/webhooks/{id}", READ, EndpointRoute::Get),
    Route::new(Method::PUT, "/api/v1/webhooks/{id}", MANAGE, EndpointRoute::Update),
    Route::new(Method::DELETE, "/api/v1/webhooks/{id}", MANAGE, EndpointRoute::Delete),
    Route::new(
        Method::POST,
        "/api/v1/webhooks/{id}/rotate-secret",
        MANAGE,
        EndpointRoute::RotateSecret,
    ),
    Route::new(Method::GET, "/api/v1/webhooks/{id}/logs", READ, EndpointRoute::Logs),
    Route::new(Method::GET, "/api/v1/webhooks/{id}/stats", READ, EndpointRoute::Stats),
];

pub async fn handle(services: &Services, settings: &WebhookSettings, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            EndpointRoute::Create => crud::create(call, settings).await,
            EndpointRoute::List => crud::list(call).await,
            EndpointRoute::Get => crud::get(call).await,
            EndpointRoute::Update => crud::update(call, settings).await,
            EndpointRoute::Delete => crud::delete(call).await,
            EndpointRoute::RotateSecret => secrets::rotate_secret(call, settings).await,
            EndpointRoute::Logs => logs::logs(call).await,
            EndpointRoute::Stats => logs::stats(call).await,
        }
    })
    .await
}

fn not_found() -> ApiError {
    ApiError::not_found("no webhook endpoint with this id")
}

/// The endpoint the path's `{id}` names, the caller's (404 otherwise, another organization's too).
pub async fn find_endpoint(call: &Call<'_>) -> Result<Endpoint, ApiError> {
    call.store()
        .get_endpoint(call.org_id(), &call.path("id")?)
        .await?
        .ok_or_else(not_found)
}
