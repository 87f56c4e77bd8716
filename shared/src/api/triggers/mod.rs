//! `triggers`: `/api/v1/triggers` (scope `triggers:manage`). A trigger lets a merchant's system
//! start one agent or workflow at `POST /webhooks/agents/{agent_id}` or
//! `POST /webhooks/workflows/{workflow_id}` (function `trigger-webhooks`) with its `wh_` token,
//! shown once when the trigger is created and stored only hashed.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::api_key::TRIGGER_TOKEN_PREFIX;
use crate::auth::{NewKey, Scope};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, ok, serve_routes};
use crate::runtime::Services;
use crate::store::triggers::{TRIGGER_ID_PREFIX, Trigger, TriggerKind};

/// Triggers one organization may have.
const MAX_TRIGGERS: usize = 200;
const MAX_NAME_CHARS: usize = 200;
/// An agent's or workflow's id: what fits a path segment plainly.
const MAX_TARGET_ID_CHARS: usize = 128;

#[derive(Clone, Copy)]
pub enum TriggerRoute {
    Create,
    List,
    Delete,
}

/// `triggers`' routes.
pub const ROUTES: [Route<TriggerRoute>; 3] = [
    Route::new(
        Method::POST,
        "/api/v1/triggers",
        Scope::TriggersManage,
        TriggerRoute::Create,
    ),
    Route::new(
        Method::GET,
        "/api/v1/triggers",
        Scope::TriggersManage,
        TriggerRoute::List,
    ),
    Route::new(
        Method::DELETE,
        "/api/v1/triggers/{id}",
        Scope::TriggersManage,
        TriggerRoute::Delete,
    ),
];

/// Body of `POST /api/v1/triggers`: exactly one of `agent_id` and `workflow_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTriggerRequest {
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// The agent this trigger starts conversations with.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub agent_id: Option<String>,
    /// The workflow this trigger runs.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.:-]+$")]
    pub workflow_id: Option<String>,
}

impl CreateTriggerRequest {
    fn target(&self) -> Option<(TriggerKind, &str)> {
        match (&self.agent_id, &self.workflow_id) {
            (Some(agent), None) => Some((TriggerKind::Agent, agent)),
            (None, Some(workflow)) => Some((TriggerKind::Workflow, workflow)),
            _ => None,
        }
    }
}

/// Whether `id` can name an agent or workflow in a webhook's path.
pub fn valid_target_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_TARGET_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

impl Validate for CreateTriggerRequest {
    fn validate(&self) -> Result<(), ApiError> {
        let Some((kind, target)) = self.target() else {
            return Err(ApiError::invalid_input(
                "agent_id",
                "give exactly one of agent_id and workflow_id",
            ));
        };
        if !valid_target_id(target) {
            let field = format!("{}_id", kind.as_str());
            return Err(ApiError::invalid_input(
                &field,
                format!("{field} is 1 to {MAX_TARGET_ID_CHARS} letters, digits or _ . : -"),
            ));
        }
        if self
            .name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.contains('\0'))
        {
            return Err(ApiError::invalid_input(
                "name",
                format!("name is at most {MAX_NAME_CHARS} characters"),
            ));
        }
        Ok(())
    }
}

/// A trigger with the path to call; `token` only when it was just created.
#[derive(Serialize, ToSchema)]
pub struct TriggerView {
    #[serde(flatten)]
    pub trigger: Trigger,
    /// Where to POST, relative to the API's base URL; add `?token=` or an `Authorization` header.
    pub webhook_path: String,
}

impl From<Trigger> for TriggerView {
    fn from(trigger: Trigger) -> Self {
        Self {
            webhook_path: format!("/webhooks/{}/{}", trigger.kind.path_segment(), trigger.target_id),
            trigger,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedTrigger {
    pub success: bool,
    pub trigger: TriggerView,
    /// The `wh_` token, shown this once: only its hash is stored.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TriggerList {
    pub success: bool,
    pub triggers: Vec<TriggerView>,
}

#[derive(Serialize, ToSchema)]
pub struct DeletedTrigger {
    pub success: bool,
    pub trigger: TriggerView,
}

pub async fn handle(services: &Services, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            TriggerRoute::Create => create(call).await,
            TriggerRoute::List => list(call).await,
            TriggerRoute::Delete => delete(call).await,
        }
    })
    .await
}

/// Create a trigger for an agent or a workflow; its token is answered once.
#[utoipa::path(post, path = "/api/v1/triggers", operation_id = "triggers_create", tag = "Agents and workflows",
    request_body = CreateTriggerRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CreatedTrigger), (status = "4XX", body = ErrorBody)))]
pub async fn create(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: CreateTriggerRequest = call.validated_body()?;
    let (kind, target) = body
        .target()
        .map(|(kind, target)| (kind, target.to_string()))
        .ok_or_else(ApiError::internal)?;
    let store = call.store();
    if store.list_triggers(call.org_id()).await?.len() >= MAX_TRIGGERS {
        // The request is valid; the organization's state refuses it.
        return Err(ApiError::conflict(format!(
            "an organization has at most {MAX_TRIGGERS} triggers"
        )));
    }
    let token = NewKey::generate_prefixed(TRIGGER_TOKEN_PREFIX, call.org_id(), &call.services.pepper);
    let trigger = Trigger {
        id: format!("{TRIGGER_ID_PREFIX}{}", token.key_id),
        name: body.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
        kind,
        target_id: target,
        token_prefix: format!("{TRIGGER_TOKEN_PREFIX}{}", token.key_id),
        created_at: rfc3339(call.now()),
    };
    store
        .create_trigger(call.org_id(), &trigger, &token.secret_hash)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &CreatedTrigger {
            success: true,
            trigger: trigger.into(),
            token: token.token,
        },
    ))
}

/// The organization's triggers (tokens are never shown again).
#[utoipa::path(get, path = "/api/v1/triggers", operation_id = "triggers_list", tag = "Agents and workflows",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = TriggerList), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let triggers = call.store().list_triggers(call.org_id()).await?;
    ok(&TriggerList {
        success: true,
        triggers: triggers.into_iter().map(TriggerView::from).collect(),
    })
}

/// Delete a trigger: its token stops working at once.
#[utoipa::path(delete, path = "/api/v1/triggers/{id}", operation_id = "triggers_delete", tag = "Agents and workflows",
    params(("id" = String, Path, description = "The trigger's id (`trg_...`)")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = DeletedTrigger), (status = "4XX", body = ErrorBody)))]
pub async fn delete(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let id = call.path("id")?;
    let deleted = call
        .store()
        .delete_trigger(call.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("no trigger with this id"))?;
    ok(&DeletedTrigger {
        success: true,
        trigger: deleted.into(),
    })
}
