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

use crate::auth::{Caller, Scope};
use crate::crypto::SecretBox;
use crate::error::ApiError;
use crate::http::{Route, required_path_parameter, serve_routes};
use crate::runtime::{Error, Services};
use crate::store::endpoints::Endpoint;

/// Per-container settings of the endpoint routes.
pub struct WebhookSettings {
    pub secrets: SecretBox,
    /// Accept `http://` URLs (the local stack); production accepts only https.
    pub allow_http: bool,
    /// How long a rotated-out secret keeps signing.
    pub rotation_grace_seconds: i64,
}

impl WebhookSettings {
    pub async fn from_env(config: &aws_config::SdkConfig) -> Result<Self, Error> {
        Ok(Self {
            secrets: SecretBox::from_env(config).await?,
            allow_http: std::env::var("ALLOW_HTTP_ENDPOINTS").is_ok_and(|v| v == "true"),
            rotation_grace_seconds: std::env::var("SECRET_ROTATION_GRACE_SECONDS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(86_400),
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
    let request = &request;
    serve_routes(services, request, &ROUTES, |route, caller| async move {
        let id = || required_path_parameter(request, "id");
        match route {
            EndpointRoute::Create => crud::create(services, settings, request, caller).await,
            EndpointRoute::List => crud::list(services, caller).await,
            EndpointRoute::Get => crud::get(services, caller, &id()?).await,
            EndpointRoute::Update => crud::update(services, settings, request, caller, &id()?).await,
            EndpointRoute::Delete => crud::delete(services, caller, &id()?).await,
            EndpointRoute::RotateSecret => secrets::rotate_secret(services, settings, caller, &id()?).await,
            EndpointRoute::Logs => logs::logs(services, request, caller, &id()?).await,
            EndpointRoute::Stats => logs::stats(services, caller, &id()?).await,
        }
    })
    .await
}

fn not_found() -> ApiError {
    ApiError::not_found("no webhook endpoint with this id")
}

/// The caller's endpoint `id`, or 404 (another organization's endpoint is not found either).
pub async fn find_endpoint(services: &Services, caller: &Caller, id: &str) -> Result<Endpoint, ApiError> {
    services
        .store
        .get_endpoint(&caller.org_id, id)
        .await?
        .ok_or_else(not_found)
}
