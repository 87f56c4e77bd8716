//! `webhook-sends`: `POST /api/v1/webhooks/{id}/test` and `POST /api/v1/webhooks/{id}/recover`
//! (scope `endpoints:manage`): deliveries started by the merchant, through the same pipeline.
//! A function of its own because it needs the delivery queue, which the endpoint routes do not.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::api::webhook_endpoints::find_endpoint;
use crate::auth::Scope;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, Validate, json_response, serve_routes};
use crate::outbound::{DeliveryMessage, DeliveryQueue, catalog};
use crate::runtime::Services;

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// The event type to send (default `webhook.test`).
    #[schema(value_type = Option<crate::outbound::catalog::EventType>)]
    pub event: Option<String>,
    /// The `data` of the test event.
    #[schema(value_type = Option<Object>)]
    pub test_data: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct TestQueued {
    pub success: bool,
    /// Follow it in `GET /api/v1/webhooks/{id}/logs`.
    pub delivery_id: String,
    pub event: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Re-send every delivery to this endpoint that failed since then (RFC 3339).
    #[schema(format = DateTime)]
    pub since: String,
}

#[derive(Serialize, ToSchema)]
pub struct Recovered {
    pub success: bool,
    pub recovered: usize,
    pub delivery_ids: Vec<String>,
}

impl Validate for TestRequest {
    fn validate(&self) -> Result<(), ApiError> {
        match self.event.as_deref() {
            Some(event) if event == catalog::ALL_EVENTS || !catalog::is_known(event) => {
                Err(ApiError::invalid_input("event", format!("unknown event {event:?}")))
            }
            _ => Ok(()),
        }
    }
}

impl Validate for RecoverRequest {
    fn validate(&self) -> Result<(), ApiError> {
        self.since_time().map(|_| ())
    }
}

impl RecoverRequest {
    fn since_time(&self) -> Result<OffsetDateTime, ApiError> {
        parse_rfc3339(&self.since)
            .ok_or_else(|| ApiError::invalid_input("since", "since must be an RFC 3339 timestamp"))
    }
}

#[derive(Clone, Copy)]
pub enum SendRoute {
    Test,
    Recover,
}

/// `webhook-sends`' routes.
pub const ROUTES: [Route<SendRoute>; 2] = [
    Route::new(
        Method::POST,
        "/api/v1/webhooks/{id}/test",
        Scope::EndpointsManage,
        SendRoute::Test,
    ),
    Route::new(
        Method::POST,
        "/api/v1/webhooks/{id}/recover",
        Scope::EndpointsManage,
        SendRoute::Recover,
    ),
];

pub async fn handle(services: &Services, queue: &DeliveryQueue, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            SendRoute::Test => send_test(call, queue).await,
            SendRoute::Recover => recover(call, queue).await,
        }
    })
    .await
}

/// Send a test event to this endpoint, signed and retried like any other.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "webhook_sends_test", tag = "Outbound webhooks", request_body = Option<TestRequest>,
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = TestQueued), (status = "4XX", body = ErrorBody)))]
async fn send_test(call: Call<'_>, queue: &DeliveryQueue) -> Result<Response<Body>, ApiError> {
    let body: TestRequest = call.validated_body_or_default()?;
    let event = body.event.unwrap_or_else(|| "webhook.test".to_string());
    let endpoint = find_endpoint(&call).await?;
    let data = body.test_data.unwrap_or_else(|| serde_json::json!({"test": true}));
    let message = DeliveryMessage::new(&endpoint, &event, &rfc3339(call.now()), data);
    queue.enqueue(std::slice::from_ref(&message)).await?;
    Ok(json_response(
        StatusCode::ACCEPTED,
        &TestQueued {
            success: true,
            delivery_id: message.delivery_id,
            event,
        },
    ))
}

/// Re-send what failed since a time (each delivery keeps its id, so receivers can deduplicate).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/recover", operation_id = "webhook_sends_recover", tag = "Outbound webhooks", request_body = RecoverRequest,
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 202, body = Recovered), (status = "4XX", body = ErrorBody)))]
async fn recover(call: Call<'_>, queue: &DeliveryQueue) -> Result<Response<Body>, ApiError> {
    let body: RecoverRequest = call.validated_body()?;
    let since = body.since_time()?;
    let endpoint = find_endpoint(&call).await?;
    let since_ms = u64::try_from(since.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let since_id = format!("msg_{}", ulid::Ulid::from_parts(since_ms, 0));
    let failed = call.store().failed_deliveries_since(&endpoint, &since_id).await?;
    let messages: Vec<DeliveryMessage> = failed
        .iter()
        .filter_map(|d| serde_json::from_str(d.message_body.as_deref()?).ok())
        .collect();
    queue.enqueue(&messages).await?;
    crate::api::deliveries_redrive::reopen(call.store(), &endpoint.org_id, &messages, &rfc3339(call.now())).await;
    let delivery_ids: Vec<String> = messages.into_iter().map(|m| m.delivery_id).collect();
    Ok(json_response(
        StatusCode::ACCEPTED,
        &Recovered {
            success: true,
            recovered: delivery_ids.len(),
            delivery_ids,
        },
    ))
}
