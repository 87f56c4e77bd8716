//! `trigger-webhooks`: `POST /webhooks/agents/{agent_id}` and `POST /webhooks/workflows/{workflow_id}`
//! (seed 001's incoming webhooks). A merchant's system starts an agent conversation or a
//! workflow run with a trigger's `wh_` token, as `?token=`, `Authorization: Bearer` or
//! `Authorization: Basic` (the token as the password). The execution is stored and queued for
//! the platform's runtime, which reports back to `/api/v1/executions/{id}/events`.

use std::sync::Arc;

use base64::Engine;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::Duration;
use utoipa::ToSchema;

use crate::auth::api_key::{PresentedKey, TRIGGER_TOKEN_PREFIX, secret_matches};
use crate::auth::within_public_limit;
use crate::aws::sqs::Sqs;
use crate::clock::{Clock, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Route, error_response, find_route, json_body, json_response, once_per_key, required_path_parameter};
use crate::ids::new_ulid;
use crate::outbound::JobQueue;
use crate::runtime::{Error, Services, env_or};
use crate::store::executions::{Execution, ExecutionStatus};
use crate::store::triggers::{TRIGGER_ID_PREFIX, Trigger, TriggerKind};

/// How long an agent's answer or a workflow's run is expected to take, for
/// `estimated_completion`.
const AGENT_ESTIMATE_SECONDS: i64 = 60;
const WORKFLOW_ESTIMATE_SECONDS: i64 = 300;

/// What the trigger door needs, built once per container.
pub struct TriggerServices {
    /// The table, the pepper the tokens are hashed under, the clock.
    pub base: Services,
    /// Where executions wait for the runtime (`EXECUTIONS_QUEUE_URL`).
    pub executions: JobQueue,
    /// Requests per trigger and minute (`TRIGGER_RATE_LIMIT_PER_MINUTE`, default 600).
    pub per_trigger_per_minute: u32,
}

impl TriggerServices {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            base: Services::from_env(config).await?,
            executions: JobQueue::from_env(&Sqs::from_config(config)?, "EXECUTIONS_QUEUE_URL")?,
            per_trigger_per_minute: env_or("TRIGGER_RATE_LIMIT_PER_MINUTE", 600)?,
        })
    }

    /// The same services on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.base.clock = clock;
        self
    }
}

/// `trigger-webhooks`' routes: public, authenticated by the trigger's token.
pub const ROUTES: [Route<TriggerKind>; 2] = [
    Route::public(Method::POST, "/webhooks/agents/{agent_id}", TriggerKind::Agent),
    Route::public(Method::POST, "/webhooks/workflows/{workflow_id}", TriggerKind::Workflow),
];

/// Body of an agent trigger (seed 001).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentTriggerRequest {
    /// The customer's message.
    pub message: String,
    pub user_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    /// What the agent should know (`order_id`, `customer_email`, ...).
    #[schema(value_type = Option<Object>)]
    pub context: Option<Map<String, Value>>,
}

/// Body of a workflow trigger (seed 001).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkflowTriggerRequest {
    #[schema(value_type = Object)]
    pub input_data: Map<String, Value>,
    pub trigger_source: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// Seed 001's success answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerAccepted {
    pub success: bool,
    pub message: String,
    pub execution_id: String,
    /// `queued`.
    pub status: ExecutionStatus,
    pub estimated_completion: String,
}

/// What the runtime takes from the executions queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionJob {
    pub org_id: String,
    pub execution_id: String,
    #[serde(rename = "type")]
    pub kind: TriggerKind,
    pub agent_id: Option<String>,
    pub workflow_id: Option<String>,
    pub conversation_id: Option<String>,
    pub input: Map<String, Value>,
    pub created_at: String,
}

pub async fn handle(services: &TriggerServices, request: Request) -> Response<Body> {
    let kind = match find_route(&ROUTES, &request) {
        Ok(route) => route.route,
        Err(error) => return error_response(&error),
    };
    trigger(services, &request, kind)
        .await
        .unwrap_or_else(|error| error_response(&error))
}

/// Start an agent conversation (seed 001's agent webhook).
#[utoipa::path(post, path = "/webhooks/agents/{agent_id}", operation_id = "trigger_webhooks_agent", tag = "Agents and workflows",
    params(("agent_id" = String, Path), ("token" = Option<String>, Query, description = "The trigger's `wh_` token (or send it as `Authorization: Bearer` or as the password of `Authorization: Basic`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first execution")),
    request_body = AgentTriggerRequest,
    responses((status = 202, body = TriggerAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn agent() {}

/// Run a workflow (seed 001's workflow webhook).
#[utoipa::path(post, path = "/webhooks/workflows/{workflow_id}", operation_id = "trigger_webhooks_workflow", tag = "Agents and workflows",
    params(("workflow_id" = String, Path), ("token" = Option<String>, Query, description = "The trigger's `wh_` token (or send it as `Authorization: Bearer` or as the password of `Authorization: Basic`)"),
        ("Idempotency-Key" = Option<String>, Header, description = "A retry with the same key answers the first execution")),
    request_body = WorkflowTriggerRequest,
    responses((status = 202, body = TriggerAccepted), (status = "4XX", body = ErrorBody)))]
pub async fn workflow() {}

async fn trigger(services: &TriggerServices, request: &Request, kind: TriggerKind) -> Result<Response<Body>, ApiError> {
    let target = required_path_parameter(request, &format!("{}_id", kind.as_str()))?;
    let (org_id, trigger) = authenticate(&services.base, request, kind, &target).await?;
    let org_id = org_id.as_str();
    let base = &services.base;
    within_public_limit(
        &base.store,
        base.clock.now(),
        "trigger",
        &trigger.id,
        services.per_trigger_per_minute,
        "trigger",
    )
    .await?;
    let input = trigger_input(request, kind)?;
    let run = start_execution(services, org_id, &trigger, input);
    match crate::http::idempotency_key(request)? {
        Some(key) => once_per_key(base, org_id, &key, request, Box::pin(run)).await,
        None => run.await,
    }
}

/// The organization and trigger whose token the request carries, for this agent or workflow;
/// 401 otherwise.
async fn authenticate(
    services: &Services,
    request: &Request,
    kind: TriggerKind,
    target: &str,
) -> Result<(String, Trigger), ApiError> {
    let refused = || ApiError::unauthorized("a valid trigger token for this agent or workflow is required");
    let token = presented_token(request).ok_or_else(refused)?;
    let presented = PresentedKey::parse_prefixed(TRIGGER_TOKEN_PREFIX, &token).ok_or_else(refused)?;
    let trigger_id = format!("{TRIGGER_ID_PREFIX}{}", presented.key_id);
    let (trigger, hash) = services
        .store
        .get_trigger(presented.org_id(), &trigger_id)
        .await?
        .ok_or_else(refused)?;
    let matches = secret_matches(&services.pepper, &presented, &hash);
    if !matches || trigger.kind != kind || trigger.target_id != target {
        return Err(refused());
    }
    Ok((presented.org_id().to_string(), trigger))
}

/// The token as `?token=`, `Authorization: Bearer <token>` or `Authorization: Basic` with the
/// token as the password.
fn presented_token(request: &Request) -> Option<String> {
    if let Some(token) = crate::http::query_parameter(request, "token") {
        return Some(token);
    }
    let authorization = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, value) = authorization.split_once(' ')?;
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(value.trim().to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(value.trim()).ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (_, password) = text.split_once(':')?;
            Some(password.to_string())
        }
        _ => None,
    }
}

/// The body as the trigger kind requires it, refused in seed 001's shape: `INVALID_INPUT` with
/// `details.field`, `expected` and `received`.
fn trigger_input(request: &Request, kind: TriggerKind) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(body) = json_body(request)? else {
        return Err(ApiError::invalid_json("the body is not a JSON object"));
    };
    let (required, expected) = match kind {
        TriggerKind::Agent => ("message", "string"),
        TriggerKind::Workflow => ("input_data", "object"),
    };
    let value = body.get(required).unwrap_or(&Value::Null);
    let fits = match kind {
        TriggerKind::Agent => value
            .as_str()
            .is_some_and(|m| !m.trim().is_empty() && !m.contains('\0')),
        TriggerKind::Workflow => value.is_object(),
    };
    if !fits {
        let message = match value {
            Value::Null => format!("Required field '{required}' is missing"),
            _ => format!("Field '{required}' must be a non-empty {expected}"),
        };
        return Err(mismatch(required, expected, value, message));
    }
    // The rest of the shape: the optional fields, typed.
    let typed = match kind {
        TriggerKind::Agent => crate::http::from_json::<AgentTriggerRequest>(Value::Object(body.clone())).map(|_| ()),
        TriggerKind::Workflow => {
            crate::http::from_json::<WorkflowTriggerRequest>(Value::Object(body.clone())).map(|_| ())
        }
    };
    if let Err(error) = typed {
        let field = error
            .details
            .as_ref()
            .and_then(|d| d["field"].as_str())
            .unwrap_or("body")
            .to_string();
        let received = body.get(&field).unwrap_or(&Value::Null);
        let expected = if field.ends_with("metadata") || field.ends_with("context") {
            "object"
        } else {
            "string"
        };
        return Err(mismatch(&field, expected, received, error.message));
    }
    Ok(body)
}

fn mismatch(field: &str, expected: &str, received: &Value, message: String) -> ApiError {
    let received = match received {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let mut error = ApiError::invalid_input(field, message);
    error.details = Some(json!({"field": field, "expected": expected, "received": received}));
    error
}

/// Stores the execution and queues it for the runtime; one that cannot be queued is taken back
/// (500, nothing left behind), so the caller's retry starts it again.
async fn start_execution(
    services: &TriggerServices,
    org_id: &str,
    trigger: &Trigger,
    input: Map<String, Value>,
) -> Result<Response<Body>, ApiError> {
    let base = &services.base;
    let now = base.clock.now();
    let ulid = new_ulid();
    let estimate = match trigger.kind {
        TriggerKind::Agent => AGENT_ESTIMATE_SECONDS,
        TriggerKind::Workflow => WORKFLOW_ESTIMATE_SECONDS,
    };
    let (agent_id, workflow_id) = match trigger.kind {
        TriggerKind::Agent => (Some(trigger.target_id.clone()), None),
        TriggerKind::Workflow => (None, Some(trigger.target_id.clone())),
    };
    let execution = Execution {
        execution_id: format!("exec_{ulid}"),
        kind: trigger.kind,
        agent_id,
        workflow_id,
        trigger_id: trigger.id.clone(),
        status: ExecutionStatus::Queued,
        // An agent's conversation is a desk ticket, opened when the runtime first reports on it.
        conversation_id: (trigger.kind == TriggerKind::Agent).then(|| new_ticket_id_for(&ulid)),
        user_id: input.get("user_id").and_then(Value::as_str).map(str::to_string),
        input,
        output_data: None,
        error: None,
        message_count: 0,
        steps_completed: 0,
        credits_used: None,
        satisfaction_score: None,
        resolution: None,
        created_at: rfc3339(now),
        estimated_completion: rfc3339(now + Duration::seconds(estimate)),
        started_at: None,
        completed_at: None,
        duration_seconds: None,
        updated_at: rfc3339(now),
        version: 0,
    };
    base.store.create_execution(org_id, &execution).await?;
    let job = ExecutionJob {
        org_id: org_id.to_string(),
        execution_id: execution.execution_id.clone(),
        kind: execution.kind,
        agent_id: execution.agent_id.clone(),
        workflow_id: execution.workflow_id.clone(),
        conversation_id: execution.conversation_id.clone(),
        input: execution.input.clone(),
        created_at: execution.created_at.clone(),
    };
    if let Err(error) = services.executions.enqueue(&job, 0).await {
        if let Err(e) = base.store.delete_execution(org_id, &execution.execution_id).await {
            tracing::error!(error = ?e, execution_id = %execution.execution_id, "taking back an unqueued execution");
        }
        return Err(error);
    }
    tracing::info!(execution_id = %execution.execution_id, kind = execution.kind.as_str(), "execution queued");
    Ok(json_response(
        StatusCode::ACCEPTED,
        &TriggerAccepted {
            success: true,
            message: "Webhook processed successfully".into(),
            execution_id: execution.execution_id,
            status: execution.status,
            estimated_completion: execution.estimated_completion,
        },
    ))
}

/// An agent execution's conversation: the ticket id made from the execution's own ULID, so
/// every report finds the same ticket whichever comes first.
fn new_ticket_id_for(ulid: &str) -> String {
    format!("tkt_{ulid}")
}
