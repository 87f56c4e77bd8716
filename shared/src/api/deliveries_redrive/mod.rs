//! `POST /api/v1/deliveries/redrive` (scope `endpoints:manage`): moves the caller's messages
//! from the dead-letter queue back to the delivery queue, where each starts a fresh schedule:
//! its record is reopened (`retrying`, no attempts). The DLQ is shared by all organizations:
//! other organizations' messages are left in place.

use std::collections::HashSet;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::aws::sqs::{MAX_BATCH_ENTRIES, Sqs};
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_response, serve_routes};
use crate::outbound::queue::sqs_failure;
use crate::outbound::{DeliveryMessage, DeliveryQueue};
use crate::runtime::Services;
use crate::store::Store;

/// Both queues, built once per container; the dead-letter queue is read through the delivery
/// queue's client.
pub struct RedriveQueues {
    pub delivery: DeliveryQueue,
    pub dead_letter_url: String,
}

impl RedriveQueues {
    /// `DELIVERY_QUEUE_URL` and `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            delivery: DeliveryQueue::from_env(&Sqs::from_config(config)?)?,
            dead_letter_url: crate::runtime::required_env("DEAD_LETTER_QUEUE_URL")?,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct Redriven {
    pub success: bool,
    /// Messages moved back to the delivery queue.
    pub redriven: usize,
    pub delivery_ids: Vec<String>,
}

/// Rounds of ten messages one call looks at; a larger backlog takes several calls.
const MAX_ROUNDS: usize = 100;

/// `deliveries-redrive`'s one route.
pub const ROUTES: [Route<()>; 1] = [Route::new(
    Method::POST,
    "/api/v1/deliveries/redrive",
    Scope::EndpointsManage,
    (),
)];

pub async fn handle(services: &Services, queues: &RedriveQueues, request: Request) -> Response<Body> {
    serve_routes(services, &request, &ROUTES, |(), call| redrive(call, queues)).await
}

/// Move failed deliveries from the dead-letter queue back to the delivery queue.
#[utoipa::path(post, path = "/api/v1/deliveries/redrive", operation_id = "deliveries_redrive", tag = "Outbound webhooks",
    security(("apiKey" = []), ("bearer" = [])),
    responses((status = 200, body = Redriven), (status = "4XX", body = ErrorBody)))]
async fn redrive(call: Call<'_>, queues: &RedriveQueues) -> Result<Response<Body>, ApiError> {
    let caller = &call.caller;
    let sqs = &queues.delivery.sqs;
    let dead_letter_url = queues.dead_letter_url.as_str();
    let mut seen = HashSet::new();
    let mut others = Vec::new();
    let mut delivery_ids = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let received = sqs
            .receive_message(dead_letter_url, MAX_BATCH_ENTRIES as u32, 60)
            .await
            .map_err(sqs_failure("redriving the dead-letter queue"))?;
        let fresh: Vec<_> = received
            .into_iter()
            .filter(|m| seen.insert(m.message_id.clone()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let mut ours = Vec::new();
        for message in fresh {
            match serde_json::from_str::<DeliveryMessage>(&message.body) {
                Ok(delivery) if delivery.org_id == caller.org_id => ours.push((delivery, message.receipt_handle)),
                _ => others.push(message.receipt_handle),
            }
        }
        if ours.is_empty() {
            continue;
        }
        let messages: Vec<DeliveryMessage> = ours.iter().map(|(delivery, _)| delivery.clone()).collect();
        queues.delivery.enqueue(&messages).await?;
        reopen(call.store(), &caller.org_id, &messages, &rfc3339(call.now())).await;
        let receipts: Vec<&str> = ours.iter().map(|(_, receipt)| receipt.as_str()).collect();
        let undeleted = sqs
            .delete_message_batch(dead_letter_url, &receipts)
            .await
            .map_err(sqs_failure("redriving the dead-letter queue"))?;
        // Queued again and reopened: a message left behind is sent a second time by a later
        // redrive, under its same delivery id, which receivers see as a duplicate.
        if !undeleted.is_empty() {
            tracing::warn!(?undeleted, "redriven messages left in the dead-letter queue");
        }
        delivery_ids.extend(messages.into_iter().map(|m| m.delivery_id));
    }
    // Put back at once what belongs to other organizations.
    for receipt in others {
        if let Err(error) = sqs.change_message_visibility(dead_letter_url, &receipt, 0).await {
            tracing::warn!(%error, "releasing another organization's message");
        }
    }
    tracing::info!(org_id = %caller.org_id, redriven = delivery_ids.len(), "dead-letter queue redriven");
    Ok(json_response(
        StatusCode::OK,
        &Redriven {
            success: true,
            redriven: delivery_ids.len(),
            delivery_ids,
        },
    ))
}

/// Reopens the failed deliveries whose messages are back on the delivery queue, so that every
/// receive of them attempts them afresh (see `Store::reopen_failed_delivery`). Called after they
/// are queued: a delivery the worker has attempted meanwhile is no longer `failed` and is left
/// as it is. A failure is logged, not answered: the messages are queued, and taking them back
/// is not possible; such a delivery is dead-lettered again only if its next attempt is cut short.
pub(crate) async fn reopen(store: &Store, org_id: &str, messages: &[DeliveryMessage], now: &str) {
    let reopened = messages
        .iter()
        .map(|m| store.reopen_failed_delivery(org_id, &m.delivery_id, now));
    for (message, result) in messages.iter().zip(futures_util::future::join_all(reopened).await) {
        if let Err(e) = result {
            tracing::error!(error = ?e, delivery_id = %message.delivery_id, "reopening a redriven delivery");
        }
    }
}
