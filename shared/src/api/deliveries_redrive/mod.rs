//! `POST /api/v1/deliveries/redrive` (scope `endpoints:manage`): moves the caller's messages
//! from the dead-letter queue back to the delivery queue, where each starts a fresh schedule:
//! its record is reopened (`retrying`, no attempts). The DLQ is shared by all organizations:
//! other organizations' messages are left in place.

use std::collections::HashSet;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Scope;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorBody};
use crate::http::{Call, Route, json_response, serve_routes};
use crate::outbound::queue::sqs_failure;
use crate::outbound::{DeliveryMessage, DeliveryQueue};
use crate::runtime::Services;
use crate::store::Store;

/// Both queues, built once per container. The dead-letter queue is read through the SDK's
/// client: a redrive is rare, and the lean client (`aws::sqs`) sends only what the functions'
/// request and worker paths send.
pub struct RedriveQueues {
    pub delivery: DeliveryQueue,
    pub dead_letter: aws_sdk_sqs::Client,
    pub dead_letter_url: String,
}

impl RedriveQueues {
    /// `DELIVERY_QUEUE_URL` and `DEAD_LETTER_QUEUE_URL`.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, crate::runtime::Error> {
        Ok(Self {
            delivery: DeliveryQueue::from_env(config)?,
            dead_letter: aws_sdk_sqs::Client::new(config),
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
    let sqs = &queues.dead_letter;
    let mut seen = HashSet::new();
    let mut others = Vec::new();
    let mut delivery_ids = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let received = sqs
            .receive_message()
            .queue_url(&queues.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(60)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(sqs_failure("redriving the dead-letter queue"))?;
        let fresh: Vec<_> = received
            .messages()
            .iter()
            .filter(|m| seen.insert(m.message_id().unwrap_or_default().to_string()))
            .collect();
        if fresh.is_empty() {
            break;
        }
        let mut ours = Vec::new();
        for message in fresh {
            let parsed = message
                .body()
                .and_then(|body| serde_json::from_str::<DeliveryMessage>(body).ok());
            match parsed {
                Some(delivery) if delivery.org_id == caller.org_id => {
                    ours.push((delivery, message.receipt_handle().unwrap_or_default()))
                }
                _ => others.push(message.receipt_handle().unwrap_or_default().to_string()),
            }
        }
        if ours.is_empty() {
            continue;
        }
        let messages: Vec<DeliveryMessage> = ours.iter().map(|(delivery, _)| delivery.clone()).collect();
        queues.delivery.enqueue(&messages).await?;
        reopen(call.store(), &caller.org_id, &messages, &rfc3339(call.now())).await;
        let entries = ours
            .iter()
            .enumerate()
            .map(|(i, (_, receipt))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*receipt)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ApiError::internal())?;
        sqs.delete_message_batch()
            .queue_url(&queues.dead_letter_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_failure("redriving the dead-letter queue"))?;
        delivery_ids.extend(messages.into_iter().map(|m| m.delivery_id));
    }
    // Put back at once what belongs to other organizations.
    for receipt in others {
        let released = sqs
            .change_message_visibility()
            .queue_url(&queues.dead_letter_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "releasing another organization's message");
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
