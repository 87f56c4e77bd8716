//! `orders`: orders confirmed by call (seed 004) under `/api/v1/orders` (reads with
//! `orders:read`, changes with `orders:write`, call outcomes with `orders:report`).
//!
//! A created order is `pending` and queued on the calls queue for the voice agent, which reports
//! each call to `POST /api/v1/orders/{id}/call-attempts`: `confirmed` and `cancelled` end the
//! calls (publishing `order.confirmed` or `order.cancelled`); an unanswered call queues the next
//! one after `CALL_RETRY_DELAY_SECONDS`, until `maxCallAttempts` calls make the order
//! `no_answer` (publishing `order.no_answer`). What a call sets off follows its write and is
//! then noted on the call: should it fail, the voice agent's retry of the same report (same
//! `attemptId`) is recorded once and does it then.
//!
//! - [`model`]: the request and response bodies and their rules.

pub mod model;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;

use self::model::{
    CallAttemptRequest, CallAttemptResponse, CallJob, CreateOrderRequest, DeletedOrder, DeletedOrderResponse,
    OrderDetailResponse, OrderEventData, OrderListParams, OrderPageResponse, OrderResponse, UpdateOrderRequest,
};
use crate::auth::Scope;
use crate::aws::sqs::MAX_DELAY_SECONDS;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_response, ok, serve_routes};
use crate::ids::new_ulid;
use crate::outbound::{JobQueue, Publisher, publish};
use crate::runtime::{Error, Services, env_or};
use crate::store::call_orders::{
    CallAttempt, CallOrder, CallOutcome, OrderStatus, OrderWithCalls, call_orders_index_pk,
};
use crate::store::encode_cursor;

const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;
/// Default wait before an unanswered order is called again.
const DEFAULT_RETRY_DELAY_SECONDS: u32 = 900;
/// Reads and writes tried before a write that keeps losing races answers 409.
const MAX_TRIES: usize = 3;

/// What the orders function uses besides [`Services`].
pub struct OrderSettings {
    /// Where `order.*` events go.
    pub publisher: Publisher,
    /// The calls queue the voice agent consumes.
    pub calls: JobQueue,
    /// Delay of the next call after an unanswered one (`CALL_RETRY_DELAY_SECONDS`, default
    /// 900; SQS delays a message by at most 15 minutes).
    pub retry_delay_seconds: u32,
}

impl OrderSettings {
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        let publisher = Publisher::from_env(config)?;
        Ok(Self {
            calls: JobQueue::from_env(&publisher.queue.sqs, "CALLS_QUEUE_URL")?,
            publisher,
            retry_delay_seconds: env_or("CALL_RETRY_DELAY_SECONDS", DEFAULT_RETRY_DELAY_SECONDS)?
                .min(MAX_DELAY_SECONDS),
        })
    }
}

#[derive(Clone, Copy)]
pub enum OrderRoute {
    Create,
    List,
    Get,
    Update,
    Delete,
    ReportCall,
}

const WRITE: Scope = Scope::OrdersWrite;
const READ: Scope = Scope::OrdersRead;

/// `orders`' routes.
pub const ROUTES: [Route<OrderRoute>; 6] = [
    Route::new(Method::POST, "/api/v1/orders", WRITE, OrderRoute::Create),
    Route::new(Method::GET, "/api/v1/orders", READ, OrderRoute::List),
    Route::new(Method::GET, "/api/v1/orders/{id}", READ, OrderRoute::Get),
    Route::new(Method::PATCH, "/api/v1/orders/{id}", WRITE, OrderRoute::Update),
    Route::new(Method::DELETE, "/api/v1/orders/{id}", WRITE, OrderRoute::Delete),
    Route::new(
        Method::POST,
        "/api/v1/orders/{id}/call-attempts",
        Scope::OrdersReport,
        OrderRoute::ReportCall,
    ),
];

pub async fn handle(services: &Services, settings: &OrderSettings, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |route, call| async move {
        match route {
            OrderRoute::Create => create(call, settings).await,
            OrderRoute::List => list(call).await,
            OrderRoute::Get => get(call).await,
            OrderRoute::Update => update(call).await,
            OrderRoute::Delete => delete(call).await,
            OrderRoute::ReportCall => report_call(call, settings).await,
        }
    })
    .await
}

fn no_order() -> ApiError {
    ApiError::not_found("no order with this id")
}

/// The order the path's `{id}` names, with its calls, the caller's (404 otherwise, another
/// organization's too).
async fn find_order(call: &Call<'_>) -> Result<OrderWithCalls, ApiError> {
    let id = call.path("id")?;
    if !id.starts_with("ord_") || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(no_order());
    }
    call.store()
        .get_call_order(call.org_id(), &id)
        .await?
        .ok_or_else(no_order)
}

/// Create an order: it is `pending` and the voice agent is asked to call the customer.
#[utoipa::path(post, path = "/api/v1/orders", operation_id = "orders_create", tag = "Orders",
    request_body = CreateOrderRequest, security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = OrderResponse), (status = 409, body = ErrorBody, description = "Another order has this externalId"),
        (status = "4XX", body = ErrorBody)))]
pub async fn create(call: Call<'_>, settings: &OrderSettings) -> Result<Response<Body>, ApiError> {
    let body: CreateOrderRequest = call.validated_body()?;
    let fields = body.fields()?;
    let now = rfc3339(call.now());
    let order = CallOrder {
        id: format!("ord_{}", new_ulid()),
        status: OrderStatus::Pending,
        external_id: fields.external_id,
        customer_name: fields.customer_name,
        customer_phone: fields.customer_phone,
        customer_address: fields.customer_address,
        customer_city: fields.customer_city,
        products: fields.products,
        total_amount: fields.total_amount,
        currency: fields.currency,
        source: fields.source,
        max_call_attempts: fields.max_call_attempts,
        call_attempts: 0,
        last_call_at: None,
        confirmed_at: None,
        cancelled_at: None,
        cancellation_reason: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let store = call.store();
    if !store.create_call_order(call.org_id(), &order).await? {
        return Err(ApiError::conflict(format!(
            "another order has externalId {}",
            order.external_id.as_deref().unwrap_or_default()
        )));
    }
    let job = CallJob {
        org_id: call.org_id().to_string(),
        order_id: order.id.clone(),
        attempt: 1,
    };
    if let Err(error) = settings.calls.enqueue(&job, 0).await {
        // No call would ever come: the order is taken back, and the client's retry starts anew.
        let created = OrderWithCalls {
            order,
            calls: Vec::new(),
        };
        if let Err(e) = store.delete_call_order(call.org_id(), &created).await {
            tracing::error!(error = ?e, "taking back an order whose call could not be queued");
        }
        return Err(error);
    }
    Ok(json_response(
        StatusCode::CREATED,
        &OrderResponse {
            success: true,
            data: order,
        },
    ))
}

/// The organization's orders, newest first, one page at a time.
#[utoipa::path(get, path = "/api/v1/orders", operation_id = "orders_list", tag = "Orders",
    params(OrderListParams), security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = OrderPageResponse), (status = "4XX", body = ErrorBody)))]
pub async fn list(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let status = match call.query("status") {
        None => None,
        Some(text) => Some(
            serde_json::from_value::<OrderStatus>(serde_json::Value::String(text)).map_err(|_| {
                ApiError::invalid_input("status", "status is one of pending, confirmed, cancelled, no_answer")
            })?,
        ),
    };
    let (limit, start) = call.page(
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
        &call_orders_index_pk(call.org_id(), status),
    )?;
    let page = call
        .store()
        .list_call_orders(call.org_id(), status, limit, start)
        .await?;
    ok(&OrderPageResponse {
        success: true,
        data: page.orders,
        has_more: page.next.is_some(),
        next_cursor: page.next.as_ref().map(encode_cursor),
    })
}

/// One order, with every call reported on it.
#[utoipa::path(get, path = "/api/v1/orders/{id}", operation_id = "orders_get", tag = "Orders",
    params(("id" = String, Path, description = "The order's id, `ord_...`")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = OrderDetailResponse), (status = "4XX", body = ErrorBody)))]
pub async fn get(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    ok(&OrderDetailResponse {
        success: true,
        data: find_order(&call).await?,
    })
}

/// Change a pending order: only the fields sent change. An order the calls are done with no
/// longer changes (409).
#[utoipa::path(patch, path = "/api/v1/orders/{id}", operation_id = "orders_update", tag = "Orders",
    request_body = UpdateOrderRequest, params(("id" = String, Path, description = "The order's id, `ord_...`")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = OrderResponse), (status = 409, body = ErrorBody, description = "The order is no longer pending, another order has this externalId, or maxCallAttempts is not above the calls made"),
        (status = "4XX", body = ErrorBody)))]
pub async fn update(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let body: UpdateOrderRequest = call.validated_body()?;
    for _ in 0..MAX_TRIES {
        let current = find_order(&call).await?.order;
        if current.status != OrderStatus::Pending {
            return Err(not_pending(&current));
        }
        let mut changed = body.apply(current.clone())?;
        if changed.max_call_attempts <= current.call_attempts {
            // The request is valid; the order's state refuses it.
            let message = format!(
                "maxCallAttempts must be more than the {} calls already made",
                current.call_attempts
            );
            return Err(ApiError::conflict(message).with_details(serde_json::json!({"field": "maxCallAttempts"})));
        }
        changed.updated_at = rfc3339(call.now());
        if call
            .store()
            .update_call_order(call.org_id(), &changed, &current)
            .await?
        {
            return ok(&OrderResponse {
                success: true,
                data: find_order(&call).await?.order,
            });
        }
        let again = find_order(&call).await?.order;
        let same = again.status == current.status && again.call_attempts == current.call_attempts;
        if same && changed.external_id != current.external_id {
            return Err(ApiError::conflict(format!(
                "another order has externalId {}",
                changed.external_id.as_deref().unwrap_or_default()
            )));
        }
    }
    Err(changed_meanwhile())
}

/// Delete an order and its calls. A call queued for it is then dropped by the voice agent,
/// whose report answers 404.
#[utoipa::path(delete, path = "/api/v1/orders/{id}", operation_id = "orders_delete", tag = "Orders",
    params(("id" = String, Path, description = "The order's id, `ord_...`")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = DeletedOrderResponse), (status = "4XX", body = ErrorBody)))]
pub async fn delete(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    for _ in 0..MAX_TRIES {
        let found = find_order(&call).await?;
        if call.store().delete_call_order(call.org_id(), &found).await? {
            return ok(&DeletedOrderResponse {
                success: true,
                data: DeletedOrder {
                    id: found.order.id,
                    deleted: true,
                },
            });
        }
    }
    Err(changed_meanwhile())
}

/// Report a call's outcome (the voice agent). `confirmed` or `cancelled` end the calls; an
/// unanswered call (`no_answer`, `busy`, `failed`, `voicemail`) queues the next one, or after
/// `maxCallAttempts` calls makes the order `no_answer`. A report repeating an `attemptId` is
/// recorded once (200, `duplicate`); a report on an order no longer pending is 409.
#[utoipa::path(post, path = "/api/v1/orders/{id}/call-attempts", operation_id = "orders_report_call", tag = "Orders",
    request_body = CallAttemptRequest, params(("id" = String, Path, description = "The order's id, `ord_...`")),
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 201, body = CallAttemptResponse), (status = 200, body = CallAttemptResponse, description = "This attemptId was recorded already"),
        (status = 409, body = ErrorBody, description = "The order is no longer pending"), (status = "4XX", body = ErrorBody)))]
pub async fn report_call(call: Call<'_>, settings: &OrderSettings) -> Result<Response<Body>, ApiError> {
    let body: CallAttemptRequest = call.validated_body()?;
    for _ in 0..MAX_TRIES {
        let found = find_order(&call).await?;
        let repeated = body
            .attempt_id
            .as_ref()
            .and_then(|id| found.calls.iter().find(|c| c.attempt_id.as_ref() == Some(id)));
        if let Some(recorded) = repeated {
            if recorded.outcome != body.outcome {
                return Err(ApiError::conflict("this attemptId was reported with another outcome"));
            }
            let recorded = recorded.clone();
            if recorded.attempt == found.order.call_attempts && !recorded.followed_up {
                // The first report failed after its write: what the call sets off is done now.
                follow_up(&call, settings, &found.order).await?;
                mark_followed_up(&call, &found.order, recorded.attempt).await;
            }
            return Ok(reported(StatusCode::OK, found, recorded, true));
        }
        let current = &found.order;
        if current.status != OrderStatus::Pending {
            return Err(not_pending(current));
        }
        let now = rfc3339(call.now());
        let attempt = CallAttempt {
            attempt: current.call_attempts + 1,
            attempt_id: body.attempt_id.clone(),
            outcome: body.outcome,
            reason: body.reason.as_deref().map(str::trim).map(str::to_string),
            duration_seconds: body.duration_seconds,
            reported_at: now.clone(),
            followed_up: false,
        };
        let changed = after_call(current, &attempt, &now);
        if call
            .store()
            .record_call_attempt(call.org_id(), &changed, &attempt, current.call_attempts)
            .await?
        {
            follow_up(&call, settings, &changed).await?;
            mark_followed_up(&call, &changed, attempt.attempt).await;
            let mut calls = found.calls;
            calls.push(attempt.clone());
            let order = OrderWithCalls { order: changed, calls };
            return Ok(reported(StatusCode::CREATED, order, attempt, false));
        }
        // Another report, a change or a deletion came first: read again.
    }
    Err(changed_meanwhile())
}

fn reported(status: StatusCode, order: OrderWithCalls, attempt: CallAttempt, duplicate: bool) -> Response<Body> {
    json_response(
        status,
        &CallAttemptResponse {
            success: true,
            data: order,
            attempt,
            duplicate,
        },
    )
}

/// The order as a call leaves it.
fn after_call(order: &CallOrder, attempt: &CallAttempt, now: &str) -> CallOrder {
    let mut changed = order.clone();
    changed.call_attempts = attempt.attempt;
    changed.last_call_at = Some(now.to_string());
    changed.updated_at = now.to_string();
    match attempt.outcome {
        CallOutcome::Confirmed => {
            changed.status = OrderStatus::Confirmed;
            changed.confirmed_at = Some(now.to_string());
        }
        CallOutcome::Cancelled => {
            changed.status = OrderStatus::Cancelled;
            changed.cancelled_at = Some(now.to_string());
            changed.cancellation_reason = attempt.reason.clone().filter(|r| !r.is_empty());
        }
        _ if changed.call_attempts >= changed.max_call_attempts => changed.status = OrderStatus::NoAnswer,
        _ => {}
    }
    changed
}

/// What an order's state sets off: the next call while it is pending, else its event.
async fn follow_up(call: &Call<'_>, settings: &OrderSettings, order: &CallOrder) -> Result<(), ApiError> {
    let event = match order.status {
        OrderStatus::Pending => {
            let job = CallJob {
                org_id: call.org_id().to_string(),
                order_id: order.id.clone(),
                attempt: order.call_attempts + 1,
            };
            return settings.calls.enqueue(&job, settings.retry_delay_seconds).await;
        }
        OrderStatus::Confirmed => "order.confirmed",
        OrderStatus::Cancelled => "order.cancelled",
        OrderStatus::NoAnswer => "order.no_answer",
    };
    let data = json!(OrderEventData { order: order.into() });
    let at = rfc3339(call.now());
    publish(call.store(), &settings.publisher, call.org_id(), event, &at, &data).await?;
    Ok(())
}

/// Notes that call `attempt` was followed up; should that fail, a repeated report follows it
/// up again (a job or an event twice rather than never).
async fn mark_followed_up(call: &Call<'_>, order: &CallOrder, attempt: u32) {
    if let Err(e) = call
        .store()
        .mark_call_followed_up(call.org_id(), &order.id, attempt)
        .await
    {
        tracing::error!(error = ?e, order_id = %order.id, "noting a call followed up");
    }
}

fn not_pending(order: &CallOrder) -> ApiError {
    ApiError::conflict(format!(
        "this order is {}: only a pending order changes or takes calls",
        order.status.as_str()
    ))
}

fn changed_meanwhile() -> ApiError {
    ApiError::conflict("the order changed meanwhile; read it again and retry")
}
