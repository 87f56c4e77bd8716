//! An endpoint's delivery log and statistics.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

use super::find_endpoint;
use super::model::{EndpointStats, LogEntry, LogPage, LogParams};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, json_response};
use crate::store::deliveries::deliveries_index_pk;

/// Delivery log: one entry per delivery with its latest attempt and every attempt made (time,
/// status code, duration, error, the first 4 KB of the answer), newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/logs", operation_id = "webhook_endpoints_logs", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path), LogParams),
    responses((status = 200, body = LogPage), (status = "4XX", body = ErrorBody)))]
pub(super) async fn logs(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let endpoint = find_endpoint(&call).await?;
    let (org_id, id) = (call.org_id(), endpoint.endpoint_id.as_str());
    let (limit, start) = call.page(20, 100, &deliveries_index_pk(org_id, id))?;
    let page = call.store().list_deliveries(org_id, id, limit as i32, start).await?;
    let logs = page
        .deliveries
        .into_iter()
        .map(|d| LogEntry {
            timestamp: d.last_attempt.as_ref().map(|a| a.at.clone()).unwrap_or(d.updated_at),
            response_code: d.last_attempt.as_ref().and_then(|a| a.response_code),
            response_time_ms: d.last_attempt.as_ref().map(|a| a.response_time_ms),
            status: if d.status == "succeeded" {
                "success".to_string()
            } else {
                d.status
            },
            next_attempt_at: d
                .next_attempt_at
                .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms / 1000).ok())
                .map(rfc3339),
            id: d.delivery_id,
            event: d.event,
            attempts: d.attempts,
            payload_size: d.payload_size,
            last_attempt: d.last_attempt,
            attempt_log: d.attempt_log,
        })
        .collect();
    let next_cursor = page.next.as_ref().map(crate::store::deliveries::encode_cursor);
    Ok(json_response(
        StatusCode::OK,
        &LogPage {
            success: true,
            logs,
            next_cursor,
        },
    ))
}

/// Delivery statistics of one endpoint.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/stats", operation_id = "webhook_endpoints_stats", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, body = EndpointStats), (status = "4XX", body = ErrorBody)))]
pub(super) async fn stats(call: Call<'_>) -> Result<Response<Body>, ApiError> {
    let endpoint = find_endpoint(&call).await?;
    let finished = endpoint.stats.successful_deliveries + endpoint.stats.failed_deliveries;
    let success_rate = (finished > 0).then(|| endpoint.stats.successful_deliveries as f64 / finished as f64);
    let failing_since = endpoint
        .failing_since
        .and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .map(rfc3339);
    Ok(json_response(
        StatusCode::OK,
        &EndpointStats {
            success: true,
            webhook_id: endpoint.endpoint_id,
            status: endpoint.status,
            stats: endpoint.stats,
            success_rate,
            failing_since,
        },
    ))
}
