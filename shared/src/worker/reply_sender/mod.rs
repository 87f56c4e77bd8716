//! `reply-sender`: the consumer of the reply queue. It sends an agent's or the AI's reply on an
//! email or chat ticket through the channel's provider (Resend for email, see [`resend`]; Meta,
//! Slack and Twilio for the chat channels, see [`chat`]), and records where the sending stands on
//! the entry (`delivery`: `queued`, `sent`, `failed`; the providers' receipts move it on to
//! `delivered` and `read`).
//!
//! A reply reads top to bottom in [`send_reply`]: read the entry (sent already: done) → read
//! its ticket and the customer's message it answers, and the integration that message came
//! through → send → plan what follows with the delivery worker's pure retry plan on
//! [`RETRY_DELAYS_SECONDS`] → record the attempt (and, for the chat channels, the provider's id,
//! which their receipts name). A reply that cannot succeed (no integration, no credentials, no
//! one to send to, or the provider refusing the request as invalid) fails at once. After the
//! last attempt the message is released to the queue's redrive policy, which moves it to the
//! dead-letter queue; redriven from there, a failed reply gets one more attempt.

pub mod chat;
pub mod resend;

use std::sync::Arc;

use crate::runtime::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde_json::Value;

use super::delivery::retry::{self, Attempted, Plan, Timing};
use super::{Disposition, process_batch};
use crate::aws::sqs::Sqs;
use crate::clock::{Clock, SystemClock, epoch_ms, rfc3339};
use crate::crypto::SecretBox;
use crate::desk::answered_message;
use crate::mail::resend_api_url;
use crate::outbound::{ReplyMessage, ReplyQueue};
use crate::runtime::{Error, env_or, required_env};
use crate::store::integrations::{Integration, Provider};
use crate::store::mail::EntryDelivery;
use crate::store::tickets::{Channel, Entry, Ticket};
use crate::store::{Store, StoreError};

/// Waits before each retry of a reply: six attempts over about two and a half hours.
pub const RETRY_DELAYS_SECONDS: [u64; 5] = [10, 60, 300, 1800, 7200];

/// The sender's clients and settings, built once per container.
pub struct ReplySender {
    pub store: Store,
    pub queue: ReplyQueue,
    pub secrets: SecretBox,
    pub http: reqwest::Client,
    /// The providers' APIs (tests point them at local stand-ins).
    pub apis: ProviderApis,
    /// Multiplies every retry delay: 1 in production; tests run the schedule in seconds.
    pub retry_delay_scale: f64,
    pub clock: Arc<dyn Clock>,
}

impl ReplySender {
    pub async fn from_env(config: &crate::aws::AwsConfig) -> Result<Self, Error> {
        Ok(Self {
            store: Store::from_config(config, required_env("TABLE_NAME")?)?,
            queue: ReplyQueue::from_env(&Sqs::from_config(config)?)?,
            secrets: crate::runtime::secret_box(config).await?,
            http: crate::runtime::provider_client()?,
            apis: ProviderApis::from_env()?,
            retry_delay_scale: env_or("RETRY_DELAY_SCALE", 1.0)?,
            clock: Arc::new(SystemClock),
        })
    }
}

/// Where the providers' send APIs are, and where they call back.
#[derive(Debug, Clone)]
pub struct ProviderApis {
    /// `RESEND_API_URL`, `https://api.resend.com`.
    pub resend: String,
    /// `META_GRAPH_URL`, `https://graph.facebook.com/v21.0` (the version included).
    pub graph: String,
    /// `SLACK_API_URL`, `https://slack.com/api`.
    pub slack: String,
    /// `TWILIO_API_URL`, `https://api.twilio.com`.
    pub twilio: String,
    /// `PUBLIC_BASE_URL`: where this deployment is reached; Twilio's status callbacks go to its
    /// SMS webhook there.
    pub public_base_url: String,
}

impl ProviderApis {
    pub fn from_env() -> Result<Self, Error> {
        let url = |name: &str, default: &str| -> Result<String, Error> {
            Ok(env_or(name, default.to_string())?.trim_end_matches('/').to_string())
        };
        Ok(Self {
            resend: resend_api_url()?,
            graph: url("META_GRAPH_URL", "https://graph.facebook.com/v21.0")?,
            slack: url("SLACK_API_URL", "https://slack.com/api")?,
            twilio: url("TWILIO_API_URL", "https://api.twilio.com")?,
            public_base_url: crate::runtime::public_base_url()?,
        })
    }
}

/// One SQS batch of the reply queue, every reply at once.
pub async fn handle(sender: &ReplySender, event: SqsEvent) -> SqsBatchResponse {
    process_batch(&sender.queue.sqs, &sender.queue.queue_url, &event, |record| {
        send_reply(sender, record)
    })
    .await
}

/// A reply to send and what it answers.
pub struct Reply<'a> {
    pub ticket: &'a Ticket,
    pub entry: &'a Entry,
    /// The customer's message it answers: where it goes back to.
    pub answered: Option<&'a Entry>,
    /// The integration it goes out through.
    pub integration: &'a Integration,
}

/// What sending a reply came to.
#[derive(Debug)]
pub enum Outcome {
    /// The provider took it, under this id.
    Sent { id: String },
    /// It cannot succeed however often it is tried.
    Refused { error: String },
    /// It may succeed later.
    Failed {
        status: Option<u16>,
        retry_after: Option<u64>,
        error: String,
    },
}

impl Outcome {
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Sent { .. } => None,
            Outcome::Refused { error } | Outcome::Failed { error, .. } => Some(error.clone()),
        }
    }

    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        Outcome::Failed {
            status: None,
            retry_after: None,
            error: error.to_string(),
        }
    }

    pub fn refused(error: impl Into<String>) -> Self {
        Outcome::Refused { error: error.into() }
    }
}

/// A provider's answer, read once.
pub struct Answer {
    pub provider: &'static str,
    pub status: u16,
    pub retry_after: Option<u64>,
    pub json: Option<Value>,
    /// The first 500 characters of the body, for the entry's error.
    pub excerpt: String,
}

impl Answer {
    /// Sent, under the id at `pointer` of the answer.
    pub fn id_at(&self, pointer: &str) -> Outcome {
        match self
            .json
            .as_ref()
            .and_then(|v| v.pointer(pointer))
            .and_then(Value::as_str)
        {
            Some(id) => Outcome::Sent { id: id.to_string() },
            None => Outcome::unavailable(format!(
                "{} answered {} without an id: {}",
                self.provider, self.status, self.excerpt
            )),
        }
    }

    pub fn refused(&self) -> Outcome {
        Outcome::refused(format!(
            "{} refused the reply ({}): {}",
            self.provider, self.status, self.excerpt
        ))
    }

    pub fn failed(&self) -> Outcome {
        Outcome::Failed {
            status: Some(self.status),
            retry_after: self.retry_after,
            error: format!("{} answered {}: {}", self.provider, self.status, self.excerpt),
        }
    }
}

/// Sends `request` and reads the answer; a provider out of reach may be back later.
pub async fn read_answer(request: reqwest::RequestBuilder, provider: &'static str) -> Result<Answer, Outcome> {
    let response = request
        .send()
        .await
        .map_err(|e| Outcome::unavailable(format!("{provider} could not be reached: {e}")))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    let text = response.text().await.unwrap_or_default();
    Ok(Answer {
        provider,
        status,
        retry_after,
        json: serde_json::from_str(&text).ok(),
        excerpt: text.chars().take(500).collect(),
    })
}

async fn send_reply(sender: &ReplySender, record: &SqsMessage) -> Disposition {
    let Some(message) = record
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<ReplyMessage>(body).ok())
    else {
        tracing::error!(message_id = ?record.message_id, "unreadable reply message");
        return Disposition::DeadLetter;
    };
    let entry = match sender.store.get_entry(&message.org_id, &message.entry_id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => {
            tracing::info!(entry_id = %message.entry_id, "reply gone; nothing to send");
            return Disposition::Done;
        }
        Err(e) => {
            tracing::error!(error = ?e, "reading a reply");
            return Disposition::Retry;
        }
    };
    let delivery = entry
        .delivery
        .clone()
        .unwrap_or_else(|| EntryDelivery::queued(&entry.created_at));
    let receives: u32 = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1);
    match delivery.status.as_str() {
        "queued" => {}
        // Given up on: on its way to the dead-letter queue, unless it was redriven from there.
        "failed" if receives <= 1 => {}
        "failed" => return Disposition::DeadLetter,
        // Sent, delivered, read.
        _ => return Disposition::Done,
    }
    let now = sender.clock.now();
    let number = delivery.attempts + 1;
    let (outcome, channel, ticket_id) = match deliver(sender, &message, &entry).await {
        Ok(sent) => sent,
        Err(e) => {
            tracing::error!(error = ?e, entry_id = %message.entry_id, "reading what a reply answers");
            return Disposition::Retry;
        }
    };
    let plan = match &outcome {
        Outcome::Sent { .. } => Plan::Delivered,
        Outcome::Refused { .. } => Plan::GiveUp { disable: None },
        Outcome::Failed {
            status, retry_after, ..
        } => retry::plan(
            Attempted {
                number,
                status: *status,
                retry_after: *retry_after,
                endpoint_active: true,
                retryable: true,
            },
            &RETRY_DELAYS_SECONDS,
            Timing {
                jitter: retry::jitter(),
                scale: sender.retry_delay_scale,
            },
            epoch_ms(now),
        ),
    };
    let (status, disposition) = match plan {
        Plan::Delivered => ("sent", Disposition::Done),
        Plan::Retry { visibility_seconds, .. } => ("queued", Disposition::Wait(visibility_seconds)),
        Plan::GiveUp { .. } => ("failed", Disposition::DeadLetter),
    };
    let provider_message_id = match &outcome {
        Outcome::Sent { id } => Some(id.clone()),
        _ => None,
    };
    if let (Some(id), Some(channel)) = (&provider_message_id, channel.filter(|c| *c != Channel::Email))
        && let Err(e) = sender
            .store
            .remember_sent(
                &message.org_id,
                channel,
                id,
                &ticket_id,
                &message.entry_id,
                now.unix_timestamp(),
            )
            .await
    {
        // Its receipts will not find it; the reply itself went out.
        tracing::error!(error = ?e, entry_id = %message.entry_id, "remembering a sent reply");
    }
    let recorded = EntryDelivery {
        status: status.into(),
        attempts: number,
        provider_message_id,
        error: outcome.error(),
        updated_at: rfc3339(now),
    };
    if let Err(e) = sender
        .store
        .set_entry_delivery(&message.org_id, &message.ticket_id, &message.entry_id, &recorded)
        .await
    {
        tracing::error!(error = ?e, entry_id = %message.entry_id, status, "recording a reply's sending");
        // Sent but not recorded: email's idempotency key makes the retry harmless; a chat
        // provider may show the reply twice, which is the lesser harm than never.
        return Disposition::Retry;
    }
    if status == "failed" {
        tracing::warn!(entry_id = %message.entry_id, error = ?recorded.error, attempts = number, "reply not sent");
    }
    disposition
}

/// Reads what the reply answers and sends it through its channel; answers the outcome, the
/// ticket's channel and id (`Err`: the store could not be read, try again).
async fn deliver(
    sender: &ReplySender,
    message: &ReplyMessage,
    entry: &Entry,
) -> Result<(Outcome, Option<Channel>, String), StoreError> {
    let store = &sender.store;
    let Some(ticket) = store.get_ticket(&message.org_id, &message.ticket_id).await? else {
        return Ok((Outcome::refused("the ticket is gone"), None, message.ticket_id.clone()));
    };
    let entries = store.list_entries(&message.org_id, &message.ticket_id).await?;
    let answered = answered_message(&entries, &entry.created_at);
    let outcome = match integration_of(store, &ticket, answered).await? {
        None => Outcome::refused(format!(
            "the organization has no {} integration to send replies through",
            ticket.channel.as_str()
        )),
        Some(integration) => {
            let reply = Reply {
                ticket: &ticket,
                entry,
                answered,
                integration: &integration,
            };
            match ticket.channel {
                Channel::Email => resend::send(sender, &reply).await,
                _ => chat::send(sender, &reply).await,
            }
        }
    };
    Ok((outcome, Some(ticket.channel), ticket.ticket_id))
}

/// The integration a reply goes out through: the one the answered message came through, else
/// the organization's first of the ticket's channel.
async fn integration_of(
    store: &Store,
    ticket: &Ticket,
    answered: Option<&Entry>,
) -> Result<Option<Integration>, StoreError> {
    let came_through = answered.and_then(|entry| {
        entry
            .email
            .as_ref()
            .map(|email| email.mailbox_id.as_str())
            .or_else(|| entry.chat.as_ref().map(|chat| chat.integration_id.as_str()))
    });
    if let Some(id) = came_through
        && let Some(integration) = store.get_integration(&ticket.org_id, id).await?
    {
        return Ok(Some(integration));
    }
    let provider = match ticket.channel {
        Channel::Email => Provider::Email,
        Channel::Whatsapp => Provider::Whatsapp,
        Channel::Messenger => Provider::Messenger,
        Channel::Slack => Provider::Slack,
        Channel::Sms => Provider::Sms,
        _ => return Ok(None),
    };
    Ok(store
        .list_integrations(&ticket.org_id)
        .await?
        .into_iter()
        .find(|integration| integration.provider == provider))
}
