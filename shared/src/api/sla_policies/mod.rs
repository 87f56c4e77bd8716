//! `sla-policies`: the organization's SLA policies under `/api/v1/sla-policies` (scope
//! `sla:manage`; reads also with `tickets:read`). A policy sets first-response and resolution
//! targets in minutes per priority, for every channel or a few. A ticket takes its targets when
//! it is opened or re-prioritised (see [`crate::store::sla::ticket_sla`]); the `sla-breaches`
//! function publishes `sla.breached` when one passes unmet.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, ok, serve_routes};
use crate::ids::new_ulid;
use crate::runtime::Services;
use crate::store::sla::{PriorityTargets, SlaPolicy};
use crate::store::tickets::Channel;

/// Policies one organization may have.
const MAX_POLICIES: usize = 50;
const MAX_NAME_CHARS: usize = 100;
/// A target is at most a year.
const MAX_MINUTES: u32 = 525_600;

#[derive(Clone, Copy)]
pub enum SlaPolicyRoute {
    Create,
    List,
    Get,
    Replace,
    Delete,
}

/// `sla-policies`' routes.
pub const ROUTES: [Route<SlaPolicyRoute>; 5] = [
    Route::new(
        Method::POST,
        "/api/v1/sla-policies",
        Scope::SlaManage,
        SlaPolicyRoute::Create,
    ),
    Route::new(
        Method::GET,
        "/api/v1/sla-policies",
        Scope::TicketsRead,
        SlaPolicyRoute::List,
    ),
    Route::new(
        Method::GET,
        "/api/v1/sla-policies/{id}",
        Scope::TicketsRead,
        SlaPolicyRoute::Get,
    ),
    Route::new(
        Method::PUT,
        "/api/v1/sla-policies/{id}",
        Scope::SlaManage,
        SlaPolicyRoute::Replace,
    ),
    Route::new(
        Method::DELETE,
        "/api/v1/sla-policies/{id}",
        Scope::SlaManage,
        SlaPolicyRoute::Delete,
    ),
];

/// Body of `POST /api/v1/sla-policies` and `PUT /api/v1/sla-policies/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyRequest {
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// Lower positions are tried first (default 0; equal positions by age).
    #[serde(default)]
    pub position: u32,
    /// The channels the policy covers; empty or absent: every channel.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// Targets per priority: at least one.
    pub targets: PriorityTargets,
}

impl Validate for SlaPolicyRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.contains('\0') {
            return Err(ApiError::invalid_input(
                "name",
                format!("name is 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let minutes: Vec<Option<u32>> = self
            .targets
            .all()
            .flat_map(|target| [target.first_response_minutes, target.resolution_minutes])
            .collect();
        if minutes.iter().all(Option::is_none) {
            return Err(ApiError::invalid_input(
                "targets",
                "a policy sets a first-response or a resolution target",
            ));
        }
        if minutes.into_iter().flatten().any(|m| m == 0 || m > MAX_MINUTES) {
            return Err(ApiError::invalid_input(
                "targets",
                format!("a target is 1 to {MAX_MINUTES} minutes"),
            ));
        }
        if !crate::http::all_distinct(&self.channels) {
            return Err(ApiError::invalid_input("channels", "a channel is named once"));
        }
        Ok(())
    }
}

#[derive(Serialize, ToSchema)]
pub struct SlaPolicyResponse {
    pub success: bool,
    pub policy: SlaPolicy,
}

#[derive(Serialize, ToSchema)]
pub struct SlaPolicyListResponse {
    pub success: bool,
    /// In the order they apply.
    pub policies: Vec<SlaPolicy>,
}

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            SlaPolicyRoute::Create => create(call).await,
            SlaPolicyRoute::List => list(call).await,
            SlaPolicyRoute::Get => get(call).await,
            SlaPolicyRoute::Replace => replace(call).await,
            SlaPolicyRoute::Delete => delete(call).await,
        }
    })
    .await
}

fn policy(policy_id: String, body: SlaPolicyRequest, created_at: String, now: String) -> SlaPolicy {
    SlaPolicy {
        policy_id,
        name: body.name.trim().to_string(),
        position: body.position,
        channels: body.channels,
        targets: body.targets,
        created_at,
        updated_at: now,
    }
}

/// Add a policy. Tickets opened or re-prioritised from now on take their targets from it.
#[utoipa::path(post, path = "/api/v1/sla-policies", operation_id = "sla_policies_create", tag = "Support desk",
    request_body = SlaPolicyRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = SlaPolicyResponse), (status = "4XX", body = ErrorBody)))]
pub async fn create(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: SlaPolicyRequest = call.validated_body()?;
    if call.store().list_sla_policies(call.org_id()).await?.len() >= MAX_POLICIES {
        // The request is valid; the organization's state refuses it.
        return Err(ApiError::conflict(format!(
            "an organization has at most {MAX_POLICIES} SLA policies"
        )));
    }
    let now = rfc3339(call.now());
    let created = policy(format!("sla_{}", new_ulid()), body, now.clone(), now);
    call.store().create_sla_policy(call.org_id(), &created).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &SlaPolicyResponse {
            success: true,
            policy: created,
        },
    ))
}

/// The organization's policies, in the order they apply.
#[utoipa::path(get, path = "/api/v1/sla-policies", operation_id = "sla_policies_list", tag = "Support desk",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = SlaPolicyListResponse), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let policies = call.store().list_sla_policies(call.org_id()).await?;
    ok(&SlaPolicyListResponse {
        success: true,
        policies,
    })
}

async fn find(call: &Call<'_>) -> Result<SlaPolicy, ApiError> {
    call.store()
        .get_sla_policy(call.org_id(), &call.path("id")?)
        .await?
        .ok_or_else(|| ApiError::not_found("no SLA policy with this id"))
}

/// One policy.
#[utoipa::path(get, path = "/api/v1/sla-policies/{id}", operation_id = "sla_policies_get", tag = "Support desk",
    params(("id" = String, Path)), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = SlaPolicyResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let policy = find(&call).await?;
    ok(&SlaPolicyResponse { success: true, policy })
}

/// Replace a policy. Tickets keep the targets they took until they are re-prioritised.
#[utoipa::path(put, path = "/api/v1/sla-policies/{id}", operation_id = "sla_policies_replace", tag = "Support desk",
    request_body = SlaPolicyRequest, params(("id" = String, Path)), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = SlaPolicyResponse), (status = "4XX", body = ErrorBody)))]
pub async fn replace(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: SlaPolicyRequest = call.validated_body()?;
    let current = find(&call).await?;
    let replaced = policy(current.policy_id, body, current.created_at, rfc3339(call.now()));
    if !call.store().replace_sla_policy(call.org_id(), &replaced).await? {
        return Err(ApiError::not_found("no SLA policy with this id"));
    }
    ok(&SlaPolicyResponse {
        success: true,
        policy: replaced,
    })
}

/// Delete a policy. Tickets keep the targets they took from it.
#[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", operation_id = "sla_policies_delete", tag = "Support desk",
    params(("id" = String, Path)), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, description = "Deleted"), (status = "4XX", body = ErrorBody)))]
pub async fn delete(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let policy_id = call.path("id")?;
    if !call.store().delete_sla_policy(call.org_id(), &policy_id).await? {
        return Err(ApiError::not_found("no SLA policy with this id"));
    }
    ok(&serde_json::json!({"success": true, "deleted": policy_id}))
}
