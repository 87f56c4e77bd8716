//! Provider webhooks (Shopify, Stripe, Amazon via SNS, email; the chat channels to come)
//! on one pipeline, [`receive`]: find the connected account the request names (unknown: 401,
//! nothing stored), verify the raw bytes and the timestamp (401), parse, claim the provider's
//! event id (seen before: 200 `duplicate`, not processed again), process, publish.
//!
//! Each source is one module implementing [`Source`]: where its account is named, how its
//! signature is checked, what its event id is and what an event does. Functions are named
//! `<source>-webhooks`.

pub mod amazon;
pub mod chat;
pub mod dialpad;
pub mod email;
pub mod messenger;
pub mod meta;
pub mod payload;
pub mod shopify;
pub mod slack;
pub mod sms;
pub mod sns;
pub mod stripe;
pub mod whatsapp;

use std::future::Future;
use std::sync::Arc;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::clock::{Clock, SystemClock, rfc3339};
use crate::crypto::SecretBox;
use crate::error::ApiError;
use crate::http::{Route, error_response, find_route, json_response};
use crate::outbound::{Alerts, Publisher, publish};
use crate::runtime::{Error, required_env};
use crate::store::Store;
use crate::store::inbound::Claim;
use crate::store::integrations::{Integration, Provider};

/// How many of the accounts a request names are looked up.
const MAX_ACCOUNTS_TRIED: usize = 10;

/// Largest provider webhook accepted (Shopify orders with many lines run to hundreds of KB).
pub const MAX_PROVIDER_BODY_BYTES: usize = 1024 * 1024;

/// What the provider webhook functions need, built once per container.
pub struct InboundServices {
    pub store: Store,
    /// Opens the integrations' sealed secrets.
    pub secrets: SecretBox,
    pub publisher: Publisher,
    pub alerts: Alerts,
    pub clock: Arc<dyn Clock>,
}

impl InboundServices {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            secrets: crate::runtime::secret_box(config).await?,
            publisher: Publisher::from_env(config)?,
            alerts: Alerts::from_env(config)?,
            clock: Arc::new(SystemClock),
        })
    }
}

/// The answer to an accepted provider webhook.
#[derive(Serialize, ToSchema)]
pub struct InboundAccepted {
    pub success: bool,
    /// The provider's id of the event.
    pub event_id: String,
    /// True when this event was received before and not processed again.
    pub duplicate: bool,
}

/// What processing an inbound event produced: the outbound events to publish (one webhook of a
/// chat channel can carry several messages).
pub struct Processed {
    pub events: Vec<(&'static str, Value)>,
}

impl Processed {
    pub fn nothing() -> Self {
        Self { events: Vec::new() }
    }

    pub fn publish(event: &'static str, data: Value) -> Self {
        Self {
            events: vec![(event, data)],
        }
    }
}

/// A webhook on its way through the pipeline: the raw request, whose it is, and what
/// processing it may use.
pub struct Webhook<'a> {
    pub services: &'a InboundServices,
    pub request: &'a Request,
    /// The raw body: nothing is parsed before the signature over it checks out.
    pub body: &'a [u8],
    /// The connected account the request names.
    pub integration: &'a Integration,
    pub now: OffsetDateTime,
}

/// An event and the provider's id for it, which makes it processed once.
pub struct Identified<E> {
    pub id: String,
    pub event: E,
}

impl<E> Intake<E> {
    /// An event to process once under the provider's `id`.
    pub fn event(id: String, event: E) -> Self {
        Self::Event(Identified { id, event })
    }
}

/// A verified webhook, parsed.
pub enum Intake<E> {
    /// An event to process once, under the provider's id for it.
    Event(Identified<E>),
    /// A handshake or control message, answered at once and never claimed (SNS subscription
    /// confirmations; the channels' URL verifications).
    Control(E),
}

/// One source of signed webhooks.
pub trait Source: Sync {
    /// What a verified webhook carries into processing.
    type Event: Send + Sync;

    /// Whose integrations hold the accounts.
    const PROVIDER: Provider;

    /// The largest body accepted.
    const MAX_BODY_BYTES: usize = MAX_PROVIDER_BODY_BYTES;

    /// The connected accounts the request names (its shop, account or topic; a mail's
    /// recipients), tried in order: untrusted until [`Source::verify`] passes.
    fn accounts(&self, request: &Request, body: &[u8]) -> Result<Vec<String>, ApiError>;

    /// Checks the signature over the raw bytes, and the timestamp, for the webhook's integration.
    fn verify(&self, webhook: &Webhook<'_>) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// The verified webhook, parsed.
    fn parse(&self, webhook: &Webhook<'_>) -> Result<Intake<Self::Event>, ApiError>;

    /// What one event does; its result is published. Runs once per event id.
    fn process(
        &self,
        webhook: &Webhook<'_>,
        event: &Identified<Self::Event>,
    ) -> impl Future<Output = Result<Processed, ApiError>> + Send;

    /// Answers a control message. Sources that send none keep this refusal.
    fn control(
        &self,
        _webhook: &Webhook<'_>,
        _event: &Self::Event,
    ) -> impl Future<Output = Result<Response<Body>, ApiError>> + Send {
        async { Err(ApiError::bad_request("this source sends no control messages")) }
    }
}

/// The pipeline every provider webhook goes through, on the source function's `routes`,
/// answered in JSON.
pub async fn receive<S: Source, R>(
    services: &InboundServices,
    source: &S,
    routes: &[Route<R>],
    request: &Request,
) -> Response<Body> {
    if let Err(error) = find_route(routes, request) {
        return error_response(&error);
    }
    accept(services, source, request)
        .await
        .unwrap_or_else(|error| error_response(&error))
}

/// [`receive`]'s steps, as a result.
pub async fn accept<S: Source>(
    services: &InboundServices,
    source: &S,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let body = raw_body(request, S::MAX_BODY_BYTES)?;
    let integration = connected_integration::<S>(services, source.accounts(request, body)?).await?;
    let webhook = Webhook {
        services,
        request,
        body,
        integration: &integration,
        now: services.clock.now(),
    };
    source.verify(&webhook).await?;
    match source.parse(&webhook)? {
        Intake::Control(event) => source.control(&webhook, &event).await,
        Intake::Event(event) => {
            process_once(services, &integration, &event.id, || source.process(&webhook, &event)).await
        }
    }
}

/// The first of the named accounts that is connected (an unknown one: 401). A request names a
/// few at most (a mail's recipients); more are not looked up.
async fn connected_integration<S: Source>(
    services: &InboundServices,
    accounts: Vec<String>,
) -> Result<Integration, ApiError> {
    for account in accounts.iter().take(MAX_ACCOUNTS_TRIED) {
        if let Some(integration) = services.store.find_integration(S::PROVIDER, account).await? {
            return Ok(integration);
        }
    }
    Err(ApiError::unauthorized(format!(
        "no {} integration is connected for this account",
        S::PROVIDER.as_str()
    )))
}

/// The raw body, refused above `max_bytes`.
pub fn raw_body(request: &Request, max_bytes: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > max_bytes {
        return Err(ApiError::payload_too_large(max_bytes));
    }
    Ok(bytes)
}

/// A request header as text.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Refuses a provider timestamp further than `max_age_seconds` from now (either way).
pub fn check_age(sent_at: OffsetDateTime, now: OffsetDateTime, max_age_seconds: i64) -> Result<(), ApiError> {
    if (now - sent_at).whole_seconds().abs() > max_age_seconds {
        return Err(ApiError::unauthorized(format!(
            "the webhook's timestamp is more than {max_age_seconds} seconds away from now; replays are refused"
        )));
    }
    Ok(())
}

/// Opens an integration's sealed secret; an integration without one cannot verify anything.
pub fn integration_secret(services: &InboundServices, integration: &Integration) -> Result<String, ApiError> {
    integration
        .sealed_secret
        .as_deref()
        .and_then(|sealed| services.secrets.open(sealed))
        .ok_or_else(|| {
            tracing::error!(integration = %integration.integration_id, "integration secret cannot be opened");
            ApiError::internal()
        })
}

/// Claims the provider's event id, runs `process` once, publishes what it produced and answers
/// 200 (200 with `duplicate` when it was processed before, 409 while another invocation is
/// processing it). A failure releases the claim, so that the provider's retry is processed.
async fn process_once<F, Fut>(
    services: &InboundServices,
    integration: &Integration,
    event_id: &str,
    process: F,
) -> Result<Response<Body>, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Processed, ApiError>>,
{
    let org_id = integration.org_id.as_str();
    let provider = integration.provider.as_str();
    let now = services.clock.now();
    let at = rfc3339(now);
    let accepted = |duplicate: bool| {
        json_response(
            StatusCode::OK,
            &InboundAccepted {
                success: true,
                event_id: event_id.to_string(),
                duplicate,
            },
        )
    };
    match services
        .store
        .claim_inbound(org_id, provider, event_id, &at, now.unix_timestamp())
        .await?
    {
        Claim::Claimed => {}
        Claim::Done => return Ok(accepted(true)),
        Claim::InProgress => {
            return Err(ApiError::conflict(
                "this event is being processed by another delivery; retry later",
            ));
        }
    }
    let outcome = async {
        let processed = process().await?;
        for (event, data) in &processed.events {
            publish(&services.store, &services.publisher, org_id, event, &at, data).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(error) = outcome {
        if let Err(e) = services.store.release_inbound(org_id, provider, event_id).await {
            tracing::error!(error = ?e, event_id, "releasing an inbound claim");
        }
        return Err(error);
    }
    // Not marked done: the claim expires and a redelivery processes the event again, which
    // the upserts make harmless.
    if let Err(e) = services.store.complete_inbound(org_id, provider, event_id).await {
        tracing::error!(error = ?e, event_id, "marking an inbound event processed");
    }
    Ok(accepted(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_too_far_either_way_are_refused() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert!(check_age(now - time::Duration::seconds(300), now, 300).is_ok());
        assert!(check_age(now - time::Duration::seconds(301), now, 300).is_err());
        assert!(check_age(now + time::Duration::seconds(301), now, 300).is_err());
    }
}
